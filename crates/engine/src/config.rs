//! The plugin's configuration: one TOML file, a `[plugin]` section for what
//! the whole process shares and a `[server."<name>"]` section per storage
//! server.
//!
//! ```toml
//! [plugin]
//! memory_budget = "1GiB"
//! log_level = "info"
//! log_file = "/usr/openv/netbackup/logs/vastost/plugin.log"
//!
//! [server."cluster1"]
//! data_path = "nfs"
//! directory = "/mnt/vast/netbackup"
//! lsus = ["pool1"]
//! fragment_size = "64MiB"
//! write_parallelism = 4
//! direct_io = true
//! read_ahead = "32MiB"
//! reclaim_grace_secs = 900
//! abandon_after_hours = 24
//! event_retention_hours = 72
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytesize::ByteSize;
use serde::Deserialize;

use crate::error::{EngineError, Result};
use crate::names::LsuName;

/// Environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "VASTOST_CONFIG";
/// Where NetBackup installs plugins, and where the configuration is looked
/// for when nothing else names it.
pub const DEFAULT_CONFIG_PATH: &str = "/usr/openv/lib/ost-plugins/vastost.toml";

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Settings shared by every server of the process.
    #[serde(default)]
    pub plugin: PluginConfig,
    /// Storage servers by name (the part after `VastData:` or `vast://`).
    #[serde(default, rename = "server")]
    pub servers: BTreeMap<String, ServerConfig>,
}

/// Settings of the plugin as a whole.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginConfig {
    /// Bytes of data buffers the plugin may hold at once, all streams
    /// together; writers wait (backpressure) when it is spent.
    pub memory_budget: ByteSize,
    /// How much the plugin logs.
    pub log_level: LogLevel,
    /// Log file; without one the plugin logs nothing.
    pub log_file: Option<PathBuf>,
    /// Worker threads of the plugin's runtime (default: one per core, at
    /// least 2).
    pub worker_threads: Option<usize>,
    /// Folder where each plugin process writes its metrics in Prometheus'
    /// text format (`vastost-<pid>.prom`), for node_exporter's textfile
    /// collector and `vastost stats`; nothing is written without one.
    pub metrics_dir: Option<PathBuf>,
    /// Seconds between two writes of the metrics file.
    pub metrics_interval_secs: u64,
    /// The system log socket audit lines go to (lock releases), whatever
    /// `log_file` says; `""` sends none.
    pub syslog_socket: PathBuf,
    /// Where a media server's plugin processes remember what each would
    /// otherwise ask the cluster again (see `host_cache`); unset: the
    /// default, `""`: nothing is remembered.
    pub state_dir: Option<PathBuf>,
    /// Bytes of data buffers all the plugin processes of the media server
    /// may hold together (a ledger in `state_dir`); unset: no host bound,
    /// only `memory_budget` per process.
    pub host_memory_budget: Option<ByteSize>,
}

impl Default for PluginConfig {
    fn default() -> Self {
        PluginConfig {
            memory_budget: ByteSize::gib(1),
            log_level: LogLevel::Info,
            log_file: None,
            worker_threads: None,
            metrics_dir: None,
            metrics_interval_secs: 10,
            syslog_socket: PathBuf::from("/dev/log"),
            state_dir: None,
            host_memory_budget: None,
        }
    }
}

/// How much the plugin logs: a misspelt level is a configuration error,
/// not silently `info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Failures and what may become one.
    Warn,
    /// What an administrator follows: opens, images created and deleted.
    #[default]
    Info,
    /// Every call and request, for support.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The level as `tracing` filters name it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// How a server's data travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DataPath {
    /// A directory on the media server: on a real site, a VAST NFS mount.
    #[default]
    Nfs,
    /// The cluster's S3 endpoint.
    S3,
}

impl std::fmt::Display for DataPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DataPath::Nfs => "nfs",
            DataPath::S3 => "s3",
        })
    }
}

/// How the plugin authenticates to VMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VmsAuthMode {
    /// Log in for a token, renew it when refused.
    #[default]
    Jwt,
    /// HTTP Basic on every request.
    Basic,
    /// An API token from `vms_api_token_file`.
    ApiToken,
}

/// The storage server's user and password, as NetBackup gives them to
/// `open_server`.
#[derive(Clone)]
pub struct Credentials {
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.user)
    }
}

/// Reads a secret file that only its owner may read.
pub(crate) fn read_secret_file(path: &Path, what: &str) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| EngineError::Config(format!("cannot read {what} {}: {e}", path.display())))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(EngineError::Config(format!(
            "{what} {} is readable by others (mode {:o}): chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        )));
    }
    std::fs::read_to_string(path)
        .map_err(|e| EngineError::Config(format!("cannot read {what} {}: {e}", path.display())))
}

/// Settings of one storage server; what a section leaves out is
/// [`ServerConfig::default`] (the one place defaults are written).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// How data travels.
    pub data_path: DataPath,
    /// NFS data path: the directory whose subdirectories are the LSUs.
    pub directory: Option<PathBuf>,
    /// S3 data path: the endpoint, `http(s)://host[:port]` (path-style).
    pub endpoint: Option<String>,
    /// S3 data path: the region used in signatures.
    pub region: String,
    /// S3 data path: the file holding the S3 keys (`access_key`,
    /// `secret_key`), readable by root only.
    pub credentials_file: Option<PathBuf>,
    /// S3 data path: PEM file of CA certificates trusted for the endpoint,
    /// besides the system's.
    pub ca_bundle: Option<PathBuf>,
    /// S3 data path: check the endpoint's TLS certificate (on unless set
    /// to false; switching it off is logged). Applies to VMS too.
    pub tls_verify: bool,
    /// The cluster's VMS, `https://<vms-host>[:port]`: identity, capacity
    /// from quotas, bucket discovery. Without it, LSUs are `lsus` only.
    pub vms_endpoint: Option<String>,
    /// How to log in to VMS with the storage server's user and password
    /// (`tpconfig -sts_user_id … -password …`): `jwt` (default) or `basic`;
    /// or `api_token` with `vms_api_token_file`.
    pub vms_auth: VmsAuthMode,
    /// File holding a VMS API token (mode 600), for `vms_auth = "api_token"`.
    pub vms_api_token_file: Option<PathBuf>,
    /// VMS API version segment (`v5`, `latest` …); none by default.
    pub vms_version: Option<String>,
    /// VMS tenant (`X-Tenant-Name`).
    pub vms_tenant: Option<String>,
    /// S3 data path with VMS: spread S3 requests over the VIPs of this VIP
    /// pool (same scheme and port as `endpoint`).
    pub vip_pool: Option<String>,
    /// S3 data path: retries of a temporary failure (503 SlowDown, 5xx,
    /// connection trouble), with exponential backoff and jitter.
    pub retries: usize,
    /// S3 data path: the plugin checks, once per LSU and process, that the
    /// server refuses to create an object that exists (`If-None-Match: *`),
    /// which keeps two media servers from overwriting each other's commits.
    /// A server that ignores it gets no writes unless this is true (then
    /// only one media server may write to an LSU at a time).
    pub allow_unconditional_writes: bool,
    /// S3 data path: time limit of one request, in seconds.
    pub request_timeout_secs: u64,
    /// S3 data path with VMS and no `lsus`: only S3 views whose path starts
    /// with this are LSUs (default: every S3 view).
    pub lsu_path: Option<String>,
    /// S3 data path: more endpoints (data VIPs) to spread requests over,
    /// besides `endpoint`, when they are not discovered through `vip_pool`.
    pub endpoints: Vec<String>,
    /// S3 data path with VMS: create what is missing at `open_server`
    /// (the tenant, an S3 view per LSU owned by `s3_user`, quotas);
    /// idempotent.
    pub provision: bool,
    /// The S3 user owning provisioned buckets (its keys are in
    /// `credentials_file`).
    pub s3_user: String,
    /// S3 data path: a bucket (without Object Lock) holding what the plugin
    /// writes for itself (events, reclaim cursors, LSU labels, the commit
    /// probe), under `<lsu>/.vastost/`, instead of each LSU's own bucket.
    /// Needed where a view locks every new object by default
    /// (`vastost setup --worm --default` provisions it).
    pub bookkeeping_bucket: Option<String>,
    /// A quota put on each provisioned bucket.
    pub quota: Option<ByteSize>,
    /// LSUs created at first use when they are missing.
    pub lsus: Vec<String>,
    /// Size of a data fragment, the unit of upload and of write buffering.
    pub fragment_size: ByteSize,
    /// Fragments of one image uploaded at once.
    pub write_parallelism: usize,
    /// Bytes fetched ahead of a sequential reader; unset: 4 MiB over S3
    /// (whose next GETs are sent ahead besides, see `read_pace`), 16 MiB
    /// over NFS.
    pub read_ahead: Option<ByteSize>,
    /// NFS data path: fragments are written bypassing the media server's
    /// page cache (`O_DIRECT`) where the filesystem allows it.
    pub direct_io: bool,
    /// Seconds a reference in the making protects data from the reclaimer.
    /// Copies and virtual images commit within this time of taking their
    /// references (they renew them otherwise); clocks of the media servers
    /// must agree to well within it.
    pub reclaim_grace_secs: u64,
    /// Hours after its last commit that a pending image (a backup whose
    /// media server crashed or was killed) is abandoned by the reclaimer:
    /// the data written past its last checkpoint is freed, and an image
    /// with no checkpoint at all goes. It is also how long a deleted
    /// image's tombstone is kept. Far above any checkpoint interval.
    pub abandon_after_hours: u64,
    /// Image folders one reclaim run visits at most (`vastost reclaim`,
    /// `vastost_reclaim`); the next run goes on where it stopped (a cursor
    /// kept in the LSU). None by default: each run makes a whole pass.
    pub reclaim_max_images: Option<u64>,
    /// Hours an event is kept when nobody deletes it.
    pub event_retention_hours: u64,
    /// Bytes per second that all backups of the process to this server
    /// may write together (`write_image`); none by default. Reread at each
    /// `open_server`: a change applies without a restart.
    pub max_write_bandwidth: Option<ByteSize>,
    /// The same for restores (`read_image`).
    pub max_read_bandwidth: Option<ByteSize>,
    /// Makes every LSU of the server a WORM LSU whose image locks have this
    /// mode (`compliance`, or `governance`: NetBackup's enterprise mode).
    /// The storage must enforce it: a locked S3 view (Object Lock), or a
    /// VAST NFS view with WORM.
    pub worm_mode: Option<crate::retention::WormMode>,
    /// The shortest image lock, in seconds (a day by default).
    pub worm_min_secs: u64,
    /// The longest, in seconds (about 100 years by default).
    pub worm_max_secs: u64,
    /// A lock every image gets as it is closed complete (a backup or a
    /// copy), in seconds; NetBackup may extend it. None by default: images
    /// are locked when NetBackup (or `vastost lock`) asks. A view with a
    /// `default_retention_period` gives that period.
    pub worm_default_secs: Option<u64>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            data_path: DataPath::Nfs,
            directory: None,
            endpoint: None,
            region: "us-east-1".into(),
            credentials_file: None,
            ca_bundle: None,
            tls_verify: true,
            vms_endpoint: None,
            vms_auth: VmsAuthMode::Jwt,
            vms_api_token_file: None,
            vms_version: None,
            vms_tenant: None,
            vip_pool: None,
            retries: 10,
            allow_unconditional_writes: false,
            request_timeout_secs: 120,
            lsu_path: None,
            endpoints: Vec::new(),
            provision: false,
            s3_user: "vastost".into(),
            quota: None,
            bookkeeping_bucket: None,
            lsus: Vec::new(),
            fragment_size: ByteSize::mib(8),
            write_parallelism: 4,
            read_ahead: None,
            direct_io: true,
            reclaim_grace_secs: 900,
            abandon_after_hours: 24,
            reclaim_max_images: None,
            event_retention_hours: 72,
            max_write_bandwidth: None,
            max_read_bandwidth: None,
            worm_mode: None,
            worm_min_secs: 86_400,
            worm_max_secs: 100 * 365 * 86_400,
            worm_default_secs: None,
        }
    }
}

impl ServerConfig {
    /// Bytes fetched ahead of a sequential reader: as configured, else the
    /// data path's default.
    pub fn read_ahead_bytes(&self) -> u64 {
        let default = match self.data_path {
            DataPath::S3 => ByteSize::mib(4),
            DataPath::Nfs => ByteSize::mib(16),
        };
        self.read_ahead.unwrap_or(default).as_u64()
    }

    /// A server on the NFS data path with the design's defaults.
    pub fn nfs(directory: impl Into<PathBuf>) -> Self {
        ServerConfig { data_path: DataPath::Nfs, directory: Some(directory.into()), ..ServerConfig::default() }
    }

    /// The WORM policy of the server's LSUs, if it has one.
    pub fn worm_policy(&self) -> Option<crate::retention::WormPolicy> {
        self.worm_mode.map(|mode| crate::retention::WormPolicy {
            mode,
            min_secs: self.worm_min_secs,
            max_secs: self.worm_max_secs,
            default_secs: self.worm_default_secs,
        })
    }

    fn validate(&self, name: &str, budget: u64) -> Result<()> {
        let bad = |msg: String| Err(EngineError::Config(format!("server '{name}': {msg}")));
        if self.worm_min_secs > self.worm_max_secs {
            return bad(format!("worm_min_secs {} is over worm_max_secs {}", self.worm_min_secs, self.worm_max_secs));
        }
        if let Some(d) = self.worm_default_secs
            && !(self.worm_min_secs..=self.worm_max_secs).contains(&d)
        {
            return bad(format!("worm_default_secs {d} is outside worm_min_secs to worm_max_secs"));
        }
        if let Some(bucket) = &self.bookkeeping_bucket {
            if self.data_path != DataPath::S3 {
                return bad("bookkeeping_bucket is for the S3 data path".into());
            }
            if self.lsus.contains(bucket) {
                return bad(format!("bookkeeping_bucket {bucket} is also an LSU"));
            }
            crate::names::check_bucket_name(bucket)?;
        }
        let frag = self.fragment_size.as_u64();
        if !(4096..=(1 << 30)).contains(&frag) || !frag.is_multiple_of(crate::layout::BLOCK_SIZE) {
            return bad(format!("fragment_size {frag} must be a multiple of 512 between 4KiB and 1GiB"));
        }
        if frag > budget {
            return bad(format!(
                "fragment_size {frag} is larger than the plugin's memory_budget or host_memory_budget {budget}"
            ));
        }
        if !(1..=64).contains(&self.write_parallelism) {
            return bad(format!("write_parallelism {} must be between 1 and 64", self.write_parallelism));
        }
        match self.data_path {
            DataPath::Nfs if self.directory.is_none() => bad("data_path nfs needs a directory".into()),
            DataPath::S3 if self.endpoint.is_none() => bad("data_path s3 needs an endpoint".into()),
            DataPath::S3 if self.credentials_file.is_none() => bad("data_path s3 needs a credentials_file".into()),
            DataPath::S3 if !self.endpoint.iter().any(|e| e.starts_with("http://") || e.starts_with("https://")) => {
                bad("endpoint must start with http:// or https://".into())
            }
            _ => Ok(()),
        }?;
        if self.provision && (self.vms_endpoint.is_none() || self.lsus.is_empty()) {
            return bad("provision needs a vms_endpoint and the lsus to create".into());
        }
        for lsu in &self.lsus {
            LsuName::new(lsu)?;
        }
        Ok(())
    }
}

impl Config {
    /// Parses and validates a configuration from TOML text.
    pub fn from_toml(text: &str) -> Result<Self> {
        let config: Config = toml::from_str(text).map_err(|e| EngineError::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EngineError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text).map_err(|e| EngineError::Config(format!("{}: {e}", path.display())))
    }

    /// The file to read: the one given, else `$VASTOST_CONFIG`, else the
    /// NetBackup plugin directory's `vastost.toml`.
    pub fn locate(given: Option<&Path>) -> PathBuf {
        given
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
    }

    /// Checks every section; called by [`Config::from_toml`].
    pub fn validate(&self) -> Result<()> {
        let budget = self.plugin.memory_budget.as_u64();
        if budget < 1 << 20 {
            return Err(EngineError::Config(format!("memory_budget {budget} is below 1MiB")));
        }
        let host = self.plugin.host_memory_budget.map_or(u64::MAX, |b| b.as_u64());
        if host < 1 << 20 {
            return Err(EngineError::Config(format!("host_memory_budget {host} is below 1MiB")));
        }
        for (name, server) in &self.servers {
            server.validate(name, budget.min(host))?;
        }
        Ok(())
    }

    /// The section of storage server `name`: an exact match of the full name
    /// first, then of the name without its `VastData:` / `vast://` prefix.
    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.get(name).or_else(|| self.servers.get(strip_server_prefix(name)?))
    }
}

/// S3 keys, as the credentials file holds them.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Keys {
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
}

impl std::fmt::Debug for S3Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Keys").field("access_key", &self.access_key).field("secret_key", &"<redacted>").finish()
    }
}

impl S3Keys {
    /// Reads a credentials file (TOML with `access_key` and `secret_key`).
    /// Errors name the file, never its content.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_secret_file(path, "credentials file")?;
        toml::from_str(&text).map_err(|_| {
            EngineError::Config(format!(
                "credentials file {} must hold access_key = \"...\" and secret_key = \"...\"",
                path.display()
            ))
        })
    }
}

/// Prefixes of the storage server names this plugin claims.
pub const SERVER_PREFIXES: [&str; 2] = ["VastData:", "vast://"];

/// The cluster part of a storage server name, or `None` when the name is not
/// one of ours.
pub fn strip_server_prefix(name: &str) -> Option<&str> {
    SERVER_PREFIXES.iter().find_map(|p| name.strip_prefix(p)).filter(|rest| !rest.is_empty())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
