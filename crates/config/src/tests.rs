//! The configuration file: what parses, what is refused and why.

use super::*;

#[test]
fn parses_a_complete_file() {
    let c = Config::from_toml(
        r#"
        [plugin]
        memory_budget = "256MiB"
        log_level = "debug"
        [server."c1"]
        directory = "/tmp/x"
        lsus = ["a", "b"]
        fragment_size = "1MiB"
        write_parallelism = 2
        read_ahead = "4MiB"
        "#,
    )
    .unwrap();
    assert_eq!(c.plugin.memory_budget.as_u64(), 256 << 20);
    let s = c.server("VastData:c1").unwrap();
    assert_eq!(s.transfer.fragment_size.as_u64(), 1 << 20);
    assert_eq!(s.lsus, ["a", "b"]);
    assert!(c.server("vast://c1").is_some());
    assert!(c.server("c2").is_none());
    assert!(c.server("Other:c1").is_none());
}

#[test]
fn the_readme_example_is_valid() {
    let readme = include_str!("../../../README.md");
    let start = readme.find("```toml\n").expect("a toml example") + 8;
    let end = start + readme[start..].find("```").expect("its end");
    let c = Config::from_toml(&readme[start..end]).expect("the README's example parses");
    assert_eq!(c.server("VastData:cluster1").unwrap().data.kind(), DataPathKind::S3);
    assert_eq!(c.server("vast://cluster2").unwrap().data.kind(), DataPathKind::Nfs);
}

#[test]
fn the_packaged_example_is_valid() {
    let example = include_str!("../../../packaging/vastost.toml.example");
    let c = Config::from_toml(example).expect("packaging/vastost.toml.example parses");
    assert!(!c.servers.is_empty());
}

#[test]
fn credentials_files_must_be_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("creds.toml");
    std::fs::write(&path, "access_key = \"AK\"\nsecret_key = \"very-secret\"\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = S3Keys::load(&path).unwrap_err().to_string();
    assert!(err.contains("chmod 600") && !err.contains("very-secret"), "{err}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let keys = S3Keys::load(&path).unwrap();
    assert_eq!(keys.access_key, "AK");
    assert!(!format!("{keys:?}").contains("very-secret"), "Debug hides the secret");
    std::fs::write(&path, "access_key = \"AK\"\nsecret_key = 42\n").unwrap();
    let err = S3Keys::load(&path).unwrap_err().to_string();
    assert!(!err.contains("42") && err.contains("must hold"), "{err}");
}

#[test]
fn refuses_bad_values() {
    for text in [
        "[server.a]\nfragment_size = \"1MiB\"\n",
        "[server.a]\ndirectory = \"/x\"\nfragment_size = 1000\n",
        "[server.a]\ndirectory = \"/x\"\nwrite_parallelism = 0\n",
        "[plugin]\nmemory_budget = \"4KiB\"\n",
        "[plugin]\nunknown = 1\n",
        "[server.a]\ndirectory = \"/x\"\nfragment = \"1MiB\"\n",
        "[server.a]\ndirectory = \"/x\"\nfragment_size = \"2GiB\"\n",
        "[server.a]\ndata_path = \"s3\"\ncredentials_file = \"/c\"\n",
        "[server.a]\ndata_path = \"s3\"\nendpoint = \"ftp://x\"\ncredentials_file = \"/c\"\n",
        "[server.a]\ndata_path = \"s3\"\nendpoint = \"http://x\"\n",
        // Misspelt values are errors, as misspelt keys are.
        "[plugin]\nlog_level = \"verbose\"\n",
        "[server.a]\ndirectory = \"/x\"\ndata_path = \"nfs4\"\n",
        "[server.a]\ndirectory = \"/x\"\nvms_auth = \"token\"\n",
    ] {
        assert!(Config::from_toml(text).is_err(), "accepted: {text}");
    }
}

#[test]
fn what_a_section_leaves_out_is_the_one_default() {
    let c = Config::from_toml("[plugin]\nlog_level = \"warn\"\n[server.a]\ndirectory = \"/x\"\n").unwrap();
    assert_eq!(c.plugin.log_level, LogLevel::Warn);
    let a = &c.servers["a"];
    assert_eq!(a, &ServerConfig::nfs("/x"));
    assert_eq!(a.data, DataPath::Nfs(Nfs { directory: "/x".into(), direct_io: true }));
    assert_eq!((a.transfer.fragment_size.as_u64(), a.tls.verify, a.vms.is_none()), (8 << 20, true, true));
    // Read-ahead: 16 MiB over NFS, 4 MiB over S3 (which also sends GETs ahead).
    assert_eq!(a.read_ahead_bytes(), 16 << 20);
    let s3 = ServerConfig::s3("http://s3", "/keys");
    assert_eq!(s3.read_ahead_bytes(), 4 << 20);
    let DataPath::S3(settings) = &s3.data else { panic!("an S3 server: {s3:?}") };
    assert_eq!((settings.retries, settings.region.as_str(), settings.provision.is_none()), (10, "us-east-1", true));
}

#[test]
fn settings_of_the_other_data_path_are_refused_where_they_would_mislead() {
    let err = Config::from_toml("[server.a]\ndirectory = \"/x\"\nbookkeeping_bucket = \"books\"\n").unwrap_err();
    assert!(err.0.contains("bookkeeping_bucket is for the S3 data path"), "{err}");
    let err = Config::from_toml(
        "[server.a]\ndata_path = \"s3\"\nendpoint = \"http://x\"\ncredentials_file = \"/c\"\nprovision = true\n",
    )
    .unwrap_err();
    assert!(err.0.contains("provision needs a vms_endpoint"), "{err}");
}

#[test]
fn what_is_written_reads_back_the_same() {
    let text = r#"
        [plugin]
        memory_budget = "256MiB"
        log_file = "/var/log/vastost.log"
        host_memory_budget = "3GiB"
        [server."c1"]
        data_path = "s3"
        endpoint = "https://s3.vast"
        endpoints = ["https://10.0.0.2"]
        credentials_file = "/etc/vastost/keys.toml"
        vms_endpoint = "https://vms.vast"
        vms_auth = "api_token"
        vms_api_token_file = "/etc/vastost/token"
        lsu_path = "/backups"
        provision = true
        quota = "10TiB"
        lsus = ["pool1", "pool2"]
        fragment_size = "16MiB"
        read_ahead = "12345"
        max_read_bandwidth = "100MiB"
        worm_mode = "governance"
        worm_min_secs = 60
        worm_default_secs = 3600
        [server."c2"]
        directory = "/mnt/vast"
        direct_io = false
        reclaim_max_images = 500
    "#;
    let config = Config::from_toml(text).unwrap();
    let written = config.to_toml();
    assert_eq!(Config::from_toml(&written).unwrap(), config, "{written}");
    // Only what differs from the defaults is written, sizes in their unit.
    for line in ["memory_budget = \"256MiB\"", "quota = \"10TiB\"", "read_ahead = \"12345B\"", "data_path = \"nfs\""] {
        assert!(written.contains(line), "{line} in {written}");
    }
    for key in ["log_level", "region", "retries", "worm_max_secs", "write_parallelism", "syslog_socket"] {
        assert!(!written.contains(key), "{key} is a default: {written}");
    }
    assert_eq!(Config::default().to_toml(), "");
}

#[test]
fn credentials_are_written_as_they_are_read() {
    let keys = S3Keys { access_key: "AK".into(), secret_key: "s\"3 =\ncret".into() };
    assert_eq!(S3Keys::from_toml(&keys.to_toml()), Some(keys));
    assert_eq!(S3Keys::from_toml("access_key = \"\"\nsecret_key = \"x\"\n"), None, "an empty key is no key");
}
