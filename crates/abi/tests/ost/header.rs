//! The committed C header is what cbindgen generates from the sources.

use std::path::Path;

#[test]
fn header_is_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed = crate_dir.join("../../include/stspi_vastdata.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/ost.rs"))
        .with_src(crate_dir.join("src/exports.rs"))
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    if std::env::var_os("VASTOST_BLESS").is_some() {
        std::fs::write(&committed, &generated).unwrap();
    }
    let current = std::fs::read(&committed).unwrap_or_default();
    assert!(
        current == generated,
        "include/stspi_vastdata.h is out of date: run VASTOST_BLESS=1 cargo test -p vastost-abi --test ost header"
    );
}
