//! Build script of `vastost-abi` and `vastost`: the version they report
//! carries the git commit it was built from (`0.1.0+git.<12 hex>`, or
//! `0.1.0+git.unknown` outside a git checkout), as `VASTOST_VERSION`; and
//! `vastost` gets a build id.

use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rustc-env=VASTOST_VERSION={version}+git.{commit}");
    // A build id names the separate debug file of the stripped binary.
    if std::env::var("CARGO_PKG_NAME").as_deref() == Ok("vastost") {
        println!("cargo:rustc-link-arg-bins=-Wl,--build-id");
    }
    // Rebuilt when the checked-out commit changes (only paths that exist:
    // a missing one would rebuild every time).
    let git = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.git");
    let watched: Vec<_> =
        ["HEAD", "refs/heads", "packed-refs"].iter().map(|p| git.join(p)).filter(|p| p.exists()).collect();
    for p in &watched {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    if watched.is_empty() {
        println!("cargo:rerun-if-changed=build.rs");
    }
}
