//! The raw entry points, resolved by name from the loaded library.

use std::ffi::{c_char, c_int, c_void};
use std::path::Path;

use libloading::Library;
use vastost_ost::*;

use crate::error::LoadError;

macro_rules! api {
    ($($name:ident: fn($($arg:ty),*) -> $ret:ty;)*) => {
        /// The raw entry points of a loaded plugin, for callers (tests) that
        /// need to pass what the safe methods never would.
        #[allow(missing_docs)]
        #[derive(Debug, Clone, Copy)]
        pub struct Api {
            $(pub $name: unsafe extern "C" fn($($arg),*) -> $ret,)*
        }

        impl Api {
            pub(crate) fn load(lib: &Library, path: &Path) -> Result<Self, LoadError> {
                Ok(Api {
                    $($name: {
                        let symbol = concat!(stringify!($name), "\0");
                        // SAFETY: the symbol is declared with the signature
                        // our header gives it; the library outlives the
                        // pointer (both live in `Plugin`).
                        let f = unsafe { lib.get::<unsafe extern "C" fn($($arg),*) -> $ret>(symbol.as_bytes()) }
                            .map_err(|_| LoadError::Symbol { path: path.to_path_buf(), symbol: stringify!($name) })?;
                        *f
                    },)*
                })
            }
        }
    };
}

api! {
    stspi_init: fn(u64, *const c_char, *mut sts_plugin_info_t) -> sts_status_t;
    stspi_claim: fn(*const c_char) -> sts_status_t;
    stspi_terminate: fn() -> sts_status_t;
    stspi_open_server: fn(*const c_char, *const sts_cred_t, *mut sts_server_handle_t) -> sts_status_t;
    stspi_close_server: fn(sts_server_handle_t) -> sts_status_t;
    stspi_get_server_prop: fn(sts_server_handle_t, *mut sts_server_info_t) -> sts_status_t;
    stspi_get_server_prop_byname: fn(*const c_char, *mut sts_server_info_t) -> sts_status_t;
    stspi_open_lsu_list: fn(sts_server_handle_t, *mut sts_lsu_list_handle_t) -> sts_status_t;
    stspi_list_lsu: fn(sts_lsu_list_handle_t, *mut sts_lsu_name_t) -> sts_status_t;
    stspi_close_lsu_list: fn(sts_lsu_list_handle_t) -> sts_status_t;
    stspi_get_lsu_prop_byname: fn(*const sts_lsu_t, *mut sts_lsu_info_t) -> sts_status_t;
    stspi_label_lsu: fn(*const sts_lsu_t, *const c_char) -> sts_status_t;
    stspi_create_image: fn(*const sts_lsu_t, *const sts_image_def_t, c_int, *mut stsp_image_handle_t) -> sts_status_t;
    stspi_open_image: fn(*const sts_lsu_t, *const sts_image_def_t, c_int, *mut stsp_image_handle_t) -> sts_status_t;
    stspi_write_image: fn(stsp_image_handle_t, *const sts_stat_t, *const c_void, u64, u64, *mut u64) -> sts_status_t;
    stspi_read_image: fn(stsp_image_handle_t, *mut c_void, u64, u64, *mut u64) -> sts_status_t;
    stspi_flush: fn(stsp_image_handle_t) -> sts_status_t;
    stspi_close_image: fn(stsp_image_handle_t, c_int) -> sts_status_t;
    stspi_delete_image: fn(*const sts_lsu_t, *const sts_image_def_t, c_int) -> sts_status_t;
    stspi_lock_image: fn(*const sts_lsu_t, *const sts_image_def_t, u64) -> sts_status_t;
    vastost_release_image_lock: fn(*const sts_lsu_t, *const sts_image_def_t, *const c_char) -> sts_status_t;
    vastost_image_tampered: fn(*const sts_lsu_t, *const sts_image_def_t, c_int, *mut c_char, usize, *mut usize) -> sts_status_t;
    vastost_lsu_audit: fn(*const sts_lsu_t, *mut c_char, usize, *mut usize) -> sts_status_t;
    vastost_lsu_formats: fn(*const sts_lsu_t, *mut vastost_formats_t) -> sts_status_t;
    vastost_image_dates: fn(*const sts_lsu_t, *const c_char, *mut sts_image_info_t, usize, *mut usize) -> sts_status_t;
    stspi_get_image_prop: fn(stsp_image_handle_t, *mut sts_image_info_t) -> sts_status_t;
    stspi_get_image_prop_byname: fn(*const sts_lsu_t, *const sts_image_def_t, *mut sts_image_info_t) -> sts_status_t;
    stspi_open_image_list: fn(*const sts_lsu_t, *mut sts_image_list_handle_t) -> sts_status_t;
    stspi_list_image: fn(sts_image_list_handle_t, *mut sts_image_info_t) -> sts_status_t;
    stspi_close_image_list: fn(sts_image_list_handle_t) -> sts_status_t;
    stspi_write_image_meta: fn(stsp_image_handle_t, *const c_void, u64, u64, *mut u64) -> sts_status_t;
    stspi_read_image_meta: fn(stsp_image_handle_t, *mut c_void, u64, u64, *mut u64) -> sts_status_t;
    stspi_open_target_server: fn(sts_server_handle_t, *const c_char, *const sts_cred_t, *mut sts_server_handle_t) -> sts_status_t;
    stspi_copy_extent: fn(stsp_image_handle_t, stsp_image_handle_t, u64, u64, u64, u32, *mut u64) -> sts_status_t;
    stspi_copy_image: fn(*const sts_lsu_t, *const sts_image_def_t, *const sts_lsu_t, *const sts_image_def_t, u32) -> sts_status_t;
    stspi_async_copy_image: fn(*const sts_lsu_t, *const sts_image_def_t, *const sts_lsu_t, *const sts_image_def_t, u32, *mut u64) -> sts_status_t;
    stspi_named_async_copy_image: fn(*const sts_lsu_t, *const sts_image_def_t, *const sts_lsu_t, *const sts_image_def_t, *const c_char, u32) -> sts_status_t;
    stspi_named_async_wait: fn(sts_server_handle_t, *const c_char, u32, *mut u64) -> sts_status_t;
    stspi_named_async_cancel: fn(sts_server_handle_t, *const c_char) -> sts_status_t;
    stspi_include_in_image: fn(stsp_image_handle_t, stsp_image_handle_t, u64, u64, u64) -> sts_status_t;
    stspi_open_evchannel: fn(sts_server_handle_t, u32, *mut sts_evc_handle_t) -> sts_status_t;
    stspi_get_event: fn(sts_evc_handle_t, *mut sts_event_t) -> sts_status_t;
    stspi_delete_event: fn(sts_evc_handle_t, *const sts_event_t) -> sts_status_t;
    stspi_close_evchannel: fn(sts_evc_handle_t) -> sts_status_t;
    vastost_version: fn() -> *const c_char;
    vastost_strerror: fn(sts_status_t) -> *const c_char;
    vastost_last_error: fn(*mut c_char, usize) -> usize;
    vastost_get_stats: fn(*mut vastost_stats_t) -> sts_status_t;
    vastost_reclaim: fn(sts_server_handle_t, *const c_char, i64, i64, *mut vastost_reclaim_t) -> sts_status_t;
    vastost_snapshot_create: fn(sts_server_handle_t, *const c_char, *const c_char, u64, c_int, *mut vastost_snapshot_t) -> sts_status_t;
    vastost_snapshot_list: fn(sts_server_handle_t, *const c_char, *mut vastost_snapshot_t, u32, *mut u32) -> sts_status_t;
    vastost_snapshot_delete: fn(sts_server_handle_t, *const c_char, *const c_char) -> sts_status_t;
}
