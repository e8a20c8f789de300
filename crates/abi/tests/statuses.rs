//! Each documented status code comes from its cause, through the C ABI:
//! failures that may pass are `STS_EAGAIN` even when every retry failed,
//! refusals of the storage are `STS_EACCESS`, missing things are their own
//! codes, unaligned offsets are `STS_EINVAL` as the README's table says.

use vastost_testkit as support;

use std::net::TcpListener;

use vastost_loader::OstError;
use vastost_ost::STS_O_READ;
use vastost_ost::sts_status::{self, *};
use vastost_sim::Simulator;

fn code(e: OstError) -> (sts_status, String) {
    (e.code().unwrap_or_else(|| panic!("unknown status {}", e.status)), e.message)
}

#[test]
fn every_cause_maps_to_its_documented_status() {
    let _turn = support::turn();
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_bucket("pool").unwrap();
    let good = support::write_sim_credentials(dir.path());
    let wrong_dir = dir.path().join("wrong");
    std::fs::create_dir_all(&wrong_dir).unwrap();
    let wrong = support::write_s3_credentials(&wrong_dir, vastost_sim::ACCESS_KEY, "not-the-secret");
    // A port nothing listens on, and one that accepts and never answers.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let s3 = |name: &str, endpoint: &str, creds: &std::path::Path| {
        format!(
            "[server.\"{name}\"]\ndata_path = \"s3\"\nendpoint = \"{endpoint}\"\ncredentials_file = \"{}\"\n\
             lsus = [\"pool\", \"nobucket\"]\nretries = 1\nrequest_timeout_secs = 1\nfragment_size = \"64KiB\"\n\n",
            creds.display()
        )
    };
    let config = dir.path().join("vastost.toml");
    let text = format!(
        "[plugin]\nlog_level = \"debug\"\nlog_file = \"{}\"\n\n{}{}{}{}[server.\"unmounted\"]\ndirectory = \"{}\"\n",
        dir.path().join("plugin.log").display(),
        s3("refused", &format!("http://{closed}"), &good),
        s3("silent", &format!("http://{}", silent.local_addr().unwrap()), &good),
        s3("wrongkey", &sim.s3_endpoint(), &wrong),
        s3("good", &sim.s3_endpoint(), &good),
        dir.path().join("not-mounted").display()
    );
    std::fs::write(&config, text).unwrap();
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();

    // Connection refused on every retry: temporary, not a system error.
    let s = plugin.open_server("VastData:refused", None).unwrap();
    let (st, msg) = code(s.create_image("pool", "img", "1").map(drop).unwrap_err());
    assert_eq!(st, STS_EAGAIN, "{msg}");
    // Timed out on every retry: temporary too.
    let s = plugin.open_server("VastData:silent", None).unwrap();
    let (st, msg) = code(s.create_image("pool", "img", "1").map(drop).unwrap_err());
    assert_eq!(st, STS_EAGAIN, "{msg}");
    // The storage refuses the signature: access denied.
    let s = plugin.open_server("VastData:wrongkey", None).unwrap();
    let (st, msg) = code(s.create_image("pool", "img", "1").map(drop).unwrap_err());
    assert_eq!(st, STS_EACCESS, "{msg}");
    // A bucket that does not exist is no LSU.
    let s = plugin.open_server("VastData:good", None).unwrap();
    let (st, msg) = code(s.create_image("nobucket", "img", "1").map(drop).unwrap_err());
    assert_eq!(st, STS_ENOLSU, "{msg}");
    // An unaligned read offset is refused as the README says.
    support::backup(&s, "pool", "img", &[1u8; 4096], 4096).unwrap();
    let mut r = s.open_image("pool", "img", "1", STS_O_READ).unwrap();
    let mut buf = [0u8; 512];
    assert_eq!(r.read(&mut buf, 512).unwrap(), 512);
    let (st, msg) = code(r.read(&mut buf, 100).unwrap_err());
    assert_eq!(st, STS_EINVAL, "{msg}");
    assert!(msg.contains("offset 100"), "{msg}");
    drop(r);
    // An NFS data directory that is not there: a configuration problem.
    let (st, msg) = code(plugin.open_server("VastData:unmounted", None).map(drop).unwrap_err());
    assert_eq!(st, STS_ECONFIG, "{msg}");
    drop(s);
    plugin.terminate().unwrap();
    let _ = sts_status::STS_EOK;
}

#[test]
fn a_server_that_ignores_conditional_writes_gets_no_writes_unless_allowed() {
    let _turn = support::turn();
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_bucket("pool").unwrap();
    let creds = support::write_sim_credentials(dir.path());
    let server = |name: &str, extra: &str| {
        format!(
            "[server.\"{name}\"]\ndata_path = \"s3\"\nendpoint = \"{}\"\ncredentials_file = \"{}\"\nlsus = [\"pool\"]\n{extra}\n",
            sim.s3_endpoint(),
            creds.display()
        )
    };
    let config = dir.path().join("vastost.toml");
    // The server changes its ways under the test: no host may remember
    // what it found before (see state_dir).
    let text = "[plugin]\nstate_dir = \"\"\n\n".to_string()
        + &server("strict", "")
        + &server("accepting", "allow_unconditional_writes = true");
    std::fs::write(&config, text).unwrap();
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();

    // A server that keeps conditional writes: commits as usual.
    let s = plugin.open_server("VastData:strict", None).unwrap();
    support::backup(&s, "pool", "before", &[3u8; 4096], 4096).unwrap();
    assert_eq!(s.lsu_info("pool").unwrap().flags & vastost_ost::VASTOST_LSUF_UNCONDITIONAL_WRITES, 0);
    drop(s);

    // The same server ignoring them (as some S3 servers do): found at the
    // LSU's first open, writes refused with the reason, reads still work.
    sim.ignore_conditional_writes(true);
    let s = plugin.open_server("VastData:strict", None).unwrap();
    let flags = s.lsu_info("pool").unwrap().flags;
    assert_ne!(flags & vastost_ost::VASTOST_LSUF_UNCONDITIONAL_WRITES, 0);
    let (st, msg) = code(s.create_image("pool", "after", "1").map(drop).unwrap_err());
    assert_eq!(st, STS_ECONFIG, "{msg}");
    assert!(msg.contains("If-None-Match") && msg.contains("allow_unconditional_writes"), "{msg}");
    let (st, _) = code(s.delete_image("pool", "before", "1").unwrap_err());
    assert_eq!(st, STS_ECONFIG, "a delete commits too");
    assert_eq!(support::restore(&s, "pool", "before", 4096).unwrap(), vec![3u8; 4096]);
    drop(s);

    // Accepted by configuration (one writer only): writes go ahead.
    let s = plugin.open_server("VastData:accepting", None).unwrap();
    support::backup(&s, "pool", "accepted", &[4u8; 4096], 4096).unwrap();
    drop(s);
    plugin.terminate().unwrap();
}
