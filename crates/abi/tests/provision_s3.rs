//! `provision = true`: the first `open_server` creates the tenant, the
//! buckets and their quotas through VMS; the next ones create nothing.

use vastost_testkit as support;

use vastost_sim::Simulator;

#[test]
fn buckets_are_provisioned_on_first_use_once() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap()).unwrap();
    let creds = support::write_sim_credentials(dir.path());
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[server.\"c1\"]\ndata_path = \"s3\"\nendpoint = \"{}\"\ncredentials_file = \"{}\"\nvms_endpoint = \"{}\"\n\
             vms_tenant = \"backup\"\nprovision = true\nlsus = [\"auto-a\", \"auto-b\"]\nquota = \"2GiB\"\n",
            sim.s3_endpoint(),
            creds.display(),
            sim.vms_endpoint()
        ),
    )
    .unwrap();
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();
    assert!(!sim.data().join("auto-a").exists());
    let login = Some(("admin", "123456"));
    let s = plugin.open_server("VastData:c1", login).unwrap();
    assert!(sim.data().join("auto-a").is_dir() && sim.data().join("auto-b").is_dir(), "buckets created");
    assert_eq!(s.lsu_info("auto-a").unwrap().capacity, 2 << 30, "with their quota");
    let mut img = s.create_image("auto-b", "first_1_C1_F1", "1").unwrap();
    img.write(&support::bytes(3, 4096), 0).unwrap();
    img.close(true).unwrap();
    let before = sim.vms().requests();
    let again = plugin.open_server("VastData:c1", login).unwrap();
    assert_eq!(again.images("auto-b").unwrap().len(), 1, "nothing was recreated");
    // A second open only reads: cluster, tenant, user, policy, views, quotas.
    assert!(sim.vms().requests() - before < 20);
    drop((s, again));
    plugin.terminate().unwrap();
}
