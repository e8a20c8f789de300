//! What the plugin reports about servers, LSUs, images and itself, decoded.

use vastost_ost::*;

use crate::fields::cstr;

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
    /// When its WORM lock expires (seconds since the epoch; 0: none).
    pub worm_until: u64,
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
            worm_until: i.imo_worm_until,
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
    /// With `STS_LSUF_WORM`: the shortest and longest image locks, in
    /// seconds.
    pub worm_bounds: (u64, u64),
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

pub(crate) fn decode_server_info(i: &sts_server_info_t) -> ServerInfo {
    ServerInfo {
        name: cstr(&i.srv_server),
        flags: i.srv_flags,
        cap: i.srv_cap,
        version: cstr(&i.srv_version),
        location: cstr(&i.srv_location),
    }
}

/// A snapshot of an LSU's view, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The cluster's id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// The view's path.
    pub path: String,
    /// When taken (seconds since the epoch).
    pub created: u64,
    /// When it expires (0: never).
    pub expires: u64,
    /// Not deletable before it expires.
    pub indestructible: bool,
}

impl From<&vastost_snapshot_t> for SnapshotInfo {
    fn from(s: &vastost_snapshot_t) -> Self {
        SnapshotInfo {
            id: s.vs_id,
            name: cstr(&s.vs_name),
            path: cstr(&s.vs_path),
            created: s.vs_created,
            expires: s.vs_expires,
            indestructible: s.vs_indestructible != 0,
        }
    }
}
