//! VAST's own Python client, vastpy (PyPI, `pip install vastpy==0.3.22`),
//! against the simulator over HTTPS as against a cluster: it provisions a
//! tenant, a user in a local provider, an S3 view, a quota and S3 keys, and
//! checks what VMS keeps (`python/vastpy_session.py`); then the plugin backs
//! up and restores through the bucket with the keys vastpy created, logged
//! in to the same VMS over TLS.

use vastost_testkit as support;

use std::process::Command;

use vastost_sim::{SimTls, Simulator};

#[test]
fn vastpy_provisions_the_simulator_and_the_plugin_uses_what_it_made() {
    let _turn = support::turn();
    let dir = tempfile::tempdir().unwrap();
    let tls = SimTls::self_signed().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &tls.cert_pem).unwrap();
    let sim = Simulator::start_with(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap(), Some(tls)).unwrap();
    let vms = sim.vms_endpoint();
    assert!(vms.starts_with("https://"), "VMS is served over HTTPS: {vms}");
    let address = vms.trim_start_matches("https://");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/vastpy_session.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args([script, address, ca.to_str().unwrap(), "vastpy-pool"])
        .output()
        .expect("python3 runs (pip install vastpy==0.3.22)");
    assert!(
        out.status.success(),
        "vastpy session failed (is vastpy installed? pip install vastpy==0.3.22):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("vastpy made {} calls", made["calls"]);

    // The plugin, with the keys vastpy created, over HTTPS to both.
    let keys_dir = dir.path().join("keys");
    std::fs::create_dir_all(&keys_dir).unwrap();
    let creds = support::write_s3_credentials(
        &keys_dir,
        made["access_key"].as_str().unwrap(),
        made["secret_key"].as_str().unwrap(),
    );
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[server.\"vastpy\"]\ndata_path = \"s3\"\nendpoint = \"{}\"\ncredentials_file = \"{}\"\n\
             ca_bundle = \"{}\"\nvms_endpoint = \"{vms}\"\nfragment_size = \"64KiB\"\n",
            sim.s3_endpoint(),
            creds.display(),
            ca.display()
        ),
    )
    .unwrap();
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();
    let s = plugin.open_server("VastData:vastpy", Some(("admin", "123456"))).unwrap();
    assert!(s.lsus().unwrap().contains(&"vastpy-pool".to_string()), "the view vastpy made is an LSU");
    let info = s.lsu_info("vastpy-pool").unwrap();
    assert_eq!(info.capacity, 2 << 30, "the quota vastpy set and patched");
    let data = support::bytes(61, (300 << 10) + 512);
    support::backup(&s, "vastpy-pool", "vastpy_1_C1_F1", &data, 64 << 10).unwrap();
    assert!(support::restore(&s, "vastpy-pool", "vastpy_1_C1_F1", 64 << 10).unwrap() == data);
    drop(s);
    plugin.terminate().unwrap();
}
