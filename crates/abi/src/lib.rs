//! The OpenStorage C ABI of the VAST Data plugin.
//!
//! NetBackup loads `libstspiVastDataMT.so` (or `libstspiVastData.so`) and
//! calls its `stspi_<operation>` functions from many threads. This crate
//! holds those functions ([`exports`]) and every line of `unsafe` on the
//! plugin's side; the OST types they exchange are the `vastost-ost` crate
//! (re-exported as [`ost`]; `include/stspi_vastdata.h` is generated from
//! both). The two plugin libraries are thin `cdylib` crates that re-export
//! it. The other side of the same ABI, the `dlopen` client that `vastost`
//! and the test suites use, is the `vastost-loader` crate.
#![deny(missing_docs)]

mod boundary;
mod convert;
pub mod exports;
mod failure;
mod handles;
mod metrics_file;
pub use vastost_ost as ost;
mod state;
mod version;

pub use version::VERSION;
