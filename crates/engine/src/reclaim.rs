//! Space reclamation: a mark-and-sweep over one image at a time.
//!
//! A fragment is garbage when no live image maps it: not its owner (deleted,
//! or committed without it: the leftovers of a crashed or overwritten
//! session) and none of the images whose reference markers sit in the
//! owner's folder (see `refs`). When a deleted image has nothing left that
//! anybody references, its remains (markers, metadata, older commit
//! records) go too.
//!
//! Two ages decide what a run may touch ([`Policy`]):
//! - a pending image is being written, or was left by a media server that
//!   crashed: for `abandon_secs` after its last commit it is not touched
//!   (its uncommitted fragments look exactly like garbage); after that it
//!   is abandoned: what was written past its last checkpoint is freed, and
//!   an image without any checkpoint is deleted whole;
//! - a deleted image's tombstone stays `abandon_secs` too, so that a writer
//!   or metadata write still racing the delete finds it deleted, and what
//!   such a straggler stores is recognised as garbage of a deleted image.
//!   A folder with data but no commit record at all is damage (lost
//!   records): it is reported and left for inspection, never freed.

use std::sync::Arc;

use crate::commit::{load_latest, next_commit, orphaned_content, put_record, remove_superseded};
use crate::ctx::{LsuCtx, now};
use crate::error::{EngineError, Result};
use crate::layout::{ImageKeys, parse_manifest_seq};
use crate::manifest::{ImageState, Manifest};
use crate::refs;

/// What a reclaim pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReclaimReport {
    /// Images looked at.
    pub images_checked: u64,
    /// Deleted images whose every trace is now gone.
    pub images_removed: u64,
    /// Deleted images kept because live images reference their data.
    pub images_kept: u64,
    /// Images skipped: being written, or references to them in the making.
    pub images_skipped: u64,
    /// Fragments removed.
    pub fragments_freed: u64,
    /// Bytes of those fragments.
    pub bytes_freed: u64,
    /// Events removed after their retention time.
    pub events_expired: u64,
    /// Pending images untouched for longer than the abandon age: their
    /// data past the last checkpoint freed (or the whole image, when it
    /// had none).
    pub images_abandoned: u64,
    /// Image folders with data but no commit record: damage, left alone.
    pub images_damaged: u64,
    /// Incomplete multipart uploads older than the abandon age, aborted.
    pub uploads_aborted: u64,
}

impl ReclaimReport {
    /// Adds another pass's figures to these.
    pub fn add(&mut self, o: &ReclaimReport) {
        self.images_checked += o.images_checked;
        self.images_removed += o.images_removed;
        self.images_kept += o.images_kept;
        self.images_skipped += o.images_skipped;
        self.fragments_freed += o.fragments_freed;
        self.bytes_freed += o.bytes_freed;
        self.events_expired += o.events_expired;
        self.images_abandoned += o.images_abandoned;
        self.images_damaged += o.images_damaged;
        self.uploads_aborted += o.uploads_aborted;
    }
}

/// The ages that decide what a reclaim run may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// How long a reference marker of an image being written protects
    /// everything of its owner (see `refs`).
    pub grace_secs: u64,
    /// After how long a pending image is abandoned and a tombstone removed.
    pub abandon_secs: u64,
}

impl Policy {
    /// The LSU's configured ages.
    pub(crate) fn of(ctx: &LsuCtx) -> Self {
        Policy { grace_secs: ctx.grace_secs, abandon_secs: ctx.abandon_secs }
    }

    fn expired(&self, since: u64) -> bool {
        now() >= since.saturating_add(self.abandon_secs)
    }

    /// An upload whose start the server does not tell is never old: it may
    /// be a writer's, still running.
    fn upload_is_old(&self, upload: &vastost_storage::Upload) -> bool {
        upload.initiated > 0 && self.expired(upload.initiated)
    }
}

/// Reclaims what image `keys` of LSU `ctx` no longer needs.
pub(crate) fn reclaim_image(
    ctx: &Arc<LsuCtx>,
    keys: &ImageKeys,
    policy: Policy,
    report: &mut ReclaimReport,
) -> Result<()> {
    report.images_checked += 1;
    if ctx.open.busy(keys.root()).writing {
        report.images_skipped += 1;
        return Ok(());
    }
    let mut latest = load_latest(ctx, keys)?;
    match &latest {
        None => {
            if let Some(found) = orphaned_content(ctx, keys)? {
                tracing::error!(lsu = %ctx.name, image = keys.root(), %found, "image data without a commit record: left for inspection");
                report.images_damaged += 1;
            }
            return Ok(());
        }
        Some(m) if m.state == ImageState::Pending && !policy.expired(m.updated) => {
            report.images_skipped += 1;
            return Ok(());
        }
        Some(m) if m.state == ImageState::Pending => {
            report.images_abandoned += 1;
            tracing::warn!(
                target: "audit",
                lsu = %ctx.name,
                image = keys.root(),
                size = m.size,
                idle_secs = now().saturating_sub(m.updated),
                "abandoned pending image: {}",
                if m.extents.is_empty() { "deleted (no checkpoint)" } else { "data past its last checkpoint freed" }
            );
            // A new commit first: a writer still running somewhere (a
            // backup without checkpoints that outlived the abandon age)
            // then fails at its next commit instead of mapping data freed
            // here.
            let state = if m.extents.is_empty() { ImageState::Deleted } else { ImageState::Pending };
            latest = Some(abandon(ctx, keys, m, state)?);
        }
        Some(_) => {}
    }
    let latest = latest.expect("matched above");
    let tombstone = (latest.state == ImageState::Deleted).then_some(latest.seq);
    let live = (latest.state != ImageState::Deleted).then_some(&latest);
    let protection = refs::protection(ctx, keys, policy.grace_secs)?;
    if protection.everything {
        report.images_skipped += 1;
        return Ok(());
    }
    let mut keep = protection.keys;
    if let Some(m) = live {
        keep.extend(m.extents.iter().filter(|e| e.object.lsu.is_none()).map(|e| e.object.key.clone()));
    }
    let store = &ctx.store;
    let mut doomed = Vec::new();
    for entry in ctx.block_on(store.list(&keys.frag_dir()))?.into_iter().filter(|e| !e.is_dir) {
        let key = format!("{}{}", keys.frag_dir(), entry.name);
        if keep.contains(&key) {
            continue;
        }
        // Of a deleted image, only what its own life wrote: the name may be
        // taken again meanwhile, and the new image's fragments are not
        // garbage (they are not committed yet either).
        if tombstone.is_some() && !crate::layout::fragment_of_life(&entry.name, &latest.incarnation) {
            continue;
        }
        // S3 listings tell sizes; a filesystem's size is a local stat.
        let size = match entry.size {
            Some(size) => size,
            None => ctx.block_on(store.size(&key))?.unwrap_or(0),
        };
        tracing::debug!(lsu = %ctx.name, fragment = %key, size, "reclaiming fragment");
        report.bytes_freed += size;
        doomed.push(key);
    }
    // One request per 1,000 fragments on S3, unlinks in parallel on NFS.
    report.fragments_freed += doomed.len() as u64;
    doomed.extend(protection.stale.iter().cloned());
    ctx.block_on(store.delete_many(doomed))?;
    if live.is_some() {
        return Ok(());
    }
    if !keep.is_empty() {
        report.images_kept += 1;
        return Ok(());
    }
    // Nothing of the deleted image is referenced: remove its remains. The
    // tombstone stays until it is old, unless the name was taken again.
    if load_latest(ctx, keys)?.map(|m| m.seq) != tombstone {
        return Ok(());
    }
    let old_tombstone = policy.expired(latest.updated);
    let removed = ctx.block_on(async {
        let mut removed = store.size(&keys.meta()).await?.is_some();
        store.delete(&keys.meta()).await?;
        let mut seqs: Vec<u64> =
            store.list(&keys.manifest_dir()).await?.iter().filter_map(|e| parse_manifest_seq(&e.name)).collect();
        seqs.sort_unstable();
        for seq in seqs.into_iter().filter(|s| Some(*s) < tombstone || (old_tombstone && Some(*s) == tombstone)) {
            store.delete(&keys.manifest(seq)).await?;
            removed = true;
        }
        if old_tombstone {
            store.delete_all(keys.root()).await?;
        }
        Ok::<_, crate::error::EngineError>(removed)
    })?;
    if removed {
        report.images_removed += 1;
    }
    Ok(())
}

/// Commits abandoned pending image `m` again as `state`: pending (its
/// checkpoint stands) or deleted (it had none). Returns the new commit.
fn abandon(ctx: &LsuCtx, keys: &ImageKeys, m: &Manifest, state: ImageState) -> Result<Manifest> {
    let mut next = next_commit(m);
    next.state = state;
    if !put_record(ctx, &keys.manifest(next.seq), next.encode())? {
        return Err(EngineError::Busy { image: keys.root().to_string(), reason: "it changed while being abandoned" });
    }
    remove_superseded(ctx, keys, m.seq);
    Ok(next)
}

/// Reclaims every image of LSU `ctx`, and expires its old events.
pub(crate) fn reclaim_lsu(ctx: &Arc<LsuCtx>, policy: Policy, event_hours: u64) -> Result<ReclaimReport> {
    let mut report = ReclaimReport::default();
    for keys in crate::commit::image_folders(ctx)? {
        if let Err(e) = reclaim_image(ctx, &keys, policy, &mut report) {
            tracing::warn!(lsu = %ctx.name, image = keys.root(), error = %e, "image not reclaimed");
            report.images_skipped += 1;
        }
    }
    report.uploads_aborted = abort_old_uploads(ctx, policy)?;
    report.events_expired = crate::events::expire(ctx, event_hours)?;
    tracing::info!(
        target: "audit",
        lsu = %ctx.name,
        fragments = report.fragments_freed,
        bytes = report.bytes_freed,
        images_removed = report.images_removed,
        images_abandoned = report.images_abandoned,
        images_damaged = report.images_damaged,
        "reclaimed space"
    );
    Ok(report)
}

/// Aborts the incomplete multipart uploads of the LSU's images started
/// longer ago than the abandon age (a writer killed in the middle of a
/// fragment leaves one, and its parts hold space until it is aborted).
fn abort_old_uploads(ctx: &LsuCtx, policy: Policy) -> Result<u64> {
    let uploads = match ctx.block_on(ctx.store.incomplete_uploads(crate::layout::IMAGES)) {
        Ok(u) => u,
        Err(e) if e.kind == vastost_storage::ErrorKind::Unsupported => {
            tracing::warn!(lsu = %ctx.name, error = %e, "incomplete multipart uploads cannot be listed here");
            return Ok(0);
        }
        Err(e) => return Err(e.into()),
    };
    let mut aborted = 0;
    for upload in uploads.iter().filter(|u| policy.upload_is_old(u)) {
        ctx.block_on(ctx.store.abort_upload(upload))?;
        tracing::info!(target: "audit", lsu = %ctx.name, key = %upload.key, "aborted an abandoned multipart upload");
        aborted += 1;
    }
    Ok(aborted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uploads_known_to_be_old_are_abandoned() {
        let policy = Policy { grace_secs: 0, abandon_secs: 3600 };
        let upload = |initiated| vastost_storage::Upload { key: "k".into(), upload_id: "u".into(), initiated };
        assert!(policy.upload_is_old(&upload(now() - 7200)));
        assert!(!policy.upload_is_old(&upload(now() - 60)), "young: a writer may still be sending it");
        assert!(!policy.upload_is_old(&upload(0)), "start unknown");
        assert!(Policy { abandon_secs: 0, ..policy }.upload_is_old(&upload(now())));
    }
}
