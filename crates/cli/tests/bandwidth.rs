//! Bandwidth limits hold for every `vastost` process of the media server
//! together, as NetBackup runs them: a process per job, many at once. The
//! test feeds each backup's standard input and drains each restore's
//! standard output itself, so it counts what each job moves second by
//! second, after the jobs started and before any finished.
//!
//! A test program of its own, so that no other test shares the machine
//! while it measures.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use vastost_testkit as support;

const MIB: f64 = (1 << 20) as f64;
const LIMIT_MIB: u64 = 100;

struct Site {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("vastost.toml");
        let site = Site { dir, config };
        site.limits(LIMIT_MIB, LIMIT_MIB);
        site
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Writes the configuration with these limits (MiB/s).
    fn limits(&self, write: u64, read: u64) {
        std::fs::create_dir_all(self.data().join("lsu1")).unwrap();
        let text = format!(
            "[plugin]\nstate_dir = \"{state}\"\nlog_level = \"info\"\nlog_file = \"{log}\"\n\
             metrics_dir = \"{metrics}\"\nmetrics_interval_secs = 1\n\n\
             [server.\"site\"]\ndirectory = \"{data}\"\nfragment_size = \"4MiB\"\n\
             max_write_bandwidth = \"{write}MiB\"\nmax_read_bandwidth = \"{read}MiB\"\n",
            state = self.dir.path().join("state").display(),
            log = self.dir.path().join("logs/plugin.log").display(),
            metrics = self.dir.path().join("metrics").display(),
            data = self.data().display(),
        );
        // Written whole under another name and renamed: a job never reads
        // half a file.
        let tmp = self.config.with_extension("new");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.config).unwrap();
    }

    fn vastost(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vastost"));
        cmd.args(args)
            .env("VASTOST_CONFIG", &self.config)
            .env("VASTOST_PLUGIN", support::plugin_path())
            .env("VASTOST_SERVER", "VastData:site")
            .env("VASTOST_LSU", "lsu1")
            .stderr(Stdio::null());
        cmd
    }
}

/// A `vastost` process and the thread that feeds or drains it.
struct Job {
    child: Child,
    moved: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    pump: Option<JoinHandle<()>>,
}

const CHUNK: usize = 256 << 10;

impl Job {
    /// `vastost backup` of `image`, fed from a pipe until stopped.
    fn backup(site: &Site, image: &str) -> Job {
        let mut child = site
            .vastost(&["backup", "--image", image, "--date", "1", "--block", "256KiB"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("vastost runs");
        let mut input = child.stdin.take().unwrap();
        let (moved, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (m, s) = (moved.clone(), stop.clone());
        let chunk = support::bytes(image.len() as u64, CHUNK);
        let pump = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) && input.write_all(&chunk).is_ok() {
                m.fetch_add(CHUNK as u64, Ordering::Relaxed);
            }
        });
        Job { child, moved, stop, pump: Some(pump) }
    }

    /// `vastost restore` of `image`, drained as it comes.
    fn restore(site: &Site, image: &str) -> Job {
        let mut child = site
            .vastost(&["restore", "--image", image, "--date", "1", "--block", "256KiB"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("vastost runs");
        let mut output = child.stdout.take().unwrap();
        let (moved, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let m = moved.clone();
        let pump = std::thread::spawn(move || {
            let mut buf = vec![0u8; CHUNK];
            while let Ok(n @ 1..) = output.read(&mut buf) {
                m.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
        Job { child, moved, stop, pump: Some(pump) }
    }

    /// Ends a backup: its input closes, it commits, and must succeed.
    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.pump.take().unwrap().join().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "backup failed: {status}");
    }

    /// Ends a job at once (SIGKILL), as a crash or a cancelled job does.
    fn kill(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.pump.take().unwrap().join().unwrap();
    }
}

/// MiB/s each job moves over `window`.
fn rates(jobs: &[&Job], window: Duration) -> Vec<f64> {
    let before: Vec<u64> = jobs.iter().map(|j| j.moved.load(Ordering::Relaxed)).collect();
    let started = std::time::Instant::now();
    std::thread::sleep(window);
    let took = started.elapsed().as_secs_f64();
    jobs.iter().zip(before).map(|(j, b)| (j.moved.load(Ordering::Relaxed) - b) as f64 / MIB / took).collect()
}

/// Checks the aggregate against `limit` (±10%) and each job's share
/// against 1/N (±25%); prints the figures.
fn check(what: &str, rates: &[f64], limit: u64) {
    let total: f64 = rates.iter().sum();
    assert!(total > 0.0, "{what}: nothing moved");
    let n = rates.len() as f64;
    let shares: Vec<f64> = rates.iter().map(|r| r / total * n).collect();
    let (lo, hi) = shares.iter().fold((f64::MAX, 0f64), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
    println!(
        "{what:<34} {n:>3} jobs: {total:7.1} MiB/s together (limit {limit}, {:.3}x); per job {:.2} MiB/s, \
         shares {lo:.2}..{hi:.2} of 1/N",
        total / limit as f64,
        total / n
    );
    let ratio = total / limit as f64;
    assert!((0.9..=1.1).contains(&ratio), "{what}: {total:.1} MiB/s together for a limit of {limit}");
    assert!(lo >= 0.75 && hi <= 1.25, "{what}: shares of 1/N from {lo:.2} to {hi:.2}: {rates:?}");
}

fn empty_lsu(data: &Path) {
    std::fs::remove_dir_all(data.join("lsu1")).unwrap();
    std::fs::create_dir_all(data.join("lsu1")).unwrap();
}

/// The tests measure one at a time.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn limits_hold_for_every_process_of_the_media_server_together() {
    let _alone = MEASURING.lock().unwrap_or_else(|p| p.into_inner());
    let site = Site::new();
    for n in [1, 2, 8, 32] {
        let names: Vec<String> = (0..n).map(|i| format!("n{n}-{i}")).collect();
        let backups: Vec<Job> = names.iter().map(|name| Job::backup(&site, name)).collect();
        std::thread::sleep(Duration::from_millis(1500));
        check("backup", &rates(&backups.iter().collect::<Vec<_>>(), Duration::from_secs(3)), LIMIT_MIB);
        std::thread::sleep(Duration::from_secs(1));
        backups.into_iter().for_each(Job::finish);

        // Each image holds about five seconds of its share: the restores
        // are measured before any of them ends.
        let restores: Vec<Job> = names.iter().map(|name| Job::restore(&site, name)).collect();
        std::thread::sleep(Duration::from_secs(1));
        check("restore", &rates(&restores.iter().collect::<Vec<_>>(), Duration::from_secs(3)), LIMIT_MIB);
        restores.into_iter().for_each(Job::kill);
        empty_lsu(&site.data());
    }
}

#[test]
fn a_killed_job_gives_its_share_back_and_a_raised_limit_applies_to_running_jobs() {
    let _alone = MEASURING.lock().unwrap_or_else(|p| p.into_inner());
    let site = Site::new();
    site.limits(40, 40);
    let mut jobs: Vec<Job> = ["a", "b"].iter().map(|name| Job::backup(&site, name)).collect();
    std::thread::sleep(Duration::from_millis(1500));
    check("two backups", &rates(&jobs.iter().collect::<Vec<_>>(), Duration::from_secs(2)), 40);
    // `vastost stats` shows the limit, what moves under it and who shares it.
    let out = site.vastost(&["stats"]).stdout(Stdio::piped()).output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    let line = shown
        .lines()
        .find(|l| l.starts_with("bandwidth limit VastData:site write"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(line.contains(": 40.0 MiB/s") && line.contains("shared by 2 process(es)"), "{line}");
    let moving: f64 = line.split("moving ").nth(1).and_then(|r| r.split(' ').next()?.parse().ok()).unwrap();
    assert!((30.0..=50.0).contains(&moving), "{line}");

    // One is killed halfway: the other has the whole limit within a
    // second or two.
    jobs.remove(0).kill();
    std::thread::sleep(Duration::from_secs(1));
    check("the one left after a SIGKILL", &rates(&[&jobs[0]], Duration::from_secs(2)), 40);

    // The limit raised while it runs: it speeds up without a restart.
    site.limits(LIMIT_MIB, LIMIT_MIB);
    std::thread::sleep(Duration::from_secs(2));
    check("the same job, limit raised", &rates(&[&jobs[0]], Duration::from_secs(2)), LIMIT_MIB);
    jobs.into_iter().for_each(Job::finish);
}
