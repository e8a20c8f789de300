//! The process-wide engine: one per `init`, dropped at `terminate`. It owns
//! the async runtime, the memory budget and the configuration, and opens
//! servers; it must not know about LSUs or images.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::budget::{BudgetStats, MemoryBudget};
use crate::config::{Config, Credentials, ServerConfig, strip_server_prefix};
use crate::ctx::EngineCtx;
use crate::error::{EngineError, Result};
use crate::host_memory::HostMemoryStats;
use crate::server::{Server, ServerInfo};
use crate::throttle::BandwidthReading;

/// The plugin's engine: one per process, made at `init`, dropped at
/// `terminate`. It owns the async runtime on which every transfer runs; its
/// blocking methods, and those of what it opens, must be called from
/// threads that are not the runtime's own (NetBackup's threads are not).
#[derive(Debug)]
pub struct Engine {
    runtime: Option<Runtime>,
    ctx: EngineCtx,
    config: Arc<Config>,
}

impl Engine {
    /// Starts the runtime and the memory budget for `config`.
    pub fn new(config: Config) -> Result<Self> {
        crate::config::check(&config)?;
        let threads = config
            .plugin
            .worker_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map(usize::from).unwrap_or(2).max(2));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("vastost-io")
            .enable_all()
            .build()
            .map_err(|e| EngineError::Internal(format!("cannot start the I/O runtime: {e}")))?;
        let socket = &config.plugin.syslog_socket;
        crate::audit::set_syslog_socket((!socket.as_os_str().is_empty()).then(|| socket.clone()));
        crate::host_cache::set_dir(config.plugin.state_dir.clone());
        let ctx = EngineCtx {
            rt: runtime.handle().clone(),
            budget: MemoryBudget::new(
                config.plugin.memory_budget.as_u64(),
                config.plugin.host_memory_budget.map(|b| b.as_u64()),
            ),
            bandwidth: Arc::default(),
        };
        Ok(Engine { runtime: Some(runtime), ctx, config: Arc::new(config) })
    }

    /// Rereads the bandwidth limits from `path` (the configuration file the
    /// engine was started from) when it changes: at each `open_server`, and
    /// while jobs run (see `throttle`).
    pub fn reread_limits_from(mut self, path: &std::path::Path) -> Self {
        self.ctx.bandwidth = Arc::new(crate::throttle::Bandwidth::reread_from(Some(path.to_path_buf())));
        self
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether a storage server name is one this plugin serves
    /// (`VastData:<cluster>` or `vast://<cluster>`).
    pub fn claims(name: &str) -> bool {
        strip_server_prefix(name).is_some()
    }

    /// Opens storage server `name` as configured, logging in to its VMS
    /// with `creds` when it has one.
    pub fn open_server(&self, name: &str, creds: Option<&Credentials>) -> Result<Server> {
        Server::open(name, self.server_config(name)?.clone(), self.ctx.clone(), creds, true)
    }

    /// What server `name` tells about itself, without logging in anywhere
    /// (for `get_server_prop_byname`, which has no credentials).
    pub fn server_info(&self, name: &str) -> Result<ServerInfo> {
        Ok(Server::open(name, self.server_config(name)?.clone(), self.ctx.clone(), None, false)?.info())
    }

    fn server_config(&self, name: &str) -> Result<&ServerConfig> {
        if !Self::claims(name) {
            return Err(EngineError::NoSuchServer(name.to_string()));
        }
        self.config.server(name).ok_or_else(|| EngineError::NoSuchServer(name.to_string()))
    }

    /// Figures of the memory budget.
    pub fn budget_stats(&self) -> BudgetStats {
        self.ctx.budget.stats()
    }

    /// Figures of the media server's memory budget (`host_memory_budget`),
    /// when one is set and enforced.
    pub fn host_memory_stats(&self) -> Option<HostMemoryStats> {
        self.ctx.budget.host_stats()
    }

    /// The bandwidth limits in force for the servers this process opened,
    /// with the rate and the processes of the media server sharing each.
    pub fn bandwidth_readings(&self) -> Vec<BandwidthReading> {
        self.ctx.bandwidth.readings()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            // Uploads of abandoned handles get a moment to finish; nothing
            // they do is committed without a manifest, so cutting them is safe.
            rt.shutdown_timeout(Duration::from_secs(10));
        }
    }
}
