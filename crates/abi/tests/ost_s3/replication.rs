//! Replication to another cluster (Auto Image Replication): a copy to a
//! target server on a second simulator streams the bytes, verified, and
//! leaves an "import this image" event on the target cluster, where a
//! media server of another domain finds it.

use vastost_ost::sts_status::*;
use vastost_ost::*;

use crate::support::bytes;
use crate::{fixture, open, status};

fn objects(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.filter_map(|e| e.ok()).map(|e| if e.path().is_dir() { objects(&e.path()) } else { 1 }).sum()
}

#[test]
fn an_image_replicated_to_another_cluster_is_announced_there() {
    let f = fixture();
    let (s, lsu) = open("small", "replicate");
    f.remote.create_bucket(&lsu).unwrap();
    let data = bytes(21, (640 << 10) + 512);
    let mut img = s.create_image(&lsu, "client_1700000000_C1_F1", "1").unwrap();
    img.write(&data, 0).unwrap();
    img.write_meta(b"nbu header", 0).unwrap();
    img.close(true).unwrap();

    let target = s.open_target("VastData:remote", None).unwrap();
    assert_eq!(objects(&f.remote_data.join(&lsu)), 0);
    s.copy_image(&lsu, ("client_1700000000_C1_F1", "1"), &target, &lsu, ("client_1700000000_C2_F1", "1")).unwrap();
    assert!(objects(&f.remote_data.join(&lsu)) >= 10, "the target cluster holds its own copy");
    // A copy that exists already is refused; the source is untouched.
    assert_eq!(
        status(s.copy_image(&lsu, ("client_1700000000_C1_F1", "1"), &target, &lsu, ("client_1700000000_C2_F1", "1"))),
        STS_EEXIST
    );

    // The other domain's media server: its own server handle on the target.
    // Without VMS, an S3 server knows the buckets of its configuration and
    // those it has opened: the target LSU is one NetBackup uses there.
    let theirs = f.plugin.open_server("VastData:remote", None).unwrap();
    theirs.lsu_info(&lsu).unwrap();
    let mut events = theirs.events().unwrap();
    let mut imports = Vec::new();
    while let Some(e) = events.next_event().unwrap() {
        if e.kind == STS_EVT_REPLICATION {
            imports.push(e);
        }
    }
    assert_eq!(imports.len(), 1, "{imports:?}");
    let e = &imports[0];
    assert_eq!((e.image.basename.as_str(), e.image.lsu.as_str()), ("client_1700000000_C2_F1", lsu.as_str()));
    assert_eq!(e.image.size, data.len() as u64);
    // It imports: reads the image and its metadata back, bit for bit.
    let mut r = theirs.open_image(&lsu, "client_1700000000_C2_F1", "1", STS_O_READ).unwrap();
    let mut back = vec![0u8; data.len()];
    assert_eq!(r.read(&mut back, 0).unwrap(), data.len() as u64);
    assert_eq!(back, data);
    let mut meta = [0u8; 10];
    assert_eq!(r.read_meta(&mut meta, 0).unwrap(), 10);
    assert_eq!(&meta, b"nbu header");
    r.close(false).unwrap();
    events.delete(e).unwrap();
    // No event of it stays on the source cluster.
    let mut source_events = s.events().unwrap();
    while let Some(e) = source_events.next_event().unwrap() {
        assert_ne!(e.kind, STS_EVT_REPLICATION);
    }
}
