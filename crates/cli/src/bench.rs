//! `vastost bench`: backup and restore through the plugin, side by side
//! with the best reference clients on the same storage, in the same run:
//! plain sequential file I/O on the NFS path (made durable the same way:
//! `fsync` before a file counts as written), the AWS CLI and rclone
//! (defaults, and tuned) against the same S3 endpoint. Every client's
//! wall time (median and spread of the runs) and CPU seconds per GiB are
//! printed, and the peers' exact command lines. By default nothing is
//! evicted between runs (the steady state a media server has: page cache
//! full, writeback going on); `--cold` syncs and drops the cache of the
//! files concerned before each phase.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::args::BenchArgs;
use crate::bench_steps::{LSU, evict, plugin_backup, plugin_restore, quiesce};
use crate::data::Pattern;
use crate::demo::{S3Demo, write_config};
use crate::peers::{
    S3Client, S3Target, SimProcess, cpu_seconds, plain_read, plain_write, run as run_peer, scratch, shown,
};
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

/// One timed phase: wall time and CPU seconds (this process's and its
/// children's that ended meanwhile).
#[derive(Debug, Clone, Copy)]
struct Took {
    wall: Duration,
    cpu: f64,
}

/// Runs `n` streams of `job` at once.
fn parallel(n: usize, job: impl Fn(usize) -> Result<()> + Sync) -> Result<Took> {
    let (self0, child0) = cpu_seconds();
    let started = Instant::now();
    std::thread::scope(|s| {
        let job = &job;
        let handles: Vec<_> = (0..n).map(|i| s.spawn(move || job(i))).collect();
        handles.into_iter().try_for_each(|h| h.join().unwrap_or_else(|_| bail!("a stream panicked")))
    })?;
    let wall = started.elapsed();
    let (self1, child1) = cpu_seconds();
    Ok(Took { wall, cpu: (self1 - self0) + (child1 - child0) })
}

/// Who is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Plugin,
    Plain,
    /// Plain writes bypassing the page cache, then plain reads.
    PlainDirect,
    S3(S3Client),
}

impl Client {
    fn label(self) -> &'static str {
        match self {
            Client::Plugin => "plugin",
            Client::Plain => "plain file I/O",
            Client::PlainDirect => "plain O_DIRECT",
            Client::S3(c) => c.label(),
        }
    }
}

/// What a stream count's runs share.
struct Run<'a> {
    plugin: &'a vastost_loader::Plugin,
    server: &'a str,
    target: Option<&'a S3Target>,
    data: &'a Path,
    plain_dir: &'a Path,
    source: &'a [u8],
    block: usize,
    cold: bool,
    n: usize,
    per: u64,
}

impl Run<'_> {
    fn file(&self, i: usize) -> std::path::PathBuf {
        self.plain_dir.join(format!("stream{i}"))
    }

    fn name(&self, i: usize) -> String {
        format!("bench_{}_{i}", self.n)
    }

    /// Before a phase: in cold mode, what earlier phases left dirty is
    /// written out and the page cache of `dir` dropped.
    fn settle(&self, dir: &Path) -> Result<()> {
        if self.cold {
            quiesce();
            evict(dir)?;
        }
        Ok(())
    }

    /// Backs up and restores with `client`; returns both phases.
    fn measure(&self, client: Client, peak: &mut u64) -> Result<(Took, Took)> {
        let (n, per) = (self.n, self.per);
        match client {
            Client::Plugin => {
                reset_peak_rss();
                self.settle(self.data)?;
                let backup = parallel(n, |i| {
                    plugin_backup(self.plugin, self.server, &self.name(i), self.source, per, self.block)
                })?;
                self.settle(self.data)?;
                let restore =
                    parallel(n, |i| match plugin_restore(self.plugin, self.server, &self.name(i), self.block)? {
                        got if got == per => Ok(()),
                        got => bail!("restore gave {got} bytes, {per} expected"),
                    })?;
                *peak = (*peak).max(peak_rss().unwrap_or(0));
                let handle = self.plugin.open_server(self.server, None)?;
                for i in 0..n {
                    handle.delete_image(LSU, &self.name(i), "bench")?;
                }
                Ok((backup, restore))
            }
            Client::Plain | Client::PlainDirect => {
                self.settle(self.plain_dir)?;
                let direct = client == Client::PlainDirect;
                let backup = parallel(n, |i| plain_write(&self.file(i), self.source, per, self.block, direct))?;
                self.settle(self.plain_dir)?;
                let restore = parallel(n, |i| match plain_read(&self.file(i), self.block)? {
                    got if got == per => Ok(()),
                    got => bail!("plain read gave {got} bytes, {per} expected"),
                })?;
                Ok((backup, restore))
            }
            Client::S3(peer) => {
                let target = self.target.expect("S3 peers run against an endpoint");
                self.settle(self.plain_dir)?;
                let backup = parallel(n, |i| run_peer(target.upload(peer, &self.file(i), &self.name(i))))?;
                let restore =
                    parallel(n, |i| run_peer(target.download(peer, &self.name(i), &scratch(self.plain_dir, i))))?;
                for i in 0..n {
                    let _ = std::fs::remove_file(scratch(self.plain_dir, i));
                }
                Ok((backup, restore))
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
    std::fs::create_dir_all(dir.join("vast-nfs"))?;
    if !args.jobs.is_empty() {
        if !args.s3 {
            return crate::jobs_bench::run_nfs(plugin_path, &dir, &dir.join("vast-nfs"), &args.jobs, args.size.0);
        }
        let sim = args.network.sim_options(args.in_memory);
        return crate::jobs_bench::run(plugin_path, &dir, &args.jobs, args.size.0, sim);
    }
    if let Some(images) = args.worm {
        return crate::worm_bench::run(plugin_path, &dir, images, args.size.0, args.fragment_size.0);
    }
    if args.images.is_empty() && !args.copies {
        return throughput(plugin_path, args, &dir, block);
    }
    // The scale and copy measures count requests and space on a
    // simulator in this process.
    let data = dir.join("vast-nfs");
    let sim = if args.s3 {
        let options = args.network.sim_options(args.in_memory);
        let sim = vastost_sim::Simulator::start_with_options(&dir.join("vast-sim"), "127.0.0.1:0".parse()?, options)?;
        sim.create_bucket(LSU)?;
        Some(sim)
    } else {
        None
    };
    let (fragment, budget, direct_io) = (args.fragment_size.0, args.memory_budget.0, !args.page_cache_writes);
    let (server, config) = match &sim {
        Some(sim) => {
            let creds = dir.join("s3-credentials.toml");
            crate::secrets::write_credentials(&creds, vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY)?;
            let endpoint = sim.s3_endpoint();
            let s3 = S3Demo { endpoint: &endpoint, credentials: &creds, vms: None, ca_bundle: None };
            ("VastData:demo-s3", write_config(&dir, &data, fragment, budget, direct_io, Some(s3))?)
        }
        None => ("VastData:demo", write_config(&dir, &data, fragment, budget, direct_io, None)?),
    };
    let plugin = session::load(plugin_path, Some(&config))?;
    if !args.images.is_empty() {
        let path = match (args.s3, args.network.latency) {
            (false, _) => "NFS (local directory)".to_string(),
            (true, d) if d.is_zero() => "S3 (simulator)".to_string(),
            (true, d) => format!("S3 (simulator, {d:?} away)"),
        };
        crate::scale_bench::run(&plugin, server, &path, &args.images, crate::scale_bench::Requests(sim.as_ref()))?;
    } else {
        let mut source = vec![0u8; SOURCE_LEN];
        Pattern::new(42).fill(0, &mut source);
        match &sim {
            Some(sim) => sim.create_bucket(crate::copy_bench::LSU2)?,
            None => std::fs::create_dir_all(data.join(crate::copy_bench::LSU2))?,
        }
        // Where the LSUs' objects are, to measure the space they take.
        let stored_in = if args.s3 { dir.join("vast-sim") } else { data.clone() };
        crate::copy_bench::run(&plugin, server, &stored_in, &source, args.size.0, block)?;
    }
    plugin.terminate()?;
    Ok(())
}

/// The default measure: backups and restores of `--size` bytes in each
/// stream count, by the plugin and by the peers.
fn throughput(plugin_path: Option<&Path>, args: &BenchArgs, dir: &Path, block: usize) -> Result<()> {
    let (data, plain_dir) = (dir.join("vast-nfs"), dir.join("plain"));
    let sim = if args.s3 { Some(SimProcess::start(&dir.join("vast-sim-process"), args.in_memory)?) } else { None };
    let target = sim.as_ref().map(|s| S3Target { endpoint: s.endpoint.clone() });
    let (fragment, budget, direct_io) = (args.fragment_size.0, args.memory_budget.0, !args.page_cache_writes);
    let (server, config) = match &target {
        Some(t) => {
            let creds = dir.join("s3-credentials.toml");
            crate::secrets::write_credentials(&creds, vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY)?;
            let s3 = S3Demo { endpoint: &t.endpoint, credentials: &creds, vms: None, ca_bundle: None };
            ("VastData:demo-s3", write_config(dir, &data, fragment, budget, direct_io, Some(s3))?)
        }
        None => ("VastData:demo", write_config(dir, &data, fragment, budget, direct_io, None)?),
    };
    let plugin = session::load(plugin_path, Some(&config))?;
    let mut source = vec![0u8; SOURCE_LEN];
    Pattern::new(42).fill(0, &mut source);
    let mut clients = vec![Client::Plugin];
    match &target {
        Some(_) => clients.extend(S3Client::ALL.map(Client::S3)),
        None => {
            clients.push(Client::Plain);
            std::fs::create_dir_all(&plain_dir)?;
            if block.is_multiple_of(4096) && crate::peers::direct_io_works(&plain_dir) {
                clients.push(Client::PlainDirect);
            }
        }
    }
    let data_path = match (&target, args.in_memory) {
        (Some(_), true) => "S3, simulator in its own process keeping objects in memory (the plugin's ceiling)",
        (Some(_), false) => "S3, simulator in its own process over the disk",
        (None, _) if args.page_cache_writes => {
            "NFS (a directory), plugin writing through the page cache (direct_io = false)"
        }
        (None, _) => "NFS (a directory), plugin writing past the page cache where the filesystem allows (direct_io)",
    };
    println!(
        "vastost bench: {} per run, {} calls, fragments {}, memory budget {}, {} runs each, {}, on {}",
        fmt::size(args.size.0),
        fmt::size(block as u64),
        args.fragment_size.display().iec(),
        args.memory_budget.display().iec(),
        args.repeat.max(1),
        if args.cold { "cold (synced, page cache dropped before each phase)" } else { "warm (nothing evicted)" },
        dir.display()
    );
    println!("data path: {data_path}");
    println!(
        "{:>7} {:<8} {:<15} {:>10} {:>19} {:>10} {:>11}",
        "streams", "", "client", "MiB/s", "spread MiB/s", "CPU s/GiB", "plugin/peer"
    );
    let mut peak = 0;
    for &n in &args.streams {
        if n == 0 {
            bail!("a stream count must be at least 1");
        }
        let per = (args.size.0 / n as u64).next_multiple_of(block as u64);
        let run = Run {
            plugin: &plugin,
            server,
            target: target.as_ref(),
            data: &data,
            plain_dir: &plain_dir,
            source: &source,
            block,
            cold: args.cold,
            n,
            per,
        };
        std::fs::create_dir_all(&plain_dir)?;
        if target.is_some() {
            // The S3 peers upload from files: written once, untimed.
            for i in 0..n {
                plain_write(&run.file(i), &source, per, block, false)?;
            }
        }
        // Each client `repeat` times; the order turns each round so that
        // drifts (and who first touches memory the host reclaimed) hit
        // every client alike.
        let mut took: Vec<(Vec<Took>, Vec<Took>)> = vec![Default::default(); clients.len()];
        for round in 0..args.repeat.max(1) {
            for k in 0..clients.len() {
                let c = (k + round) % clients.len();
                let (backup, restore) = run.measure(clients[c], &mut peak)?;
                took[c].0.push(backup);
                took[c].1.push(restore);
            }
        }
        for i in 0..n {
            let _ = std::fs::remove_file(run.file(i));
        }
        let total = per * n as u64;
        for (phase, pick) in [("backup", 0), ("restore", 1)] {
            let median_wall = |t: &(Vec<Took>, Vec<Took>)| {
                let mut v: Vec<Duration> = (if pick == 0 { &t.0 } else { &t.1 }).iter().map(|x| x.wall).collect();
                v.sort();
                v[v.len() / 2]
            };
            let plugin_wall = median_wall(&took[0]);
            for (c, client) in clients.iter().enumerate() {
                let runs = if pick == 0 { &took[c].0 } else { &took[c].1 };
                let wall = median_wall(&took[c]);
                let speeds: Vec<f64> = runs.iter().map(|t| fmt::mib_per_s(total, t.wall)).collect();
                let (lo, hi) = speeds.iter().fold((f64::MAX, 0f64), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
                let mut cpus: Vec<f64> = runs.iter().map(|t| t.cpu).collect();
                cpus.sort_by(f64::total_cmp);
                let cpu_per_gib = cpus[cpus.len() / 2] / (total as f64 / (1u64 << 30) as f64);
                let ratio = match client {
                    Client::Plugin => String::new(),
                    Client::Plain | Client::PlainDirect | Client::S3(_) => {
                        format!("{:.2}", plugin_wall.as_secs_f64() / wall.as_secs_f64())
                    }
                };
                println!(
                    "{n:>7} {phase:<8} {:<15} {:>10.1} {:>19} {cpu_per_gib:>10.2} {ratio:>11}",
                    client.label(),
                    fmt::mib_per_s(total, wall),
                    format!("{lo:.1}-{hi:.1}"),
                );
            }
        }
    }
    let stats = plugin.stats()?;
    println!(
        "plugin memory: budget peak {} of {} configured; process peak RSS during plugin runs {} (includes the {} source buffer)",
        fmt::size(stats.vs_budget_peak),
        fmt::size(stats.vs_budget_total),
        fmt::size(peak),
        fmt::size(SOURCE_LEN as u64)
    );
    println!("plugin/peer: the plugin's median time over the peer's (below 1: the plugin is faster)");
    if let Some(t) = &target {
        println!("peer commands (stream 0 of the last run; objects in bucket {LSU}):");
        let (file, key, out) = (plain_dir.join("stream0"), "bench_N_0", scratch(&plain_dir, 0));
        for peer in S3Client::ALL {
            println!("  {} upload:   {}", peer.label(), shown(&t.upload(peer, &file, key)));
            println!(
                "  {} download: {}{}",
                peer.label(),
                shown(&t.download(peer, key, &out)),
                match peer {
                    S3Client::RcloneTuned => "",
                    _ => " > /dev/null",
                }
            );
        }
    } else {
        println!(
            "plain file I/O: write() of {} blocks then fsync of the file and its folder, like dd bs={} conv=fsync; read() of the same blocks",
            fmt::size(block as u64),
            fmt::size(block as u64)
        );
        if clients.contains(&Client::PlainDirect) {
            println!(
                "plain O_DIRECT: the same writes bypassing the page cache from one aligned buffer, like dd bs={} oflag=direct conv=fsync; the same reads (what a direct write left out of the page cache is read from the disk)",
                fmt::size(block as u64)
            );
        }
    }
    plugin.terminate()?;
    drop(sim);
    Ok(())
}
