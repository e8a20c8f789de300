//! `vastost stats`: what the plugin processes of this media server are
//! doing, read from the metrics files they write (`metrics_dir`), summed
//! over the processes: transfers by server, LSU and direction (with rates
//! between two reads when watching), requests to the cluster by operation
//! with their latency, retries by cause, circuit breakers, the memory
//! budget and open handles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use vastost_config::Config;
use vastost_metrics::text::{Sample, parse};

use crate::args::{Cli, StatsArgs};
use crate::fmt;

/// The metrics folder: `--dir`, else `metrics_dir` of the configuration.
fn folder(cli: &Cli, args: &StatsArgs) -> Result<PathBuf> {
    if let Some(dir) = &args.dir {
        return Ok(dir.clone());
    }
    let config = Config::locate(cli.config.as_deref());
    match Config::load(&config)?.plugin.metrics_dir {
        Some(dir) => Ok(dir),
        None => {
            bail!("{} sets no [plugin] metrics_dir, and no --dir was given: no metrics are written", config.display())
        }
    }
}

/// The samples of every process's file in `dir`, and how many files.
fn read_all(dir: &Path) -> Result<(Vec<Sample>, usize)> {
    let mut samples = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with("vastost-") && name.ends_with(".prom") {
            // A file replaced or removed meanwhile is read next time.
            if let Ok(text) = std::fs::read_to_string(&path) {
                samples.extend(parse(&text));
                files += 1;
            }
        }
    }
    Ok((samples, files))
}

/// The samples named `name` by the values of `keys`, each group folded
/// with `fold` from its first value.
fn fold_by(samples: &[Sample], name: &str, keys: &[&str], fold: fn(f64, f64) -> f64) -> BTreeMap<Vec<String>, f64> {
    let mut out: BTreeMap<Vec<String>, f64> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == name) {
        let key = keys.iter().map(|k| s.label(k).unwrap_or("").to_string()).collect();
        out.entry(key).and_modify(|v| *v = fold(*v, s.value)).or_insert(s.value);
    }
    out
}

/// Sums the samples named `name` by the values of `keys`.
fn sum_by(samples: &[Sample], name: &str, keys: &[&str]) -> BTreeMap<Vec<String>, f64> {
    fold_by(samples, name, keys, |a, b| a + b)
}

/// The latency under which a `q` share of requests were answered, from
/// the cumulative buckets `(upper bound, count)`: the bucket's bound.
fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0.0 {
        return None;
    }
    buckets.iter().find(|(_, n)| *n >= q * total).map(|(le, _)| *le)
}

fn ms(secs: Option<f64>) -> String {
    match secs {
        Some(s) if s.is_infinite() => "> 10000".into(),
        Some(s) => format!("{:.1}", s * 1e3),
        None => "-".into(),
    }
}

/// Prints one reading; `before` (an earlier reading and when) gives rates.
fn show(dir: &Path, samples: &[Sample], files: usize, before: Option<(&[Sample], Duration)>) {
    println!("vastost stats: {files} plugin process(es) writing to {}", dir.display());
    let transfers = sum_by(samples, "vastost_transfer_bytes_total", &["server", "lsu", "direction"]);
    let calls = sum_by(samples, "vastost_transfer_calls_total", &["server", "lsu", "direction"]);
    let earlier =
        before.map(|(s, took)| (sum_by(s, "vastost_transfer_bytes_total", &["server", "lsu", "direction"]), took));
    println!("\n{:<24} {:<16} {:<9} {:>12} {:>10} {:>10}", "server", "LSU", "direction", "bytes", "calls", "MiB/s");
    for (key, bytes) in &transfers {
        let rate = earlier.as_ref().map_or("-".to_string(), |(e, took)| {
            let moved = bytes - e.get(key).copied().unwrap_or(0.0);
            format!("{:.1}", moved / took.as_secs_f64() / (1 << 20) as f64)
        });
        let n = calls.get(key).copied().unwrap_or(0.0);
        println!("{:<24} {:<16} {:<9} {:>12} {:>10} {:>10}", key[0], key[1], key[2], fmt::size(*bytes as u64), n, rate);
    }
    let outcomes = sum_by(samples, "vastost_requests_total", &["service", "op", "outcome"]);
    let mut ops: BTreeMap<(String, String), BTreeMap<String, f64>> = BTreeMap::new();
    for (key, n) in &outcomes {
        ops.entry((key[0].clone(), key[1].clone())).or_default().insert(key[2].clone(), *n);
    }
    println!(
        "\n{:<7} {:<28} {:>9} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9}",
        "service", "operation", "requests", "2xx", "4xx", "5xx", "error", "mean ms", "p50 ms", "p99 ms"
    );
    for ((service, op), by) in &ops {
        let total: f64 = by.values().sum();
        let mine = |s: &&Sample| s.label("service") == Some(service) && s.label("op") == Some(op);
        let sum: f64 =
            samples.iter().filter(|s| s.name == "vastost_request_seconds_sum").filter(mine).map(|s| s.value).sum();
        let mut buckets: BTreeMap<String, f64> = BTreeMap::new();
        for s in samples.iter().filter(|s| s.name == "vastost_request_seconds_bucket").filter(mine) {
            *buckets.entry(s.label("le").unwrap_or("").to_string()).or_insert(0.0) += s.value;
        }
        let mut cumulative: Vec<(f64, f64)> = buckets
            .into_iter()
            .filter_map(|(le, n)| Some((if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? }, n)))
            .collect();
        cumulative.sort_by(|a, b| a.0.total_cmp(&b.0));
        let count = |o: &str| by.get(o).copied().unwrap_or(0.0);
        println!(
            "{service:<7} {op:<28} {total:>9} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9}",
            count("2xx"),
            count("4xx"),
            count("5xx"),
            count("error"),
            ms((total > 0.0).then(|| sum / total)),
            ms(quantile(&cumulative, 0.5)),
            ms(quantile(&cumulative, 0.99))
        );
    }
    let retries = sum_by(samples, "vastost_retries_total", &["service", "cause"]);
    let listed: Vec<String> = retries.iter().map(|(k, n)| format!("{} {} {n}", k[0], k[1])).collect();
    println!("\nretries: {}", if listed.is_empty() { "none".into() } else { listed.join(", ") });
    let open = sum_by(samples, "vastost_breaker_open", &["endpoint", "bucket"]);
    let trips = sum_by(samples, "vastost_breaker_trips", &["endpoint", "bucket"]);
    for (key, n) in &open {
        let state = if *n > 0.0 { "OPEN (out of the rotation)" } else { "closed" };
        println!("breaker {} ({}): {state}, {} trip(s)", key[0], key[1], trips.get(key).copied().unwrap_or(0.0));
    }
    let budget = sum_by(samples, "vastost_memory_budget_bytes", &["kind"]);
    let get = |k: &str| budget.get(&vec![k.to_string()]).copied().unwrap_or(0.0) as u64;
    println!(
        "memory budget: {} in use of {} (peak {}), all processes together",
        fmt::size(get("in_use")),
        fmt::size(get("total")),
        fmt::size(get("peak"))
    );
    let host = max_by(samples, "vastost_host_memory_bytes", &["kind"]);
    if !host.is_empty() {
        let get = |k: &str| host.get(&vec![k.to_string()]).copied().unwrap_or(0.0) as u64;
        let holders = max_by(samples, "vastost_host_memory_processes", &[]).into_values().next().unwrap_or(0.0);
        println!(
            "host memory budget: {} in use of {} (peak {}), {holders} process(es) holding buffers",
            fmt::size(get("in_use")),
            fmt::size(get("total")),
            fmt::size(get("peak"))
        );
    }
    bandwidth(samples);
    let handles = sum_by(samples, "vastost_handles_open", &["kind"]);
    let listed: Vec<String> = handles.iter().map(|(k, n)| format!("{} {n}", k[0])).collect();
    println!("handles open: {}", if listed.is_empty() { "none".into() } else { listed.join(", ") });
}

/// The largest of the samples named `name` by the values of `keys`: for
/// readings every process takes of one thing the host shares.
fn max_by(samples: &[Sample], name: &str, keys: &[&str]) -> BTreeMap<Vec<String>, f64> {
    fold_by(samples, name, keys, f64::max)
}

/// The bandwidth limits in force: each is shared by the media server's
/// processes, so every process reports the same bucket.
fn bandwidth(samples: &[Sample]) {
    let keys = ["server", "direction"];
    let limits = max_by(samples, "vastost_bandwidth_limit_bytes_per_second", &keys);
    if limits.is_empty() {
        println!("bandwidth limits: none in force");
        return;
    }
    let rates = max_by(samples, "vastost_bandwidth_rate_bytes_per_second", &keys);
    let processes = max_by(samples, "vastost_bandwidth_processes", &keys);
    let mib = |v: f64| v / (1 << 20) as f64;
    for (key, limit) in &limits {
        println!(
            "bandwidth limit {} {}: {:.1} MiB/s, moving {:.1} MiB/s now, shared by {} process(es)",
            key[0],
            key[1],
            mib(*limit),
            mib(rates.get(key).copied().unwrap_or(0.0)),
            processes.get(key).copied().unwrap_or(0.0)
        );
    }
}

/// Runs `vastost stats`.
pub fn run(cli: &Cli, args: &StatsArgs) -> Result<()> {
    let dir = folder(cli, args)?;
    let (mut samples, files) = read_all(&dir)?;
    show(&dir, &samples, files, None);
    let Some(secs) = args.watch else { return Ok(()) };
    let mut at = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(secs.max(1)));
        let (now, files) = read_all(&dir)?;
        println!();
        show(&dir, &now, files, Some((&samples, at.elapsed())));
        (samples, at) = (now, Instant::now());
    }
}
