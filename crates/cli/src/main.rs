//! `vastost`: drives the VAST Data OST plugin through its C ABI, as a
//! NetBackup media server does. See `vastost --help`.
//!
//! Exit codes: 0 success; 1 the plugin or the system reported an error;
//! 2 bad usage; 3 verification found data that differs, is damaged
//! (`STS_EINTEGRITY`), or cannot be proven.

// The doc comments of `args` are also the `--help` text, where `<cluster>`
// means a placeholder, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

mod args;
mod bench;
mod check;
mod commands;
mod copies;
mod copy_bench;
mod data;
mod demo;
mod fmt;
mod scan;
mod secrets;
mod session;
mod setup;
mod transfer;

use std::process::ExitCode;

use clap::Parser;

/// Verification found different data (exit code 3).
#[derive(Debug)]
pub struct Mismatch(pub String);

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Mismatch {}

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vastost: error: {e:#}");
            let damage = e.chain().any(|c| {
                c.downcast_ref::<Mismatch>().is_some()
                    || c.downcast_ref::<vastost_loader::OstError>()
                        .is_some_and(|o| o.code() == Some(vastost_ost::sts_status::STS_EINTEGRITY))
            });
            if damage { ExitCode::from(3) } else { ExitCode::from(1) }
        }
    }
}
