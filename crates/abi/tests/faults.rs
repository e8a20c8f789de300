//! Backups and restores through a fault-injecting proxy between the plugin
//! and the simulator (S3 and VMS): every class of fault a site sees, on a
//! schedule and at random with a seed. What the plugin acknowledged comes
//! back bit for bit; what it could not store or read, it says so.

use vastost_testkit as support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use vastost_loader::{OstError, Plugin, Server};
use vastost_ost::sts_status::*;
use vastost_ost::*;
use vastost_sim::Simulator;
use vastost_sim::faults::{Fault, FaultProxy};

struct Rig {
    sim: Simulator,
    s3: FaultProxy,
    vms: FaultProxy,
    /// A VIP that is down: it resets every connection.
    dead_vip: FaultProxy,
    plugin: Plugin,
}

fn addr(endpoint: &str) -> SocketAddr {
    endpoint.trim_start_matches("http://").parse().unwrap()
}

/// The rig, shared: one plugin instance serves the process (a second
/// `init` keeps the first configuration), and the proxies' fault plans are
/// global, so the tests take turns.
fn rig() -> std::sync::MutexGuard<'static, Rig> {
    static RIG: std::sync::OnceLock<std::sync::Mutex<Rig>> = std::sync::OnceLock::new();
    let rig = RIG.get_or_init(|| std::sync::Mutex::new(start_rig())).lock().unwrap_or_else(|p| p.into_inner());
    rig.s3.calm();
    rig.vms.calm();
    rig
}

fn start_rig() -> Rig {
    let dir = support::process_dir(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")), "faults");
    let sim = Simulator::start(&dir.join("s3"), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_bucket("faults").unwrap();
    sim.vms().add_user("nbu", "nbu-pw");
    let s3 = FaultProxy::start(addr(&sim.s3_endpoint())).unwrap();
    let vms = FaultProxy::start(addr(&sim.vms_endpoint())).unwrap();
    let dead_vip = FaultProxy::start(addr(&sim.s3_endpoint())).unwrap();
    sim.create_bucket("faults2").unwrap();
    sim.create_locked_bucket("faultlock").unwrap();
    let creds = support::write_sim_credentials(&dir);
    let config = dir.join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[plugin]\nmemory_budget = \"64MiB\"\nlog_level = \"debug\"\nlog_file = \"{log}\"\n\n\
             [server.\"faulty\"]\ndata_path = \"s3\"\nendpoint = \"{s3}\"\ncredentials_file = \"{creds}\"\n\
             lsus = [\"faults\"]\nfragment_size = \"64KiB\"\nread_ahead = \"256KiB\"\nretries = 4\n\
             request_timeout_secs = 2\n\n\
             [server.\"vms\"]\ndata_path = \"s3\"\nendpoint = \"{direct}\"\ncredentials_file = \"{creds}\"\n\
             vms_endpoint = \"{vms}\"\nvms_auth = \"basic\"\nlsus = [\"faults\"]\n\n\
             [server.\"direct\"]\ndata_path = \"s3\"\nendpoint = \"{direct}\"\ncredentials_file = \"{creds}\"\n\
             lsus = [\"faults2\"]\nfragment_size = \"64KiB\"\n\n\
             [server.\"vips\"]\ndata_path = \"s3\"\nendpoint = \"{dead}\"\nendpoints = [\"{direct}\"]\n\
             credentials_file = \"{creds}\"\nlsus = [\"faults\"]\nfragment_size = \"64KiB\"\nretries = 2\n\n\
             [server.\"lockfaulty\"]\ndata_path = \"s3\"\nendpoint = \"{s3}\"\ncredentials_file = \"{creds}\"\n\
             lsus = [\"faultlock\"]\nfragment_size = \"8MiB\"\nretries = 6\nrequest_timeout_secs = 5\n\
             worm_mode = \"compliance\"\nworm_min_secs = 2\nworm_max_secs = 3600\n\n\
             [server.\"lockvips\"]\ndata_path = \"s3\"\nendpoint = \"{dead}\"\nendpoints = [\"{direct}\"]\n\
             credentials_file = \"{creds}\"\nlsus = [\"faultlock\"]\nfragment_size = \"8MiB\"\nretries = 2\n\
             worm_mode = \"compliance\"\nworm_min_secs = 2\nworm_max_secs = 3600\n",
            log = dir.join("logs/plugin.log").display(),
            s3 = s3.endpoint(),
            direct = sim.s3_endpoint(),
            vms = vms.endpoint(),
            dead = dead_vip.endpoint(),
            creds = creds.display(),
        ),
    )
    .unwrap();
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();
    dead_vip.random(0, 1.0, vec![Fault::Reset]);
    Rig { sim, s3, vms, dead_vip, plugin }
}

fn backup(s: &Server<'_>, name: &str, data: &[u8]) -> Result<(), OstError> {
    support::backup(s, "faults", name, data, 96 << 10)
}

fn restore(s: &Server<'_>, name: &str) -> Result<Vec<u8>, OstError> {
    support::restore(s, "faults", name, 128 << 10)
}

/// Faults injected since `before`, by class.
fn since(before: &BTreeMap<&'static str, u64>, now: BTreeMap<&'static str, u64>) -> BTreeMap<&'static str, u64> {
    now.into_iter().map(|(k, v)| (k, v - before.get(k).copied().unwrap_or(0))).filter(|(_, v)| *v > 0).collect()
}

fn total(counts: &BTreeMap<&'static str, u64>) -> u64 {
    counts.values().sum()
}

#[test]
fn every_fault_class_is_survived_by_backup_and_restore() {
    let rig = rig();
    let s = rig.plugin.open_server("VastData:faulty", None).unwrap();
    let (before, connections) = (rig.s3.injected(), rig.s3.connections());
    let classes = [
        Fault::Drop,
        Fault::Reset,
        Fault::Status(500),
        Fault::Status(503),
        Fault::Stall(Duration::from_millis(300)),
        // Longer than the request timeout: the request is cut and retried.
        Fault::Stall(Duration::from_secs(3)),
        Fault::Slow(2 << 20),
        Fault::Truncate,
        Fault::Corrupt,
    ];
    for (n, fault) in classes.iter().enumerate() {
        let data = support::bytes(n as u64, (640 << 10) + 512);
        let name = format!("img{n}");
        // Two faults in the backup's first requests, two in the restore's.
        rig.s3.inject([fault.clone(), fault.clone()]);
        backup(&s, &name, &data).unwrap_or_else(|e| panic!("{fault:?} during backup: {e}"));
        rig.s3.inject([fault.clone(), fault.clone()]);
        let back = restore(&s, &name).unwrap_or_else(|e| panic!("{fault:?} during restore: {e}"));
        assert!(back == data, "{fault:?}: restored bytes differ");
        rig.s3.calm();
    }
    let injected = since(&before, rig.s3.injected());
    eprintln!(
        "faults injected per class: {injected:?} over {} connections; every backup and restore succeeded",
        rig.s3.connections() - connections
    );
    for class in ["drop", "reset", "http-500", "http-503", "stall", "slow", "truncate", "corrupt"] {
        assert!(injected.get(class).copied().unwrap_or(0) >= 2, "{class} was never injected: {injected:?}");
    }
}

#[test]
fn random_faults_with_a_seed_never_lose_a_byte() {
    let rig = rig();
    let s = rig.plugin.open_server("VastData:faulty", None).unwrap();
    let recoverable = vec![
        Fault::Drop,
        Fault::Reset,
        Fault::Status(500),
        Fault::Status(503),
        Fault::Stall(Duration::from_millis(200)),
        Fault::Truncate,
    ];
    let (before, connections) = (rig.s3.injected(), rig.s3.connections());
    rig.s3.random(20261122, 0.15, recoverable);
    for round in 0..6u64 {
        let data = support::bytes(100 + round, (384 << 10) + 512 * round as usize);
        let name = format!("random{round}");
        backup(&s, &name, &data).unwrap_or_else(|e| panic!("round {round} backup: {e}"));
        assert!(restore(&s, &name).unwrap() == data, "round {round}: restored bytes differ");
    }
    rig.s3.calm();
    let injected = since(&before, rig.s3.injected());
    eprintln!(
        "random faults (seed 20261122, p 0.15): {injected:?} over {} connections; 6 backups and restores identical",
        rig.s3.connections() - connections
    );
    assert!(total(&injected) >= 10, "{injected:?}");
}

#[test]
fn lasting_faults_are_reported_never_hidden() {
    let rig = rig();
    let s = rig.plugin.open_server("VastData:faulty", None).unwrap();
    let data = support::bytes(7, 256 << 10);
    backup(&s, "kept", &data).unwrap();

    // The endpoint answers nothing but SlowDown: the backup fails, clearly,
    // and leaves no image that looks complete.
    rig.s3.random(1, 1.0, vec![Fault::Status(503)]);
    let err = backup(&s, "refused", &data).unwrap_err();
    assert_eq!(err.code(), Some(STS_EAGAIN), "{err}");
    assert!(err.message.contains("SlowDown") || err.message.contains("503"), "{err}");
    rig.s3.calm();
    let images = s.images("faults").unwrap();
    assert!(
        !images.iter().any(|i| i.basename == "refused" && i.flags & STS_II_IMAGE_CREATED != 0),
        "nothing half-stored looks complete: {images:?}"
    );

    // Every answer corrupted: the restore fails with an integrity error,
    // and not one byte of bad data is handed out.
    let mut img = s.open_image("faults", "kept", "1", STS_O_READ).unwrap();
    rig.s3.random(2, 1.0, vec![Fault::Corrupt]);
    let mut buf = vec![0u8; 128 << 10];
    let err = img.read(&mut buf, 0).unwrap_err();
    assert_eq!(err.code(), Some(STS_EINTEGRITY), "{err}");
    rig.s3.calm();
    assert_eq!(img.read(&mut buf, 0).unwrap(), 128 << 10, "the same handle reads once the fault is gone");
    assert_eq!(buf, data[..128 << 10]);
    img.close(false).unwrap();
}

#[test]
fn vms_failover_faults_are_retried_and_a_dead_vms_is_reported() {
    let rig = rig();
    // A VMS failing over answers 502/503 for a moment, or drops connections.
    rig.vms.inject([Fault::Status(503), Fault::Drop, Fault::Status(503)]);
    let s = rig.plugin.open_server("VastData:vms", Some(("nbu", "nbu-pw"))).unwrap();
    assert!(s.info().unwrap().version.contains("ONLINE"));
    assert!(total(&rig.vms.injected()) >= 2, "{:?} in {} connections", rig.vms.injected(), rig.vms.connections());
    drop(s);
    rig.vms.random(3, 1.0, vec![Fault::Reset]);
    let err = rig.plugin.open_server("VastData:vms", Some(("nbu", "nbu-pw"))).unwrap_err();
    assert_eq!(err.code(), Some(STS_ECONNECT), "{err}");
    rig.vms.calm();
    // The simulator itself never saw a bad request.
    assert!(rig.sim.vms().requests() > 0);
}

#[test]
fn a_background_copy_is_cancelled_mid_way_and_leaves_nothing() {
    let rig = rig();
    let s = rig.plugin.open_server("VastData:faulty", None).unwrap();
    let data = support::bytes(40, 2 << 20);
    backup(&s, "slow_src", &data).unwrap();
    let target = s.open_target("VastData:direct", None).unwrap();
    // A slow link: each request crawls (the reader fetches the whole 2 MiB
    // in parallel, so each connection must be slow for the copy to be).
    rig.s3.random(4, 1.0, vec![Fault::Slow(32 << 10)]);
    s.named_async_copy("slow", "faults", ("slow_src", "1"), &target, "faults2", ("slow_dst", "1")).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let (done, running) = s.named_async_wait("slow", 0);
    assert_eq!(running.unwrap_err().code(), Some(STS_EINPROGRESS));
    assert!(done < data.len() as u64, "still under way: {done}");
    s.named_async_cancel("slow").unwrap();
    let (_, result) = s.named_async_wait("slow", 60);
    assert_eq!(result.unwrap_err().code(), Some(STS_ECANCELED));
    rig.s3.calm();
    assert!(!target.images("faults2").unwrap().iter().any(|i| i.basename == "slow_dst"), "no half copy is left");
    // Nothing of it stays on the target's storage either (its tombstone
    // goes too once older than the abandon age, here 0).
    target.reclaim(Some("faults2"), Some(0), Some(0)).unwrap();
    fn files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| if e.path().is_dir() { files(&e.path()) } else { 1 }).sum())
            .unwrap_or(0)
    }
    assert_eq!(files(&rig.sim.data().join("faults2/images")), 0, "objects of the cancelled copy are left");
}

#[test]
fn a_dead_vip_is_taken_out_of_the_rotation() {
    let rig = rig();
    let s = rig.plugin.open_server("VastData:vips", None).unwrap();
    let before = (rig.dead_vip.connections(), rig.sim.s3_connections().iter().map(|(_, n)| n).sum::<u64>());
    let data = support::bytes(41, (1 << 20) + 512);
    backup(&s, "vip", &data).unwrap();
    assert!(restore(&s, "vip").unwrap() == data);
    let dead = rig.dead_vip.connections() - before.0;
    let live = rig.sim.s3_connections().iter().map(|(_, n)| n).sum::<u64>() - before.1;
    eprintln!("dead VIP: {dead} connections; live VIP: {live}");
    assert!(live >= 3, "{live}");
    assert!(dead <= 12, "the dead VIP kept getting requests: {dead} (live {live})");
}

#[test]
fn an_upload_damaged_on_the_way_is_refused_and_sent_again() {
    let rig = rig();
    let s = rig.plugin.open_server("VastData:faulty", None).unwrap();
    let data = support::bytes(42, (512 << 10) + 512);
    // The first requests of a backup carry no body (listings, a HEAD): the
    // faults land on the uploads that follow.
    rig.s3.inject(std::iter::repeat_n(Fault::CorruptRequest, 6));
    let before = rig.s3.injected().get("corrupt-request").copied().unwrap_or(0);
    backup(&s, "damaged_upload", &data).unwrap();
    assert!(rig.s3.injected().get("corrupt-request").copied().unwrap_or(0) > before, "the fault was injected");
    rig.s3.calm();
    assert!(restore(&s, "damaged_upload").unwrap() == data, "stored bytes are the ones sent");
}

/// A lock is as many requests as the image has objects (read the
/// retention, set it), each one able to meet a fault: a 1 GiB image's lock
/// completes through 503s, 500s, resets and drops, and across a VIP that is
/// down, like its backup does, and the image is then locked whole.
#[test]
fn a_lock_of_a_large_image_survives_faults_and_a_dead_vip() {
    let rig = rig();
    let lsu = "faultlock";
    let data = support::bytes(77, 1 << 30);
    let direct = rig.plugin.open_server("VastData:lockfaulty", None).unwrap();
    support::backup(&direct, lsu, "big", &data, 4 << 20).unwrap();

    let (before, connections) = (rig.s3.injected(), rig.s3.connections());
    rig.s3.random(7, 0.2, vec![Fault::Status(503), Fault::Status(500), Fault::Reset, Fault::Drop]);
    let until = now() + 600;
    direct.lock_image(lsu, "big", "1", until).unwrap_or_else(|e| panic!("lock through faults: {e}"));
    rig.s3.calm();
    let injected = since(&before, rig.s3.injected());
    eprintln!("lock of 1 GiB: {injected:?} faults over {} connections", rig.s3.connections() - connections);
    assert!(total(&injected) >= 10, "too few faults met the lock: {injected:?}");
    let info = direct.image_info(lsu, "big", "1").unwrap();
    assert_eq!((info.flags & STS_II_WORM_LOCKED, info.worm_until), (STS_II_WORM_LOCKED, until));

    // The extension goes half to a VIP that resets every connection.
    let vips = rig.plugin.open_server("VastData:lockvips", None).unwrap();
    let dead = rig.dead_vip.connections();
    vips.lock_image(lsu, "big", "1", until + 60).unwrap_or_else(|e| panic!("lock across a dead VIP: {e}"));
    let dead = rig.dead_vip.connections() - dead;
    eprintln!("extension across a dead VIP: {dead} connections to it");
    assert!(dead <= 12, "the dead VIP kept getting lock requests: {dead}");
    assert_eq!(vips.image_info(lsu, "big", "1").unwrap().worm_until, until + 60);

    // Locked whole: nothing can be deleted, and every byte comes back.
    assert!(direct.delete_image(lsu, "big", "1").is_err(), "a locked image was deleted");
    let back = support::restore(&direct, lsu, "big", 4 << 20).unwrap();
    assert!(back == data, "the locked image came back different");
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}
