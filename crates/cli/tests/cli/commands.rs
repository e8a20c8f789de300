//! Backups, restores, listings and the errors of everyday commands.

use super::*;

#[test]
fn demo_runs_end_to_end() {
    let out = Command::new(env!("CARGO_BIN_EXE_vastost"))
        .args(["demo", "--size", "24MiB"])
        .env("VASTOST_PLUGIN", support::plugin_path())
        .output()
        .unwrap();
    let stdout = ok(&out);
    for step in
        ["[1/6] backup", "identical to the source", "[4/6] ckpt", "[5/6] copy", "[6/6] delete", "everything verified"]
    {
        assert_eq!(
            stdout.matches(step).count(),
            if step.starts_with("every") { 1 } else { 2 },
            "{step:?} in:\n{stdout}"
        );
    }
    assert!(stdout.contains("S3 data path") && stdout.contains("NFS data path"), "{stdout}");
}

#[test]
fn backup_restore_verify_delete() {
    let env = env();
    let source = env.dir.path().join("source.bin");
    let content = support::bytes(11, (3 << 20) + 123);
    std::fs::write(&source, &content).unwrap();

    ok(&vastost(&env, &["backup", "--image", "files_1_C1_F1", "--date", "100", "--input", path(&source)]));
    let listing = ok(&vastost(&env, &["images"]));
    assert!(listing.contains("files_1_C1_F1") && listing.contains("CREATED"), "{listing}");
    let info = ok(&vastost(&env, &["image-info", "--image", "files_1_C1_F1"]));
    assert!(info.contains("date       100") && info.contains(&format!("({} bytes)", (3 << 20) + 512)), "{info}");

    let restored = env.dir.path().join("restored.bin");
    ok(&vastost(&env, &["restore", "--image", "files_1_C1_F1", "--output", path(&restored)]));
    assert!(std::fs::read(&restored).unwrap() == content, "restore gives back the exact bytes, not the padding");
    let to_stdout = vastost(&env, &["restore", "--image", "files_1_C1_F1"]);
    assert!(to_stdout.status.success() && to_stdout.stdout == content);

    let verified = ok(&vastost(&env, &["verify", "--image", "files_1_C1_F1", "--against", path(&source)]));
    assert!(verified.contains("every checksum correct"), "{verified}");
    let other = env.dir.path().join("other.bin");
    let mut changed = content.clone();
    changed[2_000_000] ^= 1;
    std::fs::write(&other, &changed).unwrap();
    let err = fails(&vastost(&env, &["verify", "--image", "files_1_C1_F1", "--against", path(&other)]), 3);
    assert!(err.contains("at byte 2000000"), "{err}");

    ok(&vastost(&env, &["delete", "--image", "files_1_C1_F1"]));
    let err = fails(&vastost(&env, &["image-info", "--image", "files_1_C1_F1", "--date", "100"]), 1);
    assert!(err.contains("STS_ENOMORE"), "{err}");
}

#[test]
fn backup_from_standard_input() {
    let env = env();
    let content = support::bytes(12, 700_001);
    ok(&vastost_stdin(&env, &["backup", "--image", "piped", "--date", "1", "--block", "64KiB"], Some(&content)));
    let out = vastost(&env, &["restore", "--image", "piped"]);
    assert!(out.status.success() && out.stdout == content);
}

#[test]
fn a_restore_into_a_pipe_or_device_writes_it_in_place_and_leaves_it_one() {
    let env = env();
    let content = support::bytes(13, 300_000);
    ok(&vastost_stdin(&env, &["backup", "--image", "tofifo", "--date", "1"], Some(&content)));
    // As /dev/null would be: a restore must not rename a file over it.
    let fifo = env.dir.path().join("pipe");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).unwrap())
    };
    ok(&vastost(&env, &["restore", "--image", "tofifo", "--date", "1", "--output", path(&fifo)]));
    // Checked first: had a file replaced the pipe, its reader would wait
    // for a writer forever.
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "still a pipe, not a file");
    assert!(reader.join().unwrap() == content, "the pipe's reader got the image");
}

#[test]
fn server_and_lsu_commands() {
    let env = env();
    let info = ok(&vastost(&env, &["server-info"]));
    assert!(info.contains("create_image") && info.contains("copy_image           supported"), "{info}");
    assert!(!info.contains("not supported"), "{info}");
    assert!(ok(&vastost(&env, &["lsu", "list"])).lines().any(|l| l == "lsu1"));
    ok(&vastost(&env, &["lsu", "label", "nightly"]));
    let lsu = ok(&vastost(&env, &["lsu", "info"]));
    assert!(lsu.contains("label      nightly") && lsu.contains("capacity"), "{lsu}");
}

#[test]
fn errors_are_clear_and_exit_non_zero() {
    let env = env();
    let err = fails(&vastost(&env, &["server-info", "--server", "VastData:nowhere"]), 1);
    assert!(err.contains("STS_ENOSERVER") && err.contains("nowhere"), "{err}");
    let err = fails(&vastost(&env, &["images", "--lsu", "missing"]), 1);
    assert!(err.contains("STS_ENOLSU"), "{err}");
    let err = fails(&vastost(&env, &["restore", "--image", "never-backed-up"]), 1);
    assert!(err.contains("no image named never-backed-up"), "{err}");
    let err = fails(&vastost(&env, &["backup", "--image", "../../etc", "--input", "/dev/null"]), 1);
    assert!(err.contains("STS_EINVAL") && err.contains("path separator"), "{err}");
    let bad_plugin = Command::new(env!("CARGO_BIN_EXE_vastost"))
        .args(["--plugin", "/nonexistent/libstspiVastDataMT.so", "server-info", "--server", "VastData:small"])
        .output()
        .unwrap();
    assert!(fails(&bad_plugin, 1).contains("cannot load plugin"));
    assert_eq!(vastost(&env, &["no-such-command"]).status.code(), Some(2));
}

#[test]
fn failed_commands_leave_no_debris_and_bad_arguments_are_refused() {
    let env = env();
    // A source that opens but cannot be read (a folder): no image is left.
    let err = fails(&vastost(&env, &["backup", "--image", "unreadable", "--input", path(env.dir.path())]), 1);
    assert!(err.contains("cannot read the backup source"), "{err}");
    let listing = ok(&vastost(&env, &["images"]));
    assert!(!listing.contains("unreadable"), "{listing}");

    // A restore that fails keeps an existing file of that name as it was.
    let out = env.dir.path().join("keep.bin");
    std::fs::write(&out, b"older restore").unwrap();
    fails(&vastost(&env, &["restore", "--image", "never", "--date", "1", "--output", path(&out)]), 1);
    assert_eq!(std::fs::read(&out).unwrap(), b"older restore");
    assert_eq!(names_in(env.dir.path()).iter().filter(|n| n.contains("partial")).count(), 0);

    // Names that do not fit NetBackup's 256-byte fields are refused whole.
    let long = "n".repeat(300);
    let err = fails(&vastost(&env, &["backup", "--image", &long, "--date", "1", "--input", "/dev/null"]), 1);
    assert!(err.contains("300 bytes"), "{err}");
    let wide = "é".repeat(128);
    let err = fails(&vastost(&env, &["backup", "--image", &wide, "--date", "1", "--input", "/dev/null"]), 1);
    assert!(err.contains("256 bytes") && !err.contains("UTF-8"), "{err}");
    assert!(!ok(&vastost(&env, &["images"])).contains("nnnn"));

    // Absurd block sizes are usage errors, not aborts.
    for block in ["64TiB", "100", "1GiB"] {
        let err = fails(&vastost(&env, &["backup", "--image", "b", "--input", "/dev/null", "--block", block]), 2);
        assert!(err.contains("outside 512 bytes to"), "{block}: {err}");
    }
    let err = fails(&vastost(&env, &["restore", "--image", "b", "--block", "64TiB"]), 2);
    assert!(err.contains("outside"), "{err}");

    // A password file others can read is refused.
    use std::os::unix::fs::PermissionsExt;
    let pw = env.dir.path().join("pw");
    std::fs::write(&pw, "secret").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = fails(&vastost(&env, &["images", "--user", "u", "--password-file", path(&pw)]), 1);
    assert!(err.contains("mode 640"), "{err}");
}

#[test]
fn a_support_bundle_holds_config_versions_log_and_checks_without_secrets() {
    let env = env();
    // A backup first, so that the plugin has logged something.
    let source = env.dir.path().join("src.bin");
    std::fs::write(&source, support::bytes(3, 100_000)).unwrap();
    ok(&vastost(&env, &["backup", "--image", "logged", "--input", path(&source)]));
    let bundle = env.dir.path().join("bundle.tar.gz");
    let out = ok(&vastost(&env, &["support-bundle", "--output", path(&bundle)]));
    assert!(out.contains("checks of 2 server(s)"), "{out}");
    let unpacked = env.dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let tar = Command::new("tar").arg("-xzf").arg(&bundle).arg("-C").arg(&unpacked).status().unwrap();
    assert!(tar.success());
    let read = |name: &str| std::fs::read_to_string(unpacked.join("vastost-support").join(name)).unwrap();
    assert!(read("config.toml").contains("[server.small]"), "{}", read("config.toml"));
    let versions = read("versions.txt");
    assert!(versions.contains("vastost 0.1.0+git.") && versions.contains("plugin "), "{versions}");
    assert!(read("plugin-log-tail.txt").contains("plugin initialized"), "{}", read("plugin-log-tail.txt"));
    let checks = read("check.txt");
    assert!(checks.contains("VastData:small") && checks.contains("VastData:big"), "{checks}");
}
