//! What a crash leaves and what a refused write leaves.

use super::*;
use s3s::s3_error;

#[test]
fn a_restart_finds_every_object_and_drops_what_a_crash_left() {
    let dir = tempfile::tempdir().unwrap();
    let long = "k/".repeat(400) + "end";
    {
        let objects = Objects::open(dir.path(), false).unwrap();
        objects.create_bucket("pool", &Default::default()).unwrap();
        objects.put("pool", &long, b"first").unwrap();
        objects.put("pool", &long, b"second").unwrap();
        objects.put("pool", "short", b"x").unwrap();
        assert!(objects.bucket("pool").unwrap().remove("short"));
        // What a crash leaves: a body without a sidecar, an undecided write.
        std::fs::write(dir.path().join("pool/ffff.obj"), b"orphan").unwrap();
        std::fs::write(dir.path().join("pool/eeee.obj"), b"undecided").unwrap();
        std::fs::write(dir.path().join("pool/eeee.pending"), b"{}").unwrap();
    }
    let objects = Objects::open(dir.path(), false).unwrap();
    assert_eq!(objects.read("pool", &long).as_deref(), Some(&b"second"[..]));
    assert_eq!(objects.keys("pool", ""), [long]);
    let left: Vec<_> = std::fs::read_dir(dir.path().join("pool")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "one body and its sidecar: {left:?}");
}

#[test]
fn a_refused_condition_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for memory in [false, true] {
        let objects = Objects::open(&dir.path().join(memory.to_string()), memory).unwrap();
        objects.create_bucket("pool", &Default::default()).unwrap();
        objects.put("pool", "k", b"kept").unwrap();
        let b = objects.bucket("pool").unwrap();
        let mut sink = objects.sink(Default::default()).unwrap();
        sink.push(b"new").unwrap();
        let refused = objects.store(
            &b,
            "k",
            sink.finish().unwrap(),
            Described { etag: "e".into(), ..Default::default() },
            |existing| {
                assert!(existing.is_some());
                Err(s3_error!(PreconditionFailed))
            },
        );
        assert!(refused.is_err());
        assert_eq!(objects.read("pool", "k").as_deref(), Some(&b"kept"[..]), "memory: {memory}");
        if !memory {
            let files = std::fs::read_dir(dir.path().join("false/pool")).unwrap().count();
            assert_eq!(files, 2, "only the kept object's body and sidecar");
            assert_eq!(std::fs::read_dir(dir.path().join("false").join(STAGING)).unwrap().count(), 0);
        }
    }
}
