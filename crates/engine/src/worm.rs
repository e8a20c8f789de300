//! Immutable images (WORM): an LSU's lock policy, an image's lock kept in
//! its commit record, and locking an image: every object it needs to be
//! restored (its fragments and those of other images it references, its
//! metadata, the commit record that maps them) gets the storage's own lock
//! (S3 Object Lock retention, VAST NFS WORM marks) before the record that
//! says the image is locked is written. A lock is only ever extended; a
//! delete of a locked image is refused before anything is touched.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use vastost_storage::{ObjectStore, StoredVersion};

use crate::audit::AuditRecord;
use crate::commit::{CommitLog, until_won, visible};
use crate::ctx::{LsuCtx, now};
use crate::error::{EngineError, Result};
use crate::layout::ImageKeys;
use crate::manifest::{ImageState, Manifest, ObjectRef};
use crate::names::ImageDef;
use crate::retention::ImageLock;

/// Objects locked at once (each is one or two round trips on S3).
const IN_FLIGHT: usize = 16;

/// Seconds added to a lock at the LSU's minimum (and taken from one at its
/// maximum), at most, so that the storage, which compares to the
/// sub-second when the request arrives, still sees it inside its bounds: a
/// hundredth of the minimum, from 1 to 5 seconds.
fn bound_margin(min_secs: u64) -> u64 {
    (min_secs / 100).clamp(1, 5)
}

/// How far short of the minimum (or past the maximum) a request may be and
/// still be taken as meant for the bound (the caller computed it from its
/// own clock a moment before): a tenth of the minimum, from 1 s to a minute.
fn bound_slack(min_secs: u64) -> u64 {
    (min_secs / 10).clamp(1, 60)
}

/// Locks image `def` until `until` with the LSU's policy, or extends its
/// lock. A lock outside the policy's bounds, or one that would shorten
/// the image's lock, is refused; asking again for the lock an image has
/// completes what a crash may have left half done.
///
/// The record that says "locked" pins the storage version of every object
/// the image needs and is created already locked, so that no state exists
/// in which the image claims a lock the storage does not hold, and nothing
/// written over those keys later changes what a restore reads (see
/// `anchor`).
pub(crate) async fn lock_image(ctx: &Arc<LsuCtx>, def: &ImageDef, until: u64) -> Result<ImageLock> {
    let Some(policy) = ctx.worm else {
        return Err(EngineError::NotSupported(format!("LSU {} is not a WORM LSU (no worm_mode configured)", ctx.name)));
    };
    let image = def.to_string();
    let mut until = within_bounds(&image, until, &policy)?;
    let keys = ImageKeys::new(def);
    // How far past the next record number to write: 0 until a number is
    // found taken.
    let mut skip = 0;
    until_won(&image, "it kept changing while it was locked", async || {
        let m = visible(&ctx.store, &keys, def).await?;
        if m.state != ImageState::Created {
            return Err(EngineError::WrongState {
                image: image.clone(),
                reason: "only a complete image can be locked",
            });
        }
        if let Some(held) = m.lock
            && held.until > until
        {
            return Err(EngineError::WormShorter { image: image.clone(), held: held.until, asked: until });
        }
        let pinned = pin_versions(ctx, &keys, &m).await?;
        let wanted = lock_objects(ctx, &keys, &pinned, ImageLock { until, mode: policy.mode })
            .await
            .map_err(|e| bounds_error(e, &image, until, &policy))?;
        until = wanted.until;
        let log = CommitLog::new(ctx, &keys);
        let created =
            log.append_locked(&pinned, skip, Some(wanted.retention()), |next| next.lock = Some(wanted)).await;
        if created.map_err(|e| bounds_error(e, &image, until, &policy))?.is_none() {
            // Record numbers taken by what does not rule (records added
            // behind the lock, however many) are skipped, not fought
            // over: the next try goes past the highest in the folder.
            let highest = crate::commit::highest_record(&ctx.store, &keys).await?.unwrap_or(pinned.seq);
            skip = highest.saturating_sub(pinned.seq);
            return Ok(None);
        }
        // An older record still locked stays until its own lock expires.
        if m.lock.is_none_or(|held| !held.holds_now()) {
            log.retire(m.seq).await;
        }
        tracing::info!(target: "audit", lsu = %ctx.name, image = %def, until, mode = policy.mode.as_str(), "image locked");
        Ok(Some(wanted))
    })
    .await
}

/// `until`, moved inside the policy's bounds when it is at (or a moment
/// short of) one of them; refused when it is clearly outside.
fn within_bounds(image: &str, until: u64, policy: &crate::retention::WormPolicy) -> Result<u64> {
    let now = now();
    let period = until.saturating_sub(now);
    let (margin, slack) = (bound_margin(policy.min_secs), bound_slack(policy.min_secs));
    if period + slack < policy.min_secs {
        return Err(EngineError::WormRange { image: image.to_string(), period, min: true, bound: policy.min_secs });
    }
    if period > policy.max_secs + slack {
        return Err(EngineError::WormRange { image: image.to_string(), period, min: false, bound: policy.max_secs });
    }
    let lowest = now + policy.min_secs + margin;
    let highest = (now + policy.max_secs).saturating_sub(margin).max(lowest);
    Ok(until.clamp(lowest, highest))
}

/// A storage refusal of a lock for the bucket's bounds, as the OST status
/// for them.
fn bounds_error(e: EngineError, image: &str, until: u64, policy: &crate::retention::WormPolicy) -> EngineError {
    let period = until.saturating_sub(now());
    match &e {
        EngineError::Storage(s) if s.kind == vastost_storage::ErrorKind::LockTooShort => {
            EngineError::WormRange { image: image.to_string(), period, min: true, bound: policy.min_secs }
        }
        EngineError::Storage(s) if s.kind == vastost_storage::ErrorKind::LockTooLong => {
            EngineError::WormRange { image: image.to_string(), period, min: false, bound: policy.max_secs }
        }
        _ => e,
    }
}

/// `m` with the version of every object it maps pinned: for each key, the
/// version the image wrote (the earliest one left of a fragment, which is
/// written once; the newest of its metadata, which is rewritten whole).
/// Stores that keep no versions pin nothing, and are not listed.
async fn pin_versions(ctx: &Arc<LsuCtx>, keys: &ImageKeys, m: &Manifest) -> Result<Manifest> {
    let mut pinned = m.clone();
    let mut listed: HashMap<(Option<String>, String), Vec<StoredVersion>> = HashMap::new();
    // Each folder once, with the store (LSU) holding it.
    let mut folders: Vec<(Option<String>, String, ObjectStore)> = Vec::new();
    for object in distinct_objects(m) {
        let dir = folder_of(&object.key);
        if !folders.iter().any(|(lsu, d, _)| *lsu == object.lsu && d == dir) {
            folders.push((object.lsu.clone(), dir.to_string(), ctx.store_of(object).await?));
        }
    }
    if m.meta {
        folders.push((None, folder_of(&keys.meta()).to_string(), ctx.store.clone()));
    }
    for (lsu, dir, store) in folders {
        if !store.keeps_versions().await? {
            continue;
        }
        for v in store.versions(&dir, false).await? {
            listed.entry((lsu.clone(), format!("{dir}{}", v.name))).or_default().push(v);
        }
    }
    let pick = |lsu: &Option<String>, key: &str, newest: bool| -> Option<String> {
        let versions = listed.get(&(lsu.clone(), key.to_string()))?;
        let live = versions.iter().filter(|v| !v.deleted);
        let chosen = if newest { live.max_by_key(|v| v.made_ms) } else { live.min_by_key(|v| v.made_ms) };
        chosen.and_then(|v| v.version.clone())
    };
    for e in &mut pinned.extents {
        if e.object.version.is_none() {
            e.object.version = pick(&e.object.lsu, &e.object.key, false);
        }
    }
    if m.meta && pinned.meta_version.is_none() {
        pinned.meta_version = pick(&None, &keys.meta(), true);
    }
    Ok(pinned)
}

/// The folder of `key` (with its trailing `/`).
fn folder_of(key: &str) -> &str {
    key.rfind('/').map_or("", |at| &key[..=at])
}

/// Locks what image `m` needs to be read, each at the version it pins:
/// its fragments (in whichever LSU of the server they are) and its
/// metadata. A storage that finds the lock short of its minimum by the
/// time it arrives (locking many objects takes a while) gets it again a
/// little longer. Answers the lock every object got.
async fn lock_objects(ctx: &Arc<LsuCtx>, keys: &ImageKeys, m: &Manifest, mut lock: ImageLock) -> Result<ImageLock> {
    let mut targets: Vec<(ObjectStore, String, Option<String>)> = Vec::new();
    for object in distinct_objects(m) {
        targets.push((ctx.store_of(object).await?, object.key.clone(), object.version.clone()));
    }
    if m.meta {
        targets.push((ctx.store.clone(), keys.meta(), m.meta_version.clone()));
    }
    let (started, mut longer) = (now(), 0);
    loop {
        let retention = lock.retention();
        let done = futures_util::stream::iter(targets.iter())
            .map(|(store, key, version)| async move { store.lock(key, version.as_deref(), retention).await })
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await;
        match done {
            Ok(_) => return Ok(lock),
            Err(e) if e.kind == vastost_storage::ErrorKind::LockTooShort && longer < 2 => {
                longer += 1;
                let late = now().saturating_sub(started) + 30;
                tracing::info!(image = %keys.root(), late, "the storage found the lock short of its minimum: asking again, longer");
                lock.until += late;
            }
            Err(e) => return Err(e.into()),
        }
    }
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
/// them too); its metadata and every record that claims the lock always
/// do, so that no record anchors it any more (see `anchor`).
pub(crate) async fn release_lock(ctx: &Arc<LsuCtx>, def: &ImageDef, who: &str) -> Result<()> {
    if who.trim().is_empty() {
        return Err(EngineError::invalid("releasing a lock needs the name of who asks (for the audit log)"));
    }
    let image = def.to_string();
    let keys = ImageKeys::new(def);
    let mut audited = false;
    until_won(&image, "it kept changing while its lock was released", async || {
        let m = visible(&ctx.store, &keys, def).await?;
        let Some(held) = m.lock.filter(|l| l.holds_now()) else { return Ok(Some(())) };
        if held.mode == crate::retention::WormMode::Compliance {
            return Err(EngineError::WormCompliance { image: image.clone(), until: held.until });
        }
        let record = AuditRecord::release(ctx.name.as_str(), def.basename(), def.date(), who, held.until);
        if !audited {
            // The trail first: no release without its record.
            crate::audit::record(&ctx.store, &record).await?;
            audited = true;
        }
        let referenced = !ctx.store.list(&keys.refs_dir()).await?.is_empty();
        let mut targets: Vec<(String, Option<String>)> = Vec::new();
        if !referenced {
            targets.extend(
                distinct_objects(&m)
                    .into_iter()
                    .filter(|o| o.lsu.is_none() && keys.owns(&o.key))
                    .map(|o| (o.key.clone(), o.version.clone())),
            );
        }
        if m.meta {
            targets.push((keys.meta(), m.meta_version.clone()));
        }
        targets.extend(locked_records(&ctx.store, &keys).await?);
        let store = &ctx.store;
        let unlocked = futures_util::stream::iter(targets)
            .map(|(key, version)| async move { store.unlock(&key, version.as_deref()).await })
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await;
        if let Err(e) = unlocked {
            // The trail says the release was asked for; it must say how it
            // ended too.
            let failed = AuditRecord { action: "governance-release-failed".into(), ..record };
            if let Err(e) = crate::audit::record(&ctx.store, &failed).await {
                tracing::error!(lsu = %ctx.name, image, error = %e, "the failed release was not recorded");
            }
            return Err(e.into());
        }
        let log = CommitLog::new(ctx, &keys);
        if log.append(&m, |next| next.lock = None).await?.is_none() {
            return Ok(None);
        }
        log.retire(m.seq).await;
        tracing::warn!(
            target: "audit",
            lsu = %ctx.name,
            image = %def,
            until = held.until,
            who,
            fragments_kept_locked = referenced,
            "governance lock released before it expired"
        );
        Ok(Some(()))
    })
    .await
}

/// Every record version of an image whose content claims a lock that
/// still holds (key and version).
async fn locked_records(store: &ObjectStore, keys: &ImageKeys) -> Result<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    for r in crate::anchor::record_versions(store.versions(&keys.manifest_dir(), false).await?) {
        // A damaged or misnumbered record never anchors an image: skipped.
        if let Ok(Some(m)) = crate::anchor::read_record(store, keys, &r).await
            && m.lock.is_some_and(|l| l.holds_now())
        {
            out.push((keys.manifest(r.seq), r.version));
        }
    }
    Ok(out)
}

/// Gives an image just closed complete the LSU's default lock, if it has
/// one. The image is complete whatever happens here: a lock that fails is
/// logged, and `vastost lock` (or NetBackup's own lock call) sets it later.
pub(crate) async fn lock_by_default(ctx: &Arc<LsuCtx>, def: &ImageDef) {
    let Some(secs) = ctx.worm.and_then(|p| p.default_secs) else { return };
    if let Err(e) = lock_image(ctx, def, now().saturating_add(secs)).await {
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
        let ctx = LsuCtx::on_store(store, rt.handle().clone(), MemoryBudget::new(1 << 20, None), 8192);
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

    /// [`lsu_with_image`], the image locked until `until`: its keys and
    /// its locked record.
    fn locked_image(rt: &tokio::runtime::Runtime, until: u64) -> (Lsu, Arc<LsuCtx>, ImageDef, ImageKeys, Manifest) {
        let (lsu, ctx, def) = lsu_with_image(rt);
        let keys = ImageKeys::new(&def);
        lsu.lock_image(&def, until).unwrap();
        let locked = ctx.block_on(crate::commit::latest_record(&ctx.store, &keys)).unwrap().unwrap();
        (lsu, ctx, def, keys, locked)
    }

    fn retention(ctx: &LsuCtx, key: &str) -> Option<vastost_storage::Retention> {
        ctx.block_on(ctx.store.retention(key, None, LockMode::Compliance)).unwrap()
    }

    #[test]
    fn a_lock_cut_short_before_its_record_is_completed_by_the_next_call() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (lsu, ctx, def) = lsu_with_image(&rt);
        let keys = ImageKeys::new(&def);
        let m = ctx.block_on(crate::commit::latest_record(&ctx.store, &keys)).unwrap().unwrap();
        let until = now() + 600;
        let lock = ImageLock { until, mode: WormMode::Compliance };
        // The crash: one fragment locked, nothing else, no record.
        ctx.block_on(ctx.store.lock(&m.extents[0].object.key, None, lock.retention())).unwrap();
        // The next call completes it: every fragment, and the record.
        assert_eq!(lsu.lock_image(&def, until).unwrap(), lock);
        for e in &m.extents {
            assert_eq!(retention(&ctx, &e.object.key).map(|r| r.until), Some(until));
        }
        let locked = ctx.block_on(crate::commit::latest_record(&ctx.store, &keys)).unwrap().unwrap();
        assert_eq!(locked.lock, Some(lock));
        assert_eq!(retention(&ctx, &keys.manifest(locked.seq)).map(|r| r.until), Some(until));
        assert!(matches!(lsu.delete_image(&def), Err(EngineError::WormLocked { .. })));
    }

    #[test]
    fn a_record_of_a_later_format_added_behind_a_lock_neither_rules_nor_hides_the_image() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (lsu, ctx, def, keys, locked) = locked_image(&rt, now() + 600);
        // Someone with the keys frames a record as a later plugin would,
        // intact, and puts it where the next commit would go.
        let forged = crate::manifest::framed(crate::format::WRITTEN + 1, br#"{"says":"this image is gone"}"#);
        ctx.block_on(ctx.store.put_new(&keys.manifest(locked.seq + 1), bytes::Bytes::from(forged))).unwrap();
        assert_eq!(
            ctx.block_on(crate::commit::latest_record(&ctx.store, &keys)).unwrap().unwrap(),
            locked,
            "the lock's record rules"
        );
        let listed = ctx.block_on(lsu.listed(&keys)).unwrap().expect("listed");
        assert!(listed.unreadable.is_none() && listed.lock.is_some(), "{listed:?}");
        let mut r = lsu.open_for_read(&def).unwrap();
        let mut buf = vec![0u8; 3 * 8192];
        assert_eq!(r.read(&mut buf, 0).unwrap(), buf.len());
        assert_eq!(buf, crate::tests::data(1, 3 * 8192));
        assert!(matches!(lsu.delete_image(&def), Err(EngineError::WormLocked { .. })));
    }

    #[test]
    fn records_added_behind_a_lock_do_not_block_its_extension() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let until = now() + 600;
        let (lsu, ctx, def, keys, locked) = locked_image(&rt, until);
        // More junk records than a lock call tries numbers.
        for k in 1..=12 {
            let key = keys.manifest(locked.seq + k);
            ctx.block_on(ctx.store.put_new(&key, bytes::Bytes::from_static(b"junk"))).unwrap();
        }
        assert_eq!(lsu.lock_image(&def, until + 60).unwrap().until, until + 60);
        let extended = ctx.block_on(crate::commit::latest_record(&ctx.store, &keys)).unwrap().unwrap();
        assert_eq!((extended.seq, extended.lock.map(|l| l.until)), (locked.seq + 13, Some(until + 60)));
    }

    #[test]
    fn records_added_behind_a_lock_do_not_rule() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (lsu, ctx, def) = lsu_with_image(&rt);
        let keys = ImageKeys::new(&def);
        let until = now() + 600;
        lsu.lock_image(&def, until).unwrap();
        let locked = ctx.block_on(crate::commit::latest_record(&ctx.store, &keys)).unwrap().unwrap();
        assert_eq!(retention(&ctx, &keys.manifest(locked.seq)).map(|r| r.until), Some(until), "born locked");
        // Someone with the keys adds records: one claiming a longer lock
        // the storage does not hold over other content, one unlocked and
        // deleted, one that is not a record at all.
        let log = CommitLog::new(&ctx, &keys);
        let fake = ctx
            .block_on(log.append(&locked, |fake| {
                fake.size = 5;
                fake.extents.clear();
                fake.lock = Some(ImageLock { until: until + 9999, mode: WormMode::Compliance });
            }))
            .unwrap()
            .expect("created");
        let gone = ctx
            .block_on(log.append(&fake, |gone| {
                gone.state = ImageState::Deleted;
                gone.lock = None;
            }))
            .unwrap()
            .expect("created");
        ctx.block_on(ctx.store.put_new(&keys.manifest(gone.seq + 1), bytes::Bytes::from_static(b"junk"))).unwrap();
        assert_eq!(ctx.block_on(crate::commit::latest_record(&ctx.store, &keys)).unwrap().unwrap(), locked);
        assert!(matches!(lsu.delete_image(&def), Err(EngineError::WormLocked { .. })));
        let found = lsu.tampered(&def).unwrap();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().all(|t| t.what == crate::tamper::Addition::Record));
        // An extension still rules over the lock it extends, past the junk.
        lsu.lock_image(&def, until + 60).unwrap();
        let extended = ctx.block_on(crate::commit::latest_record(&ctx.store, &keys)).unwrap().unwrap();
        assert_eq!(extended.lock.map(|l| l.until), Some(until + 60));
        assert_eq!(extended.extents, locked.extents);
        // Removing the additions leaves the image as it was.
        let cleaned = lsu.remove_tampered(&def).unwrap();
        assert_eq!(cleaned.removed.len(), 3);
        assert!(lsu.tampered(&def).unwrap().is_empty());
        assert_eq!(ctx.block_on(crate::commit::latest_record(&ctx.store, &keys)).unwrap().unwrap(), extended);
    }
}
