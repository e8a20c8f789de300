//! Space reclamation: a mark-and-sweep over one image at a time.
//!
//! A fragment is garbage when no live image maps it: not its owner (deleted,
//! or complete without it: the leftovers of a crashed or overwritten
//! session) and none of the images whose reference markers sit in the
//! owner's folder (see `refs`). Images still being written are never swept:
//! their uncommitted fragments look exactly like garbage. When a deleted
//! image has nothing left that anybody references, its remains (markers,
//! metadata, commit records, tombstone last) go too.

use std::sync::Arc;

use crate::error::Result;
use crate::layout::{ImageKeys, parse_manifest_seq};
use crate::lsu::{LsuCtx, load_latest};
use crate::manifest::ImageState;
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
    }
}

/// Reclaims what image `keys` of LSU `ctx` no longer needs.
pub(crate) fn reclaim_image(ctx: &Arc<LsuCtx>, keys: &ImageKeys, grace: u64, report: &mut ReclaimReport) -> Result<()> {
    report.images_checked += 1;
    if ctx.open.busy(keys.root()).writing {
        report.images_skipped += 1;
        return Ok(());
    }
    let latest = load_latest(ctx, keys)?;
    let tombstone = match &latest {
        Some(m) if m.state == ImageState::Pending => {
            report.images_skipped += 1;
            return Ok(());
        }
        Some(m) if m.state == ImageState::Deleted => Some(m.seq),
        _ => None,
    };
    let live = latest.as_ref().filter(|m| m.state == ImageState::Created);
    let protection = refs::protection(ctx, keys, grace)?;
    if protection.everything {
        report.images_skipped += 1;
        return Ok(());
    }
    let mut keep = protection.keys;
    if let Some(m) = live {
        keep.extend(m.extents.iter().filter(|e| e.object.lsu.is_none()).map(|e| e.object.key.clone()));
    }
    let store = &ctx.store;
    for entry in ctx.block_on(store.list(&keys.frag_dir()))?.into_iter().filter(|e| !e.is_dir) {
        let key = format!("{}{}", keys.frag_dir(), entry.name);
        if keep.contains(&key) {
            continue;
        }
        let size = ctx.block_on(store.size(&key))?.unwrap_or(0);
        ctx.block_on(store.delete(&key))?;
        report.fragments_freed += 1;
        report.bytes_freed += size;
        tracing::debug!(lsu = %ctx.name, fragment = %key, size, "reclaimed fragment");
    }
    for stale in &protection.stale {
        ctx.block_on(store.delete(stale))?;
    }
    if live.is_some() {
        return Ok(());
    }
    if !keep.is_empty() {
        report.images_kept += 1;
        return Ok(());
    }
    // Nothing of the deleted image is referenced: remove its remains,
    // unless the name was taken again meanwhile.
    if load_latest(ctx, keys)?.map(|m| m.seq) != tombstone {
        return Ok(());
    }
    ctx.block_on(async {
        store.delete(&keys.meta()).await?;
        let mut seqs: Vec<u64> =
            store.list(&keys.manifest_dir()).await?.iter().filter_map(|e| parse_manifest_seq(&e.name)).collect();
        seqs.sort_unstable();
        for seq in seqs.into_iter().filter(|s| Some(*s) <= tombstone || tombstone.is_none()) {
            store.delete(&keys.manifest(seq)).await?;
        }
        store.delete_all(keys.root()).await
    })?;
    report.images_removed += 1;
    Ok(())
}

/// Reclaims every image of LSU `ctx`, and expires its old events.
pub(crate) fn reclaim_lsu(ctx: &Arc<LsuCtx>, grace: u64, event_hours: u64) -> Result<ReclaimReport> {
    let mut report = ReclaimReport::default();
    for keys in crate::lsu::image_folders(ctx)? {
        if let Err(e) = reclaim_image(ctx, &keys, grace, &mut report) {
            tracing::warn!(lsu = %ctx.name, image = keys.root(), error = %e, "image not reclaimed");
            report.images_skipped += 1;
        }
    }
    report.events_expired = crate::events::expire(ctx, event_hours)?;
    tracing::info!(
        target: "audit",
        lsu = %ctx.name,
        fragments = report.fragments_freed,
        bytes = report.bytes_freed,
        images_removed = report.images_removed,
        "reclaimed space"
    );
    Ok(report)
}
