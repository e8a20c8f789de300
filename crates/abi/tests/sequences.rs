//! Random sequences of C calls with random arguments (a seeded fuzzer that
//! runs on the stable toolchain, in every test run): valid, closed, stale,
//! wrong-kind and made-up handles; aligned and unaligned offsets and
//! lengths; hostile names. Every call must return a known status, nothing
//! may crash or hang, and when the caller closes what it holds, no handle
//! and no buffer stays behind. `VASTOST_FUZZ_SEED` and
//! `VASTOST_FUZZ_CALLS` change the run (the defaults run in CI).

use vastost_testkit as support;

use std::ffi::{CString, c_int};
use std::ptr::{null, null_mut};

use vastost_loader::{image_def, zeroed_image_info, zeroed_lsu_info};
use vastost_ost::*;

const NAMES: [&str; 6] = ["a", "b", "c_1588173008_C1_F1", "../escape", "x/y", "\u{7f}ctl"];

fn pick<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn random_call_sequences_never_crash_or_leak() {
    let seed = env_u64("VASTOST_FUZZ_SEED", 20261122);
    let calls = env_u64("VASTOST_FUZZ_CALLS", 4000);
    // A process of its own: the handle and buffer counts are global.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("fuzz")).unwrap();
    let config = support::write_config(dir.path(), &data, "64MiB");
    let plugin = &support::load();
    plugin.init(Some(&config)).unwrap();
    let server = plugin.open_server("VastData:small", None).unwrap();
    let lsu = "fuzz";
    let api = plugin.api();
    let before = plugin.stats().unwrap();
    let mut rng = fastrand::Rng::with_seed(seed);
    let l = server.lsu(lsu).unwrap();
    let mut images: Vec<stsp_image_handle_t> = Vec::new();
    let mut closed: Vec<stsp_image_handle_t> = Vec::new();
    let mut channels: Vec<sts_evc_handle_t> = Vec::new();
    let bogus: Vec<stsp_image_handle_t> = vec![
        null_mut(),
        std::ptr::without_provenance_mut(8),
        std::ptr::without_provenance_mut(0x5653_0000_0000 + 16 * 99_999),
        server.raw().cast(),
    ];
    let mut buf = vec![0u8; 256 << 10];
    let mut statuses = std::collections::BTreeMap::<i32, u64>::new();
    for _ in 0..calls {
        let def = image_def(pick(&mut rng, &NAMES), pick(&mut rng, &["1", "2", ".."])).unwrap();
        let handle = match rng.u8(..10) {
            0..=5 if !images.is_empty() => images[rng.usize(..images.len())],
            6 | 7 if !closed.is_empty() => closed[rng.usize(..closed.len())],
            _ => pick(&mut rng, &bogus),
        };
        let other = if images.is_empty() { null_mut() } else { images[rng.usize(..images.len())] };
        let len = match rng.u8(..4) {
            0 => 0,
            1 => rng.u64(1..4096),
            _ => rng.u64(0..=(buf.len() as u64 / 512)) * 512,
        };
        let offset = if rng.bool() { rng.u64(0..1 << 20) } else { rng.u64(0..2048) * 512 };
        let mut n = 0u64;
        let mut info = zeroed_image_info();
        // SAFETY: every pointer passed is NULL or valid for what the call
        // may touch (`buf` holds at least `len` bytes); handles may be
        // anything: checking them is the plugin's job.
        let st: c_int = unsafe {
            match rng.u8(..22) {
                0 | 1 => {
                    let mut h = null_mut();
                    let st = (api.stspi_create_image)(&l, &def, 0, &mut h);
                    if st == 0 {
                        images.push(h);
                    }
                    st
                }
                2 => {
                    let mut h = null_mut();
                    let mode = pick(&mut rng, &[STS_O_READ, STS_O_WRITE, 0, 7]);
                    let st = (api.stspi_open_image)(&l, &def, mode, &mut h);
                    if st == 0 {
                        images.push(h);
                    }
                    st
                }
                3..=5 => (api.stspi_write_image)(handle, null(), buf.as_ptr().cast(), len, offset, &mut n),
                6 | 7 => (api.stspi_read_image)(handle, buf.as_mut_ptr().cast(), len, offset, &mut n),
                8 => (api.stspi_flush)(handle),
                9 => {
                    let flags = pick(&mut rng, &[STS_CLOSEF_IH_COMPLETE, STS_CLOSEF_IH_INCOMPLETE, 5]);
                    let st = (api.stspi_close_image)(handle, flags);
                    if let Some(at) = images.iter().position(|h| *h == handle)
                        && flags != 5
                    {
                        closed.push(images.swap_remove(at));
                    }
                    st
                }
                10 => (api.stspi_delete_image)(&l, &def, rng.i32(0..2)),
                11 => (api.stspi_get_image_prop)(handle, &mut info),
                12 => (api.stspi_get_image_prop_byname)(&l, &def, &mut info),
                13 => (api.stspi_write_image_meta)(handle, buf.as_ptr().cast(), len.min(4096), offset, &mut n),
                14 => (api.stspi_read_image_meta)(handle, buf.as_mut_ptr().cast(), len, offset, &mut n),
                15 => (api.stspi_copy_extent)(handle, other, offset, offset, len, rng.u32(0..4), &mut n),
                16 => (api.stspi_include_in_image)(handle, other, offset, offset, len),
                17 => (api.stspi_copy_image)(&l, &def, &l, &image_def(pick(&mut rng, &NAMES), "9").unwrap(), 0),
                18 => {
                    let mut ch = null_mut();
                    let st = (api.stspi_open_evchannel)(server.raw(), rng.u32(0..2), &mut ch);
                    if st == 0 {
                        channels.push(ch);
                    }
                    st
                }
                19 => {
                    let ch = if channels.is_empty() { null_mut() } else { channels[rng.usize(..channels.len())] };
                    let mut ev = sts_event_t { ev_type: 0, ev_seq: 0, ev_time: 0, ev_image: zeroed_image_info() };
                    let st = (api.stspi_get_event)(ch, &mut ev);
                    if st == 0 && rng.bool() { (api.stspi_delete_event)(ch, &ev) } else { st }
                }
                20 => {
                    let mut li = zeroed_lsu_info();
                    (api.stspi_get_lsu_prop_byname)(&l, &mut li)
                }
                _ => {
                    let name = CString::new(format!("op{}", rng.u8(..3))).unwrap();
                    match rng.u8(..3) {
                        0 => (api.stspi_named_async_copy_image)(
                            &l,
                            &def,
                            &l,
                            &image_def("async", "1").unwrap(),
                            name.as_ptr(),
                            0,
                        ),
                        1 => (api.stspi_named_async_wait)(server.raw(), name.as_ptr(), 0, &mut n),
                        _ => (api.stspi_named_async_cancel)(server.raw(), name.as_ptr()),
                    }
                }
            }
        };
        assert!(st == 0 || sts_status::from_code(st).is_some(), "unknown status {st}");
        if st == sts_status::STS_ESYSCALL as c_int && std::env::var("VASTOST_FUZZ_SHOW").is_ok() {
            eprintln!("ESYSCALL: {}", plugin.last_error());
        }
        *statuses.entry(st).or_default() += 1;
    }
    // The caller cleans up what it holds: nothing of the plugin's stays.
    for h in images {
        // SAFETY: our handles.
        unsafe { (api.stspi_close_image)(h, STS_CLOSEF_IH_INCOMPLETE) };
    }
    for ch in channels {
        // SAFETY: our channels.
        unsafe { (api.stspi_close_evchannel)(ch) };
    }
    for name in ["op0", "op1", "op2"] {
        while server.named_async_wait(name, 5).1.is_err_and(|e| e.code() == Some(sts_status::STS_EINPROGRESS)) {}
    }
    let after = plugin.stats().unwrap();
    assert_eq!(after.vs_budget_in_use, 0, "buffers held after every handle was closed: {after:?}");
    assert!(after.vs_open_handles <= before.vs_open_handles + 1, "handles leaked: {before:?} -> {after:?}");
    eprintln!("fuzz: {calls} calls (seed {seed}); statuses {statuses:?}");
}
