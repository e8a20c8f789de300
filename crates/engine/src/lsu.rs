//! The LSU facade: what NetBackup does to an LSU (create, open, list and
//! delete images; properties and label; reclaim; events), each a few lines
//! over the commit log (`commit`), the pipelines (`reader`, `writer`),
//! metadata, references and the reclaimer. It owns no state beyond its
//! [`LsuCtx`](crate::ctx::LsuCtx); it must not reach the server or other
//! LSUs except through that context.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use vastost_storage::ErrorKind as StorageKind;

use crate::commit::{CommitLog, Latest, find_latest, latest_record, record_meta, same_image};
use crate::ctx::{LsuCtx, now};
use crate::error::{EngineError, Result};
use crate::events::StoredEvent;
use crate::image::{ImageInfo, OpenImage, Unreadable};
use crate::layout::{self, ImageKeys, LAYOUT_VERSION};
use crate::manifest::{ImageState, Manifest};
use crate::meta::{Expected, read_meta, write_meta};
use crate::names::ImageDef;
use crate::open_images::OpenGuard;
use crate::reader::ImageReader;
use crate::reclaim::{PassBound, Policy, ReclaimReport, reclaim_image, reclaim_lsu};
use crate::refs::Owner;
use crate::writer::ImageWriter;

/// What an LSU tells about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsuInfo {
    /// Its name.
    pub name: String,
    /// Bytes it can hold.
    pub capacity: u64,
    /// Bytes in use.
    pub used: u64,
    /// Bytes still free.
    pub available: u64,
    /// The label given by `label_lsu`, if any.
    pub label: Option<String>,
    /// Where it is, for people.
    pub location: String,
    /// Whether the storage refuses to create an object that exists, which
    /// keeps concurrent writers from overwriting each other's commits
    /// (`None`: it could not be probed).
    pub conditional_writes: Option<bool>,
    /// With `conditional_writes` false: whether the configuration accepts
    /// it (`allow_unconditional_writes`: one media server writes).
    pub unconditional_allowed: bool,
    /// Its WORM policy, when its images can be locked.
    pub worm: Option<crate::retention::WormPolicy>,
    /// How long the storage locks every new object by default (an S3
    /// view's default retention), in seconds.
    pub default_lock_secs: Option<u64>,
    /// Whether that is a bucket apart from the LSU's (`bookkeeping_bucket`),
    /// out of reach of the LSU's default retention.
    pub bookkeeping_apart: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LsuRecord {
    layout: u32,
    label: Option<String>,
}

/// An LSU: a folder of the data directory (NFS) or a bucket (S3).
#[derive(Debug, Clone)]
pub struct Lsu {
    pub(crate) ctx: Arc<LsuCtx>,
}

impl Lsu {
    pub(crate) fn new(ctx: Arc<LsuCtx>) -> Self {
        Lsu { ctx }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.ctx.name.as_str()
    }

    /// Capacity, use and label.
    pub fn info(&self) -> Result<LsuInfo> {
        let cap = match (&self.ctx.vms, self.ctx.store.capacity()?) {
            (Some((vms, _)), _) => self.vms_capacity(vms)?,
            (None, Some(cap)) => cap,
            (None, None) => vastost_storage::Capacity { total: 0, used: 0, available: 0 },
        };
        let record = self.record()?;
        let (commits, default_lock_secs) =
            self.ctx.block_on(async { tokio::join!(self.ctx.commits(), self.ctx.default_lock_secs()) });
        Ok(LsuInfo {
            name: self.name().to_string(),
            capacity: cap.total,
            used: cap.used,
            available: cap.available,
            label: record.label,
            location: self.ctx.store.describe(),
            conditional_writes: commits.conditional(),
            unconditional_allowed: commits.accepted_risk(),
            worm: self.ctx.worm,
            default_lock_secs,
            bookkeeping_apart: self.ctx.books.is_apart(),
        })
    }

    /// Capacity from the quota on the bucket's view, else the cluster's.
    fn vms_capacity(&self, vms: &vastost_vms::VmsClient) -> Result<vastost_storage::Capacity> {
        let cap = self.ctx.block_on(async {
            let quota = match vms.bucket_view(self.name()).await? {
                Some(view) => vms.quotas(&view.path).await?.into_iter().find(|q| q.hard_limit.unwrap_or(0) > 0),
                None => None,
            };
            Ok::<_, vastost_vms::VmsError>(match quota {
                Some(q) => {
                    let total = q.hard_limit.unwrap_or(0);
                    let available = total.saturating_sub(q.used_capacity);
                    vastost_storage::Capacity { total, used: q.used_capacity, available }
                }
                None => {
                    let c = vms.cluster().await?;
                    vastost_storage::Capacity {
                        total: c.usable_capacity_bytes,
                        used: c.logical_space_in_use,
                        available: c.free_usable_capacity,
                    }
                }
            })
        })?;
        Ok(cap)
    }

    fn record(&self) -> Result<LsuRecord> {
        match self.ctx.block_on(self.ctx.books.get(layout::LSU_LABEL)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| EngineError::Integrity(format!("LSU record {}: {e}", layout::LSU_LABEL))),
            Err(e) if e.kind == StorageKind::NotFound => Ok(LsuRecord::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets the LSU's label (any text up to 255 bytes, no control characters).
    pub fn label(&self, label: &str) -> Result<()> {
        if label.len() > 255 || label.chars().any(char::is_control) {
            return Err(EngineError::invalid("an LSU label is at most 255 bytes without control characters"));
        }
        let record = LsuRecord { layout: LAYOUT_VERSION, label: Some(label.to_string()) };
        let bytes = serde_json::to_vec(&record).expect("record serializes");
        self.ctx.block_on(self.ctx.books.put(layout::LSU_LABEL, Bytes::from(bytes)))?;
        tracing::info!(target: "audit", lsu = self.name(), label, "labelled LSU");
        Ok(())
    }

    fn open_writer(&self, def: &ImageDef, keys: &ImageKeys) -> Result<OpenGuard> {
        self.ctx.open.open_writer(keys.root()).ok_or_else(|| EngineError::Busy {
            image: def.to_string(),
            reason: "it is being written by another handle",
        })
    }

    /// Creates a new image, open for writing.
    pub fn create_image(&self, def: &ImageDef) -> Result<ImageWriter> {
        let keys = ImageKeys::new(def);
        let guard = self.open_writer(def, &keys)?;
        let mut manifest = Manifest::new(def.basename(), def.date(), now());
        // A folder that lost its records is damage to report, not a free
        // name to write over.
        self.ctx.block_on(async {
            let latest = crate::commit::find_latest_of_new(&self.ctx.store, &keys).await?;
            match latest.record(&keys, def)?.map(|m| same_image(m, def)).transpose()? {
                Some(m) if m.state != ImageState::Deleted => return Err(EngineError::ImageExists(def.to_string())),
                Some(tombstone) => manifest.seq = tombstone.seq + 1,
                None => {}
            }
            if !CommitLog::new(&self.ctx, &keys).create(&manifest).await? {
                return Err(EngineError::ImageExists(def.to_string()));
            }
            Ok(())
        })?;
        tracing::info!(target: "audit", lsu = self.name(), image = %def, "created image");
        Ok(ImageWriter::new(OpenImage::new(self.ctx.clone(), def.clone(), keys, guard, &manifest), manifest))
    }

    /// Reopens a checkpointed (pending) image to append to it.
    pub fn open_for_write(&self, def: &ImageDef) -> Result<ImageWriter> {
        let keys = ImageKeys::new(def);
        let guard = self.open_writer(def, &keys)?;
        let manifest = self.visible(&keys, def)?;
        if manifest.state == ImageState::Created {
            return Err(EngineError::WrongState {
                image: def.to_string(),
                reason: "it is complete and cannot be written",
            });
        }
        Ok(ImageWriter::new(OpenImage::new(self.ctx.clone(), def.clone(), keys, guard, &manifest), manifest))
    }

    /// Opens a complete image for reading.
    pub fn open_for_read(&self, def: &ImageDef) -> Result<ImageReader> {
        let keys = ImageKeys::new(def);
        let manifest = self.visible(&keys, def)?;
        if manifest.state != ImageState::Created {
            return Err(EngineError::WrongState { image: def.to_string(), reason: "it is not complete" });
        }
        let guard = self.ctx.open.open_reader(keys.root());
        ImageReader::new(OpenImage::new(self.ctx.clone(), def.clone(), keys, guard, &manifest), manifest)
    }

    /// The newest commit of visible image `def` (see `commit::visible`).
    fn visible(&self, keys: &ImageKeys, def: &ImageDef) -> Result<Manifest> {
        self.ctx.block_on(crate::commit::visible(&self.ctx.store, keys, def))
    }

    /// Properties of one image.
    pub fn image_info(&self, def: &ImageDef) -> Result<ImageInfo> {
        let keys = ImageKeys::new(def);
        let m = self.visible(&keys, def)?;
        Ok(self.info_of(def.clone(), &keys, &m))
    }

    fn info_of(&self, def: ImageDef, keys: &ImageKeys, m: &Manifest) -> ImageInfo {
        ImageInfo {
            def,
            lsu: self.name().to_string(),
            state: m.state,
            size: m.size,
            created: m.created,
            updated: m.updated,
            busy: self.ctx.open.busy(keys.root()),
            unreadable: None,
            lock: m.lock,
        }
    }

    /// Locks a complete image until `until` (seconds since the epoch), or
    /// extends its lock, with the LSU's WORM mode; see `worm`.
    pub fn lock_image(&self, def: &ImageDef, until: u64) -> Result<crate::retention::ImageLock> {
        self.ctx.block_on(crate::worm::lock_image(&self.ctx, def, until))
    }

    /// What was written into the folder of a locked image behind its lock
    /// (nothing when no lock holds); restores ignore it.
    pub fn tampered(&self, def: &ImageDef) -> Result<Vec<crate::tamper::Tampered>> {
        self.ctx.block_on(crate::tamper::find(&self.ctx.store, &ImageKeys::new(def)))
    }

    /// Removes what [`Lsu::tampered`] finds, as far as the keys allow.
    pub fn remove_tampered(&self, def: &ImageDef) -> Result<crate::tamper::Cleanup> {
        let found = self.tampered(def)?;
        Ok(self.ctx.block_on(crate::tamper::remove(&self.ctx.store, found)))
    }

    /// The formats written to the LSU, as its markers say (see `format`).
    pub fn formats(&self) -> Result<crate::format::LsuFormats> {
        self.ctx.block_on(crate::format::read(&self.ctx.books))
    }

    /// The LSU's audit records (lock releases), oldest first; see `audit`.
    pub fn audit(&self) -> Result<Vec<crate::audit::AuditRecord>> {
        self.ctx.block_on(crate::audit::list(&self.ctx.store))
    }

    /// Lifts an image's governance lock before it expires (privileged,
    /// audited with `who`); see `worm`.
    pub fn release_lock(&self, def: &ImageDef, who: &str) -> Result<()> {
        self.ctx.block_on(crate::worm::release_lock(&self.ctx, def, who))
    }

    /// What a listing shows of the image folder `keys`: the image, the
    /// image marked unreadable, or nothing (deleted, or gone meanwhile). An
    /// image whose commit records cannot be read is listed with the reason
    /// in [`ImageInfo::unreadable`]: damage is reported, never hidden, and
    /// an image of a newer plugin is listed as such, not as damage.
    pub(crate) async fn listed(&self, keys: &ImageKeys) -> Result<Option<ImageInfo>> {
        let why = match find_latest(&self.ctx.store, keys).await {
            Ok(Latest::Record(m)) if m.state == ImageState::Deleted => return Ok(None),
            // The names come from the manifest; they must lead back here.
            Ok(Latest::Record(m)) => match ImageDef::new(&m.basename, &m.date) {
                Ok(def) if ImageKeys::new(&def).root() == keys.root() => return Ok(Some(self.info_of(def, keys, &m))),
                _ => Unreadable::Damaged(format!(
                    "commit record of {} names another image ({}/{})",
                    keys.root(),
                    m.basename,
                    m.date
                )),
            },
            Ok(Latest::Nothing) => return Ok(None),
            Ok(Latest::Lost(found)) => {
                Unreadable::Damaged(format!("no commit record in {} although {found} is stored", keys.manifest_dir()))
            }
            Err(EngineError::Integrity(why)) => Unreadable::Damaged(why),
            Err(e @ EngineError::NewerFormat { found, .. }) => Unreadable::NewerFormat { found, why: e.to_string() },
            Err(e) => return Err(e),
        };
        match &why {
            Unreadable::Damaged(d) => {
                tracing::error!(lsu = self.name(), image = keys.root(), "damaged image listed: {d}")
            }
            Unreadable::NewerFormat { why, .. } => {
                tracing::warn!(lsu = self.name(), image = keys.root(), "image of a newer plugin listed: {why}")
            }
        }
        match keys.def_from_folder() {
            Some(def) => Ok(Some(ImageInfo::unreadable(def, self.name(), why))),
            None => {
                tracing::error!(lsu = self.name(), image = keys.root(), "its folder name is not an image name");
                Ok(None)
            }
        }
    }

    /// Deletes an image. It vanishes at once (a tombstone commit); its
    /// data goes now if no other image references it, else when the last
    /// one that does is deleted (see `reclaim`).
    pub fn delete_image(&self, def: &ImageDef) -> Result<()> {
        self.ctx.block_on(async {
            let (keys, m) = self.tombstone(def).await?;
            self.free_deleted(def, &keys, &m).await;
            Ok(())
        })
    }

    /// Deletes an image as [`Lsu::delete_image`] does, but frees its space
    /// in the background: the image is gone when this returns (and errors
    /// that keep it from going are returned); what is not freed when the
    /// plugin stops is left to the reclaimer.
    pub fn delete_image_in_background(&self, def: &ImageDef) -> Result<()> {
        let (keys, m) = self.ctx.block_on(self.tombstone(def))?;
        let (lsu, def) = (self.clone(), def.clone());
        drop(self.ctx.rt.spawn(async move { lsu.free_deleted(&def, &keys, &m).await }));
        Ok(())
    }

    /// Writes the tombstone of a visible image: it vanishes at once.
    async fn tombstone(&self, def: &ImageDef) -> Result<(ImageKeys, Manifest)> {
        let keys = ImageKeys::new(def);
        let m = crate::commit::visible(&self.ctx.store, &keys, def).await?;
        crate::worm::check_unlocked(def, &m)?;
        if CommitLog::new(&self.ctx, &keys).append(&m, |t| t.state = ImageState::Deleted).await?.is_none() {
            return Err(EngineError::Busy { image: def.to_string(), reason: "it changed while being deleted" });
        }
        tracing::info!(target: "audit", lsu = self.name(), image = %def, size = m.size, "deleted image");
        crate::events::post_image(&self.ctx, crate::events::EventKind::ImageDeleted, &m, None).await;
        Ok((keys, m))
    }

    /// Frees the space of deleted image `m`, and of the deleted images
    /// whose data it kept alive. The image is gone whatever happens here: a
    /// failure is logged and left to the reclaimer.
    async fn free_deleted(&self, def: &ImageDef, keys: &ImageKeys, m: &Manifest) {
        let policy = Policy::of(&self.ctx);
        let mut report = ReclaimReport::default();
        if let Err(e) = reclaim_image(&self.ctx, keys, policy, &mut report).await {
            tracing::warn!(lsu = self.name(), image = %def, error = %e, "space of the deleted image not freed yet");
        }
        // Deleted images whose data this one kept alive may go now.
        let myself = Owner { lsu: self.name().to_string(), keys: keys.clone() };
        let mut owners: Vec<Owner> = Vec::new();
        for owner in m.extents.iter().filter_map(|e| Owner::of(&e.object, self.name())) {
            if owner != myself {
                owner.add_to(&mut owners);
            }
        }
        for Owner { lsu, keys: owner } in owners {
            let freed = async {
                let ctx = self.ctx.sibling(&lsu).await?;
                match latest_record(&ctx.store, &owner).await? {
                    Some(o) if o.state != ImageState::Deleted => Ok(()),
                    _ => reclaim_image(&ctx, &owner, policy, &mut report).await,
                }
            }
            .await;
            if let Err(e) = freed {
                tracing::warn!(lsu, image = owner.root(), error = %e, "space of a referenced image not freed yet");
            }
        }
    }

    /// Frees what deleted images and crashed sessions left behind (see
    /// `reclaim`), going on where the last run stopped, up to `bound`;
    /// `grace` overrides the configured grace period and `abandon_secs` the
    /// age at which pending images are abandoned.
    pub fn reclaim(
        &self,
        grace: Option<u64>,
        abandon_secs: Option<u64>,
        event_hours: u64,
        bound: PassBound,
    ) -> Result<ReclaimReport> {
        let mut policy = Policy::of(&self.ctx);
        policy.grace_secs = grace.unwrap_or(policy.grace_secs);
        policy.abandon_secs = abandon_secs.unwrap_or(policy.abandon_secs);
        self.ctx.block_on(reclaim_lsu(&self.ctx, policy, event_hours, bound))
    }

    /// The LSU's events, oldest first.
    pub fn events(&self) -> Result<Vec<StoredEvent>> {
        self.ctx.block_on(crate::events::list(&self.ctx))
    }

    /// Deletes event `key` of this LSU.
    pub fn delete_event(&self, key: &str) -> Result<()> {
        self.ctx.block_on(crate::events::delete(&self.ctx, key))
    }

    /// Whether both LSUs belong to one open server.
    pub fn same_server(&self, other: &Lsu) -> bool {
        self.ctx.same_server(&other.ctx)
    }

    /// Writes `data` at `offset` of the metadata of a complete image,
    /// growing it as needed, and records in its commit that it has some.
    pub fn write_meta(&self, def: &ImageDef, data: &[u8], offset: u64) -> Result<()> {
        let keys = ImageKeys::new(def);
        let m = self.visible(&keys, def)?;
        crate::worm::check_unlocked(def, &m)?;
        let expected = Expected { has_meta: m.meta, incarnation: &m.incarnation, version: None };
        self.ctx.block_on(async {
            write_meta(&self.ctx, def, data, offset, expected).await?;
            record_meta(&self.ctx, &keys, def, &m.incarnation).await
        })
    }

    /// Reads up to `len` bytes of the image's metadata from `offset`.
    pub fn read_meta(&self, def: &ImageDef, offset: u64, len: usize) -> Result<Vec<u8>> {
        let keys = ImageKeys::new(def);
        let m = self.visible(&keys, def)?;
        let expected = Expected { has_meta: m.meta, incarnation: &m.incarnation, version: m.meta_version.as_deref() };
        self.ctx.block_on(read_meta(&self.ctx, def, offset, len, expected))
    }
}
