//! `vastost`: drives the VAST Data OST plugin through its C ABI, as a
//! NetBackup media server does. See `vastost --help`.
//!
//! Exit codes: 0 success; 1 the plugin or the system reported an error;
//! 2 bad usage; 3 verification found data that differs, is damaged
//! (`STS_EINTEGRITY`), or cannot be proven; 4 a locked image has objects
//! written behind its lock; 5 something was written by a newer plugin in a
//! stored format this one does not read (`STS_ENEWERFORMAT`).

// The doc comments of `args` are also the `--help` text, where `<cluster>`
// means a placeholder, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

mod arg_values;
mod args;
mod args_cluster;
#[cfg(feature = "lab")]
mod args_lab;
#[cfg(feature = "lab")]
mod bench;
#[cfg(feature = "lab")]
mod bench_steps;
mod check;
mod commands;
mod copies;
#[cfg(feature = "lab")]
mod copy_bench;
#[cfg(feature = "lab")]
mod data;
mod dates;
#[cfg(feature = "lab")]
mod demo;
mod exit;
mod fmt;
#[cfg(feature = "lab")]
mod jobs_bench;
#[cfg(feature = "lab")]
mod peers;
#[cfg(feature = "lab")]
mod scale_bench;
mod scan;
mod secrets;
mod session;
mod setup;
#[cfg(feature = "lab")]
mod sim;
mod snapshots;
mod stats;
mod support;
mod transfer;
#[cfg(feature = "lab")]
mod worm_bench;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vastost: error: {e:#}");
            exit::code_of(&e)
        }
    }
}
