//! Storage servers: open, close, properties.

use std::ffi::c_char;
use std::sync::Arc;

use vastost_engine::{Engine, Server};

use crate::boundary::guard;
use crate::convert::*;
use crate::failure::Failure;
use crate::handles::{self, Object};
use crate::ost::*;
use crate::state;

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
pub(super) unsafe fn open_named(engine: &Engine, name: &str, cred: *const sts_cred_t) -> Result<Server, Failure> {
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
