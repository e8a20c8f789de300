//! What a newer plugin leaves: an image whose newest commit record is of a
//! later stored format, and a format marker that shuts older writers out.
//! Neither is damage, and neither is touched.

use super::*;

/// A commit record framed as a plugin of format `version` frames it (the
/// frame every format from 2 on keeps: magic, version, length, a CRC32C of
/// all of it).
fn framed(version: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = b"VOSTMAN1".to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out), payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Every file under `dir` with its bytes.
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                found.push((p, bytes));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn an_image_of_a_newer_format_is_reported_as_such_and_left_alone() {
    let env = env();
    let source = env.dir.path().join("src.bin");
    std::fs::write(&source, support::bytes(7, 300 * 1024)).unwrap();
    for name in ["future", "mine"] {
        ok(&vastost(&env, &["backup", "--image", name, "--date", "1", "--input", path(&source)]));
    }
    // A newer plugin commits a successor record of format 3 whose payload
    // this plugin cannot know, beside a fragment named its own way.
    let image = env.dir.path().join("data/lsu1/images/future/1");
    let mut records = names_in(&image.join("manifest"));
    let newest: u64 = records.pop().unwrap().parse().unwrap();
    std::fs::write(
        image.join("manifest").join(format!("{:020}", newest + 1)),
        framed(3, br#"{"format3":"a payload of a later format","extents":"elsewhere"}"#),
    )
    .unwrap();
    std::fs::write(image.join("frag/f3-life-0000000000-token-stripe0"), b"format 3 data").unwrap();
    let before = contents(&image);

    let listing = ok(&vastost(&env, &["images"]));
    let line = listing.lines().find(|l| l.starts_with("future")).unwrap_or_else(|| panic!("{listing}"));
    assert!(line.contains("NEWER_FORMAT") && !line.contains("DAMAGED"), "{listing}");

    for args in [
        vec!["image-info", "--image", "future", "--date", "1"],
        vec!["restore", "--image", "future", "--date", "1", "--output", "/dev/null"],
        vec!["verify", "--image", "future", "--date", "1"],
        vec!["delete", "--image", "future", "--date", "1"],
    ] {
        let err = fails(&vastost(&env, &args), 5);
        assert!(
            err.contains("STS_ENEWERFORMAT")
                && err.contains("written by a newer plugin (format 3); this media server runs format 2"),
            "{args:?}: {err}"
        );
    }

    let out = vastost(&env, &["verify-lsu"]);
    let err = fails(&out, 5);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.lines().any(|l| l.starts_with("future/1") && l.contains("NEWER FORMAT")), "{report}");
    assert!(report.lines().any(|l| l.starts_with("mine/1") && l.contains(" ok ")), "{report}");
    assert!(err.contains("1 verified") && err.contains("0 damaged") && err.contains("1 of a newer format"), "{err}");

    // Reclaim frees what it may (the deleted image) and nothing of the other.
    ok(&vastost(&env, &["delete", "--image", "mine", "--date", "1"]));
    ok(&vastost(&env, &["reclaim", "--grace", "0", "--older-than", "0s"]));
    assert_eq!(contents(&image), before, "reclaim or delete touched the newer plugin's image");
    let mine = env.dir.path().join("data/lsu1/images/mine/1/frag");
    assert!(!mine.exists() || names_in(&mine).is_empty(), "the deleted image was reclaimed: {:?}", names_in(&mine));
}

#[test]
fn a_marker_that_shuts_older_writers_out_refuses_writes_not_reads() {
    let env = env();
    let source = env.dir.path().join("src.bin");
    std::fs::write(&source, support::bytes(8, 100 * 1024)).unwrap();
    let info = ok(&vastost(&env, &["lsu", "info"]));
    assert!(
        info.contains("formats    none recorded, writable by format 1 and later; this plugin reads 1-2, writes 2"),
        "{info}"
    );

    let markers = env.dir.path().join("data/lsu1/.vastost/formats");
    std::fs::create_dir_all(&markers).unwrap();
    std::fs::write(markers.join("0003"), br#"{"format":3,"writers_from":3,"plugin":"9.0.0","since":0}"#).unwrap();
    let info = ok(&vastost(&env, &["lsu", "info"]));
    assert!(info.contains("formats    3 newest written, writable by format 3 and later"), "{info}");
    let err = fails(&vastost(&env, &["backup", "--image", "a", "--date", "1", "--input", path(&source)]), 5);
    assert!(err.contains("LSU lsu1") && err.contains("format 3") && err.contains("upgrade"), "{err}");
    assert!(!env.dir.path().join("data/lsu1/images/a").exists(), "nothing written");

    // Without it, this plugin writes and leaves its own marker.
    std::fs::remove_file(markers.join("0003")).unwrap();
    ok(&vastost(&env, &["backup", "--image", "a", "--date", "1", "--input", path(&source)]));
    assert_eq!(names_in(&markers), ["0002"]);
    let info = ok(&vastost(&env, &["lsu", "info"]));
    assert!(info.contains("formats    2 newest written, writable by format 1 and later"), "{info}");
    // Shut out again, it still reads.
    std::fs::write(markers.join("0003"), br#"{"format":3,"writers_from":3}"#).unwrap();
    ok(&vastost(&env, &["verify", "--image", "a", "--date", "1", "--against", path(&source)]));
}

#[test]
fn the_version_names_the_formats() {
    let out = Command::new(env!("CARGO_BIN_EXE_vastost")).arg("--version").output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("(stored formats: reads 1-2, writes 2)"), "{said}");
}
