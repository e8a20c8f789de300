//! How far past its read-ahead window a reader sends its GETs (see
//! `reader`): far enough that a unit's answer has begun by the time the
//! unit enters the window, and no farther, since every GET under way holds
//! a connection and the HTTP client's buffers.
//!
//! That distance is the cluster's time to answer times the pace at which
//! the caller would read if every unit were there when wanted, both
//! measured as the reader goes: a cluster next door needs one unit opened
//! ahead, one 10 ms away at 2 GiB/s about 30 MiB. The pace is the caller's
//! own, the time it spent waiting for units left out: measured as read,
//! a reader that waits would open less and so wait more.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A measuring window of the read pace.
const WINDOW: Duration = Duration::from_millis(50);

/// Units a reader opens ahead at most: 64 MiB of 4 MiB units, what a
/// caller reading 2 GiB/s needs from a cluster 20 ms away.
const MAX_OPENED: u64 = 16;

/// What a reader measures of its cluster and its caller.
#[derive(Debug, Default)]
pub(crate) struct ReadPace {
    /// Time to an answer's headers, in ns (a moving average; 0: none yet),
    /// written by the fetch tasks.
    answer_ns: Arc<AtomicU64>,
    /// Bytes per second the caller reads when it does not wait for units
    /// (a moving average; 0: none yet).
    rate: f64,
    /// The current measuring window.
    window: Option<Window>,
}

/// What a measuring window has seen so far.
#[derive(Debug)]
struct Window {
    since: Instant,
    bytes: u64,
    /// Time the caller spent waiting for units.
    waited: Duration,
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

    fn window(&mut self) -> &mut Window {
        self.window.get_or_insert_with(|| Window { since: Instant::now(), bytes: 0, waited: Duration::ZERO })
    }

    /// The caller waited `took` for a unit.
    pub(crate) fn waited(&mut self, took: Duration) {
        self.window().waited += took;
    }

    /// The caller read `bytes` now.
    pub(crate) fn read(&mut self, bytes: u64) {
        let now = Instant::now();
        let window = self.window();
        window.bytes += bytes;
        let took = now.duration_since(window.since);
        if took >= WINDOW {
            // A caller that did nothing but wait counts as twenty times
            // faster than it read, not infinitely fast.
            let busy = took.saturating_sub(window.waited).max(took / 20);
            let sample = window.bytes as f64 / busy.as_secs_f64();
            self.rate = if self.rate == 0.0 { sample } else { 0.75 * self.rate + 0.25 * sample };
            self.window = None;
        }
    }

    /// Bytes to open past the read-ahead window: four units until both
    /// figures are known (a start as fast as from a cluster 10 ms away at
    /// 1 GiB/s), then the answer time's worth of reading, with
    /// half as much again to spare, from one `unit` to [`MAX_OPENED`]
    /// units (every GET opened holds a connection and the HTTP client's
    /// read buffer).
    pub(crate) fn open_ahead(&self, unit: u64) -> u64 {
        let answer = self.answer_ns.load(Ordering::Relaxed) as f64 / 1e9;
        if answer == 0.0 || self.rate == 0.0 {
            return 4 * unit;
        }
        ((answer * self.rate * 1.5) as u64).clamp(unit, MAX_OPENED * unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_far_cluster_gets_more_opened_ahead_than_a_near_one() {
        const MIB: u64 = 1 << 20;
        let mut pace = ReadPace::default();
        assert_eq!(pace.open_ahead(4 * MIB), 16 * MIB, "nothing measured yet: four units");
        pace.rate = 1024.0 * MIB as f64;
        pace.clock().answered(Duration::from_millis(10));
        let far = pace.open_ahead(4 * MIB);
        assert!((15 * MIB..=16 * MIB).contains(&far), "{far}");
        for _ in 0..20 {
            pace.clock().answered(Duration::from_micros(200));
        }
        assert_eq!(pace.open_ahead(4 * MIB), 4 * MIB, "one unit for a cluster next door");
        pace.clock().answered(Duration::from_secs(5));
        assert_eq!(pace.open_ahead(4 * MIB), 64 * MIB, "never past sixteen units");
    }

    #[test]
    fn the_pace_is_measured_over_windows() {
        let mut pace = ReadPace::default();
        pace.read(1 << 20);
        std::thread::sleep(WINDOW);
        pace.read(1 << 20);
        assert!(pace.rate > 0.0 && pace.rate < 2.0 * (1 << 20) as f64 / WINDOW.as_secs_f64());
    }

    #[test]
    fn time_spent_waiting_for_units_is_not_the_callers_pace() {
        let start = Instant::now();
        let (mut waiting, mut free) = (ReadPace::default(), ReadPace::default());
        for pace in [&mut waiting, &mut free] {
            pace.read(1 << 20);
        }
        std::thread::sleep(WINDOW);
        // Nine tenths of the window spent waiting, however long it was.
        waiting.waited(start.elapsed() * 9 / 10);
        for pace in [&mut waiting, &mut free] {
            pace.read(1 << 20);
        }
        assert!(waiting.rate > 3.0 * free.rate, "{} against {}", waiting.rate, free.rate);
        let mut stalled = ReadPace::default();
        stalled.read(1 << 20);
        std::thread::sleep(WINDOW);
        stalled.waited(WINDOW * 2);
        stalled.read(1 << 20);
        let bound = 20.0 * (2 << 20) as f64 / WINDOW.as_secs_f64();
        assert!(stalled.rate > 0.0 && stalled.rate <= bound, "bounded: {} against {bound}", stalled.rate);
    }
}
