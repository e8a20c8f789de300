//! A storage server with a VMS: the plugin logs in with the credentials
//! NetBackup gives `open_server`, reads the cluster, discovers buckets and
//! reports LSU capacity from quotas. Against the simulator's VMS and S3.

use vastost_testkit as support;

use vastost_ost::sts_status::*;
use vastost_sim::Simulator;

#[test]
fn vms_login_discovery_and_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_bucket("pool1").unwrap();
    sim.create_bucket("pool2").unwrap();
    sim.create_bucket("archive").unwrap();
    sim.vms().add_user("nbu", "nbu-secret-pw");
    sim.vms().add_user("viewer", "viewer-pw");
    sim.vms().deny("viewer");
    let creds = support::write_sim_credentials(dir.path());
    let log = dir.path().join("logs/plugin.log");
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[plugin]\nlog_level = \"debug\"\nlog_file = \"{}\"\n\n[server.\"c1\"]\ndata_path = \"s3\"\nendpoint = \"{}\"\n\
             credentials_file = \"{}\"\nvms_endpoint = \"{}\"\nvip_pool = \"protocols\"\nlsu_path = \"/pool\"\nfragment_size = \"64KiB\"\n",
            log.display(),
            sim.s3_endpoint(),
            creds.display(),
            sim.vms_endpoint()
        ),
    )
    .unwrap();
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();

    // Credentials are required, checked, and a denial is a denial.
    assert_eq!(plugin.open_server("VastData:c1", None).unwrap_err().code(), Some(STS_EAUTH));
    let bad = plugin.open_server("VastData:c1", Some(("nbu", "wrong"))).unwrap_err();
    assert_eq!(bad.code(), Some(STS_EAUTH), "{}", bad.message);
    let denied = plugin.open_server("VastData:c1", Some(("viewer", "viewer-pw"))).unwrap_err();
    assert_eq!(denied.code(), Some(STS_EACCESS), "{}", denied.message);
    // Without credentials the properties are still there (no login).
    assert!(plugin.server_info_byname("VastData:c1").is_ok());

    let s = plugin.open_server("VastData:c1", Some(("nbu", "nbu-secret-pw"))).unwrap();
    assert!(s.info().unwrap().version.contains("cluster vast-sim 5.3.0-sim ONLINE"));
    assert_eq!(s.lsus().unwrap(), ["pool1", "pool2"], "buckets discovered from the S3 views under /pool");

    // No quota: the cluster's capacity. With a quota: the quota's.
    let before = s.lsu_info("pool1").unwrap();
    assert_eq!(before.capacity, vastost_sim::vms::CAPACITY);
    let vms = vastost_vms::VmsClient::new(
        vastost_vms::VmsConfig::new(
            &sim.vms_endpoint(),
            vastost_vms::Auth::Basic { user: "admin".into(), password: "123456".into() },
        ),
        reqwest::Client::new(),
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(
        vms.post("quotas", &serde_json::json!({ "name": "pool1", "path": "/pool1", "hard_limit": 10u64 << 30 })),
    )
    .unwrap();
    let mut img = s.create_image("pool1", "quota_1_C1_F1", "1").unwrap();
    img.write(&support::bytes(1, 512 * 1024), 0).unwrap();
    img.close(true).unwrap();
    // The requests were spread over the cluster's data VIPs.
    let used: Vec<_> = sim.s3_connections().into_iter().filter(|(_, n)| *n > 0).collect();
    assert!(used.len() >= 2, "VIPs used: {:?}", sim.s3_connections());
    let after = s.lsu_info("pool1").unwrap();
    assert_eq!(after.capacity, 10 << 30);
    assert!(after.used >= 512 * 1024, "the quota counts what the bucket holds: {after:?}");
    assert_eq!(after.available, after.capacity - after.used);
    // A copy costs no space; deleting the source keeps the space for the
    // copy; deleting the copy too frees it, and the LSU's use says so.
    s.copy_image("pool1", ("quota_1_C1_F1", "1"), &s, "pool1", ("quota_1_C2_F1", "1")).unwrap();
    let copied = s.lsu_info("pool1").unwrap();
    assert!(copied.used < after.used + 64 * 1024, "a copy by reference: {} -> {}", after.used, copied.used);
    s.delete_image("pool1", "quota_1_C1_F1", "1").unwrap();
    assert!(s.lsu_info("pool1").unwrap().used >= 512 * 1024, "the copy keeps the data");
    s.delete_image("pool1", "quota_1_C2_F1", "1").unwrap();
    s.reclaim(Some("pool1"), Some(0), None).unwrap();
    let freed = s.lsu_info("pool1").unwrap();
    assert!(freed.used < 64 * 1024, "the space is back: {} -> {}", copied.used, freed.used);

    // VMS failing over: retried; down for good: a connection error.
    sim.vms().fail_next(2);
    s.lsu_info("pool1").expect("two 503 are retried");
    sim.vms().fail_next(1000);
    let down = s.lsu_info("pool1").unwrap_err();
    assert_eq!(down.code(), Some(STS_ECONNECT), "{}", down.message);
    sim.vms().fail_next(0);
    drop(s);
    plugin.terminate().unwrap();

    // The password never reaches the log.
    let logs: String = std::fs::read_dir(log.parent().unwrap())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect();
    assert!(logs.contains("connected to VMS"), "the log is written");
    for secret in ["nbu-secret-pw", "viewer-pw", vastost_sim::SECRET_KEY] {
        let line = logs.lines().find(|l| l.contains(secret)).unwrap_or_default();
        assert!(!logs.contains(secret), "secret {secret:?} in the log: {line}");
    }
}
