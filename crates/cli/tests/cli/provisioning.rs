//! `setup` and `check` against a simulated cluster.

use super::*;
use vastost_config::{WormMode, WormPolicy};

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
fn check_says_when_the_s3_server_ignores_conditional_writes() {
    let dir = tempfile::tempdir().unwrap();
    let sim = vastost_sim::Simulator::start(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_bucket("pool").unwrap();
    let creds = support::write_sim_credentials(dir.path());
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            // The server changes its ways under the test: no host may
            // remember what it found before.
            "[plugin]\nstate_dir = \"\"\n\n\
             [server.\"sim\"]\ndata_path = \"s3\"\nendpoint = \"{0}\"\ncredentials_file = \"{1}\"\nlsus = [\"pool\"]\n\n\
             [server.\"accepting\"]\ndata_path = \"s3\"\nendpoint = \"{0}\"\ncredentials_file = \"{1}\"\n\
             lsus = [\"pool\"]\nallow_unconditional_writes = true\n",
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
    // Accepted by the configuration: a warning, not a failure.
    let accepted = ok(&vastost(&env, &["check", "--server", "VastData:accepting"]));
    assert!(accepted.lines().any(|l| l.starts_with("[warn] lsu pool commits") && l.contains("single media server")));
    assert!(!accepted.contains("[FAIL]"), "{accepted}");
}

#[test]
fn setup_worm_creates_locked_views_whose_bounds_the_plugin_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sim, s3, vms) = start_sim(dir.path(), &[]);
    let password = admin_password_file(dir.path());
    let config = dir.path().join("vastost.toml");
    let creds = dir.path().join("c1.keys");
    let out = Command::new(env!("CARGO_BIN_EXE_vastost"))
        .args(["setup", "--server", "c1", "--vms", &vms, "--vms-password-file", path(&password)])
        .args(["--s3-endpoint", &s3, "--bucket", "nbu-worm", "--worm", "compliance", "--min", "1d", "--max", "30d"])
        .args(["--config-out", path(&config), "--credentials-out", path(&creds)])
        .output()
        .unwrap();
    assert!(ok(&out).contains("created  S3 view /nbu-worm"));
    let written = vastost_config::Config::load(&config).unwrap();
    let worm = written.server("c1").and_then(|s| s.worm);
    let expected =
        WormPolicy { mode: WormMode::Compliance, min_secs: 86_400, max_secs: 30 * 86_400, default_secs: None };
    assert_eq!(worm, Some(expected), "{written:?}");
    let env = Env { dir, config };
    let auth = ["--server", "VastData:c1", "--lsu", "nbu-worm", "--user", "admin", "--password-file", path(&password)];
    let info = ok(&vastost(&env, &[&["lsu", "info"][..], &auth[..]].concat()));
    assert!(info.contains("worm       compliance, locks of 1d to 30d"), "{info}");
    let check = ok(&vastost(
        &env,
        &["check", "--server", "VastData:c1", "--user", "admin", "--password-file", path(&password)],
    ));
    assert!(check.lines().any(|l| l.starts_with("[ ok ] lsu nbu-worm worm") && l.contains("compliance")), "{check}");

    ok(&vastost_stdin(
        &env,
        &[&["backup", "--image", "kept", "--date", "1"][..], &auth[..]].concat(),
        Some(&support::bytes(3, 200_000)),
    ));
    let lock = |d: &str| vastost(&env, &[&["lock", "--image", "kept", "--for", d][..], &auth[..]].concat());
    assert!(fails(&lock("60d"), 1).contains("2060065"), "over the view's maximum");
    ok(&lock("2d"));
    // The bucket is the one locking: the cluster kept the object lock.
    let refused = fails(&vastost(&env, &[&["delete", "--image", "kept"][..], &auth[..]].concat()), 1);
    assert!(refused.contains("2060069"), "{refused}");

    // Snapshots of the LSU's view: an indestructible one stays until it
    // expires; a plain one goes when asked.
    let snap = |args: &[&str]| vastost(&env, &[&["snapshot"][..], args, &auth[..]].concat());
    let made = ok(&snap(&["create", "--name", "before-upgrade", "--expires", "7d", "--indestructible"]));
    assert!(made.contains("created snapshot before-upgrade of /nbu-worm") && made.contains("indestructible"), "{made}");
    ok(&snap(&["create", "--name", "daily"]));
    assert!(!snap(&["create", "--name", "daily"]).status.success(), "names are unique");
    let listed = ok(&snap(&["list"]));
    assert!(listed.contains("before-upgrade") && listed.contains("daily"), "{listed}");
    assert!(fails(&snap(&["delete", "--name", "before-upgrade"]), 1).contains("2060069"));
    ok(&snap(&["delete", "--name", "daily"]));
    let listed = ok(&snap(&["list"]));
    assert!(listed.contains("before-upgrade") && !listed.contains("daily"), "{listed}");
    assert_eq!(snap(&["create", "--indestructible"]).status.code(), Some(2), "indestructible needs --expires");
    sim.kill().unwrap();
    sim.wait().unwrap();
}
