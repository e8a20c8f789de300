//! Fragments written in place on a filesystem store, bypassing the page
//! cache (`O_DIRECT`) where the filesystem allows it.
//!
//! A buffered write copies every byte into page-cache pages the kernel
//! must first find: on a busy media server that means evicting others,
//! and on a virtual machine that hands freed memory back to its host, a
//! fault to the host for each fresh page (the same 1 GiB `dd conv=fsync`
//! swings from 0.6 to 3 s there, nearly all system time). The backup's
//! bytes are not read again soon, so they go straight from small reused
//! buffers to the storage instead (`dd` of 1 GiB there: 0.12 s of system
//! time direct, 0.3 to 2.6 s buffered). Full buffers are written by the
//! runtime's blocking threads, a few at once, while the caller fills the
//! next. Writes are aligned to 4 KiB (what local filesystems demand; NFS
//! demands nothing); the tail of a fragment that is not is written through
//! the page cache after the rest.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, mpsc};

use rustix::fs::OFlags;

use crate::error::{Result, StorageError};
use crate::fs::backend::{FsStore, abs, blocking, create_file, sync_dir};
use crate::fs::staging::{ALIGN, STAGING, Staging};
use crate::pool::Pool;

/// Full staging buffers being written at once, per fragment.
const DEPTH: usize = 4;
fn set_direct(file: &File, on: bool) -> std::io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(file)?;
    let flags = if on { flags | OFlags::DIRECT } else { flags - OFlags::DIRECT };
    rustix::fs::fcntl_setfl(file, flags)?;
    Ok(())
}

/// Writes `bytes` at `offset` bypassing the page cache; `false` when the
/// filesystem took `O_DIRECT` at open but refuses the write (it needs a
/// larger alignment than ours): then they went through the page cache, and
/// so must the rest.
fn write_direct(file: &File, key: &str, bytes: &[u8], offset: u64) -> std::io::Result<bool> {
    let written = if refused_for_tests(key, offset) {
        Err(std::io::Error::from_raw_os_error(rustix::io::Errno::INVAL.raw_os_error()))
    } else {
        file.write_all_at(bytes, offset)
    };
    match written {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
            tracing::debug!(key, error = %e, "direct write refused: writing through the page cache");
            set_direct(file, false)?;
            file.write_all_at(bytes, offset)?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// A staging buffer written, or the error that stopped it; and whether
/// the write bypassed the page cache.
type Written = std::io::Result<(Staging, bool)>;

/// Direct writes: one buffer filling in the caller's thread while up to
/// `DEPTH` full ones are written by the runtime's blocking threads.
#[derive(Debug)]
struct Pipeline {
    rt: tokio::runtime::Handle,
    pool: Arc<Pool<Staging>>,
    staging: Staging,
    in_flight: usize,
    done: (mpsc::Sender<Written>, mpsc::Receiver<Written>),
}

/// An object written in place, piece by piece, on a filesystem store.
/// Nothing refers to the file until the engine commits a manifest naming
/// it, so a half-written one is only an orphan.
#[derive(Debug)]
pub struct DirectWriter {
    file: Arc<File>,
    path: PathBuf,
    key: String,
    /// Bytes handed to the file so far (staged ones included).
    offset: u64,
    /// `None` once writes go through the page cache.
    direct: Option<Pipeline>,
}

impl DirectWriter {
    /// Memory a writer bypassing the page cache holds at most: the buffer
    /// it fills and those in flight.
    pub const MEMORY: u64 = (STAGING * (DEPTH + 1)) as u64;

    /// Creates the object's file. With a runtime, its writes bypass the
    /// page cache if the filesystem allows, written by that runtime's
    /// blocking threads; without, they go through the page cache.
    pub(crate) fn create(store: &FsStore, key: &str, rt: Option<tokio::runtime::Handle>) -> Result<Self> {
        let path = abs(&store.root, key);
        let file = create_file(&path).map_err(|e| StorageError::from_io("create", key, e))?;
        let direct = match rt.map(|rt| (rt, set_direct(&file, true))) {
            Some((rt, Ok(()))) => {
                let pool = store.staging.clone();
                Some(Pipeline { rt, staging: Staging::take(&pool), pool, in_flight: 0, done: mpsc::channel() })
            }
            Some((_, Err(e))) => {
                tracing::debug!(key, error = %e, "this filesystem refuses O_DIRECT: writing through the page cache");
                None
            }
            None => None,
        };
        Ok(DirectWriter { file: Arc::new(file), path, key: key.to_string(), offset: 0, direct })
    }

    /// Appends `data` (a blocking call: make it from the caller's thread,
    /// never from a runtime worker). An error of an earlier write in flight
    /// may show here.
    pub fn write_all(&mut self, data: &[u8]) -> Result<()> {
        self.append(data).map_err(|e| StorageError::from_io("write", &self.key, e))
    }

    fn append(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let Some(pipe) = &mut self.direct else {
                self.file.write_all_at(data, self.offset)?;
                self.offset += data.len() as u64;
                return Ok(());
            };
            let n = pipe.staging.fill(data);
            data = &data[n..];
            self.offset += n as u64;
            if pipe.staging.len == STAGING {
                self.send_staged()?;
            }
        }
        Ok(())
    }

    /// Hands the full staging buffer to a blocking thread and takes an
    /// empty one (waiting for a write to finish when `DEPTH` are running).
    fn send_staged(&mut self) -> std::io::Result<()> {
        let Some(pipe) = &mut self.direct else { return Ok(()) };
        let next = if pipe.in_flight >= DEPTH {
            let (mut buf, direct) = wait(pipe)?;
            if !direct {
                buf.give_back(&pipe.pool);
                return self.fall_back();
            }
            buf.len = 0;
            buf
        } else {
            Staging::take(&pipe.pool)
        };
        let full = std::mem::replace(&mut pipe.staging, next);
        let at = self.offset - full.len as u64;
        let (file, key, tx) = (self.file.clone(), self.key.clone(), pipe.done.0.clone());
        pipe.rt.spawn_blocking(move || {
            let written = write_direct(&file, &key, full.filled(), at).map(|direct| (full, direct));
            let _ = tx.send(written);
        });
        pipe.in_flight += 1;
        Ok(())
    }

    /// Direct writes were refused: once those in flight are done, what is
    /// staged goes through the page cache, and so does all that follows.
    fn fall_back(&mut self) -> std::io::Result<()> {
        let Some(mut pipe) = self.direct.take() else { return Ok(()) };
        let drained = drain(&mut pipe);
        let staged = pipe.staging;
        let written = drained
            .and_then(|()| set_direct(&self.file, false))
            .and_then(|()| self.file.write_all_at(staged.filled(), self.offset - staged.len as u64));
        staged.give_back(&pipe.pool);
        written
    }

    /// Writes what is staged (the unaligned tail through the page cache),
    /// waits for the writes in flight, then makes the object durable: file
    /// data and directory entry synced.
    pub async fn finish(self) -> Result<()> {
        let key = self.key.clone();
        blocking("put", &key, move || {
            let DirectWriter { file, path, key, offset, direct } = self;
            if let Some(mut pipe) = direct {
                let drained = drain(&mut pipe);
                let staged = pipe.staging;
                let filled = staged.filled();
                let aligned = filled.len() / ALIGN * ALIGN;
                let start = offset - filled.len() as u64;
                let written = drained.and_then(|()| {
                    if write_direct(&file, &key, &filled[..aligned], start)? {
                        set_direct(&file, false)?;
                    }
                    file.write_all_at(&filled[aligned..], start + aligned as u64)
                });
                staged.give_back(&pipe.pool);
                written?;
            }
            file.sync_all()?;
            drop(file);
            match path.parent() {
                Some(parent) => sync_dir(parent),
                None => Ok(()),
            }
        })
        .await
    }
}

/// Waits for every write in flight; the first error, if any.
fn drain(pipe: &mut Pipeline) -> std::io::Result<()> {
    let mut first_error = None;
    while pipe.in_flight > 0 {
        match wait(pipe) {
            Ok((buf, _)) => buf.give_back(&pipe.pool),
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Waits for the oldest-finishing write in flight.
fn wait(pipe: &mut Pipeline) -> Written {
    pipe.in_flight -= 1;
    pipe.done.1.recv().map_err(|_| std::io::Error::other("a direct write was lost"))?
}

/// No write is refused outside tests.
#[cfg(not(test))]
fn refused_for_tests(_key: &str, _offset: u64) -> bool {
    false
}

/// Tests make a filesystem that refuses direct writes from some offset on
/// by naming the object `refuse-from-<offset>`.
#[cfg(test)]
fn refused_for_tests(key: &str, offset: u64) -> bool {
    key.strip_prefix("refuse-from-").and_then(|at| at.parse::<u64>().ok()).is_some_and(|at| offset >= at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes that tell every offset apart.
    fn data(len: usize) -> Vec<u8> {
        (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
    }

    #[test]
    fn a_refused_direct_write_loses_nothing() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let bytes = data((19 << 19) + 1536);
        let store = FsStore::open(dir.path(), true).unwrap();
        let budget = std::sync::Arc::new(crate::pool::tests::Counted::default());
        store.staging.pay_from(budget.clone());
        // Refused by a write in flight (found while more are queued), by
        // the last full buffer, by the aligned part of the tail, and never.
        for from in [3u64 << 20, 8 << 20, 9 << 20, u64::MAX] {
            let key = format!("refuse-from-{from}");
            let mut w = DirectWriter::create(&store, &key, Some(rt.handle().clone())).unwrap();
            for piece in bytes.chunks(300_000) {
                w.write_all(piece).unwrap();
            }
            rt.block_on(w.finish()).unwrap();
            let back = std::fs::read(dir.path().join(&key)).unwrap();
            assert_eq!(back.len(), bytes.len(), "refused from {from}");
            assert!(back == bytes, "refused from {from}: the bytes differ");
        }
        let parked = store.staging.len() as u64;
        assert!(parked > 0, "staging buffers are kept for the next fragments");
        assert_eq!(budget.held(), parked * (STAGING + ALIGN) as u64, "each one paid for");
    }
}
