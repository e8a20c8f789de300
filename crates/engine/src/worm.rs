//! Immutable images (WORM): an LSU's lock policy, an image's lock kept in
//! its commit record, and locking an image: every object it needs to be
//! restored (its fragments and those of other images it references, its
//! metadata, the commit record that maps them) gets the storage's own lock
//! (S3 Object Lock retention, VAST NFS WORM marks) before the record that
//! says the image is locked is written. A lock is only ever extended; a
//! delete of a locked image is refused before anything is touched.

use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use vastost_storage::ObjectStore;

use crate::commit::{next_commit, put_record, remove_superseded, same_image};
use crate::ctx::{LsuCtx, now};
use crate::error::{EngineError, Result};
use crate::layout::ImageKeys;
use crate::manifest::{ImageState, Manifest};
use crate::names::ImageDef;
use crate::retention::ImageLock;

/// Objects locked at once (each is one or two round trips on S3).
const IN_FLIGHT: usize = 16;

/// Locks image `def` until `until` with the LSU's policy, or extends its
/// lock. A lock outside the policy's bounds, or one that would shorten
/// the image's lock, is refused; asking again for the lock an image has
/// completes what a crash may have left half done.
pub(crate) fn lock_image(ctx: &Arc<LsuCtx>, def: &ImageDef, until: u64) -> Result<ImageLock> {
    let Some(policy) = ctx.worm else {
        return Err(EngineError::NotSupported(format!("LSU {} is not a WORM LSU (no worm_mode configured)", ctx.name)));
    };
    let image = def.to_string();
    let period = until.saturating_sub(now());
    if period < policy.min_secs {
        return Err(EngineError::WormRange { image, period, min: true, bound: policy.min_secs });
    }
    if period > policy.max_secs {
        return Err(EngineError::WormRange { image, period, min: false, bound: policy.max_secs });
    }
    let wanted = ImageLock { until, mode: policy.mode };
    let keys = ImageKeys::new(def);
    for _ in 0..5 {
        let m = match crate::commit::latest_or_lost(ctx, &keys)?.record(&keys, def)? {
            Some(m) if m.state != ImageState::Deleted => same_image(m, def)?,
            _ => return Err(EngineError::NoSuchImage(image)),
        };
        if m.state != ImageState::Created {
            return Err(EngineError::WrongState { image, reason: "only a complete image can be locked" });
        }
        if let Some(held) = m.lock
            && held.until > until
        {
            return Err(EngineError::WormShorter { image, held: held.until, asked: until });
        }
        lock_objects(ctx, &keys, &m, wanted)?;
        let mut next = next_commit(&m);
        next.lock = Some(wanted);
        let record = keys.manifest(next.seq);
        if !put_record(ctx, &record, next.encode())? {
            continue;
        }
        ctx.block_on(ctx.store.lock(&record, wanted.retention()))?;
        // An older record still locked stays until its own lock expires.
        if m.lock.is_none_or(|held| !held.holds_at(now())) {
            remove_superseded(ctx, &keys, m.seq);
        }
        tracing::info!(target: "audit", lsu = %ctx.name, image = %def, until, mode = policy.mode.as_str(), "image locked");
        return Ok(wanted);
    }
    Err(EngineError::Busy { image, reason: "it kept changing while it was locked" })
}

/// Locks what image `m` needs to be read: its fragments (in whichever LSU
/// of the server they are), its metadata and its current commit record.
fn lock_objects(ctx: &Arc<LsuCtx>, keys: &ImageKeys, m: &Manifest, lock: ImageLock) -> Result<()> {
    let mut targets: Vec<(ObjectStore, String)> = Vec::new();
    for e in &m.extents {
        let target = (ctx.store_of(&e.object)?, e.object.key.clone());
        if !targets.iter().any(|(_, k)| *k == target.1) {
            targets.push(target);
        }
    }
    if m.meta {
        targets.push((ctx.store.clone(), keys.meta()));
    }
    targets.push((ctx.store.clone(), keys.manifest(m.seq)));
    let retention = lock.retention();
    ctx.block_on(
        futures_util::stream::iter(targets)
            .map(|(store, key)| async move { store.lock(&key, retention).await })
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<()>>(),
    )?;
    Ok(())
}

/// Refuses to delete an image whose lock still holds.
pub(crate) fn check_deletable(def: &ImageDef, m: &Manifest) -> Result<()> {
    match m.lock {
        Some(held) if held.holds_at(now()) => {
            Err(EngineError::WormLocked { image: def.to_string(), until: held.until })
        }
        _ => Ok(()),
    }
}
