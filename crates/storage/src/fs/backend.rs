//! The filesystem guarantees OpenDAL's fs service leaves to its caller:
//! atomic create-if-absent and durable directory entries.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use opendal::{Operator, services};

use crate::error::{Result, StorageError};
use crate::fs::staging::Staging;
use crate::pool::Pool;
use crate::types::{Capacity, ListEntry, LockMode, Retention, StoredVersion};

/// A directory (on a real site, a VAST NFS mount): OpenDAL's fs service
/// for reads, listings and deletes, and the functions of this module for
/// what it leaves out.
#[derive(Debug)]
pub(crate) struct FsStore {
    pub root: PathBuf,
    pub op: Operator,
    /// Whether fragments bypass the page cache where the filesystem allows.
    pub direct_writes: bool,
    /// Read buffers given back by readers (see [`recycle`]).
    pub spare: Arc<Pool<Vec<u8>>>,
    /// Staging buffers of direct writers, kept for the next fragments.
    pub staging: Arc<Pool<Staging>>,
}

impl FsStore {
    /// The directory `root`, created if missing.
    pub(crate) fn open(root: &Path, direct_writes: bool) -> Result<Self> {
        let key = root.display().to_string();
        std::fs::create_dir_all(root).map_err(|e| StorageError::from_io("open", &key, e))?;
        let root = root.canonicalize().map_err(|e| StorageError::from_io("open", &key, e))?;
        let builder = services::Fs::default().root(&root.to_string_lossy());
        let op = Operator::new(builder).map_err(|e| StorageError::from_opendal("open", &key, e))?;
        Ok(FsStore { root, op, direct_writes, spare: Pool::new(SPARE_MAX), staging: Pool::new(STAGING_MAX) })
    }
}

/// Temporary files live here, inside the store, so that the final
/// `link` never crosses a filesystem.
const TMP_DIR: &str = ".vastost/tmp";

pub(crate) fn abs(root: &Path, key: &str) -> PathBuf {
    root.join(key.trim_start_matches('/'))
}

pub(crate) async fn blocking<T: Send + 'static>(
    op: &'static str,
    key: &str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    let owned = key.to_string();
    match tokio::task::spawn_blocking(f).await {
        Ok(res) => res.map_err(|e| StorageError::from_io(op, &owned, e)),
        Err(join) => Err(StorageError::new(crate::error::ErrorKind::Other, op, &owned, join.to_string())),
    }
}

/// Creates (or truncates) a file, making its folders first if missing.
pub(crate) fn create_file(path: &Path) -> std::io::Result<std::fs::File> {
    match std::fs::File::create(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::File::create(path)
        }
        other => other,
    }
}

pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Writes a whole object in one `write` and syncs it and its directory
/// entry. OpenDAL's fs writer goes through `tokio::fs` in 2 MiB copies;
/// a fragment is tens of MiB, so one blocking write is faster.
pub(crate) async fn put(root: &Path, key: &str, data: Bytes) -> Result<()> {
    let path = abs(root, key);
    blocking("put", key, move || {
        use std::io::Write;
        let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut f = create_file(&path)?;
        f.write_all(&data)?;
        f.sync_all()?;
        sync_dir(&parent)
    })
    .await
}

/// Reads a whole object: one `read` of its size (OpenDAL's reader zeroes
/// a buffer of its chunk size first, which costs more than a commit record
/// itself).
pub(crate) async fn get(root: &Path, key: &str) -> Result<Bytes> {
    let path = abs(root, key);
    blocking("get", key, move || std::fs::read(&path).map(Bytes::from)).await
}

/// Read buffers kept at most per store, for the next ranged reads: a fresh
/// buffer of a few MiB costs a page fault and a zeroed page per 4 KiB,
/// about as much as reading a warm page cache (readers fetch units of
/// 4 MiB: 32 MiB, paid from the budget).
const SPARE_MAX: usize = 8;
/// Staging buffers of direct writers kept at most per store (1 MiB each).
const STAGING_MAX: usize = 32;

/// A buffer of at least `cap` bytes' capacity, empty: a spare one if any
/// is large enough.
fn buffer(spare: &Pool<Vec<u8>>, cap: usize) -> Vec<u8> {
    spare.take(|b| b.capacity() >= cap, Vec::capacity).unwrap_or_else(|| Vec::with_capacity(cap))
}

/// Takes back the buffers of bytes read by [`get_range`] that nobody else
/// holds, for the next reads.
pub(crate) fn recycle(spare: &Pool<Vec<u8>>, parts: Vec<Bytes>) {
    for vec in parts.into_iter().filter_map(crate::pool::emptied).filter(|v| v.capacity() > 0) {
        let bytes = vec.capacity() as u64;
        spare.park(vec, bytes);
    }
}

/// Reads `range` of an object: a seek and reads into a buffer that is never
/// zeroed first (`read_to_end` fills its spare capacity as it is) and is
/// reused when readers give it back.
pub(crate) async fn get_range(store: &FsStore, key: &str, range: Range<u64>) -> Result<Bytes> {
    let path = abs(&store.root, key);
    let spare = store.spare.clone();
    blocking("get_range", key, move || {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(&path)?;
        let len = range.end.saturating_sub(range.start);
        let cap = usize::try_from(len)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "range too large"))?;
        f.seek(SeekFrom::Start(range.start))?;
        let mut buf = buffer(&spare, cap);
        f.take(len).read_to_end(&mut buf)?;
        Ok(Bytes::from(buf))
    })
    .await
}

/// Creates `key` with `data` unless it exists: the data goes to a synced
/// temporary file, which is then hard-linked to its name. `link` fails when
/// the name exists, on local filesystems and on NFS alike, which makes the
/// create atomic.
pub(crate) async fn put_new(root: &Path, key: &str, data: Bytes) -> Result<()> {
    put_new_locked(root, key, data, None).await
}

/// [`put_new`], the file given lock `lock` (VAST's NFS WORM marks) before it
/// is linked into place, so that it is never seen unlocked.
pub(crate) async fn put_new_locked(root: &Path, key: &str, data: Bytes, lock: Option<Retention>) -> Result<()> {
    let target = abs(root, key);
    let tmp_dir = root.join(TMP_DIR);
    blocking("put_new", key, move || {
        use std::io::Write;
        std::fs::create_dir_all(&tmp_dir)?;
        let parent = target.parent().map(Path::to_path_buf).unwrap_or_default();
        std::fs::create_dir_all(&parent)?;
        let tmp = tmp_dir.join(format!("{}.{:016x}", std::process::id(), fastrand::u64(..)));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(&data)?;
            f.sync_all()?;
            if let Some(r) = lock {
                mark_locked(&tmp, r)?;
            }
            std::fs::hard_link(&tmp, &target)?;
            sync_dir(&parent)
        })();
        let _ = std::fs::remove_file(&tmp);
        result
    })
    .await
}

/// Unlinks that run at once in [`remove_many`].
const PARALLEL_UNLINKS: usize = 16;

/// Deletes files, missing ones included, several at once.
pub(crate) async fn remove_many(root: &Path, keys: Vec<String>) -> Result<()> {
    use futures_util::{StreamExt, TryStreamExt};
    futures_util::stream::iter(keys)
        .map(|key| {
            let path = abs(root, &key);
            async move {
                blocking("delete", &key, move || match std::fs::remove_file(&path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    other => other,
                })
                .await
            }
        })
        .buffer_unordered(PARALLEL_UNLINKS)
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
}

/// Removes the folders left empty under `dir` once its objects are gone,
/// and `dir` itself.
pub(crate) async fn remove_empty_dirs(root: &Path, dir: &str) -> Result<()> {
    let path = abs(root, dir);
    blocking("delete_all", dir, move || match std::fs::remove_dir_all(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => match path.parent() {
            Some(parent) => sync_dir(parent).or(Ok(())),
            None => Ok(()),
        },
    })
    .await
}

/// The children of folder `dir` whose names sort after `after`, the first
/// `limit` of them in order. One pass of `readdir` (the entry type comes
/// with it, no stat) keeping only the smallest names: a page of a folder
/// of a million entries costs one pass and `limit` entries of memory,
/// where OpenDAL's lister builds every entry with its metadata.
pub(crate) async fn list(root: &Path, dir: &str, after: &str, limit: usize) -> Result<Vec<ListEntry>> {
    let path = abs(root, dir);
    let after = after.to_string();
    blocking("list", dir, move || {
        let entries = match std::fs::read_dir(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other?,
        };
        // The `limit` smallest names so far, the largest on top.
        let mut best: std::collections::BinaryHeap<(String, bool)> = std::collections::BinaryHeap::new();
        for entry in entries {
            let entry = entry?;
            // Keys are UTF-8; anything else was not written by a store.
            let Ok(name) = entry.file_name().into_string() else { continue };
            if name <= after || (best.len() >= limit && best.peek().is_some_and(|(top, _)| name >= *top)) {
                continue;
            }
            let is_dir = match entry.file_type() {
                Ok(t) => t.is_dir(),
                // Removed since the directory was read.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            best.push((name, is_dir));
            if best.len() > limit {
                best.pop();
            }
        }
        Ok(best.into_sorted_vec().into_iter().map(|(name, is_dir)| ListEntry { name, is_dir, size: None }).collect())
    })
    .await
}

/// Space figures of the filesystem holding `root`.
pub(crate) fn capacity(root: &Path) -> Result<Capacity> {
    let st = rustix::fs::statvfs(root)
        .map_err(|e| StorageError::from_io("capacity", &root.display().to_string(), e.into()))?;
    let unit = st.f_frsize;
    let total = st.f_blocks.saturating_mul(unit);
    let free = st.f_bfree.saturating_mul(unit);
    let available = st.f_bavail.saturating_mul(unit);
    Ok(Capacity { total, used: total.saturating_sub(free), available })
}

/// What a read from the page cache alone found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    /// The whole range was in memory and is now in the buffer.
    Hit,
    /// Some of it is not in memory (or the file is gone): read it the
    /// ordinary way, which waits for the storage.
    Miss,
    /// This kernel or filesystem cannot tell (`RWF_NOWAIT` unsupported):
    /// asking again will not help.
    Unsupported,
}

/// An object opened for reads that never wait for the storage: each read
/// takes its bytes from the page cache or gives up at once
/// (`preadv2(RWF_NOWAIT)`). A restore that follows its backup (a
/// duplication, a verify) finds its fragments there; reading them in the
/// caller's thread into a buffer that stays in the CPU's cache costs a
/// fraction of the read-ahead path's copies.
#[derive(Debug)]
pub struct PageCacheFile {
    file: std::fs::File,
}

impl PageCacheFile {
    pub(crate) fn open(root: &Path, key: &str) -> Option<Self> {
        std::fs::File::open(abs(root, key)).ok().map(|file| PageCacheFile { file })
    }

    /// Fills `buf` with the bytes at `offset` if all of them are in the
    /// page cache; never blocks on the storage. A range past the end of the
    /// file is a miss (the caller knows the object's size).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Cached {
        use rustix::io::{Errno, ReadWriteFlags};
        let mut done = 0;
        while done < buf.len() {
            let mut slice = [std::io::IoSliceMut::new(&mut buf[done..])];
            match rustix::io::preadv2(&self.file, &mut slice, offset + done as u64, ReadWriteFlags::NOWAIT) {
                Ok(0) => return Cached::Miss,
                Ok(n) => done += n,
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return Cached::Miss,
                Err(Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL) => return Cached::Unsupported,
                Err(_) => return Cached::Miss,
            }
        }
        Cached::Hit
    }
}

/// Locks a file the way VAST's NFS WORM does: its access time set to the
/// unlock time, then write permission removed (an atime only ever moves
/// later). The result is read back with `stat`: a lock the filesystem did
/// not keep is an error. Enforcement is the server's; a local directory
/// keeps the marks without enforcing them.
pub(crate) async fn lock(root: &Path, key: &str, r: Retention) -> Result<()> {
    let path = abs(root, key);
    blocking("lock", key, move || mark_locked(&path, r)).await
}

/// Sets the WORM marks of lock `r` on file `path` and checks they hold.
fn mark_locked(path: &Path, r: Retention) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(path)?;
    let until = i64::try_from(r.until).map_err(std::io::Error::other)?;
    if meta.atime() < until || meta.permissions().mode() & 0o222 != 0 {
        let times = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec { tv_sec: until.max(meta.atime()), tv_nsec: 0 },
            last_modification: rustix::fs::Timespec { tv_sec: 0, tv_nsec: rustix::fs::UTIME_OMIT },
        };
        rustix::fs::utimensat(rustix::fs::CWD, path, &times, rustix::fs::AtFlags::empty())?;
        let mode = meta.permissions().mode() & !0o222;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    let after = std::fs::metadata(path)?;
    if after.atime() < until || after.permissions().mode() & 0o222 != 0 {
        return Err(std::io::Error::other(format!(
            "the lock did not hold: atime {} (wanted {until}), mode {:o}",
            after.atime(),
            after.permissions().mode()
        )));
    }
    Ok(())
}

/// The lock a file carries: read-only with an access time in the future
/// (the mode is the view's; the file does not tell it).
pub(crate) async fn retention(root: &Path, key: &str, mode: LockMode) -> Result<Option<Retention>> {
    let path = abs(root, key);
    blocking("retention", key, move || {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = std::fs::metadata(&path)?;
        let read_only = meta.permissions().mode() & 0o222 == 0;
        Ok((read_only && meta.atime() > 0).then(|| Retention { mode, until: meta.atime() as u64 }))
    })
    .await
}

/// The files in folder `dir` (and below it, with `recursive`), each as one
/// version made at its modification time.
pub(crate) async fn versions(root: &Path, dir: &str, recursive: bool) -> Result<Vec<StoredVersion>> {
    let base = abs(root, dir);
    blocking("list versions", dir, move || {
        let mut out = Vec::new();
        let mut todo = vec![(base, String::new())];
        while let Some((folder, prefix)) = todo.pop() {
            let entries = match std::fs::read_dir(&folder) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
                let meta = entry.metadata()?;
                if meta.is_dir() {
                    if recursive {
                        todo.push((entry.path(), format!("{name}/")));
                    }
                    continue;
                }
                let made_ms = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                out.push(StoredVersion { name, version: None, deleted: false, made_ms });
            }
        }
        Ok(out)
    })
    .await
}

/// Lifts a file's WORM marks: write permission back, access time now.
pub(crate) async fn unlock(root: &Path, key: &str) -> Result<()> {
    let path = abs(root, key);
    blocking("unlock", key, move || {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(meta.permissions().mode() | 0o200))?;
        let now = rustix::fs::Timespec { tv_sec: 0, tv_nsec: rustix::fs::UTIME_NOW };
        let times = rustix::fs::Timestamps {
            last_access: now,
            last_modification: rustix::fs::Timespec { tv_sec: 0, tv_nsec: rustix::fs::UTIME_OMIT },
        };
        rustix::fs::utimensat(rustix::fs::CWD, &path, &times, rustix::fs::AtFlags::empty())?;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranged_reads_reuse_the_buffers_readers_give_back() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 253) as u8).collect();
        std::fs::write(dir.path().join("obj"), &data).unwrap();
        let store = FsStore::open(dir.path(), true).unwrap();
        store.spare.pay_from(std::sync::Arc::new(crate::pool::tests::Counted::default()));
        let get_range = |key, range| get_range(&store, key, range);
        let recycle = |parts| recycle(&store.spare, parts);
        let first = rt.block_on(get_range("obj", 4096..(1 << 19))).unwrap();
        assert_eq!(&first[..], &data[4096..1 << 19]);
        let at = first.as_ptr();
        // Still held elsewhere: not taken back.
        let held = first.clone();
        recycle(vec![first]);
        let second = rt.block_on(get_range("obj", 0..(1 << 19))).unwrap();
        assert_ne!(second.as_ptr(), at, "a buffer still in use is never reused");
        drop(second);
        recycle(vec![held]);
        let third = rt.block_on(get_range("obj", 100..(1 << 18))).unwrap();
        assert_eq!(third.as_ptr(), at, "the buffer given back serves the next read");
        assert_eq!(&third[..], &data[100..1 << 18], "and holds only the new bytes");
        let past_the_end = rt.block_on(get_range("obj", (1 << 20) - 512..(1 << 20) + 4096)).unwrap();
        assert_eq!(past_the_end.len(), 512, "a range past the end is cut short");
    }

    #[test]
    fn page_cache_reads_never_run_past_the_end_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(1u32 << 16)).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("obj"), &data).unwrap();
        assert!(PageCacheFile::open(dir.path(), "missing").is_none());
        let file = PageCacheFile::open(dir.path(), "obj").unwrap();
        let mut buf = vec![0u8; 4096];
        // Just written, so in memory (or, where the kernel cannot tell,
        // reported as such and never as bytes).
        match file.read_at(&mut buf, 8192) {
            Cached::Hit => assert_eq!(&buf[..], &data[8192..8192 + 4096]),
            other => assert_eq!(other, Cached::Unsupported),
        }
        assert_ne!(file.read_at(&mut buf, (1 << 16) - 512), Cached::Hit, "a range past the end");
    }
}
