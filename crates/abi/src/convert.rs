//! Every conversion between C and Rust: pointer checks, C strings, and the
//! OST structs to and from engine types. With `ost.rs`, the only file that
//! would change for a build against the official OST header.

use std::ffi::{c_char, c_void};

use vastost_engine::{
    Credentials, ImageDef, ImageInfo, ImageState, LsuFormats, LsuInfo, ServerInfo, Unreadable, WormMode,
};

use crate::failure::Failure;
use crate::ost::*;

/// Borrows the struct behind a pointer given by the caller.
///
/// # Safety
/// `p` is NULL or points to a valid, initialised `T` for the call's duration.
/// The struct a caller passed, refused when NULL.
pub(crate) fn given<'a, T>(p: Option<&'a T>, what: &'static str) -> Result<&'a T, Failure> {
    p.ok_or_else(|| Failure::null(what))
}

/// Where a caller wants an output written, refused when NULL.
pub(crate) fn given_mut<'a, T>(p: Option<&'a mut T>, what: &'static str) -> Result<&'a mut T, Failure> {
    p.ok_or_else(|| Failure::null(what))
}

/// Borrows `len` bytes of input at `p`.
///
/// # Safety
/// `p` is NULL or valid for reads of `len` bytes.
pub(crate) unsafe fn bytes_in<'a>(p: *const c_void, len: u64, what: &'static str) -> Result<&'a [u8], Failure> {
    let len = usize::try_from(len).map_err(|_| Failure::invalid(format!("{what}: length {len} is too large")))?;
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL, and the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// Borrows `len` bytes of output at `p`.
///
/// # Safety
/// `p` is NULL or valid for writes of `len` bytes.
pub(crate) unsafe fn bytes_out<'a>(p: *mut c_void, len: u64, what: &'static str) -> Result<&'a mut [u8], Failure> {
    let len = usize::try_from(len).map_err(|_| Failure::invalid(format!("{what}: length {len} is too large")))?;
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL, and the caller guarantees `len` writable bytes.
    Ok(unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) })
}

/// Copies `text` into `buf` as a NUL-terminated string, cut to fit `len`
/// bytes (nothing when `buf` is NULL or `len` is 0); answers the text's
/// full length.
///
/// # Safety
/// `buf` is NULL or valid for `len` writable bytes.
pub(crate) unsafe fn text_out(text: &str, buf: *mut c_char, len: usize) -> usize {
    if !buf.is_null() && len > 0 {
        let n = text.len().min(len - 1);
        // SAFETY: `buf` holds `len` bytes by contract; we write `n + 1 <= len`.
        let dst = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
        dst[..n].copy_from_slice(&text.as_bytes()[..n]);
        dst[n] = 0;
    }
    text.len()
}

/// Reads a NUL-terminated string argument, looking at most at `max` bytes.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string, or to at least `max`
/// readable bytes.
pub(crate) unsafe fn str_arg(p: *const c_char, what: &'static str, max: usize) -> Result<String, Failure> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    let mut len = 0;
    // SAFETY: we stop at the first NUL or at `max`, within the caller's bounds.
    while len < max && unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    if len == max {
        return Err(Failure::invalid(format!("{what} is longer than {} bytes or not terminated", max - 1)));
    }
    // SAFETY: `len` bytes were just read one by one.
    let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) };
    String::from_utf8(bytes.to_vec()).map_err(|_| Failure::invalid(format!("{what} is not valid UTF-8")))
}

/// Reads a fixed-size C string field.
pub(crate) fn field_str<const N: usize>(field: &[c_char; N], what: &'static str) -> Result<String, Failure> {
    let bytes: Vec<u8> = field.iter().map(|c| *c as u8).collect();
    let len = bytes
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| Failure::invalid(format!("{what} is not NUL-terminated within {N} bytes")))?;
    String::from_utf8(bytes[..len].to_vec()).map_err(|_| Failure::invalid(format!("{what} is not valid UTF-8")))
}

/// Fills a fixed-size C string field, truncating on a character boundary.
pub(crate) fn set_field<const N: usize>(field: &mut [c_char; N], value: &str) {
    let mut end = value.len().min(N - 1);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    field.fill(0);
    for (dst, src) in field.iter_mut().zip(&value.as_bytes()[..end]) {
        *dst = *src as c_char;
    }
}

/// A fixed-size C string field holding `value`.
pub(crate) fn field<const N: usize>(value: &str) -> [c_char; N] {
    let mut f = [0; N];
    set_field(&mut f, value);
    f
}

/// The storage server's user and password, if the caller gave any.
pub(crate) fn credentials(c: &sts_cred_t) -> Result<Option<Credentials>, Failure> {
    match c.cr_type {
        STS_CRED_NONE => Ok(None),
        STS_CRED_CLEAR => {
            let user = field_str(&c.cr_user, "cr_user")?;
            let password = field_str(&c.cr_password, "cr_password")?;
            Ok((!user.is_empty()).then_some(Credentials { user, password }))
        }
        other => Err(Failure::invalid(format!("unknown credential type {other}"))),
    }
}

pub(crate) fn image_def(def: &sts_image_def_t) -> Result<ImageDef, Failure> {
    let basename = field_str(&def.img_basename, "img_basename")?;
    let date = field_str(&def.img_date, "img_date")?;
    Ok(ImageDef::new(&basename, &date)?)
}

pub(crate) fn image_def_to_c(def: &ImageDef) -> sts_image_def_t {
    sts_image_def_t { img_basename: field(def.basename()), img_date: field(def.date()) }
}

pub(crate) fn image_info_to_c(info: &ImageInfo, server: &str) -> sts_image_info_t {
    let mut flags = match info.state {
        _ if matches!(info.unreadable, Some(Unreadable::Damaged(_))) => VASTOST_II_DAMAGED,
        _ if matches!(info.unreadable, Some(Unreadable::NewerFormat { .. })) => VASTOST_II_NEWER_FORMAT,
        ImageState::Pending => STS_II_IMAGE_PENDING,
        ImageState::Created => STS_II_IMAGE_CREATED,
        ImageState::Deleted => 0,
    };
    if info.busy.writing {
        flags |= STS_II_BUSY_WRITE;
    }
    if info.busy.reading {
        flags |= STS_II_BUSY_READ;
    }
    if info.lock.is_some_and(|l| l.holds_now()) {
        flags |= STS_II_WORM_LOCKED;
    }
    sts_image_info_t {
        imo_def: image_def_to_c(&info.def),
        imo_lsu: sts_lsu_name_t { sln_name: field(&info.lsu) },
        imo_server: field(server),
        imo_size: info.size,
        imo_flags: flags,
        imo_block_size: STS_BLOCK_SIZE,
        imo_create_time: info.created,
        imo_update_time: info.updated,
        imo_worm_until: info.lock.map_or(0, |l| l.until),
    }
}

/// Writes the first `count` of `images` (of server `server`) into the
/// caller's array `infos`.
///
/// # Safety
/// `infos` is NULL or valid for `count` writable entries.
pub(crate) unsafe fn image_infos_out(
    images: &[ImageInfo],
    server: &str,
    infos: *mut sts_image_info_t,
    count: usize,
) -> Result<(), Failure> {
    if count == 0 {
        return Ok(());
    }
    if infos.is_null() {
        return Err(Failure::null("infos"));
    }
    // SAFETY: `infos` holds `count` writable entries by contract.
    let out = unsafe { std::slice::from_raw_parts_mut(infos, count) };
    for (slot, image) in out.iter_mut().zip(images) {
        *slot = image_info_to_c(image, server);
    }
    Ok(())
}

// The header states the formats; the engine writes them.
const _: () = assert!(
    VASTOST_FORMAT_WRITTEN == vastost_engine::format::WRITTEN
        && VASTOST_FORMAT_OLDEST_READ == vastost_engine::format::OLDEST_READ
);

pub(crate) fn formats_to_c(lsu: &LsuFormats) -> vastost_formats_t {
    vastost_formats_t {
        vf_oldest_read: VASTOST_FORMAT_OLDEST_READ,
        vf_written: VASTOST_FORMAT_WRITTEN,
        vf_lsu_newest: lsu.newest().unwrap_or(0),
        vf_lsu_writers_from: lsu.writers_from,
    }
}

pub(crate) fn lsu_info_to_c(info: &LsuInfo, server: &str) -> sts_lsu_info_t {
    sts_lsu_info_t {
        lsu_server: field(server),
        lsu_name: field(&info.name),
        lsu_flags: STS_LSUF_DISK
            | STS_LSUF_ACTIVE
            | STS_LSUF_STORAGE_FREED
            | if info.conditional_writes == Some(false) { VASTOST_LSUF_UNCONDITIONAL_WRITES } else { 0 }
            | if info.unconditional_allowed { VASTOST_LSUF_UNCONDITIONAL_ALLOWED } else { 0 }
            | match (info.default_lock_secs, info.bookkeeping_apart) {
                (Some(_), false) => VASTOST_LSUF_LOCKED_BY_DEFAULT | VASTOST_LSUF_BOOKKEEPING_LOCKED,
                (Some(_), true) => VASTOST_LSUF_LOCKED_BY_DEFAULT,
                (None, _) => 0,
            }
            | match info.worm.map(|w| w.mode) {
                Some(WormMode::Compliance) => STS_LSUF_WORM | STS_LSUF_WORM_COMPLIANCE,
                Some(WormMode::Governance) => STS_LSUF_WORM,
                None => 0,
            },
        lsu_capacity: info.capacity,
        lsu_used: info.used,
        lsu_used_phys: info.used,
        lsu_avail: info.available,
        lsu_label: field(info.label.as_deref().unwrap_or("")),
        lsu_worm_min: info.worm.map_or(0, |w| w.min_secs),
        lsu_worm_max: info.worm.map_or(0, |w| w.max_secs),
    }
}

/// Capabilities that work in this build; everything else answers
/// `STS_ENOTSUP`.
pub(crate) const SUPPORTED: [u32; 16] = [
    STS_SRVC_CREATE_IMAGE,
    STS_SRVC_READ_IMAGE,
    STS_SRVC_DELETE_IMAGE,
    STS_SRVC_WRITE_IMAGE_RANDOM,
    STS_SRVC_FLUSH,
    STS_SRVC_CHECKPOINT,
    STS_SRVC_LIST_IMAGE,
    STS_SRVC_IMAGE_META,
    STS_SRVC_LABEL_LSU,
    STS_SRVC_OPEN_TARGET_SERVER,
    STS_SRVC_COPY_EXTENT,
    STS_SRVC_COPY_IMAGE,
    STS_SRVC_ASYNC_COPY_IMAGE,
    STS_SRVC_NAMED_ASYNC_COPY,
    STS_SRVC_INCLUDE_IN_IMAGE,
    STS_SRVC_EVENTS,
];

pub(crate) fn server_info_to_c(info: &ServerInfo) -> sts_server_info_t {
    let mut cap = [0u32; STS_SRV_CAP_WORDS];
    for bit in SUPPORTED {
        cap[(bit / 32) as usize] |= 1 << (bit % 32);
    }
    sts_server_info_t {
        srv_server: field(&info.name),
        srv_flags: STS_SRV_DISK | STS_SRV_CRED | STS_SRV_IMAGE_COPY | STS_SRV_EVENTS,
        srv_cap: cap,
        srv_maxconn: 0,
        srv_block_size: STS_BLOCK_SIZE,
        srv_version: field(&match &info.cluster {
            Some(cluster) => {
                format!("vastost {} ({} data path), cluster {cluster}", crate::version::VERSION, info.data_path)
            }
            None => format!("vastost {} ({} data path)", crate::version::VERSION, info.data_path),
        }),
        srv_location: field(&info.location),
    }
}

/// An event as `stspi_get_event` returns it; `seq` numbers it in its
/// channel.
pub(crate) fn event_to_c(e: &vastost_engine::Event, seq: u64, server: &str) -> sts_event_t {
    use vastost_engine::EventKind;
    let (ev_type, flags) = match e.kind {
        EventKind::ImageCreated => (STS_EVT_IMAGE_CREATED, STS_II_IMAGE_CREATED),
        EventKind::ImageDeleted => (STS_EVT_IMAGE_DELETED, 0),
        EventKind::CopyDone => (STS_EVT_COPY_DONE, STS_II_IMAGE_CREATED),
        EventKind::Replicated => (STS_EVT_REPLICATION, STS_II_IMAGE_CREATED),
    };
    sts_event_t {
        ev_type,
        ev_seq: seq,
        ev_time: e.time,
        ev_image: sts_image_info_t {
            imo_def: sts_image_def_t { img_basename: field(&e.basename), img_date: field(&e.date) },
            imo_lsu: sts_lsu_name_t { sln_name: field(&e.lsu) },
            imo_server: field(server),
            imo_size: e.size,
            imo_flags: flags,
            imo_block_size: STS_BLOCK_SIZE,
            imo_create_time: e.time,
            imo_update_time: e.time,
            imo_worm_until: 0,
        },
    }
}

pub(crate) fn snapshot_to_c(s: &vastost_engine::Snapshot) -> vastost_snapshot_t {
    vastost_snapshot_t {
        vs_id: s.id,
        vs_name: field(&s.name),
        vs_path: field(&s.path),
        vs_created: s.created,
        vs_expires: s.expires.unwrap_or(0),
        vs_indestructible: u32::from(s.indestructible),
    }
}

pub(crate) fn reclaim_to_c(r: &vastost_engine::ReclaimReport) -> vastost_reclaim_t {
    vastost_reclaim_t {
        vr_images_checked: r.images_checked,
        vr_images_removed: r.images_removed,
        vr_images_kept: r.images_kept,
        vr_images_skipped: r.images_skipped,
        vr_fragments_freed: r.fragments_freed,
        vr_bytes_freed: r.bytes_freed,
        vr_events_expired: r.events_expired,
        vr_images_abandoned: r.images_abandoned,
        vr_images_damaged: r.images_damaged,
        vr_uploads_aborted: r.uploads_aborted,
        vr_more: u64::from(r.more),
        vr_fragments_kept_locked: r.fragments_kept_locked,
        vr_kept_until: r.kept_until,
        vr_records_removed: r.records_removed,
    }
}
