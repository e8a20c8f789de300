//! The exported entry points, `stspi_<operation>`, plus a few `vastost_`
//! extensions. Each body runs inside `guard` (the panic boundary): checks its pointers, calls
//! the engine, and writes outputs only on success.

use std::ffi::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use vastost_engine::{Engine, EngineError, ImageDef, Lsu, Server};

use crate::boundary::{Failure, guard, last_error};
use crate::convert::*;
use crate::handles::{self, Access, Channel, Cursor, ImageHandle, ImageList, ImageObj, LsuList, Mode, Object};
use crate::ost::*;
use crate::state;

fn lsu_of(lsu: &sts_lsu_t) -> Result<(Arc<Server>, Lsu), Failure> {
    let server = handles::server(lsu.sl_server_handle, "sl_server_handle")?;
    let name = field_str(&lsu.sl_lsu_name, "sl_lsu_name")?;
    let lsu = server.lsu(&name)?;
    Ok((server, lsu))
}

fn with_image<R>(
    h: stsp_image_handle_t,
    body: impl FnOnce(&mut ImageHandle) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let _engine = state::engine()?;
    handles::with::<Box<ImageObj>, _, _>(h, "image handle", |obj| {
        let mut image = obj.lock("image handle")?;
        body(&mut image)
    })
}

// ---------------------------------------------------------------- lifecycle

/// Starts the plugin: reads the configuration from `config_path`, or from
/// `$VASTOST_CONFIG`, or from `/usr/openv/lib/ost-plugins/vastost.toml`.
/// `api_version` is the caller's OST API version (0: any).
///
/// # Safety
/// `config_path` is NULL or a NUL-terminated string; `info` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_init(
    api_version: u64,
    config_path: *const c_char,
    info: *mut sts_plugin_info_t,
) -> sts_status_t {
    guard("stspi_init", || {
        if api_version != 0 && api_version < STS_API_VERSION {
            return Err(Failure::invalid(format!(
                "API version {api_version} is older than the {STS_API_VERSION} this plugin implements"
            )));
        }
        let path = if config_path.is_null() {
            None
        } else {
            // SAFETY: non-NULL and NUL-terminated by contract.
            Some(PathBuf::from(unsafe { str_arg(config_path, "config_path", 4096) }?))
        };
        state::init(path.as_deref())?;
        if !info.is_null() {
            // SAFETY: non-NULL and writable by contract.
            let out = unsafe { out_ptr(info, "info") }?;
            *out = sts_plugin_info_t {
                pi_api_version: STS_API_VERSION,
                pi_flags: STS_PI_MT,
                pi_vendor: field("VAST Data"),
                pi_version: field(crate::VERSION),
                pi_stype: field("VastData"),
            };
        }
        Ok(())
    })
}

/// Says whether this plugin serves storage server `server_name`
/// (`VastData:<cluster>` or `vast://<cluster>`): `STS_EOK` or `STS_ECLAIM`.
///
/// # Safety
/// `server_name` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_claim(server_name: *const c_char) -> sts_status_t {
    guard("stspi_claim", || {
        // SAFETY: by contract.
        let name = unsafe { str_arg(server_name, "server_name", STS_MAX_STSNAME) }?;
        if Engine::claims(&name) {
            Ok(())
        } else {
            Err(Failure::new(sts_status::STS_ECLAIM, format!("'{name}' is not a VastData storage server")))
        }
    })
}

/// Stops the plugin; every handle becomes invalid.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_terminate() -> sts_status_t {
    guard("stspi_terminate", || {
        state::terminate();
        Ok(())
    })
}

// ------------------------------------------------------------------ servers

/// Opens storage server `server_name` with the credentials of
/// `tpconfig -sts_user_id … -password …` (`cred` may be NULL on the NFS
/// data path).
///
/// # Safety
/// `server_name` is NUL-terminated; `cred` NULL or valid; `handle` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_open_server(
    server_name: *const c_char,
    cred: *const sts_cred_t,
    handle: *mut sts_server_handle_t,
) -> sts_status_t {
    guard("stspi_open_server", || {
        let engine = state::engine()?;
        // SAFETY: by contract.
        let name = unsafe { str_arg(server_name, "server_name", STS_MAX_STSNAME) }?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(handle, "handle") }?;
        // SAFETY: by contract.
        let server = unsafe { open_named(&engine, &name, cred) }?;
        *out = handles::insert(Object::Server(Arc::new(server)), engine.epoch)?;
        Ok(())
    })
}

/// Opens server `name` with the credentials at `cred` (NULL: none).
///
/// # Safety
/// `cred` is NULL or valid.
unsafe fn open_named(engine: &Engine, name: &str, cred: *const sts_cred_t) -> Result<Server, Failure> {
    let creds = if cred.is_null() {
        None
    } else {
        // SAFETY: non-NULL and valid by contract.
        credentials(unsafe { ref_from(cred, "cred") }?)?
    };
    if !Engine::claims(name) {
        return Err(Failure::new(sts_status::STS_ECLAIM, format!("'{name}' is not a VastData storage server")));
    }
    Ok(engine.open_server(name, creds.as_ref())?)
}

/// Closes a server handle. Images opened through it stay usable until
/// closed.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_close_server(handle: sts_server_handle_t) -> sts_status_t {
    guard("stspi_close_server", || handles::remove::<Arc<Server>, _>(handle, "server handle"))
}

/// Properties of an open server.
///
/// # Safety
/// `info` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_get_server_prop(
    handle: sts_server_handle_t,
    info: *mut sts_server_info_t,
) -> sts_status_t {
    guard("stspi_get_server_prop", || {
        let _engine = state::engine()?;
        let server = handles::server(handle, "server handle")?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(info, "info") }?;
        *out = server_info_to_c(&server.info());
        Ok(())
    })
}

/// Properties of a server by name, without a handle.
///
/// # Safety
/// `server_name` is NUL-terminated; `info` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_get_server_prop_byname(
    server_name: *const c_char,
    info: *mut sts_server_info_t,
) -> sts_status_t {
    guard("stspi_get_server_prop_byname", || {
        let engine = state::engine()?;
        // SAFETY: by contract.
        let name = unsafe { str_arg(server_name, "server_name", STS_MAX_STSNAME) }?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(info, "info") }?;
        *out = server_info_to_c(&engine.server_info(&name)?);
        Ok(())
    })
}

// --------------------------------------------------------------------- LSUs

/// Opens the list of a server's LSUs.
///
/// # Safety
/// `list` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_open_lsu_list(
    handle: sts_server_handle_t,
    list: *mut sts_lsu_list_handle_t,
) -> sts_status_t {
    guard("stspi_open_lsu_list", || {
        let engine = state::engine()?;
        let server = handles::server(handle, "server handle")?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(list, "list") }?;
        let names = server.list_lsus()?;
        *out = handles::insert(Object::LsuList(Mutex::new(Cursor { items: names.into_iter() })), engine.epoch)?;
        Ok(())
    })
}

/// The next LSU of a list, or `STS_ENOMORE` at the end.
///
/// # Safety
/// `lsu` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_list_lsu(list: sts_lsu_list_handle_t, lsu: *mut sts_lsu_name_t) -> sts_status_t {
    guard("stspi_list_lsu", || {
        // SAFETY: by contract.
        let out = unsafe { out_ptr(lsu, "lsu") }?;
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
/// # Safety
/// `lsu` is valid; `info` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_get_lsu_prop_byname(lsu: *const sts_lsu_t, info: *mut sts_lsu_info_t) -> sts_status_t {
    guard("stspi_get_lsu_prop_byname", || {
        let _engine = state::engine()?;
        // SAFETY: by contract.
        let (server, lsu) = lsu_of(unsafe { ref_from(lsu, "lsu") }?)?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(info, "info") }?;
        *out = lsu_info_to_c(&lsu.info()?, server.name());
        Ok(())
    })
}

/// Sets an LSU's label.
///
/// # Safety
/// `lsu` is valid; `label` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_label_lsu(lsu: *const sts_lsu_t, label: *const c_char) -> sts_status_t {
    guard("stspi_label_lsu", || {
        let _engine = state::engine()?;
        // SAFETY: by contract.
        let (_, lsu) = lsu_of(unsafe { ref_from(lsu, "lsu") }?)?;
        // SAFETY: by contract.
        let label = unsafe { str_arg(label, "label", STS_MAX_LABEL) }?;
        lsu.label(&label)?;
        Ok(())
    })
}

// ------------------------------------------------------------------- images

/// Creates an image, open for writing; its flags become
/// `STS_II_IMAGE_PENDING | STS_II_BUSY_WRITE`. `pendingflag` (another image
/// will follow) is a hint and is not needed by this plugin.
///
/// # Safety
/// `lsu` and `def` are valid; `handle` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_create_image(
    lsu: *const sts_lsu_t,
    def: *const sts_image_def_t,
    pendingflag: c_int,
    handle: *mut stsp_image_handle_t,
) -> sts_status_t {
    let _ = pendingflag;
    guard("stspi_create_image", || {
        let engine = state::engine()?;
        // SAFETY: by contract.
        let (server, lsu) = lsu_of(unsafe { ref_from(lsu, "lsu") }?)?;
        // SAFETY: by contract.
        let def = image_def(unsafe { ref_from(def, "def") }?)?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(handle, "handle") }?;
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
/// # Safety
/// `lsu` and `def` are valid; `handle` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_open_image(
    lsu: *const sts_lsu_t,
    def: *const sts_image_def_t,
    mode: c_int,
    handle: *mut stsp_image_handle_t,
) -> sts_status_t {
    guard("stspi_open_image", || {
        let engine = state::engine()?;
        // SAFETY: by contract.
        let (server, lsu) = lsu_of(unsafe { ref_from(lsu, "lsu") }?)?;
        // SAFETY: by contract.
        let def = image_def(unsafe { ref_from(def, "def") }?)?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(handle, "handle") }?;
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
    stat: *const sts_stat_t,
    buf: *const c_void,
    len: u64,
    offset: u64,
    written: *mut u64,
) -> sts_status_t {
    let _ = stat;
    guard("stspi_write_image", || {
        // SAFETY: by contract.
        let data = unsafe { bytes_in(buf, len, "buf") }?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(written, "written") }?;
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
    read: *mut u64,
) -> sts_status_t {
    guard("stspi_read_image", || {
        // SAFETY: by contract.
        let dst = unsafe { bytes_out(buf, len, "buf") }?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(read, "read") }?;
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
/// # Safety
/// `lsu` and `def` are valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_delete_image(
    lsu: *const sts_lsu_t,
    def: *const sts_image_def_t,
    asyncflag: c_int,
) -> sts_status_t {
    guard("stspi_delete_image", || {
        let _engine = state::engine()?;
        // SAFETY: by contract.
        let (_, lsu) = lsu_of(unsafe { ref_from(lsu, "lsu") }?)?;
        // SAFETY: by contract.
        let def = image_def(unsafe { ref_from(def, "def") }?)?;
        if asyncflag != 0 { Ok(lsu.delete_image_in_background(&def)?) } else { Ok(lsu.delete_image(&def)?) }
    })
}

/// Properties of an open image (a writer sees its size grow as it writes).
///
/// # Safety
/// `info` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_get_image_prop(
    handle: stsp_image_handle_t,
    info: *mut sts_image_info_t,
) -> sts_status_t {
    guard("stspi_get_image_prop", || {
        // SAFETY: by contract.
        let out = unsafe { out_ptr(info, "info") }?;
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
/// # Safety
/// `lsu` and `def` are valid; `info` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_get_image_prop_byname(
    lsu: *const sts_lsu_t,
    def: *const sts_image_def_t,
    info: *mut sts_image_info_t,
) -> sts_status_t {
    guard("stspi_get_image_prop_byname", || {
        let _engine = state::engine()?;
        // SAFETY: by contract.
        let (server, lsu) = lsu_of(unsafe { ref_from(lsu, "lsu") }?)?;
        // SAFETY: by contract.
        let def = image_def(unsafe { ref_from(def, "def") }?)?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(info, "info") }?;
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
/// # Safety
/// `lsu` is valid; `list` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_open_image_list(
    lsu: *const sts_lsu_t,
    list: *mut sts_image_list_handle_t,
) -> sts_status_t {
    guard("stspi_open_image_list", || {
        let engine = state::engine()?;
        // SAFETY: by contract.
        let (server, lsu) = lsu_of(unsafe { ref_from(lsu, "lsu") }?)?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(list, "list") }?;
        let images = lsu.list_images()?;
        *out = handles::insert(
            Object::ImageList(ImageList {
                server: server.name().to_string(),
                cursor: Mutex::new(Cursor { items: images.into_iter() }),
            }),
            engine.epoch,
        )?;
        Ok(())
    })
}

/// The next image of a list, or `STS_ENOMORE` at the end.
///
/// # Safety
/// `info` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_list_image(list: sts_image_list_handle_t, info: *mut sts_image_info_t) -> sts_status_t {
    guard("stspi_list_image", || {
        // SAFETY: by contract.
        let out = unsafe { out_ptr(info, "info") }?;
        handles::with::<ImageList, _, _>(list, "image list handle", |l| {
            let next = l.cursor.lock().unwrap_or_else(|p| p.into_inner()).items.next();
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

// ----------------------------------------------------------------- metadata

/// Writes image metadata at `offset` (any time, any open mode; up to 16 MiB).
///
/// # Safety
/// `buf` is valid for `len` bytes; `written` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_write_image_meta(
    handle: stsp_image_handle_t,
    buf: *const c_void,
    len: u64,
    offset: u64,
    written: *mut u64,
) -> sts_status_t {
    guard("stspi_write_image_meta", || {
        // SAFETY: by contract.
        let data = unsafe { bytes_in(buf, len, "buf") }?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(written, "written") }?;
        with_image(handle, |h| {
            h.image.image().write_meta(data, offset)?;
            *out = len;
            Ok(())
        })
    })
}

/// Reads image metadata at `offset`; `*read` is shorter at its end.
///
/// # Safety
/// `buf` is valid for `len` writable bytes; `read` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_read_image_meta(
    handle: stsp_image_handle_t,
    buf: *mut c_void,
    len: u64,
    offset: u64,
    read: *mut u64,
) -> sts_status_t {
    guard("stspi_read_image_meta", || {
        // SAFETY: by contract.
        let dst = unsafe { bytes_out(buf, len, "buf") }?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(read, "read") }?;
        with_image(handle, |h| {
            let data = h.image.image().read_meta(offset, dst.len())?;
            dst[..data.len()].copy_from_slice(&data);
            *out = data.len() as u64;
            Ok(())
        })
    })
}

// ------------------------------------------------- duplication and events

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
    cred: *const sts_cred_t,
    handle: *mut sts_server_handle_t,
) -> sts_status_t {
    guard("stspi_open_target_server", || {
        let engine = state::engine()?;
        let source = handles::server(source, "source")?;
        // SAFETY: by contract.
        let name = unsafe { str_arg(target_name, "target_name", STS_MAX_STSNAME) }?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(handle, "handle") }?;
        let server = if name == source.name() {
            source
        } else {
            // SAFETY: by contract.
            Arc::new(unsafe { open_named(&engine, &name, cred) }?)
        };
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
/// # Safety
/// `copied` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_copy_extent(
    source: stsp_image_handle_t,
    target: stsp_image_handle_t,
    from_offset: u64,
    to_offset: u64,
    len: u64,
    flags: u32,
    copied: *mut u64,
) -> sts_status_t {
    guard("stspi_copy_extent", || {
        // SAFETY: by contract.
        let out = unsafe { out_ptr(copied, "copied") }?;
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
unsafe fn copy_args(
    from_lsu: *const sts_lsu_t,
    from: *const sts_image_def_t,
    to_lsu: *const sts_lsu_t,
    to: *const sts_image_def_t,
) -> Result<(Arc<Server>, Lsu, ImageDef, Lsu, ImageDef), Failure> {
    let _engine = state::engine()?;
    // SAFETY: by contract.
    let (server, src) = lsu_of(unsafe { ref_from(from_lsu, "from_lsu") }?)?;
    // SAFETY: by contract.
    let def = image_def(unsafe { ref_from(from, "from") }?)?;
    // SAFETY: by contract.
    let (_, dst) = lsu_of(unsafe { ref_from(to_lsu, "to_lsu") }?)?;
    // SAFETY: by contract.
    let to_def = image_def(unsafe { ref_from(to, "to") }?)?;
    Ok((server, src, def, dst, to_def))
}

/// Copies a complete image to a new image of another LSU of the same
/// server (by reference: no data moves) or of a target server opened with
/// `stspi_open_target_server` (streamed, verified). `flags` must be 0. A
/// failed copy leaves no target image.
///
/// # Safety
/// The four pointers are valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_copy_image(
    from_lsu: *const sts_lsu_t,
    from: *const sts_image_def_t,
    to_lsu: *const sts_lsu_t,
    to: *const sts_image_def_t,
    flags: u32,
) -> sts_status_t {
    guard("stspi_copy_image", || {
        check_copy_flags(flags)?;
        // SAFETY: by contract.
        let (_, src, def, dst, to_def) = unsafe { copy_args(from_lsu, from, to_lsu, to) }?;
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
/// # Safety
/// The four pointers are valid; `op_id` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_async_copy_image(
    from_lsu: *const sts_lsu_t,
    from: *const sts_image_def_t,
    to_lsu: *const sts_lsu_t,
    to: *const sts_image_def_t,
    flags: u32,
    op_id: *mut u64,
) -> sts_status_t {
    guard("stspi_async_copy_image", || {
        check_copy_flags(flags)?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(op_id, "op_id") }?;
        // SAFETY: by contract.
        let (server, src, def, dst, to_def) = unsafe { copy_args(from_lsu, from, to_lsu, to) }?;
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
    from_lsu: *const sts_lsu_t,
    from: *const sts_image_def_t,
    to_lsu: *const sts_lsu_t,
    to: *const sts_image_def_t,
    name: *const c_char,
    flags: u32,
) -> sts_status_t {
    guard("stspi_named_async_copy_image", || {
        check_copy_flags(flags)?;
        // SAFETY: by contract.
        let name = unsafe { str_arg(name, "name", STS_MAX_IMAGENAME) }?;
        // SAFETY: by contract.
        let (server, src, def, dst, to_def) = unsafe { copy_args(from_lsu, from, to_lsu, to) }?;
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
    done_bytes: *mut u64,
) -> sts_status_t {
    guard("stspi_named_async_wait", || {
        let _engine = state::engine()?;
        let server = handles::server(server, "server")?;
        // SAFETY: by contract.
        let name = unsafe { str_arg(name, "name", STS_MAX_IMAGENAME) }?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(done_bytes, "done_bytes") }?;
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

/// Opens a channel on the events of every LSU of `server` (kept on the
/// storage: they survive restarts and are seen by every media server).
/// `flags` must be 0.
///
/// # Safety
/// `channel` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_open_evchannel(
    server: sts_server_handle_t,
    flags: u32,
    channel: *mut sts_evc_handle_t,
) -> sts_status_t {
    guard("stspi_open_evchannel", || {
        let engine = state::engine()?;
        let server = handles::server(server, "server")?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(channel, "channel") }?;
        if flags != 0 {
            return Err(Failure::invalid(format!("event channel flags {flags:#x}: none are defined")));
        }
        let chan = handles::EventChannel { server, given: Default::default(), next_seq: 1, resume: String::new() };
        *out = handles::insert(Object::Events(Mutex::new(chan)), engine.epoch)?;
        Ok(())
    })
}

fn with_channel<R>(
    channel: sts_evc_handle_t,
    body: impl FnOnce(&mut handles::EventChannel) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let _engine = state::engine()?;
    handles::with::<Channel, _, _>(channel, "channel", |chan| body(&mut chan.lock().unwrap_or_else(|p| p.into_inner())))
}

/// The oldest event this channel has not handed out yet, or
/// `STS_ENOMORE`. An event stays on the storage until `stspi_delete_event`
/// (or its retention time ends).
///
/// # Safety
/// `event` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_get_event(channel: sts_evc_handle_t, event: *mut sts_event_t) -> sts_status_t {
    guard("stspi_get_event", || {
        // SAFETY: by contract.
        let out = unsafe { out_ptr(event, "event") }?;
        with_channel(channel, |chan| {
            let given: std::collections::HashSet<(String, String)> = chan.given.values().cloned().collect();
            let next = chan.server.next_event(&given, &chan.resume)?;
            let Some(next) = next else {
                return Err(Failure::new(sts_status::STS_ENOMORE, "no more events"));
            };
            let seq = chan.next_seq;
            chan.next_seq += 1;
            *out = event_to_c(&next.event, seq, chan.server.name());
            if let Some(resume) = vastost_engine::events::resume_point(&next.key)
                && resume > chan.resume
            {
                chan.resume = resume;
            }
            chan.given.insert(seq, (next.lsu, next.key));
            Ok(())
        })
    })
}

/// Deletes an event handed out by this channel (by its `ev_seq`), for
/// every poller.
///
/// # Safety
/// `event` is valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn stspi_delete_event(channel: sts_evc_handle_t, event: *const sts_event_t) -> sts_status_t {
    guard("stspi_delete_event", || {
        // SAFETY: by contract.
        let event = unsafe { ref_from(event, "event") }?;
        with_channel(channel, |chan| {
            let Some((lsu, key)) = chan.given.get(&event.ev_seq).cloned() else {
                return Err(Failure::invalid(format!("event {} was not handed out by this channel", event.ev_seq)));
            };
            chan.server.lsu(&lsu)?.delete_event(&key)?;
            chan.given.remove(&event.ev_seq);
            Ok(())
        })
    })
}

/// Closes an event channel; its events stay on the storage.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_close_evchannel(channel: sts_evc_handle_t) -> sts_status_t {
    guard("stspi_close_evchannel", || handles::remove::<Channel, _>(channel, "channel"))
}

// --------------------------------------------------------------- extensions

/// The plugin's version, a static NUL-terminated string.
#[unsafe(no_mangle)]
pub extern "C" fn vastost_version() -> *const c_char {
    crate::VERSION_C.as_ptr().cast()
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
    let message = last_error();
    if !buf.is_null() && len > 0 {
        let n = message.len().min(len - 1);
        // SAFETY: `buf` holds `len` bytes by contract; we write `n + 1 <= len`.
        let dst = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
        dst[..n].copy_from_slice(&message.as_bytes()[..n]);
        dst[n] = 0;
    }
    message.len()
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
    report: *mut vastost_reclaim_t,
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
        // SAFETY: by contract.
        let out = unsafe { out_ptr(report, "report") }?;
        let grace = u64::try_from(grace_secs).ok();
        let older_than = u64::try_from(older_than_secs).ok();
        *out = reclaim_to_c(&server.reclaim(lsu.as_deref(), grace, older_than)?);
        Ok(())
    })
}

/// Counters of the memory budget and of open handles.
///
/// # Safety
/// `stats` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vastost_get_stats(stats: *mut vastost_stats_t) -> sts_status_t {
    guard("vastost_get_stats", || {
        let engine = state::engine()?;
        // SAFETY: by contract.
        let out = unsafe { out_ptr(stats, "stats") }?;
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
