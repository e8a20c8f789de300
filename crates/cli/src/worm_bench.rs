//! `vastost bench --worm`: what immutability costs, on the simulator (in
//! this process, so its S3 requests are counted): the same backups, deletes
//! and reclaim on a plain bucket and on an Object Lock bucket, and the time
//! and requests of locking an image per image, per GiB, and per fragment a
//! copy by reference maps.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use bytesize::ByteSize;
use vastost_config::{Config, ServerConfig, WormMode, WormPolicy};
use vastost_loader::Plugin;

use crate::dates::now_secs as now;
use crate::scale_bench::{Requests, Step, timed};

const SERVER: &str = "VastData:worm-bench";
/// Its section in the configuration.
const SERVER_SECTION: &str = "worm-bench";
const PLAIN: &str = "bench-plain";
const LOCKED: &str = "bench-locked";
/// Bytes of each small image.
const SMALL: usize = 4096;
/// A lock the run can wait out.
const LOCK_SECS: u64 = 2;

/// Runs the measure in `dir`: `images` small images, one of `size` bytes
/// in fragments of `fragment` bytes.
pub(crate) fn run(plugin_path: Option<&Path>, dir: &Path, images: usize, size: u64, fragment: u64) -> Result<()> {
    if images == 0 || size == 0 {
        bail!("--worm needs at least one image and a size above 0");
    }
    let sim = vastost_sim::Simulator::start(&dir.join("vast-sim"), "127.0.0.1:0".parse()?)?;
    sim.create_bucket(PLAIN)?;
    sim.create_locked_bucket(LOCKED)?;
    let creds = dir.join("s3-credentials.toml");
    crate::secrets::write_credentials(&creds, vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY)?;
    let mut server = ServerConfig::s3(sim.s3_endpoint(), creds);
    server.lsus = vec![PLAIN.into(), LOCKED.into()];
    server.transfer.fragment_size = ByteSize::b(fragment);
    server.worm = Some(WormPolicy { mode: WormMode::Compliance, min_secs: 1, max_secs: 86_400, default_secs: None });
    let config = Config { servers: [(SERVER_SECTION.into(), server)].into(), ..Config::default() };
    let config = crate::demo::write_config_file(&dir.join("vastost-worm.toml"), "vastost bench --worm", &config)?;
    let plugin = crate::session::load(plugin_path, Some(&config))?;
    let result = measure(&plugin, &sim, images, size, fragment);
    plugin.terminate()?;
    result
}

fn measure(plugin: &Plugin, sim: &vastost_sim::Simulator, n: usize, size: u64, fragment: u64) -> Result<()> {
    let h = plugin.open_server(SERVER, None)?;
    let requests = Requests(Some(sim));
    let small = vec![0x5au8; SMALL];
    let big: Vec<u8> = (0..(8u32 << 20)).map(|i| (i % 251) as u8).collect();
    let fragments = size.div_ceil(fragment);
    println!(
        "vastost bench --worm: {n} images of {SMALL} bytes and one of {} ({fragments} fragments), on a plain \
         bucket and an Object Lock bucket of the simulator",
        crate::fmt::size(size)
    );
    println!(
        "{:<12} {:<28} {:>8} {:>10} {:>12} {:>10} {:>12}",
        "bucket", "step", "count", "total s", "ms each", "S3 reqs", "reqs each"
    );
    let show = |lsu: &str, step: &Step| {
        print!("{lsu:<12}");
        step.print();
    };
    let mut costs = Vec::new();
    for lsu in [PLAIN, LOCKED] {
        let backup = timed("backup (4 KiB, close)", n, &requests, || {
            for i in 0..n {
                let mut image = h.create_image(lsu, &format!("small{i:06}"), "1")?;
                image.write(&small, 0)?;
                image.close(true)?;
            }
            Ok(())
        })?;
        show(lsu, &backup);
        let whole = timed("backup (large image)", 1, &requests, || {
            let mut image = h.create_image(lsu, "large", "1")?;
            let mut off = 0u64;
            while off < size {
                let len = (big.len() as u64).min(size - off) as usize;
                image.write(&big[..len], off)?;
                off += len as u64;
            }
            image.close(true)?;
            Ok(())
        })?;
        show(lsu, &whole);
        costs.push((backup, whole));
    }
    let until = now() + LOCK_SECS;
    let lock_small = timed("lock", n, &requests, || {
        (0..n).try_for_each(|i| Ok(h.lock_image(LOCKED, &format!("small{i:06}"), "1", until)?))
    })?;
    show(LOCKED, &lock_small);
    let lock_large = timed("lock (large image)", 1, &requests, || Ok(h.lock_image(LOCKED, "large", "1", until)?))?;
    show(LOCKED, &lock_large);
    h.copy_image(LOCKED, ("large", "1"), &h, LOCKED, ("copy", "1"))?;
    let lock_copy = timed("lock (copy by reference)", 1, &requests, || Ok(h.lock_image(LOCKED, "copy", "1", until)?))?;
    show(LOCKED, &lock_copy);

    std::thread::sleep(Duration::from_secs((until + 1).saturating_sub(now())));
    let mut frees = Vec::new();
    for lsu in [PLAIN, LOCKED] {
        let delete = timed("delete + reclaim (expired)", n, &requests, || {
            for i in 0..n {
                h.delete_image(lsu, &format!("small{i:06}"), "1")?;
            }
            h.reclaim(Some(lsu), Some(0), Some(0))?;
            Ok(())
        })?;
        show(lsu, &delete);
        frees.push(delete);
    }
    let left = sim.object_versions(LOCKED, "images/small").len();
    if left > 0 {
        bail!("{left} object versions of deleted images are left in the locked bucket");
    }

    let per = |s: &Step| s.requests.unwrap_or(0) as f64 / s.count.max(1) as f64;
    let ms = |s: &Step| s.took.as_secs_f64() * 1e3 / s.count.max(1) as f64;
    let gib = size as f64 / (1u64 << 30) as f64;
    println!("\nwhat a lock adds");
    println!("  per image of 4 KiB    {:>8.2} ms {:>8.1} requests", ms(&lock_small), per(&lock_small));
    println!(
        "  per GiB               {:>8.2} ms {:>8.1} requests ({} fragments of {} per GiB)",
        ms(&lock_large) / gib,
        per(&lock_large) / gib,
        ((1u64 << 30) / fragment).max(1),
        crate::fmt::size(fragment)
    );
    let copy_fixed = per(&lock_small);
    println!(
        "  per referenced fragment of a copy {:>8.1} requests ({:.1} for the copy's own record and metadata)",
        (per(&lock_copy) - copy_fixed).max(0.0) / fragments as f64,
        copy_fixed
    );
    println!(
        "  backup of 4 KiB: {:.2} ms and {:.1} requests on the locked bucket, {:.2} ms and {:.1} on the plain one",
        ms(&costs[1].0),
        per(&costs[1].0),
        ms(&costs[0].0),
        per(&costs[0].0)
    );
    println!(
        "  delete + reclaim of an expired image: {:.1} requests on the locked bucket (versions by id), {:.1} on the plain one",
        per(&frees[1]),
        per(&frees[0])
    );
    Ok(())
}
