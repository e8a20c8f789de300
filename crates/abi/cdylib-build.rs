//! Build script of the two plugin libraries (`vastost-plugin-mt`,
//! `vastost-plugin-st`): link flags of a well-behaved shared library: a
//! SONAME (the library's file name), full RELRO and immediate binding
//! (`-z relro -z now`), and a build id.
//!
//! A dependency's `#[no_mangle]` functions would be exported too (rustc
//! lists them in its own version script, which no flag here can take
//! back): that is why the workspace patches `crc-fast` (whose C API
//! OpenDAL's S3 service pulls in) with `crates/crc-fast`, which has none.

fn main() {
    let soname = match std::env::var("CARGO_PKG_NAME").as_deref() {
        Ok("vastost-plugin-st") => "libstspiVastData.so",
        _ => "libstspiVastDataMT.so",
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,relro");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,now");
    // A build id names the separate debug file of a stripped library.
    println!("cargo:rustc-cdylib-link-arg=-Wl,--build-id");
}
