//! The host memory ledger: `host_memory_budget` bounds the data buffers of
//! every plugin process of the media server together. NetBackup runs a
//! process per job, so `memory_budget`, which bounds one process, bounds
//! one job; this bounds the host, whatever the number of jobs.
//!
//! Each process records what it holds in a slot of a `HostFile` (by pid and
//! the process's start time, so that a reused pid is not taken for the
//! process that had it). A process that finds the ledger full first frees
//! the slots of processes that are gone (a job killed while it held
//! buffers), then waits for the others to give some back. A backup never
//! fails for want of memory: after [`WAIT_MAX`] a waiter goes over the
//! budget, and says so in the log.

use std::time::Duration;

use crate::host_file::{HostFile, u64_at};

const MAGIC: &[u8; 8] = b"vostmem1";
/// Processes recorded at most; one more holds memory unrecorded (logged).
const SLOTS: usize = 512;
const HEAD: usize = 16;
const SLOT: usize = 24;
const LEN: usize = HEAD + SLOTS * SLOT;

/// Longest a buffer waits for the host's budget before going over it.
pub(crate) const WAIT_MAX: Duration = Duration::from_secs(120);

/// A process, as the ledger knows it: pid and start time (clock ticks
/// after boot, from `/proc/<pid>/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Holder {
    pid: u32,
    start: u64,
}

/// The start time in a `/proc/<pid>/stat` line. Fields after the command
/// name (which may hold spaces and parentheses): state is field 3, the
/// start time field 22.
fn start_time(stat: &str) -> Option<u64> {
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(19)?.parse().ok()
}

fn stat_of(pid: u32) -> std::io::Result<String> {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
}

impl Holder {
    fn of(pid: u32) -> Option<Holder> {
        Some(Holder { pid, start: start_time(&stat_of(pid).ok()?)? })
    }

    /// Whether the process still runs (a process that cannot be looked at
    /// is taken to run: its share is not freed on a guess).
    fn runs(&self) -> bool {
        match stat_of(self.pid) {
            Ok(stat) => start_time(&stat) == Some(self.start),
            Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ledger {
    peak: u64,
    /// What each process holds; a slot holding nothing is free.
    slots: Vec<(Holder, u64)>,
}

impl Ledger {
    fn decode(b: &[u8; LEN]) -> Ledger {
        if &b[..8] != MAGIC {
            return Ledger { peak: 0, slots: vec![(Holder::default(), 0); SLOTS] };
        }
        let slots = (0..SLOTS)
            .map(|i| {
                let at = HEAD + i * SLOT;
                let pid = u32::from_le_bytes(b[at..at + 4].try_into().expect("four bytes"));
                (Holder { pid, start: u64_at(b, at + 8) }, u64_at(b, at + 16))
            })
            .collect();
        Ledger { peak: u64_at(b, 8), slots }
    }

    fn encode(&self, b: &mut [u8; LEN]) {
        b[..8].copy_from_slice(MAGIC);
        b[8..16].copy_from_slice(&self.peak.to_le_bytes());
        for (i, (h, bytes)) in self.slots.iter().enumerate() {
            let at = HEAD + i * SLOT;
            b[at..at + 4].copy_from_slice(&h.pid.to_le_bytes());
            b[at + 4..at + 8].fill(0);
            b[at + 8..at + 16].copy_from_slice(&h.start.to_le_bytes());
            b[at + 16..at + 24].copy_from_slice(&bytes.to_le_bytes());
        }
    }

    fn in_use(&self) -> u64 {
        self.slots.iter().map(|(_, b)| *b).sum()
    }

    /// Frees what processes that are gone held; how many bytes.
    fn free_the_gone(&mut self, me: Holder, runs: impl Fn(&Holder) -> bool) -> u64 {
        let mut freed = 0;
        for (h, bytes) in self.slots.iter_mut().filter(|(h, b)| *b > 0 && *h != me) {
            if !runs(h) {
                tracing::info!(
                    pid = h.pid,
                    bytes = *bytes,
                    "host memory budget: a process that is gone held this; freed"
                );
                freed += std::mem::take(bytes);
            }
        }
        freed
    }

    /// Adds `n` to `me`'s slot if the total stays within `total`.
    fn lease(&mut self, me: Holder, n: u64, total: u64, runs: impl Fn(&Holder) -> bool) -> bool {
        if self.in_use() + n > total && (self.free_the_gone(me, runs) == 0 || self.in_use() + n > total) {
            return false;
        }
        let slot =
            self.slots.iter().position(|(h, _)| *h == me).or_else(|| self.slots.iter().position(|(_, b)| *b == 0));
        match slot {
            Some(i) => {
                let held = self.slots[i].1;
                self.slots[i] = (me, held + n);
            }
            None => tracing::warn!(
                slots = SLOTS,
                "host memory budget: more processes than the ledger records; held unrecorded"
            ),
        }
        self.peak = self.peak.max(self.in_use());
        true
    }

    fn release(&mut self, me: Holder, n: u64) {
        if let Some((_, held)) = self.slots.iter_mut().find(|(h, _)| *h == me) {
            *held = held.saturating_sub(n);
        }
    }
}

/// Figures of the host's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostMemoryStats {
    /// Configured bytes, for every plugin process of the host together.
    pub total: u64,
    /// Bytes the processes hold now.
    pub in_use: u64,
    /// Most bytes held at once since the ledger was made.
    pub peak: u64,
    /// Processes holding buffers now.
    pub processes: u64,
}

/// This process's access to the host's ledger.
#[derive(Debug)]
pub(crate) struct HostMemory {
    file: HostFile,
    total: u64,
    me: Holder,
}

impl HostMemory {
    /// The ledger in the state folder, bounding the host to `total` bytes;
    /// `None` (logged) without a state folder: then only `memory_budget`
    /// bounds each process.
    pub(crate) fn open(total: u64) -> Option<HostMemory> {
        let me = Holder::of(std::process::id());
        let path = crate::host_cache::file("memory", "host memory ledger");
        match (me, path) {
            (Some(me), Some(path)) => match HostFile::open(&path) {
                Ok(file) => Some(HostMemory { file, total, me }),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "host_memory_budget not enforced: cannot open its ledger");
                    None
                }
            },
            _ => {
                tracing::warn!("host_memory_budget not enforced: no state folder (state_dir) or no /proc");
                None
            }
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Ledger) -> T) -> std::io::Result<T> {
        self.file.with(|bytes: &mut [u8; LEN]| {
            let mut ledger = Ledger::decode(bytes);
            let out = f(&mut ledger);
            ledger.encode(bytes);
            out
        })
    }

    /// Records `n` more bytes held by this process if the host's total
    /// stays within the budget; an unreadable ledger lets them go (logged).
    pub(crate) fn lease(&self, n: u64) -> bool {
        self.with(|l| l.lease(self.me, n, self.total, Holder::runs)).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "host memory ledger unreadable; not enforced for this buffer");
            true
        })
    }

    /// Gives back `n` bytes.
    pub(crate) fn release(&self, n: u64) {
        if let Err(e) = self.with(|l| l.release(self.me, n)) {
            tracing::warn!(error = %e, "host memory ledger unreadable; a release is lost until this process ends");
        }
    }

    pub(crate) fn stats(&self) -> HostMemoryStats {
        self.with(|l| HostMemoryStats {
            total: self.total,
            in_use: l.in_use(),
            peak: l.peak,
            processes: l.slots.iter().filter(|(_, b)| *b > 0).count() as u64,
        })
        .unwrap_or(HostMemoryStats { total: self.total, ..Default::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(pid: u32) -> Holder {
        Holder { pid, start: 1 }
    }

    #[test]
    fn the_total_holds_across_processes_and_the_gone_are_freed() {
        let mut l = Ledger::decode(&[0; LEN]);
        let all_run = |_: &Holder| true;
        assert!(l.lease(holder(1), 60, 100, all_run));
        assert!(l.lease(holder(2), 40, 100, all_run));
        assert!(!l.lease(holder(2), 1, 100, all_run), "the host's budget is spent");
        l.release(holder(1), 30);
        assert!(l.lease(holder(3), 30, 100, all_run));
        assert_eq!((l.in_use(), l.peak), (100, 100));
        // Process 1 is gone with 30 bytes: the next who finds it full gets them.
        assert!(l.lease(holder(2), 30, 100, |h: &Holder| h.pid != 1));
        assert_eq!(l.in_use(), 100);
        let mut b = [0u8; LEN];
        l.encode(&mut b);
        assert_eq!(Ledger::decode(&b), l);
    }

    #[test]
    fn a_reused_pid_is_not_the_process_that_had_it() {
        let me = Holder::of(std::process::id()).unwrap();
        assert!(me.runs());
        assert!(!Holder { start: me.start + 1, ..me }.runs());
        let child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let mut child = child;
        child.wait().unwrap();
        assert!(!Holder { pid, start: 0 }.runs());
    }
}
