//! The image engine of the VAST Data OpenStorage plugin.
//!
//! NetBackup sees storage servers, LSUs (logical storage units) and images.
//! This crate gives those a home on object storage, the same way over S3 and
//! over an NFS mount:
//!
//! - an [`Engine`] owns the async runtime, the configuration and the global
//!   memory budget; it opens [`Server`]s;
//! - a [`Server`] lists and opens [`Lsu`]s, each a folder (NFS) or a bucket
//!   (S3) wrapped in an [`vastost_storage::ObjectStore`];
//! - an image is immutable fragment objects plus a manifest, the single
//!   commit point (see [`manifest`]); [`ImageWriter`] and [`ImageReader`]
//!   are the write and read pipelines.
//!
//! The engine knows nothing of C: the plugin's ABI crate converts OST
//! structs to these types and calls the blocking methods here from
//! NetBackup's threads.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod anchor;
pub mod audit;
mod bookkeeping;
mod budget;
mod commit;
mod commit_probe;
pub mod config;
mod copy;
#[cfg(test)]
mod copy_tests;
mod ctx;
mod engine;
mod error;
mod event_poll;
pub mod events;
mod extents;
pub mod format;
mod host_cache;
mod host_file;
mod host_memory;
mod image;
mod image_list;
pub mod layout;
mod lsu;
pub mod manifest;
mod meta;
pub mod names;
mod open_images;
mod read_pace;
mod reader;
mod reclaim;
mod refs;
mod retention;
mod server;
mod server_vms;
mod snapshot;
mod superseded;
pub mod tamper;
#[cfg(test)]
mod tests;
mod throttle;
mod warm;
mod worm;
mod writer;

pub use budget::BudgetStats;
pub use config::{Config, Credentials, DataPathKind, PluginConfig, ServerConfig};
pub use copy::{AsyncCopies, CopyWait, Progress};
pub use ctx::MAX_META_SIZE;
pub use engine::Engine;
pub use error::{EngineError, ErrorKind, Result};
pub use event_poll::EventPoller;
pub use events::{Event, EventKind, StoredEvent};
pub use format::LsuFormats;
pub use host_memory::HostMemoryStats;
pub use image::{ImageInfo, OpenImage, Unreadable};
pub use image_list::ImagePager;
pub use layout::BLOCK_SIZE;
pub use lsu::{Lsu, LsuInfo};
pub use manifest::ImageState;
pub use names::{ImageDef, LsuName};
pub use open_images::Busy;
pub use reader::ImageReader;
pub use reclaim::{PassBound, ReclaimReport};
pub use retention::{ImageLock, WormMode, WormPolicy};
pub use server::{Server, ServerInfo};
pub use snapshot::Snapshot;
pub use throttle::BandwidthReading;
pub use writer::ImageWriter;
