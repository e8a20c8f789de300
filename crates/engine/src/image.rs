//! An image as this process sees it: what it tells about itself
//! ([`ImageInfo`]) and what its writer and reader share while it is open
//! ([`OpenImage`]: its LSU, keys, open guard and metadata). Below the
//! reader and writer; must not call them or the LSU facade.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::commit::{latest_record, record_meta};
use crate::ctx::{LsuCtx, MAX_META_SIZE};
use crate::error::{EngineError, Result};
use crate::layout::ImageKeys;
use crate::manifest::{ImageState, Manifest};
use crate::meta::{Expected, end_of, read_meta, write_meta};
use crate::names::ImageDef;
use crate::open_images::{Busy, OpenGuard};

/// What an image tells about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// Its identity.
    pub def: ImageDef,
    /// The LSU holding it.
    pub lsu: String,
    /// Its life-cycle state (never `Deleted` here).
    pub state: ImageState,
    /// Logical size in bytes.
    pub size: u64,
    /// Seconds since the epoch when it was created.
    pub created: u64,
    /// Seconds since the epoch of its last commit.
    pub updated: u64,
    /// Who has it open in this process.
    pub busy: Busy,
    /// Why the image cannot be read, when it cannot; `state`, `size` and
    /// the times are then unknown (pending, 0).
    pub unreadable: Option<Unreadable>,
    /// Its WORM lock, once set.
    pub lock: Option<crate::retention::ImageLock>,
}

/// Why a listed image cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// Its commit records are damaged or lost.
    Damaged(String),
    /// Its newest commit record is intact but of a format newer than this
    /// plugin reads (see `format`): a newer plugin's, not damage.
    NewerFormat {
        /// That format.
        found: u32,
        /// The message that says so.
        why: String,
    },
}

impl ImageInfo {
    pub(crate) fn unreadable(def: ImageDef, lsu: &str, why: Unreadable) -> Self {
        ImageInfo {
            def,
            lsu: lsu.to_string(),
            state: ImageState::Pending,
            size: 0,
            created: 0,
            updated: 0,
            busy: Busy::default(),
            unreadable: Some(why),
            lock: None,
        }
    }
}

/// An image open in this process: what its writer and reader share.
#[derive(Debug)]
pub struct OpenImage {
    ctx: Arc<LsuCtx>,
    def: ImageDef,
    keys: ImageKeys,
    guard: OpenGuard,
    /// The image has metadata: its commit says so, or it was written since
    /// it was opened (a writer records that at its next commit).
    has_meta: AtomicBool,
    /// The life of the image this handle opened (`Manifest::incarnation`).
    incarnation: String,
    /// The version of its metadata that a locked record pins.
    meta_version: Option<String>,
    /// The number of the record this handle opened, or last committed.
    seq: AtomicU64,
    /// The whole metadata a writer was given and has not stored yet: it is
    /// stored at the writer's next commit, at the same time as its last
    /// data, and that commit both records it and proves the image was not
    /// deleted meanwhile (two round trips before the data saved on every
    /// backup that writes metadata).
    unstored_meta: Mutex<Option<Vec<u8>>>,
}

impl OpenImage {
    pub(crate) fn new(ctx: Arc<LsuCtx>, def: ImageDef, keys: ImageKeys, guard: OpenGuard, m: &Manifest) -> Self {
        OpenImage {
            ctx,
            def,
            keys,
            guard,
            has_meta: AtomicBool::new(m.meta),
            incarnation: m.incarnation.clone(),
            meta_version: m.meta_version.clone(),
            seq: AtomicU64::new(m.seq),
            unstored_meta: Mutex::new(None),
        }
    }

    /// A writer committed record `seq`.
    pub(crate) fn committed(&self, seq: u64) {
        self.seq.store(seq, Ordering::SeqCst);
    }

    fn expected(&self) -> Expected<'_> {
        Expected { has_meta: self.has_meta(), incarnation: &self.incarnation, version: self.meta_version.as_deref() }
    }

    /// Whether the image has metadata that its next commit must record.
    pub(crate) fn has_meta(&self) -> bool {
        self.has_meta.load(Ordering::SeqCst)
    }

    pub(crate) fn ctx(&self) -> &Arc<LsuCtx> {
        &self.ctx
    }

    pub(crate) fn keys(&self) -> &ImageKeys {
        &self.keys
    }

    /// The image.
    pub fn def(&self) -> &ImageDef {
        &self.def
    }

    /// The LSU holding it.
    pub fn lsu(&self) -> &str {
        self.ctx.name.as_str()
    }

    /// Writes the image's metadata: allowed at any time, in any open mode.
    /// A writer keeps it until its next commit (see `unstored_meta`). The
    /// first write to a complete image (open for reading: no writer will
    /// commit again) is stored at once and recorded in a commit of its own,
    /// so that the metadata's later loss is seen as damage.
    pub fn write_meta(&self, data: &[u8], offset: u64) -> Result<()> {
        if self.guard.is_writer() {
            let end = end_of(data, offset)? as usize;
            // What is stored already, when an earlier session wrote some
            // (not asked for otherwise: a round trip less).
            let unread = self.has_meta() && self.unstored_meta.lock().unwrap_or_else(|p| p.into_inner()).is_none();
            let stored = match unread {
                true => Some(self.ctx.block_on(read_meta(
                    &self.ctx,
                    &self.def,
                    0,
                    MAX_META_SIZE as usize,
                    self.expected(),
                ))?),
                false => None,
            };
            let mut unstored = self.unstored_meta.lock().unwrap_or_else(|p| p.into_inner());
            let meta = unstored.get_or_insert_with(|| stored.unwrap_or_default());
            if meta.len() < end {
                meta.resize(end, 0);
            }
            meta[offset as usize..end].copy_from_slice(data);
            return Ok(());
        }
        self.ctx.block_on(async {
            // A complete image may be locked (WORM): then it is immutable.
            if let Some(m) = latest_record(&self.ctx.store, &self.keys).await? {
                crate::worm::check_unlocked(&self.def, &m)?;
            }
            write_meta(&self.ctx, &self.def, data, offset, self.expected()).await?;
            self.unless_gone().await?;
            if !self.has_meta.swap(true, Ordering::SeqCst) {
                record_meta(&self.ctx, &self.keys, &self.def, &self.incarnation).await?;
            }
            Ok(())
        })
    }

    /// Stores the metadata a writer was given since its last commit, if
    /// any; returns whether it did. Its next commit records it.
    pub(crate) async fn store_unstored_meta(&self) -> Result<bool> {
        let Some(meta) = self.unstored_meta.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(false);
        };
        write_meta(&self.ctx, &self.def, &meta, 0, self.expected()).await?;
        self.has_meta.store(true, Ordering::SeqCst);
        Ok(true)
    }

    /// After metadata was stored for an image that may have been deleted
    /// meanwhile: takes it back when the image is gone, so that no
    /// metadata outlives its image, and says so.
    pub(crate) async fn unless_gone(&self) -> Result<()> {
        let gone = || EngineError::NoSuchImage(format!("{} (deleted while open)", self.def));
        match latest_record(&self.ctx.store, &self.keys).await? {
            Some(m) if m.state != ImageState::Deleted && self.expected().same_life(&m.incarnation) => Ok(()),
            // Another image of that name now: its metadata is not ours to remove.
            Some(m) if m.state != ImageState::Deleted => Err(gone()),
            _ => {
                self.ctx.store.delete(&self.keys.meta()).await?;
                Err(gone())
            }
        }
    }

    /// Reads the image's metadata (for a writer, as it was given).
    pub fn read_meta(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        if let Some(meta) = self.unstored_meta.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let start = (offset.min(meta.len() as u64)) as usize;
            return Ok(meta[start..start.saturating_add(len).min(meta.len())].to_vec());
        }
        self.ctx.block_on(read_meta(&self.ctx, &self.def, offset, len, self.expected()))
    }

    pub(crate) fn info(&self, m: &Manifest, size: u64) -> ImageInfo {
        ImageInfo {
            def: self.def.clone(),
            lsu: self.lsu().to_string(),
            state: m.state,
            size,
            created: m.created,
            updated: m.updated,
            busy: self.ctx.open.busy(self.keys.root()),
            unreadable: None,
            lock: m.lock,
        }
    }
}
