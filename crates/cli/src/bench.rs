//! `vastost bench`: backup and restore through the plugin, side by side
//! with plain sequential file I/O on the same filesystem, made durable the
//! same way (fsync before a file counts as written) and read back cold
//! (page cache dropped for the files concerned).

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::args::BenchArgs;
use crate::bench_steps::{LSU, evict, plugin_backup, plugin_restore, quiesce};
use crate::data::Pattern;
use crate::demo::{S3Demo, write_config};
use crate::{fmt, session};

const SOURCE_LEN: usize = 64 << 20;

/// Peak resident memory of the process since the last reset, in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Runs `n` streams of `job` at once and returns the wall time.
fn parallel(n: usize, job: impl Fn(usize) -> Result<()> + Sync) -> Result<Duration> {
    let started = Instant::now();
    std::thread::scope(|s| {
        let job = &job;
        let handles: Vec<_> = (0..n).map(|i| s.spawn(move || job(i))).collect();
        handles.into_iter().try_for_each(|h| h.join().unwrap_or_else(|_| bail!("a stream panicked")))
    })?;
    Ok(started.elapsed())
}

fn plain_write(path: &Path, source: &[u8], len: u64, block: usize) -> Result<()> {
    let mut f = File::create(path)?;
    let mut off = 0u64;
    while off < len {
        let at = (off as usize) % source.len();
        let n = block.min((len - off) as usize).min(source.len() - at);
        f.write_all(&source[at..at + n])?;
        off += n as u64;
    }
    f.sync_all()?;
    File::open(path.parent().context("a parent folder")?)?.sync_all()?;
    Ok(())
}

fn plain_read(path: &Path, block: usize) -> Result<u64> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; block];
    let mut total = 0;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}

/// What the plugin is measured against.
enum Reference {
    /// Plain sequential file I/O on the same filesystem (NFS data path).
    Files,
    /// The AWS CLI against the same S3 endpoint (S3 data path).
    AwsCli { endpoint: String, _sim: Box<vastost_sim::Simulator> },
}

impl Reference {
    fn label(&self) -> &'static str {
        match self {
            Reference::Files => "plain",
            Reference::AwsCli { .. } => "aws-cli",
        }
    }

    fn aws(endpoint: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new("aws");
        cmd.args(["--endpoint-url", endpoint, "--region", "us-east-1"])
            .env("AWS_ACCESS_KEY_ID", vastost_sim::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", vastost_sim::SECRET_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(std::process::Stdio::null());
        cmd
    }

    fn run(cmd: &mut std::process::Command, what: &str) -> Result<()> {
        let status = cmd.status().with_context(|| format!("cannot run the AWS CLI for {what} (pip install awscli)"))?;
        if !status.success() {
            bail!("the AWS CLI failed ({status}) for {what}");
        }
        Ok(())
    }

    /// Stores `len` bytes from `file` (written first when it is the file
    /// itself that is measured).
    fn write(&self, file: &Path, key: &str, source: &[u8], len: u64, block: usize) -> Result<()> {
        match self {
            Reference::Files => plain_write(file, source, len, block),
            Reference::AwsCli { endpoint, .. } => {
                let target = format!("s3://{LSU}/reference/{key}");
                Self::run(Self::aws(endpoint).args(["s3", "cp", "--quiet"]).arg(file).arg(&target), "an upload")
            }
        }
    }

    /// Reads back what `write` stored; returns the bytes read when known.
    fn read(&self, file: &Path, key: &str, block: usize) -> Result<Option<u64>> {
        match self {
            Reference::Files => plain_read(file, block).map(Some),
            Reference::AwsCli { endpoint, .. } => {
                let source = format!("s3://{LSU}/reference/{key}");
                Self::run(Self::aws(endpoint).args(["s3", "cp", "--quiet", &source, "-"]), "a download")?;
                Ok(None)
            }
        }
    }
}

/// Runs the benchmark.
pub fn run(plugin_path: Option<&Path>, args: &BenchArgs) -> Result<()> {
    let block = (args.block.0 as usize).next_multiple_of(512);
    let _tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            _tmp = tempfile::Builder::new().prefix("vastost-bench-").tempdir_in(std::env::temp_dir())?;
            _tmp.path().to_path_buf()
        }
    };
    let (data, plain_dir) = (dir.join("vast-nfs"), dir.join("plain"));
    std::fs::create_dir_all(&data)?;
    std::fs::create_dir_all(&plain_dir)?;
    let (reference, server, config) = if args.s3 {
        let sim = vastost_sim::Simulator::start(&dir.join("vast-sim"), "127.0.0.1:0".parse()?)?;
        sim.create_bucket(LSU)?;
        let creds = dir.join("s3-credentials.toml");
        crate::demo::write_credentials(&creds, vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY)?;
        let endpoint = sim.s3_endpoint();
        let config = write_config(
            &dir,
            &data,
            args.fragment_size.0,
            args.memory_budget.0,
            Some(S3Demo { endpoint: &endpoint, credentials: &creds, vms: None, ca_bundle: None }),
        )?;
        (Reference::AwsCli { endpoint, _sim: Box::new(sim) }, "VastData:demo-s3", config)
    } else {
        let config = write_config(&dir, &data, args.fragment_size.0, args.memory_budget.0, None)?;
        (Reference::Files, "VastData:demo", config)
    };
    let plugin = session::load(plugin_path, Some(&config))?;
    if !args.images.is_empty() {
        let sim = match &reference {
            Reference::AwsCli { _sim, .. } => Some(&**_sim),
            Reference::Files => None,
        };
        let path = if args.s3 { "S3 (simulator)" } else { "NFS (local directory)" };
        crate::scale_bench::run(&plugin, server, path, &args.images, crate::scale_bench::Requests(sim))?;
        plugin.terminate()?;
        return Ok(());
    }
    let mut source = vec![0u8; SOURCE_LEN];
    Pattern::new(42).fill(0, &mut source);
    if args.copies {
        let second = match &reference {
            Reference::Files => {
                std::fs::create_dir_all(data.join(crate::copy_bench::LSU2))?;
                None
            }
            Reference::AwsCli { _sim, .. } => Some(&**_sim),
        };
        if let Some(sim) = second {
            sim.create_bucket(crate::copy_bench::LSU2)?;
        }
        // Where the LSUs' objects are, to measure the space they take.
        let stored_in = if args.s3 { dir.join("vast-sim") } else { data.clone() };
        crate::copy_bench::run(&plugin, server, &stored_in, &source, args.size.0, block)?;
        plugin.terminate()?;
        return Ok(());
    }

    println!(
        "vastost bench: {} per run, {} calls, fragments {}, memory budget {}, median of {} runs, on {}",
        fmt::size(args.size.0),
        fmt::size(block as u64),
        args.fragment_size.display().iec(),
        args.memory_budget.display().iec(),
        args.repeat.max(1),
        dir.display()
    );
    let (data_path, ref_label) = if args.s3 { ("S3 (simulator)", "aws-cli MiB/s") } else { ("NFS", "plain MiB/s") };
    println!("data path: {data_path}; reference: {}", reference.label());
    println!("{:<8} {:>7} {:>14} {:>14} {:>7}", "", "streams", ref_label, "plugin MiB/s", "ratio");
    let mut peak_rss_plugin = 0;
    for &n in &args.streams {
        if n == 0 {
            bail!("a stream count must be at least 1");
        }
        let per = (args.size.0 / n as u64).next_multiple_of(block as u64);
        let total = per * n as u64;
        let plain_file = |i: usize| plain_dir.join(format!("stream{i}"));
        let name = |i: usize| format!("bench_{n}_{i}");

        // Each measure is taken `repeat` times, alternating plain and plugin
        // runs so that drifts of a shared disk hit both alike.
        let mut times: [Vec<Duration>; 4] = Default::default();
        // Plain and plugin runs alternate which goes first: on a virtual
        // machine, whoever first touches memory the host has reclaimed pays
        // for it, and that must not always be the same side.
        for round in 0..args.repeat.max(1) {
            let plain_run = |times: &mut [Vec<Duration>; 4]| -> Result<()> {
                if args.s3 {
                    // The AWS CLI uploads from a file: write it untimed.
                    for i in 0..n {
                        plain_write(&plain_file(i), &source, per, block)?;
                    }
                }
                quiesce();
                times[0].push(parallel(n, |i| reference.write(&plain_file(i), &name(i), &source, per, block))?);
                evict(&plain_dir)?;
                quiesce();
                times[1].push(parallel(n, |i| match reference.read(&plain_file(i), &name(i), block)? {
                    Some(got) if got != per => bail!("plain read gave {got} bytes, {per} expected"),
                    _ => Ok(()),
                })?);
                for i in 0..n {
                    std::fs::remove_file(plain_file(i))?;
                }
                Ok(())
            };
            let plugin_run = |times: &mut [Vec<Duration>; 4], peak: &mut u64| -> Result<()> {
                reset_peak_rss();
                quiesce();
                times[2].push(parallel(n, |i| plugin_backup(&plugin, server, &name(i), &source, per, block))?);
                evict(&data)?;
                quiesce();
                times[3].push(parallel(n, |i| {
                    let got = plugin_restore(&plugin, server, &name(i), block)?;
                    if got != per {
                        bail!("restore gave {got} bytes, {per} expected");
                    }
                    Ok(())
                })?);
                *peak = (*peak).max(peak_rss().unwrap_or(0));
                let handle = plugin.open_server(server, None)?;
                for i in 0..n {
                    handle.delete_image(LSU, &name(i), "bench")?;
                }
                Ok(())
            };
            if round % 2 == 0 {
                plain_run(&mut times)?;
                plugin_run(&mut times, &mut peak_rss_plugin)?;
            } else {
                plugin_run(&mut times, &mut peak_rss_plugin)?;
                plain_run(&mut times)?;
            }
        }
        let median = |v: &mut Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let [pw, pr, gw, gr] = &mut times;
        for (what, plain, plug) in [("backup", median(pw), median(gw)), ("restore", median(pr), median(gr))] {
            let (p, q) = (fmt::mib_per_s(total, plain), fmt::mib_per_s(total, plug));
            println!("{what:<8} {n:>7} {p:>14.1} {q:>14.1} {:>7.2}", q / p);
        }
    }
    let stats = plugin.stats()?;
    println!(
        "plugin memory: budget peak {} of {} configured; process peak RSS during plugin runs {} (includes the {} source buffer)",
        fmt::size(stats.vs_budget_peak),
        fmt::size(stats.vs_budget_total),
        fmt::size(peak_rss_plugin),
        fmt::size(SOURCE_LEN as u64)
    );
    plugin.terminate()?;
    Ok(())
}
