//! A C program compiled against the generated header and linked to the
//! plugin library, run under AddressSanitizer when the compiler has it.

use std::path::Path;
use std::process::Command;

use crate::support;

fn compile(out: &Path, sanitize: bool) -> bool {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib_dir = support::plugin_path().parent().unwrap().to_path_buf();
    let mut cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    cc.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g"])
        .arg("-I")
        .arg(crate_dir.join("../../include"))
        .arg(crate_dir.join("tests/c/smoke.c"))
        .arg("-o")
        .arg(out)
        .arg("-L")
        .arg(&lib_dir)
        .arg("-lstspiVastDataMT");
    if sanitize {
        cc.arg("-fsanitize=address,undefined");
    }
    cc.status().map(|s| s.success()).unwrap_or(false)
}

#[test]
fn a_c_program_drives_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("clsu")).unwrap();
    let config = support::write_config(dir.path(), &data, "256MiB");
    let exe = dir.path().join("smoke");
    let sanitized = compile(&exe, true);
    if !sanitized {
        assert!(compile(&exe, false), "the C program does not compile against include/stspi_vastdata.h");
    }
    let lib_dir = support::plugin_path().parent().unwrap().to_path_buf();
    let out = Command::new(&exe)
        .arg(&config)
        .arg("clsu")
        .env("LD_LIBRARY_PATH", &lib_dir)
        .env("ASAN_OPTIONS", "detect_leaks=0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "smoke (sanitized: {sanitized}) failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("smoke: ok"));
}
