use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::budget::{BudgetStats, MemoryBudget};
use crate::config::{Config, strip_server_prefix};
use crate::error::{EngineError, Result};
use crate::server::Server;

/// What every server, LSU and image of the process shares.
#[derive(Debug, Clone)]
pub(crate) struct EngineCtx {
    pub rt: tokio::runtime::Handle,
    pub budget: MemoryBudget,
}

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
        config.validate()?;
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
        let ctx =
            EngineCtx { rt: runtime.handle().clone(), budget: MemoryBudget::new(config.plugin.memory_budget.as_u64()) };
        Ok(Engine { runtime: Some(runtime), ctx, config: Arc::new(config) })
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

    /// Opens storage server `name` as configured.
    pub fn open_server(&self, name: &str) -> Result<Server> {
        if !Self::claims(name) {
            return Err(EngineError::NoSuchServer(name.to_string()));
        }
        let cfg = self.config.server(name).ok_or_else(|| EngineError::NoSuchServer(name.to_string()))?;
        Server::open(name, cfg.clone(), self.ctx.clone())
    }

    /// Figures of the memory budget.
    pub fn budget_stats(&self) -> BudgetStats {
        self.ctx.budget.stats()
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
