//! Bandwidth limits: `max_write_bandwidth` and `max_read_bandwidth` of a
//! server, shared by every stream of the process that uses that server (a
//! token bucket per direction, held by the engine by server name), and
//! changed without a restart: each `open_server` rereads them from the
//! configuration file.
//!
//! The limit applies where NetBackup hands bytes over or takes them: a
//! `write_image` or `read_image` call waits until its bytes fit the rate.
//! Uploads and read-ahead follow within the memory budget, so the storage
//! sees the same rate over any stretch longer than a fragment.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::ServerConfig;

/// A token bucket: `rate` bytes per second (0: no limit), bursts of a
/// twentieth of a second. Bytes are reserved before they go, so callers wait their
/// turn in order and the long-run rate is exactly the limit.
#[derive(Debug)]
pub(crate) struct Throttle {
    rate: AtomicU64,
    /// Bytes that may go now (negative: owed), as of the instant.
    bucket: Mutex<(f64, Instant)>,
}

impl Throttle {
    fn new(rate: u64) -> Self {
        Throttle { rate: AtomicU64::new(rate), bucket: Mutex::new((0.0, Instant::now())) }
    }

    /// The limit in bytes per second (0: none).
    pub(crate) fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    fn set_rate(&self, rate: u64) {
        if self.rate.swap(rate, Ordering::Relaxed) != rate {
            // A new limit starts from an empty bucket and no debt.
            *self.bucket.lock().unwrap_or_else(|p| p.into_inner()) = (0.0, Instant::now());
        }
    }

    /// Reserves `n` bytes at `now`; how long the caller must wait before
    /// they go.
    fn reserve_at(&self, n: u64, now: Instant) -> Duration {
        let rate = self.rate() as f64;
        if rate == 0.0 {
            return Duration::ZERO;
        }
        let burst = (rate / 20.0).max(64.0 * 1024.0);
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, since) = *bucket;
        let refilled = (tokens + now.saturating_duration_since(since).as_secs_f64() * rate).min(burst);
        let left = refilled - n as f64;
        *bucket = (left, now.max(since));
        if left >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-left / rate) }
    }

    /// Waits until `n` more bytes fit the limit (from a caller's thread,
    /// never a runtime worker).
    pub(crate) fn take(&self, n: u64) {
        let wait = self.reserve_at(n, Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// A server's limits, one throttle per direction.
#[derive(Debug)]
pub(crate) struct Limits {
    pub write: Throttle,
    pub read: Throttle,
}

/// The limits of every server the process has opened, by name.
#[derive(Debug, Default)]
pub(crate) struct Bandwidth {
    servers: Mutex<HashMap<String, Arc<Limits>>>,
}

fn rates(cfg: &ServerConfig) -> (u64, u64) {
    (cfg.max_write_bandwidth.map_or(0, |b| b.as_u64()), cfg.max_read_bandwidth.map_or(0, |b| b.as_u64()))
}

impl Bandwidth {
    /// The limits of server `name`, set to what `cfg` says now.
    pub(crate) fn of(&self, name: &str, cfg: &ServerConfig) -> Arc<Limits> {
        let (write, read) = rates(cfg);
        let mut servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        let limits = servers
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(Limits { write: Throttle::new(write), read: Throttle::new(read) }))
            .clone();
        if (limits.write.rate(), limits.read.rate()) != (write, read) {
            tracing::info!(server = name, write, read, "bandwidth limits (bytes per second, 0: none) now in force");
            limits.write.set_rate(write);
            limits.read.set_rate(read);
        }
        limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_run_rate_is_the_limit_and_bursts_are_short() {
        let t = Throttle::new(1_000_000);
        let start = Instant::now();
        // 10 MB at 1 MB/s: the waits add up to 10 s less the burst.
        let mut waited = Duration::ZERO;
        let mut now = start;
        for _ in 0..100 {
            let wait = t.reserve_at(100_000, now);
            now += wait;
            waited += wait;
        }
        let secs = waited.as_secs_f64();
        assert!((9.9..=10.0).contains(&secs), "{secs}");
        // No limit: no wait.
        let free = Throttle::new(0);
        assert_eq!(free.reserve_at(u64::MAX / 2, start), Duration::ZERO);
    }

    #[test]
    fn a_new_limit_applies_at_once_and_forgives_the_debt() {
        let t = Throttle::new(1_000);
        let now = Instant::now();
        assert!(t.reserve_at(1_000_000, now) > Duration::from_secs(900));
        t.set_rate(1_000_000);
        let wait = t.reserve_at(100_000, Instant::now());
        assert!(wait < Duration::from_millis(100), "{wait:?}");
    }
}
