//! Many streams at once, each with its own handles, as NetBackup runs them.

use std::sync::atomic::{AtomicU64, Ordering};

use vastost_ost::STS_O_READ;

use crate::support::bytes;
use crate::{fixture, open};

const STREAMS: u64 = 32;
const IMAGE: usize = 2 << 20;

/// 32 streams at once: half back up new images while the other half
/// restore and delete older ones, all of them listing meanwhile.
#[test]
fn thirty_two_streams_back_up_restore_list_and_delete_at_once() {
    let (setup, lsu) = open("small", "load");
    let plugin = &fixture().plugin;
    let half = STREAMS / 2;
    for t in 0..half {
        let mut img = setup.create_image(&lsu, &format!("old_{t}"), "1").unwrap();
        img.write(&bytes(900 + t, IMAGE), 0).unwrap();
        img.close(true).unwrap();
    }
    let (moved, listings) = (AtomicU64::new(0), AtomicU64::new(0));
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for t in 0..STREAMS {
            let (lsu, moved, listings) = (&lsu, &moved, &listings);
            scope.spawn(move || {
                let s = plugin.open_server("VastData:small", None).unwrap();
                if t < half {
                    let data = bytes(500 + t, IMAGE + 512 * t as usize);
                    let name = format!("new_{t}");
                    let mut img = s.create_image(lsu, &name, "1").unwrap();
                    for (i, chunk) in data.chunks(128 << 10).enumerate() {
                        img.write(chunk, (i * (128 << 10)) as u64).unwrap();
                        if i % 4 == 0 {
                            s.images(lsu).unwrap();
                            img.info().unwrap();
                            listings.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    img.close(true).unwrap();
                    moved.fetch_add(data.len() as u64, Ordering::Relaxed);
                    let mut r = s.open_image(lsu, &name, "1", STS_O_READ).unwrap();
                    let mut back = vec![0u8; data.len()];
                    assert_eq!(r.read(&mut back, 0).unwrap(), data.len() as u64);
                    assert!(back == data, "stream {t}: restored bytes differ");
                    moved.fetch_add(data.len() as u64, Ordering::Relaxed);
                } else {
                    let name = format!("old_{}", t - half);
                    let want = bytes(900 + t - half, IMAGE);
                    let mut r = s.open_image(lsu, &name, "1", STS_O_READ).unwrap();
                    let mut back = vec![0u8; IMAGE];
                    let mut off = 0;
                    while off < IMAGE {
                        off += r.read(&mut back[off..(off + (256 << 10)).min(IMAGE)], off as u64).unwrap() as usize;
                        s.images(lsu).unwrap();
                        listings.fetch_add(1, Ordering::Relaxed);
                    }
                    assert!(back == want, "stream {t}: restored bytes differ");
                    r.close(false).unwrap();
                    moved.fetch_add(IMAGE as u64, Ordering::Relaxed);
                    s.delete_image(lsu, &name, "1").unwrap();
                }
            });
        }
    });
    let took = started.elapsed();
    let s = plugin.open_server("VastData:small", None).unwrap();
    let left: Vec<String> = s.images(&lsu).unwrap().into_iter().map(|i| i.basename).collect();
    assert_eq!(left.len() as u64, half, "{left:?}");
    assert!(left.iter().all(|n| n.starts_with("new_")), "{left:?}");
    let stats = plugin.stats().unwrap();
    assert!(stats.vs_budget_peak <= stats.vs_budget_total, "{stats:?}");
    eprintln!(
        "load ({}): {STREAMS} streams, {} MiB moved in {:.2} s, {} listings, 0 errors, budget peak {} MiB of {} MiB",
        if crate::S3 { "S3" } else { "NFS" },
        moved.load(Ordering::Relaxed) >> 20,
        took.as_secs_f64(),
        listings.load(Ordering::Relaxed),
        stats.vs_budget_peak >> 20,
        stats.vs_budget_total >> 20
    );
}
