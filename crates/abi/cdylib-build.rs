//! Build script of the two plugin libraries (`vastost-plugin-mt`,
//! `vastost-plugin-st`): link flags of a well-behaved shared library: a
//! SONAME (the library's file name), full RELRO and immediate binding
//! (`-z relro -z now`).
//!
//! Not done here: hiding the `#[no_mangle]` functions of dependencies
//! (crc-fast's `crc_fast_*`), which rustc lists as exports itself; a
//! version script of ours cannot take them back.

fn main() {
    let soname = match std::env::var("CARGO_PKG_NAME").as_deref() {
        Ok("vastost-plugin-st") => "libstspiVastData.so",
        _ => "libstspiVastDataMT.so",
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,relro");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,now");
}
