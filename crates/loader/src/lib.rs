//! Loads a plugin library with `dlopen` and drives it through its C ABI,
//! exactly as a NetBackup media server does. Used by `vastost` and by the
//! test suites; nothing here calls the plugin's Rust code directly.
#![deny(missing_docs)]

mod api;
mod error;
mod events;
mod fields;
mod image;
mod info;
mod plugin;
mod server;

pub use api::Api;
pub use error::{LoadError, OstError};
pub use events::{Event, EventChannel};
pub use fields::*;
pub use image::Image;
pub use info::*;
pub use plugin::Plugin;
pub use plugin::{NETBACKUP_PLUGIN_DIR, PLUGIN_ENV, PLUGIN_FILE};
pub use server::Server;
