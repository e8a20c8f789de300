//! A token bucket kept in a small file that every plugin process of the
//! media server opens: NetBackup runs a process per job, so a limit held
//! per process would let through as many times the limit as there are
//! jobs.
//!
//! The file (a `HostFile`) lives in the plugin's state folder, one per
//! server and direction. A process locks it, reads the bucket, reserves its
//! bytes, writes the bucket back and unlocks it, then waits outside the
//! lock. Nothing is leased: a
//! process killed mid-transfer leaves at most the one call it had reserved
//! owing, paid back within that call's time at the limit, and the kernel
//! drops its lock. Each process also stamps a slot with its pid and the
//! time, so that the processes sharing the limit can be counted.

use std::path::Path;

use super::bucket::State;
use crate::host_file::{HostFile, u64_at};

/// What the file starts with; another content is started afresh.
const MAGIC: &[u8; 8] = b"vostbw1\n";
/// Processes counted at most.
const SLOTS: usize = 128;
const HEAD: usize = 64;
const SLOT: usize = 16;
const LEN: usize = HEAD + SLOTS * SLOT;
/// A process that moved nothing for this long no longer counts as sharing.
const ACTIVE_NS: u64 = 5_000_000_000;

/// The bucket and the slots, as read from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Content {
    state: State,
    /// (pid, last seen in ns) per slot; pid 0: free.
    slots: Vec<(u32, u64)>,
}

impl Content {
    fn decode(b: &[u8; LEN]) -> Option<Content> {
        if &b[..8] != MAGIC {
            return None;
        }
        let state = State {
            rate: u64_at(b, 8),
            tokens: i64::from_le_bytes(b[16..24].try_into().expect("eight bytes")),
            since_ns: u64_at(b, 24),
            window_ns: u64_at(b, 32),
            window_bytes: u64_at(b, 40),
            last_rate: u64_at(b, 48),
        };
        let slots = (0..SLOTS)
            .map(|i| {
                let at = HEAD + i * SLOT;
                (u32::from_le_bytes(b[at..at + 4].try_into().expect("four bytes")), u64_at(b, at + 8))
            })
            .collect();
        Some(Content { state, slots })
    }

    fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[..8].copy_from_slice(MAGIC);
        let s = &self.state;
        for (at, v) in [(8, s.rate), (24, s.since_ns), (32, s.window_ns), (40, s.window_bytes), (48, s.last_rate)] {
            b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        b[16..24].copy_from_slice(&s.tokens.to_le_bytes());
        for (i, (pid, seen)) in self.slots.iter().enumerate() {
            let at = HEAD + i * SLOT;
            b[at..at + 4].copy_from_slice(&pid.to_le_bytes());
            b[at + 8..at + 16].copy_from_slice(&seen.to_le_bytes());
        }
        b
    }

    fn fresh() -> Content {
        Content { state: State::default(), slots: vec![(0, 0); SLOTS] }
    }

    /// Stamps `pid`'s slot (or the stalest one) with `now_ns`.
    fn stamp(&mut self, pid: u32, now_ns: u64) {
        let i = self
            .slots
            .iter()
            .position(|(p, _)| *p == pid)
            .unwrap_or_else(|| (0..SLOTS).min_by_key(|i| self.slots[*i].1).expect("there are slots"));
        self.slots[i] = (pid, now_ns);
    }

    fn sharers(&self, now_ns: u64) -> usize {
        self.slots.iter().filter(|(pid, seen)| *pid != 0 && now_ns.saturating_sub(*seen) < ACTIVE_NS).count()
    }
}

/// What a shared bucket shows: the limit, the rate all its processes move
/// together lately, and how many processes moved bytes in the last seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Reading {
    pub limit: u64,
    pub rate: u64,
    pub processes: usize,
}

/// One server's and direction's bucket file, open for the process's life.
#[derive(Debug)]
pub(crate) struct SharedBucket {
    file: HostFile,
}

impl SharedBucket {
    /// Opens (or creates) the bucket file `path`.
    pub(crate) fn open(path: &Path) -> std::io::Result<SharedBucket> {
        Ok(SharedBucket { file: HostFile::open(path)? })
    }

    /// Runs `f` on the bucket under the file's lock, and writes it back.
    fn with<T>(&self, f: impl FnOnce(&mut Content) -> T) -> std::io::Result<T> {
        self.file.with(|bytes: &mut [u8; LEN]| {
            let mut content = Content::decode(bytes).unwrap_or_else(Content::fresh);
            let out = f(&mut content);
            *bytes = content.encode();
            out
        })
    }

    /// Sets the limit all processes share (0: none).
    pub(crate) fn set_rate(&self, rate: u64, now_ns: u64) -> std::io::Result<()> {
        self.with(|c| c.state.set_rate(rate, now_ns))
    }

    /// Reserves `n` bytes for process `pid`: how many nanoseconds to wait.
    /// The clock is read under the lock, so that the bucket's time only
    /// moves forward whoever takes the lock first.
    pub(crate) fn reserve(&self, pid: u32, n: u64) -> std::io::Result<u64> {
        self.reserve_at(pid, n, super::bucket::now_ns)
    }

    fn reserve_at(&self, pid: u32, n: u64, now: impl FnOnce() -> u64) -> std::io::Result<u64> {
        self.with(|c| {
            let now_ns = now();
            c.stamp(pid, now_ns);
            c.state.reserve(n, now_ns)
        })
    }

    /// The limit, the moving rate and the processes sharing it.
    pub(crate) fn reading(&self, now_ns: u64) -> std::io::Result<Reading> {
        self.with(|c| Reading { limit: c.state.rate, rate: c.state.moving_rate(now_ns), processes: c.sharers(now_ns) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_share_one_bucket_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bw");
        let (a, b) = (SharedBucket::open(&path).unwrap(), SharedBucket::open(&path).unwrap());
        let s = 1_000_000_000;
        a.set_rate(1_000_000, s).unwrap();
        // Two "processes" queue behind each other's debt.
        assert_eq!(a.reserve_at(1, 500_000, || s).unwrap(), s / 2);
        assert_eq!(b.reserve_at(2, 500_000, || s).unwrap(), s);
        let r = b.reading(s).unwrap();
        assert_eq!((r.limit, r.processes), (1_000_000, 2));
        // Five quiet seconds: nobody counts any more.
        assert_eq!(a.reading(7 * s).unwrap().processes, 0);
    }

    #[test]
    fn a_damaged_file_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bw");
        std::fs::write(&path, b"garbage").unwrap();
        let a = SharedBucket::open(&path).unwrap();
        assert_eq!(a.reserve_at(1, 10, || 5).unwrap(), 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), LEN as u64);
    }

    #[test]
    fn slots_round_trip_and_the_stalest_is_reused() {
        let mut c = Content::fresh();
        for pid in 1..=(SLOTS as u32 + 1) {
            c.stamp(pid, u64::from(pid));
        }
        assert!(c.slots.iter().any(|(p, _)| *p == SLOTS as u32 + 1));
        assert!(!c.slots.iter().any(|(p, _)| *p == 1));
        assert_eq!(Content::decode(&c.encode()), Some(c));
    }
}
