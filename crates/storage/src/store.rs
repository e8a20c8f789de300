//! [`ObjectStore`]: the one interface the engine stores through, over three
//! backends (one module each: `fs`, `s3`, `memory`). What every backend
//! does alike (reads, sizes, listings, deletes) is OpenDAL's; where they
//! differ (durable writes and atomic create on a filesystem, multipart
//! uploads and VIP spread on S3, an atomic create in memory) this facade
//! hands the call to the backend. It must not hold backend state itself.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use opendal::Operator;

use crate::breaker::Breaker;
use crate::error::{Result, StorageError};
use crate::fs::backend::{self as fs, FsStore};
use crate::memory::MemoryStore;
use crate::pool::PoolBudget;
use crate::s3::backend::{MULTIPART_PARALLEL, MULTIPART_PART, MULTIPART_THRESHOLD, S3Store};
use crate::s3::raw::Upload;
use crate::types::{Capability, Capacity, ListEntry, LockMode, Retention, S3Settings, Segments};

/// A place that holds objects under `/`-separated keys, rooted at one LSU.
/// Cheap to clone; every method is async and must run on a Tokio runtime.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    pub(crate) backend: Arc<Backend>,
}

#[derive(Debug)]
pub(crate) enum Backend {
    Fs(FsStore),
    Memory(MemoryStore),
    S3(S3Store),
}

impl ObjectStore {
    /// A store on a local or NFS-mounted directory, created if missing.
    pub fn fs(root: &Path) -> Result<Self> {
        Self::fs_with(root, true)
    }

    /// A store on a directory whose fragments are written through the page
    /// cache unless `direct_writes` (see [`ObjectStore::fragment_writer`]).
    pub fn fs_with(root: &Path, direct_writes: bool) -> Result<Self> {
        Ok(ObjectStore { backend: Arc::new(Backend::Fs(FsStore::open(root, direct_writes)?)) })
    }

    /// A bucket of an S3 endpoint, with AWS Signature V4 and path-style
    /// addressing. Nothing is read from the environment or instance
    /// metadata: the settings are all there is.
    pub fn s3(settings: &S3Settings) -> Result<Self> {
        Ok(ObjectStore { backend: Arc::new(Backend::S3(S3Store::open(settings)?)) })
    }

    /// A store in process memory (tests).
    pub fn memory() -> Result<Self> {
        Ok(ObjectStore { backend: Arc::new(Backend::Memory(MemoryStore::open()?)) })
    }

    /// Runs an OpenDAL operation on the backend (on S3: on the next
    /// endpoint, and on the others if that one is failing).
    pub(crate) async fn run<T, F, Fut>(&self, f: F) -> std::result::Result<T, opendal::Error>
    where
        F: Fn(Operator) -> Fut,
        Fut: Future<Output = std::result::Result<T, opendal::Error>>,
    {
        match &*self.backend {
            Backend::Fs(s) => f(s.op.clone()).await,
            Backend::Memory(s) => f(s.op.clone()).await,
            Backend::S3(s) => s.run(f).await,
        }
    }

    /// The incomplete multipart uploads under `prefix` (S3; other stores
    /// have none).
    pub async fn incomplete_uploads(&self, prefix: &str) -> Result<Vec<Upload>> {
        match &*self.backend {
            Backend::S3(s) => s.incomplete_uploads(prefix).await,
            _ => Ok(Vec::new()),
        }
    }

    /// Aborts an incomplete multipart upload, freeing its parts.
    pub async fn abort_upload(&self, upload: &Upload) -> Result<()> {
        match &*self.backend {
            Backend::S3(s) => s.abort_upload(upload).await,
            _ => Ok(()),
        }
    }

    /// The circuit breakers of the S3 endpoints, in configuration order.
    pub fn breakers(&self) -> Vec<Arc<Breaker>> {
        match &*self.backend {
            Backend::S3(s) => s.breakers(),
            _ => Vec::new(),
        }
    }

    /// Checks that the store answers (for S3: that the bucket exists and
    /// the keys are accepted).
    pub async fn check(&self) -> Result<()> {
        // A missing bucket is `NoSuchBucket` by its S3 code (see
        // `error::kind_of_code`), `NotFound` when answered without a body.
        self.run(|op| async move { op.check().await }).await.map_err(|e| StorageError::from_opendal("check", "", e))
    }

    /// Where the store is, for messages and logs (never holds a secret).
    pub fn describe(&self) -> String {
        match &*self.backend {
            Backend::Fs(s) => format!("fs:{}", s.root.display()),
            Backend::Memory(_) => "memory".to_string(),
            Backend::S3(s) => s.describe(),
        }
    }

    /// What this store can do (see [`Capability`]).
    pub fn capability(&self) -> Capability {
        match &*self.backend {
            Backend::Fs(s) => Capability {
                exclusive_create: true,
                page_cache_reads: true,
                direct_writes: s.direct_writes,
                reads_ahead_pay: false,
            },
            Backend::Memory(_) => Capability { exclusive_create: true, ..Capability::default() },
            Backend::S3(_) => Capability { reads_ahead_pay: true, ..Capability::default() },
        }
    }

    /// The root directory when the store is a filesystem.
    pub fn fs_root(&self) -> Option<&Path> {
        match &*self.backend {
            Backend::Fs(s) => Some(&s.root),
            _ => None,
        }
    }

    /// Writes a whole object, replacing any; durable when it returns.
    /// On S3, an object over `MULTIPART_THRESHOLD` goes up as a multipart
    /// upload, `MULTIPART_PARALLEL` parts of `MULTIPART_PART` at once.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let multipart = match &*self.backend {
            Backend::Fs(s) => return fs::put(&s.root, key, data).await,
            Backend::S3(_) => data.len() > MULTIPART_THRESHOLD,
            Backend::Memory(_) => false,
        };
        let written = self
            .run(|op| {
                let data = data.clone();
                async move {
                    if multipart {
                        let mut w = op.writer_with(key).chunk(MULTIPART_PART).concurrent(MULTIPART_PARALLEL).await?;
                        w.write(data).await?;
                        w.close().await.map(|_| ())
                    } else {
                        op.write(key, data).await.map(|_| ())
                    }
                }
            })
            .await;
        written.map_err(|e| StorageError::from_opendal("put", key, e))
    }

    /// Copies an object inside the store without moving its bytes through
    /// us (S3 CopyObject; a file copy on a filesystem).
    pub async fn copy(&self, from: &str, to: &str) -> Result<()> {
        if let Backend::Memory(_) = &*self.backend {
            // The memory service has no copy; its bytes are ours anyway.
            let data = self.get(from).await?;
            return self.put(to, data).await;
        }
        self.run(|op| async move { op.copy(from, to).await.map(|_| ()) })
            .await
            .map_err(|e| StorageError::from_opendal("copy", from, e))
    }

    /// Writes an object only if no object has that key: an atomic
    /// create-if-absent. Fails with [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists) otherwise.
    pub async fn put_new(&self, key: &str, data: Bytes) -> Result<()> {
        match &*self.backend {
            Backend::Fs(s) => fs::put_new(&s.root, key, data).await,
            Backend::Memory(s) => s.put_new(key, data).await,
            Backend::S3(s) => s
                .run(|op| {
                    let data = data.clone();
                    async move { op.write_with(key, data).if_not_exists(true).await.map(|_| ()) }
                })
                .await
                .map_err(|e| StorageError::from_opendal("put_new", key, e)),
        }
    }

    /// The object opened for reads from the page cache only, when the
    /// store is a filesystem and the object exists; `None` otherwise.
    pub fn page_cache_file(&self, key: &str) -> Option<fs::PageCacheFile> {
        match &*self.backend {
            Backend::Fs(s) => fs::PageCacheFile::open(&s.root, key),
            Backend::Memory(_) | Backend::S3(_) => None,
        }
    }

    /// Reads a whole object.
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        self.get_version(key, None).await
    }

    /// Reads a whole object, version `version` of it when one is named (a
    /// store that keeps no versions has only the one).
    pub async fn get_version(&self, key: &str, version: Option<&str>) -> Result<Bytes> {
        if let Backend::Fs(s) = &*self.backend {
            return fs::get(&s.root, key).await;
        }
        let version = self.version_kept(version);
        let buf = self
            .run(|op| async move {
                match version {
                    Some(v) => op.read_with(key).version(v).await,
                    None => op.read(key).await,
                }
            })
            .await
            .map_err(|e| StorageError::from_opendal("get", key, e))?;
        Ok(buf.to_bytes())
    }

    /// `version` where the store keeps versions (S3); `None` elsewhere.
    pub(crate) fn version_kept<'a>(&self, version: Option<&'a str>) -> Option<&'a str> {
        version.filter(|_| matches!(&*self.backend, Backend::S3(_)))
    }

    /// Reads `range` of an object, in the pieces it arrived in; the answer
    /// is shorter only when the object ends inside the range.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Segments> {
        self.get_range_of(key, None, range).await
    }

    /// [`ObjectStore::get_range`] of version `version` of an object.
    pub(crate) async fn get_range_of(&self, key: &str, version: Option<&str>, range: Range<u64>) -> Result<Segments> {
        if let Backend::Fs(s) = &*self.backend {
            return Ok(Segments::new(vec![fs::get_range(s, key, range).await?]));
        }
        let version = self.version_kept(version);
        let read = |range: Range<u64>| {
            self.run(move |op| {
                let range = range.clone();
                async move {
                    let mut read = op.read_with(key).range(range);
                    if let Some(v) = version {
                        read = read.version(v);
                    }
                    read.await
                }
            })
        };
        let buf = match read(range.clone()).await {
            Ok(buf) => buf,
            // A range that runs past the end is refused by some services
            // and cut short by others (which OpenDAL reports as an error).
            // Answer with what there is, as a filesystem does, so that a
            // truncated object shows as short data, not as a transport error.
            Err(e) => match self.size_of(key, version).await? {
                Some(size) if size < range.end => {
                    if range.start >= size {
                        return Ok(Segments::default());
                    }
                    let clamped = range.start..size;
                    read(clamped).await.map_err(|e| StorageError::from_opendal("get_range", key, e))?
                }
                _ => return Err(StorageError::from_opendal("get_range", key, e)),
            },
        };
        // The pieces as they came: no copy into one buffer.
        Ok(Segments::new(buf.collect()))
    }

    /// Reads `range` of an object as [`ObjectStore::get_range`] does, with
    /// the CRC32C of each `chunk`-byte piece of it (from its start; the
    /// last may be short). Over HTTP each piece is summed as it arrives,
    /// while it is still in the CPU's cache, instead of in a second pass
    /// over the whole range.
    /// `version` names the object's version where the store keeps them.
    pub async fn get_range_crc32c(
        &self,
        key: &str,
        version: Option<&str>,
        range: Range<u64>,
        chunk: u64,
    ) -> Result<(Segments, Vec<u32>)> {
        self.open_range(key, version, range).await.read_crc32c(chunk).await
    }

    /// Gives back bytes read with [`ObjectStore::get_range`] once they are
    /// no longer needed, so that their memory serves the next reads (on a
    /// filesystem; elsewhere they are simply dropped).
    pub fn recycle(&self, data: Segments) {
        if let Backend::Fs(s) = &*self.backend {
            fs::recycle(&s.spare, data.into_parts());
        }
    }

    /// Pays for the buffers the store keeps for reuse from `budget`; until
    /// then (and on stores that keep none) nothing is kept.
    pub fn pay_pools_from(&self, budget: Arc<dyn PoolBudget>) {
        if let Backend::Fs(s) = &*self.backend {
            s.spare.pay_from(budget.clone());
            s.staging.pay_from(budget);
        }
    }

    /// The size of an object, or `None` when it does not exist.
    pub async fn size(&self, key: &str) -> Result<Option<u64>> {
        self.size_of(key, None).await
    }

    async fn size_of(&self, key: &str, version: Option<&str>) -> Result<Option<u64>> {
        let stat = |op: Operator| async move {
            match version {
                Some(v) => op.stat_with(key).version(v).await,
                None => op.stat(key).await,
            }
        };
        match self.run(stat).await {
            Ok(meta) => Ok(Some(meta.content_length())),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::from_opendal("stat", key, e)),
        }
    }

    /// The immediate children of folder `dir` (which ends with `/`, or is
    /// empty for the root). A missing folder lists as empty.
    pub async fn list(&self, dir: &str) -> Result<Vec<ListEntry>> {
        self.list_after(dir, "").await
    }

    /// The children of folder `dir` whose names sort after `after` (all of
    /// them for ""): S3 starts the listing there, other stores filter.
    pub async fn list_after(&self, dir: &str, after: &str) -> Result<Vec<ListEntry>> {
        debug_assert!(dir.is_empty() || dir.ends_with('/'));
        if let Backend::Fs(s) = &*self.backend {
            return fs::list(&s.root, dir, after, usize::MAX).await;
        }
        let from = format!("{dir}{after}");
        let server_side = !after.is_empty() && matches!(&*self.backend, Backend::S3(_));
        let listed = self
            .run(|op| {
                let from = from.clone();
                async move { if server_side { op.list_with(dir).start_after(&from).await } else { op.list(dir).await } }
            })
            .await;
        children(listed, dir, after, true)
    }

    /// Up to `limit` children of folder `dir` whose names sort after
    /// `after`, in order: one listing request on S3 for up to 1,000.
    pub async fn list_page(&self, dir: &str, after: &str, limit: usize) -> Result<Vec<ListEntry>> {
        debug_assert!(dir.is_empty() || dir.ends_with('/'));
        if let Backend::Fs(s) = &*self.backend {
            return fs::list(&s.root, dir, after, limit).await;
        }
        if !matches!(&*self.backend, Backend::S3(_)) {
            let mut all = self.list_after(dir, after).await?;
            all.truncate(limit);
            return Ok(all);
        }
        let from = format!("{dir}{after}");
        let listed = self
            .run(|op| {
                let from = from.clone();
                async move {
                    use futures_util::TryStreamExt;
                    let mut lister = op.lister_with(dir);
                    if !after.is_empty() {
                        lister = lister.start_after(&from);
                    }
                    let mut lister = lister.await?;
                    // Only children past `after` count: the folder itself,
                    // and the folder `after` again (S3 rolls its keys up into
                    // it once more), may come first.
                    let mut out = Vec::new();
                    while out.len() < limit {
                        match lister.try_next().await? {
                            Some(entry) => {
                                let child = entry.path().strip_prefix(dir).map(|r| r.trim_end_matches('/'));
                                if child.is_some_and(|n| !n.is_empty() && !n.contains('/') && n > after) {
                                    out.push(entry);
                                }
                            }
                            None => break,
                        }
                    }
                    Ok(out)
                }
            })
            .await;
        children(listed, dir, after, false)
    }

    /// Deletes an object; deleting a missing object succeeds. In a bucket
    /// that keeps versions, every version of it goes (a plain delete would
    /// only add a delete marker); a locked one is kept and the call fails
    /// with [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied).
    pub async fn delete(&self, key: &str) -> Result<()> {
        if self.versioned_delete(&[key.to_string()]).await? {
            return Ok(());
        }
        match self.run(|op| async move { op.delete(key).await }).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::from_opendal("delete", key, e)),
        }
    }

    /// Deletes objects, missing ones included: on S3 in batches of up to
    /// 1,000 keys per request (`DeleteObjects`), on a filesystem with
    /// several unlinks in flight (each is a round trip on NFS).
    pub async fn delete_many(&self, keys: Vec<String>) -> Result<()> {
        if keys.is_empty() || self.versioned_delete(&keys).await? {
            return Ok(());
        }
        if let Backend::Fs(s) = &*self.backend {
            return fs::remove_many(&s.root, keys).await;
        }
        let first = keys[0].clone();
        self.run(|op| {
            let keys = keys.clone();
            async move { op.delete_iter(keys).await }
        })
        .await
        .map_err(|e| StorageError::from_opendal("delete", &first, e))
    }

    /// Deletes every object under folder `dir` (ending with `/`), and on a
    /// filesystem the folders themselves.
    pub async fn delete_all(&self, dir: &str) -> Result<()> {
        debug_assert!(dir.ends_with('/'));
        if self.versioned_delete(&[dir.to_string()]).await? {
            return Ok(());
        }
        match self.run(|op| async move { op.delete_with(dir).recursive(true).await }).await {
            Ok(()) => {}
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::from_opendal("delete_all", dir, e)),
        }
        if let Backend::Fs(s) = &*self.backend {
            fs::remove_empty_dirs(&s.root, dir).await?;
        }
        Ok(())
    }

    /// Deletes `keys` (folders end with `/`) version by version when the
    /// bucket keeps versions, and refuses locked keys of a memory store;
    /// `true` when that was the whole delete.
    async fn versioned_delete(&self, keys: &[String]) -> Result<bool> {
        match &*self.backend {
            Backend::S3(s) if s.keeps_versions().await? => s.delete_versions(keys).await.map(|()| true),
            Backend::Memory(s) => s.check_unlocked(keys.iter().map(String::as_str), now_secs()).map(|()| false),
            _ => Ok(false),
        }
    }

    /// Locks an object until `r.until` in mode `r.mode`: S3 Object Lock
    /// retention; on a filesystem, VAST's NFS WORM marks (access time at
    /// the unlock time, no write permission). A lock is only ever extended:
    /// asking for less than an object already has leaves it as it is.
    /// `version` names the version to lock where the store keeps them
    /// (the current one when `None`).
    pub async fn lock(&self, key: &str, version: Option<&str>, r: Retention) -> Result<()> {
        match &*self.backend {
            Backend::S3(s) => s.lock(key, version, r).await,
            Backend::Fs(s) => fs::lock(&s.root, key, r).await,
            Backend::Memory(s) => s.lock(key, r).await,
        }
    }

    /// Lifts the governance lock of an object before it expires: a
    /// privileged call (on S3 the user needs the bypass permission; a
    /// compliance lock is refused by any server). On a filesystem, the
    /// access time goes back to now and write permission returns (VAST
    /// allows it to users with the right to shorten governance locks).
    pub async fn unlock(&self, key: &str, version: Option<&str>) -> Result<()> {
        match &*self.backend {
            Backend::S3(s) => s.unlock(key, version).await,
            Backend::Fs(s) => fs::unlock(&s.root, key).await,
            Backend::Memory(s) => s.unlock(key),
        }
    }

    /// The lock an object carries, if any (on a filesystem the mode is not
    /// stored: `mode` is the one reported).
    pub async fn retention(&self, key: &str, version: Option<&str>, mode: LockMode) -> Result<Option<Retention>> {
        match &*self.backend {
            Backend::S3(s) => s.retention(key, version).await,
            Backend::Fs(s) => fs::retention(&s.root, key, mode).await,
            Backend::Memory(s) => Ok(s.retention(key)),
        }
    }

    /// Capacity of the storage, when the store can tell (a filesystem can;
    /// a bucket cannot, VMS quotas answer for it).
    pub fn capacity(&self) -> Result<Option<Capacity>> {
        match &*self.backend {
            Backend::Fs(s) => fs::capacity(&s.root).map(Some),
            Backend::Memory(_) | Backend::S3(_) => Ok(None),
        }
    }
}

/// Seconds since the Unix epoch.
fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The children of folder `dir` sorting after `after`, from what OpenDAL
/// listed (a missing folder lists as empty); with `sizes`, the object sizes
/// the listing gave.
fn children(
    listed: std::result::Result<Vec<opendal::Entry>, opendal::Error>,
    dir: &str,
    after: &str,
    sizes: bool,
) -> Result<Vec<ListEntry>> {
    let entries = match listed {
        Ok(entries) => entries,
        Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::from_opendal("list", dir, e)),
    };
    let mut out: Vec<ListEntry> = entries
        .into_iter()
        .filter_map(|e| {
            let rest = e.path().strip_prefix(dir)?;
            let is_dir = rest.ends_with('/');
            let name = rest.trim_end_matches('/');
            let listed = e.metadata().content_length();
            let size = (sizes && !is_dir && listed > 0).then_some(listed);
            (!name.is_empty() && !name.contains('/') && name > after).then(|| ListEntry {
                name: name.to_string(),
                is_dir,
                size,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
