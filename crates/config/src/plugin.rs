//! The `[plugin]` section: what every server of a plugin process shares.

use std::path::PathBuf;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

/// Settings of the plugin as a whole.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginConfig {
    /// Bytes of data buffers the plugin may hold at once, all streams
    /// together; writers wait (backpressure) when it is spent.
    #[serde(with = "crate::size")]
    pub memory_budget: ByteSize,
    /// How much the plugin logs.
    pub log_level: LogLevel,
    /// Log file; without one the plugin logs nothing.
    pub log_file: Option<PathBuf>,
    /// Worker threads of the plugin's runtime (default: one per core, at
    /// least 2).
    pub worker_threads: Option<usize>,
    /// Folder where each plugin process writes its metrics in Prometheus'
    /// text format (`vastost-<pid>.prom`), for node_exporter's textfile
    /// collector and `vastost stats`; nothing is written without one.
    pub metrics_dir: Option<PathBuf>,
    /// Seconds between two writes of the metrics file.
    pub metrics_interval_secs: u64,
    /// The system log socket audit lines go to (lock releases), whatever
    /// `log_file` says; `""` sends none.
    pub syslog_socket: PathBuf,
    /// Where a media server's plugin processes remember what each would
    /// otherwise ask the cluster again (the host cache); unset: the
    /// default, `""`: nothing is remembered.
    pub state_dir: Option<PathBuf>,
    /// Bytes of data buffers all the plugin processes of the media server
    /// may hold together (a ledger in `state_dir`); unset: no host bound,
    /// only `memory_budget` per process.
    #[serde(with = "crate::size::optional")]
    pub host_memory_budget: Option<ByteSize>,
}

impl Default for PluginConfig {
    fn default() -> Self {
        PluginConfig {
            memory_budget: ByteSize::gib(1),
            log_level: LogLevel::Info,
            log_file: None,
            worker_threads: None,
            metrics_dir: None,
            metrics_interval_secs: 10,
            syslog_socket: PathBuf::from("/dev/log"),
            state_dir: None,
            host_memory_budget: None,
        }
    }
}

/// How much the plugin logs: a misspelt level is a configuration error,
/// not silently `info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Failures and what may become one.
    Warn,
    /// What an administrator follows: opens, images created and deleted.
    #[default]
    Info,
    /// Every call and request, for support.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The level as `tracing` filters name it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}
