//! Hostile and careless callers: NULL pointers, stale, double-closed,
//! foreign and wrong-kind handles, bad sizes and names. Each gets its
//! defined status and a message; nothing crashes.

use std::ffi::{c_char, c_int};
use std::ptr::{null, null_mut};

use vastost_loader::{image_def, zeroed_image_info, zeroed_lsu_info, zeroed_server_info};
use vastost_ost::sts_status::*;
use vastost_ost::*;

use crate::{fixture, open};

fn code(st: c_int) -> sts_status {
    sts_status::from_code(st).unwrap_or_else(|| panic!("unknown status {st}"))
}

/// Asserts the status and that the plugin left a message for it.
fn expect(st: c_int, want: sts_status) {
    assert_eq!(code(st), want, "{}", fixture().plugin.last_error());
    assert!(!fixture().plugin.last_error().is_empty(), "a failure leaves a message");
}

#[test]
fn null_pointers_are_invalid_arguments() {
    let (s, lsu) = open("small", "nulls");
    let api = fixture().plugin.api();
    let l = s.lsu(&lsu).unwrap();
    let def = image_def("img", "1").unwrap();
    let mut img = s.create_image(&lsu, "img", "1").unwrap();
    let raw = img.raw();
    let mut n = 0u64;
    let buf = [0u8; 512];
    // SAFETY: every call passes NULL where the ABI allows the plugin to
    // reject it, and valid memory everywhere else.
    unsafe {
        expect((api.stspi_claim)(null()), STS_EINVAL);
        expect((api.stspi_open_server)(null(), null(), null_mut()), STS_EINVAL);
        expect((api.stspi_open_server)(c"VastData:small".as_ptr(), null(), null_mut()), STS_EINVAL);
        expect((api.stspi_get_server_prop)(s.raw(), null_mut()), STS_EINVAL);
        expect((api.stspi_get_server_prop)(null_mut(), &mut zeroed_server_info()), STS_EINVAL);
        expect((api.stspi_get_server_prop_byname)(null(), &mut zeroed_server_info()), STS_EINVAL);
        expect((api.stspi_open_lsu_list)(s.raw(), null_mut()), STS_EINVAL);
        expect((api.stspi_list_lsu)(null_mut(), null_mut()), STS_EINVAL);
        expect((api.stspi_get_lsu_prop_byname)(null(), &mut zeroed_lsu_info()), STS_EINVAL);
        expect((api.stspi_get_lsu_prop_byname)(&l, null_mut()), STS_EINVAL);
        expect((api.stspi_label_lsu)(&l, null()), STS_EINVAL);
        let mut found = 0usize;
        expect((api.vastost_image_dates)(&l, null(), null_mut(), 0, &mut found), STS_EINVAL);
        expect((api.vastost_image_dates)(null(), c"img".as_ptr(), null_mut(), 0, &mut found), STS_EINVAL);
        expect((api.vastost_image_dates)(&l, c"img".as_ptr(), null_mut(), 1, &mut found), STS_EINVAL);
        expect((api.vastost_image_dates)(&l, c"../..".as_ptr(), null_mut(), 0, &mut found), STS_EINVAL);
        expect((api.vastost_lsu_audit)(null(), null_mut(), 0, null_mut()), STS_EINVAL);
        expect((api.stspi_create_image)(null(), &def, 0, &mut null_mut()), STS_EINVAL);
        expect((api.stspi_create_image)(&l, null(), 0, &mut null_mut()), STS_EINVAL);
        expect((api.stspi_create_image)(&l, &image_def("other", "1").unwrap(), 0, null_mut()), STS_EINVAL);
        expect((api.stspi_open_image)(&l, null(), STS_O_READ, &mut null_mut()), STS_EINVAL);
        expect((api.stspi_write_image)(raw, null(), null(), 512, 0, &mut n), STS_EINVAL);
        expect((api.stspi_write_image)(raw, null(), buf.as_ptr().cast(), 512, 0, null_mut()), STS_EINVAL);
        expect((api.stspi_write_image)(null_mut(), null(), buf.as_ptr().cast(), 512, 0, &mut n), STS_EINVAL);
        expect((api.stspi_read_image)(raw, null_mut(), 512, 0, &mut n), STS_EINVAL);
        expect((api.stspi_get_image_prop)(raw, null_mut()), STS_EINVAL);
        expect((api.stspi_get_image_prop_byname)(&l, &def, null_mut()), STS_EINVAL);
        expect((api.stspi_open_image_list)(&l, null_mut()), STS_EINVAL);
        expect((api.stspi_list_image)(null_mut(), &mut zeroed_image_info()), STS_EINVAL);
        expect((api.stspi_write_image_meta)(raw, null(), 10, 0, &mut n), STS_EINVAL);
        expect((api.stspi_read_image_meta)(raw, null_mut(), 10, 0, &mut n), STS_EINVAL);
        expect((api.stspi_delete_image)(&l, null(), 0), STS_EINVAL);
        expect((api.stspi_close_image)(null_mut(), STS_CLOSEF_IH_COMPLETE), STS_EINVAL);
        expect((api.stspi_close_server)(null_mut()), STS_EINVAL);
        expect((api.vastost_get_stats)(null_mut()), STS_EINVAL);
        // A zero-length write may come with a NULL buffer.
        assert_eq!(code((api.stspi_write_image)(raw, null(), null(), 0, 0, &mut n)), STS_EOK);
        assert_eq!((api.vastost_last_error)(null_mut(), 0), 0, "a success clears the message");
    }
    img.write(&buf, 0).unwrap();
    img.close(true).unwrap();
}

#[test]
fn stale_double_closed_foreign_and_wrong_kind_handles() {
    let (s, lsu) = open("small", "handles");
    let api = fixture().plugin.api();
    let mut img = s.create_image(&lsu, "h", "1").unwrap();
    img.write(&[1u8; 512], 0).unwrap();
    let image_raw = img.raw();
    img.close(true).unwrap();
    let server_raw = s.raw();
    let mut n = 0u64;
    let mut buf = [0u8; 512];
    let mut local = 0u64;
    let foreign: stsp_image_handle_t = (&mut local as *mut u64).cast();
    // SAFETY: the handles are invalid on purpose; the plugin must never
    // dereference them. Every other pointer is valid.
    unsafe {
        expect((api.stspi_close_image)(image_raw, STS_CLOSEF_IH_COMPLETE), STS_EBADHANDLE);
        expect((api.stspi_write_image)(image_raw, null(), buf.as_ptr().cast(), 512, 0, &mut n), STS_EBADHANDLE);
        expect((api.stspi_read_image)(image_raw, buf.as_mut_ptr().cast(), 512, 0, &mut n), STS_EBADHANDLE);
        expect((api.stspi_read_image)(foreign, buf.as_mut_ptr().cast(), 512, 0, &mut n), STS_EBADHANDLE);
        expect((api.stspi_flush)(0x1 as stsp_image_handle_t), STS_EBADHANDLE);
        expect((api.stspi_get_image_prop)(usize::MAX as stsp_image_handle_t, &mut zeroed_image_info()), STS_EBADHANDLE);
        // A server handle where an image handle belongs, and the reverse.
        expect((api.stspi_read_image)(server_raw.cast(), buf.as_mut_ptr().cast(), 512, 0, &mut n), STS_EBADHANDLE);
        expect((api.stspi_close_image)(server_raw.cast(), 1), STS_EBADHANDLE);
        expect((api.stspi_close_lsu_list)(server_raw.cast()), STS_EBADHANDLE);
        let r = s.open_image(&lsu, "h", "1", STS_O_READ).unwrap();
        expect((api.stspi_close_server)(r.raw().cast()), STS_EBADHANDLE);
        expect((api.stspi_get_server_prop)(r.raw().cast(), &mut zeroed_server_info()), STS_EBADHANDLE);
        drop(r);
        // A stale server handle inside an sts_lsu_t.
        let other = fixture().plugin.open_server("VastData:small", None).unwrap();
        let stale = other.lsu(&lsu).unwrap();
        other.close().unwrap();
        expect((api.stspi_get_lsu_prop_byname)(&stale, &mut zeroed_lsu_info()), STS_EBADHANDLE);
        expect((api.stspi_close_server)(stale.sl_server_handle), STS_EBADHANDLE);
    }
}

#[test]
fn bad_lengths_offsets_modes_and_flags() {
    let (s, lsu) = open("small", "bad_sizes");
    let api = fixture().plugin.api();
    let mut img = s.create_image(&lsu, "sizes", "1").unwrap();
    let buf = vec![0u8; 4096];
    let mut n = 0u64;
    // SAFETY: valid pointers; only lengths, offsets and flags are wrong.
    unsafe {
        for (len, off) in [(100, 0), (513, 0), (512, 100), (1024, 511)] {
            expect((api.stspi_write_image)(img.raw(), null(), buf.as_ptr().cast(), len, off, &mut n), STS_EINVAL);
        }
        expect(
            (api.stspi_write_image)(img.raw(), null(), buf.as_ptr().cast(), 512, u64::MAX - 511, &mut n),
            STS_EINVAL,
        );
        expect((api.stspi_close_image)(img.raw(), 7), STS_EINVAL);
        let l = s.lsu(&lsu).unwrap();
        let mut h = null_mut();
        expect((api.stspi_open_image)(&l, &image_def("sizes", "1").unwrap(), 0x40, &mut h), STS_EINVAL);
    }
    // Reading from a writer and writing to a reader are refused.
    assert_eq!(crate::status(img.read(&mut [0u8; 512], 0)), STS_EINVAL);
    img.write(&buf, 0).unwrap();
    img.close(true).unwrap();
    let mut r = s.open_image(&lsu, "sizes", "1", STS_O_READ).unwrap();
    assert_eq!(crate::status(r.write(&buf, 0)), STS_EINVAL);
    assert_eq!(crate::status(r.read(&mut [0u8; 700], 0)), STS_EINVAL);
}

#[test]
fn hostile_names_never_escape_the_lsu() {
    let (s, lsu) = open("small", "names");
    let long = "n".repeat(300);
    for bad in ["../x", "..", ".", "", "a/b", "a\\b", "tab\there", "nl\nx", "\u{1b}[31m"] {
        assert_eq!(crate::status(s.create_image(&lsu, bad, "1")), STS_EINVAL, "basename {bad:?}");
        assert_eq!(crate::status(s.create_image(&lsu, "ok", bad)), STS_EINVAL, "date {bad:?}");
        assert_eq!(crate::status(s.image_info(&lsu, bad, "1")), STS_EINVAL, "{bad:?}");
        assert_eq!(crate::status(s.delete_image(&lsu, bad, "1")), STS_EINVAL, "{bad:?}");
    }
    for bad_lsu in ["../names", "..", "", ".vastost", "/etc", "a/b"] {
        assert!(matches!(crate::status(s.create_image(bad_lsu, "x", "1")), STS_EINVAL | STS_ENOLSU), "lsu {bad_lsu:?}");
    }
    // A name that fills its field without a terminating NUL.
    let api = fixture().plugin.api();
    let mut def = image_def("x", "1").unwrap();
    def.img_basename = [b'z' as c_char; STS_MAX_IMAGENAME];
    let mut h = null_mut();
    // SAFETY: valid pointers; the struct's string is unterminated on purpose.
    unsafe { expect((api.stspi_create_image)(&s.lsu(&lsu).unwrap(), &def, 0, &mut h), STS_EINVAL) };
    // Names that do not fit their field are refused with their length
    // before any call, never cut into another name.
    let err = s.create_image(&lsu, &long, "1").unwrap_err();
    assert_eq!(err.code(), Some(STS_EINVAL));
    assert!(err.message.contains(&format!("{} bytes", long.len())), "{err}");
    let multibyte = "é".repeat(128);
    let err = s.create_image(&lsu, &multibyte, "1").unwrap_err();
    assert!(err.message.contains("256 bytes"), "{err}");
    assert_eq!(crate::status(s.image_info(&lsu, &long, "1")), STS_EINVAL);
    assert!(s.images(&lsu).unwrap().is_empty(), "nothing was created under a cut name");
    // A name of exactly 255 bytes fits (its keys are then ~320 bytes on S3).
    let fits = "y".repeat(255);
    s.create_image(&lsu, &fits, "1").unwrap().close(true).unwrap();
    assert_eq!(s.image_info(&lsu, &fits, "1").unwrap().basename, fits);
    // Nothing was written outside the LSU's folder.
    let parent: Vec<_> = std::fs::read_dir(&fixture().data).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!parent.iter().any(|n| n == "x" || n == "images"), "{parent:?}");
}

#[test]
fn copy_and_event_calls_refuse_null_and_foreign_handles() {
    let (s, lsu) = open("small", "copy_args");
    let api = fixture().plugin.api();
    let l = s.lsu(&lsu).unwrap();
    let d = image_def("a", "1").unwrap();
    let mut n = 0u64;
    let mut h = null_mut();
    let mut ev = null_mut();
    let mut event = sts_event_t { ev_type: 0, ev_seq: 0, ev_time: 0, ev_image: zeroed_image_info() };
    let bogus: sts_server_handle_t = std::ptr::without_provenance_mut(0x5653_0000_0008);
    // SAFETY: valid, NULL or bogus pointers: the plugin must check each.
    unsafe {
        expect((api.stspi_open_target_server)(null_mut(), c"VastData:big".as_ptr(), null(), &mut h), STS_EINVAL);
        expect((api.stspi_open_target_server)(bogus, c"VastData:big".as_ptr(), null(), &mut h), STS_EBADHANDLE);
        expect((api.stspi_open_target_server)(s.raw(), null(), null(), &mut h), STS_EINVAL);
        expect((api.stspi_open_target_server)(s.raw(), c"VastData:big".as_ptr(), null(), null_mut()), STS_EINVAL);
        expect((api.stspi_open_target_server)(s.raw(), c"Other:x".as_ptr(), null(), &mut h), STS_ECLAIM);
        expect((api.stspi_copy_extent)(null_mut(), null_mut(), 0, 0, 512, 0, &mut n), STS_EINVAL);
        expect((api.stspi_copy_extent)(bogus.cast(), bogus.cast(), 0, 0, 512, 0, &mut n), STS_EINVAL);
        expect((api.stspi_copy_extent)(bogus.cast(), s.raw().cast(), 0, 0, 512, 0, &mut n), STS_EBADHANDLE);
        expect((api.stspi_copy_extent)(s.raw().cast(), bogus.cast(), 0, 0, 512, 0, null_mut()), STS_EINVAL);
        expect((api.stspi_copy_image)(null(), &d, &l, &d, 0), STS_EINVAL);
        expect((api.stspi_copy_image)(&l, &d, &l, &image_def("b", "1").unwrap(), 0), STS_ENOIMAGE);
        expect((api.stspi_copy_image)(&l, &d, &l, &d, 7), STS_EINVAL);
        expect((api.stspi_async_copy_image)(&l, &d, &l, &d, 0, null_mut()), STS_EINVAL);
        expect((api.stspi_named_async_copy_image)(&l, &d, &l, &d, null(), 0), STS_EINVAL);
        expect((api.stspi_named_async_wait)(s.raw(), c"op".as_ptr(), 0, &mut n), STS_ENOCOPY);
        expect((api.stspi_named_async_wait)(s.raw(), c"op".as_ptr(), 0, null_mut()), STS_EINVAL);
        expect((api.stspi_named_async_cancel)(bogus, c"op".as_ptr()), STS_EBADHANDLE);
        expect((api.stspi_include_in_image)(null_mut(), null_mut(), 0, 0, 512), STS_EINVAL);
        expect((api.stspi_include_in_image)(s.raw().cast(), bogus.cast(), 0, 0, 512), STS_EBADHANDLE);
        expect((api.stspi_open_evchannel)(s.raw(), 0, null_mut()), STS_EINVAL);
        expect((api.stspi_open_evchannel)(s.raw(), 0x40, &mut ev), STS_EINVAL);
        expect((api.stspi_open_evchannel)(bogus, 0, &mut ev), STS_EBADHANDLE);
        expect((api.stspi_get_event)(s.raw().cast(), &mut event), STS_EBADHANDLE);
        expect((api.stspi_get_event)(null_mut(), &mut event), STS_EINVAL);
        expect((api.stspi_delete_event)(null_mut(), null()), STS_EINVAL);
        expect((api.stspi_close_evchannel)(s.raw().cast()), STS_EBADHANDLE);
        // A channel closed twice: the second is a stale handle.
        assert_eq!((api.stspi_open_evchannel)(s.raw(), 0, &mut ev), 0);
        expect((api.stspi_get_event)(ev, null_mut()), STS_EINVAL);
        expect((api.stspi_delete_event)(ev, &event), STS_EINVAL);
        assert_eq!((api.stspi_close_evchannel)(ev), 0);
        expect((api.stspi_close_evchannel)(ev), STS_EBADHANDLE);
        expect((api.vastost_reclaim)(bogus, null(), 0, -1, null_mut()), STS_EBADHANDLE);
        expect((api.vastost_reclaim)(s.raw(), c"no-such".as_ptr(), 0, -1, null_mut()), STS_EINVAL);
    }
}

#[test]
fn every_status_has_a_description() {
    let p = &fixture().plugin;
    for st in ALL_STATUSES {
        let text = p.strerror(st as c_int);
        assert!(!text.is_empty() && text != "unknown status", "{st:?}");
    }
    assert_eq!(p.strerror(12345), "unknown status");
    assert!(p.version().starts_with(vastost_abi::VERSION));
}
