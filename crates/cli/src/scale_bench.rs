//! `vastost bench --images N`: what an LSU of many small images costs to
//! list, look up, delete and reclaim, all through the plugin's C ABI as a
//! media server calls it. On the simulator the S3 requests each step sends
//! are counted too, which is what tells a cost that grows with the LSU from
//! one that does not.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use vastost_loader::{Plugin, Server};

use crate::bench_steps::LSU;

/// Threads creating and deleting images at once (media servers run many
/// jobs side by side).
const JOBS: usize = 16;
/// Bytes per image: a small backup (one fragment).
const IMAGE_LEN: usize = 4096;
/// Images looked up by name.
const LOOKUPS: usize = 200;

/// Counts the S3 requests of a step when the data path is the simulator.
pub(crate) struct Requests<'a>(pub Option<&'a vastost_sim::Simulator>);

impl Requests<'_> {
    fn now(&self) -> Option<u64> {
        self.0.map(|s| s.s3_requests())
    }
}

/// One measured step.
pub(crate) struct Step {
    what: &'static str,
    pub count: usize,
    pub took: Duration,
    pub requests: Option<u64>,
}

impl Step {
    pub(crate) fn print(&self) {
        let per = self.took.as_secs_f64() * 1e3 / self.count.max(1) as f64;
        let reqs = match self.requests {
            Some(r) => format!("{:>10} {:>12.2}", r, r as f64 / self.count.max(1) as f64),
            None => format!("{:>10} {:>12}", "-", "-"),
        };
        println!("  {:<28} {:>8} {:>10.3} {:>12.3} {reqs}", self.what, self.count, self.took.as_secs_f64(), per);
    }
}

pub(crate) fn timed(
    what: &'static str,
    count: usize,
    requests: &Requests<'_>,
    f: impl FnOnce() -> Result<()>,
) -> Result<Step> {
    let before = requests.now();
    let started = Instant::now();
    f()?;
    let took = started.elapsed();
    // Requests a step left under way (a listing closed early stops its
    // walk, whose requests in flight still arrive) are counted as its own,
    // not the next step's: wait until the count settles, untimed.
    let mut after = requests.now();
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let now = requests.now();
        if now == after {
            break;
        }
        after = now;
    }
    let requests = after.zip(before).map(|(a, b)| a - b);
    Ok(Step { what, count, took, requests })
}

/// Runs `job(server, i)` for every `i < n` on [`JOBS`] threads, each with
/// a server handle of its own as each NetBackup job has.
fn in_parallel(
    plugin: &Plugin,
    server: &str,
    n: usize,
    job: impl Fn(&Server<'_>, usize) -> Result<()> + Sync,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..JOBS.min(n))
            .map(|_| {
                s.spawn(|| {
                    let handle = plugin.open_server(server, None)?;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return Ok(());
                        }
                        job(&handle, i)?;
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| w.join().unwrap_or_else(|_| bail!("a job panicked")))
    })
}

fn name(run: usize, i: usize) -> String {
    format!("scale{run}_client{i:07}")
}

/// Measures LSUs of `counts` images on `server` of `plugin`.
pub(crate) fn run(
    plugin: &Plugin,
    server: &str,
    data_path: &str,
    counts: &[usize],
    requests: Requests<'_>,
) -> Result<()> {
    println!(
        "vastost bench --images: {} images of {IMAGE_LEN} bytes, {JOBS} jobs at once; data path {data_path}",
        counts.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
    );
    let handle = plugin.open_server(server, None)?;
    let payload = vec![0x5au8; IMAGE_LEN];
    for (run, &n) in counts.iter().enumerate() {
        if n == 0 {
            bail!("an image count must be at least 1");
        }
        println!("\n{n} images");
        println!(
            "  {:<28} {:>8} {:>10} {:>12} {:>10} {:>12}",
            "step", "count", "total s", "ms each", "S3 reqs", "reqs each"
        );
        timed("create (4 KiB, close)", n, &requests, || {
            in_parallel(plugin, server, n, |h, i| {
                let mut image = h.create_image(LSU, &name(run, i), "1")?;
                image.write(&payload, 0)?;
                image.close(true)?;
                Ok(())
            })
        })?
        .print();
        timed("list: first entry", 1, &requests, || {
            if handle.first_images(LSU, 1)?.is_empty() {
                bail!("the listing is empty");
            }
            Ok(())
        })?
        .print();
        timed("list: all", n, &requests, || {
            let listed = handle.images(LSU)?.iter().filter(|i| i.basename.starts_with(&format!("scale{run}_"))).count();
            if listed != n {
                bail!("{listed} images listed, {n} created");
            }
            Ok(())
        })?
        .print();
        let lookups = LOOKUPS.min(n);
        timed("lookup by name", lookups, &requests, || {
            (0..lookups).try_for_each(|k| {
                handle.image_info(LSU, &name(run, k * n / lookups), "1")?;
                Ok(())
            })
        })?
        .print();
        let doomed = n / 2;
        timed("delete (half of them)", doomed, &requests, || {
            in_parallel(plugin, server, doomed, |h, i| Ok(h.delete_image(LSU, &name(run, 2 * i), "1")?))
        })?
        .print();
        let mut report = None;
        timed("reclaim (tombstones too)", doomed.max(1), &requests, || {
            report = Some(handle.reclaim(Some(LSU), Some(0), Some(0))?);
            Ok(())
        })?
        .print();
        let r = report.expect("reclaim ran");
        println!(
            "  reclaim: {} images checked, {} removed, {} skipped, {} fragments freed",
            r.vr_images_checked, r.vr_images_removed, r.vr_images_skipped, r.vr_fragments_freed
        );
        if r.vr_images_removed < doomed as u64 {
            bail!("reclaim removed {} of {doomed} deleted images", r.vr_images_removed);
        }
        // NetBackup polls events and deletes each it has handled: every
        // create and delete above left one.
        let mut events = 0;
        let mut step = timed("events: get + delete", 0, &requests, || {
            let mut channel = handle.events()?;
            while let Some(e) = channel.next_event()? {
                channel.delete(&e)?;
                events += 1;
            }
            Ok(())
        })?;
        step.count = events;
        step.print();
        if events < n + doomed {
            bail!("{events} events handed out, at least {} expected", n + doomed);
        }
        // Leave the LSU empty for the next count.
        in_parallel(plugin, server, n - doomed, |h, i| Ok(h.delete_image(LSU, &name(run, 2 * i + 1), "1")?))?;
        handle.reclaim(Some(LSU), Some(0), Some(0))?;
    }
    Ok(())
}
