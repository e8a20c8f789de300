//! The steps every bench times: backups and restores through the plugin,
//! and what is done between phases (cache eviction, writeback).

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use vastost_loader::Plugin;
use vastost_ost::STS_O_READ;

pub(crate) const LSU: &str = "lsu1";

/// Drops the page cache of every file under `path`, so reads hit storage.
pub(crate) fn evict(path: &Path) -> Result<()> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            evict(&entry?.path())?;
        }
    } else if path.is_file() {
        let f = File::open(path)?;
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed)?;
    }
    Ok(())
}

/// Lets the disk settle: what earlier phases left dirty is written out
/// before the next phase is timed, so no phase pays for another's writeback.
pub(crate) fn quiesce() {
    rustix::fs::sync();
    std::thread::sleep(Duration::from_millis(200));
}

/// Backs up `len` bytes of `source` (repeated) as image `name`.
pub(crate) fn plugin_backup(
    plugin: &Plugin,
    server: &str,
    name: &str,
    source: &[u8],
    len: u64,
    block: usize,
) -> Result<()> {
    let server = plugin.open_server(server, None)?;
    let mut image = server.create_image(LSU, name, "bench")?;
    let mut off = 0u64;
    while off < len {
        let at = (off as usize) % source.len();
        let n = block.min((len - off) as usize).min(source.len() - at);
        image.write(&source[at..at + n], off)?;
        off += n as u64;
    }
    image.close(true)?;
    Ok(())
}

/// Restores image `name`, returning its size.
pub(crate) fn plugin_restore(plugin: &Plugin, server: &str, name: &str, block: usize) -> Result<u64> {
    let server = plugin.open_server(server, None)?;
    let mut image = server.open_image(LSU, name, "bench", STS_O_READ)?;
    let mut buf = vec![0u8; block];
    let mut off = 0u64;
    loop {
        let n = image.read(&mut buf, off)?;
        if n == 0 {
            break;
        }
        off += n;
    }
    image.close(false)?;
    Ok(off)
}
