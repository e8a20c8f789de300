//! What goes wrong: a plugin that cannot be loaded, a call that fails.

use std::ffi::c_int;
use std::path::PathBuf;

use vastost_ost::sts_status;

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
