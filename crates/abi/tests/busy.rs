//! A busy cluster sheds load: the simulator answers S3 requests beyond a
//! few in flight with `503 SlowDown` at once. Many concurrent backups and
//! restores back off, retry and finish, every byte intact.

use vastost_testkit as support;

use vastost_sim::{SimOptions, Simulator};

#[test]
fn backups_and_restores_back_off_from_slow_down_and_finish() {
    let dir = tempfile::tempdir().unwrap();
    let options = SimOptions { max_in_flight: 3, ..SimOptions::default() };
    let sim = Simulator::start_with_options(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap(), options).unwrap();
    sim.create_bucket("busy").unwrap();
    let creds = support::write_sim_credentials(dir.path());
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[server.\"busy\"]\ndata_path = \"s3\"\nendpoint = \"{}\"\ncredentials_file = \"{}\"\nlsus = [\"busy\"]\n\
             fragment_size = \"256KiB\"\nretries = 8\n",
            sim.s3_endpoint(),
            creds.display()
        ),
    )
    .unwrap();
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();
    let plugin = &plugin;
    let data: Vec<Vec<u8>> = (0..8).map(|i| support::bytes(90 + i, (3 << 20) + 512)).collect();
    std::thread::scope(|scope| {
        for (i, bytes) in data.iter().enumerate() {
            scope.spawn(move || {
                let s = plugin.open_server("VastData:busy", None).unwrap();
                support::backup(&s, "busy", &format!("job{i}"), bytes, 1 << 20).unwrap();
            });
        }
    });
    std::thread::scope(|scope| {
        for (i, bytes) in data.iter().enumerate() {
            scope.spawn(move || {
                let s = plugin.open_server("VastData:busy", None).unwrap();
                let back = support::restore(&s, "busy", &format!("job{i}"), 1 << 20).unwrap();
                assert!(back == *bytes, "job{i} restored other bytes");
            });
        }
    });
    let shed = sim.shed_requests();
    eprintln!("requests shed with 503 SlowDown: {shed}");
    assert!(shed > 0, "the simulator never shed a request: the test shows nothing");
    plugin.terminate().unwrap();
}
