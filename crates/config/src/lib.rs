//! The plugin's configuration: one TOML file, a `[plugin]` section for what
//! the whole process shares and a `[server."<name>"]` section per storage
//! server.
//!
//! ```toml
//! [plugin]
//! memory_budget = "1GiB"
//! log_level = "info"
//! log_file = "/usr/openv/netbackup/logs/vastost/plugin.log"
//!
//! [server."cluster1"]
//! data_path = "nfs"
//! directory = "/mnt/vast/netbackup"
//! lsus = ["pool1"]
//! fragment_size = "64MiB"
//! write_parallelism = 4
//! direct_io = true
//! read_ahead = "32MiB"
//! reclaim_grace_secs = 900
//! abandon_after_hours = 24
//! event_retention_hours = 72
//! ```
//!
//! The file stays flat, as administrators write it (its keys are documented
//! on [`ServerFile`]); the program sees it typed ([`ServerConfig`]):
//! the data path is an enum holding the settings of NFS or of S3, so a
//! server cannot be S3 without an endpoint, nor hold settings its data path
//! ignores. This crate knows nothing of the engine, so that the command-line
//! tool reads and writes the same file through the same types: it is the
//! one reader and the one writer of the format ([`Config::to_toml`]).

mod config;
mod error;
mod plugin;
mod secrets;
mod section;
mod server;
mod size;

pub use config::{CONFIG_ENV, Config, DEFAULT_CONFIG_PATH, SERVER_PREFIXES, strip_server_prefix};
pub use error::{ConfigError, Result};
pub use plugin::{LogLevel, PluginConfig};
pub use secrets::{S3Keys, read_secret_file};
pub use section::ServerFile;
pub use server::{
    DataPath, DataPathKind, Limits, Nfs, Provision, Reclaim, S3, ServerConfig, Tls, Transfer, Vms, VmsAuth, WormMode,
    WormPolicy,
};

#[cfg(test)]
mod tests;
