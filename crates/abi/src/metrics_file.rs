//! The metrics file: every `metrics_interval_secs` each plugin process
//! writes what it counted (`vastost_metrics`) and its gauges (memory
//! budget, handles by kind) to `<metrics_dir>/vastost-<pid>.prom`, replaced
//! whole with a rename so node_exporter's textfile collector never reads
//! half a file. NetBackup runs many processes that load the plugin: each
//! writes its own file, every sample labelled with its `pid`, and removes
//! it at `terminate`; a writer also removes the files of processes that
//! are gone (killed before they could).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use vastost_metrics::Gauge;

/// The file writer of this process; stops and removes its file when
/// dropped.
#[derive(Debug)]
pub(crate) struct MetricsFile {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
}

/// Starts writing to `dir` every `interval`, with the gauges `gauges`
/// reads at each write; `None` (logged) when the folder cannot be made.
pub(crate) fn start(dir: &Path, interval: Duration, gauges: fn() -> Vec<Gauge>) -> Option<MetricsFile> {
    if let Err(e) = std::fs::create_dir_all(dir) {
        tracing::error!(dir = %dir.display(), error = %e, "metrics folder not usable: no metrics written");
        return None;
    }
    let path = dir.join(format!("vastost-{}.prom", std::process::id()));
    let stop = Arc::new((Mutex::new(false), Condvar::new()));
    let (dir, file, signal) = (dir.to_path_buf(), path.clone(), stop.clone());
    let thread = std::thread::Builder::new()
        .name("vastost-metrics".into())
        .spawn(move || {
            let (lock, cv) = &*signal;
            let mut stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
            while !*stopped {
                if let Err(e) = write(&dir, &file, &gauges()) {
                    tracing::warn!(file = %file.display(), error = %e, "metrics not written");
                }
                stopped =
                    cv.wait_timeout(stopped, interval.max(Duration::from_secs(1))).unwrap_or_else(|p| p.into_inner()).0;
            }
        })
        .ok()?;
    Some(MetricsFile { stop, thread: Some(thread), path })
}

impl Drop for MetricsFile {
    fn drop(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes the metrics to `file` (through a temporary file and a rename)
/// and removes the files of processes that no longer run.
fn write(dir: &Path, file: &Path, gauges: &[Gauge]) -> std::io::Result<()> {
    let text = vastost_metrics::global().render(&[("pid", std::process::id().to_string())], gauges);
    let tmp = file.with_extension("prom.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file)?;
    for entry in std::fs::read_dir(dir)?.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid =
            name.strip_prefix("vastost-").and_then(|r| r.strip_suffix(".prom")).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}
