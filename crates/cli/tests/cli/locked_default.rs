//! A view whose default retention locks every new object: `setup --worm
//! --default` puts the plugin's own records in an unlocked bucket, and
//! then events, labels, reclaim, `check` and many processes leave nothing
//! locked in the LSU but the images themselves.

use super::*;

/// The keys of every version the simulator keeps in `bucket` (read from
/// its sidecars: delete markers included).
fn stored_keys(sim_data: &Path, bucket: &str) -> Vec<String> {
    let mut keys: Vec<String> = std::fs::read_dir(sim_data.join(bucket))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".meta"))
        .filter_map(|e| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
            v["key"].as_str().map(str::to_string)
        })
        .collect();
    keys.sort();
    keys
}

#[test]
fn a_view_locked_by_default_holds_images_only() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sim, s3, vms) = start_sim(dir.path(), &[]);
    let password = admin_password_file(dir.path());
    let config = dir.path().join("vastost.toml");
    let creds = dir.path().join("c1.keys");
    let out = Command::new(env!("CARGO_BIN_EXE_vastost"))
        .args(["setup", "--server", "c1", "--vms", &vms, "--vms-password-file", path(&password)])
        .args(["--s3-endpoint", &s3, "--bucket", "nbu-locked", "--worm", "compliance"])
        .args(["--min", "1h", "--max", "30d", "--default", "1h"])
        .args(["--config-out", path(&config), "--credentials-out", path(&creds)])
        .output()
        .unwrap();
    let done = ok(&out);
    assert!(done.contains("created  S3 view /nbu-locked") && done.contains("created  S3 view /vastost-bookkeeping"));
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.contains("bookkeeping_bucket = \"vastost-bookkeeping\""), "{written}");
    let env = Env { dir, config: config.clone() };
    let sim_data = env.dir.path().join("sim");
    let auth =
        ["--server", "VastData:c1", "--lsu", "nbu-locked", "--user", "admin", "--password-file", path(&password)];
    let run = |args: &[&str]| vastost(&env, &[args, &auth[..]].concat());
    let server_auth = &auth[..2].iter().chain(&auth[4..]).copied().collect::<Vec<_>>();

    let info = ok(&run(&["lsu", "info"]));
    assert!(info.contains("LOCKED_BY_DEFAULT") && !info.contains("BOOKKEEPING_LOCKED"), "{info}");
    ok(&vastost_stdin(
        &env,
        &[&["backup", "--image", "daily", "--date", "1"][..], &auth[..]].concat(),
        Some(&[7; 5000]),
    ));
    ok(&run(&["lsu", "label", "weekly"]));
    ok(&run(&["lsu", "label", "monthly"]));
    assert!(ok(&run(&["lsu", "info"])).contains("monthly"));
    // The event of the backup is shown and deleted; none is left.
    let events = ok(&vastost(&env, &[&["events", "--delete"][..], &server_auth[..]].concat()));
    assert!(events.contains("daily"), "{events}");
    let again = ok(&vastost(&env, &[&["events"][..], &server_auth[..]].concat()));
    assert!(!again.contains("daily"), "an event outlived its delete: {again}");
    ok(&vastost(&env, &[&["reclaim", "--lsu", "nbu-locked"][..], &server_auth[..]].concat()));
    let check = ok(&vastost(&env, &[&["check"][..], &server_auth[..]].concat()));
    assert!(check.lines().any(|l| l.starts_with("[ ok ] lsu nbu-locked bookkeeping")), "{check}");

    // Processes come and go, each opening the LSU (and probing it).
    let processes = 200;
    for batch in 0..processes / 10 {
        let children: Vec<_> = (0..10)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_vastost"))
                    .args(["lsu", "info"])
                    .args(auth)
                    .env("VASTOST_CONFIG", &config)
                    .env("VASTOST_PLUGIN", support::plugin_path())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "batch {batch}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    let keys = stored_keys(&sim_data, "nbu-locked");
    let foreign: Vec<&String> = keys.iter().filter(|k| !k.starts_with("images/daily/")).collect();
    assert!(foreign.is_empty(), "the locked view holds more than the image: {foreign:?}");
    assert!(keys.len() >= 3, "the image's own objects are there: {keys:?}");
    let books = stored_keys(&sim_data, "vastost-bookkeeping");
    assert!(books.iter().all(|k| k.starts_with("nbu-locked/.vastost/")), "{books:?}");
    assert!(books.len() <= 4, "label, probe, cursor at most: {books:?}");

    // Without the bookkeeping bucket, check says what goes wrong and how to
    // fix it.
    std::fs::write(&config, written.replace("bookkeeping_bucket = \"vastost-bookkeeping\"\n", "")).unwrap();
    let out = vastost(&env, &[&["check"][..], &server_auth[..]].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("[FAIL] lsu nbu-locked bookkeeping") && l.contains("bookkeeping_bucket"))
    );
    sim.kill().unwrap();
    sim.wait().unwrap();
}
