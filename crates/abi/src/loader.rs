//! Loads a plugin library with `dlopen` and drives it through its C ABI,
//! exactly as a NetBackup media server does. Used by `vastost` and by the
//! test suites; nothing here calls the plugin's Rust code directly.

use std::ffi::{CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};

use libloading::Library;

use crate::ost::*;

/// File name of the multithreaded plugin.
pub const PLUGIN_FILE: &str = "libstspiVastDataMT.so";
/// Where NetBackup keeps OST plugins.
pub const NETBACKUP_PLUGIN_DIR: &str = "/usr/openv/lib/ost-plugins";
/// Environment variable naming the plugin file to load.
pub const PLUGIN_ENV: &str = "VASTOST_PLUGIN";

/// A plugin that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `dlopen` failed.
    #[error("cannot load plugin {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: libloading::Error,
    },
    /// An entry point is missing.
    #[error("plugin {path} has no entry point {symbol}")]
    Symbol {
        /// The file.
        path: PathBuf,
        /// The missing symbol.
        symbol: &'static str,
    },
}

/// A failed plugin call: its status and the plugin's own message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct OstError {
    /// The status returned.
    pub status: c_int,
    /// The plugin's message for it (`vastost_last_error`), or the status
    /// description.
    pub message: String,
}

impl OstError {
    /// The status as a known code.
    pub fn code(&self) -> Option<sts_status> {
        sts_status::from_code(self.status)
    }
}

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
            fn load(lib: &Library, path: &Path) -> Result<Self, LoadError> {
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
}

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

/// Image properties, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// Basename.
    pub basename: String,
    /// Date.
    pub date: String,
    /// LSU.
    pub lsu: String,
    /// Logical size.
    pub size: u64,
    /// `STS_II_*` flags.
    pub flags: u32,
    /// Creation time (seconds since the epoch).
    pub created: u64,
}

impl From<&sts_image_info_t> for ImageInfo {
    fn from(i: &sts_image_info_t) -> Self {
        ImageInfo {
            basename: cstr(&i.imo_def.img_basename),
            date: cstr(&i.imo_def.img_date),
            lsu: cstr(&i.imo_lsu.sln_name),
            size: i.imo_size,
            flags: i.imo_flags,
            created: i.imo_create_time,
        }
    }
}

/// LSU properties, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsuInfo {
    /// Name.
    pub name: String,
    /// `STS_LSUF_*` flags.
    pub flags: u32,
    /// Capacity in bytes.
    pub capacity: u64,
    /// Bytes used.
    pub used: u64,
    /// Bytes free.
    pub available: u64,
    /// Label.
    pub label: String,
}

/// Server properties, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// Name.
    pub name: String,
    /// `STS_SRV_*` flags.
    pub flags: u32,
    /// Capability bitmap.
    pub cap: [u32; STS_SRV_CAP_WORDS],
    /// Version text.
    pub version: String,
    /// Where the data is.
    pub location: String,
}

impl ServerInfo {
    /// Whether capability `STS_SRVC_*` bit `bit` is advertised.
    pub fn has(&self, bit: u32) -> bool {
        self.cap.get((bit / 32) as usize).is_some_and(|w| w >> (bit % 32) & 1 == 1)
    }
}

/// What `init` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// API version.
    pub api_version: u64,
    /// Vendor.
    pub vendor: String,
    /// Plugin version.
    pub version: String,
    /// Storage server type.
    pub stype: String,
    /// `STS_PI_*` flags.
    pub flags: u32,
}

/// A loaded plugin library.
#[derive(Debug)]
pub struct Plugin {
    api: Api,
    path: PathBuf,
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

    /// `stspi_open_server`, with user and password when given.
    pub fn open_server(&self, server: &str, cred: Option<(&str, &str)>) -> Result<Server<'_>, OstError> {
        let name = c_string(server)?;
        let cred = cred.map(credentials).transpose()?;
        let mut handle: sts_server_handle_t = std::ptr::null_mut();
        // SAFETY: valid string, NULL or valid credentials, writable handle.
        let st = unsafe {
            (self.api.stspi_open_server)(name.as_ptr(), cred.as_ref().map_or(std::ptr::null(), |c| c), &mut handle)
        };
        self.check(st)?;
        Ok(Server { plugin: self, raw: handle, closed: false })
    }

    /// `vastost_get_stats`.
    pub fn stats(&self) -> Result<vastost_stats_t, OstError> {
        let mut s = vastost_stats_t::default();
        // SAFETY: a writable struct.
        self.check(unsafe { (self.api.vastost_get_stats)(&mut s) })?;
        Ok(s)
    }
}

fn credentials((user, password): (&str, &str)) -> Result<sts_cred_t, OstError> {
    Ok(sts_cred_t { cr_type: STS_CRED_CLEAR, cr_user: fill(user, "user")?, cr_password: fill(password, "password")? })
}

fn c_string(s: &str) -> Result<CString, OstError> {
    CString::new(s).map_err(|_| OstError {
        status: sts_status::STS_EINVAL as c_int,
        message: format!("{s:?} contains a NUL byte"),
    })
}

fn zeroed_plugin_info() -> sts_plugin_info_t {
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
    }
}

fn decode_server_info(i: &sts_server_info_t) -> ServerInfo {
    ServerInfo {
        name: cstr(&i.srv_server),
        flags: i.srv_flags,
        cap: i.srv_cap,
        version: cstr(&i.srv_version),
        location: cstr(&i.srv_location),
    }
}

/// An open storage server; closed on drop.
#[derive(Debug)]
pub struct Server<'p> {
    plugin: &'p Plugin,
    raw: sts_server_handle_t,
    closed: bool,
}

impl<'p> Server<'p> {
    /// The raw handle.
    pub fn raw(&self) -> sts_server_handle_t {
        self.raw
    }

    /// An `sts_lsu_t` naming LSU `lsu` on this server; refused when the
    /// name does not fit.
    pub fn lsu(&self, lsu: &str) -> Result<sts_lsu_t, OstError> {
        Ok(sts_lsu_t { sl_server_handle: self.raw, sl_lsu_name: fill(lsu, "LSU name")? })
    }

    /// `stspi_get_server_prop`.
    pub fn info(&self) -> Result<ServerInfo, OstError> {
        let mut info = zeroed_server_info();
        // SAFETY: a writable struct.
        self.plugin.check(unsafe { (self.plugin.api.stspi_get_server_prop)(self.raw, &mut info) })?;
        Ok(decode_server_info(&info))
    }

    /// The LSU names, through an LSU list.
    pub fn lsus(&self) -> Result<Vec<String>, OstError> {
        let api = &self.plugin.api;
        let mut list: sts_lsu_list_handle_t = std::ptr::null_mut();
        // SAFETY: a writable handle.
        self.plugin.check(unsafe { (api.stspi_open_lsu_list)(self.raw, &mut list) })?;
        let mut out = Vec::new();
        let result = loop {
            let mut name = sts_lsu_name_t { sln_name: [0; STS_MAX_LSUNAME] };
            // SAFETY: a writable struct.
            let st = unsafe { (api.stspi_list_lsu)(list, &mut name) };
            if st == sts_status::STS_ENOMORE as c_int {
                break Ok(());
            }
            if let Err(e) = self.plugin.check(st) {
                break Err(e);
            }
            out.push(cstr(&name.sln_name));
        };
        // SAFETY: the list handle from above.
        let closed = self.plugin.check(unsafe { (api.stspi_close_lsu_list)(list) });
        result.and(closed).map(|()| out)
    }

    /// `stspi_get_lsu_prop_byname`.
    pub fn lsu_info(&self, lsu: &str) -> Result<LsuInfo, OstError> {
        let l = self.lsu(lsu)?;
        let mut i = zeroed_lsu_info();
        // SAFETY: valid struct pointers.
        self.plugin.check(unsafe { (self.plugin.api.stspi_get_lsu_prop_byname)(&l, &mut i) })?;
        Ok(LsuInfo {
            name: cstr(&i.lsu_name),
            flags: i.lsu_flags,
            capacity: i.lsu_capacity,
            used: i.lsu_used,
            available: i.lsu_avail,
            label: cstr(&i.lsu_label),
        })
    }

    /// `stspi_label_lsu`.
    pub fn label_lsu(&self, lsu: &str, label: &str) -> Result<(), OstError> {
        let l = self.lsu(lsu)?;
        let label = c_string(label)?;
        // SAFETY: valid struct and string.
        self.plugin.check(unsafe { (self.plugin.api.stspi_label_lsu)(&l, label.as_ptr()) })
    }

    /// `stspi_create_image`.
    pub fn create_image(&self, lsu: &str, basename: &str, date: &str) -> Result<Image<'p>, OstError> {
        let (l, d) = (self.lsu(lsu)?, image_def(basename, date)?);
        let mut h: stsp_image_handle_t = std::ptr::null_mut();
        // SAFETY: valid structs and a writable handle.
        self.plugin.check(unsafe { (self.plugin.api.stspi_create_image)(&l, &d, 0, &mut h) })?;
        Ok(Image { plugin: self.plugin, raw: h, closed: false })
    }

    /// `stspi_open_image` with `STS_O_READ` or `STS_O_WRITE`.
    pub fn open_image(&self, lsu: &str, basename: &str, date: &str, mode: c_int) -> Result<Image<'p>, OstError> {
        let (l, d) = (self.lsu(lsu)?, image_def(basename, date)?);
        let mut h: stsp_image_handle_t = std::ptr::null_mut();
        // SAFETY: valid structs and a writable handle.
        self.plugin.check(unsafe { (self.plugin.api.stspi_open_image)(&l, &d, mode, &mut h) })?;
        Ok(Image { plugin: self.plugin, raw: h, closed: false })
    }

    /// `stspi_delete_image`.
    pub fn delete_image(&self, lsu: &str, basename: &str, date: &str) -> Result<(), OstError> {
        let (l, d) = (self.lsu(lsu)?, image_def(basename, date)?);
        // SAFETY: valid structs.
        self.plugin.check(unsafe { (self.plugin.api.stspi_delete_image)(&l, &d, 0) })
    }

    /// `stspi_get_image_prop_byname`.
    pub fn image_info(&self, lsu: &str, basename: &str, date: &str) -> Result<ImageInfo, OstError> {
        let (l, d) = (self.lsu(lsu)?, image_def(basename, date)?);
        let mut i = zeroed_image_info();
        // SAFETY: valid structs.
        self.plugin.check(unsafe { (self.plugin.api.stspi_get_image_prop_byname)(&l, &d, &mut i) })?;
        Ok(ImageInfo::from(&i))
    }

    /// Every image of an LSU, through an image list.
    pub fn images(&self, lsu: &str) -> Result<Vec<ImageInfo>, OstError> {
        let api = &self.plugin.api;
        let l = self.lsu(lsu)?;
        let mut list: sts_image_list_handle_t = std::ptr::null_mut();
        // SAFETY: valid struct and a writable handle.
        self.plugin.check(unsafe { (api.stspi_open_image_list)(&l, &mut list) })?;
        let mut out = Vec::new();
        let result = loop {
            let mut i = zeroed_image_info();
            // SAFETY: a writable struct.
            let st = unsafe { (api.stspi_list_image)(list, &mut i) };
            if st == sts_status::STS_ENOMORE as c_int {
                break Ok(());
            }
            if let Err(e) = self.plugin.check(st) {
                break Err(e);
            }
            out.push(ImageInfo::from(&i));
        };
        // SAFETY: the list handle from above.
        let closed = self.plugin.check(unsafe { (api.stspi_close_image_list)(list) });
        result.and(closed).map(|()| out)
    }

    /// `stspi_open_target_server`: a server to copy to (this one again when
    /// `name` is its own).
    pub fn open_target(&self, name: &str, cred: Option<(&str, &str)>) -> Result<Server<'p>, OstError> {
        let name = c_string(name)?;
        let cred = cred.map(credentials).transpose()?;
        let cred_ptr = cred.as_ref().map_or(std::ptr::null(), |c| c as *const sts_cred_t);
        let mut h: sts_server_handle_t = std::ptr::null_mut();
        // SAFETY: a valid string, NULL or valid credentials, a writable handle.
        let st = unsafe { (self.plugin.api.stspi_open_target_server)(self.raw, name.as_ptr(), cred_ptr, &mut h) };
        self.plugin.check(st)?;
        Ok(Server { plugin: self.plugin, raw: h, closed: false })
    }

    /// The C structs naming a copy's source and target.
    fn copy_ends(
        &self,
        lsu: &str,
        image: (&str, &str),
        to: &Server<'_>,
        to_lsu: &str,
        to_image: (&str, &str),
    ) -> Result<(sts_lsu_t, sts_image_def_t, sts_lsu_t, sts_image_def_t), OstError> {
        Ok((self.lsu(lsu)?, image_def(image.0, image.1)?, to.lsu(to_lsu)?, image_def(to_image.0, to_image.1)?))
    }

    /// `stspi_copy_image` from LSU `lsu` of this server to LSU `to_lsu` of
    /// `to` (this server or a target server).
    pub fn copy_image(
        &self,
        lsu: &str,
        image: (&str, &str),
        to: &Server<'_>,
        to_lsu: &str,
        to_image: (&str, &str),
    ) -> Result<(), OstError> {
        let (fl, fd, tl, td) = self.copy_ends(lsu, image, to, to_lsu, to_image)?;
        // SAFETY: valid structs.
        self.plugin.check(unsafe { (self.plugin.api.stspi_copy_image)(&fl, &fd, &tl, &td, 0) })
    }

    /// `stspi_async_copy_image`: returns the operation number.
    pub fn async_copy_image(
        &self,
        lsu: &str,
        image: (&str, &str),
        to: &Server<'_>,
        to_lsu: &str,
        to_image: (&str, &str),
    ) -> Result<u64, OstError> {
        let (fl, fd, tl, td) = self.copy_ends(lsu, image, to, to_lsu, to_image)?;
        let mut op = 0;
        // SAFETY: valid structs and a writable number.
        self.plugin.check(unsafe { (self.plugin.api.stspi_async_copy_image)(&fl, &fd, &tl, &td, 0, &mut op) })?;
        Ok(op)
    }

    /// `stspi_named_async_copy_image`.
    pub fn named_async_copy(
        &self,
        name: &str,
        lsu: &str,
        image: (&str, &str),
        to: &Server<'_>,
        to_lsu: &str,
        to_image: (&str, &str),
    ) -> Result<(), OstError> {
        let (fl, fd, tl, td) = self.copy_ends(lsu, image, to, to_lsu, to_image)?;
        let name = c_string(name)?;
        // SAFETY: valid structs and string.
        self.plugin
            .check(unsafe { (self.plugin.api.stspi_named_async_copy_image)(&fl, &fd, &tl, &td, name.as_ptr(), 0) })
    }

    /// `stspi_named_async_wait`: the bytes copied so far, with the status
    /// (`STS_EINPROGRESS` while the copy runs).
    pub fn named_async_wait(&self, name: &str, timeout_secs: u32) -> (u64, Result<(), OstError>) {
        let name = match c_string(name) {
            Ok(n) => n,
            Err(e) => return (0, Err(e)),
        };
        let mut done = 0;
        // SAFETY: a valid string and a writable number.
        let st = unsafe { (self.plugin.api.stspi_named_async_wait)(self.raw, name.as_ptr(), timeout_secs, &mut done) };
        (done, self.plugin.check(st))
    }

    /// `stspi_named_async_cancel`.
    pub fn named_async_cancel(&self, name: &str) -> Result<(), OstError> {
        let name = c_string(name)?;
        // SAFETY: a valid string.
        self.plugin.check(unsafe { (self.plugin.api.stspi_named_async_cancel)(self.raw, name.as_ptr()) })
    }

    /// `stspi_open_evchannel`.
    pub fn events(&self) -> Result<EventChannel<'p>, OstError> {
        let mut h: sts_evc_handle_t = std::ptr::null_mut();
        // SAFETY: a writable handle.
        self.plugin.check(unsafe { (self.plugin.api.stspi_open_evchannel)(self.raw, 0, &mut h) })?;
        Ok(EventChannel { plugin: self.plugin, raw: h })
    }

    /// `vastost_reclaim` on LSU `lsu` (or every LSU); `grace_secs` `None`
    /// keeps the configured grace period.
    pub fn reclaim(
        &self,
        lsu: Option<&str>,
        grace_secs: Option<u64>,
        older_than_secs: Option<u64>,
    ) -> Result<vastost_reclaim_t, OstError> {
        let lsu = lsu.map(c_string).transpose()?;
        let mut report = vastost_reclaim_t::default();
        let secs = |s: Option<u64>| s.map_or(-1, |g| i64::try_from(g).unwrap_or(i64::MAX));
        let (grace, older) = (secs(grace_secs), secs(older_than_secs));
        let lsu_ptr = lsu.as_ref().map_or(std::ptr::null(), |l| l.as_ptr());
        // SAFETY: NULL or a valid string, and a writable struct.
        let st = unsafe { (self.plugin.api.vastost_reclaim)(self.raw, lsu_ptr, grace, older, &mut report) };
        self.plugin.check(st)?;
        Ok(report)
    }

    /// `stspi_close_server`.
    pub fn close(mut self) -> Result<(), OstError> {
        self.closed = true;
        // SAFETY: our handle.
        self.plugin.check(unsafe { (self.plugin.api.stspi_close_server)(self.raw) })
    }
}

impl Drop for Server<'_> {
    fn drop(&mut self) {
        if !self.closed {
            // SAFETY: our handle; a failure here has nobody to report to.
            let _ = unsafe { (self.plugin.api.stspi_close_server)(self.raw) };
        }
    }
}

/// An open image; dropped without `close`, it is closed incomplete (a
/// checkpoint), as a media server whose job stopped would leave it.
#[derive(Debug)]
pub struct Image<'p> {
    plugin: &'p Plugin,
    raw: stsp_image_handle_t,
    closed: bool,
}

impl Image<'_> {
    /// The raw handle.
    pub fn raw(&self) -> stsp_image_handle_t {
        self.raw
    }

    /// `stspi_write_image`: returns the bytes accepted.
    pub fn write(&mut self, data: &[u8], offset: u64) -> Result<u64, OstError> {
        let mut written = 0;
        // SAFETY: `data` is valid for its length; `written` is writable.
        let st = unsafe {
            (self.plugin.api.stspi_write_image)(
                self.raw,
                std::ptr::null(),
                data.as_ptr().cast(),
                data.len() as u64,
                offset,
                &mut written,
            )
        };
        self.plugin.check(st).map(|()| written)
    }

    /// `stspi_read_image`: returns the bytes read.
    pub fn read(&mut self, buf: &mut [u8], offset: u64) -> Result<u64, OstError> {
        let mut read = 0;
        // SAFETY: `buf` is valid for writes of its length; `read` is writable.
        let st = unsafe {
            (self.plugin.api.stspi_read_image)(self.raw, buf.as_mut_ptr().cast(), buf.len() as u64, offset, &mut read)
        };
        self.plugin.check(st).map(|()| read)
    }

    /// `stspi_flush`.
    pub fn flush(&mut self) -> Result<(), OstError> {
        // SAFETY: our handle.
        self.plugin.check(unsafe { (self.plugin.api.stspi_flush)(self.raw) })
    }

    /// `stspi_get_image_prop`.
    pub fn info(&self) -> Result<ImageInfo, OstError> {
        let mut i = zeroed_image_info();
        // SAFETY: a writable struct.
        self.plugin.check(unsafe { (self.plugin.api.stspi_get_image_prop)(self.raw, &mut i) })?;
        Ok(ImageInfo::from(&i))
    }

    /// `stspi_write_image_meta`.
    pub fn write_meta(&mut self, data: &[u8], offset: u64) -> Result<u64, OstError> {
        let mut written = 0;
        // SAFETY: `data` valid for its length; `written` writable.
        let st = unsafe {
            (self.plugin.api.stspi_write_image_meta)(
                self.raw,
                data.as_ptr().cast(),
                data.len() as u64,
                offset,
                &mut written,
            )
        };
        self.plugin.check(st).map(|()| written)
    }

    /// `stspi_read_image_meta`: returns the bytes read.
    pub fn read_meta(&mut self, buf: &mut [u8], offset: u64) -> Result<u64, OstError> {
        let mut read = 0;
        // SAFETY: `buf` valid for writes of its length; `read` writable.
        let st = unsafe {
            (self.plugin.api.stspi_read_image_meta)(
                self.raw,
                buf.as_mut_ptr().cast(),
                buf.len() as u64,
                offset,
                &mut read,
            )
        };
        self.plugin.check(st).map(|()| read)
    }

    /// `stspi_close_image`, complete or not.
    pub fn close(mut self, complete: bool) -> Result<(), OstError> {
        self.closed = true;
        let flags = if complete { STS_CLOSEF_IH_COMPLETE } else { STS_CLOSEF_IH_INCOMPLETE };
        // SAFETY: our handle.
        self.plugin.check(unsafe { (self.plugin.api.stspi_close_image)(self.raw, flags) })
    }

    /// `stspi_copy_extent` from this image (open for reading) into
    /// `target` (open for writing): returns the bytes copied.
    pub fn copy_extent(&self, target: &Image<'_>, from: u64, to: u64, len: u64, flags: u32) -> Result<u64, OstError> {
        let mut copied = 0;
        // SAFETY: our handles and a writable number.
        let st =
            unsafe { (self.plugin.api.stspi_copy_extent)(self.raw, target.raw, from, to, len, flags, &mut copied) };
        self.plugin.check(st).map(|()| copied)
    }

    /// `stspi_include_in_image` from this image (open for reading) into
    /// `target` (open for writing).
    pub fn include_into(&self, target: &Image<'_>, from: u64, to: u64, len: u64) -> Result<(), OstError> {
        // SAFETY: our handles.
        self.plugin.check(unsafe { (self.plugin.api.stspi_include_in_image)(self.raw, target.raw, from, to, len) })
    }

    /// Forgets the handle without closing it: a connection that dropped.
    pub fn abandon(mut self) {
        self.closed = true;
    }
}

impl Drop for Image<'_> {
    fn drop(&mut self) {
        if !self.closed {
            // SAFETY: our handle; a failure here has nobody to report to.
            let _ = unsafe { (self.plugin.api.stspi_close_image)(self.raw, STS_CLOSEF_IH_INCOMPLETE) };
        }
    }
}

/// An event, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `STS_EVT_*`.
    pub kind: u32,
    /// Its number in the channel (for `delete`).
    pub seq: u64,
    /// When it happened (seconds since the epoch).
    pub time: u64,
    /// The image it concerns.
    pub image: ImageInfo,
}

/// An open event channel; closed on drop.
#[derive(Debug)]
pub struct EventChannel<'p> {
    plugin: &'p Plugin,
    raw: sts_evc_handle_t,
}

impl EventChannel<'_> {
    /// `stspi_get_event`: the next event, or `None` at the end.
    pub fn next_event(&mut self) -> Result<Option<Event>, OstError> {
        let mut e = sts_event_t { ev_type: 0, ev_seq: 0, ev_time: 0, ev_image: zeroed_image_info() };
        // SAFETY: a writable struct.
        let st = unsafe { (self.plugin.api.stspi_get_event)(self.raw, &mut e) };
        if st == sts_status::STS_ENOMORE as c_int {
            return Ok(None);
        }
        self.plugin.check(st)?;
        Ok(Some(Event { kind: e.ev_type, seq: e.ev_seq, time: e.ev_time, image: ImageInfo::from(&e.ev_image) }))
    }

    /// `stspi_delete_event`.
    pub fn delete(&mut self, event: &Event) -> Result<(), OstError> {
        let e =
            sts_event_t { ev_type: event.kind, ev_seq: event.seq, ev_time: event.time, ev_image: zeroed_image_info() };
        // SAFETY: a valid struct.
        self.plugin.check(unsafe { (self.plugin.api.stspi_delete_event)(self.raw, &e) })
    }
}

impl Drop for EventChannel<'_> {
    fn drop(&mut self) {
        // SAFETY: our handle; a failure here has nobody to report to.
        let _ = unsafe { (self.plugin.api.stspi_close_evchannel)(self.raw) };
    }
}
