//! Loads a plugin library with `dlopen` and drives it through its C ABI,
//! exactly as a NetBackup media server does. Used by `vastost` and by the
//! test suites; nothing here calls the plugin's Rust code directly.
#![deny(missing_docs)]

use std::ffi::c_int;
use std::path::PathBuf;

use vastost_ost::*;

/// File name of the multithreaded plugin.
pub const PLUGIN_FILE: &str = "libstspiVastDataMT.so";
/// Where NetBackup keeps OST plugins.
pub const NETBACKUP_PLUGIN_DIR: &str = "/usr/openv/lib/ost-plugins";
/// Environment variable naming the plugin file to load.
pub const PLUGIN_ENV: &str = "VASTOST_PLUGIN";

/// A plugin that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `dlopen` failed.
    #[error("cannot load plugin {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: libloading::Error,
    },
    /// An entry point is missing.
    #[error("plugin {path} has no entry point {symbol}")]
    Symbol {
        /// The file.
        path: PathBuf,
        /// The missing symbol.
        symbol: &'static str,
    },
}

/// A failed plugin call: its status and the plugin's own message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct OstError {
    /// The status returned.
    pub status: c_int,
    /// The plugin's message for it (`vastost_last_error`), or the status
    /// description.
    pub message: String,
}

impl OstError {
    /// The status as a known code.
    pub fn code(&self) -> Option<sts_status> {
        sts_status::from_code(self.status)
    }
}

mod api;
mod events;
mod fields;
mod image;
mod info;
mod plugin;
mod server;

pub use api::Api;
pub use events::{Event, EventChannel};
pub use fields::*;
pub use image::Image;
pub use info::*;
pub use plugin::Plugin;
pub use server::Server;
