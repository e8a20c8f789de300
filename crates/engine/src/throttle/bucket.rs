//! The token bucket's arithmetic, apart from where its state is kept (in
//! the process, or in a file the host's plugin processes share).
//!
//! Bytes are reserved before they go: a caller that finds the bucket empty
//! owes the bytes and waits until the refill pays them. Every later caller
//! queues behind that debt, so callers take turns in order (streams moving
//! equal calls get equal shares) and the long-run rate is the limit.

/// Nanoseconds in a second.
const NS: u128 = 1_000_000_000;

/// The state of a bucket: bytes that may go now (negative: owed), as of a
/// time in nanoseconds, and what moved in the current measuring window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct State {
    /// The limit in bytes per second (0: none).
    pub rate: u64,
    /// Bytes that may go now; negative: owed.
    pub tokens: i64,
    /// When `tokens` was last brought up to date.
    pub since_ns: u64,
    /// Start of the window over which the moving rate is measured.
    pub window_ns: u64,
    /// Bytes reserved since `window_ns`.
    pub window_bytes: u64,
    /// The rate measured over the last whole window.
    pub last_rate: u64,
}

/// The longest window the moving rate is measured over.
const WINDOW_NS: u64 = 1_000_000_000;

/// The largest burst at `rate`: a twentieth of a second, at least 64 KiB.
fn burst(rate: u64) -> i64 {
    i64::try_from((rate / 20).max(64 * 1024)).unwrap_or(i64::MAX)
}

impl State {
    /// Sets a new limit: it starts from an empty bucket and no debt.
    pub(crate) fn set_rate(&mut self, rate: u64, now_ns: u64) {
        if self.rate != rate {
            self.rate = rate;
            self.tokens = 0;
            self.since_ns = now_ns;
        }
    }

    /// Reserves `n` bytes at `now_ns`; how many nanoseconds the caller
    /// must wait before they go.
    pub(crate) fn reserve(&mut self, n: u64, now_ns: u64) -> u64 {
        self.measure(n, now_ns);
        if self.rate == 0 {
            return 0;
        }
        // A clock set back restarts the refill from now rather than
        // stopping it until the clock catches up.
        let elapsed = u128::from(now_ns.saturating_sub(self.since_ns));
        let refill = i64::try_from(elapsed * u128::from(self.rate) / NS).unwrap_or(i64::MAX);
        let refilled = self.tokens.saturating_add(refill).min(burst(self.rate));
        self.tokens = refilled.saturating_sub(i64::try_from(n).unwrap_or(i64::MAX));
        self.since_ns = now_ns;
        if self.tokens >= 0 {
            0
        } else {
            let owed = u128::from(self.tokens.unsigned_abs());
            u64::try_from(owed * NS / u128::from(self.rate)).unwrap_or(u64::MAX)
        }
    }

    fn measure(&mut self, n: u64, now_ns: u64) {
        let age = now_ns.saturating_sub(self.window_ns);
        if now_ns < self.window_ns || age >= WINDOW_NS {
            self.last_rate = if age > 0 && age < 2 * WINDOW_NS {
                u64::try_from(u128::from(self.window_bytes) * NS / u128::from(age)).unwrap_or(u64::MAX)
            } else {
                0
            };
            self.window_ns = now_ns;
            self.window_bytes = 0;
        }
        self.window_bytes = self.window_bytes.saturating_add(n);
    }

    /// Bytes per second moved lately, as of `now_ns` (0 after two quiet
    /// seconds).
    pub(crate) fn moving_rate(&self, now_ns: u64) -> u64 {
        let age = now_ns.saturating_sub(self.window_ns);
        if age >= 2 * WINDOW_NS {
            0
        } else if age >= WINDOW_NS {
            u64::try_from(u128::from(self.window_bytes) * NS / u128::from(age)).unwrap_or(u64::MAX)
        } else {
            self.last_rate
        }
    }
}

/// Now, in nanoseconds since the epoch: a clock every process of the host
/// reads alike.
pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn the_long_run_rate_is_the_limit_and_bursts_are_short() {
        let mut b = State::default();
        b.set_rate(1_000_000, 0);
        // 10 MB at 1 MB/s: the waits add up to 10 s.
        let mut now = 0;
        for _ in 0..100 {
            now += b.reserve(100_000, now);
        }
        let secs = now as f64 / S as f64;
        assert!((9.9..=10.0).contains(&secs), "{secs}");
        // After a quiet minute only a burst (a twentieth of a second) is free.
        now += 60 * S;
        assert_eq!(b.reserve(50_000, now), 0);
        assert!(b.reserve(100_000, now) > 0);
        // No limit: no wait.
        let mut free = State::default();
        assert_eq!(free.reserve(u64::MAX / 2, 5), 0);
    }

    #[test]
    fn a_new_limit_applies_at_once_and_forgives_the_debt() {
        let mut b = State::default();
        b.set_rate(1_000, 0);
        assert!(b.reserve(1_000_000, 0) > 900 * S);
        b.set_rate(1_000_000, 1);
        assert_eq!(b.reserve(50_000, 1), S / 20);
    }

    #[test]
    fn callers_queue_behind_the_debt_in_turn() {
        let mut b = State::default();
        b.set_rate(1_000_000, 0);
        let waits: Vec<u64> = (0..4).map(|_| b.reserve(250_000, 0)).collect();
        assert_eq!(waits, [S / 4, S / 2, 3 * S / 4, S]);
    }

    #[test]
    fn the_moving_rate_follows_what_moved() {
        let mut b = State::default();
        b.set_rate(0, 0);
        for i in 0..30 {
            b.reserve(100_000, i * S / 10);
        }
        let rate = b.moving_rate(3 * S);
        assert!((900_000..=1_100_000).contains(&rate), "{rate}");
        assert_eq!(b.moving_rate(10 * S), 0);
        // A clock set back does not stop the refill.
        let mut c = State::default();
        c.set_rate(1_000_000, 100 * S);
        c.reserve(1_000_000, 100 * S);
        assert!(c.reserve(0, 50 * S) > 0);
        assert_eq!(c.reserve(0, 52 * S), 0);
    }
}
