//! The buffers a direct writer fills: aligned for `O_DIRECT`, kept for the
//! next fragments in their store's pool (see `writer`).

use crate::pool::Pool;

/// Alignment of direct writes: addresses, lengths and file offsets.
pub(crate) const ALIGN: usize = 4096;
/// Bytes gathered before each direct write (on this project's test
/// machines 1 MiB writes beat 4 and 8 MiB ones; an NFS client sends it as
/// one WRITE of the usual 1 MiB `wsize`).
pub(crate) const STAGING: usize = 1 << 20;
/// `STAGING` bytes starting at an `ALIGN`-aligned address, and how many
/// of them are filled. Kept for the next fragments in the store's pool: a
/// fresh one costs a page fault per 4 KiB, which is what writing directly
/// avoids.
#[derive(Debug)]
pub(crate) struct Staging {
    vec: Vec<u8>,
    start: usize,
    pub(crate) len: usize,
}

impl Staging {
    pub(crate) fn take(pool: &Pool<Staging>) -> Staging {
        pool.take(|_| true, |s| s.vec.len()).unwrap_or_else(|| {
            let vec = vec![0u8; STAGING + ALIGN];
            let start = vec.as_ptr().align_offset(ALIGN);
            Staging { vec, start, len: 0 }
        })
    }

    pub(crate) fn give_back(mut self, pool: &Pool<Staging>) {
        self.len = 0;
        pool.park(self, (STAGING + ALIGN) as u64);
    }

    /// Takes as much of `data` as fits; returns how much.
    pub(crate) fn fill(&mut self, data: &[u8]) -> usize {
        let n = (STAGING - self.len).min(data.len());
        let at = self.start + self.len;
        self.vec[at..at + n].copy_from_slice(&data[..n]);
        self.len += n;
        n
    }

    pub(crate) fn filled(&self) -> &[u8] {
        &self.vec[self.start..self.start + self.len]
    }
}
