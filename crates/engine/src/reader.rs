//! The read pipeline. The manifest is loaded once at open and resolved into
//! pieces. Data is fetched in units of a few MiB, aligned to the checksum
//! chunks of their object, and every unit is verified before a byte of it is
//! handed out. A sequential reader gets the next units fetched ahead in
//! parallel, up to `read_ahead` bytes, as far as the memory budget allows;
//! a random read fetches only the units it needs.
//!
//! The units of the next `read_ahead` bytes past those are *opened*: their
//! GETs are sent and answered, but their bodies wait in the connection
//! until the unit enters the read-ahead window and its memory is paid. So a
//! cluster's round trip is paid while earlier units are read, not after,
//! and the reader's memory stays `read_ahead`.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vastost_storage::{ObjectStore, Segments};

use crate::budget::BudgetPermit;
use crate::error::{EngineError, Result, again_if_damaged, again_if_damaged_after};
use crate::extents::{Piece, resolve};
use crate::image::{ImageInfo, OpenImage};
use crate::layout::BLOCK_SIZE;
use crate::manifest::{Manifest, ObjectRef};
use crate::read_pace::{AnswerClock, ReadPace};
use crate::warm::WarmPath;

/// Bytes fetched (and verified) at once from one object.
const UNIT_SIZE: u64 = 4 << 20;

/// A unit: object number (index into the reader's objects) and unit number.
type UnitId = (usize, u64);

/// A range of the caller's buffer and where its bytes come from: an object
/// number and an offset in that object, or nowhere (a hole, zeros).
type Segment = (Range<usize>, Option<(usize, u64)>);

#[derive(Debug)]
enum Fetch {
    Running(JoinHandle<Result<Segments>>),
    Ready(Segments),
}

#[derive(Debug)]
struct Slot {
    fetch: Fetch,
    _permit: Option<BudgetPermit>,
    /// For an opened unit: what lets its fetch read the body.
    go: Option<oneshot::Sender<()>>,
}

impl Slot {
    /// Lets an opened unit's fetch read its body (paid by `permit`, or
    /// read on demand).
    fn go(&mut self, permit: Option<BudgetPermit>) {
        if let Some(go) = self.go.take() {
            let _ = go.send(());
            self._permit = permit;
        }
    }
}

/// An image open for reading.
#[derive(Debug)]
pub struct ImageReader {
    image: OpenImage,
    /// The manifest read at open, without its extents (resolved below).
    head: Manifest,
    objects: Vec<Arc<ObjectRef>>,
    /// The store of each object (another LSU's for referenced objects).
    stores: Vec<ObjectStore>,
    /// For each extent of the manifest: its object number and object offset.
    extents: Vec<(usize, u64)>,
    pieces: Vec<Piece>,
    cache: HashMap<UnitId, Slot>,
    /// The one unit a reader may hold beyond read-ahead, paid at open when
    /// the budget allows.
    reserve: Option<BudgetPermit>,
    reserve_user: Option<UnitId>,
    last_end: Option<u64>,
    /// Sequential reads from the page cache, when the objects are files.
    warm: WarmPath,
    /// How far ahead GETs are sent.
    pace: ReadPace,
    /// The image offset up to which GETs were sent ahead: units opened
    /// there are kept when the distance shrinks (dropping a GET under way
    /// costs its connection, and the unit is asked for again later).
    opened_to: u64,
}

fn unit_len(obj: &ObjectRef) -> u64 {
    (UNIT_SIZE / obj.chunk_size).max(1) * obj.chunk_size
}

fn unit_range(obj: &ObjectRef, unit: u64) -> (u64, u64) {
    let len = unit_len(obj);
    let start = unit * len;
    (start, (start + len).min(obj.size))
}

/// Fetches and verifies a unit. A unit that fails its checksum is fetched
/// once more before it is reported: bytes damaged on the wire pass, bytes
/// damaged on the storage stay damaged and are an error.
async fn fetch_unit(store: ObjectStore, obj: Arc<ObjectRef>, unit: u64) -> Result<Segments> {
    again_if_damaged(&obj.key, || fetch_unit_once(&store, &obj, unit)).await
}

async fn fetch_unit_once(store: &ObjectStore, obj: &ObjectRef, unit: u64) -> Result<Segments> {
    let (start, end) = unit_range(obj, unit);
    // Units start on a checksum chunk: the sums come back chunk by chunk.
    let (data, sums) = store.get_range_crc32c(&obj.key, obj.version.as_deref(), start..end, obj.chunk_size).await?;
    verified(obj, start, end, data, &sums)
}

/// Fetches a unit whose GET is sent now and whose body is read once `go`
/// fires (see the module's doc); an integrity failure is fetched again.
async fn fetch_opened_unit(
    store: ObjectStore,
    obj: Arc<ObjectRef>,
    unit: u64,
    go: oneshot::Receiver<()>,
    clock: AnswerClock,
) -> Result<Segments> {
    let (start, end) = unit_range(&obj, unit);
    let sent = std::time::Instant::now();
    let open = store.open_range(&obj.key, obj.version.as_deref(), start..end).await;
    clock.answered(sent.elapsed());
    go.await.map_err(|_| EngineError::Internal("read-ahead no longer wanted".into()))?;
    let opened = async {
        let (data, sums) = open.read_crc32c(obj.chunk_size).await?;
        verified(&obj, start, end, data, &sums)
    };
    again_if_damaged_after(&obj.key, opened, || fetch_unit_once(&store, &obj, unit)).await
}

/// The bytes `[start, end)` of `obj`, if they are all there and match its
/// recorded checksums (`sums`, one per chunk from `start`).
fn verified(obj: &ObjectRef, start: u64, end: u64, data: Segments, sums: &[u32]) -> Result<Segments> {
    if data.len() as u64 != end - start {
        return Err(EngineError::Integrity(format!(
            "object {} is shorter than recorded ({} bytes at {start}, {} expected)",
            obj.key,
            data.len(),
            end - start
        )));
    }
    let first = (start / obj.chunk_size) as usize;
    for (i, crc) in sums.iter().enumerate() {
        if obj.crcs.get(first + i) != Some(crc) {
            let at = start + i as u64 * obj.chunk_size;
            return Err(EngineError::Integrity(format!(
                "object {} bytes {at}..{}: checksum mismatch",
                obj.key,
                (at + obj.chunk_size).min(end)
            )));
        }
    }
    Ok(data)
}

impl ImageReader {
    pub(crate) fn new(image: OpenImage, manifest: Manifest) -> Result<Self> {
        let ctx = image.ctx();
        let mut objects: Vec<Arc<ObjectRef>> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        let extents = manifest
            .extents
            .iter()
            .map(|e| {
                let n = *by_key.entry(e.object.key.clone()).or_insert_with(|| {
                    objects.push(Arc::new(e.object.clone()));
                    objects.len() - 1
                });
                (n, e.object_offset)
            })
            .collect();
        let stores = ctx.block_on(async {
            let mut stores = Vec::with_capacity(objects.len());
            for o in &objects {
                stores.push(ctx.store_of(o).await?);
            }
            Ok::<_, EngineError>(stores)
        })?;
        let pieces = resolve(&manifest.extents);
        // The reserve is taken only if free now: a reader never waits on the
        // budget, so a caller holding other handles can never deadlock here.
        // Without it, units fetched on demand are used once, not kept.
        let largest = objects.iter().map(|o| unit_len(o).min(o.size)).max().unwrap_or(0);
        let reserve = if largest == 0 { None } else { ctx.budget.try_acquire(largest) };
        let warm = WarmPath::new(&stores);
        let mut reader = ImageReader {
            image,
            warm,
            objects,
            stores,
            extents,
            pieces,
            cache: HashMap::new(),
            reserve,
            reserve_user: None,
            last_end: None,
            pace: ReadPace::default(),
            opened_to: 0,
            head: Manifest { extents: Vec::new(), ..manifest },
        };
        // Restores read from the start: the first unit is asked for now, so
        // that its round trip overlaps what the caller does before its first
        // read (reading the image's metadata, opening its output). A first
        // read elsewhere drops it. Not from files the page cache may hold.
        if !reader.warm.wanted(0)
            && let Some(first) = reader.plan(0, 1).first().copied()
        {
            reader.start_fetch(first);
        }
        Ok(reader)
    }

    /// The commit this reader reads.
    pub(crate) fn seq(&self) -> u64 {
        self.head.seq
    }

    /// Where the bytes `[from, to)` of the image are: runs of
    /// `(image offset, length, object, offset in the object)`, in order;
    /// holes are left out.
    pub(crate) fn runs(&self, from: u64, to: u64) -> Vec<(u64, u64, Arc<ObjectRef>, u64)> {
        let first = self.pieces.partition_point(|p| p.end() <= from);
        self.pieces[first..]
            .iter()
            .take_while(|p| p.start < to)
            .map(|p| {
                let (start, end) = (p.start.max(from), p.end().min(to));
                let (obj, obj_offset) = self.extents[p.extent];
                (start, end - start, self.objects[obj].clone(), obj_offset + p.delta + (start - p.start))
            })
            .collect()
    }

    /// The image, its LSU and its metadata.
    pub fn image(&self) -> &OpenImage {
        &self.image
    }

    /// Size of the image.
    pub fn size(&self) -> u64 {
        self.head.size
    }

    /// Properties of the image.
    pub fn info(&self) -> ImageInfo {
        self.image.info(&self.head, self.head.size)
    }

    /// Reads into `buf` from `offset`; `buf.len()` is a multiple of 512.
    /// Returns the bytes read: fewer at the end of the image, 0 past it.
    pub fn read(&mut self, buf: &mut [u8], offset: u64) -> Result<usize> {
        if !(buf.len() as u64).is_multiple_of(BLOCK_SIZE) {
            return Err(EngineError::invalid(format!(
                "read of {} bytes: the length must be a multiple of {BLOCK_SIZE}",
                buf.len()
            )));
        }
        if !offset.is_multiple_of(BLOCK_SIZE) {
            return Err(EngineError::invalid(format!(
                "read at offset {offset}: the offset must be a multiple of {BLOCK_SIZE}"
            )));
        }
        if offset >= self.head.size {
            return Ok(0);
        }
        let end = self.head.size.min(offset.saturating_add(buf.len() as u64));
        self.image.ctx().limits.take(vastost_metrics::Direction::Read, end - offset);
        let sequential = self.last_end == Some(offset) || (offset == 0 && self.last_end.is_none());
        if sequential && self.warm.wanted(offset) {
            if self.read_warm(buf, offset, end) {
                // What was fetched ahead is not needed: the page cache has it.
                self.drop_units(|id, reserve| reserve == Some(*id));
                self.warm.hit();
                self.last_end = Some(end);
                self.image.ctx().count_transfer(vastost_metrics::Direction::Read, end - offset);
                return Ok((end - offset) as usize);
            }
            self.warm.pause(end, self.image.ctx().read_ahead);
        }
        let read_ahead = self.image.ctx().read_ahead;
        let ahead = self.warm.fetch_limit(end + read_ahead).max(end);
        let (window, opened, kept) = if sequential {
            let open_to = self.warm.fetch_limit(ahead + self.pace.open_ahead(UNIT_SIZE)).max(ahead);
            self.opened_to = self.opened_to.max(open_to);
            let kept = self.plan(ahead, self.opened_to);
            (self.plan(offset, ahead), self.plan(ahead, open_to), kept)
        } else {
            self.opened_to = 0;
            (Vec::new(), Vec::new(), Vec::new())
        };
        // Drop what the reader has moved past, then start what comes next.
        self.drop_units(|id, reserve| window.contains(id) || kept.contains(id) || reserve == Some(*id));
        for id in &window {
            self.start_fetch(*id);
        }
        for id in opened.iter().filter(|id| !window.contains(id)) {
            self.open_unit(*id);
        }
        for (dst, src) in self.segments(offset, end) {
            let Some((obj, mut at)) = src else {
                buf[dst].fill(0);
                continue;
            };
            let mut pos = dst.start;
            while pos < dst.end {
                let unit = at / unit_len(&self.objects[obj]);
                let data = self.unit((obj, unit)).map_err(|e| self.explain(e))?;
                let (ustart, _) = unit_range(&self.objects[obj], unit);
                let from = (at - ustart) as usize;
                let n = (dst.end - pos).min(data.len() - from);
                data.copy_to(from, &mut buf[pos..pos + n]);
                pos += n;
                at += n as u64;
            }
        }
        self.last_end = Some(end);
        self.pace.read(end - offset);
        if !sequential {
            self.drop_units(|id, reserve| reserve == Some(*id));
        }
        self.image.ctx().count_transfer(vastost_metrics::Direction::Read, end - offset);
        Ok((end - offset) as usize)
    }

    /// What fills the bytes `[offset, end)` of the image, in order: ranges
    /// of the caller's buffer (relative to `offset`), each with the object
    /// number and object offset its bytes come from, or `None` for a hole.
    fn segments(&self, offset: u64, end: u64) -> Vec<Segment> {
        let mut out = Vec::new();
        let rel = |at: u64| (at - offset) as usize;
        let mut pos = offset;
        let first = self.pieces.partition_point(|p| p.end() <= offset);
        for piece in self.pieces[first..].iter().take_while(|p| p.start < end) {
            if piece.start > pos {
                out.push((rel(pos)..rel(piece.start), None));
                pos = piece.start;
            }
            let stop = piece.end().min(end);
            let (obj, obj_offset) = self.extents[piece.extent];
            out.push((rel(pos)..rel(stop), Some((obj, obj_offset + piece.delta + (pos - piece.start)))));
            pos = stop;
        }
        if pos < end {
            out.push((rel(pos)..rel(end), None));
        }
        out
    }

    /// Fills the caller's buffer from the page cache alone (see
    /// [`WarmPath`]); `false` if any of it is not there.
    fn read_warm(&mut self, buf: &mut [u8], offset: u64, end: u64) -> bool {
        for (dst, src) in self.segments(offset, end) {
            match src {
                None => buf[dst].fill(0),
                Some((obj, at)) => {
                    if !self.warm.copy(obj, &self.objects[obj], &self.stores[obj], at, &mut buf[dst]) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Units fetched and held now (tests tell the paths apart with it).
    #[cfg(test)]
    pub(crate) fn units_held(&self) -> usize {
        self.cache.len()
    }

    /// A fragment that vanished under an open reader: if the image was
    /// deleted meanwhile (OST lets a caller do that), the caller gets "no
    /// image"; if the image is still there, a fragment its commit maps is
    /// lost, and that is damage.
    fn explain(&self, e: EngineError) -> EngineError {
        let EngineError::Storage(s) = &e else { return e };
        if s.kind != vastost_storage::ErrorKind::NotFound {
            return e;
        }
        let image = self.image.def();
        // Damage only if the image's commit, now, still maps what is gone;
        // otherwise the image was deleted (perhaps created again) meanwhile.
        let ctx = self.image.ctx();
        match ctx.block_on(crate::commit::latest_record(&ctx.store, self.image.keys())) {
            Ok(Some(m))
                if m.state != crate::manifest::ImageState::Deleted
                    && m.extents.iter().any(|e| e.object.key == s.key) =>
            {
                EngineError::Integrity(format!(
                    "image {image}: fragment {} that its commit record {} maps is missing",
                    s.key,
                    self.image.keys().manifest(m.seq)
                ))
            }
            Ok(_) => EngineError::NoSuchImage(format!("{image} (deleted while open for reading: {s})")),
            Err(other) => other,
        }
    }

    /// Drops the units `keep` (given the reserved unit) does not keep,
    /// giving the memory of those fetched back to their store.
    fn drop_units(&mut self, keep: impl Fn(&UnitId, Option<UnitId>) -> bool) {
        let reserve = self.reserve_user;
        let gone: Vec<UnitId> = self.cache.keys().filter(|id| !keep(id, reserve)).copied().collect();
        for id in gone {
            if let Some(Slot { fetch: Fetch::Ready(data), .. }) = self.cache.remove(&id) {
                self.stores[id.0].recycle(data);
            }
        }
    }

    /// The units covering `[from, to)` of the image, in order.
    fn plan(&self, from: u64, to: u64) -> Vec<UnitId> {
        let mut out: Vec<UnitId> = Vec::new();
        let first = self.pieces.partition_point(|p| p.end() <= from);
        for piece in self.pieces[first..].iter().take_while(|p| p.start < to) {
            let (obj, obj_offset) = self.extents[piece.extent];
            let ulen = unit_len(&self.objects[obj]);
            let skip = from.saturating_sub(piece.start);
            let a = obj_offset + piece.delta + skip;
            let b = obj_offset + piece.delta + (to.min(piece.end()) - piece.start);
            for unit in a / ulen..b.div_ceil(ulen) {
                if out.last() != Some(&(obj, unit)) {
                    out.push((obj, unit));
                }
            }
        }
        out
    }

    /// Starts fetching a unit ahead of need (or lets an opened one read
    /// its body), if the budget has room.
    fn start_fetch(&mut self, id: UnitId) {
        let opened = self.cache.get(&id).map(|slot| slot.go.is_some());
        if opened == Some(false) {
            return;
        }
        let obj = self.objects[id.0].clone();
        let (a, b) = unit_range(&obj, id.1);
        let Some(permit) = self.image.ctx().budget.try_acquire(b - a) else { return };
        if let Some(slot) = self.cache.get_mut(&id) {
            slot.go(Some(permit));
            return;
        }
        let handle = self.image.ctx().rt.spawn(fetch_unit(self.stores[id.0].clone(), obj, id.1));
        self.cache.insert(id, Slot { fetch: Fetch::Running(handle), _permit: Some(permit), go: None });
    }

    /// Sends a unit's GET ahead of its turn; its body is read at
    /// [`Self::start_fetch`] (or when the unit is needed).
    fn open_unit(&mut self, id: UnitId) {
        // Where a read has no round trip to hide, opening ahead is only a
        // task that waits: the unit is read in its turn as before.
        if self.cache.contains_key(&id) || !self.stores[id.0].capability().reads_ahead_pay {
            return;
        }
        let (go, gate) = oneshot::channel();
        let (store, obj) = (self.stores[id.0].clone(), self.objects[id.0].clone());
        let fetch = fetch_opened_unit(store, obj, id.1, gate, self.pace.clock());
        let handle = self.image.ctx().rt.spawn(fetch);
        self.cache.insert(id, Slot { fetch: Fetch::Running(handle), _permit: None, go: Some(go) });
    }

    /// A verified unit: from the read-ahead, or fetched now on the reserve.
    fn unit(&mut self, id: UnitId) -> Result<Segments> {
        if let Some(slot) = self.cache.get_mut(&id) {
            // Opened but not paid for (the budget was spent): read it now.
            slot.go(None);
            if let Fetch::Running(handle) = &mut slot.fetch {
                let waiting = std::time::Instant::now();
                let data = match self.image.ctx().block_on(handle) {
                    Ok(r) => r,
                    Err(e) => Err(EngineError::Internal(format!("read task failed: {e}"))),
                };
                self.pace.waited(waiting.elapsed());
                match data {
                    Ok(d) => slot.fetch = Fetch::Ready(d),
                    // Fetched ahead, it may have failed on a fault that has
                    // passed since: fetch it again now, below.
                    Err(e) => {
                        tracing::debug!(error = %e, "read-ahead failed; fetching again");
                        self.cache.remove(&id);
                    }
                }
            }
            if let Some(Slot { fetch: Fetch::Ready(d), .. }) = self.cache.get(&id) {
                return Ok(d.clone());
            }
        }
        let obj = self.objects[id.0].clone();
        let waiting = std::time::Instant::now();
        let data = self.image.ctx().block_on(fetch_unit(self.stores[id.0].clone(), obj, id.1));
        self.pace.waited(waiting.elapsed());
        let data = data?;
        if let Some(old) = self.reserve_user.take() {
            self.cache.remove(&old);
        }
        if self.reserve.is_some() {
            self.reserve_user = Some(id);
            self.cache.insert(id, Slot { fetch: Fetch::Ready(data.clone()), _permit: None, go: None });
        }
        Ok(data)
    }
}

impl Drop for ImageReader {
    fn drop(&mut self) {
        for slot in self.cache.values() {
            if let Fetch::Running(h) = &slot.fetch {
                h.abort();
            }
        }
    }
}
