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
    cred: Option<&sts_cred_t>,
    handle: Option<&mut sts_server_handle_t>,
) -> sts_status_t {
    guard("stspi_open_server", || {
        let engine = state::engine()?;
        // SAFETY: by contract.
        let name = unsafe { str_arg(server_name, "server_name", STS_MAX_STSNAME) }?;
        let out = given_mut(handle, "handle")?;
        let server = open_named(&engine, &name, cred)?;
        *out = handles::insert(Object::Server(Arc::new(server)), engine.epoch)?;
        Ok(())
    })
}

/// Opens server `name` with the credentials at `cred` (NULL: none).
pub(super) fn open_named(engine: &Engine, name: &str, cred: Option<&sts_cred_t>) -> Result<Server, Failure> {
    let creds = match cred {
        None => None,
        Some(c) => credentials(c)?,
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
/// # Pointers
/// `info` is NULL or writable.
#[unsafe(no_mangle)]
pub extern "C" fn stspi_get_server_prop(
    handle: sts_server_handle_t,
    info: Option<&mut sts_server_info_t>,
) -> sts_status_t {
    guard("stspi_get_server_prop", || {
        let _engine = state::engine()?;
        let server = handles::server(handle, "server handle")?;
        let out = given_mut(info, "info")?;
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
    info: Option<&mut sts_server_info_t>,
) -> sts_status_t {
    guard("stspi_get_server_prop_byname", || {
        let engine = state::engine()?;
        // SAFETY: by contract.
        let name = unsafe { str_arg(server_name, "server_name", STS_MAX_STSNAME) }?;
        let out = given_mut(info, "info")?;
        *out = server_info_to_c(&engine.server_info(&name)?);
        Ok(())
    })
}
