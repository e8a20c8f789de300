//! `vastost_` extensions: version, messages, statistics, reclaim.

use std::ffi::{c_char, c_int};

use crate::boundary::{guard, last_error};
use crate::convert::*;
use crate::handles::{self};
use crate::ost::*;
use crate::state;

/// The plugin's version, a static NUL-terminated string.
#[unsafe(no_mangle)]
pub extern "C" fn vastost_version() -> *const c_char {
    crate::version::VERSION_C.as_ptr().cast()
}

/// A static NUL-terminated description of a status code.
#[unsafe(no_mangle)]
pub extern "C" fn vastost_strerror(status: sts_status_t) -> *const c_char {
    match sts_status::from_code(status) {
        Some(s) => s.message().as_ptr().cast(),
        None => c"unknown status".as_ptr(),
    }
}

/// Copies the calling thread's last error message (empty after a success)
/// into `buf` (NUL-terminated, truncated to `len`); returns its full length.
///
/// # Safety
/// `buf` is NULL or valid for `len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vastost_last_error(buf: *mut c_char, len: usize) -> usize {
    // SAFETY: `buf` as the caller promised.
    unsafe { text_out(&last_error(), buf, len) }
}

/// Frees the space that deleted images and crashed sessions left in LSU
/// `lsu` of `server` (NULL: every LSU), and expires old events.
/// `grace_secs` below 0 means the configured grace period for references
/// in the making; 0 is only safe when no copy runs anywhere.
/// `older_than_secs` below 0 means the configured abandon age: pending
/// images idle longer than it are abandoned (see the README), multipart
/// uploads older than it are aborted, tombstones older than it removed.
///
/// # Safety
/// `lsu` is NULL or NUL-terminated; `report` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vastost_reclaim(
    server: sts_server_handle_t,
    lsu: *const c_char,
    grace_secs: i64,
    older_than_secs: i64,
    report: Option<&mut vastost_reclaim_t>,
) -> sts_status_t {
    guard("vastost_reclaim", || {
        let _engine = state::engine()?;
        let server = handles::server(server, "server")?;
        let lsu = if lsu.is_null() {
            None
        } else {
            // SAFETY: non-NULL and NUL-terminated by contract.
            Some(unsafe { str_arg(lsu, "lsu", STS_MAX_LSUNAME) }?)
        };
        let out = given_mut(report, "report")?;
        let grace = u64::try_from(grace_secs).ok();
        let older_than = u64::try_from(older_than_secs).ok();
        *out = reclaim_to_c(&server.reclaim(lsu.as_deref(), grace, older_than)?);
        Ok(())
    })
}

/// Counters of the memory budget and of open handles.
///
/// # Pointers
/// `stats` is NULL or writable.
#[unsafe(no_mangle)]
pub extern "C" fn vastost_get_stats(stats: Option<&mut vastost_stats_t>) -> sts_status_t {
    guard("vastost_get_stats", || {
        let engine = state::engine()?;
        let out = given_mut(stats, "stats")?;
        let b = engine.budget_stats();
        *out = vastost_stats_t {
            vs_budget_total: b.total,
            vs_budget_in_use: b.in_use,
            vs_budget_peak: b.peak,
            vs_open_handles: handles::count() as u64,
        };
        Ok(())
    })
}

/// Takes snapshot `name` of LSU `lsu`'s view through VMS (the server needs
/// `vms_endpoint`; an NFS LSU also `lsu_path`), expiring at `expires`
/// (seconds since the epoch; 0: never), and with `indestructible` not
/// deletable before then, even by an administrator (needs `expires`).
///
/// # Safety
/// `lsu` and `name` are NUL-terminated; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vastost_snapshot_create(
    server: sts_server_handle_t,
    lsu: *const c_char,
    name: *const c_char,
    expires: u64,
    indestructible: c_int,
    out: Option<&mut vastost_snapshot_t>,
) -> sts_status_t {
    guard("vastost_snapshot_create", || {
        let _engine = state::engine()?;
        let server = handles::server(server, "server")?;
        // SAFETY: NUL-terminated by contract.
        let lsu = unsafe { str_arg(lsu, "lsu", STS_MAX_LSUNAME) }?;
        // SAFETY: NUL-terminated by contract.
        let name = unsafe { str_arg(name, "name", VASTOST_MAX_SNAPSHOT_NAME) }?;
        let out = given_mut(out, "out")?;
        let made = server.create_snapshot(&lsu, &name, (expires > 0).then_some(expires), indestructible != 0)?;
        *out = snapshot_to_c(&made);
        Ok(())
    })
}

/// The snapshots of LSU `lsu`'s view, oldest first: up to `capacity` into
/// `out`, and how many there are into `count` (call again with a larger
/// array when it is over `capacity`).
///
/// # Safety
/// `lsu` is NUL-terminated; `out` NULL (with `capacity` 0) or writable for
/// `capacity` entries; `count` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vastost_snapshot_list(
    server: sts_server_handle_t,
    lsu: *const c_char,
    out: *mut vastost_snapshot_t,
    capacity: u32,
    count: Option<&mut u32>,
) -> sts_status_t {
    guard("vastost_snapshot_list", || {
        let _engine = state::engine()?;
        let server = handles::server(server, "server")?;
        // SAFETY: NUL-terminated by contract.
        let lsu = unsafe { str_arg(lsu, "lsu", STS_MAX_LSUNAME) }?;
        let count = given_mut(count, "count")?;
        if out.is_null() && capacity > 0 {
            return Err(crate::failure::Failure::null("out"));
        }
        let all = server.snapshots(&lsu)?;
        let n = all.len().min(capacity as usize);
        if n > 0 {
            // SAFETY: `out` holds `capacity >= n` writable entries by contract.
            let slots = unsafe { std::slice::from_raw_parts_mut(out, n) };
            for (slot, s) in slots.iter_mut().zip(&all) {
                *slot = snapshot_to_c(s);
            }
        }
        *count = u32::try_from(all.len()).unwrap_or(u32::MAX);
        Ok(())
    })
}

/// Deletes snapshot `name` of LSU `lsu`'s view; an indestructible one
/// before it expires is `STS_EWORM_LOCKED`.
///
/// # Safety
/// `lsu` and `name` are NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vastost_snapshot_delete(
    server: sts_server_handle_t,
    lsu: *const c_char,
    name: *const c_char,
) -> sts_status_t {
    guard("vastost_snapshot_delete", || {
        let _engine = state::engine()?;
        let server = handles::server(server, "server")?;
        // SAFETY: NUL-terminated by contract.
        let lsu = unsafe { str_arg(lsu, "lsu", STS_MAX_LSUNAME) }?;
        // SAFETY: NUL-terminated by contract.
        let name = unsafe { str_arg(name, "name", VASTOST_MAX_SNAPSHOT_NAME) }?;
        server.delete_snapshot(&lsu, &name)?;
        Ok(())
    })
}
