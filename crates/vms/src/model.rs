//! The few VMS resources the plugin reads, with the fields it uses.

use serde::Deserialize;

/// `GET /clusters/`: the cluster (one element).
#[derive(Debug, Clone, Deserialize)]
pub struct Cluster {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Globally unique id.
    #[serde(default)]
    pub guid: String,
    /// Software version.
    #[serde(default)]
    pub sw_version: String,
    /// State (`ONLINE` when healthy).
    #[serde(default)]
    pub state: String,
    /// Usable capacity in bytes.
    #[serde(default)]
    pub usable_capacity_bytes: u64,
    /// Free usable capacity in bytes.
    #[serde(default)]
    pub free_usable_capacity: u64,
    /// Logical space in use, bytes.
    #[serde(default)]
    pub logical_space_in_use: u64,
    /// Physical space in use, bytes.
    #[serde(default)]
    pub physical_space_in_use: u64,
}

/// `GET /views/`: a view; with `S3` in its protocols, a bucket.
#[derive(Debug, Clone, Deserialize)]
pub struct View {
    /// Id.
    pub id: u64,
    /// Path in the cluster's namespace.
    pub path: String,
    /// Bucket name, for S3 views.
    #[serde(default)]
    pub bucket: Option<String>,
    /// Protocols (`S3`, `NFS` …).
    #[serde(default)]
    pub protocols: Vec<String>,
}

/// `GET /quotas/`: a quota on a path.
#[derive(Debug, Clone, Deserialize)]
pub struct Quota {
    /// Id.
    pub id: u64,
    /// Path it applies to.
    pub path: String,
    /// Hard limit in bytes (0 or absent: none).
    #[serde(default)]
    pub hard_limit: Option<u64>,
    /// Bytes used under the path.
    #[serde(default)]
    pub used_capacity: u64,
}

/// `GET /vippools/`: virtual IPs serving the data protocols.
#[derive(Debug, Clone, Deserialize)]
pub struct VipPool {
    /// Name.
    pub name: String,
    /// `[[first, last], …]` address ranges.
    #[serde(default)]
    pub ip_ranges: Vec<Vec<String>>,
    /// `PROTOCOLS` for data VIPs.
    #[serde(default)]
    pub role: String,
    /// Whether it serves.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl VipPool {
    /// Every address of the pool, ranges expanded (IPv4; at most 1024).
    pub fn addresses(&self) -> Vec<std::net::IpAddr> {
        let mut out = Vec::new();
        for range in &self.ip_ranges {
            let parse = |i: usize| range.get(i).and_then(|a| a.parse::<std::net::Ipv4Addr>().ok()).map(u32::from);
            if let (Some(first), Some(last)) = (parse(0), parse(1).or(parse(0))) {
                for ip in first..=last.min(first.saturating_add(1023)) {
                    out.push(std::net::IpAddr::V4(ip.into()));
                }
            }
        }
        out.truncate(1024);
        out
    }
}
