//! Starting, claiming and stopping the plugin.

use std::ffi::c_char;
use std::path::PathBuf;

use vastost_engine::Engine;

use crate::boundary::guard;
use crate::convert::*;
use crate::failure::Failure;
use crate::ost::*;
use crate::state;

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
    info: Option<&mut sts_plugin_info_t>,
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
        if let Some(out) = info {
            *out = sts_plugin_info_t {
                pi_api_version: STS_API_VERSION,
                pi_flags: STS_PI_MT,
                pi_vendor: field("VAST Data"),
                pi_version: field(crate::version::VERSION),
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
