//! Bandwidth limits: `max_write_bandwidth` and `max_read_bandwidth` of a
//! server hold for every plugin process of the media server together (a
//! token bucket per server and direction in a file they share, see
//! [`shared`]), and a changed configuration file applies to running jobs
//! within a second or two.
//!
//! The limit applies where NetBackup hands bytes over or takes them: a
//! `write_image` or `read_image` call waits until its bytes fit the rate.
//! Uploads and read-ahead follow within the memory budget, so the storage
//! sees the same rate over any stretch longer than a fragment.
//!
//! Without a usable state folder (`state_dir = ""`, or one that is not
//! closed to other users) the bucket is the process's own, and the log says
//! that the limit then holds per process.

mod bucket;
mod shared;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use vastost_metrics::Direction;

use crate::config::Config;
use bucket::{State, now_ns};
use shared::SharedBucket;
use vastost_config::Limits as Configured;

/// Where a bucket is kept.
#[derive(Debug)]
enum Store {
    /// Shared by the host's plugin processes.
    Host(SharedBucket),
    /// This process's own.
    Process(Mutex<State>),
}

/// One direction's limit.
#[derive(Debug)]
pub(crate) struct Throttle {
    store: Store,
    /// The limit this process last set, to skip the file when there is none.
    rate: std::sync::atomic::AtomicU64,
    /// The next call's turn, reserved by the last call: when, and for how
    /// many bytes.
    next: Mutex<Option<(Instant, u64)>>,
}

impl Throttle {
    fn open(server: &str, direction: Direction, rate: u64) -> Self {
        let store = match crate::host_cache::file("bandwidth", &format!("{server} {}", direction.as_str())) {
            Some(path) => match SharedBucket::open(&path) {
                Ok(bucket) => Store::Host(bucket),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "bandwidth limit kept per process: cannot open the shared bucket");
                    Store::Process(Mutex::default())
                }
            },
            None => {
                tracing::info!(server, "bandwidth limit kept per process: no state folder (state_dir)");
                Store::Process(Mutex::default())
            }
        };
        let throttle = Throttle { store, rate: u64::MAX.into(), next: Mutex::new(None) };
        throttle.set_rate(rate);
        throttle
    }

    /// The limit in bytes per second (0: none).
    pub(crate) fn rate(&self) -> u64 {
        self.rate.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set_rate(&self, rate: u64) {
        if self.rate.swap(rate, std::sync::atomic::Ordering::Relaxed) == rate {
            return;
        }
        // A turn reserved at the old limit is not waited for.
        *self.next.lock().unwrap_or_else(|p| p.into_inner()) = None;
        match &self.store {
            Store::Host(b) => {
                if let Err(e) = b.set_rate(rate, now_ns()) {
                    tracing::warn!(error = %e, "cannot set the shared bandwidth limit");
                }
            }
            Store::Process(s) => s.lock().unwrap_or_else(|p| p.into_inner()).set_rate(rate, now_ns()),
        }
    }

    /// Reserves `n` bytes: when they may go.
    fn reserve(&self, n: u64) -> Instant {
        let wait = match &self.store {
            Store::Host(b) => b.reserve(std::process::id(), n).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "shared bandwidth bucket unreadable; this call goes unthrottled");
                0
            }),
            Store::Process(s) => s.lock().unwrap_or_else(|p| p.into_inner()).reserve(n, now_ns()),
        };
        Instant::now() + Duration::from_nanos(wait)
    }

    /// Waits until `n` more bytes fit the limit (from a caller's thread,
    /// never a runtime worker).
    ///
    /// A call also reserves the next call's turn (as many bytes again)
    /// before it returns, so that a stream keeps its place in the queue
    /// while it works between calls: otherwise a stream that spends longer
    /// between calls (waiting for the cluster, or for the CPU) would queue
    /// behind every other stream each time and get less than its share.
    fn take(&self, n: u64) {
        if self.rate() == 0 {
            return;
        }
        let held = self.next.lock().unwrap_or_else(|p| p.into_inner()).take();
        let due = match held {
            Some((due, held)) if held >= n => due,
            Some((due, held)) => due.max(self.reserve(n - held)),
            None => self.reserve(n),
        };
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let next = self.reserve(n);
        *self.next.lock().unwrap_or_else(|p| p.into_inner()) = Some((next, n));
    }

    fn reading(&self) -> Option<shared::Reading> {
        let now = now_ns();
        match &self.store {
            Store::Host(b) => b.reading(now).ok(),
            Store::Process(s) => {
                let s = s.lock().unwrap_or_else(|p| p.into_inner());
                Some(shared::Reading { limit: s.rate, rate: s.moving_rate(now), processes: 1 })
            }
        }
    }
}

/// Where a server's limits are reread from while jobs run.
#[derive(Debug)]
struct Source {
    file: PathBuf,
    /// When the file was last looked at, and its modification time then.
    seen: Mutex<(Instant, Option<SystemTime>)>,
}

/// How often a running job looks whether the configuration changed.
const REREAD_EVERY: Duration = Duration::from_secs(1);

/// A server's limits, one throttle per direction.
#[derive(Debug)]
pub(crate) struct Limits {
    server: String,
    write: Throttle,
    read: Throttle,
    source: Option<Source>,
}

fn modified(file: &Path) -> Option<SystemTime> {
    std::fs::metadata(file).and_then(|m| m.modified()).ok()
}

impl Limits {
    fn set(&self, (write, read): (u64, u64)) {
        if (self.write.rate(), self.read.rate()) != (write, read) {
            tracing::info!(
                server = self.server,
                write,
                read,
                "bandwidth limits (bytes per second, 0: none) now in force"
            );
            self.write.set_rate(write);
            self.read.set_rate(read);
        }
    }

    /// Rereads the limits when the configuration file changed (looked at
    /// once a second at most).
    fn reread(&self) {
        let Some(source) = &self.source else { return };
        let seen = source.seen.lock().unwrap_or_else(|p| p.into_inner()).0;
        if seen.elapsed() >= REREAD_EVERY {
            self.reread_now();
        }
    }

    /// Rereads the limits if the configuration file changed since it was
    /// last looked at; a file that does not read or parse now keeps the
    /// limits in force, with a warning.
    fn reread_now(&self) {
        let Some(source) = &self.source else { return };
        let mut seen = source.seen.lock().unwrap_or_else(|p| p.into_inner());
        let now = modified(&source.file);
        let changed = now != seen.1;
        *seen = (Instant::now(), now);
        drop(seen);
        if changed {
            match Config::load(&source.file).map(|c| c.server(&self.server).map(|s| s.limits.rates())) {
                Ok(Some(rates)) => self.set(rates),
                Ok(None) => tracing::warn!(server = self.server, "no longer in the configuration; limits kept"),
                Err(e) => tracing::warn!(server = self.server, error = %e, "configuration not reread; limits kept"),
            }
        }
    }

    /// Waits until `n` more bytes may move in `direction`.
    pub(crate) fn take(&self, direction: Direction, n: u64) {
        self.reread();
        match direction {
            Direction::Write => self.write.take(n),
            Direction::Read => self.read.take(n),
        }
    }
}

/// A limit in force, as `vastost stats` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandwidthReading {
    /// The server's name.
    pub server: String,
    /// Which way.
    pub direction: Direction,
    /// Bytes per second allowed.
    pub limit: u64,
    /// Bytes per second moved lately by every process sharing the limit.
    pub rate: u64,
    /// Processes that moved bytes under the limit in the last seconds
    /// (1 when the limit is this process's own).
    pub processes: usize,
}

/// The limits of every server the process has opened, by name.
#[derive(Debug, Default)]
pub(crate) struct Bandwidth {
    servers: Mutex<HashMap<String, Arc<Limits>>>,
    /// The configuration file, reread while jobs run.
    file: Option<PathBuf>,
}

impl Bandwidth {
    /// Limits reread from `file` while jobs run.
    pub(crate) fn reread_from(file: Option<PathBuf>) -> Self {
        Bandwidth { servers: Mutex::default(), file }
    }

    /// The limits of server `name`: those `configured` (the configuration the
    /// engine started with) at first, then what the configuration file
    /// says whenever it changes.
    pub(crate) fn of(&self, name: &str, configured: &Configured) -> Arc<Limits> {
        let (write, read) = configured.rates();
        let mut servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        let limits = servers
            .entry(name.to_string())
            .or_insert_with(|| {
                // Never looked at: the first look reads it.
                let source = self
                    .file
                    .as_ref()
                    .map(|file| Source { seen: Mutex::new((Instant::now(), None)), file: file.clone() });
                Arc::new(Limits {
                    server: name.to_string(),
                    write: Throttle::open(name, Direction::Write, write),
                    read: Throttle::open(name, Direction::Read, read),
                    source,
                })
            })
            .clone();
        drop(servers);
        limits.reread_now();
        limits
    }

    /// The limits in force in this process, with what moves under them.
    pub(crate) fn readings(&self) -> Vec<BandwidthReading> {
        let servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (name, limits) in servers.iter() {
            for (direction, throttle) in [(Direction::Write, &limits.write), (Direction::Read, &limits.read)] {
                if throttle.rate() == 0 {
                    continue;
                }
                if let Some(r) = throttle.reading() {
                    out.push(BandwidthReading {
                        server: name.clone(),
                        direction,
                        limit: r.limit,
                        rate: r.rate,
                        processes: r.processes,
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.server, a.direction).cmp(&(&b.server, b.direction)));
        out
    }
}
