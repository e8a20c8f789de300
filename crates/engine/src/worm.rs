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

use crate::commit::{next_commit, put_record, remove_superseded, visible};
use crate::ctx::{LsuCtx, now};
use crate::error::{EngineError, Result};
use crate::layout::ImageKeys;
use crate::manifest::{ImageState, Manifest, ObjectRef};
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
        let m = visible(ctx, &keys, def)?;
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
        if m.lock.is_none_or(|held| !held.holds_now()) {
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
    for object in distinct_objects(m) {
        targets.push((ctx.store_of(object)?, object.key.clone()));
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

/// The objects image `m` maps, each once (an image of many overwrites maps
/// some several times), in the order first mapped.
fn distinct_objects(m: &Manifest) -> Vec<&ObjectRef> {
    let mut seen = std::collections::HashSet::new();
    m.extents.iter().map(|e| &e.object).filter(|o| seen.insert((o.lsu.as_deref(), o.key.as_str()))).collect()
}

/// Lifts an image's governance lock before it expires: a privileged call
/// (the S3 user needs the bypass permission), logged for audit with `who`.
/// A compliance lock is never lifted. The image's own fragments lose their
/// lock only when no other image references them (a copy's lock covers
/// them too); its metadata and commit record always do.
pub(crate) fn release_lock(ctx: &Arc<LsuCtx>, def: &ImageDef, who: &str) -> Result<()> {
    if who.trim().is_empty() {
        return Err(EngineError::invalid("releasing a lock needs the name of who asks (for the audit log)"));
    }
    let image = def.to_string();
    let keys = ImageKeys::new(def);
    for _ in 0..5 {
        let m = visible(ctx, &keys, def)?;
        let Some(held) = m.lock.filter(|l| l.holds_now()) else { return Ok(()) };
        if held.mode == crate::retention::WormMode::Compliance {
            return Err(EngineError::WormCompliance { image, until: held.until });
        }
        let referenced = !ctx.block_on(ctx.store.list(&keys.refs_dir()))?.is_empty();
        let mut targets: Vec<String> = Vec::new();
        if !referenced {
            targets.extend(
                distinct_objects(&m)
                    .into_iter()
                    .filter(|o| o.lsu.is_none() && keys.owns(&o.key))
                    .map(|o| o.key.clone()),
            );
        }
        if m.meta {
            targets.push(keys.meta());
        }
        targets.push(keys.manifest(m.seq));
        let store = &ctx.store;
        ctx.block_on(
            futures_util::stream::iter(targets)
                .map(|key| async move { store.unlock(&key).await })
                .buffer_unordered(IN_FLIGHT)
                .try_collect::<Vec<()>>(),
        )?;
        let mut next = next_commit(&m);
        next.lock = None;
        if !put_record(ctx, &keys.manifest(next.seq), next.encode())? {
            continue;
        }
        remove_superseded(ctx, &keys, m.seq);
        tracing::warn!(
            target: "audit",
            lsu = %ctx.name,
            image = %def,
            until = held.until,
            who,
            fragments_kept_locked = referenced,
            "governance lock released before it expired"
        );
        return Ok(());
    }
    Err(EngineError::Busy { image, reason: "it kept changing while its lock was released" })
}

/// Gives an image just closed complete the LSU's default lock, if it has
/// one. The image is complete whatever happens here: a lock that fails is
/// logged, and `vastost lock` (or NetBackup's own lock call) sets it later.
pub(crate) fn lock_by_default(ctx: &Arc<LsuCtx>, def: &ImageDef) {
    let Some(secs) = ctx.worm.and_then(|p| p.default_secs) else { return };
    if let Err(e) = lock_image(ctx, def, now().saturating_add(secs)) {
        tracing::error!(lsu = %ctx.name, image = %def, error = %e, "the LSU's default WORM lock was not set");
    }
}

/// Refuses to delete or change an image whose lock still holds.
pub(crate) fn check_unlocked(def: &ImageDef, m: &Manifest) -> Result<()> {
    match m.lock {
        Some(held) if held.holds_now() => Err(EngineError::WormLocked { image: def.to_string(), until: held.until }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::MemoryBudget;
    use crate::lsu::Lsu;
    use crate::retention::{WormMode, WormPolicy};
    use vastost_storage::LockMode;

    /// A WORM LSU in memory (whose store enforces locks), with one complete
    /// image `img` of three 8 KiB fragments.
    fn lsu_with_image(rt: &tokio::runtime::Runtime) -> (Lsu, Arc<LsuCtx>, ImageDef) {
        let store = ObjectStore::memory().unwrap();
        let ctx = LsuCtx::on_store(store, rt.handle().clone(), MemoryBudget::new(1 << 20), 8192);
        let mut ctx = Arc::try_unwrap(ctx).expect("only owner");
        ctx.worm = Some(WormPolicy { mode: WormMode::Compliance, min_secs: 1, max_secs: 3600, default_secs: None });
        let ctx = Arc::new(ctx);
        let lsu = Lsu::new(ctx.clone());
        let def = ImageDef::new("img", "1").unwrap();
        let mut w = lsu.create_image(&def).unwrap();
        w.write(&crate::tests::data(1, 3 * 8192), 0).unwrap();
        w.close(true).unwrap();
        (lsu, ctx, def)
    }

    fn retention(ctx: &LsuCtx, key: &str) -> Option<vastost_storage::Retention> {
        ctx.block_on(ctx.store.retention(key, LockMode::Compliance)).unwrap()
    }

    #[test]
    fn a_lock_cut_short_before_its_record_is_completed_by_the_next_call() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (lsu, ctx, def) = lsu_with_image(&rt);
        let keys = ImageKeys::new(&def);
        let m = crate::commit::load_latest(&ctx, &keys).unwrap().unwrap();
        let until = now() + 600;
        let lock = ImageLock { until, mode: WormMode::Compliance };
        // The crash: one fragment locked, nothing else, no record.
        ctx.block_on(ctx.store.lock(&m.extents[0].object.key, lock.retention())).unwrap();
        // The next call completes it: every fragment, and the record.
        assert_eq!(lsu.lock_image(&def, until).unwrap(), lock);
        for e in &m.extents {
            assert_eq!(retention(&ctx, &e.object.key).map(|r| r.until), Some(until));
        }
        let locked = crate::commit::load_latest(&ctx, &keys).unwrap().unwrap();
        assert_eq!(locked.lock, Some(lock));
        assert_eq!(retention(&ctx, &keys.manifest(locked.seq)).map(|r| r.until), Some(until));
        assert!(matches!(lsu.delete_image(&def), Err(EngineError::WormLocked { .. })));
    }

    #[test]
    fn a_lock_cut_short_after_its_record_is_completed_by_the_same_call_again() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (lsu, ctx, def) = lsu_with_image(&rt);
        let keys = ImageKeys::new(&def);
        let m = crate::commit::load_latest(&ctx, &keys).unwrap().unwrap();
        let until = now() + 600;
        let lock = ImageLock { until, mode: WormMode::Compliance };
        // The crash: objects locked and the record written, the record
        // itself not locked yet.
        lock_objects(&ctx, &keys, &m, lock).unwrap();
        let mut next = next_commit(&m);
        next.lock = Some(lock);
        assert!(put_record(&ctx, &keys.manifest(next.seq), next.encode()).unwrap());
        assert_eq!(retention(&ctx, &keys.manifest(next.seq)), None);
        assert!(matches!(lsu.delete_image(&def), Err(EngineError::WormLocked { .. })), "the record rules");
        lsu.lock_image(&def, until).unwrap();
        assert_eq!(retention(&ctx, &keys.manifest(next.seq)).map(|r| r.until), Some(until), "the record is locked now");
        let latest = crate::commit::load_latest(&ctx, &keys).unwrap().unwrap();
        assert_eq!(retention(&ctx, &keys.manifest(latest.seq)).map(|r| r.until), Some(until));
        // Nothing the image needs can be deleted from the store.
        for e in &m.extents {
            assert!(ctx.block_on(ctx.store.delete(&e.object.key)).is_err());
        }
    }
}
