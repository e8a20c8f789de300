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
    assert_eq!(s.fragment_size.as_u64(), 1 << 20);
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
    assert_eq!(c.server("VastData:cluster1").unwrap().data_path, DataPath::S3);
    assert_eq!(c.server("vast://cluster2").unwrap().data_path, DataPath::Nfs);
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
        "[server.a]\ndirectory = \"/x\"\nlsus = [\"../up\"]\n",
        "[plugin]\nmemory_budget = \"4KiB\"\n",
        "[plugin]\nunknown = 1\n",
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
    let d = ServerConfig::nfs("/x");
    assert_eq!(format!("{a:?}"), format!("{d:?}"));
    assert_eq!((a.fragment_size.as_u64(), a.retries, a.tls_verify), (8 << 20, 10, true));
    // Read-ahead: 16 MiB over NFS, 8 MiB over S3 (which also sends GETs ahead).
    assert_eq!(a.read_ahead_bytes(), 16 << 20);
    let s3 = ServerConfig { data_path: DataPath::S3, ..ServerConfig::default() };
    assert_eq!(s3.read_ahead_bytes(), 4 << 20);
}
