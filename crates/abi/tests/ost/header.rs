//! The committed C header is what cbindgen generates from the sources.

use std::path::Path;

#[test]
fn header_is_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed = crate_dir.join("../../include/stspi_vastdata.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    // The entry points, one file per OST area, in the order of the OST
    // API's own chapters.
    let areas = ["lifecycle", "server", "lsu", "image", "meta", "copy", "events", "ext"];
    let mut builder = cbindgen::Builder::new().with_config(config).with_src(crate_dir.join("../ost/src/lib.rs"));
    for area in areas {
        builder = builder.with_src(crate_dir.join(format!("src/exports/{area}.rs")));
    }
    // Every file holding an entry point is one of them.
    for file in std::fs::read_dir(crate_dir.join("src/exports")).unwrap() {
        let path = file.unwrap().path();
        let area = path.file_stem().unwrap().to_string_lossy().into_owned();
        let exports = std::fs::read_to_string(&path).unwrap().contains("extern \"C\" fn");
        assert!(!exports || areas.contains(&area.as_str()), "{} holds entry points: list it here", path.display());
    }
    builder.generate().expect("cbindgen generates the header").write(&mut generated);
    if std::env::var_os("VASTOST_BLESS").is_some() {
        std::fs::write(&committed, &generated).unwrap();
    }
    let current = std::fs::read(&committed).unwrap_or_default();
    assert!(
        current == generated,
        "include/stspi_vastdata.h is out of date: run VASTOST_BLESS=1 cargo test -p vastost-abi --test ost header"
    );
}

/// Runs a binutils tool on a built library.
fn binutils(tool: &str, args: &[&str], lib: &Path) -> String {
    let out = std::process::Command::new(tool)
        .args(args)
        .arg(lib)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (binutils) runs: {e}"));
    assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn both_libraries_export_every_entry_point_of_the_header_and_carry_their_soname() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = std::fs::read_to_string(crate_dir.join("../../include/stspi_vastdata.h")).unwrap();
    // Every identifier directly followed by `(` outside comments.
    let declared: std::collections::BTreeSet<String> = header
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .flat_map(|l| {
            l.split('(')
                .rev()
                .skip(1)
                .filter_map(|before| before.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next_back())
        })
        .filter(|w| w.starts_with("stspi_") || w.starts_with("vastost_"))
        .map(str::to_string)
        .collect();
    assert!(declared.len() >= 40, "{declared:?}");
    let mt = crate::support::plugin_path().to_path_buf();
    for lib in [mt.clone(), mt.with_file_name("libstspiVastData.so")] {
        let name = lib.file_name().unwrap().to_str().unwrap().to_string();
        let exported: std::collections::BTreeSet<String> = binutils("nm", &["-D", "--defined-only"], &lib)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2))
            .map(str::to_string)
            .collect();
        // Exactly the header's entry points: no dependency's symbols.
        assert_eq!(exported, declared, "{name}: exported symbols and the header's entry points differ");
        let dynamic = binutils("readelf", &["-d"], &lib);
        assert!(dynamic.contains(&format!("Library soname: [{name}]")), "{name}: {dynamic}");
        assert!(dynamic.contains("BIND_NOW"), "{name}: {dynamic}");
        assert!(binutils("readelf", &["-lW"], &lib).contains("GNU_RELRO"), "{name}: no RELRO segment");
        assert!(binutils("readelf", &["-n"], &lib).contains("Build ID"), "{name}: no build id");
    }
}
