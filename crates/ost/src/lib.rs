//! The OpenStorage types of our C ABI, named after the public OST names.
//!
//! Veritas does not publish the OST SDK header, so these definitions are
//! ours; every struct, constant and status code the plugin exchanges with
//! NetBackup is defined here and only here, and `include/stspi_vastdata.h`
//! is generated from this crate and the ABI crate's entry points. A build
//! against the official header would change this crate and the ABI crate's
//! `convert.rs`, nothing else. Both sides of the ABI use it: the plugin
//! (`vastost-abi`) and the `dlopen` client (`vastost-loader`).
#![allow(non_camel_case_types)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::ffi::{c_char, c_int};

/// OST block size: data lengths and offsets are multiples of it.
pub const STS_BLOCK_SIZE: u32 = 512;
/// Size of a storage server name field, NUL included.
pub const STS_MAX_STSNAME: usize = 256;
/// Size of an LSU name field, NUL included.
pub const STS_MAX_LSUNAME: usize = 256;
/// Size of an image basename field, NUL included.
pub const STS_MAX_IMAGENAME: usize = 256;
/// Size of an image date field, NUL included.
pub const STS_MAX_DATE: usize = 256;
/// Size of a user name field, NUL included.
pub const STS_MAX_USER: usize = 128;
/// Size of a password field, NUL included.
pub const STS_MAX_PASSWORD: usize = 256;
/// Size of an LSU label field, NUL included.
pub const STS_MAX_LABEL: usize = 256;
/// Size of a descriptive text field (versions, locations), NUL included.
pub const STS_MAX_TEXT: usize = 256;
/// Words of the server capability bitmap `srv_cap`.
pub const STS_SRV_CAP_WORDS: usize = 2;
/// The API version this ABI implements (passed to and returned by `init`).
pub const STS_API_VERSION: u64 = 11;

// Image information flags (`imo_flags`).
/// The image is being written or was checkpointed; not complete.
pub const STS_II_IMAGE_PENDING: u32 = 0x1;
/// The image was closed complete.
pub const STS_II_IMAGE_CREATED: u32 = 0x2;
/// Same bit as `STS_II_IMAGE_CREATED` (the name used for reads).
pub const STS_II_IMAGE_COMPLETE: u32 = 0x2;
/// A writer has the image open.
pub const STS_II_BUSY_WRITE: u32 = 0x4;
/// Readers have the image open.
pub const STS_II_BUSY_READ: u32 = 0x8;
/// Ignored by this plugin.
pub const STS_II_FILES_PENDING: u32 = 0x10;
/// Ignored by this plugin.
pub const STS_II_FILES_CREATED: u32 = 0x20;
/// The image is WORM-locked until `imo_worm_until` (NetBackup's name for
/// this flag is not public; ours).
pub const STS_II_WORM_LOCKED: u32 = 0x40;
/// Vendor flag of this plugin: the image's commit records are damaged or
/// lost, so its state and size are unknown (neither pending nor created);
/// opening it gives `STS_EINTEGRITY` with the reason.
pub const VASTOST_II_DAMAGED: u32 = 0x8000_0000;
/// Vendor flag: the image's newest commit record is of a newer stored format
/// (a newer plugin's, not damage); opening or deleting it: `STS_ENEWERFORMAT`.
pub const VASTOST_II_NEWER_FORMAT: u32 = 0x4000_0000;
/// The stored format this plugin writes.
pub const VASTOST_FORMAT_WRITTEN: u32 = 2;
/// The oldest stored format this plugin reads (it reads all up to the one it writes).
pub const VASTOST_FORMAT_OLDEST_READ: u32 = 1;

// Open modes of `stspi_open_image`.
/// Open a complete image for reading.
pub const STS_O_READ: c_int = 0x1;
/// Reopen a checkpointed image to append to it.
pub const STS_O_WRITE: c_int = 0x2;

// Flags of `stspi_close_image`.
/// Checkpoint: the image stays pending and can be reopened for writing.
pub const STS_CLOSEF_IH_INCOMPLETE: c_int = 0x0;
/// The image is complete: created, never writable again.
pub const STS_CLOSEF_IH_COMPLETE: c_int = 0x1;

// Flags of `stspi_copy_extent`.
/// Append to the target image (`to_offset` is ignored).
pub const STS_CX_APPEND: u32 = 0x1;
/// Copy all of the source from `from_offset` (`len` is ignored).
pub const STS_CX_REMAINDER: u32 = 0x2;

// Event types (`ev_type`).
/// An image was closed complete.
pub const STS_EVT_IMAGE_CREATED: u32 = 1;
/// An image was deleted.
pub const STS_EVT_IMAGE_DELETED: u32 = 2;
/// A copy within the server finished; `ev_image` is the new copy.
pub const STS_EVT_COPY_DONE: u32 = 3;
/// An image was replicated to this server from another one: import it
/// (Auto Image Replication).
pub const STS_EVT_REPLICATION: u32 = 4;

// Credential types (`cr_type`).
/// No credentials.
pub const STS_CRED_NONE: u32 = 0;
/// User and password in clear.
pub const STS_CRED_CLEAR: u32 = 1;

// Server flags (`srv_flags`).
/// A disk storage server.
pub const STS_SRV_DISK: u32 = 0x1;
/// The server takes credentials at `open_server`.
pub const STS_SRV_CRED: u32 = 0x2;
/// Optimized image copy is supported.
pub const STS_SRV_IMAGE_COPY: u32 = 0x4;
/// Events (Auto Image Replication) are supported.
pub const STS_SRV_EVENTS: u32 = 0x8;

// LSU flags (`lsu_flags`).
/// A disk LSU.
pub const STS_LSUF_DISK: u32 = 0x1;
/// The LSU is usable.
pub const STS_LSUF_ACTIVE: u32 = 0x2;
/// Deleting an image frees its space at once.
pub const STS_LSUF_STORAGE_FREED: u32 = 0x4;
/// Deleting an image does not free its space at once.
pub const STS_LSUF_STORAGE_NOT_FREED: u32 = 0x8;
/// The LSU is WORM capable: images can be locked with `stspi_lock_image`
/// for `lsu_worm_min` to `lsu_worm_max` seconds (NetBackup's names for the
/// WORM flags are not public; these are ours).
pub const STS_LSUF_WORM: u32 = 0x10;
/// With `STS_LSUF_WORM`: locks are in compliance mode (nobody lifts them);
/// without it, governance (NetBackup's enterprise mode).
pub const STS_LSUF_WORM_COMPLIANCE: u32 = 0x20;
/// Vendor flag of this plugin: the LSU's S3 server ignores conditional
/// writes (`If-None-Match: *`), so commits of concurrent writers are not
/// safe; writes are refused unless `allow_unconditional_writes` is set.
pub const VASTOST_LSUF_UNCONDITIONAL_WRITES: u32 = 0x8000_0000;
/// Vendor flag of this plugin, with `VASTOST_LSUF_UNCONDITIONAL_WRITES`:
/// the configuration accepts it (`allow_unconditional_writes`), so writes
/// go ahead; safe only while one media server writes to the LSU.
pub const VASTOST_LSUF_UNCONDITIONAL_ALLOWED: u32 = 0x1000_0000;
/// Vendor flag of this plugin: the LSU's storage locks every new object
/// for a while (an S3 view's default retention), images and all.
pub const VASTOST_LSUF_LOCKED_BY_DEFAULT: u32 = 0x4000_0000;
/// Vendor flag of this plugin, with `VASTOST_LSUF_LOCKED_BY_DEFAULT`: the
/// plugin's own records of the LSU (events, label, reclaim cursor) are in
/// it too and get locked (the server has no `bookkeeping_bucket`).
pub const VASTOST_LSUF_BOOKKEEPING_LOCKED: u32 = 0x2000_0000;

// Plugin flags (`pi_flags`).
/// The plugin may be called from many threads at once.
pub const STS_PI_MT: u32 = 0x1;

// Server capabilities: bit numbers in `srv_cap` (see `STS_SRV_CAP_TEST`).
/// `create_image`, `write_image`, `close_image`.
pub const STS_SRVC_CREATE_IMAGE: u32 = 0;
/// `open_image`, `read_image`.
pub const STS_SRVC_READ_IMAGE: u32 = 1;
/// `delete_image`.
pub const STS_SRVC_DELETE_IMAGE: u32 = 2;
/// Writes at any block-aligned offset.
pub const STS_SRVC_WRITE_IMAGE_RANDOM: u32 = 3;
/// `flush`.
pub const STS_SRVC_FLUSH: u32 = 4;
/// Checkpoint/restart: close incomplete, reopen for write, append.
pub const STS_SRVC_CHECKPOINT: u32 = 5;
/// Image lists.
pub const STS_SRVC_LIST_IMAGE: u32 = 6;
/// `read_image_meta`, `write_image_meta`.
pub const STS_SRVC_IMAGE_META: u32 = 7;
/// `label_lsu`.
pub const STS_SRVC_LABEL_LSU: u32 = 8;
/// `open_target_server`.
pub const STS_SRVC_OPEN_TARGET_SERVER: u32 = 9;
/// `copy_extent`.
pub const STS_SRVC_COPY_EXTENT: u32 = 10;
/// `copy_image`.
pub const STS_SRVC_COPY_IMAGE: u32 = 11;
/// `async_copy_image`.
pub const STS_SRVC_ASYNC_COPY_IMAGE: u32 = 12;
/// `named_async_copy_image`, `named_async_wait`, `named_async_cancel`.
pub const STS_SRVC_NAMED_ASYNC_COPY: u32 = 13;
/// `include_in_image`.
pub const STS_SRVC_INCLUDE_IN_IMAGE: u32 = 14;
/// Event channels.
pub const STS_SRVC_EVENTS: u32 = 15;

/// Status codes. NetBackup shows them as storage-server status 2060000 + N;
/// the plugin returns the full value. Codes seen in public NetBackup logs
/// keep their numbers; the others are ours, from 2060201 on. Values are
/// never reused.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sts_status {
    /// Success.
    STS_EOK = 0,
    /// The object is busy (an image being written by another handle).
    STS_EBUSY = 2060005,
    /// No more entries: the end of a list; also a missing image's properties.
    STS_ENOMORE = 2060013,
    /// A system call failed (an I/O error of the storage).
    STS_ESYSCALL = 2060017,
    /// Software error: a bug of the plugin.
    STS_ESOFTWARE = 2060022,
    /// Access not allowed.
    STS_EACCESS = 2060037,
    /// Plugin error.
    STS_EPLUGIN = 2060046,
    /// WORM: invalid minimum retention.
    STS_EWORM_MIN = 2060064,
    /// WORM: invalid maximum retention.
    STS_EWORM_MAX = 2060065,
    /// WORM: the image is locked and cannot be deleted yet.
    STS_EWORM_LOCKED = 2060069,
    /// An argument is invalid (NULL, bad size, bad name, bad flag).
    STS_EINVAL = 2060201,
    /// Authentication failed.
    STS_EAUTH = 2060202,
    /// The storage server cannot be reached.
    STS_ECONNECT = 2060203,
    /// No such storage server in the configuration.
    STS_ENOSERVER = 2060204,
    /// No such LSU.
    STS_ENOLSU = 2060205,
    /// No such image.
    STS_ENOIMAGE = 2060206,
    /// The image already exists.
    STS_EEXIST = 2060207,
    /// No space left on the LSU.
    STS_ENOSPC = 2060208,
    /// The operation is not supported by this plugin.
    STS_ENOTSUP = 2060209,
    /// A temporary failure: retry later.
    STS_EAGAIN = 2060210,
    /// The storage server name is not one this plugin serves.
    STS_ECLAIM = 2060211,
    /// The handle is stale, closed, of another kind, or not ours.
    STS_EBADHANDLE = 2060212,
    /// Stored data failed its checksum: it is not returned.
    STS_EINTEGRITY = 2060213,
    /// `stspi_init` was not called, or `stspi_terminate` was.
    STS_ENOTINIT = 2060214,
    /// The image's state does not allow the call (reading an incomplete
    /// image, writing a complete one).
    STS_ESTATE = 2060215,
    /// The plugin's configuration is missing or invalid.
    STS_ECONFIG = 2060216,
    /// The operation was cancelled (`named_async_cancel`).
    STS_ECANCELED = 2060217,
    /// No background copy has that name.
    STS_ENOCOPY = 2060218,
    /// The background copy is still running (`named_async_wait` timed out).
    STS_EINPROGRESS = 2060219,
    /// Written by a newer plugin in a stored format this one does not read.
    STS_ENEWERFORMAT = 2060220,
}

/// Generates, from one table of each status's message, the list of all
/// statuses and their names and messages. The enum itself stays written
/// out above (cbindgen reads it to write the header); a status missing
/// from the table, or one the enum lacks, does not compile.
macro_rules! status_table {
    ($($name:ident => $message:literal,)*) => {
        /// Every status code.
        pub const ALL_STATUSES: [sts_status; [$(stringify!($name)),*].len()] = [$(sts_status::$name),*];

        impl sts_status {
            /// The status with numeric value `code`, if there is one.
            pub fn from_code(code: c_int) -> Option<Self> {
                ALL_STATUSES.iter().copied().find(|s| *s as c_int == code)
            }

            /// The symbolic name, `STS_E…`.
            pub fn name(self) -> &'static str {
                match self {
                    $(sts_status::$name => stringify!($name),)*
                }
            }

            /// A short description, NUL-terminated for C.
            pub fn message(self) -> &'static str {
                match self {
                    $(sts_status::$name => concat!($message, "\0"),)*
                }
            }
        }
    };
}

status_table! {
    STS_EOK => "success",
    STS_EBUSY => "object is busy",
    STS_ENOMORE => "no more entries",
    STS_ESYSCALL => "system call failed",
    STS_ESOFTWARE => "software error",
    STS_EACCESS => "access not allowed",
    STS_EPLUGIN => "plugin error",
    STS_EWORM_MIN => "invalid WORM minimum retention",
    STS_EWORM_MAX => "invalid WORM maximum retention",
    STS_EWORM_LOCKED => "cannot delete: WORM lock not expired",
    STS_EINVAL => "invalid argument",
    STS_EAUTH => "authentication failed",
    STS_ECONNECT => "cannot connect to the storage server",
    STS_ENOSERVER => "no such storage server",
    STS_ENOLSU => "no such LSU",
    STS_ENOIMAGE => "no such image",
    STS_EEXIST => "image already exists",
    STS_ENOSPC => "no space left on the LSU",
    STS_ENOTSUP => "operation not supported",
    STS_EAGAIN => "temporary failure, retry later",
    STS_ECLAIM => "storage server not served by this plugin",
    STS_EBADHANDLE => "invalid, stale or closed handle",
    STS_EINTEGRITY => "stored data failed its checksum",
    STS_ENOTINIT => "plugin not initialized",
    STS_ESTATE => "image state does not allow this operation",
    STS_ECONFIG => "plugin configuration missing or invalid",
    STS_ECANCELED => "operation cancelled",
    STS_ENOCOPY => "no such background copy",
    STS_EINPROGRESS => "background copy still running",
    STS_ENEWERFORMAT => "written by a newer plugin in a format this one does not read",
}

/// What every entry point returns: an `sts_status` value.
pub type sts_status_t = c_int;

/// An open storage server (opaque).
pub struct sts_server_s {
    _private: [u8; 0],
}
/// Handle of an open storage server.
pub type sts_server_handle_t = *mut sts_server_s;

/// An open image (opaque).
pub struct stsp_image_s {
    _private: [u8; 0],
}
/// Handle of an open image.
pub type stsp_image_handle_t = *mut stsp_image_s;

/// An open LSU list (opaque).
pub struct sts_lsu_list_s {
    _private: [u8; 0],
}
/// Handle of an open LSU list.
pub type sts_lsu_list_handle_t = *mut sts_lsu_list_s;

/// An open image list (opaque).
pub struct sts_image_list_s {
    _private: [u8; 0],
}
/// Handle of an open image list.
pub type sts_image_list_handle_t = *mut sts_image_list_s;

/// An open event channel (opaque).
pub struct sts_evc_s {
    _private: [u8; 0],
}
/// Handle of an open event channel.
pub type sts_evc_handle_t = *mut sts_evc_s;

/// What `stspi_init` tells about the plugin.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sts_plugin_info_t {
    /// API version implemented.
    pub pi_api_version: u64,
    /// `STS_PI_*` flags.
    pub pi_flags: u32,
    /// Vendor, NUL-terminated.
    pub pi_vendor: [c_char; STS_MAX_TEXT],
    /// Plugin version, NUL-terminated.
    pub pi_version: [c_char; STS_MAX_TEXT],
    /// Storage server type (`-stype`), NUL-terminated.
    pub pi_stype: [c_char; STS_MAX_TEXT],
}

/// Credentials for `stspi_open_server` (`tpconfig -sts_user_id … -password …`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sts_cred_t {
    /// `STS_CRED_*`.
    pub cr_type: u32,
    /// User, NUL-terminated.
    pub cr_user: [c_char; STS_MAX_USER],
    /// Password, NUL-terminated.
    pub cr_password: [c_char; STS_MAX_PASSWORD],
}

/// What a storage server tells about itself.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sts_server_info_t {
    /// Server name, NUL-terminated.
    pub srv_server: [c_char; STS_MAX_STSNAME],
    /// `STS_SRV_*` flags.
    pub srv_flags: u32,
    /// Capability bitmap: bit `STS_SRVC_*` set when supported.
    pub srv_cap: [u32; STS_SRV_CAP_WORDS],
    /// Most streams the server wants at once (0: no limit).
    pub srv_maxconn: u32,
    /// Block size of the server.
    pub srv_block_size: u32,
    /// Plugin and cluster version text, NUL-terminated.
    pub srv_version: [c_char; STS_MAX_TEXT],
    /// Where the data is (directory or endpoint), NUL-terminated.
    pub srv_location: [c_char; STS_MAX_TEXT],
}

/// An LSU on a server: the server handle plus the LSU name.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sts_lsu_t {
    /// The open server.
    pub sl_server_handle: sts_server_handle_t,
    /// LSU name, NUL-terminated.
    pub sl_lsu_name: [c_char; STS_MAX_LSUNAME],
}

/// An LSU name, as `stspi_list_lsu` returns it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sts_lsu_name_t {
    /// LSU name, NUL-terminated.
    pub sln_name: [c_char; STS_MAX_LSUNAME],
}

/// What an LSU tells about itself.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sts_lsu_info_t {
    /// Server name, NUL-terminated.
    pub lsu_server: [c_char; STS_MAX_STSNAME],
    /// LSU name, NUL-terminated.
    pub lsu_name: [c_char; STS_MAX_LSUNAME],
    /// `STS_LSUF_*` flags.
    pub lsu_flags: u32,
    /// Bytes the LSU can hold.
    pub lsu_capacity: u64,
    /// Bytes used (logical).
    pub lsu_used: u64,
    /// Bytes used (physical).
    pub lsu_used_phys: u64,
    /// Bytes still free.
    pub lsu_avail: u64,
    /// Label set by `stspi_label_lsu`, NUL-terminated (empty when none).
    pub lsu_label: [c_char; STS_MAX_LABEL],
    /// With `STS_LSUF_WORM`: the shortest image lock, in seconds.
    pub lsu_worm_min: u64,
    /// With `STS_LSUF_WORM`: the longest image lock, in seconds.
    pub lsu_worm_max: u64,
}

/// An image's identity: NetBackup's basename and date.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sts_image_def_t {
    /// Basename, NUL-terminated (e.g. `client_1588173008_C1_F1`).
    pub img_basename: [c_char; STS_MAX_IMAGENAME],
    /// Date, NUL-terminated.
    pub img_date: [c_char; STS_MAX_DATE],
}

/// What an image tells about itself.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sts_image_info_t {
    /// Its identity.
    pub imo_def: sts_image_def_t,
    /// Its LSU.
    pub imo_lsu: sts_lsu_name_t,
    /// Its server, NUL-terminated.
    pub imo_server: [c_char; STS_MAX_STSNAME],
    /// Logical size in bytes.
    pub imo_size: u64,
    /// `STS_II_*` flags.
    pub imo_flags: u32,
    /// Block size (`STS_BLOCK_SIZE`).
    pub imo_block_size: u32,
    /// Creation time, seconds since the epoch.
    pub imo_create_time: u64,
    /// Time of the last change, seconds since the epoch.
    pub imo_update_time: u64,
    /// With `STS_II_WORM_LOCKED`: when the image's lock expires, seconds
    /// since the epoch (0 when it has none).
    pub imo_worm_until: u64,
}

/// Image content description passed to `stspi_write_image` (ignored by this
/// plugin; may be NULL).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sts_stat_t {
    /// Caller-defined flags.
    pub st_flags: u32,
    /// Reserved.
    pub st_reserved: [u32; 7],
}

/// An event from an event channel.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sts_event_t {
    /// Event type.
    pub ev_type: u32,
    /// Sequence number in its channel.
    pub ev_seq: u64,
    /// Time, seconds since the epoch.
    pub ev_time: u64,
    /// The image it concerns.
    pub ev_image: sts_image_info_t,
}

/// What `vastost_reclaim` did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct vastost_reclaim_t {
    /// Images looked at.
    pub vr_images_checked: u64,
    /// Deleted images whose data and metadata are now gone (the
    /// tombstone follows once older than the abandon age).
    pub vr_images_removed: u64,
    /// Deleted images kept because live images reference their data.
    pub vr_images_kept: u64,
    /// Images skipped (being written, or references in the making).
    pub vr_images_skipped: u64,
    /// Data fragments removed.
    pub vr_fragments_freed: u64,
    /// Bytes of those fragments.
    pub vr_bytes_freed: u64,
    /// Events removed after their retention time.
    pub vr_events_expired: u64,
    /// Pending images idle longer than the abandon age: data past their
    /// last checkpoint freed (or the whole image, when it had none).
    pub vr_images_abandoned: u64,
    /// Image folders with data but no commit record (damage): reported,
    /// left for inspection.
    pub vr_images_damaged: u64,
    /// Incomplete S3 multipart uploads older than the abandon age, aborted.
    pub vr_uploads_aborted: u64,
    /// 1 when the run stopped at `reclaim_max_images` before the pass was
    /// complete (the next run goes on from there), else 0.
    pub vr_more: u64,
    /// Fragments that were due to be freed but that the storage kept
    /// (locked): not counted as freed.
    pub vr_fragments_kept_locked: u64,
    /// The latest expiry of those locks (seconds since the epoch; 0: none
    /// or not told).
    pub vr_kept_until: u64,
    /// Commit records of live images that no longer ruled (each lock
    /// extension leaves the one before, kept until its lock expires),
    /// deleted.
    pub vr_records_removed: u64,
}

/// Longest snapshot name, NUL included.
pub const VASTOST_MAX_SNAPSHOT_NAME: usize = 256;
/// Longest cluster path of a snapshot, NUL included.
pub const VASTOST_MAX_PATH: usize = 1024;

/// A snapshot of an LSU's view (`vastost_snapshot_create`, `_list`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vastost_snapshot_t {
    /// The cluster's id of it.
    pub vs_id: u64,
    /// Its name, NUL-terminated.
    pub vs_name: [c_char; VASTOST_MAX_SNAPSHOT_NAME],
    /// The view's path on the cluster, NUL-terminated.
    pub vs_path: [c_char; VASTOST_MAX_PATH],
    /// When it was taken, seconds since the epoch (0 when unknown).
    pub vs_created: u64,
    /// When it expires, seconds since the epoch (0: never).
    pub vs_expires: u64,
    /// 1 when it cannot be deleted before it expires.
    pub vs_indestructible: u32,
}

/// Stored formats of this plugin and of an LSU (`vastost_lsu_formats`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct vastost_formats_t {
    /// The oldest format this plugin reads.
    pub vf_oldest_read: u32,
    /// The format this plugin writes.
    pub vf_written: u32,
    /// The newest format written to the LSU (0: no marker, see README).
    pub vf_lsu_newest: u32,
    /// The oldest format the LSU lets write to it.
    pub vf_lsu_writers_from: u32,
}

/// Counters of the plugin's memory budget (`vastost_get_stats`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct vastost_stats_t {
    /// Configured budget in bytes.
    pub vs_budget_total: u64,
    /// Bytes held now.
    pub vs_budget_in_use: u64,
    /// Most bytes held at once since `init`.
    pub vs_budget_peak: u64,
    /// Handles open now.
    pub vs_open_handles: u64,
}
