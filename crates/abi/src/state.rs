//! The plugin's process-wide state: the engine made at `init` and dropped
//! at `terminate`, and logging.

use std::path::Path;
use std::sync::{Arc, Once, RwLock};
use std::time::{Duration, Instant};

use vastost_engine::{Config, Engine};
use vastost_metrics::Gauge;

use crate::failure::Failure;
use crate::ost::sts_status;

static ENGINE: RwLock<Option<Arc<Engine>>> = RwLock::new(None);
/// The metrics file writer, while initialized and configured.
static METRICS: std::sync::Mutex<Option<crate::metrics_file::MetricsFile>> = std::sync::Mutex::new(None);

/// How long `terminate` waits for calls in flight before it leaves the
/// engine to the last of them.
const TERMINATE_WAIT: Duration = Duration::from_secs(30);

/// The engine, or `STS_ENOTINIT` before `init` / after `terminate`. Every
/// entry point keeps what this returns for its whole length: a call in
/// flight pins the engine (and its runtime), so `terminate` can never stop
/// it under a running write.
pub(crate) fn engine() -> Result<Pinned, Failure> {
    let slot = ENGINE.read().unwrap_or_else(|p| p.into_inner());
    let engine = slot.clone().ok_or_else(|| {
        Failure::new(sts_status::STS_ENOTINIT, "the plugin is not initialized: call stspi_init first")
    })?;
    // Read under the engine's lock: `terminate` ends the engine and the
    // handles' life in one step.
    Ok(Pinned { engine, epoch: crate::handles::epoch() })
}

/// The engine, held for the length of one call, and the life of the
/// plugin the call belongs to (what it registers must belong to it too).
pub(crate) struct Pinned {
    engine: Arc<Engine>,
    pub epoch: u64,
}

impl std::ops::Deref for Pinned {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.engine
    }
}

/// Loads the configuration and starts the engine. A second `init` while
/// initialized keeps the running engine (NetBackup may call it per
/// process component).
pub(crate) fn init(config_path: Option<&Path>) -> Result<(), Failure> {
    let mut slot = ENGINE.write().unwrap_or_else(|p| p.into_inner());
    if slot.is_some() {
        return Ok(());
    }
    let path = Config::locate(config_path);
    let config = Config::load(&path).map_err(vastost_engine::EngineError::from)?;
    start_logging(&config);
    let metrics = config.plugin.metrics_dir.clone().map(|dir| (dir, config.plugin.metrics_interval_secs));
    let engine = Engine::new(config)?.reread_limits_from(&path);
    tracing::info!(version = crate::version::VERSION, config = %path.display(), "plugin initialized");
    *slot = Some(Arc::new(engine));
    drop(slot);
    if let Some((dir, secs)) = metrics {
        *METRICS.lock().unwrap_or_else(|p| p.into_inner()) =
            crate::metrics_file::start(&dir, Duration::from_secs(secs), gauges);
    }
    Ok(())
}

/// Drops every handle and stops the engine. New calls fail with
/// `STS_ENOTINIT` at once; calls in flight finish first (up to
/// [`TERMINATE_WAIT`]; past that, the last of them stops the engine).
pub(crate) fn terminate() {
    // Stopped first: a write in progress still finds the engine; then its
    // file goes.
    drop(METRICS.lock().unwrap_or_else(|p| p.into_inner()).take());
    let engine = {
        let mut slot = ENGINE.write().unwrap_or_else(|p| p.into_inner());
        crate::handles::clear();
        slot.take()
    };
    let Some(engine) = engine else { return };
    let deadline = Instant::now() + TERMINATE_WAIT;
    while Arc::strong_count(&engine) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    match Arc::strong_count(&engine) - 1 {
        0 => tracing::info!("plugin terminated"),
        n => tracing::warn!(calls = n, "plugin terminated with calls still running: they finish on their own"),
    }
    drop(engine);
}

/// Sends logs to the configured file (rotated daily). Set once per process;
/// `VASTOST_LOG_STDERR=1` sends them to standard error instead.
fn start_logging(config: &Config) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use tracing_subscriber::EnvFilter;
        // The configured level applies to our crates; libraries log warnings
        // only, and the request signer nothing at all: at debug level it
        // prints the S3 secret key.
        let level = config.plugin.log_level.as_str();
        let ours = ["vastost_abi", "vastost_engine", "vastost_storage", "vastost_vms", "audit"];
        let mut directives = vec!["warn".to_string()];
        directives.extend(ours.iter().map(|c| format!("{c}={level}")));
        directives.extend(["reqsign=off", "reqsign_core=off", "reqsign_aws_v4=off"].map(String::from));
        let filter = EnvFilter::try_new(directives.join(",")).unwrap_or_else(|_| EnvFilter::new("info"));
        let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_thread_ids(true);
        let result = if std::env::var_os("VASTOST_LOG_STDERR").is_some() {
            builder.with_writer(std::io::stderr).try_init()
        } else if let Some(file) = &config.plugin.log_file {
            let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or("vastost.log".into());
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("vastost: cannot create log directory {}: {e}", dir.display());
                return;
            }
            let appender = tracing_appender::rolling::RollingFileAppender::builder()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix(name)
                .build(dir);
            match appender {
                Ok(appender) => builder.with_writer(appender).try_init(),
                Err(e) => {
                    eprintln!("vastost: cannot open log file {}: {e}", file.display());
                    return;
                }
            }
        } else {
            return;
        };
        if let Err(e) = result {
            eprintln!("vastost: logging not started: {e}");
        }
    });
}

/// What is read at each write: the memory budget and the live handles.
fn gauges() -> Vec<Gauge> {
    let Ok(engine) = engine() else { return Vec::new() };
    let b = engine.budget_stats();
    let budget = |kind: &str, value: u64| Gauge {
        name: "vastost_memory_budget_bytes",
        help: "The plugin's data-buffer budget: total configured, in use now, peak since init, kept for reuse.",
        labels: vec![("kind", kind.to_string())],
        value: value as f64,
    };
    let mut out =
        vec![budget("total", b.total), budget("in_use", b.in_use), budget("peak", b.peak), budget("pooled", b.pooled)];
    if let Some(h) = engine.host_memory_stats() {
        let host = |kind: &str, value: u64| Gauge {
            name: "vastost_host_memory_bytes",
            help: "The media server's data-buffer budget (host_memory_budget), all plugin processes together.",
            labels: vec![("kind", kind.to_string())],
            value: value as f64,
        };
        out.extend([host("total", h.total), host("in_use", h.in_use), host("peak", h.peak)]);
        out.push(Gauge {
            name: "vastost_host_memory_processes",
            help: "Plugin processes of the media server holding data buffers now.",
            labels: Vec::new(),
            value: h.processes as f64,
        });
    }
    for r in engine.bandwidth_readings() {
        let labels = vec![("server", r.server.clone()), ("direction", r.direction.as_str().to_string())];
        let gauge = |name, help, value: f64| Gauge { name, help, labels: labels.clone(), value };
        out.extend([
            gauge(
                "vastost_bandwidth_limit_bytes_per_second",
                "A bandwidth limit in force, shared by the media server's plugin processes.",
                r.limit as f64,
            ),
            gauge(
                "vastost_bandwidth_rate_bytes_per_second",
                "What every process sharing the limit moved lately, together, per second.",
                r.rate as f64,
            ),
            gauge(
                "vastost_bandwidth_processes",
                "Plugin processes that moved bytes under the limit in the last five seconds.",
                r.processes as f64,
            ),
        ]);
    }
    for (kind, n) in crate::handles::count_by_kind() {
        out.push(Gauge {
            name: "vastost_handles_open",
            help: "Handles open now, by kind (images open for reading or writing, servers, lists, channels).",
            labels: vec![("kind", kind.to_string())],
            value: n as f64,
        });
    }
    out
}
