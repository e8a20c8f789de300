//! Sequential reads served from the page cache of a filesystem store.
//!
//! A restore that soon follows its backup (a duplication, a verify, a
//! test restore) finds its fragments in the media server's page cache.
//! The read-ahead path would copy each unit into a buffer of its own, check
//! it later and copy it again into the caller's buffer: three passes over
//! memory that has long left the CPU's cache. Here the caller's thread reads
//! one checksum chunk at a time, without ever waiting for the storage
//! (`RWF_NOWAIT`), into one buffer that stays in the CPU's cache, checks it
//! there and copies it out. A chunk that is not all in memory hands the
//! read back to the read-ahead path, which is tried again once it has
//! fetched what it started.

use vastost_storage::{Cached, ObjectStore, PageCacheFile};

use crate::manifest::ObjectRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The reader's objects are not on a filesystem, or the kernel cannot
    /// read without waiting.
    Off,
    /// Reads try the page cache first.
    On,
    /// The page cache missed: the read-ahead path serves reads until the
    /// image offset given, then the page cache is tried again.
    PausedUntil(u64),
}

/// The chunk held, checked, in [`WarmPath`]'s buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    object: usize,
    chunk: u64,
    len: usize,
}

/// Misses in a row after which the page cache is tried only every
/// `read_ahead << MAX_BACKOFF` bytes (a cold stream then pays one wait for
/// a unit per that many bytes).
const MAX_BACKOFF: u32 = 5;

/// One reader's page-cache path: the object open, and the last chunk read.
#[derive(Debug)]
pub(crate) struct WarmPath {
    mode: Mode,
    /// Misses in a row: each doubles the bytes until the next try.
    misses: u32,
    file: Option<(usize, PageCacheFile)>,
    held: Option<Held>,
    buf: Vec<u8>,
}

impl WarmPath {
    /// A path that is tried only if some of the reader's objects live on a
    /// filesystem.
    pub(crate) fn new(stores: &[ObjectStore]) -> Self {
        let any_cached = stores.iter().any(|s| s.capability().page_cache_reads);
        let mode = if any_cached { Mode::On } else { Mode::Off };
        WarmPath { mode, misses: 0, file: None, held: None, buf: Vec::new() }
    }

    /// Whether a sequential read at image offset `at` should try the page
    /// cache.
    pub(crate) fn wanted(&mut self, at: u64) -> bool {
        match self.mode {
            Mode::Off => false,
            Mode::On => true,
            Mode::PausedUntil(until) if at >= until => {
                self.mode = Mode::On;
                true
            }
            Mode::PausedUntil(_) => false,
        }
    }

    /// How far the read-ahead path may fetch (it wants `to`): never past
    /// the point where the page cache is tried again, so that nothing it
    /// fetched is thrown away if the page cache has the bytes by then.
    pub(crate) fn fetch_limit(&self, to: u64) -> u64 {
        match self.mode {
            Mode::PausedUntil(until) => to.min(until),
            Mode::Off | Mode::On => to,
        }
    }

    /// A read served from the page cache.
    pub(crate) fn hit(&mut self) {
        self.misses = 0;
    }

    /// The page cache missed the read ending at image offset `end`: leave
    /// reads to the read-ahead path for `read_ahead` bytes past it, twice
    /// as many after each miss in a row.
    pub(crate) fn pause(&mut self, end: u64, read_ahead: u64) {
        if self.mode != Mode::Off {
            let span = read_ahead.max(1) << self.misses.min(MAX_BACKOFF);
            self.mode = Mode::PausedUntil(end.saturating_add(span));
            self.misses = self.misses.saturating_add(1);
        }
        self.file = None;
    }

    /// Copies `dst.len()` bytes of object number `object` from offset `at`
    /// into `dst`, from checked chunks read out of the page cache. `false`
    /// when any of them is not all in memory or fails its checksum (the
    /// read-ahead path then reads, retries and reports it).
    pub(crate) fn copy(
        &mut self,
        object: usize,
        obj: &ObjectRef,
        store: &ObjectStore,
        mut at: u64,
        dst: &mut [u8],
    ) -> bool {
        let mut done = 0;
        while done < dst.len() {
            let chunk = at / obj.chunk_size;
            let (start, len) = chunk_span(obj, chunk);
            if at == start && dst.len() - done >= len && len > 0 {
                // A whole chunk: straight into the caller's buffer, checked
                // there (one copy fewer).
                if !self.read_checked(object, obj, store, chunk, &mut dst[done..done + len]) {
                    return false;
                }
                done += len;
                at += len as u64;
                continue;
            }
            if !self.load(object, obj, store, chunk) {
                return false;
            }
            let Some(held) = self.held else { return false };
            let from = (at - start) as usize;
            if from >= held.len {
                return false;
            }
            let n = (held.len - from).min(dst.len() - done);
            dst[done..done + n].copy_from_slice(&self.buf[from..from + n]);
            done += n;
            at += n as u64;
        }
        true
    }

    /// Makes chunk `chunk` of object `object` the one held, checked.
    fn load(&mut self, object: usize, obj: &ObjectRef, store: &ObjectStore, chunk: u64) -> bool {
        if self.held.is_some_and(|h| h.object == object && h.chunk == chunk) {
            return true;
        }
        self.held = None;
        let (_, len) = chunk_span(obj, chunk);
        let mut buf = std::mem::take(&mut self.buf);
        if buf.len() < len {
            buf.resize(len, 0);
        }
        let ok = self.read_checked(object, obj, store, chunk, &mut buf[..len]);
        self.buf = buf;
        if ok {
            self.held = Some(Held { object, chunk, len });
        }
        ok
    }

    /// Fills `dst` (the chunk's length) with chunk `chunk` from the page
    /// cache and checks it. A mismatch is not reported here: the
    /// read-ahead path reads the chunk again and tells a damaged transfer
    /// from damaged storage.
    fn read_checked(
        &mut self,
        object: usize,
        obj: &ObjectRef,
        store: &ObjectStore,
        chunk: u64,
        dst: &mut [u8],
    ) -> bool {
        let Some(expected) = obj.crcs.get(chunk as usize).copied() else { return false };
        if self.file.as_ref().is_none_or(|(n, _)| *n != object) {
            self.file = store.page_cache_file(&obj.key).map(|f| (object, f));
        }
        let Some((_, file)) = &self.file else { return false };
        match file.read_at(dst, chunk * obj.chunk_size) {
            Cached::Hit => crc32c::crc32c(dst) == expected,
            Cached::Miss => false,
            Cached::Unsupported => {
                tracing::debug!(key = %obj.key, "reads cannot skip waiting here: the page-cache path is off");
                self.mode = Mode::Off;
                false
            }
        }
    }
}

/// Where chunk `chunk` of an object starts, and its length (the last one
/// may be short).
fn chunk_span(obj: &ObjectRef, chunk: u64) -> (u64, usize) {
    let start = chunk * obj.chunk_size;
    (start, obj.chunk_size.min(obj.size.saturating_sub(start)) as usize)
}

#[cfg(test)]
mod tests {
    use crate::error::EngineError;
    use crate::names::ImageDef;
    use crate::tests::{data, env};

    const FRAG: usize = 8192;

    /// The fragment files of image `name` (version "1") in `root`, in the
    /// order the image uses them.
    fn fragments(root: &std::path::Path, name: &str) -> Vec<std::path::PathBuf> {
        let dir = root.join(format!("images/{name}/1/frag"));
        let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files
    }

    fn backup(lsu: &crate::lsu::Lsu, name: &str, bytes: &[u8]) {
        let mut w = lsu.create_image(&ImageDef::new(name, "1").unwrap()).unwrap();
        w.write(bytes, 0).unwrap();
        w.close(true).unwrap();
    }

    /// Reads image `name` sequentially in `block`-byte calls; returns its
    /// bytes and the most units the read-ahead path held at once.
    fn restore(lsu: &crate::lsu::Lsu, name: &str, block: usize) -> crate::error::Result<(Vec<u8>, usize)> {
        let mut r = lsu.open_for_read(&ImageDef::new(name, "1").unwrap())?;
        let (mut out, mut held) = (Vec::new(), 0);
        let mut buf = vec![0u8; block];
        loop {
            let n = r.read(&mut buf, out.len() as u64)?;
            if n == 0 {
                return Ok((out, held));
            }
            held = held.max(r.units_held());
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn a_warm_restore_reads_the_page_cache_and_fetches_nothing_ahead() {
        let env = env(1 << 20);
        let lsu = &env.lsus[1];
        let bytes = data(7, 20 * FRAG + 1536);
        backup(lsu, "warm", &bytes);
        // Backups bypass the page cache where they can: a first read brings
        // the fragments in (as a verify before a duplication would).
        assert!(restore(lsu, "warm", FRAG).unwrap().0 == bytes);
        // Calls smaller than, equal to and larger than a fragment.
        for block in [1536, FRAG, 3 * FRAG + 512] {
            let (out, held) = restore(lsu, "warm", block).unwrap();
            assert!(out == bytes, "block {block}: the bytes read back differ");
            assert_eq!(held, 0, "block {block}: every byte came from the page cache");
        }
        // Objects in memory (as S3's) never take this path.
        let (out, held) = restore_memory(&env, &bytes);
        assert!(out == bytes);
        assert!(held > 0, "the read-ahead path served the memory store");
    }

    fn restore_memory(env: &crate::tests::Env, bytes: &[u8]) -> (Vec<u8>, usize) {
        backup(&env.lsus[0], "mem", bytes);
        restore(&env.lsus[0], "mem", 1536).unwrap()
    }

    #[test]
    fn fragments_out_of_the_page_cache_are_read_the_ordinary_way() {
        let env = env(1 << 20);
        let lsu = &env.lsus[1];
        let bytes = data(8, 30 * FRAG);
        backup(lsu, "cold", &bytes);
        // The middle third evicted (backups sync their fragments, so the
        // pages are clean and go). Whether a read misses depends on the
        // filesystem (tmpfs keeps everything) and on how fast the kernel's
        // own read-ahead, which a miss starts, comes back: what must hold
        // either way is that the bytes are right.
        for f in &fragments(env.dir.path(), "cold")[10..20] {
            let file = std::fs::File::open(f).unwrap();
            rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        }
        let (out, _) = restore(lsu, "cold", 4096).unwrap();
        assert!(out == bytes, "the bytes read back differ");
    }

    #[test]
    fn damage_in_the_page_cache_is_reported_not_handed_out() {
        let env = env(1 << 20);
        let lsu = &env.lsus[1];
        let bytes = data(9, 6 * FRAG);
        backup(lsu, "damaged", &bytes);
        // One byte of the fourth fragment changed in place (the change is
        // in the page cache too).
        let frag = &fragments(env.dir.path(), "damaged")[3];
        let mut content = std::fs::read(frag).unwrap();
        content[100] ^= 0x40;
        std::fs::write(frag, &content).unwrap();
        // Whole chunks read into the caller's buffer, and pieces of one.
        for block in [FRAG, 1536] {
            let err = restore(lsu, "damaged", block).unwrap_err();
            assert!(matches!(err, EngineError::Integrity(_)), "block {block}: {err}");
        }
        // The bytes before it still read.
        let mut r = lsu.open_for_read(&ImageDef::new("damaged", "1").unwrap()).unwrap();
        let mut buf = vec![0u8; 3 * FRAG];
        assert_eq!(r.read(&mut buf, 0).unwrap(), 3 * FRAG);
        assert!(buf[..] == bytes[..3 * FRAG]);
    }
}
