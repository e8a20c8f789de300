//! How far past its read-ahead window a reader sends its GETs (see
//! `reader`): far enough that a unit's answer has begun by the time the
//! unit enters the window, and no farther, since every GET under way holds
//! a connection and the HTTP client's buffers.
//!
//! That distance is the cluster's time to answer times the pace at which
//! the caller reads, both measured as the reader goes: a cluster next door
//! needs one unit opened ahead, one 10 ms away at 1.5 GiB/s about 16 MiB.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A measuring window of the read pace.
const WINDOW: Duration = Duration::from_millis(50);

/// What a reader measures of its cluster and its caller.
#[derive(Debug, Default)]
pub(crate) struct ReadPace {
    /// Time to an answer's headers, in ns (a moving average; 0: none yet),
    /// written by the fetch tasks.
    answer_ns: Arc<AtomicU64>,
    /// Bytes per second the caller reads (a moving average; 0: none yet).
    rate: f64,
    /// The current measuring window: when it began and what was read.
    window: Option<(Instant, u64)>,
}

/// A fetch task's handle to report how long answers take.
#[derive(Debug, Clone)]
pub(crate) struct AnswerClock(Arc<AtomicU64>);

impl AnswerClock {
    /// An answer's headers came `took` after its request.
    pub(crate) fn answered(&self, took: Duration) {
        let sample = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let old = self.0.load(Ordering::Relaxed);
        let new = if old == 0 { sample } else { (old * 3 + sample) / 4 };
        self.0.store(new, Ordering::Relaxed);
    }
}

impl ReadPace {
    pub(crate) fn clock(&self) -> AnswerClock {
        AnswerClock(self.answer_ns.clone())
    }

    /// The caller read `bytes` now.
    pub(crate) fn read(&mut self, bytes: u64) {
        let now = Instant::now();
        let (since, sum) = self.window.get_or_insert((now, 0));
        *sum += bytes;
        let took = now.duration_since(*since);
        if took >= WINDOW {
            let sample = *sum as f64 / took.as_secs_f64();
            self.rate = if self.rate == 0.0 { sample } else { 0.75 * self.rate + 0.25 * sample };
            self.window = Some((now, 0));
        }
    }

    /// Bytes to open past the read-ahead window: `read_ahead` until both
    /// figures are known, then the answer time's worth of reading, with
    /// half as much again to spare, from one `unit` to four read-aheads.
    pub(crate) fn open_ahead(&self, read_ahead: u64, unit: u64) -> u64 {
        let answer = self.answer_ns.load(Ordering::Relaxed) as f64 / 1e9;
        if answer == 0.0 || self.rate == 0.0 {
            return read_ahead;
        }
        ((answer * self.rate * 1.5) as u64).clamp(unit, (4 * read_ahead).max(unit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_far_cluster_gets_more_opened_ahead_than_a_near_one() {
        const MIB: u64 = 1 << 20;
        let mut pace = ReadPace::default();
        assert_eq!(pace.open_ahead(16 * MIB, 4 * MIB), 16 * MIB, "nothing measured yet");
        pace.rate = 1024.0 * MIB as f64;
        pace.clock().answered(Duration::from_millis(10));
        let far = pace.open_ahead(16 * MIB, 4 * MIB);
        assert!((15 * MIB..=16 * MIB).contains(&far), "{far}");
        for _ in 0..20 {
            pace.clock().answered(Duration::from_micros(200));
        }
        assert_eq!(pace.open_ahead(16 * MIB, 4 * MIB), 4 * MIB, "one unit for a cluster next door");
        pace.clock().answered(Duration::from_secs(5));
        assert_eq!(pace.open_ahead(16 * MIB, 4 * MIB), 64 * MIB, "never past four read-aheads");
    }

    #[test]
    fn the_pace_is_measured_over_windows() {
        let mut pace = ReadPace::default();
        pace.read(1 << 20);
        std::thread::sleep(WINDOW);
        pace.read(1 << 20);
        assert!(pace.rate > 0.0 && pace.rate < 2.0 * (1 << 20) as f64 / WINDOW.as_secs_f64());
    }
}
