//! `vastost lock` on a WORM LSU of the NFS data path: what the plugin does
//! to the files (VAST's NFS WORM marks), what it shows, what it refuses.
//! A local directory does not enforce the marks; the plugin's own refusal
//! is what is checked here (the S3 path's enforcement by the server is in
//! the plugin's tests).

use super::*;

#[test]
fn a_locked_image_on_nfs_carries_worm_marks_and_cannot_be_deleted() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("lsu1")).unwrap();
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[server.\"small\"]\ndirectory = \"{}\"\nfragment_size = \"64KiB\"\nworm_mode = \"governance\"\n\
             worm_min_secs = 60\nworm_max_secs = 86400\n",
            data.display()
        ),
    )
    .unwrap();
    let env = Env { dir, config };
    let info = ok(&vastost(&env, &["lsu", "info"]));
    assert!(info.contains("WORM") && info.contains("worm       governance, locks of 1m to 1d"), "{info}");

    let content = support::bytes(5, 300_000);
    ok(&vastost_stdin(&env, &["backup", "--image", "locked", "--date", "1"], Some(&content)));
    let refused = fails(&vastost(&env, &["lock", "--image", "locked", "--for", "10s"]), 1);
    assert!(refused.contains("2060064"), "under the minimum: {refused}");
    let refused = fails(&vastost(&env, &["lock", "--image", "locked", "--for", "2d"]), 1);
    assert!(refused.contains("2060065"), "over the maximum: {refused}");
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    ok(&vastost(&env, &["lock", "--image", "locked", "--for", "1h"]));

    // Every file the image needs: access time at the unlock time, no write
    // permission.
    let folder = data.join("lsu1/images/locked/1");
    let mut files = Vec::new();
    for sub in ["frag", "manifest"] {
        files.extend(std::fs::read_dir(folder.join(sub)).unwrap().map(|e| e.unwrap().path()));
    }
    assert!(files.len() >= 6, "{files:?}");
    let marked: Vec<_> = files
        .iter()
        .filter(|f| {
            let m = std::fs::metadata(f).unwrap();
            m.permissions().mode() & 0o222 == 0 && (m.atime() as u64) >= before + 3600
        })
        .collect();
    assert!(files.iter().filter(|f| f.to_string_lossy().contains("/frag/")).all(|f| marked.contains(&f)));
    assert!(marked.iter().any(|f| f.to_string_lossy().contains("/manifest/")), "the commit record is marked");

    let shown = ok(&vastost(&env, &["image-info", "--image", "locked"]));
    assert!(shown.contains("WORM_LOCKED") && shown.contains("locked     until"), "{shown}");
    let refused = fails(&vastost(&env, &["delete", "--image", "locked"]), 1);
    assert!(refused.contains("2060069"), "{refused}");
    let out = vastost(&env, &["restore", "--image", "locked"]);
    assert!(out.status.success() && out.stdout == content, "a locked image restores whole");
    let shorter = fails(&vastost(&env, &["lock", "--image", "locked", "--for", "30m"]), 1);
    assert!(shorter.contains("2060037"), "a lock is only extended: {shorter}");
    ok(&vastost(&env, &["lock", "--image", "locked", "--for", "2h"]));

    // A record added to the locked image's folder (the folder is not
    // locked): ignored, named by verify with exit 4, removed by untamper.
    let record = std::fs::read_dir(folder.join("manifest")).unwrap().map(|e| e.unwrap().path()).max().unwrap();
    let planted = folder.join("manifest/00000000000000000099");
    std::fs::copy(&record, &planted).unwrap();
    let out = vastost(&env, &["verify", "--image", "locked"]);
    let report = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{report}");
    assert!(report.contains("00000000000000000099") && report.contains("tampered"), "{report}");
    let out = vastost(&env, &["restore", "--image", "locked"]);
    assert!(out.status.success() && out.stdout == content, "a tampered locked image restores whole");
    assert!(ok(&vastost(&env, &["untamper", "--image", "locked"])).contains("removed"));
    assert!(!planted.exists());
    ok(&vastost(&env, &["verify", "--image", "locked"]));

    // Governance: a privileged unlock, recorded first (on the storage, with
    // who asked and why); the marks are lifted and the image can go.
    let no_reason = vastost(&env, &["unlock", "--image", "locked"]);
    assert_eq!(no_reason.status.code(), Some(2), "a reason is required");
    ok(&vastost(&env, &["unlock", "--image", "locked", "--reason", "test of an early release"]));
    let trail = ok(&vastost(&env, &["audit"]));
    let release = trail.lines().find(|l| l.contains("governance-release")).unwrap_or_else(|| panic!("{trail}"));
    assert!(release.contains("locked/1") && release.contains("test of an early release"), "{trail}");
    for f in files.iter().filter(|f| f.to_string_lossy().contains("/frag/")) {
        assert_ne!(std::fs::metadata(f).unwrap().permissions().mode() & 0o200, 0, "{} is writable again", f.display());
    }
    ok(&vastost(&env, &["delete", "--image", "locked"]));
}
