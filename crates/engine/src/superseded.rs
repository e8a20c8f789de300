//! Commit records that no longer rule an image, removed by the reclaimer.
//!
//! A commit normally removes the record it supersedes at once. A locked
//! record cannot be removed before its lock expires, so every extension
//! of an image's lock leaves the one before behind: an image locked and
//! extended fifty times holds fifty-one records, each a version kept by
//! the storage. Once their locks expire they are garbage.
//!
//! Removing them must not change which record rules (see `anchor`): the
//! anchor of a lock is the earliest record of its chain, and a record
//! added while the lock held is ignored only because the anchor was made
//! before it. So the records made before the ruling one are removed
//! newest first, and the first one the storage keeps (still locked) stops
//! the removal: the anchor goes only after everything made after it, and
//! the ruling record is then the earliest of what is left.

use vastost_storage::{ErrorKind as StorageKind, LockMode, ObjectStore};

use crate::anchor::RecordVersion;
use crate::error::Result;
use crate::layout::ImageKeys;

/// What a pruning removed and kept.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pruned {
    /// Record versions the storage confirmed deleted.
    pub removed: u64,
    /// Record versions left because the storage keeps one of them (locked).
    pub kept: u64,
    /// When the lock that stopped the removal expires (0: not known).
    pub kept_until: u64,
}

/// Removes the record versions of image `keys` made before the one that
/// rules, newest first, until the storage keeps one.
/// `records` and `ruled_by` are what the caller read to find the ruling
/// record (see `commit::latest_ruled`): they are not read again.
pub(crate) async fn prune(
    store: &ObjectStore,
    keys: &ImageKeys,
    records: &[RecordVersion],
    ruled_by: Option<&RecordVersion>,
) -> Result<Pruned> {
    let mut out = Pruned::default();
    let Some(ruling) = ruled_by.filter(|_| records.len() >= 2) else { return Ok(out) };
    let made_before = |r: &RecordVersion| (r.made_ms, r.seq) < (ruling.made_ms, ruling.seq);
    let mut older: Vec<&RecordVersion> = records.iter().filter(|r| made_before(r)).collect();
    older.sort_by_key(|r| std::cmp::Reverse((r.made_ms, r.seq)));
    for (i, r) in older.iter().enumerate() {
        let key = keys.manifest(r.seq);
        match store.delete_version(&key, r.version.as_deref()).await {
            Ok(()) => out.removed += 1,
            Err(e) if e.kind == StorageKind::NotFound => {}
            Err(e) if e.kind == StorageKind::PermissionDenied => {
                out.kept = (older.len() - i) as u64;
                let held = store.retention(&key, r.version.as_deref(), LockMode::Governance).await?;
                out.kept_until = held.map_or(0, |h| h.until);
                tracing::info!(record = %key, until = out.kept_until, "superseded records kept until their lock expires");
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}
