//! The OpenStorage C ABI of the VAST Data plugin, and a safe loader for it.
//!
//! NetBackup loads `libstspiVastDataMT.so` (or `libstspiVastData.so`) and
//! calls its `stspi_<operation>` functions from many threads. This crate
//! holds those functions ([`exports`]), every OST type they exchange
//! ([`ost`], from which `include/stspi_vastdata.h` is generated), and every
//! line of `unsafe` in the project. The two plugin libraries are thin
//! `cdylib` crates that re-export it.
//!
//! [`loader`] is the other side of the same ABI: it loads a plugin file with
//! `dlopen` and drives it the way a media server does. The `vastost` tool
//! and the test suites use it, so that they exercise the real library.
#![deny(missing_docs)]

mod boundary;
mod convert;
pub mod exports;
mod handles;
pub mod loader;
pub mod ost;
mod state;

/// The plugin's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
const VERSION_C: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
