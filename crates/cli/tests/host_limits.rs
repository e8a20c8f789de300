//! Bandwidth limits and the host memory budget hold for every `vastost`
//! process of the media server together, as NetBackup runs them: a
//! process per job, many at once. The test feeds each backup's standard
//! input and drains each restore's standard output itself, so it counts
//! what each job moves second by second, after the jobs started and before
//! any finished.
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

    /// A site whose server is an S3 simulator (`vastost sim`, kept
    /// running by the returned child) with a host memory budget, if any.
    fn s3(host_memory_budget: Option<&str>) -> (Site, Child) {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys.toml");
        let mut sim = Command::new(env!("CARGO_BIN_EXE_vastost"))
            .args(["sim", "--in-memory", "--bucket", "lsu1", "--credentials-out"])
            .arg(&keys)
            .arg("--data")
            .arg(dir.path().join("sim"))
            // Uploads slower than the jobs fill their buffers: each job
            // holds all it may.
            .args(["--latency", "300ms"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(sim.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let endpoint = line.trim().strip_prefix("s3 endpoint: ").expect("the endpoint line").to_string();
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let host = host_memory_budget.map_or(String::new(), |b| format!("host_memory_budget = \"{b}\"\n"));
        let text = format!(
            "[plugin]\nstate_dir = \"{state}\"\nmetrics_dir = \"{metrics}\"\nmetrics_interval_secs = 1\n{host}\n\
             [server.\"site\"]\ndata_path = \"s3\"\nendpoint = \"{endpoint}\"\ncredentials_file = \"{keys}\"\n\
             lsus = [\"lsu1\"]\nfragment_size = \"1MiB\"\nwrite_parallelism = 4\n",
            state = dir.path().join("state").display(),
            metrics = dir.path().join("metrics").display(),
            keys = keys.display(),
        );
        let config = dir.path().join("vastost.toml");
        std::fs::write(&config, text).unwrap();
        (Site { dir, config }, sim)
    }

    /// What `vastost stats` shows now.
    fn stats(&self) -> String {
        let out = self.vastost(&["stats"]).stdout(Stdio::piped()).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Writes the configuration with these limits (MiB/s). Images go
    /// through the page cache (`direct_io = false`), so that restores read
    /// from memory: what is measured is the limit, not this machine's disk.
    fn limits(&self, write: u64, read: u64) {
        std::fs::create_dir_all(self.data().join("lsu1")).unwrap();
        let text = format!(
            "[plugin]\nstate_dir = \"{state}\"\nlog_level = \"info\"\nlog_file = \"{log}\"\n\
             metrics_dir = \"{metrics}\"\nmetrics_interval_secs = 1\n\n\
             [server.\"site\"]\ndirectory = \"{data}\"\nfragment_size = \"4MiB\"\ndirect_io = false\n\
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

    /// Ends backups together: their inputs close, they commit, and must
    /// succeed.
    fn finish_all(jobs: Vec<Job>) {
        jobs.iter().for_each(|j| j.stop.store(true, Ordering::Relaxed));
        jobs.into_iter().for_each(Job::finish);
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
        // Each image gets five seconds of its share and 16 MiB more: its
        // restore, measured for four seconds from its start (the first
        // restores started get more than their share until the last one
        // starts), never reaches its end while it is measured.
        let need = LIMIT_MIB * (1 << 20) * 5 / n as u64 + (16 << 20);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while backups.iter().any(|j| j.moved.load(Ordering::Relaxed) < need) {
            assert!(std::time::Instant::now() < deadline, "backups too slow to fill their images");
            std::thread::sleep(Duration::from_millis(100));
        }
        Job::finish_all(backups);

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
    let shown = site.stats();
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
    Job::finish_all(jobs);
}

/// A size `vastost stats` printed (as `fmt::size` writes them), in MiB.
fn mib_after(text: &str, after: &str) -> f64 {
    let rest = text.split(after).nth(1).unwrap_or_else(|| panic!("no {after:?} in {text}"));
    let mut words = rest.split_whitespace();
    let (number, unit) = (words.next().unwrap(), words.next().unwrap());
    let n: f64 = number.parse().unwrap_or_else(|_| panic!("{number} in {text}"));
    match unit.trim_end_matches([',', ')']) {
        "B" => n / MIB,
        "KiB" => n / 1024.0,
        "MiB" => n,
        "GiB" => n * 1024.0,
        other => panic!("unit {other} in {text}"),
    }
}

/// Eight backups at full speed into an S3 simulator: what their buffers
/// weigh together (`vastost stats`, read while they run) and how fast
/// they go.
fn eight_backups(site: &Site) -> (String, f64) {
    let jobs: Vec<Job> = (0..8).map(|i| Job::backup(site, &format!("m{i}"))).collect();
    std::thread::sleep(Duration::from_secs(2));
    let rate: f64 = rates(&jobs.iter().collect::<Vec<_>>(), Duration::from_secs(2)).iter().sum();
    let shown = site.stats();
    Job::finish_all(jobs);
    (shown, rate)
}

#[test]
fn the_host_memory_budget_bounds_every_process_together() {
    let _alone = MEASURING.lock().unwrap_or_else(|p| p.into_inner());
    // Unbounded, eight jobs hold up to 8 × (4 + 1) × 1 MiB between them.
    let (site, mut sim) = Site::s3(None);
    let (shown, free_rate) = eight_backups(&site);
    let summed = mib_after(&shown, "(peak ");
    println!(
        "no host budget: buffers of all processes peak at {summed:.0} MiB (summed), {free_rate:.0} MiB/s\n{shown}"
    );
    assert!(summed > 24.0, "the jobs never needed more than the host budget below: the test proves nothing\n{shown}");
    sim.kill().unwrap();
    sim.wait().unwrap();

    let (site, mut sim) = Site::s3(Some("12MiB"));
    let (shown, rate) = eight_backups(&site);
    let line = shown.lines().find(|l| l.starts_with("host memory budget:")).unwrap_or_else(|| panic!("{shown}"));
    let peak = mib_after(line, "(peak ");
    println!("host budget 12 MiB: the ledger peaks at {peak:.0} MiB, {rate:.0} MiB/s\n{line}");
    assert!(mib_after(line, "of ") == 12.0 && (4.0..=12.0).contains(&peak), "{line}");
    // Every job completed (Job::finish checks); one restores whole.
    let out = site.vastost(&["restore", "--image", "m3", "--date", "1"]).stdout(Stdio::piped()).output().unwrap();
    assert!(out.status.success());
    let chunk = support::bytes(2, CHUNK);
    assert!(!out.stdout.is_empty() && out.stdout.chunks(CHUNK).all(|c| c == &chunk[..c.len()]));
    sim.kill().unwrap();
    sim.wait().unwrap();
}
