//! C fields and structs: strings in fixed-size fields, zeroed outputs.

use std::ffi::{CString, c_char, c_int};

use vastost_ost::*;

use crate::error::OstError;

/// Reads a fixed-size C string field.
pub fn cstr(field: &[c_char]) -> String {
    let bytes: Vec<u8> = field.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `value` as a fixed-size C string field. A value that does not fit
/// (with its NUL) or holds a NUL is refused with its real length: cutting
/// it would make the plugin act on another name than the one given.
pub fn fill<const N: usize>(value: &str, what: &str) -> Result<[c_char; N], OstError> {
    let refuse = |why: String| OstError { status: sts_status::STS_EINVAL as c_int, message: format!("{what}: {why}") };
    if value.len() > N - 1 {
        return Err(refuse(format!("{} bytes, more than the {} its C field holds", value.len(), N - 1)));
    }
    if value.bytes().any(|b| b == 0) {
        return Err(refuse(format!("{value:?} contains a NUL byte")));
    }
    let mut out = [0 as c_char; N];
    for (d, s) in out.iter_mut().zip(value.bytes()) {
        *d = s as c_char;
    }
    Ok(out)
}

/// An image definition as C wants it; refused when a name does not fit.
pub fn image_def(basename: &str, date: &str) -> Result<sts_image_def_t, OstError> {
    Ok(sts_image_def_t { img_basename: fill(basename, "image basename")?, img_date: fill(date, "image date")? })
}

pub(crate) fn credentials((user, password): (&str, &str)) -> Result<sts_cred_t, OstError> {
    Ok(sts_cred_t { cr_type: STS_CRED_CLEAR, cr_user: fill(user, "user")?, cr_password: fill(password, "password")? })
}

pub(crate) fn c_string(s: &str) -> Result<CString, OstError> {
    CString::new(s).map_err(|_| OstError {
        status: sts_status::STS_EINVAL as c_int,
        message: format!("{s:?} contains a NUL byte"),
    })
}

pub(crate) fn zeroed_plugin_info() -> sts_plugin_info_t {
    sts_plugin_info_t { pi_api_version: 0, pi_flags: 0, pi_vendor: [0; 256], pi_version: [0; 256], pi_stype: [0; 256] }
}

/// An all-zero server info struct.
pub fn zeroed_server_info() -> sts_server_info_t {
    sts_server_info_t {
        srv_server: [0; STS_MAX_STSNAME],
        srv_flags: 0,
        srv_cap: [0; STS_SRV_CAP_WORDS],
        srv_maxconn: 0,
        srv_block_size: 0,
        srv_version: [0; STS_MAX_TEXT],
        srv_location: [0; STS_MAX_TEXT],
    }
}

/// An all-zero image info struct.
pub fn zeroed_image_info() -> sts_image_info_t {
    sts_image_info_t {
        imo_def: sts_image_def_t { img_basename: [0; STS_MAX_IMAGENAME], img_date: [0; STS_MAX_DATE] },
        imo_lsu: sts_lsu_name_t { sln_name: [0; STS_MAX_LSUNAME] },
        imo_server: [0; STS_MAX_STSNAME],
        imo_size: 0,
        imo_flags: 0,
        imo_block_size: 0,
        imo_create_time: 0,
        imo_update_time: 0,
        imo_worm_until: 0,
    }
}

/// An all-zero LSU info struct.
pub fn zeroed_lsu_info() -> sts_lsu_info_t {
    sts_lsu_info_t {
        lsu_server: [0; STS_MAX_STSNAME],
        lsu_name: [0; STS_MAX_LSUNAME],
        lsu_flags: 0,
        lsu_capacity: 0,
        lsu_used: 0,
        lsu_used_phys: 0,
        lsu_avail: 0,
        lsu_label: [0; STS_MAX_LABEL],
        lsu_worm_min: 0,
        lsu_worm_max: 0,
    }
}

/// An all-zero snapshot struct.
pub fn zeroed_snapshot() -> vastost_snapshot_t {
    vastost_snapshot_t {
        vs_id: 0,
        vs_name: [0; VASTOST_MAX_SNAPSHOT_NAME],
        vs_path: [0; VASTOST_MAX_PATH],
        vs_created: 0,
        vs_expires: 0,
        vs_indestructible: 0,
    }
}
