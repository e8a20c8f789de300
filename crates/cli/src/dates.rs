//! Image dates: the one given, the newest of a basename, or now.

use anyhow::{Result, anyhow};
use vastost_loader::Server;

use crate::args::ImageArgs;

/// The date given, or the newest image of that basename.
pub(crate) fn resolve_date(server: &Server<'_>, args: &ImageArgs) -> Result<String> {
    match &args.date {
        Some(d) => Ok(d.clone()),
        None => newest_date(server, &args.lsu.lsu, &args.image),
    }
}

/// The date of the newest image named `basename` on `lsu`.
pub(crate) fn newest_date(server: &Server<'_>, lsu: &str, basename: &str) -> Result<String> {
    server
        .images(lsu)?
        .into_iter()
        .filter(|i| i.basename == basename)
        .max_by(|a, b| (a.created, &a.date).cmp(&(b.created, &b.date)))
        .map(|i| i.date)
        .ok_or_else(|| anyhow!("no image named {basename} on LSU {lsu}"))
}

/// Now, in seconds since the epoch: the date of a new image by default.
pub(crate) fn now_date() -> String {
    now_secs().to_string()
}

/// Now, in seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
