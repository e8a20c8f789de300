//! WORM LSUs through the plugin's C ABI, on the simulator and on moto (an
//! S3 server nobody here wrote), both enforcing S3 Object Lock: an LSU
//! that says it is WORM capable, locks in its bounds, a delete refused
//! until the lock expires while the image restores bit for bit, locks only
//! extended, and everything freed, every version, once it has expired.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vastost_testkit as support;

use vastost_ost::sts_status::*;
use vastost_ost::*;
use vastost_sim::Simulator;
use vastost_sim::moto::Moto;

const LSU: &str = "worm-pool";
/// Longest lock the test LSU allows, in seconds.
const MAX: u64 = 3600;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The plugin with server `VastData:worm` on `endpoint`: compliance locks of
/// 2 s to an hour, 64 KiB fragments.
fn plugin_on(endpoint: &str, access: &str, secret: &str) -> (tempfile::TempDir, vastost_loader::Plugin) {
    plugin_with(endpoint, access, secret, "compliance", "")
}

/// [`plugin_on`] with locks of `mode`, and `extra` lines of the server's
/// configuration. No log file; audit lines go to the socket `syslog` in the
/// returned folder (see [`syslog`]).
fn plugin_with(
    endpoint: &str,
    access: &str,
    secret: &str,
    mode: &str,
    extra: &str,
) -> (tempfile::TempDir, vastost_loader::Plugin) {
    let dir = tempfile::tempdir().unwrap();
    let creds = support::write_s3_credentials(dir.path(), access, secret);
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[plugin]\nsyslog_socket = \"{}\"\n\n\
             [server.\"worm\"]\ndata_path = \"s3\"\nendpoint = \"{endpoint}\"\ncredentials_file = \"{}\"\n\
             lsus = [\"{LSU}\"]\nfragment_size = \"64KiB\"\nworm_mode = \"{mode}\"\n\
             {extra}{}worm_max_secs = {MAX}\n",
            dir.path().join("syslog").display(),
            creds.display(),
            if extra.contains("worm_min_secs") { "" } else { "worm_min_secs = 2\n" },
        ),
    )
    .unwrap();
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();
    (dir, plugin)
}

/// A system log for the plugin of `dir` (see [`plugin_with`]), as journald
/// listens on `/dev/log`.
fn syslog(dir: &tempfile::TempDir) -> std::os::unix::net::UnixDatagram {
    let socket = std::os::unix::net::UnixDatagram::bind(dir.path().join("syslog")).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    socket
}

/// The next line the plugin sent to `log`.
fn logged(log: &std::os::unix::net::UnixDatagram) -> String {
    let mut buf = [0u8; 2048];
    let n = log.recv(&mut buf).expect("a line in the system log");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A simulator, in a folder of its own, whose bucket `LSU` has S3 Object
/// Lock (and so keeps versions).
fn locked_sim() -> (tempfile::TempDir, Simulator) {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_locked_bucket(LSU).unwrap();
    (dir, sim)
}

/// One server's run; `versions(prefix)` counts what the bucket keeps under
/// a prefix, every version and delete marker included.
fn locked_image_life(plugin: &vastost_loader::Plugin, versions: &dyn Fn(&str) -> usize, check: &dyn Fn(u64)) {
    let s = plugin.open_server("VastData:worm", None).unwrap();
    let info = s.lsu_info(LSU).unwrap();
    assert_eq!(info.flags & (STS_LSUF_WORM | STS_LSUF_WORM_COMPLIANCE), STS_LSUF_WORM | STS_LSUF_WORM_COMPLIANCE);
    assert_eq!(info.worm_bounds, (2, MAX));

    let data = support::bytes(12, 5 * 64 * 1024 + 512);
    let mut img = s.create_image(LSU, "client_1_C1_F1", "1").unwrap();
    img.write(&data, 0).unwrap();
    img.write_meta(b"catalog", 0).unwrap();
    // A pending image cannot be locked.
    assert_eq!(s.lock_image(LSU, "client_1_C1_F1", "1", now() + 60).unwrap_err().code(), Some(STS_ESTATE));
    img.close(true).unwrap();

    let code = |r: Result<(), vastost_loader::OstError>| r.err().and_then(|e| e.code());
    assert_eq!(code(s.lock_image(LSU, "client_1_C1_F1", "1", now())), Some(STS_EWORM_MIN));
    assert_eq!(code(s.lock_image(LSU, "client_1_C1_F1", "1", now() + 2 * MAX)), Some(STS_EWORM_MAX));
    assert_eq!(code(s.lock_image(LSU, "nobody", "1", now() + 60)), Some(STS_ENOIMAGE));
    let until = now() + 6;
    s.lock_image(LSU, "client_1_C1_F1", "1", until).unwrap();
    // The same lock again is fine (what completes a lock a crash cut
    // short); an earlier one is refused, a later one extends.
    s.lock_image(LSU, "client_1_C1_F1", "1", until).unwrap();
    assert_eq!(code(s.lock_image(LSU, "client_1_C1_F1", "1", until - 1)), Some(STS_EACCESS));
    let until = until + 1;
    s.lock_image(LSU, "client_1_C1_F1", "1", until).unwrap();
    let shown = s.image_info(LSU, "client_1_C1_F1", "1").unwrap();
    assert_eq!((shown.flags & STS_II_WORM_LOCKED, shown.worm_until), (STS_II_WORM_LOCKED, until));
    check(until);

    // A locked image is immutable: its metadata too.
    let mut r = s.open_image(LSU, "client_1_C1_F1", "1", STS_O_READ).unwrap();
    assert_eq!(r.write_meta(b"changed", 0).unwrap_err().code(), Some(STS_EWORM_LOCKED));
    let mut meta = [0u8; 16];
    assert_eq!(r.read_meta(&mut meta, 0).unwrap(), 7);
    assert_eq!(&meta[..7], b"catalog");
    drop(r);

    // Deleting is refused and deletes nothing: listed, restored whole.
    assert_eq!(code(s.delete_image(LSU, "client_1_C1_F1", "1")), Some(STS_EWORM_LOCKED));
    assert_eq!(s.images(LSU).unwrap().len(), 1);
    let mut r = s.open_image(LSU, "client_1_C1_F1", "1", STS_O_READ).unwrap();
    let mut back = vec![0u8; data.len() + 512];
    assert_eq!(r.read(&mut back, 0).unwrap(), data.len() as u64);
    assert!(back[..data.len()] == data[..], "a locked image restores other bytes");
    drop(r);

    // Once the lock expired: deleted, and reclaim leaves no version behind.
    std::thread::sleep(Duration::from_secs((until + 1).saturating_sub(now())));
    s.delete_image(LSU, "client_1_C1_F1", "1").unwrap();
    assert!(s.images(LSU).unwrap().is_empty());
    assert_eq!(versions("images/client_1_C1_F1/1/frag/"), 0, "fragments and all their versions are freed");
    assert_eq!(versions("images/client_1_C1_F1/1/meta"), 0);
    s.reclaim(Some(LSU), Some(0), Some(0)).unwrap();
    assert_eq!(versions("images/"), 0, "nothing of the image is left, not even a delete marker");
    drop(s);
    plugin.terminate().unwrap();
}

#[test]
fn a_locked_image_is_kept_until_its_lock_expires_on_the_simulator() {
    let _turn = support::turn();
    let (_data, sim) = locked_sim();
    let (_dir, plugin) = plugin_on(&sim.s3_endpoint(), vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY);
    let versions = |prefix: &str| sim.object_versions(LSU, prefix).len();
    // Every fragment, the metadata and the commit record carry the lock.
    let check = |until: u64| {
        let keys = sim.object_keys(LSU, "images/client_1_C1_F1/1/");
        let frags = keys.iter().filter(|k| k.contains("/frag/")).count();
        assert!(frags >= 5, "{keys:?}");
        let locked: Vec<&String> = keys
            .iter()
            .filter(|k| {
                sim.retention(LSU, k)
                    .is_some_and(|(m, t)| m == "COMPLIANCE" && t >= UNIX_EPOCH + Duration::from_secs(until))
            })
            .collect();
        assert!(
            keys.iter().filter(|k| !k.contains("/manifest/")).all(|k| locked.contains(&k)),
            "unlocked: {keys:?} locked: {locked:?}"
        );
        assert!(locked.iter().any(|k| k.contains("/manifest/")), "the commit record is locked: {locked:?}");
    };
    locked_image_life(&plugin, &versions, &check);
}

#[test]
fn a_locked_image_is_kept_until_its_lock_expires_on_moto() {
    let _turn = support::turn();
    let moto = Moto::start().expect("moto_server (pip install 'moto[server]')");
    moto.create_locked_bucket(LSU).unwrap();
    let (_dir, plugin) = plugin_on(&moto.endpoint(), "AKIAWORM", "worm-secret");
    let versions = |prefix: &str| moto.versions(LSU, prefix).unwrap();
    locked_image_life(&plugin, &versions, &|_| {});
}

#[test]
fn a_copy_by_reference_keeps_its_sources_data_locked_until_its_own_unlock_time() {
    let _turn = support::turn();
    let (_data, sim) = locked_sim();
    let (_dir, plugin) = plugin_on(&sim.s3_endpoint(), vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY);
    let s = plugin.open_server("VastData:worm", None).unwrap();
    let data = support::bytes(21, 3 * 64 * 1024);
    let mut img = s.create_image(LSU, "source", "1").unwrap();
    img.write(&data, 0).unwrap();
    img.close(true).unwrap();
    let source_until = now() + 3;
    s.lock_image(LSU, "source", "1", source_until).unwrap();
    s.copy_image(LSU, ("source", "1"), &s, LSU, ("copy", "1")).unwrap();
    let copy_until = now() + 600;
    s.lock_image(LSU, "copy", "1", copy_until).unwrap();

    // The source's fragments, which the copy maps, are locked as long as
    // the copy is.
    let fragments = sim.object_keys(LSU, "images/source/1/frag/");
    assert_eq!(fragments.len(), 3, "{fragments:?}");
    for key in &fragments {
        let (mode, until) = sim.retention(LSU, key).expect("locked");
        assert_eq!(mode, "COMPLIANCE");
        assert!(until >= UNIX_EPOCH + Duration::from_secs(copy_until), "{key} locked only until {until:?}");
    }

    // A version written over one of those fragments (in the source's
    // folder) is named as tampering with the copy too, and removed.
    sim.put_object(LSU, &fragments[1], b"not the backup").unwrap();
    let report = s.image_tampered(LSU, "copy", "1", false).unwrap();
    assert!(report.contains(&fragments[1]) && report.contains("new version over a locked object"), "{report}");
    let cleaned = s.image_tampered(LSU, "copy", "1", true).unwrap();
    assert_eq!(cleaned.lines().filter(|l| l.starts_with("removed")).count(), 1, "{cleaned}");

    // The source's own lock expires: it can be deleted, and reclaim keeps
    // the data the copy needs.
    std::thread::sleep(Duration::from_secs((source_until + 1).saturating_sub(now())));
    s.delete_image(LSU, "source", "1").unwrap();
    s.reclaim(Some(LSU), Some(0), Some(0)).unwrap();
    assert_eq!(sim.object_keys(LSU, "images/source/1/frag/"), fragments, "the copy's data is kept");
    let mut r = s.open_image(LSU, "copy", "1", STS_O_READ).unwrap();
    let mut back = vec![0u8; data.len()];
    assert_eq!(r.read(&mut back, 0).unwrap(), data.len() as u64);
    assert!(back == data, "the copy restores its source's bytes");
    drop(r);
    let code = s.delete_image(LSU, "copy", "1").unwrap_err().code();
    assert_eq!(code, Some(STS_EWORM_LOCKED));
    drop(s);
    plugin.terminate().unwrap();
}

#[test]
fn a_governance_lock_is_lifted_only_by_a_privileged_call_and_a_compliance_lock_never() {
    let _turn = support::turn();
    let (_data, sim) = locked_sim();
    // A user of the cluster without the bypass permission.
    sim.add_s3_key("AKIAPLAINUSER", "plain-user-secret");
    let data = support::bytes(8, 2 * 64 * 1024);
    let backup = |s: &vastost_loader::Server<'_>, name: &str| {
        let mut img = s.create_image(LSU, name, "1").unwrap();
        img.write(&data, 0).unwrap();
        img.close(true).unwrap();
        s.lock_image(LSU, name, "1", now() + 600).unwrap();
    };
    let code = |r: Result<(), vastost_loader::OstError>| r.err().and_then(|e| e.code());

    let (d1, plugin) = plugin_with(&sim.s3_endpoint(), "AKIAPLAINUSER", "plain-user-secret", "governance", "");
    let log = syslog(&d1);
    let s = plugin.open_server("VastData:worm", None).unwrap();
    backup(&s, "unprivileged");
    assert_eq!(code(s.release_image_lock(LSU, "unprivileged", "1", "")), Some(STS_EINVAL), "who asks is required");
    assert_eq!(
        code(s.release_image_lock(LSU, "unprivileged", "1", "ops: test")),
        Some(STS_EACCESS),
        "the cluster refuses a user without the bypass permission"
    );
    assert_eq!(code(s.delete_image(LSU, "unprivileged", "1")), Some(STS_EWORM_LOCKED));
    // The attempt and its failure are on the record, and in the system log.
    let trail = s.lsu_audit(LSU).unwrap();
    let actions: Vec<&str> = trail.lines().map(|l| l.split('\t').nth(2).unwrap()).collect();
    assert_eq!(actions, ["governance-release", "governance-release-failed"], "{trail}");
    assert!(logged(&log).contains("governance-release of unprivileged/1"));
    assert!(logged(&log).contains("governance-release-failed of unprivileged/1"));
    drop(s);
    plugin.terminate().unwrap();

    let (d2, plugin) =
        plugin_with(&sim.s3_endpoint(), vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY, "governance", "");
    let log = syslog(&d2);
    let s = plugin.open_server("VastData:worm", None).unwrap();
    backup(&s, "released");
    let until = s.image_info(LSU, "released", "1").unwrap().worm_until;
    s.release_image_lock(LSU, "released", "1", "ops: legal approved early release").unwrap();
    // With no log file configured, the release is on the cluster, locked
    // beyond anyone's reach until the lock would have expired, and in the
    // system log.
    let line = logged(&log);
    assert!(line.starts_with("<85>vastost[") && line.contains("\"ops: legal approved early release\""), "{line}");
    let trail = s.lsu_audit(LSU).unwrap();
    let last: Vec<&str> = trail.lines().last().unwrap().split('\t').collect();
    assert_eq!(
        last[1..6],
        [until.to_string().as_str(), "governance-release", "released", "1", "ops: legal approved early release"]
    );
    let records = sim.object_keys(LSU, ".vastost/audit/");
    assert_eq!(records.len(), 3, "{records:?}");
    for key in &records {
        let (mode, held) = sim.retention(LSU, key).expect("an audit record is locked");
        assert_eq!(mode, "COMPLIANCE");
        assert!(held >= UNIX_EPOCH + Duration::from_secs(until.min(now() + 60)), "{key}");
    }
    let info = s.image_info(LSU, "released", "1").unwrap();
    assert_eq!(info.flags & STS_II_WORM_LOCKED, 0, "no longer locked");
    s.delete_image(LSU, "released", "1").unwrap();
    assert_eq!(sim.object_versions(LSU, "images/released/1/frag/").len(), 0, "its data is freed at once");
    drop(s);
    plugin.terminate().unwrap();

    let (_d3, plugin) =
        plugin_with(&sim.s3_endpoint(), vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY, "compliance", "");
    let s = plugin.open_server("VastData:worm", None).unwrap();
    backup(&s, "compliant");
    assert_eq!(code(s.release_image_lock(LSU, "compliant", "1", "ops: try")), Some(STS_EACCESS));
    assert_eq!(code(s.delete_image(LSU, "compliant", "1")), Some(STS_EWORM_LOCKED));
    drop(s);
    plugin.terminate().unwrap();
}

#[test]
fn an_lsu_with_a_default_lock_locks_each_image_as_it_is_closed() {
    let _turn = support::turn();
    let (_data, sim) = locked_sim();
    let extra = "worm_default_secs = 600\n";
    let (_dir, plugin) =
        plugin_with(&sim.s3_endpoint(), vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY, "compliance", extra);
    let s = plugin.open_server("VastData:worm", None).unwrap();
    let before = now();
    let mut img = s.create_image(LSU, "by_default", "1").unwrap();
    img.write(&support::bytes(4, 64 * 1024), 0).unwrap();
    img.close(true).unwrap();
    let info = s.image_info(LSU, "by_default", "1").unwrap();
    assert_eq!(info.flags & STS_II_WORM_LOCKED, STS_II_WORM_LOCKED);
    assert!((before + 600..=now() + 600).contains(&info.worm_until), "{}", info.worm_until);
    assert_eq!(s.delete_image(LSU, "by_default", "1").unwrap_err().code(), Some(STS_EWORM_LOCKED));
    for key in sim.object_keys(LSU, "images/by_default/1/frag/") {
        assert!(sim.retention(LSU, &key).is_some(), "{key} is locked on the storage");
    }
    // A pending image (a checkpoint) is not locked: it is not written yet.
    let mut img = s.create_image(LSU, "checkpointed", "1").unwrap();
    img.write(&support::bytes(5, 512), 0).unwrap();
    img.close(false).unwrap();
    assert_eq!(s.image_info(LSU, "checkpointed", "1").unwrap().worm_until, 0);
    s.delete_image(LSU, "checkpointed", "1").unwrap();
    drop(s);
    plugin.terminate().unwrap();
}

/// Someone holding the plugin's S3 keys writes behind a locked image's lock
/// in every way the storage accepts: a delete marker on a fragment, a new
/// version over another fragment and over the metadata, a copy of the
/// locked record stored as a newer record, and a newer record of its own
/// making that says the image is deleted. The image still lists as it
/// was, restores bit for bit and cannot be deleted; the plugin names every
/// addition, and removes them with the same keys.
fn writes_behind_a_lock_change_nothing(endpoint: &str, access: &str, secret: &str, plugin: &vastost_loader::Plugin) {
    let s = plugin.open_server("VastData:worm", None).unwrap();
    let data = support::bytes(31, 4 * 64 * 1024 + 512);
    let mut img = s.create_image(LSU, "victim", "1").unwrap();
    img.write(&data, 0).unwrap();
    img.write_meta(b"catalog", 0).unwrap();
    img.close(true).unwrap();
    s.lock_image(LSU, "victim", "1", now() + MAX / 2).unwrap();
    assert!(s.image_tampered(LSU, "victim", "1", false).unwrap().is_empty(), "nothing added yet");

    let aws = |args: &[&str]| support::aws(endpoint, access, secret, args);
    let keys = |prefix: &str| -> Vec<String> {
        let out = aws(&[
            "list-objects-v2",
            "--bucket",
            LSU,
            "--prefix",
            prefix,
            "--query",
            "Contents[].Key",
            "--output",
            "text",
        ]);
        out.split_whitespace().filter(|k| *k != "None").map(str::to_string).collect()
    };
    let frags = keys("images/victim/1/frag/");
    assert!(frags.len() >= 4, "{frags:?}");
    let records = keys("images/victim/1/manifest/");
    let record = records.last().unwrap().clone();
    let junk = std::env::temp_dir().join(format!("vastost-junk-{}", std::process::id()));
    std::fs::write(&junk, b"not the backup").unwrap();
    let junk_path = junk.to_str().unwrap();
    aws(&["delete-object", "--bucket", LSU, "--key", &frags[0]]);
    aws(&["put-object", "--bucket", LSU, "--key", &frags[1], "--body", junk_path]);
    aws(&["put-object", "--bucket", LSU, "--key", "images/victim/1/meta", "--body", junk_path]);
    let copy = std::env::temp_dir().join(format!("vastost-record-{}", std::process::id()));
    aws(&["get-object", "--bucket", LSU, "--key", &record, copy.to_str().unwrap()]);
    aws(&[
        "put-object",
        "--bucket",
        LSU,
        "--key",
        "images/victim/1/manifest/00000000000000000090",
        "--body",
        copy.to_str().unwrap(),
    ]);
    aws(&[
        "put-object",
        "--bucket",
        LSU,
        "--key",
        "images/victim/1/manifest/00000000000000000091",
        "--body",
        junk_path,
    ]);
    let _ = std::fs::remove_file(&junk);
    let _ = std::fs::remove_file(&copy);

    // Listed as it was, restored bit for bit, its metadata intact.
    let listed = s.images(LSU).unwrap();
    let victim = listed.iter().find(|i| i.basename == "victim").expect("listed");
    assert_eq!((victim.size, victim.flags & STS_II_WORM_LOCKED), (data.len() as u64, STS_II_WORM_LOCKED));
    let mut r = s.open_image(LSU, "victim", "1", STS_O_READ).unwrap();
    let mut back = vec![0u8; data.len()];
    assert_eq!(r.read(&mut back, 0).unwrap(), data.len() as u64);
    assert!(back == data, "a tampered locked image restores other bytes");
    let mut meta = [0u8; 16];
    assert_eq!(r.read_meta(&mut meta, 0).unwrap(), 7);
    assert_eq!(&meta[..7], b"catalog");
    drop(r);
    assert_eq!(s.delete_image(LSU, "victim", "1").unwrap_err().code(), Some(STS_EWORM_LOCKED));

    // Every addition is named; removing them with the keys leaves none.
    let report = s.image_tampered(LSU, "victim", "1", false).unwrap();
    let named = |key: &str, what: &str| report.lines().any(|l| l.contains(key) && l.contains(what));
    assert!(named(&frags[0], "delete marker"), "{report}");
    assert!(named(&frags[1], "new version over a locked object"), "{report}");
    assert!(named("images/victim/1/meta", "new version over a locked object"), "{report}");
    assert!(named("manifest/00000000000000000090", "commit record added"), "{report}");
    assert!(named("manifest/00000000000000000091", "commit record added"), "{report}");
    assert_eq!(report.lines().count(), 5, "{report}");
    let cleaned = s.image_tampered(LSU, "victim", "1", true).unwrap();
    assert_eq!(cleaned.lines().filter(|l| l.starts_with("removed")).count(), 5, "{cleaned}");
    assert!(s.image_tampered(LSU, "victim", "1", false).unwrap().is_empty());
    assert_eq!(keys("images/victim/1/frag/"), frags, "the fragment hidden by the marker is back");
    drop(s);
    plugin.terminate().unwrap();
}

#[test]
fn writes_behind_a_lock_change_nothing_on_the_simulator() {
    let _turn = support::turn();
    let (_data, sim) = locked_sim();
    let (_dir, plugin) = plugin_on(&sim.s3_endpoint(), vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY);
    writes_behind_a_lock_change_nothing(&sim.s3_endpoint(), vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY, &plugin);
}

#[test]
fn writes_behind_a_lock_change_nothing_on_moto() {
    let _turn = support::turn();
    let moto = Moto::start().expect("moto_server (pip install 'moto[server]')");
    moto.create_locked_bucket(LSU).unwrap();
    let (_dir, plugin) = plugin_on(&moto.endpoint(), "AKIAWORM", "worm-secret");
    writes_behind_a_lock_change_nothing(&moto.endpoint(), "AKIAWORM", "worm-secret", &plugin);
}

/// A lock of exactly the LSU's minimum, asked for from the caller's clock a
/// moment before, is set (the storage compares to the sub-second), and so
/// is one of exactly its maximum.
#[test]
fn a_lock_at_exactly_the_bounds_is_set_on_the_simulator() {
    let _turn = support::turn();
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_locked_bucket_with_bounds(LSU, Duration::from_secs(60), Duration::from_secs(MAX)).unwrap();
    let (_dir, plugin) = plugin_with(
        &sim.s3_endpoint(),
        vastost_sim::ACCESS_KEY,
        vastost_sim::SECRET_KEY,
        "compliance",
        "worm_min_secs = 60\n",
    );
    let s = plugin.open_server("VastData:worm", None).unwrap();
    for (name, period) in [("at-min", 60), ("at-max", MAX)] {
        let mut img = s.create_image(LSU, name, "1").unwrap();
        img.write(&support::bytes(5, 3 * 64 * 1024), 0).unwrap();
        img.close(true).unwrap();
        let asked = now() + period;
        std::thread::sleep(Duration::from_millis(1100));
        s.lock_image(LSU, name, "1", asked).unwrap_or_else(|e| panic!("{name}: {e}"));
        let shown = s.image_info(LSU, name, "1").unwrap();
        assert_eq!(shown.flags & STS_II_WORM_LOCKED, STS_II_WORM_LOCKED, "{name}");
    }
    drop(s);
    plugin.terminate().unwrap();
}
