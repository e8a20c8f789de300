//! Damaged images: found by verify, refused by restore, exit 3.

use super::*;

#[test]
fn a_corrupted_image_fails_verification() {
    let env = env();
    let source = env.dir.path().join("src.bin");
    std::fs::write(&source, support::bytes(13, 300 * 1024)).unwrap();
    ok(&vastost(&env, &["backup", "--image", "victim", "--date", "1", "--input", path(&source)]));
    let frag_dir = env.dir.path().join("data/lsu1/images/victim/1/frag");
    let frag = std::fs::read_dir(&frag_dir).unwrap().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&frag).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&frag, bytes).unwrap();
    let err = fails(&vastost(&env, &["verify", "--image", "victim"]), 3);
    assert!(err.contains("STS_EINTEGRITY") && err.contains("checksum mismatch"), "{err}");
    // The whole LSU: each damaged range is reported, the good images too.
    std::fs::write(&source, support::bytes(14, 3 << 20)).unwrap();
    ok(&vastost(&env, &["backup", "--image", "big", "--date", "1", "--input", path(&source)]));
    ok(&vastost(&env, &["backup", "--image", "fine", "--date", "1", "--input", path(&source)]));
    // The first and the last fragment of "big" (64 KiB fragments).
    let mut frags: Vec<_> = std::fs::read_dir(env.dir.path().join("data/lsu1/images/big/1/frag"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    frags.sort();
    for f in [&frags[0], &frags[frags.len() - 1]] {
        let mut bytes = std::fs::read(f).unwrap();
        bytes[10] ^= 0x01;
        std::fs::write(f, bytes).unwrap();
    }
    let out = vastost(&env, &["verify-lsu"]);
    fails(&out, 3);
    let report = String::from_utf8_lossy(&out.stdout);
    let damaged: Vec<&str> = report.lines().filter(|l| l.contains("DAMAGED")).collect();
    assert_eq!(damaged.len(), 3, "{report}");
    assert!(damaged.iter().any(|l| l.starts_with("big/1") && l.contains("bytes 0..1048576")), "{report}");
    assert!(damaged.iter().any(|l| l.starts_with("big/1") && l.contains("bytes 2097152..")), "{report}");
    assert!(damaged.iter().any(|l| l.starts_with("victim/1") && l.contains("bytes 0..")), "{report}");
    assert!(report.lines().any(|l| l.starts_with("fine/1") && l.contains(" ok ")), "{report}");
}

#[test]
fn damage_is_reported_with_exit_3_and_never_restored() {
    let env = env();
    let source = env.dir.path().join("src.bin");
    let content = support::bytes(41, 200_000);
    std::fs::write(&source, &content).unwrap();
    for name in ["no_record", "no_meta", "no_fragment", "fine"] {
        ok(&vastost(&env, &["backup", "--image", name, "--date", "1", "--input", path(&source)]));
    }
    let image = |name: &str| env.dir.path().join("data/lsu1/images").join(name).join("1");
    let first_file = |dir: PathBuf| std::fs::read_dir(dir).unwrap().next().unwrap().unwrap().path();
    std::fs::remove_file(first_file(image("no_record").join("manifest"))).unwrap();
    std::fs::remove_file(image("no_meta").join("meta")).unwrap();
    std::fs::remove_file(first_file(image("no_fragment").join("frag"))).unwrap();

    let listing = ok(&vastost(&env, &["images"]));
    assert!(listing.lines().any(|l| l.starts_with("no_record") && l.contains("DAMAGED")), "{listing}");

    let out_dir = env.dir.path().join("restores");
    std::fs::create_dir_all(&out_dir).unwrap();
    for (name, says) in [("no_record", "no commit record"), ("no_meta", "meta"), ("no_fragment", "is missing")] {
        let out = out_dir.join(name);
        let err = fails(&vastost(&env, &["restore", "--image", name, "--output", path(&out)]), 3);
        assert!(err.contains("STS_EINTEGRITY") && err.contains(says), "{name}: {err}");
        let err = fails(&vastost(&env, &["verify", "--image", name, "--date", "1"]), 3);
        assert!(err.contains("STS_EINTEGRITY"), "{name}: {err}");
    }
    assert!(names_in(&out_dir).is_empty(), "a failed restore leaves no file: {:?}", names_in(&out_dir));

    let out = vastost(&env, &["verify-lsu"]);
    fails(&out, 3);
    let report = String::from_utf8_lossy(&out.stdout);
    for name in ["no_record", "no_meta", "no_fragment"] {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with(&format!("{name}/1")) && (l.contains("UNREADABLE") || l.contains("DAMAGED"))),
            "{name}: {report}"
        );
    }
    assert!(report.lines().any(|l| l.starts_with("fine/1") && l.contains(" ok ")), "{report}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 damaged"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn an_image_without_a_content_record_is_restored_only_as_stored() {
    let env = env();
    let plugin = support::load();
    plugin.init(Some(&env.config)).unwrap();
    let s = plugin.open_server("VastData:small", None).unwrap();
    // One with another program's metadata, one with none at all (as
    // `vastost synth` made them before stored format 2).
    for (name, meta) in [("foreign", Some(&b"a NetBackup header"[..])), ("bare", None)] {
        let mut img = s.create_image("lsu1", name, "1").unwrap();
        img.write(&[5u8; 1024], 0).unwrap();
        if let Some(meta) = meta {
            img.write_meta(meta, 0).unwrap();
        }
        img.close(true).unwrap();
    }
    drop(s);
    plugin.terminate().unwrap();
    let out = env.dir.path().join("foreign.bin");
    let err = fails(&vastost(&env, &["restore", "--image", "foreign", "--output", path(&out)]), 3);
    assert!(
        err.contains("no content record") && err.contains("another program") && err.contains("--as-stored"),
        "{err}"
    );
    assert!(!err.contains("lost"), "nothing was lost: {err}");
    assert!(!out.exists());
    let done = vastost(&env, &["restore", "--image", "foreign", "--output", path(&out), "--as-stored"]);
    ok(&done);
    assert!(String::from_utf8_lossy(&done.stderr).contains("warning"), "says so");
    assert_eq!(std::fs::read(&out).unwrap(), vec![5u8; 1024]);

    // Without metadata there never was a record: restored as stored, saying what it is.
    let out = env.dir.path().join("bare.bin");
    let done = vastost(&env, &["restore", "--image", "bare", "--output", path(&out)]);
    ok(&done);
    let said = String::from_utf8_lossy(&done.stderr);
    assert!(said.contains("no whole-image content record") && said.contains("every chunk checked"), "{said}");
    assert!(!said.contains("lost"), "{said}");
    assert_eq!(std::fs::read(&out).unwrap(), vec![5u8; 1024]);
    ok(&vastost(&env, &["verify", "--image", "bare", "--date", "1"]));
}
