//! The release packages, as an administrator installs them: built by
//! `packaging/build-packages.sh` (binaries linked for glibc 2.17, stripped,
//! debug files apart), then installed into a Debian 11 root (glibc 2.31)
//! made with debootstrap, where a backup and restore over the NFS data path,
//! `server-info` and a C program compiled for glibc 2.17 run against the
//! installed plugin. The shipped `vastost` is the operator's tool: the lab
//! (`sim`, `demo`, `bench`) is not in it.
//!
//! The second test needs root, `debootstrap` and Debian's package servers
//! (`.ci/run` installs debootstrap): without them it says so and stops.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Shipped binaries stay under this size (stripped).
const MAX_SIZE: u64 = 20 << 20;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?} runs: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The packages, built once per test program.
fn dist() -> &'static Path {
    static DIST: OnceLock<PathBuf> = OnceLock::new();
    DIST.get_or_init(|| {
        let dist = workspace().join("target/packages-test");
        let out = run(Command::new(workspace().join("packaging/build-packages.sh")).arg(&dist));
        println!("{}", text(&out));
        dist
    })
}

fn package(ext: &str) -> PathBuf {
    std::fs::read_dir(dist())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == ext))
        .unwrap_or_else(|| panic!("no .{ext} in {}", dist().display()))
}

#[test]
fn packages_hold_portable_stripped_binaries_that_export_only_entry_points() {
    let deb = package("deb");
    let listing = text(&run(Command::new("dpkg-deb").arg("-c").arg(&deb)));
    for path in [
        "./usr/openv/lib/ost-plugins/libstspiVastDataMT.so",
        "./usr/openv/lib/ost-plugins/libstspiVastData.so",
        "./usr/openv/lib/ost-plugins/vastost.toml.example",
        "./usr/bin/vastost",
        "./usr/openv/netbackup/logs/vastost/",
        "./usr/share/doc/vastost/README.md",
        "./usr/share/doc/vastost/LICENSE",
    ] {
        assert!(listing.contains(path), "{path} not in the .deb:\n{listing}");
    }
    // The configuration itself is never shipped, so never overwritten.
    assert!(!listing.contains("ost-plugins/vastost.toml\n"), "{listing}");
    // What the script checked, checked again on what was packaged.
    let unpacked = dist().join("unpacked");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked));
    let plugins = unpacked.join("usr/openv/lib/ost-plugins");
    for bin in
        [plugins.join("libstspiVastDataMT.so"), plugins.join("libstspiVastData.so"), unpacked.join("usr/bin/vastost")]
    {
        let size = std::fs::metadata(&bin).unwrap().len();
        assert!(size < MAX_SIZE, "{}: {size} bytes", bin.display());
        let symbols = text(&run(Command::new("objdump").arg("-T").arg(&bin)));
        let newest = symbols
            .split("GLIBC_")
            .skip(1)
            .filter_map(|v| {
                let v: String = v.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
                let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
                Some((parts.next()?, parts.next().unwrap_or(0)))
            })
            .max()
            .unwrap();
        assert!(newest <= (2, 17), "{} needs glibc {newest:?}", bin.display());
        let sections = text(&run(Command::new("readelf").arg("-S").arg(&bin)));
        assert!(!sections.contains(".debug_info"), "{} is not stripped", bin.display());
        assert!(sections.contains(".gnu_debuglink"), "{} does not name its debug file", bin.display());
    }
    for lib in ["libstspiVastDataMT.so", "libstspiVastData.so"] {
        let exported = text(&run(Command::new("nm").args(["-D", "--defined-only"]).arg(plugins.join(lib))));
        let foreign: Vec<&str> = exported
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2))
            .filter(|s| !s.starts_with("stspi_") && !s.starts_with("vastost_"))
            .collect();
        assert!(foreign.is_empty(), "{lib} exports {foreign:?}");
    }
    // The debug files, by build id.
    let debug = std::fs::read_dir(dist())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vastost-debug-")));
    let listing = text(&run(Command::new("tar").arg("-tzf").arg(debug.expect("a debug tarball"))));
    assert_eq!(listing.lines().filter(|l| l.ends_with(".debug")).count(), 3, "{listing}");
    if Command::new("rpm").arg("--version").output().is_ok() {
        let files = text(&run(Command::new("rpm").arg("-qlp").arg(package("rpm"))));
        assert!(files.contains("/usr/openv/lib/ost-plugins/libstspiVastDataMT.so"), "{files}");
        assert!(files.contains("/usr/bin/vastost"), "{files}");
    }
}

/// Runs `args` inside the root.
fn chroot(root: &Path, args: &[&str]) -> Output {
    run(Command::new("chroot").arg(root).args(args))
}

#[test]
fn the_deb_installs_and_runs_on_debian_11() {
    let root_user = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
    let debootstrap = Command::new("debootstrap").arg("--version").output().is_ok();
    if !root_user || !debootstrap {
        println!("skipped: needs root and debootstrap (root: {root_user}, debootstrap: {debootstrap})");
        return;
    }
    let deb = package("deb");
    let root = dist().join("debian11");
    let _ = std::fs::remove_dir_all(&root);
    run(Command::new("debootstrap")
        .args(["--variant=minbase", "bullseye"])
        .arg(&root)
        .arg("http://deb.debian.org/debian"));
    let glibc = text(&chroot(&root, &["ldd", "--version"]));
    assert!(glibc.contains("2.31"), "{glibc}");
    std::fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n::1 localhost ip6-localhost\n").unwrap();
    std::fs::copy(&deb, root.join("tmp/vastost.deb")).unwrap();
    chroot(&root, &["dpkg", "-i", "/tmp/vastost.deb"]);
    let version = text(&chroot(&root, &["vastost", "--version"]));
    assert!(version.contains("+git."), "{version}");

    // The lab is not shipped: no simulator with demo keys on a media server.
    for lab in ["sim", "demo", "bench"] {
        let out = Command::new("chroot").arg(&root).args(["vastost", lab, "--help"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "vastost {lab} is shipped: {}", text(&out));
    }

    // server-info, then a backup, a listing and a restore compared bit for
    // bit, with a configuration in the default place and the installed
    // plugin, found in NetBackup's plugin folder.
    std::fs::create_dir_all(root.join("srv/nfs/clsu")).unwrap();
    std::fs::create_dir_all(root.join("srv/nfs/tools")).unwrap();
    let config = "[server.\"nfs1\"]\ndirectory = \"/srv/nfs\"\n";
    std::fs::write(root.join("usr/openv/lib/ost-plugins/vastost.toml"), config).unwrap();
    let info = text(&chroot(&root, &["vastost", "server-info", "--server", "VastData:nfs1"]));
    assert!(info.contains("nfs data path"), "{info}");
    let source: Vec<u8> = (0..3_000_001u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(root.join("tmp/source.bin"), &source).unwrap();
    // (In an LSU of its own: the C program below wants `clsu` empty.)
    let on = ["--server", "VastData:nfs1", "--lsu", "tools"];
    let image = ["--image", "debian11", "--date", "1"];
    chroot(&root, &[&["vastost", "backup"][..], &on, &image, &["--input", "/tmp/source.bin"]].concat());
    let listed = text(&chroot(&root, &[&["vastost", "images"][..], &on].concat()));
    assert!(listed.contains("debian11") && listed.contains("CREATED"), "{listed}");
    chroot(&root, &[&["vastost", "restore"][..], &on, &image, &["--output", "/tmp/restored.bin"]].concat());
    assert!(std::fs::read(root.join("tmp/restored.bin")).unwrap() == source, "the restore differs");

    // A C program built for glibc 2.17 (zig's C compiler, from PyPI's
    // ziglang) against the header, linked to the installed library.
    let smoke = root.join("tmp/smoke");
    run(Command::new("python3")
        .args(["-m", "ziglang", "cc", "-target", "x86_64-linux-gnu.2.17", "-std=c11", "-Wall", "-Wextra", "-Werror"])
        .arg("-I")
        .arg(workspace().join("include"))
        .arg(workspace().join("crates/abi/tests/c/smoke.c"))
        .arg("-L")
        .arg(root.join("usr/openv/lib/ost-plugins"))
        .args(["-lstspiVastDataMT", "-o"])
        .arg(&smoke));
    let smoke_config = "[server.\"small\"]\ndirectory = \"/srv/nfs\"\nfragment_size = \"64KiB\"\n\n\
                        [server.\"big\"]\ndirectory = \"/srv/nfs\"\n";
    std::fs::write(root.join("tmp/smoke.toml"), smoke_config).unwrap();
    let out = text(&chroot(
        &root,
        &["env", "LD_LIBRARY_PATH=/usr/openv/lib/ost-plugins", "/tmp/smoke", "/tmp/smoke.toml", "clsu"],
    ));
    assert!(out.contains("smoke: ok"), "{out}");

    // Removal keeps the configuration and the logs.
    std::fs::write(root.join("usr/openv/netbackup/logs/vastost/plugin.log.keep"), "kept").unwrap();
    chroot(&root, &["dpkg", "-r", "vastost"]);
    assert!(!root.join("usr/openv/lib/ost-plugins/libstspiVastDataMT.so").exists());
    assert!(root.join("usr/openv/lib/ost-plugins/vastost.toml").exists(), "the configuration was removed");
    assert!(root.join("usr/openv/netbackup/logs/vastost/plugin.log.keep").exists(), "the logs were removed");
    std::fs::remove_dir_all(&root).unwrap();
}
