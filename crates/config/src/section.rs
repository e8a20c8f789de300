//! A server section as the file holds it: flat keys, each documented here,
//! read into the typed [`ServerConfig`] (where a key's data path decides
//! whether it means anything) and written back from it.

use std::path::PathBuf;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Result};
use crate::server::{
    DataPath, DataPathKind, Limits, Nfs, Provision, Reclaim, S3, ServerConfig, Tls, Transfer, Vms, VmsAuth, WormMode,
    WormPolicy,
};

/// How the plugin logs in to VMS, as `vms_auth` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VmsAuthKey {
    /// Log in for a token, renew it when refused.
    #[default]
    Jwt,
    /// HTTP Basic on every request.
    Basic,
    /// An API token from `vms_api_token_file`.
    ApiToken,
}

/// The keys of a `[server."<name>"]` section; what a section leaves out is
/// [`ServerFile::default`] (the one place defaults are written).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerFile {
    /// How data travels.
    pub data_path: DataPathKind,
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
    pub vms_auth: VmsAuthKey,
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
    #[serde(with = "crate::size::optional")]
    pub quota: Option<ByteSize>,
    /// LSUs created at first use when they are missing.
    pub lsus: Vec<String>,
    /// Size of a data fragment, the unit of upload and of write buffering.
    #[serde(with = "crate::size")]
    pub fragment_size: ByteSize,
    /// Fragments of one image uploaded at once.
    pub write_parallelism: usize,
    /// Bytes fetched ahead of a sequential reader; unset: 4 MiB over S3
    /// (whose next GETs are sent ahead besides), 16 MiB
    /// over NFS.
    #[serde(with = "crate::size::optional")]
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
    #[serde(with = "crate::size::optional")]
    pub max_write_bandwidth: Option<ByteSize>,
    /// The same for restores (`read_image`).
    #[serde(with = "crate::size::optional")]
    pub max_read_bandwidth: Option<ByteSize>,
    /// Makes every LSU of the server a WORM LSU whose image locks have this
    /// mode (`compliance`, or `governance`: NetBackup's enterprise mode).
    /// The storage must enforce it: a locked S3 view (Object Lock), or a
    /// VAST NFS view with WORM.
    pub worm_mode: Option<WormMode>,
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

impl Default for ServerFile {
    fn default() -> Self {
        ServerFile {
            data_path: DataPathKind::Nfs,
            directory: None,
            endpoint: None,
            region: "us-east-1".into(),
            credentials_file: None,
            ca_bundle: None,
            tls_verify: true,
            vms_endpoint: None,
            vms_auth: VmsAuthKey::Jwt,
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

impl ServerFile {
    /// The typed settings of server `name`, or what makes the section
    /// unusable: a data path missing what it needs, a key of another data
    /// path that would change what it does.
    pub fn into_config(self, name: &str) -> Result<ServerConfig> {
        let missing = |msg: &str| ConfigError(format!("server '{name}': {msg}"));
        let data = match self.data_path {
            DataPathKind::Nfs => {
                if self.bookkeeping_bucket.is_some() {
                    return Err(missing("bookkeeping_bucket is for the S3 data path"));
                }
                let directory = self.directory.ok_or_else(|| missing("data_path nfs needs a directory"))?;
                DataPath::Nfs(Nfs { directory, direct_io: self.direct_io })
            }
            DataPathKind::S3 => DataPath::S3(S3 {
                endpoint: self.endpoint.ok_or_else(|| missing("data_path s3 needs an endpoint"))?,
                credentials_file: self
                    .credentials_file
                    .ok_or_else(|| missing("data_path s3 needs a credentials_file"))?,
                endpoints: self.endpoints,
                region: self.region,
                retries: self.retries,
                request_timeout_secs: self.request_timeout_secs,
                allow_unconditional_writes: self.allow_unconditional_writes,
                vip_pool: self.vip_pool,
                bookkeeping_bucket: self.bookkeeping_bucket,
                provision: self.provision.then_some(Provision { s3_user: self.s3_user, quota: self.quota }),
            }),
        };
        let auth = match self.vms_auth {
            VmsAuthKey::Jwt => VmsAuth::Jwt,
            VmsAuthKey::Basic => VmsAuth::Basic,
            VmsAuthKey::ApiToken => VmsAuth::ApiToken { token_file: self.vms_api_token_file },
        };
        let vms = self.vms_endpoint.map(|endpoint| Vms {
            endpoint,
            auth,
            version: self.vms_version,
            tenant: self.vms_tenant,
            lsu_path: self.lsu_path,
        });
        if self.provision && (vms.is_none() || self.lsus.is_empty()) {
            return Err(missing("provision needs a vms_endpoint and the lsus to create"));
        }
        Ok(ServerConfig {
            data,
            tls: Tls { ca_bundle: self.ca_bundle, verify: self.tls_verify },
            vms,
            lsus: self.lsus,
            transfer: Transfer {
                fragment_size: self.fragment_size,
                write_parallelism: self.write_parallelism,
                read_ahead: self.read_ahead,
            },
            reclaim: Reclaim {
                grace_secs: self.reclaim_grace_secs,
                abandon_after_hours: self.abandon_after_hours,
                max_images: self.reclaim_max_images,
                event_retention_hours: self.event_retention_hours,
            },
            limits: Limits {
                max_write_bandwidth: self.max_write_bandwidth,
                max_read_bandwidth: self.max_read_bandwidth,
            },
            worm: self.worm_mode.map(|mode| WormPolicy {
                mode,
                min_secs: self.worm_min_secs,
                max_secs: self.worm_max_secs,
                default_secs: self.worm_default_secs,
            }),
        })
    }
}

impl From<&ServerConfig> for ServerFile {
    fn from(s: &ServerConfig) -> Self {
        let d = ServerFile::default();
        let mut file = ServerFile {
            data_path: s.data.kind(),
            ca_bundle: s.tls.ca_bundle.clone(),
            tls_verify: s.tls.verify,
            lsus: s.lsus.clone(),
            fragment_size: s.transfer.fragment_size,
            write_parallelism: s.transfer.write_parallelism,
            read_ahead: s.transfer.read_ahead,
            reclaim_grace_secs: s.reclaim.grace_secs,
            abandon_after_hours: s.reclaim.abandon_after_hours,
            reclaim_max_images: s.reclaim.max_images,
            event_retention_hours: s.reclaim.event_retention_hours,
            max_write_bandwidth: s.limits.max_write_bandwidth,
            max_read_bandwidth: s.limits.max_read_bandwidth,
            worm_mode: s.worm.map(|w| w.mode),
            worm_min_secs: s.worm.map_or(d.worm_min_secs, |w| w.min_secs),
            worm_max_secs: s.worm.map_or(d.worm_max_secs, |w| w.max_secs),
            worm_default_secs: s.worm.and_then(|w| w.default_secs),
            ..d
        };
        match &s.data {
            DataPath::Nfs(nfs) => {
                file.directory = Some(nfs.directory.clone());
                file.direct_io = nfs.direct_io;
            }
            DataPath::S3(s3) => {
                file.endpoint = Some(s3.endpoint.clone());
                file.endpoints = s3.endpoints.clone();
                file.region = s3.region.clone();
                file.credentials_file = Some(s3.credentials_file.clone());
                file.retries = s3.retries;
                file.request_timeout_secs = s3.request_timeout_secs;
                file.allow_unconditional_writes = s3.allow_unconditional_writes;
                file.vip_pool = s3.vip_pool.clone();
                file.bookkeeping_bucket = s3.bookkeeping_bucket.clone();
                if let Some(p) = &s3.provision {
                    file.provision = true;
                    file.s3_user = p.s3_user.clone();
                    file.quota = p.quota;
                }
            }
        }
        if let Some(vms) = &s.vms {
            file.vms_endpoint = Some(vms.endpoint.clone());
            file.vms_version = vms.version.clone();
            file.vms_tenant = vms.tenant.clone();
            file.lsu_path = vms.lsu_path.clone();
            file.vms_auth = match &vms.auth {
                VmsAuth::Jwt => VmsAuthKey::Jwt,
                VmsAuth::Basic => VmsAuthKey::Basic,
                VmsAuth::ApiToken { token_file } => {
                    file.vms_api_token_file = token_file.clone();
                    VmsAuthKey::ApiToken
                }
            };
        }
        file
    }
}

impl WormPolicy {
    /// A policy of `mode` with the default bounds and no default lock.
    pub fn with_defaults(mode: WormMode) -> Self {
        let d = ServerFile::default();
        WormPolicy { mode, min_secs: d.worm_min_secs, max_secs: d.worm_max_secs, default_secs: d.worm_default_secs }
    }
}

impl ServerConfig {
    /// A server on the NFS data path with the defaults.
    pub fn nfs(directory: impl Into<PathBuf>) -> Self {
        ServerFile { directory: Some(directory.into()), ..Default::default() }
            .into_config("nfs")
            .expect("a directory is all the NFS data path needs")
    }

    /// A server on the S3 data path with the defaults.
    pub fn s3(endpoint: impl Into<String>, credentials_file: impl Into<PathBuf>) -> Self {
        ServerFile {
            data_path: DataPathKind::S3,
            endpoint: Some(endpoint.into()),
            credentials_file: Some(credentials_file.into()),
            ..Default::default()
        }
        .into_config("s3")
        .expect("an endpoint and keys are all the S3 data path needs")
    }
}
