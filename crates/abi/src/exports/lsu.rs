//! LSUs: lists, properties, labels.

use std::ffi::c_char;
use std::sync::Mutex;

use super::args::*;
use crate::boundary::guard;
use crate::convert::*;
use crate::failure::Failure;
use crate::handles::{self, Cursor, LsuList, Object};
use crate::ost::*;
use crate::state;

/// Opens the list of a server's LSUs.
///
/// # Pointers
/// `list` is NULL or writable.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_open_lsu_list(
    handle: sts_server_handle_t,
    list: Option<&mut sts_lsu_list_handle_t>,
) -> sts_status_t {
    guard("stspi_open_lsu_list", || {
        let engine = state::engine()?;
        let server = handles::server(handle, "server handle")?;
        let out = given_mut(list, "list")?;
        let names = server.list_lsus()?;
        *out = handles::insert(Object::LsuList(Mutex::new(Cursor { items: names.into_iter() })), engine.epoch)?;
        Ok(())
    })
}

/// The next LSU of a list, or `STS_ENOMORE` at the end.
///
/// # Pointers
/// `lsu` is NULL or writable.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_list_lsu(list: sts_lsu_list_handle_t, lsu: Option<&mut sts_lsu_name_t>) -> sts_status_t {
    guard("stspi_list_lsu", || {
        let out = given_mut(lsu, "lsu")?;
        let next = handles::with::<LsuList, _, _>(list, "LSU list handle", |cursor| {
            Ok(cursor.lock().unwrap_or_else(|p| p.into_inner()).items.next())
        })?;
        let name = next.ok_or_else(|| Failure::new(sts_status::STS_ENOMORE, "end of the LSU list"))?;
        *out = sts_lsu_name_t { sln_name: field(&name) };
        Ok(())
    })
}

/// Closes an LSU list.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_close_lsu_list(list: sts_lsu_list_handle_t) -> sts_status_t {
    guard("stspi_close_lsu_list", || handles::remove::<LsuList, _>(list, "LSU list handle"))
}

/// Properties of an LSU: capacity, use, flags, label.
///
/// # Pointers
/// `lsu` is valid; `info` is NULL or writable.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_get_lsu_prop_byname(
    lsu: Option<&sts_lsu_t>,
    info: Option<&mut sts_lsu_info_t>,
) -> sts_status_t {
    guard("stspi_get_lsu_prop_byname", || {
        let _engine = state::engine()?;
        let (server, lsu) = lsu_of(given(lsu, "lsu")?)?;
        let out = given_mut(info, "info")?;
        *out = lsu_info_to_c(&lsu.info()?, server.name());
        Ok(())
    })
}

/// The stored formats this plugin reads and writes, and those written to
/// LSU `lsu` as its format markers say (an extension).
#[unsafe(no_mangle)]
pub extern "C" fn vastost_lsu_formats(lsu: Option<&sts_lsu_t>, out: Option<&mut vastost_formats_t>) -> sts_status_t {
    guard("vastost_lsu_formats", || {
        let _engine = state::engine()?;
        let (_, lsu) = lsu_of(given(lsu, "lsu")?)?;
        let out = given_mut(out, "out")?;
        *out = formats_to_c(&lsu.formats()?);
        Ok(())
    })
}

/// Sets an LSU's label.
///
/// # Safety
/// `lsu` is valid; `label` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_label_lsu(lsu: Option<&sts_lsu_t>, label: *const c_char) -> sts_status_t {
    guard("stspi_label_lsu", || {
        let _engine = state::engine()?;
        let (_, lsu) = lsu_of(given(lsu, "lsu")?)?;
        // SAFETY: by contract.
        let label = unsafe { str_arg(label, "label", STS_MAX_LABEL) }?;
        lsu.label(&label)?;
        Ok(())
    })
}

/// The LSU's audit trail: each lock released before it expired, one line
/// each, oldest first: the time it was done and the time the lock would
/// have expired (seconds since the epoch), what was done
/// (`governance-release`), the image's basename and date, who asked, the
/// media server and its process id, separated by tabs. The records are
/// kept on the storage, locked until the released lock would have
/// expired. Copied into `buf` as `vastost_last_error` copies; `*needed`
/// (when not NULL) gets the full length plus one.
///
/// # Safety
/// `lsu` is valid; `buf` is NULL or valid for `len` writable bytes;
/// `needed` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vastost_lsu_audit(
    lsu: Option<&sts_lsu_t>,
    buf: *mut c_char,
    len: usize,
    needed: Option<&mut usize>,
) -> sts_status_t {
    guard("vastost_lsu_audit", || {
        let _engine = state::engine()?;
        let (_, lsu) = lsu_of(given(lsu, "lsu")?)?;
        let report: String = lsu
            .audit()?
            .iter()
            .map(|r| {
                format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    r.time, r.until, r.action, r.basename, r.date, r.who, r.host, r.pid
                )
            })
            .collect();
        // SAFETY: `buf` as the caller promised.
        let full = unsafe { text_out(&report, buf, len) };
        if let Some(needed) = needed {
            *needed = full + 1;
        }
        Ok(())
    })
}
