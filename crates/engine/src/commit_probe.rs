//! Whether an LSU's storage makes commits safe. Commit records are
//! created with "create if absent" (`If-None-Match: *` on S3): of two
//! writers committing the same sequence number, one is refused. Some S3
//! servers ignore the condition silently and let the second overwrite the
//! first, so one media server could lose another's commit. Each LSU is
//! probed once per process when it is first opened: creating its probe
//! object, which exists (the first process ever made it), must be
//! refused; a process that only reads never probes (see [`CommitProbe`]).
//! The probe object is one per LSU, in its bookkeeping, and the
//! same bytes each time: no process leaves anything behind, and on a
//! server that ignores the condition the overwrite changes nothing. A
//! server found to keep the condition is remembered by the host for an
//! hour (see `host_cache`): the other job processes of the media server
//! send nothing at all.

use bytes::Bytes;
use vastost_storage::ErrorKind as StorageKind;

use crate::bookkeeping::Bookkeeping;
use crate::error::{EngineError, Result};
use crate::host_cache;

/// How long a host trusts a probe that found conditional writes kept.
const REMEMBERED: std::time::Duration = std::time::Duration::from_secs(3600);

/// The probe object, in the LSU's bookkeeping.
pub(crate) const PROBE: &str = ".vastost/conditional-write-probe";

/// What the probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commits {
    /// The storage refuses to create what exists: commits are safe.
    Conditional,
    /// The probe could not run (e.g. a read-only user): commits go ahead
    /// and the storage's answers decide.
    Unknown,
    /// The storage ignores the condition. Commits are refused unless the
    /// configuration accepts the risk (`allow_unconditional_writes`).
    Unconditional {
        /// `allow_unconditional_writes`.
        allowed: bool,
    },
}

impl Commits {
    /// Whether the storage ignores the condition and the configuration
    /// accepts it (`allow_unconditional_writes`).
    pub(crate) fn accepted_risk(self) -> bool {
        matches!(self, Commits::Unconditional { allowed: true })
    }

    /// Whether the storage refuses a second create (`None`: not known).
    pub(crate) fn conditional(self) -> Option<bool> {
        match self {
            Commits::Conditional => Some(true),
            Commits::Unknown => None,
            Commits::Unconditional { .. } => Some(false),
        }
    }

    /// Refuses a commit on storage that would not keep it safe.
    pub(crate) fn check(self, lsu: &str) -> Result<()> {
        match self {
            Commits::Unconditional { allowed: false } => Err(EngineError::Config(format!(
                "LSU {lsu}: the S3 server ignores conditional writes (If-None-Match: *), so two media servers \
                 could overwrite each other's commits; writes are refused (set allow_unconditional_writes = true \
                 if only one media server ever writes to it)"
            ))),
            _ => Ok(()),
        }
    }
}

/// What an LSU's probe found, probed at the first commit (or question):
/// jobs that only read send nothing.
#[derive(Debug)]
pub(crate) struct CommitProbe {
    /// `allow_unconditional_writes`.
    allowed: bool,
    found: tokio::sync::OnceCell<Commits>,
}

impl CommitProbe {
    /// Not probed yet.
    pub(crate) fn new(allowed: bool) -> Self {
        CommitProbe { allowed, found: tokio::sync::OnceCell::new() }
    }

    /// Known without a probe.
    #[cfg(test)]
    pub(crate) fn known(commits: Commits) -> Self {
        CommitProbe { allowed: false, found: tokio::sync::OnceCell::new_with(Some(commits)) }
    }

    /// What the probe of LSU `lsu` (`data` its store, `books` its
    /// bookkeeping) finds, probing the first time.
    pub(crate) async fn get(&self, data: &vastost_storage::ObjectStore, books: &Bookkeeping, lsu: &str) -> Commits {
        *self.found.get_or_init(|| probe(data, books, lsu, self.allowed)).await
    }
}

/// Probes the storage of LSU `lsu` (`data` its store, `books` its
/// bookkeeping). Filesystems create files exclusively (`O_EXCL`, which NFS
/// v3 and later honour), so only S3 is probed: one request once the probe
/// object exists.
async fn probe(data: &vastost_storage::ObjectStore, books: &Bookkeeping, lsu: &str, allowed: bool) -> Commits {
    if data.capability().exclusive_create {
        return Commits::Conditional;
    }
    // What another process of this host found lately.
    let cache_key = books.describe();
    if host_cache::recall("probe", &cache_key, REMEMBERED).as_deref() == Some("conditional") {
        return Commits::Conditional;
    }
    let bytes = Bytes::from_static(b"vastost: a second create of this object must be refused\n");
    let found = async {
        let second = match books.put_new(PROBE, bytes.clone()).await {
            // It was there: this create was the second.
            Err(e) if e.kind == StorageKind::AlreadyExists => return Ok(Commits::Conditional),
            Err(e) => return Err(e),
            // The first process on this LSU made it; now the second create.
            Ok(()) => books.put_new(PROBE, bytes).await,
        };
        match second {
            Err(e) if e.kind == StorageKind::AlreadyExists => Ok(Commits::Conditional),
            Ok(()) => Ok(Commits::Unconditional { allowed }),
            Err(e) => Err(e),
        }
    }
    .await;
    match found {
        Ok(Commits::Unconditional { allowed }) => {
            host_cache::forget("probe", &cache_key);
            tracing::error!(
                lsu,
                allowed,
                "the S3 server ignores conditional writes (If-None-Match: *): concurrent commits are not safe"
            );
            Commits::Unconditional { allowed }
        }
        Ok(Commits::Conditional) => {
            host_cache::remember("probe", &cache_key, "conditional");
            Commits::Conditional
        }
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(lsu, error = %e, "conditional writes could not be probed");
            Commits::Unknown
        }
    }
}
