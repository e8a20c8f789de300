//! A storage server: its place (a directory or an S3 endpoint and its
//! VIPs), its VMS connection, the LSUs it serves (opened once, shared), and
//! the named background copies in flight. It implements
//! [`Siblings`](crate::ctx::Siblings) so that images of one LSU can reach
//! data of another; it must not open images itself (the LSU facade does).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use vastost_storage::{ErrorKind as StorageKind, ObjectStore, S3Settings, TlsSettings};
use vastost_vms::{Auth, Cluster, VmsClient, VmsConfig};

use crate::bookkeeping::Bookkeeping;
use crate::config::{
    Credentials, DataPath, DataPathKind, Nfs, S3, S3Keys, ServerConfig, Tls, Vms, VmsAuth, read_secret_file,
};
use crate::ctx::{EngineCtx, LsuCtx, Siblings};
use crate::error::{EngineError, Result};
use crate::host_cache;
use crate::lsu::Lsu;
use crate::names::{LsuName, check_bucket_name};
use crate::open_images::OpenImages;

/// How long a bucket a job of this host found is taken as there by the
/// next jobs.
const BUCKET_SEEN: Duration = Duration::from_secs(600);

/// What a server tells about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// The name it was opened with.
    pub name: String,
    /// How its data travels.
    pub data_path: DataPathKind,
    /// Where its data is, for people (a directory, an endpoint).
    pub location: String,
    /// Size of its data fragments.
    pub fragment_size: u64,
    /// The cluster as VMS describes it (`name version state`), when the
    /// server has a VMS.
    pub cluster: Option<String>,
}

/// Where a server's LSUs are.
#[derive(Debug)]
enum Location {
    /// Folders of a directory (an NFS mount).
    Dir { root: PathBuf, direct_io: bool },
    /// Buckets of an S3 endpoint: the configured endpoint and those of the
    /// VIP pool, with the keys read at open.
    S3 { settings: Box<S3>, more_endpoints: Vec<String>, keys: S3Keys, tls: TlsSettings },
}

/// An open storage server: a VAST cluster, seen through one data path.
#[derive(Debug)]
pub struct Server {
    shared: Arc<ServerShared>,
}

/// What a server's LSUs share with it: each LSU keeps a weak link back, to
/// reach the other LSUs its images reference.
#[derive(Debug)]
pub(crate) struct ServerShared {
    name: String,
    cfg: ServerConfig,
    ctx: EngineCtx,
    location: Location,
    vms: Option<(Arc<VmsClient>, Cluster)>,
    lsus: Mutex<HashMap<LsuName, Lsu>>,
    copies: crate::copy::AsyncCopies,
    /// The bucket of `bookkeeping_bucket`, opened at first use.
    books: tokio::sync::OnceCell<ObjectStore>,
    me: Weak<ServerShared>,
}

impl Server {
    /// Opens a server; with `connect`, also logs in to its VMS (if it has
    /// one) with `creds` and reads the cluster.
    pub(crate) fn open(
        name: &str,
        cfg: ServerConfig,
        ctx: EngineCtx,
        creds: Option<&Credentials>,
        connect: bool,
    ) -> Result<Self> {
        let vms = match &cfg.vms {
            Some(settings) if connect => Some(ServerShared::connect_vms(name, &cfg.tls, settings, &ctx, creds)?),
            _ => None,
        };
        let location = match &cfg.data {
            DataPath::Nfs(nfs) => {
                Location::Dir { root: ServerShared::open_dir(name, nfs, &cfg.lsus)?, direct_io: nfs.direct_io }
            }
            DataPath::S3(s3) => {
                let keys = S3Keys::load(&s3.credentials_file)?;
                tracing::info!(server = name, endpoint = s3.endpoint, "opened storage server (S3 data path)");
                let tls = tls_settings(&cfg.tls);
                let mut more_endpoints = s3.endpoints.clone();
                if let (Some((client, _)), Some(pool)) = (&vms, &s3.vip_pool) {
                    more_endpoints.extend(ctx.rt.block_on(crate::server_vms::vip_endpoints(
                        client,
                        pool,
                        &s3.endpoint,
                    ))?);
                }
                if let (Some((client, _)), Some(plan)) = (&vms, &s3.provision) {
                    let plan = vastost_vms::ProvisionPlan {
                        s3_user: plan.s3_user.clone(),
                        buckets: cfg.lsus.clone(),
                        quota: plan.quota.map(|q| q.as_u64()),
                        policy: "s3_default_policy".into(),
                        tenant: cfg.vms.as_ref().and_then(|v| v.tenant.clone()),
                        worm: None,
                        bookkeeping: s3.bookkeeping_bucket.clone(),
                    };
                    ctx.rt.block_on(crate::server_vms::provision(name, &plan, client))?;
                }
                Location::S3 { settings: Box::new(s3.clone()), more_endpoints, keys, tls }
            }
        };
        let shared = Arc::new_cyclic(|me| ServerShared {
            name: name.to_string(),
            cfg,
            ctx,
            location,
            vms,
            lsus: Mutex::new(HashMap::new()),
            copies: Default::default(),
            books: Default::default(),
            me: me.clone(),
        });
        Ok(Server { shared })
    }

    /// Whether `other` is this same open server (copies between its LSUs
    /// need no data transfer).
    pub fn same_as(&self, other: &Server) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// The name it was opened with.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// What the server tells about itself.
    pub fn info(&self) -> ServerInfo {
        self.shared.info()
    }

    /// The LSUs: on NFS, the visible folders of the data directory whose
    /// names are valid LSU names; on S3, the configured buckets.
    pub fn list_lsus(&self) -> Result<Vec<String>> {
        self.shared.list_lsus()
    }

    /// Opens LSU `name`; it must exist.
    pub fn lsu(&self, name: &str) -> Result<Lsu> {
        self.shared.ctx.rt.block_on(self.shared.lsu(name))
    }

    /// The server's background copies.
    pub fn copies(&self) -> &crate::copy::AsyncCopies {
        &self.shared.copies
    }

    /// The VMS client and the cluster path of LSU `lsu`'s view: the
    /// bucket's view on S3; on NFS, `lsu_path/<lsu>` (the plugin does not
    /// know where the mount comes from otherwise).
    fn view_of(&self, lsu: &str) -> Result<(Arc<VmsClient>, String)> {
        let s = &self.shared;
        let Some((vms, _)) = &s.vms else {
            return Err(EngineError::NotSupported(format!("server {}: snapshots need vms_endpoint", s.name)));
        };
        let lsu = self.lsu(lsu)?;
        let path = match &s.location {
            Location::S3 { .. } => match s.ctx.rt.block_on(vms.bucket_view(lsu.name()))? {
                Some(view) => view.path,
                None => return Err(EngineError::NoSuchLsu(format!("{} (no view of that bucket)", lsu.name()))),
            },
            Location::Dir { .. } => match s.cfg.vms.as_ref().and_then(|v| v.lsu_path.as_ref()) {
                Some(under) => format!("{}/{}", under.trim_end_matches('/'), lsu.name()),
                None => {
                    return Err(EngineError::NotSupported(format!(
                        "server {}: snapshots of NFS LSUs need lsu_path (the cluster path the LSUs are under)",
                        s.name
                    )));
                }
            },
        };
        Ok((vms.clone(), path))
    }

    /// The snapshots of LSU `lsu`'s view, oldest first.
    pub fn snapshots(&self, lsu: &str) -> Result<Vec<crate::snapshot::Snapshot>> {
        let (vms, path) = self.view_of(lsu)?;
        self.shared.ctx.rt.block_on(crate::snapshot::list(&vms, &path))
    }

    /// Takes snapshot `name` of LSU `lsu`'s view, expiring at `expires`
    /// (seconds since the epoch) if given, indestructible until then.
    pub fn create_snapshot(
        &self,
        lsu: &str,
        name: &str,
        expires: Option<u64>,
        indestructible: bool,
    ) -> Result<crate::snapshot::Snapshot> {
        let (vms, path) = self.view_of(lsu)?;
        self.shared.ctx.rt.block_on(crate::snapshot::create(&vms, &path, name, expires, indestructible))
    }

    /// Deletes snapshot `name` of LSU `lsu`'s view.
    pub fn delete_snapshot(&self, lsu: &str, name: &str) -> Result<()> {
        let (vms, path) = self.view_of(lsu)?;
        self.shared.ctx.rt.block_on(crate::snapshot::delete(&vms, &path, name))
    }

    /// Frees the space deleted images and crashed sessions left, in LSU
    /// `lsu` or in all of them; `grace` (seconds) overrides the configured
    /// grace period for references in the making.
    pub fn reclaim(
        &self,
        lsu: Option<&str>,
        grace: Option<u64>,
        abandon_secs: Option<u64>,
    ) -> Result<crate::reclaim::ReclaimReport> {
        let lsus = match lsu {
            Some(name) => vec![self.lsu(name)?],
            None => self.known_lsus()?,
        };
        let mut report = crate::reclaim::ReclaimReport::default();
        for lsu in lsus {
            let bound = crate::reclaim::PassBound { max_images: self.shared.cfg.reclaim.max_images };
            report.add(&lsu.reclaim(grace, abandon_secs, self.shared.cfg.reclaim.event_retention_hours, bound)?);
        }
        Ok(report)
    }

    /// The LSUs listed that exist, and those opened in this process (on S3
    /// without VMS, buckets not in the configuration are known only once
    /// opened).
    pub(crate) fn known_lsus(&self) -> Result<Vec<Lsu>> {
        let mut names = self.list_lsus()?;
        names.extend(self.shared.lsus.lock().unwrap_or_else(|p| p.into_inner()).keys().map(|n| n.to_string()));
        names.sort();
        names.dedup();
        let mut out = Vec::new();
        for name in names {
            match self.lsu(&name) {
                Ok(lsu) => out.push(lsu),
                Err(EngineError::NoSuchLsu(_)) => tracing::debug!(lsu = %name, "configured LSU does not exist"),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The events of every LSU, oldest first.
    pub fn events(&self) -> Result<Vec<crate::events::StoredEvent>> {
        let mut all = Vec::new();
        for lsu in self.known_lsus()? {
            all.extend(lsu.events()?);
        }
        // Keys start with the time: this is the order they happened in.
        all.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.lsu.cmp(&b.lsu)));
        Ok(all)
    }
}

impl Siblings for ServerShared {
    fn server_name(&self) -> &str {
        &self.name
    }

    fn sibling<'a>(&'a self, name: &'a str) -> crate::ctx::SiblingFuture<'a> {
        Box::pin(async move { Ok(self.lsu(name).await?.ctx.clone()) })
    }
}

impl ServerShared {
    /// Logs in to VMS and reads the cluster's identity and state.
    fn connect_vms(
        name: &str,
        tls: &Tls,
        settings: &Vms,
        ctx: &EngineCtx,
        creds: Option<&Credentials>,
    ) -> Result<(Arc<VmsClient>, Cluster)> {
        let needs = || {
            EngineError::Auth(format!(
                "storage server '{name}' logs in to VMS with the user and password given to tpconfig; none were given"
            ))
        };
        // The password given to tpconfig may name another way to log in:
        // `cert:<PEM file>` a TLS client certificate (with its key),
        // `token:<token>` an API token.
        let password = creds.map(|c| c.password.as_str()).unwrap_or_default();
        let mut identity = None;
        let auth = if let Some(path) = password.strip_prefix("cert:") {
            identity = Some(read_secret_file(std::path::Path::new(path), "VMS client certificate (cert:)")?);
            Auth::ClientCertificate
        } else if let Some(token) = password.strip_prefix("token:") {
            Auth::ApiToken(token.to_string())
        } else {
            match &settings.auth {
                VmsAuth::ApiToken { token_file } => match (token_file, creds) {
                    (Some(file), _) => Auth::ApiToken(read_secret_file(file, "VMS API token file")?.trim().to_string()),
                    // Without a token file, the password given to tpconfig is the token.
                    (None, Some(c)) if !c.password.is_empty() => Auth::ApiToken(c.password.clone()),
                    (None, _) => return Err(needs()),
                },
                VmsAuth::Basic => {
                    let c = creds.ok_or_else(needs)?;
                    Auth::Basic { user: c.user.clone(), password: c.password.clone() }
                }
                VmsAuth::Jwt => {
                    let c = creds.ok_or_else(needs)?;
                    Auth::Jwt { user: c.user.clone(), password: c.password.clone() }
                }
            }
        };
        let endpoint = settings.endpoint.as_str();
        let http = vastost_storage::http_client(&tls_settings(tls), endpoint, identity.as_deref())?;
        let tokens = match &auth {
            Auth::Jwt { user, password } => {
                Some(crate::host_cache::VmsTokens::new(endpoint, settings.tenant.as_deref(), user, password))
            }
            _ => None,
        };
        let mut vcfg = VmsConfig::new(endpoint, auth);
        vcfg.version = settings.version.clone();
        vcfg.tenant = settings.tenant.clone();
        vcfg.token_cache = tokens.map(|t| Arc::new(t) as Arc<dyn vastost_vms::TokenCache>);
        let client = VmsClient::new(vcfg, http);
        let cluster = ctx.rt.block_on(client.cluster())?;
        if cluster.state != "ONLINE" {
            tracing::warn!(server = name, state = %cluster.state, "the cluster is not ONLINE");
        }
        tracing::info!(server = name, cluster = %cluster.name, version = %cluster.sw_version, "connected to VMS");
        Ok((Arc::new(client), cluster))
    }

    /// Checks the data directory and creates the configured LSU folders.
    fn open_dir(name: &str, nfs: &Nfs, lsus: &[String]) -> Result<PathBuf> {
        let root = nfs.directory.clone();
        // The data directory is a mount point: never create it, or a missing
        // mount would send backups to the media server's own disk.
        if !root.is_dir() {
            return Err(EngineError::Config(format!(
                "server '{name}': data directory {} does not exist or is not a directory (is the NFS export mounted?)",
                root.display()
            )));
        }
        for lsu in lsus {
            let dir = root.join(LsuName::new(lsu)?.as_str());
            match std::fs::create_dir(&dir) {
                Ok(()) => tracing::info!(server = name, lsu = %lsu, "created LSU folder"),
                // Another stream opening the same server made it first.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
                Err(e) => {
                    return Err(EngineError::Config(format!("cannot create LSU folder {}: {e}", dir.display())));
                }
            }
        }
        tracing::info!(server = name, directory = %root.display(), "opened storage server (NFS data path)");
        Ok(root)
    }

    pub(crate) fn info(&self) -> ServerInfo {
        ServerInfo {
            name: self.name.clone(),
            data_path: self.cfg.data.kind(),
            location: match &self.location {
                Location::Dir { root, .. } => root.display().to_string(),
                Location::S3 { settings, .. } => settings.endpoint.clone(),
            },
            fragment_size: self.cfg.transfer.fragment_size.as_u64(),
            cluster: self.vms.as_ref().map(|(_, c)| format!("{} {} {}", c.name, c.sw_version, c.state)),
        }
    }

    pub(crate) fn list_lsus(&self) -> Result<Vec<String>> {
        let root = match &self.location {
            Location::Dir { root, .. } => root,
            Location::S3 { .. } => {
                let mut names = self.cfg.lsus.clone();
                if names.is_empty()
                    && let Some((vms, _)) = &self.vms
                {
                    // No list in the configuration: the cluster's S3 views
                    // (under `lsu_path` when set).
                    let views = self.ctx.rt.block_on(vms.s3_views())?;
                    let under = self.cfg.vms.as_ref().and_then(|v| v.lsu_path.as_deref()).unwrap_or("/");
                    names = views
                        .into_iter()
                        .filter(|v| v.path.starts_with(under))
                        .filter_map(|v| v.bucket)
                        .filter(|b| check_bucket_name(b).is_ok())
                        .collect();
                }
                names.sort();
                return Ok(names);
            }
        };
        let entries =
            std::fs::read_dir(root).map_err(|e| EngineError::Config(format!("cannot list {}: {e}", root.display())))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| LsuName::new(n).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The WORM policy of LSU `name`: from its view when VMS is reachable
    /// and the data path is S3, else from the configuration.
    async fn worm_policy(&self, name: &LsuName) -> Option<crate::retention::WormPolicy> {
        let configured = self.cfg.worm;
        let (Some((vms, _)), Location::S3 { .. }) = (&self.vms, &self.location) else { return configured };
        match vms.bucket_view(name.as_str()).await {
            Ok(Some(view)) => crate::retention::policy_of_view(&view, configured, name.as_str()),
            Ok(None) => configured,
            Err(e) => {
                tracing::warn!(lsu = %name, error = %e, "cannot read the LSU's view: WORM settings from the configuration");
                configured
            }
        }
    }

    /// Bucket `bucket` of the server's S3 endpoint.
    fn s3_store(&self, bucket: &str) -> Result<ObjectStore> {
        let Location::S3 { settings, more_endpoints, keys, tls } = &self.location else {
            return Err(EngineError::Internal(format!("bucket {bucket} of a server without S3")));
        };
        Ok(ObjectStore::s3(&S3Settings {
            endpoint: settings.endpoint.clone(),
            bucket: bucket.to_string(),
            region: settings.region.clone(),
            more_endpoints: more_endpoints.clone(),
            access_key: keys.access_key.clone(),
            secret_key: keys.secret_key.clone(),
            tls: tls.clone(),
            retries: settings.retries,
            timeout: std::time::Duration::from_secs(settings.request_timeout_secs),
        })?)
    }

    /// Where LSU `name` (on `store`) keeps its bookkeeping: the server's
    /// `bookkeeping_bucket` when it has one (which must exist), else the
    /// LSU itself.
    async fn bookkeeping(&self, name: &LsuName, store: &ObjectStore) -> Result<Bookkeeping> {
        let bucket = match &self.location {
            Location::S3 { settings, .. } => settings.bookkeeping_bucket.as_ref(),
            Location::Dir { .. } => None,
        };
        let Some(bucket) = bucket else { return Ok(Bookkeeping::in_lsu(store)) };
        let books = self
            .books
            .get_or_try_init(|| async {
                let books = self.s3_store(bucket)?;
                match books.check().await {
                    Ok(()) => Ok(books),
                    Err(e) if matches!(e.kind, StorageKind::NotFound | StorageKind::NoSuchBucket) => {
                        Err(EngineError::Config(format!(
                            "server '{}': bookkeeping_bucket {bucket} does not exist (vastost setup --worm --default \
                     creates it)",
                            self.name
                        )))
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        Ok(Bookkeeping::apart(books.clone(), name.as_str()))
    }

    /// Checks that LSU `name`'s bucket is there and the keys are taken,
    /// asking at the same time whether it keeps versions (kept by the
    /// store): one round trip, not two, and none for the next jobs of the
    /// host for a while. A bucket deleted since then fails the job's first
    /// request instead, with the same "no such LSU" (`NoSuchBucket`).
    async fn check_bucket(&self, name: &LsuName, store: &ObjectStore) -> Result<()> {
        let key = store.describe();
        match host_cache::recall("bucket", &key, BUCKET_SEEN).as_deref() {
            Some("versions") => {
                store.assume_versions();
                return Ok(());
            }
            Some("there") => return Ok(()),
            _ => {}
        }
        let (checked, versioned) = tokio::join!(store.check(), store.keeps_versions());
        match checked {
            Ok(()) => {}
            Err(e) if matches!(e.kind, StorageKind::NotFound | StorageKind::NoSuchBucket) => {
                return Err(EngineError::NoSuchLsu(name.to_string()));
            }
            Err(e) => return Err(e.into()),
        }
        // Only "keeps versions" is taken on trust by the next jobs (see
        // `ObjectStore::assume_versions`); the others ask again, at once
        // with their first listing.
        host_cache::remember("bucket", &key, if matches!(versioned, Ok(true)) { "versions" } else { "there" });
        Ok(())
    }

    /// LSU `name`, opened at its first use in the process.
    pub(crate) async fn lsu(&self, name: &str) -> Result<Lsu> {
        let name = LsuName::new(name)?;
        if let Some(lsu) = self.lsus.lock().unwrap_or_else(|p| p.into_inner()).get(&name) {
            return Ok(lsu.clone());
        }
        let lsu = self.open_lsu(&name).await?;
        // Another thread may have opened it meanwhile: one context per LSU.
        Ok(self.lsus.lock().unwrap_or_else(|p| p.into_inner()).entry(name).or_insert(lsu).clone())
    }

    /// Opens LSU `name`: checks that it is there and reads what it needs.
    async fn open_lsu(&self, name: &LsuName) -> Result<Lsu> {
        let store = match &self.location {
            Location::Dir { root, direct_io } => {
                let dir = root.join(name.as_str());
                if !dir.is_dir() {
                    return Err(EngineError::NoSuchLsu(name.to_string()));
                }
                ObjectStore::fs_with(&dir, *direct_io)?
            }
            Location::S3 { .. } => {
                check_bucket_name(name.as_str())?;
                let store = self.s3_store(name.as_str())?;
                self.check_bucket(name, &store).await?;
                store
            }
        };
        // What the store keeps for reuse is paid from the plugin's budget.
        store.pay_pools_from(Arc::new(self.ctx.budget.clone()));
        let books = self.bookkeeping(name, &store).await?;
        let unconditional = matches!(&self.cfg.data, DataPath::S3(s3) if s3.allow_unconditional_writes);
        let commits = crate::commit_probe::CommitProbe::new(unconditional);
        let worm = self.worm_policy(name).await;
        let lsu = Lsu::new(Arc::new(LsuCtx {
            name: name.clone(),
            store,
            books,
            rt: self.ctx.rt.clone(),
            budget: self.ctx.budget.clone(),
            fragment_size: self.cfg.transfer.fragment_size.as_u64(),
            write_parallelism: self.cfg.transfer.write_parallelism,
            read_ahead: self.cfg.read_ahead_bytes(),
            open: Arc::new(OpenImages::default()),
            vms: self.vms.as_ref().map(|(client, cluster)| (client.clone(), cluster.clone())),
            server: self.me.clone(),
            grace_secs: self.cfg.reclaim.grace_secs,
            abandon_secs: self.cfg.reclaim.abandon_after_hours.saturating_mul(3600),
            commits,
            limits: self.ctx.bandwidth.of(&self.name, &self.cfg.limits),
            worm,
            default_lock: Default::default(),
            formats: Default::default(),
        }));
        Ok(lsu)
    }
}

/// The TLS settings of the HTTP clients, from the configuration's.
fn tls_settings(tls: &Tls) -> TlsSettings {
    TlsSettings { ca_bundle: tls.ca_bundle.clone(), verify: tls.verify }
}
