//! A loaded plugin library: `init`, `terminate`, servers, statistics.

use std::ffi::{CString, c_char, c_int};
use std::path::{Path, PathBuf};

use libloading::Library;
use vastost_ost::*;

use crate::api::Api;
use crate::error::{LoadError, OstError};
use crate::fields::zeroed_server_info;
use crate::fields::*;
use crate::fields::{c_string, zeroed_plugin_info};
use crate::info::decode_server_info;
use crate::info::{PluginInfo, ServerInfo};

/// File name of the multithreaded plugin.
pub const PLUGIN_FILE: &str = "libstspiVastDataMT.so";
/// Where NetBackup keeps OST plugins.
pub const NETBACKUP_PLUGIN_DIR: &str = "/usr/openv/lib/ost-plugins";
/// Environment variable naming the plugin file to load.
pub const PLUGIN_ENV: &str = "VASTOST_PLUGIN";

/// A loaded plugin library.
#[derive(Debug)]
pub struct Plugin {
    pub(crate) api: Api,
    pub(crate) path: PathBuf,
    _lib: Library,
}

impl Plugin {
    /// Where to find the plugin when nothing names it: `$VASTOST_PLUGIN`,
    /// else beside the running program (or one folder up, for test
    /// programs), else NetBackup's plugin folder.
    pub fn default_path() -> PathBuf {
        if let Some(p) = std::env::var_os(PLUGIN_ENV) {
            return PathBuf::from(p);
        }
        if let Ok(exe) = std::env::current_exe() {
            for dir in exe.ancestors().skip(1).take(2) {
                let candidate = dir.join(PLUGIN_FILE);
                if candidate.is_file() {
                    return candidate;
                }
            }
        }
        Path::new(NETBACKUP_PLUGIN_DIR).join(PLUGIN_FILE)
    }

    /// Loads the plugin at `path`.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        // SAFETY: loading runs the library's initialisers; our plugin has
        // none beyond Rust's own, and any plugin loaded here is trusted code
        // by the same right as NetBackup loading it.
        let lib =
            unsafe { Library::new(path) }.map_err(|source| LoadError::Open { path: path.to_path_buf(), source })?;
        let api = Api::load(&lib, path)?;
        Ok(Plugin { api, path: path.to_path_buf(), _lib: lib })
    }

    /// The file loaded.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw entry points.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// The plugin's version string.
    pub fn version(&self) -> String {
        // SAFETY: returns a static NUL-terminated string.
        let p = unsafe { (self.api.vastost_version)() };
        // SAFETY: static and NUL-terminated by the ABI's contract.
        unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// The description of a status code.
    pub fn strerror(&self, status: c_int) -> String {
        // SAFETY: returns a static NUL-terminated string for any value.
        let p = unsafe { (self.api.vastost_strerror)(status) };
        // SAFETY: static and NUL-terminated by the ABI's contract.
        unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// The calling thread's last error message.
    pub fn last_error(&self) -> String {
        let mut buf = vec![0 as c_char; 4096];
        // SAFETY: `buf` holds `buf.len()` writable bytes.
        unsafe { (self.api.vastost_last_error)(buf.as_mut_ptr(), buf.len()) };
        cstr(&buf)
    }

    /// Turns a status into a result, with the plugin's message.
    pub fn check(&self, status: c_int) -> Result<(), OstError> {
        if status == 0 {
            return Ok(());
        }
        let mut message = self.last_error();
        if message.is_empty() {
            message = format!("{} ({status})", self.strerror(status));
        }
        Err(OstError { status, message })
    }

    /// `stspi_init` with a configuration file (or the default one).
    pub fn init(&self, config: Option<&Path>) -> Result<PluginInfo, OstError> {
        let path = config.map(|p| CString::new(p.to_string_lossy().as_bytes()).unwrap_or_default());
        let mut info: sts_plugin_info_t = zeroed_plugin_info();
        // SAFETY: valid string or NULL, and a writable struct.
        let st = unsafe {
            (self.api.stspi_init)(STS_API_VERSION, path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr()), &mut info)
        };
        self.check(st)?;
        Ok(PluginInfo {
            api_version: info.pi_api_version,
            vendor: cstr(&info.pi_vendor),
            version: cstr(&info.pi_version),
            stype: cstr(&info.pi_stype),
            flags: info.pi_flags,
        })
    }

    /// `stspi_terminate`.
    pub fn terminate(&self) -> Result<(), OstError> {
        // SAFETY: no arguments.
        self.check(unsafe { (self.api.stspi_terminate)() })
    }

    /// `stspi_claim`.
    pub fn claim(&self, server: &str) -> Result<(), OstError> {
        let name = c_string(server)?;
        // SAFETY: a valid NUL-terminated string.
        self.check(unsafe { (self.api.stspi_claim)(name.as_ptr()) })
    }

    /// `stspi_get_server_prop_byname`.
    pub fn server_info_byname(&self, server: &str) -> Result<ServerInfo, OstError> {
        let name = c_string(server)?;
        let mut info = zeroed_server_info();
        // SAFETY: valid string and writable struct.
        self.check(unsafe { (self.api.stspi_get_server_prop_byname)(name.as_ptr(), &mut info) })?;
        Ok(decode_server_info(&info))
    }

    /// `vastost_get_stats`.
    pub fn stats(&self) -> Result<vastost_stats_t, OstError> {
        let mut s = vastost_stats_t::default();
        // SAFETY: a writable struct.
        self.check(unsafe { (self.api.vastost_get_stats)(&mut s) })?;
        Ok(s)
    }
}
