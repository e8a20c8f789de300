//! A storage server's settings, typed: each section holds what belongs
//! together, and what only one data path uses lives in that path's variant.
//! The keys they come from are documented on [`crate::ServerFile`], and
//! the constructors with the defaults are beside it (`section`), where the
//! defaults are written.

use std::path::PathBuf;

use bytesize::ByteSize;

use crate::error::{ConfigError, Result};

/// Settings of one storage server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// How data travels, with that path's settings.
    pub data: DataPath,
    /// How the server's endpoints (S3 and VMS) are trusted.
    pub tls: Tls,
    /// The cluster's VMS, when the plugin may talk to it.
    pub vms: Option<Vms>,
    /// LSUs created at first use when they are missing (`lsus`).
    pub lsus: Vec<String>,
    /// How data is cut, sent and read ahead.
    pub transfer: Transfer,
    /// What the reclaimer frees and when.
    pub reclaim: Reclaim,
    /// Bandwidth limits of the process's backups and restores.
    pub limits: Limits,
    /// The WORM policy every LSU of the server gets (`worm_mode` and its
    /// bounds), if any.
    pub worm: Option<WormPolicy>,
}

/// How a server's data travels.
#[derive(Debug, Clone, PartialEq)]
pub enum DataPath {
    /// A directory on the media server: on a real site, a VAST NFS mount.
    Nfs(Nfs),
    /// The cluster's S3 endpoint.
    S3(S3),
}

/// Which data path, without its settings: the file's `data_path`, and
/// what people are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataPathKind {
    /// See [`DataPath::Nfs`].
    #[default]
    Nfs,
    /// See [`DataPath::S3`].
    S3,
}

impl std::fmt::Display for DataPathKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DataPathKind::Nfs => "nfs",
            DataPathKind::S3 => "s3",
        })
    }
}

impl DataPath {
    /// Which data path this is.
    pub fn kind(&self) -> DataPathKind {
        match self {
            DataPath::Nfs(_) => DataPathKind::Nfs,
            DataPath::S3(_) => DataPathKind::S3,
        }
    }
}

/// The NFS data path.
#[derive(Debug, Clone, PartialEq)]
pub struct Nfs {
    /// The directory whose subdirectories are the LSUs (`directory`).
    pub directory: PathBuf,
    /// Fragments bypass the page cache where the filesystem allows it
    /// (`direct_io`).
    pub direct_io: bool,
}

/// The S3 data path.
#[derive(Debug, Clone, PartialEq)]
pub struct S3 {
    /// `http(s)://host[:port]`, path-style (`endpoint`).
    pub endpoint: String,
    /// More endpoints to spread requests over (`endpoints`).
    pub endpoints: Vec<String>,
    /// The region of signatures (`region`).
    pub region: String,
    /// The file holding the S3 keys (`credentials_file`).
    pub credentials_file: PathBuf,
    /// Retries of a temporary failure (`retries`).
    pub retries: usize,
    /// Time limit of one request, in seconds (`request_timeout_secs`).
    pub request_timeout_secs: u64,
    /// Writes allowed to a server that ignores `If-None-Match: *`
    /// (`allow_unconditional_writes`).
    pub allow_unconditional_writes: bool,
    /// The VIP pool whose VIPs spread S3 requests, with VMS (`vip_pool`).
    pub vip_pool: Option<String>,
    /// The bucket of the plugin's own records (`bookkeeping_bucket`).
    pub bookkeeping_bucket: Option<String>,
    /// What `open_server` creates through VMS (`provision`), if anything.
    pub provision: Option<Provision>,
}

/// What provisioning creates besides the buckets of `lsus`.
#[derive(Debug, Clone, PartialEq)]
pub struct Provision {
    /// The S3 user owning the buckets (`s3_user`).
    pub s3_user: String,
    /// A quota put on each bucket (`quota`).
    pub quota: Option<ByteSize>,
}

/// How the server's endpoints are trusted.
#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    /// PEM file of CA certificates trusted besides the system's
    /// (`ca_bundle`).
    pub ca_bundle: Option<PathBuf>,
    /// Certificates are checked (`tls_verify`).
    pub verify: bool,
}

/// The cluster's VMS.
#[derive(Debug, Clone, PartialEq)]
pub struct Vms {
    /// `https://<vms-host>[:port]` (`vms_endpoint`).
    pub endpoint: String,
    /// How the plugin logs in (`vms_auth`, `vms_api_token_file`).
    pub auth: VmsAuth,
    /// API version segment (`vms_version`).
    pub version: Option<String>,
    /// Tenant (`vms_tenant`).
    pub tenant: Option<String>,
    /// The cluster path the LSUs' views are under (`lsu_path`).
    pub lsu_path: Option<String>,
}

impl Vms {
    /// The VMS at `endpoint`, logged in to with a token (`jwt`), no tenant,
    /// version or LSU path.
    pub fn at(endpoint: &str) -> Self {
        Vms { endpoint: endpoint.to_string(), auth: VmsAuth::Jwt, version: None, tenant: None, lsu_path: None }
    }
}

/// How the plugin logs in to VMS with the storage server's user and
/// password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmsAuth {
    /// Log in for a token, renew it when refused (`jwt`).
    Jwt,
    /// HTTP Basic on every request (`basic`).
    Basic,
    /// An API token (`api_token`): from `token_file`, else the password
    /// given to tpconfig.
    ApiToken {
        /// The file holding the token, mode 600.
        token_file: Option<PathBuf>,
    },
}

/// How data is cut, sent and read ahead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transfer {
    /// Size of a data fragment (`fragment_size`).
    pub fragment_size: ByteSize,
    /// Fragments of one image uploaded at once (`write_parallelism`).
    pub write_parallelism: usize,
    /// Bytes fetched ahead of a sequential reader (`read_ahead`); unset:
    /// the data path's default, see [`ServerConfig::read_ahead_bytes`].
    pub read_ahead: Option<ByteSize>,
}

/// What the reclaimer frees and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reclaim {
    /// Seconds a reference in the making protects data
    /// (`reclaim_grace_secs`).
    pub grace_secs: u64,
    /// Hours before a crashed backup is abandoned, and a tombstone kept
    /// (`abandon_after_hours`).
    pub abandon_after_hours: u64,
    /// Image folders one run visits at most (`reclaim_max_images`).
    pub max_images: Option<u64>,
    /// Hours an event is kept (`event_retention_hours`).
    pub event_retention_hours: u64,
}

/// Bandwidth limits, all jobs of the server together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Bytes per second of backups (`max_write_bandwidth`).
    pub max_write_bandwidth: Option<ByteSize>,
    /// Bytes per second of restores (`max_read_bandwidth`).
    pub max_read_bandwidth: Option<ByteSize>,
}

impl Limits {
    /// The limits in bytes per second, write then read; 0 is none.
    pub fn rates(&self) -> (u64, u64) {
        (self.max_write_bandwidth.map_or(0, |b| b.as_u64()), self.max_read_bandwidth.map_or(0, |b| b.as_u64()))
    }
}

/// Who may lift a lock before it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WormMode {
    /// A privileged user who asks to (VAST and S3 "governance"; NetBackup's
    /// "enterprise" mode).
    Governance,
    /// Nobody (NetBackup's "compliance" mode).
    Compliance,
}

impl WormMode {
    /// `compliance` or `governance`.
    pub fn as_str(self) -> &'static str {
        match self {
            WormMode::Governance => "governance",
            WormMode::Compliance => "compliance",
        }
    }
}

/// An LSU's WORM policy: the mode of its locks and how long a lock may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WormPolicy {
    /// The mode every lock of the LSU gets.
    pub mode: WormMode,
    /// The shortest lock, in seconds from the moment it is set.
    pub min_secs: u64,
    /// The longest.
    pub max_secs: u64,
    /// The lock every image gets when it is closed complete (NetBackup may
    /// extend it), in seconds; none by default.
    pub default_secs: Option<u64>,
}

impl ServerConfig {
    /// Bytes fetched ahead of a sequential reader: as configured, else the
    /// data path's default (4 MiB over S3, whose next GETs are sent ahead
    /// besides; 16 MiB over NFS).
    pub fn read_ahead_bytes(&self) -> u64 {
        let default = match self.data {
            DataPath::S3(_) => ByteSize::mib(4),
            DataPath::Nfs(_) => ByteSize::mib(16),
        };
        self.transfer.read_ahead.unwrap_or(default).as_u64()
    }

    /// Checks the server's values against each other and against the
    /// plugin's memory `budget`.
    pub(crate) fn validate(&self, name: &str, budget: u64) -> Result<()> {
        let bad = |msg: String| Err(ConfigError(format!("server '{name}': {msg}")));
        if let Some(worm) = &self.worm {
            if worm.min_secs > worm.max_secs {
                return bad(format!("worm_min_secs {} is over worm_max_secs {}", worm.min_secs, worm.max_secs));
            }
            if let Some(d) = worm.default_secs
                && !(worm.min_secs..=worm.max_secs).contains(&d)
            {
                return bad(format!("worm_default_secs {d} is outside worm_min_secs to worm_max_secs"));
            }
        }
        let frag = self.transfer.fragment_size.as_u64();
        if !(4096..=(1 << 30)).contains(&frag) || !frag.is_multiple_of(512) {
            return bad(format!("fragment_size {frag} must be a multiple of 512 between 4KiB and 1GiB"));
        }
        if frag > budget {
            return bad(format!(
                "fragment_size {frag} is larger than the plugin's memory_budget or host_memory_budget {budget}"
            ));
        }
        if !(1..=64).contains(&self.transfer.write_parallelism) {
            return bad(format!("write_parallelism {} must be between 1 and 64", self.transfer.write_parallelism));
        }
        if let DataPath::S3(s3) = &self.data {
            if !s3.endpoint.starts_with("http://") && !s3.endpoint.starts_with("https://") {
                return bad("endpoint must start with http:// or https://".into());
            }
            if let Some(bucket) = &s3.bookkeeping_bucket
                && self.lsus.contains(bucket)
            {
                return bad(format!("bookkeeping_bucket {bucket} is also an LSU"));
            }
            if s3.provision.is_some() && (self.vms.is_none() || self.lsus.is_empty()) {
                return bad("provision needs a vms_endpoint and the lsus to create".into());
            }
        }
        Ok(())
    }
}
