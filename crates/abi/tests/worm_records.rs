//! Locked objects over time, on the simulator: every lock extension leaves
//! the record before it, locked; once those locks expire reclaim removes
//! them, never changing which record rules, and a record someone added
//! while an image was locked does not take over when the image's first
//! lock expires. Under a default retention, reclaim reports what the
//! storage kept and what it freed, checked against the versions left.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vastost_testkit as support;

use vastost_ost::*;
use vastost_sim::Simulator;

const LSU: &str = "worm-records";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn iso(secs: u64) -> String {
    jiff::Timestamp::from_second(secs as i64).unwrap().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The AWS CLI with the plugin's own keys, as someone who stole them.
fn aws(endpoint: &str, args: &[&str]) {
    support::aws(endpoint, vastost_sim::ACCESS_KEY, vastost_sim::SECRET_KEY, args);
}

fn restores(s: &vastost_loader::Server<'_>, name: &str, data: &[u8]) {
    let back = support::restore(s, LSU, name, 64 << 10).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(back == data, "{name} restores other bytes");
}

#[test]
fn fifty_extensions_leave_one_record_once_expired_and_an_added_record_never_takes_over() {
    let _turn = support::turn();
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_locked_bucket(LSU).unwrap();
    let config = support::write_worm_config(dir.path(), &sim.s3_endpoint(), LSU);
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();
    let s = plugin.open_server("VastData:worm", None).unwrap();
    let records = |name: &str| sim.object_versions(LSU, &format!("images/{name}/1/manifest/")).len();
    let data: Vec<Vec<u8>> = (0..3).map(|i| support::bytes(60 + i, 3 * 64 * 1024 + 512)).collect();
    for (name, bytes) in ["extended", "guarded", "decoy"].iter().zip(&data) {
        support::backup(&s, LSU, name, bytes, 64 << 10).unwrap();
    }

    let t0 = now();
    let last = t0 + 900;
    // "guarded" is locked briefly; while that holds, someone with the keys
    // stores another image's locked record, locked for long, among its
    // records; then the lock is extended as NetBackup would.
    s.lock_image(LSU, "guarded", "1", t0 + 3).unwrap();
    s.lock_image(LSU, "decoy", "1", last).unwrap();
    let decoy = sim.object_keys(LSU, "images/decoy/1/manifest/").pop().unwrap();
    let copy = dir.path().join("decoy-record");
    aws(&sim.s3_endpoint(), &["get-object", "--bucket", LSU, "--key", &decoy, copy.to_str().unwrap()]);
    // Under the number of guarded's own locked record: a new version of it.
    let planted = decoy.replace("/decoy/", "/guarded/");
    assert!(sim.object_keys(LSU, "images/guarded/1/manifest/").contains(&planted));
    let until = iso(last);
    let body = copy.to_str().unwrap();
    aws(
        &sim.s3_endpoint(),
        &["put-object", "--bucket", LSU, "--key", &planted, "--body", body, "--object-lock-mode", "COMPLIANCE"]
            .into_iter()
            .chain(["--object-lock-retain-until-date", &until])
            .collect::<Vec<_>>(),
    );
    s.lock_image(LSU, "guarded", "1", last).unwrap();

    // "extended": a lock and fifty extensions, each leaving the one before.
    s.lock_image(LSU, "extended", "1", t0 + 3).unwrap();
    for k in 1..50 {
        s.lock_image(LSU, "extended", "1", t0 + 3 + k).unwrap();
    }
    s.lock_image(LSU, "extended", "1", last).unwrap();
    assert_eq!(records("extended"), 51);
    let early = s.reclaim(Some(LSU), Some(0), Some(0)).unwrap();
    assert_eq!(early.vr_records_removed, 0, "locked records were removed");
    assert_eq!(records("extended"), 51);

    // Every superseded lock expires; the last holds.
    std::thread::sleep(Duration::from_secs((t0 + 3 + 50).saturating_sub(now())));
    let late = s.reclaim(Some(LSU), Some(0), Some(0)).unwrap();
    assert_eq!(late.vr_records_removed, 50, "{late:?}");
    assert_eq!(records("extended"), 1, "one record is left");
    // The planted record is still locked, so the guarded image's first
    // record stays too: removing it would make the planted one the
    // earliest.
    assert_eq!(records("guarded"), 3);
    for (name, bytes) in ["extended", "guarded", "decoy"].iter().zip(&data) {
        let info = s.image_info(LSU, name, "1").unwrap();
        assert_eq!((info.flags & STS_II_WORM_LOCKED, info.worm_until), (STS_II_WORM_LOCKED, last), "{name}");
        restores(&s, name, bytes);
        assert_eq!(s.delete_image(LSU, name, "1").unwrap_err().code(), Some(sts_status::STS_EWORM_LOCKED));
    }
    let named = s.image_tampered(LSU, "guarded", "1", false).unwrap();
    assert!(named.contains(&planted), "the planted record is named: {named}");
    drop(s);
    plugin.terminate().unwrap();
}

/// On a bucket that locks every new object for a while (a view's default
/// retention), a deleted image's fragments stay until then: reclaim counts
/// them as kept with their expiry, never as freed, and frees them once
/// expired. Every figure is checked against the versions the bucket keeps.
#[test]
fn reclaim_reports_what_the_storage_kept_and_freed_under_a_default_retention() {
    let _turn = support::turn();
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_locked_bucket_with_default(LSU, Duration::from_secs(4)).unwrap();
    let creds = support::write_sim_credentials(dir.path());
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[server.\"plain\"]\ndata_path = \"s3\"\nendpoint = \"{}\"\ncredentials_file = \"{}\"\nlsus = [\"{LSU}\"]\n\
             fragment_size = \"64KiB\"\n",
            sim.s3_endpoint(),
            creds.display()
        ),
    )
    .unwrap();
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();
    let s = plugin.open_server("VastData:plain", None).unwrap();
    let size = 5 * 64 * 1024;
    support::backup(&s, LSU, "short-lived", &support::bytes(9, size), 64 << 10).unwrap();
    let frags = "images/short-lived/1/frag/";
    assert_eq!(sim.object_versions(LSU, frags).len(), 5);
    let deleted_at = now();
    s.delete_image(LSU, "short-lived", "1").unwrap();
    assert!(s.images(LSU).unwrap().is_empty(), "a deleted image is gone from the listing");

    let kept = s.reclaim(Some(LSU), Some(0), Some(0)).unwrap();
    assert_eq!((kept.vr_fragments_freed, kept.vr_bytes_freed), (0, 0), "{kept:?}");
    assert_eq!(kept.vr_fragments_kept_locked, sim.object_versions(LSU, frags).len() as u64);
    assert_eq!(kept.vr_fragments_kept_locked, 5);
    assert!((deleted_at..=deleted_at + 5).contains(&kept.vr_kept_until), "{kept:?}");

    std::thread::sleep(Duration::from_secs((kept.vr_kept_until + 1).saturating_sub(now())));
    let freed = s.reclaim(Some(LSU), Some(0), Some(0)).unwrap();
    assert_eq!((freed.vr_fragments_freed, freed.vr_bytes_freed), (5, size as u64), "{freed:?}");
    assert_eq!(freed.vr_fragments_kept_locked, 0);
    assert!(sim.object_versions(LSU, frags).is_empty(), "{:?}", sim.object_versions(LSU, frags));
    drop(s);
    plugin.terminate().unwrap();
}
