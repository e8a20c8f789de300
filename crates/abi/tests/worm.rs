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
    let dir = tempfile::tempdir().unwrap();
    let creds = support::write_s3_credentials(dir.path(), access, secret);
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[server.\"worm\"]\ndata_path = \"s3\"\nendpoint = \"{endpoint}\"\ncredentials_file = \"{}\"\n\
             lsus = [\"{LSU}\"]\nfragment_size = \"64KiB\"\nworm_mode = \"compliance\"\nworm_min_secs = 2\n\
             worm_max_secs = {MAX}\n",
            creds.display()
        ),
    )
    .unwrap();
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();
    (dir, plugin)
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
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_locked_bucket(LSU).unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_locked_bucket(LSU).unwrap();
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
