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

use futures_util::StreamExt;

use crate::commit::{CommitLog, Latest, Ruled, folders_of, latest_record};
use crate::ctx::{LsuCtx, now};
use crate::error::{EngineError, Result};
use crate::layout::{self, ImageKeys};
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
    /// The run stopped at its bound before the pass was complete: the next
    /// one goes on from there.
    pub more: bool,
    /// Fragments due to be freed that the storage kept (locked).
    pub fragments_kept_locked: u64,
    /// The latest expiry of those locks (seconds since the epoch; 0: not
    /// told).
    pub kept_until: u64,
    /// Commit records of live images that no longer ruled (left behind by
    /// lock extensions until their locks expired), deleted.
    pub records_removed: u64,
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
        self.more |= o.more;
        self.fragments_kept_locked += o.fragments_kept_locked;
        self.kept_until = self.kept_until.max(o.kept_until);
        self.records_removed += o.records_removed;
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
pub(crate) async fn reclaim_image(
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
    // The records as read, kept to prune a locked image's superseded ones
    // without reading them again.
    let (mut latest, mut ruled) = match crate::commit::latest_ruled(&ctx.store, keys).await? {
        Some(Ruled { record, versions, ruled_by }) => (Some(record), Some((versions, ruled_by))),
        // No record at the first look: the rest of `find_latest`.
        None => match crate::commit::without_record(&ctx.store, keys).await? {
            Latest::Record(m) => (Some(m), None),
            Latest::Nothing => (None, None),
            Latest::Lost(found) => {
                tracing::error!(lsu = %ctx.name, image = keys.root(), %found, "image data without a commit record: left for inspection");
                report.images_damaged += 1;
                (None, None)
            }
        },
    };
    match &latest {
        None => return Ok(()),
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
            latest = Some(abandon(ctx, keys, m, state).await?);
            ruled = None;
        }
        Some(_) => {}
    }
    let latest = latest.expect("matched above");
    let tombstone = (latest.state == ImageState::Deleted).then_some(latest.seq);
    let live = (latest.state != ImageState::Deleted).then_some(&latest);
    let protection = refs::protection(ctx, keys, policy.grace_secs).await?;
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
    for entry in store.list(&keys.frag_dir()).await?.into_iter().filter(|e| !e.is_dir) {
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
            None => store.size(&key).await?.unwrap_or(0),
        };
        tracing::debug!(lsu = %ctx.name, fragment = %key, size, "reclaiming fragment");
        doomed.push((key, size));
    }
    // One request per 1,000 fragments on S3, unlinks in parallel on NFS.
    let mut to_delete: Vec<String> = doomed.iter().map(|(k, _)| k.clone()).collect();
    to_delete.extend(protection.stale.iter().cloned());
    let refused = match store.delete_many(to_delete).await {
        Ok(()) => false,
        // Locked (by the view's default retention, or a lock set behind
        // our back): counted as kept below, never as freed.
        Err(e) if e.kind == vastost_storage::ErrorKind::PermissionDenied => {
            tracing::warn!(lsu = %ctx.name, image = keys.root(), error = %e, "the storage kept fragments due to be freed");
            true
        }
        Err(e) => return Err(e.into()),
    };
    for (key, size) in doomed {
        if refused && store.size(&key).await?.is_some() {
            report.fragments_kept_locked += 1;
            let held = store.retention(&key, None, vastost_storage::LockMode::Governance).await?;
            report.kept_until = report.kept_until.max(held.map_or(0, |r| r.until));
            continue;
        }
        report.fragments_freed += 1;
        report.bytes_freed += size;
    }
    if refused {
        report.images_kept += 1;
        return Ok(());
    }
    if let Some(m) = live {
        // Only locks leave superseded records behind (see `superseded`);
        // an image whose records were read only on a second look is pruned
        // by the next pass.
        if m.lock.is_some()
            && let Some((versions, ruled_by)) = ruled.take()
        {
            let pruned = crate::superseded::prune(store, keys, &versions, ruled_by.as_ref()).await?;
            report.records_removed += pruned.removed;
        }
        return Ok(());
    }
    if !keep.is_empty() {
        report.images_kept += 1;
        return Ok(());
    }
    // Nothing of the deleted image is referenced: remove its remains. The
    // tombstone stays until it is old, unless the name was taken again.
    if latest_record(store, keys).await?.map(|m| m.seq) != tombstone {
        return Ok(());
    }
    let old_tombstone = policy.expired(latest.updated);
    let mut removed = store.size(&keys.meta()).await?.is_some();
    store.delete(&keys.meta()).await?;
    if let Some(tombstone) = tombstone {
        removed |= crate::commit::purge(store, keys, tombstone, old_tombstone).await?;
    }
    if old_tombstone {
        store.delete_all(keys.root()).await?;
    }
    if removed {
        report.images_removed += 1;
    }
    Ok(())
}

/// Commits abandoned pending image `m` again as `state`: pending (its
/// checkpoint stands) or deleted (it had none). Returns the new commit.
async fn abandon(ctx: &LsuCtx, keys: &ImageKeys, m: &Manifest, state: ImageState) -> Result<Manifest> {
    let log = CommitLog::new(ctx, keys);
    let Some(next) = log.append(m, |next| next.state = state).await? else {
        return Err(EngineError::Busy { image: keys.root().to_string(), reason: "it changed while being abandoned" });
    };
    log.retire(m.seq).await;
    Ok(next)
}

/// Basename folders listed per request during a pass.
const PAGE: usize = 1000;
/// Basename folders reclaimed at once: each is a handful of round trips.
const IN_FLIGHT: usize = 8;

/// How much of the LSU one run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PassBound {
    /// Basename folders (images, nearly always one each) this run may
    /// visit; `None`: the whole LSU.
    pub max_images: Option<u64>,
}

/// Reclaims LSU `ctx` from where the last run stopped (the cursor kept in
/// the LSU), page by page, several images at once, up to `bound`; when the
/// pass has been all the way round, aborts old uploads and expires events.
/// A run killed midway loses at most a page of progress.
pub(crate) async fn reclaim_lsu(
    ctx: &Arc<LsuCtx>,
    policy: Policy,
    event_hours: u64,
    bound: PassBound,
) -> Result<ReclaimReport> {
    let mut report = ReclaimReport::default();
    let start = cursor::load(ctx).await?;
    let mut left = bound.max_images.unwrap_or(u64::MAX);
    // From the cursor to the end, then from the beginning up to the cursor.
    let (mut after, mut wrapped) = (start.clone(), start.is_empty());
    let complete = loop {
        if left == 0 {
            break false;
        }
        let page = ctx.store.list_page(layout::IMAGES, &after, PAGE).await?;
        let at_end = page.len() < PAGE;
        let mut bases: Vec<String> = page.into_iter().filter(|e| e.is_dir).map(|e| e.name).collect();
        let mut reached_start = false;
        if wrapped && !start.is_empty() && bases.last().is_some_and(|b| *b >= start) {
            bases.retain(|b| *b < start);
            reached_start = true;
        }
        let cut = bases.len() > usize::try_from(left).unwrap_or(usize::MAX);
        bases.truncate(usize::try_from(left).unwrap_or(usize::MAX));
        left -= bases.len() as u64;
        reclaim_bases(ctx, &bases, policy, &mut report).await;
        if let Some(last) = bases.last() {
            after = last.clone();
        }
        tracing::info!(lsu = %ctx.name, images = report.images_checked, cursor = %after, "reclaim in progress");
        if reached_start || (at_end && !cut && wrapped) {
            break true;
        }
        if at_end && !cut {
            // The end: go on from the beginning up to where this run began.
            (after, wrapped) = (String::new(), true);
        }
        cursor::save(ctx, &after).await?;
    };
    if complete {
        cursor::clear(ctx).await?;
        report.uploads_aborted = abort_old_uploads(ctx, policy).await?;
        report.events_expired = crate::events::expire(ctx, event_hours).await?;
    } else {
        // The last page done saved the cursor already.
        report.more = true;
    }
    tracing::info!(
        target: "audit",
        lsu = %ctx.name,
        fragments = report.fragments_freed,
        bytes = report.bytes_freed,
        images_removed = report.images_removed,
        images_abandoned = report.images_abandoned,
        images_damaged = report.images_damaged,
        complete,
        "reclaimed space"
    );
    Ok(report)
}

/// Reclaims the images of basename folders `bases`, [`IN_FLIGHT`] at once.
/// An image that cannot be reclaimed now is logged and counted as skipped.
async fn reclaim_bases(ctx: &Arc<LsuCtx>, bases: &[String], policy: Policy, report: &mut ReclaimReport) {
    let mut done =
        futures_util::stream::iter(bases).map(|base| reclaim_base(ctx, base, policy)).buffer_unordered(IN_FLIGHT);
    while let Some(theirs) = done.next().await {
        report.add(&theirs);
    }
}

/// Reclaims the images of basename folder `base`; what it did.
async fn reclaim_base(ctx: &Arc<LsuCtx>, base: &str, policy: Policy) -> ReclaimReport {
    let mut report = ReclaimReport::default();
    let folders = match folders_of(&ctx.store, base).await {
        Ok(folders) => folders,
        Err(e) => {
            tracing::warn!(lsu = %ctx.name, basename = base, error = %e, "images not reclaimed");
            report.images_skipped += 1;
            return report;
        }
    };
    for keys in folders {
        if let Err(e) = reclaim_image(ctx, &keys, policy, &mut report).await {
            tracing::warn!(lsu = %ctx.name, image = keys.root(), error = %e, "image not reclaimed");
            report.images_skipped += 1;
        }
    }
    report
}

/// Where an unfinished pass stopped: the last basename folder done, kept
/// in the LSU so that the next run, from any media server, goes on there.
/// Two runs at once may move it back and forth; each image they visit is
/// reclaimed safely either way, so it only decides where the next starts.
mod cursor {
    use bytes::Bytes;
    use vastost_storage::ErrorKind as StorageKind;

    use crate::ctx::LsuCtx;
    use crate::error::Result;
    use crate::layout::RECLAIM_CURSOR;

    pub(super) async fn load(ctx: &LsuCtx) -> Result<String> {
        match ctx.books.get(RECLAIM_CURSOR).await {
            // A cursor that is not a folder name is ignored: the pass
            // starts over, which is always safe.
            Ok(bytes) => Ok(String::from_utf8(bytes.to_vec()).ok().filter(|c| !c.contains('/')).unwrap_or_default()),
            Err(e) if e.kind == StorageKind::NotFound => Ok(String::new()),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn save(ctx: &LsuCtx, after: &str) -> Result<()> {
        Ok(ctx.books.put(RECLAIM_CURSOR, Bytes::from(after.to_string())).await?)
    }

    pub(super) async fn clear(ctx: &LsuCtx) -> Result<()> {
        Ok(ctx.books.delete(RECLAIM_CURSOR).await?)
    }
}

/// Aborts the incomplete multipart uploads of the LSU's images started
/// longer ago than the abandon age (a writer killed in the middle of a
/// fragment leaves one, and its parts hold space until it is aborted).
async fn abort_old_uploads(ctx: &LsuCtx, policy: Policy) -> Result<u64> {
    let uploads = match ctx.store.incomplete_uploads(crate::layout::IMAGES).await {
        Ok(u) => u,
        // A server that does not serve the listing (or lets this user
        // not use it) has nothing reclaim can abort: the rest of the pass
        // stands.
        Err(e) if e.kind != vastost_storage::ErrorKind::Temporary => {
            tracing::warn!(lsu = %ctx.name, error = %e, "incomplete multipart uploads cannot be listed here: none aborted");
            return Ok(0);
        }
        Err(e) => return Err(e.into()),
    };
    let mut aborted = 0;
    for upload in uploads.iter().filter(|u| policy.upload_is_old(u)) {
        ctx.store.abort_upload(upload).await?;
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

    #[test]
    fn bounded_runs_go_on_where_the_last_stopped_and_a_whole_run_goes_all_the_way_round() {
        use crate::names::ImageDef;
        let env = crate::tests::env(64 << 20);
        let rt = &env.rt;
        for lsu in &env.lsus {
            let def = |i: usize| ImageDef::new(&format!("client{i:02}"), "1").unwrap();
            for i in 0..23 {
                let mut w = lsu.create_image(&def(i)).unwrap();
                w.write(&[i as u8; 512], 0).unwrap();
                w.close(true).unwrap();
                lsu.delete_image(&def(i)).unwrap();
            }
            // Image folders with anything left in them (a store may keep
            // empty folders).
            let left = || {
                let bases = rt.block_on(lsu.ctx.store.list(layout::IMAGES)).unwrap();
                bases
                    .iter()
                    .filter(|b| !rt.block_on(lsu.ctx.store.list(&format!("images/{}/", b.name))).unwrap().is_empty())
                    .count()
            };
            let bound = PassBound { max_images: Some(5) };
            // Five runs of at most five folders each: 5, 5, 5, 5, 3.
            for run in 0..5 {
                let r = lsu.reclaim(Some(0), Some(0), 72, bound).unwrap();
                assert_eq!(r.images_removed, if run < 4 { 5 } else { 3 }, "run {run}");
                assert_eq!(r.more, run < 4, "run {run}");
                assert_eq!(left(), 23 - (5 * run + 5).min(23), "run {run}");
            }
            // A killed pass left its cursor in the middle: a whole run starts
            // there, wraps round and covers everything once.
            for i in 0..23 {
                let w = lsu.create_image(&def(i)).unwrap();
                w.close(true).unwrap();
                lsu.delete_image(&def(i)).unwrap();
            }
            lsu.ctx.block_on(cursor::save(&lsu.ctx, "client11")).unwrap();
            let r = lsu.reclaim(Some(0), Some(0), 72, PassBound::default()).unwrap();
            assert_eq!((r.images_checked, r.images_removed, r.more), (22, 22, false), "{r:?}");
            assert_eq!(left(), 1, "client11 was done by the run that saved the cursor");
            assert_eq!(lsu.ctx.block_on(cursor::load(&lsu.ctx)).unwrap(), "", "a complete pass clears the cursor");
        }
    }
}
