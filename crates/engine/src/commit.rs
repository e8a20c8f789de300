//! The commit log of an image ([`CommitLog`]): the one way records are
//! written; folder walks; and the checks that tell a lost record from a
//! free name. Everything above it commits through here; it knows nothing
//! of readers, writers or the facade.

use bytes::Bytes;
use vastost_storage::{ErrorKind as StorageKind, ObjectStore, Retention};

use crate::anchor::record_versions;
use crate::ctx::{LsuCtx, now};
use crate::error::{EngineError, Result};
use crate::layout::{self, ImageKeys};
use crate::manifest::{ImageState, Manifest};
use crate::names::ImageDef;

/// Checks that a manifest found under an image's keys is that image's: two
/// long names whose shortened keys collide must not see each other.
pub(crate) fn same_image(m: Manifest, def: &ImageDef) -> Result<Manifest> {
    if m.basename == def.basename() && m.date == def.date() {
        Ok(m)
    } else {
        Err(EngineError::ImageExists(format!("{def} (its storage key is taken by {}/{})", m.basename, m.date)))
    }
}

/// The commit log of one image. Its rules, stated once:
/// - a record is created only if absent, never rewritten: two writers
///   never both commit one sequence number, and a change is a successor
///   record (sequence + 1, a new session token);
/// - a record is framed and checked whole (see `manifest`): one that
///   cannot be read is damage, reported, never skipped for an older one;
///   an intact record of a newer format is a newer plugin's;
/// - the newest record rules (among records written behind a WORM lock,
///   the one `anchor` says);
/// - a superseded record is removed last, after the successor is in
///   place; failing to remove it is harmless (it is never read) and only
///   logged. Records still locked by the storage stay until their lock
///   expires (see `superseded`).
///
/// A change that loses the race for its record number (another writer
/// committed it first) is made again on the newest record, at most
/// [`TRIES`] times (see [`until_won`]); then the image is busy.
pub(crate) struct CommitLog<'a> {
    ctx: &'a LsuCtx,
    keys: &'a ImageKeys,
}

impl<'a> CommitLog<'a> {
    /// The log of the image at `keys`.
    pub(crate) fn new(ctx: &'a LsuCtx, keys: &'a ImageKeys) -> Self {
        CommitLog { ctx, keys }
    }

    /// Creates `first` (a new image's record, at its own sequence number);
    /// `false` when another writer's record is there.
    pub(crate) async fn create(&self, first: &Manifest) -> Result<bool> {
        put_record(self.ctx, &self.keys.manifest(first.seq), first.encode()).await
    }

    /// Commits the successor of `current`, as `change` makes it; `None`
    /// when another writer committed that sequence number first. The
    /// superseded record stays: the caller retires it when it may.
    pub(crate) async fn append(
        &self,
        current: &Manifest,
        change: impl FnOnce(&mut Manifest),
    ) -> Result<Option<Manifest>> {
        self.append_locked(current, 0, None, change).await
    }

    /// [`CommitLog::append`] `skip` numbers further on, the record carrying
    /// the storage lock `lock` from its first moment (a WORM lock's record).
    pub(crate) async fn append_locked(
        &self,
        current: &Manifest,
        skip: u64,
        lock: Option<Retention>,
        change: impl FnOnce(&mut Manifest),
    ) -> Result<Option<Manifest>> {
        let mut next = next_commit(current);
        next.seq += skip;
        change(&mut next);
        let created = put_record_with(self.ctx, &self.keys.manifest(next.seq), next.encode(), lock).await?;
        Ok(created.then_some(next))
    }

    /// Removes record `seq`, superseded (see the rules above).
    pub(crate) async fn retire(&self, seq: u64) {
        remove_superseded(&self.ctx.store, self.keys, seq).await;
    }
}

/// How many times a change of an image's log (or a reading of it) that
/// lost a race is made again before the image is reported busy.
pub(crate) const TRIES: usize = 5;

/// Runs `step` until it is done, at most [`TRIES`] times: a step answers
/// `Some` when done, `None` when it lost a race (another writer committed
/// the record number it wanted) and must run again on what is then the
/// newest record. Then image `image` is busy for `reason`.
pub(crate) async fn until_won<T>(
    image: &str,
    reason: &'static str,
    mut step: impl AsyncFnMut() -> Result<Option<T>>,
) -> Result<T> {
    for _ in 0..TRIES {
        if let Some(done) = step().await? {
            return Ok(done);
        }
    }
    Err(EngineError::Busy { image: image.to_string(), reason })
}

/// The record numbers in an image's folder, readable or not, lowest first.
async fn record_numbers(store: &ObjectStore, keys: &ImageKeys) -> Result<Vec<u64>> {
    let mut seqs: Vec<u64> =
        store.list(&keys.manifest_dir()).await?.iter().filter_map(|e| layout::parse_manifest_seq(&e.name)).collect();
    seqs.sort_unstable();
    Ok(seqs)
}

/// The highest record number in an image's folder, readable or not.
pub(crate) async fn highest_record(store: &ObjectStore, keys: &ImageKeys) -> Result<Option<u64>> {
    Ok(record_numbers(store, keys).await?.last().copied())
}

/// Empties the log of a deleted image for the reclaimer: every record
/// older than its tombstone `tombstone`, and the tombstone too when
/// `with_tombstone`, oldest first (a pass cut short leaves the newest,
/// which still says "deleted"). `true` when any was removed.
pub(crate) async fn purge(store: &ObjectStore, keys: &ImageKeys, tombstone: u64, with_tombstone: bool) -> Result<bool> {
    let mut removed = false;
    for seq in
        record_numbers(store, keys).await?.into_iter().filter(|s| *s < tombstone || (with_tombstone && *s == tombstone))
    {
        store.delete(&keys.manifest(seq)).await?;
        removed = true;
    }
    Ok(removed)
}

/// Creates commit record `key` unless it exists; `false` when another
/// writer's record is there. A record found with exactly our bytes is
/// ours: an attempt that landed although its answer was lost (and was
/// retried) is a success, not a conflict.
pub(crate) async fn put_record(ctx: &LsuCtx, key: &str, bytes: Vec<u8>) -> Result<bool> {
    put_record_with(ctx, key, bytes, None).await
}

/// [`put_record`], the record carrying the storage lock `lock` from its
/// first moment when one is given.
async fn put_record_with(ctx: &LsuCtx, key: &str, bytes: Vec<u8>, lock: Option<Retention>) -> Result<bool> {
    ctx.commits().await.check(ctx.name.as_str())?;
    ctx.formats.pass(&ctx.books, ctx.name.as_str()).await?;
    let bytes = Bytes::from(bytes);
    let created = match lock {
        Some(r) => ctx.store.put_new_locked(key, bytes.clone(), r).await,
        None => ctx.store.put_new(key, bytes.clone()).await,
    };
    match created {
        Ok(()) => Ok(true),
        Err(e) if e.kind == StorageKind::AlreadyExists => match ctx.store.get(key).await {
            Ok(found) if found == bytes => {
                tracing::info!(record = key, "commit record found in place after a retry: it is ours");
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(e) if e.kind == StorageKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// The commit that follows `m`: the next sequence number, made now by a
/// new session; what else changes is the caller's to set.
pub(crate) fn next_commit(m: &Manifest) -> Manifest {
    let mut next = m.clone();
    next.seq += 1;
    next.updated = now();
    next.session = crate::manifest::new_session();
    next
}

/// Removes commit record `seq` of an image, superseded by a newer one. A
/// failure leaves only an older record behind, which is never read (the
/// newest wins): it is logged, not returned.
async fn remove_superseded(store: &ObjectStore, keys: &ImageKeys, seq: u64) {
    let old = keys.manifest(seq);
    if let Err(e) = store.delete(&old).await {
        tracing::warn!(manifest = %old, error = %e, "superseded commit record not removed");
    }
}

/// Records in a commit of its own that a complete image has metadata. A
/// pending image is left alone: its writer records it when it commits.
pub(crate) async fn record_meta(ctx: &LsuCtx, keys: &ImageKeys, def: &ImageDef, incarnation: &str) -> Result<()> {
    until_won(&def.to_string(), "it kept changing while its metadata was recorded", async || {
        let m = match latest_record(&ctx.store, keys).await? {
            Some(m) if m.state == ImageState::Deleted => return Err(EngineError::NoSuchImage(def.to_string())),
            None => return Err(EngineError::NoSuchImage(def.to_string())),
            // Another image of that name (this one was deleted meanwhile).
            Some(m) if !incarnation.is_empty() && !m.incarnation.is_empty() && m.incarnation != incarnation => {
                return Err(EngineError::NoSuchImage(format!("{def} (deleted while open)")));
            }
            Some(m) if m.meta || m.state == ImageState::Pending => return Ok(Some(())),
            Some(m) => m,
        };
        let log = CommitLog::new(ctx, keys);
        if log.append(&m, |next| next.meta = true).await?.is_none() {
            return Ok(None);
        }
        log.retire(m.seq).await;
        Ok(Some(()))
    })
    .await
}

/// The folders of the images under basename folder `base` (one per date),
/// deleted ones included, in order.
pub(crate) async fn folders_of(store: &ObjectStore, base: &str) -> Result<Vec<ImageKeys>> {
    let dir = format!("{}{base}/", layout::IMAGES);
    let dates = store.list(&dir).await?;
    Ok(dates.into_iter().filter(|e| e.is_dir).map(|d| ImageKeys::from_components(base, &d.name)).collect())
}

/// Reads the newest commit record of an image. Records are created whole
/// (see `manifest`), so one that cannot be read is damage and an error,
/// never skipped for an older one. A record may vanish between the listing
/// and the read (a newer commit superseded it, or the reclaimer removed a
/// deleted image): then the folder is listed again.
pub(crate) async fn latest_record(store: &ObjectStore, keys: &ImageKeys) -> Result<Option<Manifest>> {
    Ok(latest_ruled(store, keys).await?.map(|r| r.record))
}

/// The newest record with what decided it, for the reclaimer, which prunes
/// superseded records by the same reading (see `superseded`).
pub(crate) struct Ruled {
    /// The record that rules.
    pub record: Manifest,
    /// The record versions listed.
    pub versions: Vec<crate::anchor::RecordVersion>,
    /// The version of the record that rules.
    pub ruled_by: Option<crate::anchor::RecordVersion>,
}

/// The record a backup written in one go leaves: its creation's successor.
const FINISHED_IN_ONE_GO: u64 = 1;

/// [`latest_record`] with the versions read and the one that rules.
pub(crate) async fn latest_ruled(store: &ObjectStore, keys: &ImageKeys) -> Result<Option<Ruled>> {
    ruled(store, keys, Some(FINISHED_IN_ONE_GO)).await
}

/// [`latest_ruled`], reading record `guess` at the same time as the
/// listing where a round trip costs and no version listing decides: the
/// record most images have is then read in the listing's round trip, not
/// after it. The guess is used only when the listing shows that record
/// alone; otherwise it cost one small read.
async fn ruled(store: &ObjectStore, keys: &ImageKeys, guess: Option<u64>) -> Result<Option<Ruled>> {
    let guess = guess.filter(|_| store.capability().reads_ahead_pay && store.versions_known() != Some(true));
    let dir = keys.manifest_dir();
    for _ in 0..TRIES {
        let read_guess = async {
            match guess {
                Some(seq) => Some(store.get(&keys.manifest(seq)).await),
                None => None,
            }
        };
        let (listed, guessed) = tokio::join!(store.versions(&dir, false), read_guess);
        let records = record_versions(listed?);
        if records.is_empty() {
            return Ok(None);
        }
        if let ([only], Some(Ok(bytes))) = (records.as_slice(), guessed)
            && Some(only.seq) == guess
            && store.versions_known() == Some(false)
            && let Ok(record) = Manifest::decode(&bytes, &keys.manifest(only.seq))
            && record.seq == only.seq
        {
            let ruled_by = Some(only.clone());
            return Ok(Some(Ruled { record, versions: records, ruled_by }));
        }
        let ruling = crate::anchor::rule(store, keys, &records).await?;
        if let Some(record) = ruling.record {
            return Ok(Some(Ruled { record, versions: records, ruled_by: ruling.ruled_by }));
        }
    }
    Err(EngineError::Busy { image: keys.root().to_string(), reason: "its commit records kept changing while read" })
}

/// What an image folder holds, as far as commits go.
#[derive(Debug)]
pub(crate) enum Latest {
    /// Its newest commit record.
    Record(Manifest),
    /// No record and nothing else: a free name.
    Nothing,
    /// Data or metadata without any record: the records were lost. Names
    /// what was found.
    Lost(String),
}

impl Latest {
    /// The record, `None` for a free name, `STS_EINTEGRITY` for lost
    /// records (image `def`).
    pub(crate) fn record(self, keys: &ImageKeys, def: &ImageDef) -> Result<Option<Manifest>> {
        match self {
            Latest::Record(m) => Ok(Some(m)),
            Latest::Nothing => Ok(None),
            Latest::Lost(found) => Err(EngineError::Integrity(format!(
                "image {def}: no commit record in {} although {found} is stored (the records were lost)",
                keys.manifest_dir()
            ))),
        }
    }
}

/// The newest commit of image `def` when the image is there (not deleted,
/// not another image's under colliding keys); `STS_ENOIMAGE` otherwise.
pub(crate) async fn visible(store: &ObjectStore, keys: &ImageKeys, def: &ImageDef) -> Result<Manifest> {
    match find_latest(store, keys).await?.record(keys, def)?.map(|m| same_image(m, def)).transpose()? {
        Some(m) if m.state != ImageState::Deleted => Ok(m),
        _ => Err(EngineError::NoSuchImage(def.to_string())),
    }
}

/// Reads an image folder's newest commit record and, when there is none,
/// tells a free name from lost records: only a committed image has
/// fragments or metadata. Records are the first thing an image writes and
/// the last thing the reclaimer removes, so content found without a record
/// is damage, unless the image was created between the two looks: the
/// records are read once more after the content is found, and an image
/// created meanwhile has one by then.
pub(crate) async fn find_latest(store: &ObjectStore, keys: &ImageKeys) -> Result<Latest> {
    if let Some(m) = latest_record(store, keys).await? {
        return Ok(Latest::Record(m));
    }
    without_record(store, keys).await
}

/// [`find_latest`] once its first look found no record: a free name, lost
/// records, or an image created meanwhile.
pub(crate) async fn without_record(store: &ObjectStore, keys: &ImageKeys) -> Result<Latest> {
    let Some(found) = orphaned(store, keys).await? else {
        return Ok(Latest::Nothing);
    };
    lost_or_created(store, keys, found).await
}

/// [`find_latest`] for a name expected free (a new image): the records and
/// the content are looked for at the same time, one round trip instead of
/// two, at the cost of the content lookups when the name is taken.
pub(crate) async fn find_latest_of_new(store: &ObjectStore, keys: &ImageKeys) -> Result<Latest> {
    let (latest, found) = tokio::join!(ruled(store, keys, None), orphaned(store, keys));
    if let Some(r) = latest? {
        return Ok(Latest::Record(r.record));
    }
    match found? {
        None => Ok(Latest::Nothing),
        Some(found) => lost_or_created(store, keys, found).await,
    }
}

/// Content `found` without a record: lost records, unless the image was
/// created between the two looks.
async fn lost_or_created(store: &ObjectStore, keys: &ImageKeys, found: String) -> Result<Latest> {
    Ok(match latest_record(store, keys).await? {
        Some(m) => Latest::Record(m),
        None => Latest::Lost(found),
    })
}

/// The first fragment or metadata object stored in an image folder, if any.
async fn orphaned(store: &ObjectStore, keys: &ImageKeys) -> Result<Option<String>> {
    let (frag_dir, meta_key) = (keys.frag_dir(), keys.meta());
    let (frags, meta) = tokio::join!(store.list(&frag_dir), store.size(&meta_key));
    if let Some(f) = frags?.into_iter().find(|e| !e.is_dir) {
        return Ok(Some(format!("{frag_dir}{}", f.name)));
    }
    Ok(meta?.map(|_| meta_key))
}
