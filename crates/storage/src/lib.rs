//! Object storage access for the VAST Data OST plugin.
//!
//! The image engine stores everything as objects addressed by `/`-separated
//! keys, whether the bytes travel over S3 or land on an NFS mount. This crate
//! gives it one narrow interface, [`ObjectStore`], so that the engine has a
//! single code path and the storage library (Apache OpenDAL) can be upgraded
//! or replaced by touching this crate only.
//!
//! Two guarantees the engine builds on, which OpenDAL alone does not give on
//! a filesystem:
//! - [`ObjectStore::put`] returns only once the object is durable (file and
//!   its directory entry synced);
//! - [`ObjectStore::put_new`] is an atomic create-if-absent, which is what
//!   makes a manifest commit a commit.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod breaker;
mod error;
mod fragment;
mod fs;
mod memory;
mod open_range;
mod pool;
mod resend;
mod retry_cause;
mod s3;
mod store;
mod store_versions;
mod types;

pub use error::{ErrorKind, Result, StorageError};
pub use fragment::FragmentWriter;
pub use fs::backend::{Cached, PageCacheFile};
pub use open_range::OpenRange;
pub use pool::{Claim, Drain, PoolBudget};
pub use s3::backend::http_client;
pub use s3::raw::Upload;
pub use store::ObjectStore;
pub use types::{Capability, Capacity, ChunkSums, ListEntry, LockMode, Retention, S3Settings, Segments, StoredVersion};
pub use vastost_tls::TlsSettings;
