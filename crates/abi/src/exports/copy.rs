//! Optimized duplication: target servers, copies by reference, synthetic images, named asynchronous copies.

use std::ffi::c_char;
use std::sync::Arc;

use vastost_engine::{ImageDef, Lsu, Server};

use super::args::*;
use super::server::open_named;
use crate::boundary::guard;
use crate::convert::*;
use crate::failure::Failure;
use crate::handles::{self, Access, ImageObj, Mode, Object};
use crate::ost::*;
use crate::state;

/// Opens `target_name` as the target of optimized duplications from the
/// server `source` (for `create_image`, `open_image`, the copy calls and
/// `close_server`). Naming the source itself gives a second handle to it:
/// copies between its LSUs then move no data.
///
/// # Safety
/// `target_name` is NUL-terminated; `cred` NULL or valid; `handle` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_open_target_server(
    source: sts_server_handle_t,
    target_name: *const c_char,
    cred: Option<&sts_cred_t>,
    handle: Option<&mut sts_server_handle_t>,
) -> sts_status_t {
    guard("stspi_open_target_server", || {
        let engine = state::engine()?;
        let source = handles::server(source, "source")?;
        // SAFETY: by contract.
        let name = unsafe { str_arg(target_name, "target_name", STS_MAX_STSNAME) }?;
        let out = given_mut(handle, "handle")?;
        let server = if name == source.name() { source } else { Arc::new(open_named(&engine, &name, cred)?) };
        *out = handles::insert(Object::Server(server), engine.epoch)?;
        Ok(())
    })
}

/// Runs `body` with the source (open for reading) and the target (open for
/// writing) of an extent copy. The modes are checked before any lock is
/// taken, and a reader is always locked before a writer: calls with the
/// arguments swapped fail at once instead of locking in the other order.
fn with_copy_pair<R>(
    source: stsp_image_handle_t,
    target: stsp_image_handle_t,
    body: impl FnOnce(&mut vastost_engine::ImageReader, &mut vastost_engine::ImageWriter) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let _engine = state::engine()?;
    if source == target {
        return Err(Failure::invalid("the source and the target are the same image handle"));
    }
    handles::with::<Box<ImageObj>, _, _>(source, "source", |src| {
        handles::with::<Box<ImageObj>, _, _>(target, "target", |dst| {
            if src.mode != Mode::Read {
                return Err(Failure::invalid("the source image must be open for reading (STS_O_READ)"));
            }
            if dst.mode != Mode::Write {
                return Err(Failure::invalid("the target image must be open for writing"));
            }
            let mut src = src.lock("source")?;
            let mut dst = dst.lock("target")?;
            match (&mut src.image, &mut dst.image) {
                (Access::Read(r), Access::Write(w)) => body(r, w),
                _ => Err(Failure::new(sts_status::STS_ESOFTWARE, "an image handle changed its open mode")),
            }
        })
    })
}

/// Copies `len` bytes of the source image from `from_offset` to the target
/// image at `to_offset` (multiples of `STS_BLOCK_SIZE`). `STS_CX_APPEND`
/// appends at the target's end (`to_offset` ignored); `STS_CX_REMAINDER`
/// copies all of the source from `from_offset` (`len` ignored). Between
/// LSUs of one server no data moves: the target references the source's.
///
/// # Pointers
/// `copied` is NULL or writable.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_copy_extent(
    source: stsp_image_handle_t,
    target: stsp_image_handle_t,
    from_offset: u64,
    to_offset: u64,
    len: u64,
    flags: u32,
    copied: Option<&mut u64>,
) -> sts_status_t {
    guard("stspi_copy_extent", || {
        let out = given_mut(copied, "copied")?;
        if flags & !(STS_CX_APPEND | STS_CX_REMAINDER) != 0 {
            return Err(Failure::invalid(format!("unknown copy_extent flags {flags:#x}")));
        }
        with_copy_pair(source, target, |r, w| {
            let to = if flags & STS_CX_APPEND != 0 { w.size() } else { to_offset };
            let len = if flags & STS_CX_REMAINDER != 0 {
                r.size().checked_sub(from_offset).ok_or_else(|| {
                    Failure::invalid(format!("from_offset {from_offset} is past the source's end ({})", r.size()))
                })?
            } else {
                len
            };
            *out = w.copy_from(r, from_offset, to, len)?;
            Ok(())
        })
    })
}

/// Adds to the target image (open for writing) `len` bytes of the source
/// image (open for reading) from `from_offset`, at `to_offset`, without
/// copying data: both must be on one server. Deleting the source later
/// keeps what the target references.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_include_in_image(
    source: stsp_image_handle_t,
    target: stsp_image_handle_t,
    from_offset: u64,
    to_offset: u64,
    len: u64,
) -> sts_status_t {
    guard("stspi_include_in_image", || {
        with_copy_pair(source, target, |r, w| {
            w.include(r, from_offset, to_offset, len)?;
            Ok(())
        })
    })
}

/// The two LSUs and images of a whole-image copy.
///
/// # Safety
/// The four pointers are NULL or valid.
fn copy_args(
    from_lsu: Option<&sts_lsu_t>,
    from: Option<&sts_image_def_t>,
    to_lsu: Option<&sts_lsu_t>,
    to: Option<&sts_image_def_t>,
) -> Result<(Arc<Server>, Lsu, ImageDef, Lsu, ImageDef), Failure> {
    let _engine = state::engine()?;
    let (server, src) = lsu_of(given(from_lsu, "from_lsu")?)?;
    let def = image_def(given(from, "from")?)?;
    let (_, dst) = lsu_of(given(to_lsu, "to_lsu")?)?;
    let to_def = image_def(given(to, "to")?)?;
    Ok((server, src, def, dst, to_def))
}

/// Copies a complete image to a new image of another LSU of the same
/// server (by reference: no data moves) or of a target server opened with
/// `stspi_open_target_server` (streamed, verified). `flags` must be 0. A
/// failed copy leaves no target image.
///
/// # Pointers
/// The four pointers are valid.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_copy_image(
    from_lsu: Option<&sts_lsu_t>,
    from: Option<&sts_image_def_t>,
    to_lsu: Option<&sts_lsu_t>,
    to: Option<&sts_image_def_t>,
    flags: u32,
) -> sts_status_t {
    guard("stspi_copy_image", || {
        check_copy_flags(flags)?;
        let (_, src, def, dst, to_def) = copy_args(from_lsu, from, to_lsu, to)?;
        src.copy_image(&def, &dst, &to_def, &vastost_engine::Progress::default())?;
        Ok(())
    })
}

fn check_copy_flags(flags: u32) -> Result<(), Failure> {
    if flags != 0 {
        return Err(Failure::invalid(format!("copy flags {flags:#x}: none are defined")));
    }
    Ok(())
}

/// Starts `stspi_copy_image` in the background; `*op_id` numbers it. Its
/// end is announced by an event (`STS_EVT_COPY_DONE` or
/// `STS_EVT_REPLICATION` on success); a failed copy leaves no image.
///
/// # Pointers
/// The four pointers are valid; `op_id` writable.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_async_copy_image(
    from_lsu: Option<&sts_lsu_t>,
    from: Option<&sts_image_def_t>,
    to_lsu: Option<&sts_lsu_t>,
    to: Option<&sts_image_def_t>,
    flags: u32,
    op_id: Option<&mut u64>,
) -> sts_status_t {
    guard("stspi_async_copy_image", || {
        check_copy_flags(flags)?;
        let out = given_mut(op_id, "op_id")?;
        let (server, src, def, dst, to_def) = copy_args(from_lsu, from, to_lsu, to)?;
        let name = server.copies().start(None, src, def, dst, to_def)?;
        *out = name.trim_start_matches('#').parse().unwrap_or(0);
        Ok(())
    })
}

/// Starts `stspi_copy_image` in the background under `name` (unique per
/// server until its end is taken by `stspi_named_async_wait`).
///
/// # Safety
/// The four pointers are valid; `name` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_named_async_copy_image(
    from_lsu: Option<&sts_lsu_t>,
    from: Option<&sts_image_def_t>,
    to_lsu: Option<&sts_lsu_t>,
    to: Option<&sts_image_def_t>,
    name: *const c_char,
    flags: u32,
) -> sts_status_t {
    guard("stspi_named_async_copy_image", || {
        check_copy_flags(flags)?;
        // SAFETY: by contract.
        let name = unsafe { str_arg(name, "name", STS_MAX_IMAGENAME) }?;
        let (server, src, def, dst, to_def) = copy_args(from_lsu, from, to_lsu, to)?;
        server.copies().start(Some(&name), src, def, dst, to_def)?;
        Ok(())
    })
}

/// Waits up to `timeout_secs` for the named copy of `server` (the server
/// of its source LSU). Returns its status once it has ended (then forgets
/// it), or `STS_EINPROGRESS` while it runs; `*done_bytes` tells the bytes
/// copied so far either way.
///
/// # Safety
/// `name` is NUL-terminated; `done_bytes` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_named_async_wait(
    server: sts_server_handle_t,
    name: *const c_char,
    timeout_secs: u32,
    done_bytes: Option<&mut u64>,
) -> sts_status_t {
    guard("stspi_named_async_wait", || {
        let _engine = state::engine()?;
        let server = handles::server(server, "server")?;
        // SAFETY: by contract.
        let name = unsafe { str_arg(name, "name", STS_MAX_IMAGENAME) }?;
        let out = given_mut(done_bytes, "done_bytes")?;
        let timeout = std::time::Duration::from_secs(timeout_secs.into());
        match server.copies().wait(&name, timeout)? {
            vastost_engine::CopyWait::Done(result) => {
                *out = result?;
                Ok(())
            }
            vastost_engine::CopyWait::Running { done, total } => {
                *out = done;
                Err(Failure::new(
                    sts_status::STS_EINPROGRESS,
                    format!("copy {name:?} is still running ({done} of {total} bytes)"),
                ))
            }
        }
    })
}

/// Asks the named copy to stop. Its target image is removed; wait for it
/// with `stspi_named_async_wait` (which then returns `STS_ECANCELED`,
/// unless it had already finished).
///
/// # Safety
/// `name` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_named_async_cancel(server: sts_server_handle_t, name: *const c_char) -> sts_status_t {
    guard("stspi_named_async_cancel", || {
        let _engine = state::engine()?;
        let server = handles::server(server, "server")?;
        // SAFETY: by contract.
        let name = unsafe { str_arg(name, "name", STS_MAX_IMAGENAME) }?;
        server.copies().cancel(&name)?;
        Ok(())
    })
}
