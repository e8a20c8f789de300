//! Image metadata (NetBackup's own header bytes beside an image).

use std::ffi::c_void;

use super::args::*;
use crate::boundary::guard;
use crate::convert::*;
use crate::ost::*;

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
    written: Option<&mut u64>,
) -> sts_status_t {
    guard("stspi_write_image_meta", || {
        // SAFETY: by contract.
        let data = unsafe { bytes_in(buf, len, "buf") }?;
        let out = given_mut(written, "written")?;
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
    read: Option<&mut u64>,
) -> sts_status_t {
    guard("stspi_read_image_meta", || {
        // SAFETY: by contract.
        let dst = unsafe { bytes_out(buf, len, "buf") }?;
        let out = given_mut(read, "read")?;
        with_image(handle, |h| {
            let data = h.image.image().read_meta(offset, dst.len())?;
            dst[..data.len()].copy_from_slice(&data);
            *out = data.len() as u64;
            Ok(())
        })
    })
}
