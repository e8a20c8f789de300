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
    /// WORM locking is on (5.3+; `s3_locks` before).
    #[serde(default)]
    pub locking: Option<bool>,
    /// WORM locking is on, in the names of VAST 4.6 to 5.2.
    #[serde(default)]
    pub s3_locks: Option<bool>,
    /// Retention mode of new object versions (`GOVERNANCE`, `COMPLIANCE`,
    /// `NONE`).
    #[serde(default)]
    pub s3_locks_retention_mode: Option<String>,
    /// Retention mode of files locked over NFS.
    #[serde(default)]
    pub files_retention_mode: Option<String>,
    /// Shortest lock, as VMS writes periods (`1d`, `12h`).
    #[serde(default)]
    pub min_retention_period: Option<String>,
    /// Longest lock (`m` is minutes here).
    #[serde(default)]
    pub max_retention_period: Option<String>,
    /// The lock new object versions get.
    #[serde(default)]
    pub default_retention_period: Option<String>,
}

impl View {
    /// Whether the view locks (WORM), in either API's names.
    pub fn locked(&self) -> bool {
        self.locking.or(self.s3_locks).unwrap_or(false)
    }
}

/// Seconds of a VMS retention period (`"2d"`, `"12h"`, `"1y"`; `m` is
/// months except where `m_is_minutes`: the maximum's documented unit);
/// `None` when the text is not one.
pub fn period_secs(text: &str, m_is_minutes: bool) -> Option<u64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let n: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let secs = match unit {
        'h' => 3_600,
        'd' => 86_400,
        'm' if m_is_minutes => 60,
        'm' => 30 * 86_400,
        'y' => 365 * 86_400,
        _ => return None,
    };
    n.checked_mul(secs).filter(|s| *s > 0)
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
