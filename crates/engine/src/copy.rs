//! Image copies (NetBackup's optimized duplication and Auto Image
//! Replication).
//!
//! Between LSUs of one server, a copy is a new manifest whose extents
//! reference the source's fragments: no byte moves, whatever the size.
//! Between servers (`open_target_server`), the bytes stream from the source
//! (verified chunk by chunk against its checksums, read ahead in parallel)
//! into a new image of the target (uploaded in parallel), and the target's
//! checksums are compared with the stream's before it is committed.
//!
//! A copy that fails or is cancelled deletes what it made of the target:
//! nothing half-copied ever looks complete.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::ctx::MAX_META_SIZE;
use crate::error::{EngineError, Result};
use crate::events::{self, EventKind};
use crate::lsu::Lsu;
use crate::names::ImageDef;
use crate::reader::ImageReader;
use crate::writer::ImageWriter;

/// Bytes moved per step of a copy between servers.
const STEP: usize = 8 << 20;

/// How far a copy is, and the switch to cancel it.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    cancel: AtomicBool,
}

impl Progress {
    /// Bytes copied so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Bytes to copy in all.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Asks the copy to stop at its next step.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    fn check(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) { Err(EngineError::Cancelled) } else { Ok(()) }
    }
}

impl Lsu {
    /// Copies complete image `def` of this LSU to a new image `target_def`
    /// of `target` (an LSU of this server or of another one), metadata
    /// included. Returns the bytes copied.
    pub fn copy_image(&self, def: &ImageDef, target: &Lsu, target_def: &ImageDef, progress: &Progress) -> Result<u64> {
        let mut reader = self.open_for_read(def)?;
        let size = reader.size();
        progress.total.store(size, Ordering::Relaxed);
        let same_server = self.same_server(target);
        let mut writer = target.create_image(target_def)?;
        let copied = (|| {
            let meta = self.read_meta(def, 0, MAX_META_SIZE as usize)?;
            if !meta.is_empty() {
                writer.image().write_meta(&meta, 0)?;
            }
            let crc = if same_server {
                writer.include(&reader, 0, 0, size)?;
                progress.done.store(size, Ordering::Relaxed);
                None
            } else {
                Some(copy_bytes(&mut reader, &mut writer, 0, 0, size, progress)?)
            };
            progress.check()?;
            writer.close_complete(crc)
        })();
        let m = match copied {
            Ok(m) => m,
            Err(e) => {
                // The target was created here: remove whatever part of it exists.
                if let Err(d) = target.delete_image(target_def) {
                    tracing::warn!(image = %target_def, error = %d, "unfinished copy not removed");
                }
                tracing::warn!(from = %def, to = %target_def, error = %e, "copy failed; target removed");
                return Err(e);
            }
        };
        tracing::info!(
            target: "audit",
            from_lsu = self.name(), from = %def, to_lsu = target.name(), to = %target_def, size, same_server,
            "copied image"
        );
        let (kind, source) = if same_server {
            (EventKind::CopyDone, format!("{}/{}", self.name(), def))
        } else {
            let server = self.ctx.server.upgrade().map(|s| s.server_name().to_string()).unwrap_or_default();
            (EventKind::Replicated, format!("{server}/{}", self.name()))
        };
        target.ctx.block_on(events::post_image(&target.ctx, kind, &m, Some(source)));
        Ok(size)
    }
}

/// Streams `len` bytes of `reader` from `from` into `writer` at `to`;
/// returns the CRC32C of the stream (every byte of it verified against the
/// source's checksums on the way in).
pub(crate) fn copy_bytes(
    reader: &mut ImageReader,
    writer: &mut ImageWriter,
    from: u64,
    to: u64,
    len: u64,
    progress: &Progress,
) -> Result<u32> {
    let mut buf = vec![0u8; STEP.min(len as usize).max(crate::layout::BLOCK_SIZE as usize)];
    let (mut done, mut crc) = (0u64, 0u32);
    while done < len {
        progress.check()?;
        let want = ((len - done) as usize).min(buf.len());
        let n = reader.read(&mut buf[..want], from + done)?;
        if n == 0 {
            return Err(EngineError::invalid(format!("the source ends before {} bytes from {from}", len)));
        }
        writer.write(&buf[..n], to + done)?;
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        done += n as u64;
        progress.done.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(crc)
}

/// A copy running in the background.
#[derive(Debug, Default)]
struct Job {
    progress: Progress,
    result: Mutex<Option<Result<u64>>>,
    finished: Condvar,
}

/// Where a background copy is.
#[derive(Debug)]
pub enum CopyWait {
    /// It ended: the bytes copied, or why it failed.
    Done(Result<u64>),
    /// Still running: bytes copied so far, of how many.
    Running {
        /// Bytes copied so far.
        done: u64,
        /// Bytes to copy.
        total: u64,
    },
}

/// The background copies of a server, by name.
#[derive(Debug, Default)]
pub struct AsyncCopies {
    jobs: Arc<Mutex<HashMap<String, Arc<Job>>>>,
    next: AtomicU64,
}

impl AsyncCopies {
    /// Starts copying `def` of `src` to `target_def` of `target` in the
    /// background. Named copies are kept until waited for; unnamed ones
    /// (given a number) report only through events. Returns the name.
    pub fn start(
        &self,
        name: Option<&str>,
        src: Lsu,
        def: ImageDef,
        target: Lsu,
        target_def: ImageDef,
    ) -> Result<String> {
        let named = name.is_some();
        let name = match name {
            Some(n) if n.is_empty() || n.len() > 255 => {
                return Err(EngineError::invalid("a copy name is 1 to 255 bytes"));
            }
            Some(n) => n.to_string(),
            None => format!("#{}", self.next.fetch_add(1, Ordering::Relaxed) + 1),
        };
        let job = Arc::new(Job::default());
        {
            let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            if jobs.contains_key(&name) {
                return Err(EngineError::invalid(format!("a copy named {name:?} is already known")));
            }
            jobs.insert(name.clone(), job.clone());
        }
        let (jobs, key) = (self.jobs.clone(), name.clone());
        let spawned = std::thread::Builder::new().name("vastost-copy".into()).spawn(move || {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                src.copy_image(&def, &target, &target_def, &job.progress)
            }));
            let result = run.unwrap_or_else(|_| Err(EngineError::Internal("the copy task panicked".into())));
            *job.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
            job.finished.notify_all();
            if !named {
                jobs.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
            }
        });
        if let Err(e) = spawned {
            self.jobs.lock().unwrap_or_else(|p| p.into_inner()).remove(&name);
            return Err(EngineError::Internal(format!("cannot start a copy thread: {e}")));
        }
        Ok(name)
    }

    fn job(&self, name: &str) -> Result<Arc<Job>> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.get(name).cloned().ok_or_else(|| EngineError::NoSuchCopy(name.to_string()))
    }

    /// Waits up to `timeout` for copy `name`. Once it has ended, its
    /// result is returned once and the name is forgotten.
    pub fn wait(&self, name: &str, timeout: Duration) -> Result<CopyWait> {
        let job = self.job(name)?;
        let guard = job.result.lock().unwrap_or_else(|p| p.into_inner());
        let (mut guard, _) =
            job.finished.wait_timeout_while(guard, timeout, |r| r.is_none()).unwrap_or_else(|p| p.into_inner());
        match guard.take() {
            Some(result) => {
                self.jobs.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
                Ok(CopyWait::Done(result))
            }
            None => Ok(CopyWait::Running { done: job.progress.done(), total: job.progress.total() }),
        }
    }

    /// Asks copy `name` to stop; [`AsyncCopies::wait`] tells when it has.
    pub fn cancel(&self, name: &str) -> Result<()> {
        self.job(name)?.progress.cancel();
        Ok(())
    }
}

impl ImageWriter {
    /// Copies `len` bytes of `source` from `from` to `to` of this image:
    /// by reference when both are on one server, else by streaming the
    /// bytes (verified against the source's checksums). Returns `len`.
    pub fn copy_from(&mut self, source: &mut ImageReader, from: u64, to: u64, len: u64) -> Result<u64> {
        if self.image().ctx().same_server(source.image().ctx()) {
            return self.include(source, from, to, len);
        }
        if ![from, to, len].iter().all(|v| v.is_multiple_of(crate::layout::BLOCK_SIZE)) {
            return Err(EngineError::invalid(format!(
                "copy of {len} bytes from {from} to {to}: offsets and length must be multiples of {}",
                crate::layout::BLOCK_SIZE
            )));
        }
        if from.checked_add(len).is_none_or(|end| end > source.size()) {
            return Err(EngineError::invalid(format!(
                "copy of {len} bytes from {from}: the source has {} bytes",
                source.size()
            )));
        }
        copy_bytes(source, self, from, to, len, &Progress::default())?;
        Ok(len)
    }
}
