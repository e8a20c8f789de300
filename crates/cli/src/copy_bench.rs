//! `vastost bench --copies`: what NetBackup's optimized duplication costs
//! on one cluster (a copy by reference, within an LSU and to another LSU)
//! against restoring the same image, and where the space goes as the
//! copies and their source are deleted and the reclaimer runs.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};
use vastost_loader::Plugin;

use crate::bench_steps::{LSU, evict, plugin_backup, plugin_restore, quiesce};
use crate::fmt;

/// The second LSU copies go to.
pub(crate) const LSU2: &str = "lsu2";

/// Bytes of data fragments stored under `dir` (files in `frag` folders).
fn stored(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                stored(&p)
            } else if p.parent().is_some_and(|d| d.ends_with("frag")) {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            } else {
                0
            }
        })
        .sum()
}

/// Runs the measure on `server`, whose data (or buckets) are under `data`.
pub(crate) fn run(plugin: &Plugin, server: &str, data: &Path, source: &[u8], size: u64, block: usize) -> Result<()> {
    let size = size.next_multiple_of(block as u64);
    println!("copies: one {} image, {} calls", fmt::size(size), fmt::size(block as u64));
    let space = |when: &str| {
        let (a, b) = (stored(&data.join(LSU)), stored(&data.join(LSU2)));
        println!("  space {when:<44} {LSU}: {:>10}  {LSU2}: {:>10}", fmt::size(a), fmt::size(b));
        (a, b)
    };
    let t = Instant::now();
    plugin_backup(plugin, server, "dup_src", source, size, block)?;
    let backup = t.elapsed();
    evict(data)?;
    quiesce();
    let t = Instant::now();
    if plugin_restore(plugin, server, "dup_src", block)? != size {
        bail!("the restore was short");
    }
    let restore = t.elapsed();
    let handle = plugin.open_server(server, None)?;
    let t = Instant::now();
    handle.copy_image(LSU, ("dup_src", "bench"), &handle, LSU, ("dup_same_lsu", "bench"))?;
    let same_lsu = t.elapsed();
    let t = Instant::now();
    handle.copy_image(LSU, ("dup_src", "bench"), &handle, LSU2, ("dup_other_lsu", "bench"))?;
    let other_lsu = t.elapsed();
    // The copies read back identical: the time of that is not measured.
    for (lsu, name) in [(LSU, "dup_same_lsu"), (LSU2, "dup_other_lsu")] {
        let (a, b) = (handle.image_info(lsu, name, "bench")?.size, size);
        if a != b {
            bail!("copy {name} has {a} bytes, {b} expected");
        }
    }
    println!("  backup                  {:>10.3} s  ({})", backup.as_secs_f64(), fmt::rate(size, backup));
    println!("  restore                 {:>10.3} s  ({})", restore.as_secs_f64(), fmt::rate(size, restore));
    for (what, took) in [("copy, same LSU", same_lsu), ("copy, other LSU", other_lsu)] {
        println!(
            "  {what:<23} {:>10.3} s  ({:.0}x faster than the restore)",
            took.as_secs_f64(),
            restore.as_secs_f64() / took.as_secs_f64().max(1e-6)
        );
    }
    let first = space("after the backup and both copies");
    handle.delete_image(LSU, "dup_src", "bench")?;
    space("after deleting the source (copies hold it)");
    handle.delete_image(LSU, "dup_same_lsu", "bench")?;
    space("after deleting the same-LSU copy");
    handle.delete_image(LSU2, "dup_other_lsu", "bench")?;
    let last = space("after deleting the last copy");
    let r = handle.reclaim(None, Some(0), None)?;
    let after = space("after reclaim");
    println!(
        "  reclaim: {} fragments, {} freed; stored {} -> {} -> {}",
        r.vr_fragments_freed,
        fmt::size(r.vr_bytes_freed),
        fmt::size(first.0 + first.1),
        fmt::size(last.0 + last.1),
        fmt::size(after.0 + after.1)
    );
    Ok(())
}
