//! libFuzzer drives the plugin's C entry points in process: each input is
//! a sequence of calls (one byte picks the call, the next ones its
//! arguments), with handles made, closed, made up or of the wrong kind,
//! any offset and length (the buffers passed are always as long as the
//! length claims, as the C contract asks). Any crash, hang or sanitizer
//! report is a finding. Run with `cargo +nightly fuzz run abi_calls`.
#![no_main]

use std::ffi::c_int;
use std::ptr::null_mut;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vastost_abi::exports::*;
use vastost_loader::{image_def, zeroed_image_info};
use vastost_abi::ost::*;

struct Env {
    _dir: tempfile::TempDir,
    server: usize,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("fuzz")).unwrap();
        let config = dir.path().join("vastost.toml");
        std::fs::write(
            &config,
            format!(
                "[plugin]\nmemory_budget = \"32MiB\"\n[server.\"f\"]\ndirectory = \"{}\"\nfragment_size = \"8KiB\"\n",
                data.display()
            ),
        )
        .unwrap();
        let path = std::ffi::CString::new(config.to_str().unwrap()).unwrap();
        let mut server = null_mut();
        // SAFETY: valid strings and out-pointers.
        unsafe {
            assert_eq!(stspi_init(0, path.as_ptr(), None), 0);
            assert_eq!(stspi_open_server(c"VastData:f".as_ptr(), None, Some(&mut server)), 0);
        }
        Env { _dir: dir, server: server as usize }
    })
}

/// Bytes of the input, read in order; zeros once it is used up.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map(|(b, r)| (*b, r)).unwrap_or((0, &[]));
        self.0 = rest;
        b
    }
    fn u64(&mut self) -> u64 {
        (0..3).fold(0u64, |acc, _| acc << 8 | self.byte() as u64)
    }
}

fuzz_target!(|data: &[u8]| {
    let env = env();
    let server: sts_server_handle_t = std::ptr::without_provenance_mut(env.server);
    let mut lsu = sts_lsu_t { sl_server_handle: server, sl_lsu_name: [0; STS_MAX_LSUNAME] };
    for (d, s) in lsu.sl_lsu_name.iter_mut().zip(b"fuzz") {
        *d = *s as _;
    }
    let mut input = Input(data);
    let mut images: Vec<stsp_image_handle_t> = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    while !input.0.is_empty() {
        let op = input.byte();
        let name = ["a", "b", "../x", "c/d"][(input.byte() % 4) as usize];
        let def = image_def(name, "1").unwrap();
        let handle = match input.byte() % 4 {
            0 if !images.is_empty() => images[input.byte() as usize % images.len()],
            1 => server.cast(),
            2 => std::ptr::without_provenance_mut(input.u64() as usize * 16),
            _ => null_mut(),
        };
        let len = input.u64() % (buf.len() as u64 + 1);
        let offset = input.u64() * if input.byte() % 2 == 0 { 512 } else { 1 };
        let mut n = 0u64;
        let mut info = zeroed_image_info();
        // SAFETY: pointers are NULL or valid for what the call may touch
        // (`buf` holds at least `len` bytes); handles may be anything.
        let st: c_int = unsafe {
            match op % 12 {
                0 => {
                    let mut h = null_mut();
                    let st = stspi_create_image(Some(&lsu), Some(&def), 0, Some(&mut h));
                    if st == 0 {
                        images.push(h);
                    }
                    st
                }
                1 => {
                    let mut h = null_mut();
                    let st = stspi_open_image(Some(&lsu), Some(&def), (input.byte() % 4) as c_int, Some(&mut h));
                    if st == 0 {
                        images.push(h);
                    }
                    st
                }
                2 | 3 => stspi_write_image(handle, None, buf.as_ptr().cast(), len, offset, Some(&mut n)),
                4 => stspi_read_image(handle, buf.as_mut_ptr().cast(), len, offset, Some(&mut n)),
                5 => stspi_flush(handle),
                6 => {
                    let st = stspi_close_image(handle, (input.byte() % 3) as c_int);
                    images.retain(|h| *h != handle);
                    st
                }
                7 => stspi_delete_image(Some(&lsu), Some(&def), 0),
                8 => stspi_get_image_prop(handle, Some(&mut info)),
                9 => stspi_write_image_meta(handle, buf.as_ptr().cast(), len.min(4096), offset, Some(&mut n)),
                10 => {
                    let other = images.first().copied().unwrap_or(null_mut());
                    stspi_copy_extent(handle, other, offset, offset, len, input.byte() as u32 % 4, Some(&mut n))
                }
                _ => {
                    let other = images.last().copied().unwrap_or(null_mut());
                    stspi_include_in_image(handle, other, offset, offset, len)
                }
            }
        };
        assert!(st == 0 || sts_status::from_code(st).is_some(), "unknown status {st}");
    }
    for h in images {
        stspi_close_image(h, STS_CLOSEF_IH_INCOMPLETE);
    }
});
