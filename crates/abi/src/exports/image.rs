//! Images: create, open, write, read, flush, close, delete, properties, lists.

use std::ffi::{c_int, c_void};
use std::sync::Mutex;

use vastost_engine::{EngineError, ImagePager};

use super::args::*;
use crate::boundary::guard;
use crate::convert::*;
use crate::failure::Failure;
use crate::handles::{self, Access, ImageHandle, ImageList, ImageObj, Object, Pager};
use crate::ost::*;
use crate::state;

/// Creates an image, open for writing; its flags become
/// `STS_II_IMAGE_PENDING | STS_II_BUSY_WRITE`. `pendingflag` (another image
/// will follow) is a hint and is not needed by this plugin.
///
/// # Pointers
/// `lsu` and `def` are valid; `handle` is NULL or writable.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_create_image(
    lsu: Option<&sts_lsu_t>,
    def: Option<&sts_image_def_t>,
    pendingflag: c_int,
    handle: Option<&mut stsp_image_handle_t>,
) -> sts_status_t {
    let _ = pendingflag;
    guard("stspi_create_image", || {
        let engine = state::engine()?;
        let (server, lsu) = lsu_of(given(lsu, "lsu")?)?;
        let def = image_def(given(def, "def")?)?;
        let out = given_mut(handle, "handle")?;
        let writer = lsu.create_image(&def)?;
        *out = handles::insert(
            Object::Image(Box::new(ImageObj::new(ImageHandle { server, image: Access::Write(writer) }))),
            engine.epoch,
        )?;
        Ok(())
    })
}

/// Opens an image: `STS_O_READ` for a complete image, `STS_O_WRITE` to
/// append to a checkpointed one.
///
/// # Pointers
/// `lsu` and `def` are valid; `handle` is NULL or writable.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_open_image(
    lsu: Option<&sts_lsu_t>,
    def: Option<&sts_image_def_t>,
    mode: c_int,
    handle: Option<&mut stsp_image_handle_t>,
) -> sts_status_t {
    guard("stspi_open_image", || {
        let engine = state::engine()?;
        let (server, lsu) = lsu_of(given(lsu, "lsu")?)?;
        let def = image_def(given(def, "def")?)?;
        let out = given_mut(handle, "handle")?;
        let image = match mode {
            STS_O_READ => Access::Read(lsu.open_for_read(&def)?),
            STS_O_WRITE => Access::Write(lsu.open_for_write(&def)?),
            other => return Err(Failure::invalid(format!("open mode {other} is neither STS_O_READ nor STS_O_WRITE"))),
        };
        *out = handles::insert(Object::Image(Box::new(ImageObj::new(ImageHandle { server, image }))), engine.epoch)?;
        Ok(())
    })
}

/// Writes `len` bytes at `offset` (both multiples of `STS_BLOCK_SIZE`). The
/// data may be buffered: a later storage error is returned by the next
/// `write_image`, `flush` or `close_image`. `stat` may be NULL.
///
/// # Safety
/// `buf` is valid for `len` bytes; `written` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_write_image(
    handle: stsp_image_handle_t,
    stat: Option<&sts_stat_t>,
    buf: *const c_void,
    len: u64,
    offset: u64,
    written: Option<&mut u64>,
) -> sts_status_t {
    let _ = stat;
    guard("stspi_write_image", || {
        // SAFETY: by contract.
        let data = unsafe { bytes_in(buf, len, "buf") }?;
        let out = given_mut(written, "written")?;
        with_image(handle, |h| match &mut h.image {
            Access::Write(w) => {
                *out = w.write(data, offset)?;
                Ok(())
            }
            Access::Read(_) => Err(Failure::new(sts_status::STS_EINVAL, "the image is open for reading")),
        })
    })
}

/// Reads up to `len` bytes (a multiple of `STS_BLOCK_SIZE`) at `offset`;
/// `*read` is shorter at the end of the image and 0 past it.
///
/// # Safety
/// `buf` is valid for `len` writable bytes; `read` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_read_image(
    handle: stsp_image_handle_t,
    buf: *mut c_void,
    len: u64,
    offset: u64,
    read: Option<&mut u64>,
) -> sts_status_t {
    guard("stspi_read_image", || {
        // SAFETY: by contract.
        let dst = unsafe { bytes_out(buf, len, "buf") }?;
        let out = given_mut(read, "read")?;
        with_image(handle, |h| match &mut h.image {
            Access::Read(r) => {
                *out = r.read(dst, offset)? as u64;
                Ok(())
            }
            Access::Write(_) => Err(Failure::new(sts_status::STS_EINVAL, "the image is open for writing")),
        })
    })
}

/// Pushes buffered data to storage and records it as a checkpoint.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_flush(handle: stsp_image_handle_t) -> sts_status_t {
    guard("stspi_flush", || {
        with_image(handle, |h| match &mut h.image {
            Access::Write(w) => Ok(w.flush()?),
            Access::Read(_) => Ok(()),
        })
    })
}

/// Closes an image handle. After writing: `STS_CLOSEF_IH_COMPLETE` makes
/// the image created (complete), `STS_CLOSEF_IH_INCOMPLETE` checkpoints it.
/// The handle is invalid afterwards, whatever the status.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_close_image(handle: stsp_image_handle_t, flags: c_int) -> sts_status_t {
    guard("stspi_close_image", || {
        let _engine = state::engine()?;
        if flags != STS_CLOSEF_IH_COMPLETE && flags != STS_CLOSEF_IH_INCOMPLETE {
            return Err(Failure::invalid(format!("close flag {flags} is not STS_CLOSEF_IH_(IN)COMPLETE")));
        }
        handles::close_image(handle, "image handle", |image| {
            match image.image {
                Access::Write(w) => w.close(flags == STS_CLOSEF_IH_COMPLETE)?,
                Access::Read(r) => drop(r),
            }
            Ok(())
        })
    })
}

/// Deletes an image and frees its space. The image is gone when the call
/// returns; with `asyncflag` its space is freed in the background (what the
/// plugin's stop interrupts is left to the reclaimer).
///
/// # Pointers
/// `lsu` and `def` are valid.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_delete_image(
    lsu: Option<&sts_lsu_t>,
    def: Option<&sts_image_def_t>,
    asyncflag: c_int,
) -> sts_status_t {
    guard("stspi_delete_image", || {
        let _engine = state::engine()?;
        let (_, lsu) = lsu_of(given(lsu, "lsu")?)?;
        let def = image_def(given(def, "def")?)?;
        if asyncflag != 0 { Ok(lsu.delete_image_in_background(&def)?) } else { Ok(lsu.delete_image(&def)?) }
    })
}

/// Locks a complete image against deletion until `unlock_time` (seconds
/// since the epoch), or extends its lock, in the LSU's WORM mode; call it
/// after `stspi_close_image`, as NetBackup does. The image's data, the
/// data of other images it references, its metadata and its commit record
/// get the storage's own lock first (S3 Object Lock, VAST NFS WORM). A
/// lock shorter than the LSU's minimum is `STS_EWORM_MIN`, longer than its
/// maximum `STS_EWORM_MAX`, earlier than the lock the image has
/// `STS_EACCESS`; an LSU that is not WORM capable answers `STS_ENOTSUP`.
/// Once locked, `stspi_delete_image` answers `STS_EWORM_LOCKED` until
/// the lock expires. Calling it again with the same time completes a lock
/// a crash interrupted.
///
/// # Pointers
/// `lsu` and `def` are valid.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_lock_image(
    lsu: Option<&sts_lsu_t>,
    def: Option<&sts_image_def_t>,
    unlock_time: u64,
) -> sts_status_t {
    guard("stspi_lock_image", || {
        let _engine = state::engine()?;
        let (_, lsu) = lsu_of(given(lsu, "lsu")?)?;
        let def = image_def(given(def, "def")?)?;
        lsu.lock_image(&def, unlock_time)?;
        Ok(())
    })
}

/// Lifts the governance (NetBackup "enterprise") lock of an image before it
/// expires: a privileged call, written to the audit log with `who` (the
/// operator and reason; required). The cluster must allow the LSU's S3
/// user to bypass governance retention. A compliance lock is never lifted
/// (`STS_EACCESS`); an image without a lock is left as it is.
///
/// # Safety
/// `lsu` and `def` are valid; `who` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vastost_release_image_lock(
    lsu: Option<&sts_lsu_t>,
    def: Option<&sts_image_def_t>,
    who: *const std::ffi::c_char,
) -> sts_status_t {
    guard("vastost_release_image_lock", || {
        let _engine = state::engine()?;
        let (_, lsu) = lsu_of(given(lsu, "lsu")?)?;
        let def = image_def(given(def, "def")?)?;
        // SAFETY: by contract.
        let who = unsafe { str_arg(who, "who", 1024) }?;
        lsu.release_lock(&def, &who)?;
        Ok(())
    })
}

/// Lists what someone holding the storage keys wrote into the folder of a
/// locked image behind its lock: delete markers, new versions over the
/// objects the lock pins, added commit records and objects. Restores
/// ignore all of it and read the locked versions; this makes it visible.
/// With `remove` non-zero, each is removed first where the keys allow.
/// The report, one line each: `tampered`, `removed` or `kept`, then the
/// key, the version id (`-` without one) and what it is, separated by
/// tabs (a `kept` line adds why). It is copied into `buf` as
/// `vastost_last_error` copies; `*needed` (when not NULL) gets its full
/// length plus one. An image without a holding lock reports nothing.
///
/// # Safety
/// `lsu` and `def` are valid; `buf` is NULL or valid for `len` writable
/// bytes; `needed` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vastost_image_tampered(
    lsu: Option<&sts_lsu_t>,
    def: Option<&sts_image_def_t>,
    remove: c_int,
    buf: *mut std::ffi::c_char,
    len: usize,
    needed: Option<&mut usize>,
) -> sts_status_t {
    guard("vastost_image_tampered", || {
        let _engine = state::engine()?;
        let (_, lsu) = lsu_of(given(lsu, "lsu")?)?;
        let def = image_def(given(def, "def")?)?;
        let line = |state: &str, t: &vastost_engine::tamper::Tampered| {
            format!("{state}\t{}\t{}\t{}", t.key, t.version.as_deref().unwrap_or("-"), t.what.as_str())
        };
        let mut report = String::new();
        if remove != 0 {
            let done = lsu.remove_tampered(&def)?;
            for t in &done.removed {
                report += &(line("removed", t) + "\n");
            }
            for (t, why) in &done.kept {
                report += &format!("{}\t{why}\n", line("kept", t));
            }
        } else {
            for t in &lsu.tampered(&def)? {
                report += &(line("tampered", t) + "\n");
            }
        }
        // SAFETY: `buf` as the caller promised.
        let full = unsafe { text_out(&report, buf, len) };
        if let Some(needed) = needed {
            *needed = full + 1;
        }
        Ok(())
    })
}

/// Properties of an open image (a writer sees its size grow as it writes).
///
/// # Pointers
/// `info` is NULL or writable.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_get_image_prop(
    handle: stsp_image_handle_t,
    info: Option<&mut sts_image_info_t>,
) -> sts_status_t {
    guard("stspi_get_image_prop", || {
        let out = given_mut(info, "info")?;
        with_image(handle, |h| {
            let i = match &h.image {
                Access::Write(w) => w.info(),
                Access::Read(r) => r.info(),
            };
            *out = image_info_to_c(&i, h.server.name());
            Ok(())
        })
    })
}

/// Properties of an image by name; a missing image gives `STS_ENOMORE`, as
/// NetBackup expects.
///
/// # Pointers
/// `lsu` and `def` are valid; `info` is NULL or writable.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_get_image_prop_byname(
    lsu: Option<&sts_lsu_t>,
    def: Option<&sts_image_def_t>,
    info: Option<&mut sts_image_info_t>,
) -> sts_status_t {
    guard("stspi_get_image_prop_byname", || {
        let _engine = state::engine()?;
        let (server, lsu) = lsu_of(given(lsu, "lsu")?)?;
        let def = image_def(given(def, "def")?)?;
        let out = given_mut(info, "info")?;
        match lsu.image_info(&def) {
            Ok(i) => {
                *out = image_info_to_c(&i, server.name());
                Ok(())
            }
            Err(EngineError::NoSuchImage(what)) => {
                Err(Failure::new(sts_status::STS_ENOMORE, format!("image {what} does not exist")))
            }
            Err(e) => Err(e.into()),
        }
    })
}

/// Opens the list of an LSU's images (complete and pending).
///
/// # Pointers
/// `lsu` is valid; `list` is NULL or writable.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_open_image_list(
    lsu: Option<&sts_lsu_t>,
    list: Option<&mut sts_image_list_handle_t>,
) -> sts_status_t {
    guard("stspi_open_image_list", || {
        let engine = state::engine()?;
        let (server, lsu) = lsu_of(given(lsu, "lsu")?)?;
        let out = given_mut(list, "list")?;
        // The first page is fetched at once, so that an LSU that cannot be
        // listed fails here; the rest comes with `list_image`.
        let mut pager = ImagePager::new(lsu);
        let first = pager.next_image()?;
        *out = handles::insert(
            Object::ImageList(ImageList {
                server: server.name().to_string(),
                pager: Mutex::new(Pager { first, pager }),
            }),
            engine.epoch,
        )?;
        Ok(())
    })
}

/// The next image of a list, or `STS_ENOMORE` at the end.
///
/// # Pointers
/// `info` is NULL or writable.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_list_image(list: sts_image_list_handle_t, info: Option<&mut sts_image_info_t>) -> sts_status_t {
    guard("stspi_list_image", || {
        let out = given_mut(info, "info")?;
        let _engine = state::engine()?;
        handles::with::<ImageList, _, _>(list, "image list handle", |l| {
            let next = l.pager.lock().unwrap_or_else(|p| p.into_inner()).next()?;
            let image = next.ok_or_else(|| Failure::new(sts_status::STS_ENOMORE, "end of the image list"))?;
            *out = image_info_to_c(&image, &l.server);
            Ok(())
        })
    })
}

/// Closes an image list.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_close_image_list(list: sts_image_list_handle_t) -> sts_status_t {
    guard("stspi_close_image_list", || handles::remove::<ImageList, _>(list, "image list handle"))
}

/// The images of one basename (its every date), found without listing the
/// LSU: one listing of the name's folder and its dates read at once. Up to
/// `count` of them are written to `infos` (NULL when `count` is 0);
/// `*found` (when not NULL) gets how many there are, so a caller with too
/// small an array calls again with a larger one. A basename with no image
/// has none (`*found` 0), not an error.
///
/// # Safety
/// `lsu` is valid; `basename` is NUL-terminated; `infos` is NULL or valid
/// for `count` writable `sts_image_info_t`; `found` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vastost_image_dates(
    lsu: Option<&sts_lsu_t>,
    basename: *const std::ffi::c_char,
    infos: *mut sts_image_info_t,
    count: usize,
    found: Option<&mut usize>,
) -> sts_status_t {
    guard("vastost_image_dates", || {
        let _engine = state::engine()?;
        let (server, lsu) = lsu_of(given(lsu, "lsu")?)?;
        // SAFETY: by contract.
        let basename = unsafe { str_arg(basename, "basename", STS_MAX_IMAGENAME) }?;
        let images = lsu.images_named(&basename)?;
        // SAFETY: `infos` as the caller promised.
        unsafe { image_infos_out(&images, server.name(), infos, count) }?;
        if let Some(found) = found {
            *found = images.len();
        }
        Ok(())
    })
}
