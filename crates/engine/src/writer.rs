//! The write pipeline. `write` puts the caller's bytes into the current
//! fragment (computing CRC32C on the way) and returns; a full fragment is
//! handed to a background task that makes it durable. At most
//! `write_parallelism` such tasks of one image run at once. A failure is
//! sticky: the next `write`, `flush` or `close` reports it, and nothing is
//! committed after it.
//!
//! A fragment is filled one of two ways, chosen by the store:
//! - buffered: the bytes are copied into a buffer paid for from the global
//!   memory budget (a fast producer waits rather than growing memory), and
//!   the task uploads the whole object (S3, memory);
//! - direct, on a filesystem (NFS): the bytes go straight into the
//!   fragment's file, the one copy any file write makes, and the task only
//!   syncs it. No buffer of ours is needed, so a stream runs at the speed
//!   of plain file writes.

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use vastost_storage::{ChunkSums, FragmentWriter};

use crate::budget::{BudgetPermit, Buffer};
use crate::error::{EngineError, Result};
use crate::image::{ImageInfo, OpenImage};
use crate::layout::BLOCK_SIZE;
use crate::manifest::{Extent, ImageState, Manifest, ObjectRef};
use crate::reader::ImageReader;
use crate::refs::{Owner, SourceUse};

/// Objects are checksummed in chunks of this size, so a reader can verify
/// any chunk it fetches without reading the whole fragment.
pub const CHUNK_SIZE: u64 = 1 << 20;
/// Largest image accepted (64 TiB; NetBackup images reach about 5 TB).
pub const MAX_IMAGE_SIZE: u64 = 64 << 40;

/// A fragment being filled: a contiguous run of the image.
#[derive(Debug)]
struct Fragment {
    offset: u64,
    len: u64,
    /// Where its bytes go, whatever the store.
    sink: FragmentWriter,
    /// What pays for its memory: the buffer lent to it, or the staging
    /// buffers of a writer past the page cache (none: through the page
    /// cache, which needs no buffer of ours).
    paid: Option<BudgetPermit>,
    crcs: ChunkSums,
}

/// An image open for writing. Dropping it without [`ImageWriter::close`]
/// is a dropped connection: nothing more is committed.
#[derive(Debug)]
pub struct ImageWriter {
    image: OpenImage,
    committed: Manifest,
    extents: Vec<Extent>,
    size: u64,
    current: Option<Fragment>,
    uploads: Vec<JoinHandle<()>>,
    in_flight: Arc<Semaphore>,
    failure: Arc<Mutex<Option<EngineError>>>,
    token: String,
    next_fragment: u64,
    /// Images whose bytes this one references since it was opened.
    sources: Vec<SourceUse>,
    /// Metadata was stored since the last commit: the next one records it,
    /// or, when the image was deleted meanwhile, it is taken back.
    meta_stored: bool,
}

impl ImageWriter {
    pub(crate) fn new(image: OpenImage, committed: Manifest) -> Self {
        let in_flight = Arc::new(Semaphore::new(image.ctx().write_parallelism));
        ImageWriter {
            image,
            extents: committed.extents.clone(),
            size: committed.size,
            next_fragment: committed.extents.len() as u64,
            committed,
            current: None,
            uploads: Vec::new(),
            in_flight,
            failure: Arc::new(Mutex::new(None)),
            token: crate::manifest::new_session(),
            sources: Vec::new(),
            meta_stored: false,
        }
    }

    /// The image, its LSU and its metadata.
    pub fn image(&self) -> &OpenImage {
        &self.image
    }

    /// Logical size so far (what was written, stored or not yet).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Properties as a writer sees them: the size includes buffered bytes.
    pub fn info(&self) -> ImageInfo {
        self.image.info(&self.committed, self.size)
    }

    fn check_failure(&self) -> Result<()> {
        match &*self.failure.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn record_failure(failure: &Mutex<Option<EngineError>>, e: EngineError) {
        failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
    }

    /// Writes `data` at `offset`; both multiples of 512. Returns the bytes
    /// accepted (all of them): they may still be in a buffer.
    pub fn write(&mut self, data: &[u8], offset: u64) -> Result<u64> {
        self.check_failure()?;
        let len = data.len() as u64;
        if !len.is_multiple_of(BLOCK_SIZE) || !offset.is_multiple_of(BLOCK_SIZE) {
            return Err(EngineError::invalid(format!(
                "write of {len} bytes at {offset}: length and offset must be multiples of {BLOCK_SIZE}"
            )));
        }
        let end = offset.checked_add(len).filter(|e| *e <= MAX_IMAGE_SIZE).ok_or_else(|| {
            EngineError::invalid(format!("write at {offset}: images are limited to {MAX_IMAGE_SIZE} bytes"))
        })?;
        self.image.ctx().limits.take(vastost_metrics::Direction::Write, len);
        // Past the argument checks, a failure leaves the image with bytes
        // that were accepted but not stored: it can never be committed again.
        self.store_bytes(data, offset).inspect_err(|e| Self::record_failure(&self.failure, e.clone()))?;
        self.size = self.size.max(end);
        self.image.ctx().count_transfer(vastost_metrics::Direction::Write, len);
        Ok(len)
    }

    fn store_bytes(&mut self, data: &[u8], offset: u64) -> Result<()> {
        if self.current.as_ref().is_some_and(|f| f.offset + f.len != offset) {
            self.seal()?;
        }
        let frag_size = self.image.ctx().fragment_size as usize;
        let (mut rest, mut pos) = (data, offset);
        while !rest.is_empty() {
            if self.current.is_none() {
                self.current = Some(self.new_fragment(pos)?);
            }
            let frag = self.current.as_mut().expect("a fragment was just ensured");
            let n = (frag_size - frag.len as usize).min(rest.len());
            frag.sink.write_all(&rest[..n])?;
            frag.len += n as u64;
            frag.crcs.feed(&rest[..n]);
            let full = frag.len as usize == frag_size;
            rest = &rest[n..];
            pos += n as u64;
            if full {
                self.seal()?;
            }
        }
        Ok(())
    }

    /// Starts a fragment at image offset `offset`.
    fn new_fragment(&mut self, offset: u64) -> Result<Fragment> {
        let key = self.image.keys().fragment(self.next_fragment, &self.token, &self.committed.incarnation);
        self.next_fragment += 1;
        let ctx = self.image.ctx();
        // Writes bypass the page cache only with their buffers paid for;
        // when the budget is spent they go through the page cache instead
        // (which needs no buffer of ours) rather than wait.
        let direct = ctx.store.capability().direct_writes;
        let staging = if direct { ctx.budget.try_acquire(FragmentWriter::DIRECT_MEMORY) } else { None };
        let rt = staging.as_ref().map(|_| &ctx.rt);
        let mut lent = None;
        let sink = ctx.store.fragment_writer(&key, rt, || {
            let (vec, permit) = ctx.block_on(ctx.budget.buffer(ctx.fragment_size)).into_parts();
            lent = Some(permit);
            vec
        })?;
        let paid = staging.or(lent);
        Ok(Fragment { offset, len: 0, sink, paid, crcs: ChunkSums::new(CHUNK_SIZE as usize) })
    }

    /// Hands the current fragment to a task that makes it durable.
    fn seal(&mut self) -> Result<()> {
        let Some(frag) = self.current.take() else { return Ok(()) };
        let Fragment { offset, len, sink, paid, crcs } = frag;
        let key = sink.key().to_string();
        let budget = self.image.ctx().budget.clone();
        // A buffer the storage gave back serves the next fragment.
        let recycle = move |back: Option<Vec<u8>>, paid: Option<BudgetPermit>| {
            if let (Some(vec), Some(permit)) = (back, paid) {
                budget.recycle(Buffer::from_parts(vec, permit));
            }
        };
        if len == 0 {
            // Never referenced: what was made for it goes now.
            recycle(self.image.ctx().block_on(sink.abandon()), paid);
            return Ok(());
        }
        self.extents.push(Extent {
            offset,
            length: len,
            object_offset: 0,
            object: ObjectRef {
                lsu: None,
                key: key.clone(),
                size: len,
                chunk_size: CHUNK_SIZE,
                crcs: crcs.finish(),
                version: None,
            },
        });
        let slot = self
            .image
            .ctx()
            .block_on(self.in_flight.clone().acquire_owned())
            .map_err(|_| EngineError::Internal("upload slots closed".into()))?;
        self.uploads.retain(|h| !h.is_finished());
        self.check_failure()?;
        let failure = self.failure.clone();
        self.uploads.push(self.image.ctx().rt.spawn(async move {
            let (result, back) = sink.finish().await;
            recycle(back, paid);
            drop(slot);
            if let Err(e) = result {
                tracing::error!(fragment = %key, error = %e, "fragment upload failed");
                Self::record_failure(&failure, e.into());
            }
        }));
        Ok(())
    }

    /// Adds `len` bytes of `source` from offset `from` at offset `to` of
    /// this image, by reference: no byte is read or written, whatever the
    /// length. The source must be a complete image of the same server.
    /// Holes of the source stay holes. Returns `len`.
    pub fn include(&mut self, source: &ImageReader, from: u64, to: u64, len: u64) -> Result<u64> {
        self.check_failure()?;
        if ![from, to, len].iter().all(|v| v.is_multiple_of(BLOCK_SIZE)) {
            return Err(EngineError::invalid(format!(
                "include of {len} bytes from {from} to {to}: offsets and length must be multiples of {BLOCK_SIZE}"
            )));
        }
        let src_end = from.checked_add(len).filter(|e| *e <= source.size()).ok_or_else(|| {
            EngineError::invalid(format!(
                "include of {len} bytes from {from}: the source {} has {} bytes",
                source.image().def(),
                source.size()
            ))
        })?;
        let end = to.checked_add(len).filter(|e| *e <= MAX_IMAGE_SIZE).ok_or_else(|| {
            EngineError::invalid(format!("include at {to}: images are limited to {MAX_IMAGE_SIZE} bytes"))
        })?;
        let ctx = self.image.ctx().clone();
        let src_ctx = source.image().ctx().clone();
        if !ctx.same_server(&src_ctx) {
            return Err(EngineError::invalid(
                "the source image is on another storage server: its bytes must be copied",
            ));
        }
        if Arc::ptr_eq(&ctx, &src_ctx) && source.image().keys().root() == self.image.keys().root() {
            return Err(EngineError::invalid("an image cannot include itself"));
        }
        // Written bytes before the include must stay under it in the map.
        self.seal().inspect_err(|e| Self::record_failure(&self.failure, e.clone()))?;
        let src_lsu = src_ctx.name.as_str();
        let runs = source.runs(from, src_end);
        let mut owners: Vec<Owner> = Vec::new();
        for (_, _, obj, _) in &runs {
            Owner::of(obj, src_lsu)
                .ok_or_else(|| EngineError::Integrity(format!("object {} is not an image fragment", obj.key)))?
                .add_to(&mut owners);
        }
        let at = match self
            .sources
            .iter()
            .position(|u| Arc::ptr_eq(&u.ctx, &src_ctx) && &u.def == source.image().def() && u.seq == source.seq())
        {
            Some(at) => at,
            None => {
                self.sources.push(SourceUse {
                    ctx: src_ctx.clone(),
                    def: source.image().def().clone(),
                    seq: source.seq(),
                    owners: Vec::new(),
                    marked_at: std::time::Instant::now(),
                });
                self.sources.len() - 1
            }
        };
        let use_ = &mut self.sources[at];
        owners.retain(|o| !use_.owners.contains(o));
        if !owners.is_empty() {
            ctx.block_on(use_.mark_and_check(&owners, ctx.name.as_str(), self.image.def()))?;
            use_.owners.extend(owners);
        }
        for (start, n, obj, object_offset) in runs {
            let owning = obj.lsu.as_deref().unwrap_or(src_lsu);
            let object = ObjectRef { lsu: (owning != ctx.name.as_str()).then(|| owning.to_string()), ..(*obj).clone() };
            self.push_extent(Extent { offset: to + (start - from), length: n, object_offset, object });
        }
        self.size = self.size.max(end);
        Ok(len)
    }

    /// Appends an extent, merged into the last one when it continues it
    /// (a copy made in small steps stays one extent per fragment).
    fn push_extent(&mut self, e: Extent) {
        if let Some(last) = self.extents.last_mut()
            && last.object.key == e.object.key
            && last.object.lsu == e.object.lsu
            && last.offset + last.length == e.offset
            && last.object_offset + last.length == e.object_offset
        {
            last.length += e.length;
            return;
        }
        self.extents.push(e);
    }

    /// Stores the metadata given since the last commit while the last
    /// fragment is on its way: the commit that follows records it.
    fn store_meta(&mut self) -> Result<()> {
        self.meta_stored |= self
            .image
            .ctx()
            .block_on(self.image.store_unstored_meta())
            .inspect_err(|e| Self::record_failure(&self.failure, e.clone()))?;
        Ok(())
    }

    /// Waits for every upload under way.
    fn wait_uploads(&mut self) -> Result<()> {
        for handle in std::mem::take(&mut self.uploads) {
            if let Err(e) = self.image.ctx().block_on(handle) {
                Self::record_failure(&self.failure, EngineError::Internal(format!("upload task failed: {e}")));
            }
        }
        self.check_failure()
    }

    /// Stores every buffered byte and commits them as a checkpoint: after a
    /// crash, the image resumes from here.
    pub fn flush(&mut self) -> Result<()> {
        self.check_failure()?;
        self.seal().inspect_err(|e| Self::record_failure(&self.failure, e.clone()))?;
        self.store_meta()?;
        self.wait_uploads()?;
        let superseded = self.commit(ImageState::Pending)?;
        let ctx = self.image.ctx();
        ctx.block_on(crate::commit::CommitLog::new(ctx, self.image.keys()).retire(superseded));
        Ok(())
    }

    /// Closes the image: complete (never writable again) or checkpointed
    /// (reopen with `open_for_write` to append). On error the image keeps
    /// its last committed state.
    pub fn close(self, complete: bool) -> Result<()> {
        self.finish(complete, None).map(drop)
    }

    /// Closes the image complete, optionally after checking that what was
    /// stored is, byte for byte, a stream whose CRC32C is `crc` (the image
    /// must then have been written sequentially from offset 0, as a copy
    /// writes it). Returns the commit made.
    pub(crate) fn close_complete(self, crc: Option<u32>) -> Result<Manifest> {
        self.finish(true, crc)
    }

    fn finish(mut self, complete: bool, expect_crc: Option<u32>) -> Result<Manifest> {
        self.check_failure()?;
        self.seal()?;
        self.store_meta()?;
        self.wait_uploads()?;
        if let Some(want) = expect_crc {
            let got = self.stream_crc()?;
            if got != want {
                return Err(EngineError::Integrity(format!(
                    "image {}: the stored checksums ({got:08x}) do not match the bytes sent ({want:08x})",
                    self.image.def()
                )));
            }
        }
        let state = if complete { ImageState::Created } else { ImageState::Pending };
        let superseded = self.commit(state)?;
        let ctx = self.image.ctx().clone();
        ctx.block_on(async {
            if complete {
                crate::worm::lock_by_default(&ctx, self.image.def()).await;
            }
            // The record superseded goes while the event is stored: one
            // round trip for both.
            let log = crate::commit::CommitLog::new(&ctx, self.image.keys());
            let remove = log.retire(superseded);
            if complete {
                let kind = crate::events::EventKind::ImageCreated;
                tokio::join!(remove, crate::events::post_image(&ctx, kind, &self.committed, None));
            } else {
                remove.await;
            }
        });
        tracing::info!(
            lsu = self.image.lsu(), image = %self.image.def(), size = self.size, complete, "closed image after writing"
        );
        Ok(self.committed)
    }

    /// The CRC32C of the whole image, combined from the checksums of its
    /// fragments; only for an image stored as consecutive whole fragments.
    fn stream_crc(&self) -> Result<u32> {
        let mut crc = 0u32;
        let mut at = 0u64;
        for e in &self.extents {
            let o = &e.object;
            if e.offset != at || e.object_offset != 0 || e.length != o.size {
                return Err(EngineError::Internal("a streamed copy is not stored as consecutive fragments".into()));
            }
            for (i, chunk_crc) in o.crcs.iter().enumerate() {
                let len = (o.size - i as u64 * o.chunk_size).min(o.chunk_size);
                crc = crc32c::crc32c_combine(crc, *chunk_crc, len as usize);
            }
            at += e.length;
        }
        Ok(crc)
    }

    /// Commits what was written as `state`; returns the number of the
    /// record it supersedes, which the caller removes.
    fn commit(&mut self, state: ImageState) -> Result<u64> {
        let ctx = self.image.ctx().clone();
        for source in &mut self.sources {
            ctx.block_on(source.renew_if_old(ctx.grace_secs, ctx.name.as_str(), self.image.def()))?;
        }
        self.extents = crate::extents::compact(&self.extents);
        let (token, size, meta, extents) = (self.token.clone(), self.size, self.image.has_meta(), self.extents.clone());
        let log = crate::commit::CommitLog::new(self.image.ctx(), self.image.keys());
        let change = |next: &mut Manifest| {
            next.session = token;
            next.state = state;
            next.size = size;
            next.meta |= meta;
            next.extents = extents;
        };
        let Some(next) = ctx.block_on(log.append(&self.committed, change))? else {
            if std::mem::take(&mut self.meta_stored) {
                // Deleted meanwhile: its metadata goes too (`unless_gone`
                // says so with an error, the expected outcome; any other
                // leaves the metadata to the reclaimer).
                match ctx.block_on(self.image.unless_gone()) {
                    Ok(()) | Err(EngineError::NoSuchImage(_)) => {}
                    Err(e) => tracing::warn!(
                        lsu = %ctx.name, image = %self.image.def(), error = %e,
                        "the metadata of a writer that lost its commit was not taken back: left to the reclaimer"
                    ),
                }
            }
            return Err(EngineError::Busy {
                image: self.image.def().to_string(),
                reason: "another writer or a delete changed it since it was opened",
            });
        };
        let superseded = self.committed.seq;
        self.meta_stored = false;
        self.image.committed(next.seq);
        self.committed = next;
        Ok(superseded)
    }
}
