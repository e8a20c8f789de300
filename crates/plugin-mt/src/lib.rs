//! `libstspiVastDataMT.so`: the VAST Data OpenStorage plugin as NetBackup loads it.
//! All code lives in `vastost-abi`; this crate only gives the library its
//! file name, so that both names NetBackup looks for are the same code.
#![allow(non_snake_case)]
#![forbid(unsafe_code)]

pub use vastost_abi::exports::*;
