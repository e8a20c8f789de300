//! How numbers and flags are shown to people.

use std::time::Duration;

use bytesize::ByteSize;
use vastost_ost::*;

/// A time given in seconds since the epoch, in UTC (`2026-12-06 19:20:00Z`).
pub fn time(secs: u64) -> String {
    match jiff::Timestamp::from_second(i64::try_from(secs).unwrap_or(i64::MAX)) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
        Err(_) => secs.to_string(),
    }
}

/// A span of seconds in the largest whole unit (90s, 30m, 12h, 7d, 1y).
pub fn span(secs: u64) -> String {
    for (unit, len) in [("y", 365 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= len && secs.is_multiple_of(len) {
            return format!("{}{unit}", secs / len);
        }
    }
    format!("{secs}s")
}

/// `1.0 GiB`.
pub fn size(bytes: u64) -> String {
    ByteSize(bytes).display().iec().to_string()
}

/// `812.4 MiB/s`.
pub fn rate(bytes: u64, elapsed: Duration) -> String {
    format!("{:.1} MiB/s", mib_per_s(bytes, elapsed))
}

/// Throughput in MiB/s.
pub fn mib_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// `PENDING|BUSY_WRITE`.
pub fn image_flags(flags: u32) -> String {
    let names = [
        (STS_II_IMAGE_PENDING, "PENDING"),
        (STS_II_IMAGE_CREATED, "CREATED"),
        (STS_II_BUSY_WRITE, "BUSY_WRITE"),
        (STS_II_BUSY_READ, "BUSY_READ"),
        (STS_II_WORM_LOCKED, "WORM_LOCKED"),
        (VASTOST_II_DAMAGED, "DAMAGED"),
        (VASTOST_II_NEWER_FORMAT, "NEWER_FORMAT"),
    ];
    join(flags, &names)
}

/// `DISK|CRED`.
pub fn server_flags(flags: u32) -> String {
    let names = [
        (STS_SRV_DISK, "DISK"),
        (STS_SRV_CRED, "CRED"),
        (STS_SRV_IMAGE_COPY, "IMAGE_COPY"),
        (STS_SRV_EVENTS, "EVENTS"),
    ];
    join(flags, &names)
}

/// `DISK|ACTIVE|STORAGE_FREED`.
pub fn lsu_flags(flags: u32) -> String {
    let names = [
        (STS_LSUF_DISK, "DISK"),
        (STS_LSUF_ACTIVE, "ACTIVE"),
        (STS_LSUF_STORAGE_FREED, "STORAGE_FREED"),
        (STS_LSUF_STORAGE_NOT_FREED, "STORAGE_NOT_FREED"),
        (STS_LSUF_WORM, "WORM"),
        (STS_LSUF_WORM_COMPLIANCE, "WORM_COMPLIANCE"),
        (VASTOST_LSUF_UNCONDITIONAL_WRITES, "UNCONDITIONAL_WRITES"),
        (VASTOST_LSUF_UNCONDITIONAL_ALLOWED, "UNCONDITIONAL_ALLOWED"),
        (VASTOST_LSUF_LOCKED_BY_DEFAULT, "LOCKED_BY_DEFAULT"),
        (VASTOST_LSUF_BOOKKEEPING_LOCKED, "BOOKKEEPING_LOCKED"),
    ];
    join(flags, &names)
}

fn join(flags: u32, names: &[(u32, &str)]) -> String {
    let v: Vec<&str> = names.iter().filter(|(bit, _)| flags & bit != 0).map(|(_, n)| *n).collect();
    if v.is_empty() { "-".into() } else { v.join("|") }
}

/// Capability names for `server-info`.
pub const CAPABILITIES: [(u32, &str); 16] = [
    (STS_SRVC_CREATE_IMAGE, "create_image"),
    (STS_SRVC_READ_IMAGE, "read_image"),
    (STS_SRVC_DELETE_IMAGE, "delete_image"),
    (STS_SRVC_WRITE_IMAGE_RANDOM, "write_image_random"),
    (STS_SRVC_FLUSH, "flush"),
    (STS_SRVC_CHECKPOINT, "checkpoint_restart"),
    (STS_SRVC_LIST_IMAGE, "list_image"),
    (STS_SRVC_IMAGE_META, "image_meta"),
    (STS_SRVC_LABEL_LSU, "label_lsu"),
    (STS_SRVC_OPEN_TARGET_SERVER, "open_target_server"),
    (STS_SRVC_COPY_EXTENT, "copy_extent"),
    (STS_SRVC_COPY_IMAGE, "copy_image"),
    (STS_SRVC_ASYNC_COPY_IMAGE, "async_copy_image"),
    (STS_SRVC_NAMED_ASYNC_COPY, "named_async_copy"),
    (STS_SRVC_INCLUDE_IN_IMAGE, "include_in_image"),
    (STS_SRVC_EVENTS, "events"),
];
