use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use vastost_storage::{ErrorKind as StorageKind, ObjectStore};

use crate::budget::MemoryBudget;
use crate::commit_probe::Commits;
use crate::error::{EngineError, Result, again_if_damaged};
use crate::events::StoredEvent;
use crate::layout::{self, ImageKeys, LAYOUT_VERSION, parse_manifest_seq};
use crate::manifest::{ImageState, Manifest};
use crate::meta::{Expected, read_meta, write_meta};
use crate::names::{ImageDef, LsuName};
use crate::open_images::{Busy, OpenGuard, OpenImages};
use crate::reader::ImageReader;
use crate::reclaim::{Policy, ReclaimReport, reclaim_image, reclaim_lsu};
use crate::refs::Owner;
use crate::server::ServerShared;
use crate::writer::ImageWriter;

/// Largest image metadata accepted, in bytes.
pub const MAX_META_SIZE: u64 = 16 << 20;

/// What every image of one LSU shares.
#[derive(Debug)]
pub(crate) struct LsuCtx {
    pub name: LsuName,
    pub store: ObjectStore,
    pub rt: tokio::runtime::Handle,
    pub budget: MemoryBudget,
    pub fragment_size: u64,
    pub write_parallelism: usize,
    pub read_ahead: u64,
    pub open: Arc<OpenImages>,
    /// The cluster's VMS, which knows the bucket's quota (S3 data path).
    pub vms: Option<(Arc<vastost_vms::VmsClient>, vastost_vms::Cluster)>,
    /// The server, to reach the other LSUs that images reference.
    pub server: Weak<ServerShared>,
    /// See `ServerConfig::reclaim_grace_secs`.
    pub grace_secs: u64,
    /// See `ServerConfig::abandon_after_hours` (in seconds).
    pub abandon_secs: u64,
    /// Whether the storage makes commits safe (see `commit_probe`).
    pub commits: Commits,
}

impl LsuCtx {
    pub(crate) fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// LSU `name` of the same server (this one included).
    pub(crate) fn sibling(self: &Arc<Self>, name: &str) -> Result<Arc<LsuCtx>> {
        if name == self.name.as_str() {
            return Ok(self.clone());
        }
        let server =
            self.server.upgrade().ok_or_else(|| EngineError::Internal(format!("LSU {name}: its server was closed")))?;
        Ok(server.lsu(name)?.ctx.clone())
    }

    /// Whether both LSUs belong to one open server (an LSU is always on
    /// its own): then images of one may reference data of the other.
    pub(crate) fn same_server(self: &Arc<Self>, other: &Arc<LsuCtx>) -> bool {
        Arc::ptr_eq(self, other) || (self.server.strong_count() > 0 && Weak::ptr_eq(&self.server, &other.server))
    }

    /// The store holding `obj`, an object referenced from this LSU.
    pub(crate) fn store_of(self: &Arc<Self>, obj: &crate::manifest::ObjectRef) -> Result<ObjectStore> {
        match &obj.lsu {
            None => Ok(self.store.clone()),
            Some(lsu) => Ok(self.sibling(lsu)?.store.clone()),
        }
    }
}

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
}

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
    /// Why the image cannot be read, when its commit records are damaged
    /// or lost; `state`, `size` and the times are then unknown (pending, 0).
    pub damage: Option<String>,
}

impl ImageInfo {
    fn damaged(def: ImageDef, lsu: &str, why: String) -> Self {
        ImageInfo {
            def,
            lsu: lsu.to_string(),
            state: ImageState::Pending,
            size: 0,
            created: 0,
            updated: 0,
            busy: Busy::default(),
            damage: Some(why),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LsuRecord {
    layout: u32,
    label: Option<String>,
}

pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
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
}

impl OpenImage {
    pub(crate) fn new(ctx: Arc<LsuCtx>, def: ImageDef, keys: ImageKeys, guard: OpenGuard, m: &Manifest) -> Self {
        OpenImage { ctx, def, keys, guard, has_meta: AtomicBool::new(m.meta), incarnation: m.incarnation.clone() }
    }

    fn expected(&self) -> Expected<'_> {
        Expected { has_meta: self.has_meta(), incarnation: &self.incarnation }
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
    /// The first write to a complete image (open for reading: no writer
    /// will commit again) is recorded in a commit of its own, so that the
    /// metadata's later loss is seen as damage.
    pub fn write_meta(&self, data: &[u8], offset: u64) -> Result<()> {
        write_meta(&self.ctx, &self.def, data, offset, self.expected())?;
        // Written to an image deleted meanwhile: take it back, so that no
        // metadata outlives its image.
        match load_latest(&self.ctx, &self.keys)? {
            Some(m) if m.state != ImageState::Deleted && self.expected().same_life(&m.incarnation) => {}
            // Another image of that name now: its metadata is not ours to remove.
            Some(m) if m.state != ImageState::Deleted => {
                return Err(EngineError::NoSuchImage(format!("{} (deleted while open)", self.def)));
            }
            _ => {
                self.ctx.block_on(self.ctx.store.delete(&self.keys.meta()))?;
                return Err(EngineError::NoSuchImage(format!("{} (deleted while open)", self.def)));
            }
        }
        if !self.has_meta.swap(true, Ordering::SeqCst) && !self.guard.is_writer() {
            record_meta(&self.ctx, &self.keys, &self.def, &self.incarnation)?;
        }
        Ok(())
    }

    /// Reads the image's metadata.
    pub fn read_meta(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        read_meta(&self.ctx, &self.def, offset, len, self.expected())
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
            damage: None,
        }
    }
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

    /// An LSU on any store, for tests of the pipelines.
    #[cfg(test)]
    pub(crate) fn on_store(
        store: ObjectStore,
        rt: tokio::runtime::Handle,
        budget: MemoryBudget,
        fragment_size: u64,
    ) -> Self {
        Lsu::new(Arc::new(LsuCtx {
            name: LsuName::new("test").expect("valid"),
            store,
            rt,
            budget,
            fragment_size,
            write_parallelism: 3,
            read_ahead: 4 * fragment_size,
            open: Arc::new(OpenImages::default()),
            vms: None,
            server: Weak::new(),
            grace_secs: 0,
            abandon_secs: 24 * 3600,
            commits: Commits::Conditional,
        }))
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
        Ok(LsuInfo {
            name: self.name().to_string(),
            capacity: cap.total,
            used: cap.used,
            available: cap.available,
            label: record.label,
            location: self.ctx.store.describe(),
            conditional_writes: self.ctx.commits.conditional(),
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
        match self.ctx.block_on(self.ctx.store.get(layout::LSU_LABEL)) {
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
        self.ctx.block_on(self.ctx.store.put(layout::LSU_LABEL, Bytes::from(bytes)))?;
        tracing::info!(target: "audit", lsu = self.name(), label, "labelled LSU");
        Ok(())
    }

    /// The newest committed manifest of an image, if any.
    pub(crate) fn latest(&self, keys: &ImageKeys) -> Result<Option<Manifest>> {
        load_latest(&self.ctx, keys)
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
        match self.latest(&keys)?.map(|m| same_image(m, def)).transpose()? {
            Some(m) if m.state != ImageState::Deleted => return Err(EngineError::ImageExists(def.to_string())),
            Some(tombstone) => manifest.seq = tombstone.seq + 1,
            // A folder that lost its records is damage to report, not a
            // free name to write over.
            None => no_lost_records(&self.ctx, &keys, def)?,
        }
        let key = keys.manifest(manifest.seq);
        if !put_record(&self.ctx, &key, manifest.encode())? {
            return Err(EngineError::ImageExists(def.to_string()));
        }
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

    fn visible(&self, keys: &ImageKeys, def: &ImageDef) -> Result<Manifest> {
        match self.latest(keys)?.map(|m| same_image(m, def)).transpose()? {
            Some(m) if m.state != ImageState::Deleted => Ok(m),
            Some(_) => Err(EngineError::NoSuchImage(def.to_string())),
            None => {
                no_lost_records(&self.ctx, keys, def)?;
                Err(EngineError::NoSuchImage(def.to_string()))
            }
        }
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
            damage: None,
        }
    }

    /// Every visible image, sorted by basename then date. An image whose
    /// commit records cannot be read is listed too, with the reason in
    /// [`ImageInfo::damage`]: damage is reported, never hidden.
    pub fn list_images(&self) -> Result<Vec<ImageInfo>> {
        let mut out = Vec::new();
        for keys in image_folders(&self.ctx)? {
            let damage = match self.latest(&keys) {
                Ok(Some(m)) if m.state == ImageState::Deleted => continue,
                // The names come from the manifest; they must lead back here.
                Ok(Some(m)) => match ImageDef::new(&m.basename, &m.date) {
                    Ok(def) if ImageKeys::new(&def).root() == keys.root() => {
                        out.push(self.info_of(def, &keys, &m));
                        continue;
                    }
                    _ => format!("commit record of {} names another image ({}/{})", keys.root(), m.basename, m.date),
                },
                Ok(None) => match orphaned_content(&self.ctx, &keys)? {
                    Some(found) => format!("no commit record in {} although {found} is stored", keys.manifest_dir()),
                    None => continue,
                },
                Err(EngineError::Integrity(why)) => why,
                Err(e) => return Err(e),
            };
            tracing::error!(lsu = self.name(), image = keys.root(), "damaged image listed: {damage}");
            match keys.def_from_folder() {
                Some(def) => out.push(ImageInfo::damaged(def, self.name(), damage)),
                None => tracing::error!(lsu = self.name(), image = keys.root(), "its folder name is not an image name"),
            }
        }
        out.sort_by(|a, b| a.def.cmp(&b.def));
        Ok(out)
    }

    /// Deletes an image. It vanishes at once (a tombstone commit); its
    /// data goes now if no other image references it, else when the last
    /// one that does is deleted (see `reclaim`).
    pub fn delete_image(&self, def: &ImageDef) -> Result<()> {
        let (keys, m) = self.tombstone(def)?;
        self.free_deleted(def, &keys, &m);
        Ok(())
    }

    /// Deletes an image as [`Lsu::delete_image`] does, but frees its space
    /// in the background: the image is gone when this returns (and errors
    /// that keep it from going are returned); what is not freed when the
    /// plugin stops is left to the reclaimer.
    pub fn delete_image_in_background(&self, def: &ImageDef) -> Result<()> {
        let (keys, m) = self.tombstone(def)?;
        let (lsu, def) = (self.clone(), def.clone());
        // A blocking task: freeing waits on the runtime, which a task of
        // its own must not do.
        drop(self.ctx.rt.spawn_blocking(move || lsu.free_deleted(&def, &keys, &m)));
        Ok(())
    }

    /// Writes the tombstone of a visible image: it vanishes at once.
    fn tombstone(&self, def: &ImageDef) -> Result<(ImageKeys, Manifest)> {
        let keys = ImageKeys::new(def);
        let m = self.visible(&keys, def)?;
        let mut tombstone = next_commit(&m);
        tombstone.state = ImageState::Deleted;
        if !put_record(&self.ctx, &keys.manifest(tombstone.seq), tombstone.encode())? {
            return Err(EngineError::Busy { image: def.to_string(), reason: "it changed while being deleted" });
        }
        tracing::info!(target: "audit", lsu = self.name(), image = %def, size = m.size, "deleted image");
        crate::events::post_image(&self.ctx, crate::events::EventKind::ImageDeleted, &m, None);
        Ok((keys, m))
    }

    /// Frees the space of deleted image `m`, and of the deleted images
    /// whose data it kept alive. The image is gone whatever happens here: a
    /// failure is logged and left to the reclaimer.
    fn free_deleted(&self, def: &ImageDef, keys: &ImageKeys, m: &Manifest) {
        let keys = keys.clone();
        let policy = Policy::of(&self.ctx);
        let mut report = ReclaimReport::default();
        if let Err(e) = reclaim_image(&self.ctx, &keys, policy, &mut report) {
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
            let freed = self.ctx.sibling(&lsu).and_then(|ctx| match load_latest(&ctx, &owner)? {
                Some(o) if o.state != ImageState::Deleted => Ok(()),
                _ => reclaim_image(&ctx, &owner, policy, &mut report),
            });
            if let Err(e) = freed {
                tracing::warn!(lsu, image = owner.root(), error = %e, "space of a referenced image not freed yet");
            }
        }
    }

    /// Frees what deleted images and crashed sessions left behind (see
    /// `reclaim`); `grace` overrides the configured grace period and
    /// `abandon_secs` the age at which pending images are abandoned.
    pub fn reclaim(&self, grace: Option<u64>, abandon_secs: Option<u64>, event_hours: u64) -> Result<ReclaimReport> {
        let mut policy = Policy::of(&self.ctx);
        policy.grace_secs = grace.unwrap_or(policy.grace_secs);
        policy.abandon_secs = abandon_secs.unwrap_or(policy.abandon_secs);
        reclaim_lsu(&self.ctx, policy, event_hours)
    }

    /// The LSU's events, oldest first.
    pub fn events(&self) -> Result<Vec<StoredEvent>> {
        crate::events::list(&self.ctx)
    }

    /// Deletes event `key` of this LSU.
    pub fn delete_event(&self, key: &str) -> Result<()> {
        crate::events::delete(&self.ctx, key)
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
        write_meta(&self.ctx, def, data, offset, Expected { has_meta: m.meta, incarnation: &m.incarnation })?;
        record_meta(&self.ctx, &keys, def, &m.incarnation)
    }

    /// Reads up to `len` bytes of the image's metadata from `offset`.
    pub fn read_meta(&self, def: &ImageDef, offset: u64, len: usize) -> Result<Vec<u8>> {
        let keys = ImageKeys::new(def);
        let m = self.visible(&keys, def)?;
        read_meta(&self.ctx, def, offset, len, Expected { has_meta: m.meta, incarnation: &m.incarnation })
    }
}

/// Checks that a manifest found under an image's keys is that image's: two
/// long names whose shortened keys collide must not see each other.
fn same_image(m: Manifest, def: &ImageDef) -> Result<Manifest> {
    if m.basename == def.basename() && m.date == def.date() {
        Ok(m)
    } else {
        Err(EngineError::ImageExists(format!("{def} (its storage key is taken by {}/{})", m.basename, m.date)))
    }
}

/// Creates commit record `key` unless it exists; `false` when another
/// writer's record is there. A record found with exactly our bytes is
/// ours: an attempt that landed although its answer was lost (and was
/// retried) is a success, not a conflict.
pub(crate) fn put_record(ctx: &LsuCtx, key: &str, bytes: Vec<u8>) -> Result<bool> {
    ctx.commits.check(ctx.name.as_str())?;
    let bytes = Bytes::from(bytes);
    match ctx.block_on(ctx.store.put_new(key, bytes.clone())) {
        Ok(()) => Ok(true),
        Err(e) if e.kind == StorageKind::AlreadyExists => match ctx.block_on(ctx.store.get(key)) {
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
pub(crate) fn remove_superseded(ctx: &LsuCtx, keys: &ImageKeys, seq: u64) {
    let old = keys.manifest(seq);
    if let Err(e) = ctx.block_on(ctx.store.delete(&old)) {
        tracing::warn!(manifest = %old, error = %e, "superseded commit record not removed");
    }
}

/// Records in a commit of its own that a complete image has metadata. A
/// pending image is left alone: its writer records it when it commits.
fn record_meta(ctx: &LsuCtx, keys: &ImageKeys, def: &ImageDef, incarnation: &str) -> Result<()> {
    for _ in 0..5 {
        let m = match load_latest(ctx, keys)? {
            Some(m) if m.state == ImageState::Deleted => return Err(EngineError::NoSuchImage(def.to_string())),
            None => return Err(EngineError::NoSuchImage(def.to_string())),
            // Another image of that name (this one was deleted meanwhile).
            Some(m) if !incarnation.is_empty() && !m.incarnation.is_empty() && m.incarnation != incarnation => {
                return Err(EngineError::NoSuchImage(format!("{def} (deleted while open)")));
            }
            Some(m) if m.meta || m.state == ImageState::Pending => return Ok(()),
            Some(m) => m,
        };
        let mut next = next_commit(&m);
        next.meta = true;
        if put_record(ctx, &keys.manifest(next.seq), next.encode())? {
            remove_superseded(ctx, keys, m.seq);
            return Ok(());
        }
    }
    Err(EngineError::Busy { image: def.to_string(), reason: "it kept changing while its metadata was recorded" })
}

/// The folders of every image of an LSU, deleted ones included.
pub(crate) fn image_folders(ctx: &LsuCtx) -> Result<Vec<ImageKeys>> {
    let store = &ctx.store;
    let mut out = Vec::new();
    for base in ctx.block_on(store.list(layout::IMAGES))?.into_iter().filter(|e| e.is_dir) {
        let dir = format!("{}{}/", layout::IMAGES, base.name);
        for date in ctx.block_on(store.list(&dir))?.into_iter().filter(|e| e.is_dir) {
            out.push(ImageKeys::from_components(&base.name, &date.name));
        }
    }
    Ok(out)
}

/// Reads the newest commit record of an image. Records are created whole
/// (see `manifest`), so one that cannot be read is damage and an error,
/// never skipped for an older one. A record may vanish between the listing
/// and the read (a newer commit superseded it, or the reclaimer removed a
/// deleted image): then the folder is listed again.
pub(crate) fn load_latest(ctx: &LsuCtx, keys: &ImageKeys) -> Result<Option<Manifest>> {
    let store = &ctx.store;
    ctx.block_on(async {
        for _ in 0..5 {
            let listed = store.list(&keys.manifest_dir()).await?;
            let Some(seq) = listed.iter().filter_map(|e| parse_manifest_seq(&e.name)).max() else {
                return Ok(None);
            };
            let key = keys.manifest(seq);
            let read = || async {
                match store.get(&key).await {
                    Ok(bytes) => Manifest::decode(&bytes, &key).map(Some),
                    Err(e) if e.kind == StorageKind::NotFound => Ok(None),
                    Err(e) => Err(e.into()),
                }
            };
            match again_if_damaged(&key, read).await? {
                Some(m) if m.seq == seq => return Ok(Some(m)),
                Some(_) => {
                    return Err(EngineError::Integrity(format!("commit record {key} holds another sequence number")));
                }
                None => continue,
            }
        }
        Err(EngineError::Busy { image: keys.root().to_string(), reason: "its commit records kept changing while read" })
    })
}

/// `STS_EINTEGRITY` when image `def`, which has no commit record, still
/// has data or metadata stored (see [`orphaned_content`]).
fn no_lost_records(ctx: &LsuCtx, keys: &ImageKeys, def: &ImageDef) -> Result<()> {
    match orphaned_content(ctx, keys)? {
        Some(found) => Err(EngineError::Integrity(format!(
            "image {def}: no commit record in {} although {found} is stored (the records were lost)",
            keys.manifest_dir()
        ))),
        None => Ok(()),
    }
}

/// Whether an image folder without commit records still holds what only a
/// committed image has (fragments, metadata): then its records were lost.
/// Records are the first thing an image writes and the last thing the
/// reclaimer removes, so no creation or removal in progress looks like this.
pub(crate) fn orphaned_content(ctx: &LsuCtx, keys: &ImageKeys) -> Result<Option<String>> {
    let store = &ctx.store;
    ctx.block_on(async {
        if let Some(f) = store.list(&keys.frag_dir()).await?.into_iter().find(|e| !e.is_dir) {
            return Ok(Some(format!("{}{}", keys.frag_dir(), f.name)));
        }
        Ok(store.size(&keys.meta()).await?.map(|_| keys.meta()))
    })
}
