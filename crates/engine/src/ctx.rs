//! What is shared below the LSU facade: the engine's runtime and memory
//! budget ([`EngineCtx`]), and what every image of one LSU shares
//! ([`LsuCtx`]): its store, its tuning, the images open in this process,
//! and a way to reach the sibling LSUs of its server (the [`Siblings`]
//! trait the server implements, so nothing here knows the server type).
//! This module must not call the commit log, readers or writers.

use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use vastost_storage::ObjectStore;

use crate::bookkeeping::Bookkeeping;
use crate::budget::MemoryBudget;
use crate::commit_probe::{CommitProbe, Commits};
use crate::error::{EngineError, Result};
use crate::names::LsuName;
use crate::open_images::OpenImages;
use crate::throttle::{Bandwidth, Limits};

/// What every server, LSU and image of the process shares.
#[derive(Debug, Clone)]
pub(crate) struct EngineCtx {
    pub rt: tokio::runtime::Handle,
    pub budget: MemoryBudget,
    /// Bandwidth limits by server name, shared by all its streams.
    pub bandwidth: Arc<Bandwidth>,
}

/// The LSUs of one server, as its images see them: an image may reference
/// data of a sibling LSU (copies and synthetics by reference).
pub(crate) trait Siblings: std::fmt::Debug + Send + Sync {
    /// The server's name (named in events).
    fn server_name(&self) -> &str;
    /// The context of LSU `name` of this server, opened if need be.
    fn sibling<'a>(&'a self, name: &'a str) -> SiblingFuture<'a>;
}

/// What [`Siblings::sibling`] answers: opening an LSU talks to the storage,
/// and a trait object cannot have an `async fn`.
pub(crate) type SiblingFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Arc<LsuCtx>>> + Send + 'a>>;

/// The "server" of an LSU opened on its own (a store given directly, in
/// tests): it has no siblings, and a `Weak` to it never upgrades.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct Alone;

#[cfg(test)]
impl Siblings for Alone {
    fn server_name(&self) -> &str {
        ""
    }

    fn sibling<'a>(&'a self, name: &'a str) -> SiblingFuture<'a> {
        Box::pin(async move { Err(EngineError::Internal(format!("LSU {name}: no server to find it on"))) })
    }
}

impl LsuCtx {
    /// The context of an LSU on any store, for tests of the pipelines.
    #[cfg(test)]
    pub(crate) fn on_store(
        store: ObjectStore,
        rt: tokio::runtime::Handle,
        budget: MemoryBudget,
        fragment_size: u64,
    ) -> Arc<Self> {
        store.pay_pools_from(Arc::new(budget.clone()));
        Arc::new(LsuCtx {
            name: LsuName::new("test").expect("valid"),
            books: Bookkeeping::in_lsu(&store),
            store,
            rt,
            budget,
            fragment_size,
            write_parallelism: 3,
            read_ahead: 4 * fragment_size,
            open: Arc::new(OpenImages::default()),
            vms: None,
            server: LsuCtx::no_server(),
            grace_secs: 0,
            abandon_secs: 24 * 3600,
            commits: CommitProbe::known(Commits::Conditional),
            limits: Bandwidth::default().of("test", &Default::default()),
            worm: None,
            default_lock: Default::default(),
            formats: Default::default(),
        })
    }

    /// No server: for an LSU opened on its own.
    #[cfg(test)]
    pub(crate) fn no_server() -> Weak<dyn Siblings> {
        Weak::<Alone>::new()
    }
}

/// Largest image metadata accepted, in bytes.
pub const MAX_META_SIZE: u64 = 16 << 20;

/// What every image of one LSU shares.
#[derive(Debug)]
pub(crate) struct LsuCtx {
    pub name: LsuName,
    pub store: ObjectStore,
    /// Where the plugin's own records of the LSU live (see `bookkeeping`).
    pub books: Bookkeeping,
    pub rt: tokio::runtime::Handle,
    pub budget: MemoryBudget,
    pub fragment_size: u64,
    pub write_parallelism: usize,
    pub read_ahead: u64,
    pub open: Arc<OpenImages>,
    /// The cluster's VMS, which knows the bucket's quota (S3 data path).
    pub vms: Option<(Arc<vastost_vms::VmsClient>, vastost_vms::Cluster)>,
    /// The server, to reach the other LSUs that images reference.
    pub server: Weak<dyn Siblings>,
    /// See `ServerConfig::reclaim_grace_secs`.
    pub grace_secs: u64,
    /// See `ServerConfig::abandon_after_hours` (in seconds).
    pub abandon_secs: u64,
    /// Whether the storage makes commits safe (see `commit_probe`): ask
    /// [`LsuCtx::commits`].
    pub commits: CommitProbe,
    /// The server's bandwidth limits.
    pub limits: Arc<Limits>,
    /// The LSU's WORM policy, when its images can be locked.
    pub worm: Option<crate::retention::WormPolicy>,
    /// How long the storage locks every new object by default (seconds),
    /// asked once (see [`LsuCtx::default_lock_secs`]).
    pub default_lock: tokio::sync::OnceCell<Option<u64>>,
    /// Whether the LSU's format markers let this plugin write (see
    /// `format`), checked before its first commit record.
    pub formats: crate::format::WriteGate,
}

impl LsuCtx {
    pub(crate) fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Whether the storage makes commits safe, probed at the first ask.
    pub(crate) async fn commits(&self) -> Commits {
        self.commits.get(&self.store, &self.books, self.name.as_str()).await
    }

    /// Counts a `write_image` or `read_image` call of `bytes` in the
    /// process's metrics, under this LSU and its server.
    pub(crate) fn count_transfer(&self, direction: vastost_metrics::Direction, bytes: u64) {
        let server = self.server.upgrade();
        let name = server.as_ref().map_or("", |s| s.server_name());
        vastost_metrics::global().transfer(name, self.name.as_str(), direction, bytes);
    }

    /// How long the storage locks every object written to the LSU (an S3
    /// view's default retention), in seconds; `None` when it does not.
    /// A server that cannot tell is taken to lock nothing (logged).
    pub(crate) async fn default_lock_secs(&self) -> Option<u64> {
        *self.default_lock.get_or_init(|| self.read_default_lock()).await
    }

    /// [`LsuCtx::default_lock_secs`] as the storage tells it now.
    async fn read_default_lock(&self) -> Option<u64> {
        match self.store.default_lock().await {
            Ok(Some((_, secs))) if !self.books.is_apart() => {
                tracing::warn!(
                    lsu = %self.name,
                    secs,
                    "the LSU locks every new object (default retention): the plugin's events, label and reclaim \
                     cursor there get locked too; set bookkeeping_bucket"
                );
                Some(secs)
            }
            Ok(found) => found.map(|(_, secs)| secs),
            Err(e) => {
                tracing::debug!(lsu = %self.name, error = %e, "no default retention read");
                None
            }
        }
    }

    /// LSU `name` of the same server (this one included).
    pub(crate) async fn sibling(self: &Arc<Self>, name: &str) -> Result<Arc<LsuCtx>> {
        if name == self.name.as_str() {
            return Ok(self.clone());
        }
        let server =
            self.server.upgrade().ok_or_else(|| EngineError::Internal(format!("LSU {name}: its server was closed")))?;
        server.sibling(name).await
    }

    /// Whether both LSUs belong to one open server (an LSU is always on
    /// its own): then images of one may reference data of the other.
    pub(crate) fn same_server(self: &Arc<Self>, other: &Arc<LsuCtx>) -> bool {
        Arc::ptr_eq(self, other) || (self.server.strong_count() > 0 && Weak::ptr_eq(&self.server, &other.server))
    }

    /// The store holding `obj`, an object referenced from this LSU.
    pub(crate) async fn store_of(self: &Arc<Self>, obj: &crate::manifest::ObjectRef) -> Result<ObjectStore> {
        match &obj.lsu {
            None => Ok(self.store.clone()),
            Some(lsu) => Ok(self.sibling(lsu).await?.store.clone()),
        }
    }
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
