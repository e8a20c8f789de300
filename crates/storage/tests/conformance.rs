//! One behaviour suite for every kind of store: what the engine relies on
//! must hold on memory and on a filesystem alike.

use std::sync::Arc;

use bytes::Bytes;
use vastost_sim::Simulator;
use vastost_storage::{ErrorKind, ObjectStore, S3Settings};

/// What must live as long as a store: its folder, its simulator.
#[allow(dead_code)]
enum Keep {
    Nothing,
    Dir(tempfile::TempDir),
    Sim(Simulator, tempfile::TempDir),
    Moto(vastost_sim::moto::Moto),
}

fn s3_store(endpoint: String, bucket: &str) -> ObjectStore {
    ObjectStore::s3(&S3Settings {
        endpoint,
        bucket: bucket.into(),
        region: "us-east-1".into(),
        more_endpoints: Vec::new(),
        access_key: vastost_sim::ACCESS_KEY.into(),
        secret_key: vastost_sim::SECRET_KEY.into(),
        tls: Default::default(),
        retries: 3,
        timeout: std::time::Duration::from_secs(30),
    })
    .unwrap()
}

/// The same behaviour is asked of memory, a filesystem, S3 on the
/// simulator's S3 endpoint, and S3 on moto, an independent server.
fn stores() -> Vec<(ObjectStore, Keep)> {
    let dir = tempfile::tempdir().unwrap();
    let sim_dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(sim_dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_bucket("conformance").unwrap();
    let s3 = s3_store(sim.s3_endpoint(), "conformance");
    let moto = vastost_sim::moto::Moto::start().expect("moto_server (pip install 'moto[server]')");
    moto.create_bucket("conformance").unwrap();
    vec![
        (ObjectStore::memory().unwrap(), Keep::Nothing),
        (ObjectStore::fs(dir.path()).unwrap(), Keep::Dir(dir)),
        (s3_store(moto.endpoint(), "conformance"), Keep::Moto(moto)),
        (s3, Keep::Sim(sim, sim_dir)),
    ]
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn put_get_ranges_sizes() {
    let rt = rt();
    for (s, _dir) in stores() {
        rt.block_on(async {
            let data = Bytes::from((0..10_000u32).map(|i| i as u8).collect::<Vec<_>>());
            s.put("a/b/obj", data.clone()).await.unwrap();
            assert_eq!(s.get("a/b/obj").await.unwrap(), data, "{}", s.describe());
            assert_eq!(s.get_range("a/b/obj", 100..228).await.unwrap().to_vec(), data.slice(100..228));
            assert_eq!(
                s.get_range("a/b/obj", 9_990..20_000).await.unwrap().to_vec(),
                data.slice(9_990..),
                "short at the end"
            );
            assert_eq!(s.size("a/b/obj").await.unwrap(), Some(10_000));
            assert_eq!(s.size("a/b/none").await.unwrap(), None);
            assert_eq!(s.get("a/b/none").await.unwrap_err().kind, ErrorKind::NotFound);
            s.put("a/b/obj", Bytes::from_static(b"new")).await.unwrap();
            assert_eq!(s.get("a/b/obj").await.unwrap(), Bytes::from_static(b"new"), "put replaces");
        });
    }
}

#[test]
fn ranged_reads_sum_each_chunk_as_it_arrives() {
    let rt = rt();
    let data: Vec<u8> = (0..(7u32 << 19) + 700).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let chunk = 1u64 << 20;
    let expect = |range: std::ops::Range<usize>| -> Vec<u32> {
        data[range].chunks(chunk as usize).map(crc32c::crc32c).collect()
    };
    for (s, _keep) in stores() {
        rt.block_on(async {
            s.put("sums", Bytes::from(data.clone())).await.unwrap();
            let (got, sums) = s.get_range_crc32c("sums", None, chunk..3 * chunk, chunk).await.unwrap();
            assert!(got.to_vec() == data[chunk as usize..3 * chunk as usize], "{}", s.describe());
            assert_eq!(sums, expect(chunk as usize..3 * chunk as usize), "{}", s.describe());
            // Past the end: what there is, summed (the last chunk short).
            let end = data.len() as u64;
            let (got, sums) = s.get_range_crc32c("sums", None, 2 * chunk..4 * chunk, chunk).await.unwrap();
            assert_eq!(got.len() as u64, end - 2 * chunk, "{}", s.describe());
            assert_eq!(sums, expect(2 * chunk as usize..end as usize), "{}", s.describe());
            let err = s.get_range_crc32c("missing", None, 0..chunk, chunk).await.unwrap_err();
            assert_eq!(err.kind, vastost_storage::ErrorKind::NotFound, "{}: {err}", s.describe());

            // Sent ahead and read later: the same bytes and sums, whatever
            // came between; a range opened and dropped unread leaves the
            // store as it was.
            let opened = s.open_range("sums", None, chunk..3 * chunk).await;
            let past_end = s.open_range("sums", None, 2 * chunk..4 * chunk).await;
            let missing = s.open_range("missing", None, 0..chunk).await;
            drop(s.open_range("sums", None, 0..chunk).await);
            let (got, sums) = opened.read_crc32c(chunk).await.unwrap();
            assert!(got.to_vec() == data[chunk as usize..3 * chunk as usize], "{}", s.describe());
            assert_eq!(sums, expect(chunk as usize..3 * chunk as usize), "{}", s.describe());
            let (got, sums) = past_end.read_crc32c(chunk).await.unwrap();
            assert_eq!(got.len() as u64, end - 2 * chunk, "{}", s.describe());
            assert_eq!(sums, expect(2 * chunk as usize..end as usize), "{}", s.describe());
            let err = missing.read_crc32c(chunk).await.unwrap_err();
            assert_eq!(err.kind, vastost_storage::ErrorKind::NotFound, "{}: {err}", s.describe());
            let (got, _) = s.get_range_crc32c("sums", None, 0..chunk, chunk).await.unwrap();
            assert!(got.to_vec() == data[..chunk as usize], "{}", s.describe());
        });
    }
}

#[test]
fn list_and_delete() {
    let rt = rt();
    for (s, _dir) in stores() {
        rt.block_on(async {
            for k in ["d/x/1", "d/x/2", "d/y", "d/z/deep/3"] {
                s.put(k, Bytes::from_static(b"1")).await.unwrap();
            }
            let names: Vec<(String, bool)> =
                s.list("d/").await.unwrap().into_iter().map(|e| (e.name, e.is_dir)).collect();
            assert_eq!(names, [("x".into(), true), ("y".into(), false), ("z".into(), true)], "{}", s.describe());
            assert!(s.list("nothing/").await.unwrap().is_empty());
            // A listing that starts after a name (S3 starts it there).
            for k in ["e/001", "e/002", "e/010", "e/100"] {
                s.put(k, Bytes::from_static(b"1")).await.unwrap();
            }
            let after: Vec<String> = s.list_after("e/", "002").await.unwrap().into_iter().map(|e| e.name).collect();
            assert_eq!(after, ["010", "100"], "{}", s.describe());
            assert_eq!(s.list_after("e/", "").await.unwrap().len(), 4);
            assert!(s.list_after("e/", "100").await.unwrap().is_empty());
            s.delete("d/y").await.unwrap();
            s.delete("d/y").await.unwrap();
            s.delete_all("d/x/").await.unwrap();
            let left: Vec<String> = s.list("d/").await.unwrap().into_iter().map(|e| e.name).collect();
            assert_eq!(left, ["z"], "{}", s.describe());
        });
    }
}

#[test]
fn capabilities_are_what_each_store_does() {
    for (s, _dir) in stores() {
        let cap = s.capability();
        let fs = s.fs_root().is_some();
        // What a store says it refuses by itself, it refuses (the test below
        // holds every store to it; S3 servers are probed instead).
        assert_eq!(cap.exclusive_create, !s.describe().starts_with("s3"), "{}", s.describe());
        assert_eq!(cap.page_cache_reads, fs, "{}", s.describe());
        assert_eq!(cap.reads_ahead_pay, s.describe().starts_with("s3"), "{}", s.describe());
        assert!(!cap.direct_writes || fs, "{}", s.describe());
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(ObjectStore::fs_with(dir.path(), true).unwrap().capability().direct_writes);
    assert!(!ObjectStore::fs_with(dir.path(), false).unwrap().capability().direct_writes);
}

#[test]
fn put_new_is_an_atomic_create() {
    let rt = rt();
    for (s, _dir) in stores() {
        rt.block_on(async {
            s.put_new("m/1", Bytes::from_static(b"first")).await.unwrap();
            let err = s.put_new("m/1", Bytes::from_static(b"second")).await.unwrap_err();
            assert_eq!(err.kind, ErrorKind::AlreadyExists);
            assert_eq!(s.get("m/1").await.unwrap(), Bytes::from_static(b"first"));
        });
        // Many racing creators: exactly one wins, and its bytes are whole.
        let s = Arc::new(s);
        let wins: Vec<bool> = rt.block_on(async {
            let tasks: Vec<_> = (0..16u8)
                .map(|i| {
                    let s = s.clone();
                    tokio::spawn(async move { s.put_new("race", Bytes::from(vec![i; 4096])).await.is_ok() })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{}", s.describe());
        let winner = wins.iter().position(|w| *w).unwrap() as u8;
        assert_eq!(rt.block_on(s.get("race")).unwrap(), Bytes::from(vec![winner; 4096]));
    }
}

#[test]
fn direct_writes_on_a_filesystem() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let s = ObjectStore::fs(dir.path()).unwrap();
    let (s3, _keep) = stores().pop().unwrap();
    // One writer whatever the store: in place on a filesystem (no buffer
    // lent), whole from a lent buffer elsewhere, given back emptied once
    // the storage is done with it (the memory store keeps it as the object).
    for (store, lends, back_given) in
        [(&s, false, false), (&ObjectStore::memory().unwrap(), true, false), (&s3, true, true)]
    {
        let mut lent = false;
        let mut w = store
            .fragment_writer("f/obj", Some(rt.handle()), || {
                lent = true;
                Vec::with_capacity(64)
            })
            .unwrap();
        assert_eq!(lent, lends, "{}", store.describe());
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let (stored, back) = rt.block_on(w.finish());
        stored.unwrap();
        assert_eq!(
            back.map(|b| (b.len(), b.capacity() >= 64)),
            back_given.then_some((0, true)),
            "{}",
            store.describe()
        );
        assert_eq!(rt.block_on(store.get("f/obj")).unwrap(), Bytes::from_static(b"hello world"));
    }
    // An object nothing was written to leaves nothing behind.
    let w = s.fragment_writer("f/empty", Some(rt.handle()), Vec::new).unwrap();
    assert_eq!(rt.block_on(w.abandon()), None);
    assert_eq!(rt.block_on(s.size("f/empty")).unwrap(), None);
    assert!(s3.capacity().unwrap().is_none(), "a bucket's capacity comes from VMS quotas");
    rt.block_on(s3.check()).expect("the bucket answers");
    let cap = s.capacity().unwrap().expect("a filesystem knows its capacity");
    assert!(cap.total > 0 && cap.used <= cap.total && cap.available <= cap.total);
}

/// Whether `dir`'s filesystem takes `O_DIRECT`.
fn direct_io_works(dir: &std::path::Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let probe = dir.join("probe");
    let ok = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(&probe)
        .is_ok();
    let _ = std::fs::remove_file(probe);
    ok
}

#[test]
fn fragments_written_past_the_page_cache_read_back_whole() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    // Several staging buffers' worth with several writes in flight, pieces
    // of every size (aligned and not), and a tail that is not 4 KiB-aligned.
    let data: Vec<u8> = (0..(9u32 << 20) + 5 * 512).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let pieces = [512, 4096, 1 << 20, 3 * 512, 2 << 20, 100_000, 7 << 20];
    for direct in [true, false] {
        let s = ObjectStore::fs_with(dir.path(), direct).unwrap();
        let key = format!("f/big-{direct}");
        let mut w = s.fragment_writer(&key, Some(rt.handle()), || unreachable!("written in place")).unwrap();
        let (mut at, mut i) = (0, 0);
        while at < data.len() {
            let n = pieces[i % pieces.len()].min(data.len() - at);
            w.write_all(&data[at..at + n]).unwrap();
            at += n;
            i += 1;
        }
        rt.block_on(w.finish()).0.unwrap();
        if direct && direct_io_works(dir.path()) {
            // What went past the page cache is not in it (checked before
            // anything reads it back).
            let file = s.page_cache_file(&key).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            assert_ne!(file.read_at(&mut buf, 0), vastost_storage::Cached::Hit, "written through the page cache");
        }
        let back = rt.block_on(s.get(&key)).unwrap();
        assert_eq!(back.len(), data.len(), "direct {direct}");
        assert!(back[..] == data[..], "direct {direct}: the bytes read back differ");
    }
}

#[test]
fn big_objects_and_server_side_copies() {
    let rt = rt();
    // Over the multipart threshold on S3; a plain write elsewhere.
    let big = Bytes::from((0..(40u32 << 20)).map(|i| (i % 253) as u8).collect::<Vec<_>>());
    for (s, _keep) in stores() {
        rt.block_on(async {
            s.put("big/obj", big.clone()).await.unwrap();
            assert_eq!(s.size("big/obj").await.unwrap(), Some(big.len() as u64), "{}", s.describe());
            assert!(
                s.get_range("big/obj", 20 << 20..(20 << 20) + 4096).await.unwrap().to_vec()
                    == big.slice(20 << 20..(20 << 20) + 4096)
            );
            s.copy("big/obj", "big/copy").await.unwrap();
            assert!(s.get("big/copy").await.unwrap() == big, "{}", s.describe());
        });
    }
}

#[test]
fn throttling_is_retried_then_reported_as_temporary() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_bucket("throttled").unwrap();
    let s = s3_store(sim.s3_endpoint(), "throttled");
    sim.s3_slow_down(2);
    rt.block_on(s.put("k", Bytes::from_static(b"after two 503 SlowDown"))).expect("retried");
    assert_eq!(rt.block_on(s.get("k")).unwrap(), Bytes::from_static(b"after two 503 SlowDown"));
    sim.s3_slow_down(100);
    let err = rt.block_on(s.get("k")).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Temporary, "{err}");
    assert!(err.to_string().contains("SlowDown"), "{err}");
    sim.s3_slow_down(0);
}

#[test]
fn a_dead_endpoint_is_taken_out_of_the_rotation() {
    let rt = rt();
    let sim_dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(sim_dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_bucket("vips").unwrap();
    // A VIP nobody answers on: a port just freed.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let store = ObjectStore::s3(&S3Settings {
        endpoint: dead,
        bucket: "vips".into(),
        region: "us-east-1".into(),
        more_endpoints: vec![sim.s3_endpoint()],
        access_key: vastost_sim::ACCESS_KEY.into(),
        secret_key: vastost_sim::SECRET_KEY.into(),
        tls: Default::default(),
        retries: 2,
        timeout: std::time::Duration::from_secs(5),
    })
    .unwrap();
    let started = std::time::Instant::now();
    rt.block_on(async {
        for i in 0..40 {
            let key = format!("k{i}");
            store.put(&key, Bytes::from(vec![i as u8; 1000])).await.unwrap();
            assert_eq!(store.get(&key).await.unwrap(), Bytes::from(vec![i as u8; 1000]));
        }
    });
    let breakers = store.breakers();
    assert_eq!(breakers.len(), 2);
    assert!(breakers[0].is_open() && breakers[0].trips() >= 1, "the dead VIP is out of the rotation");
    assert!(!breakers[1].is_open());
    // Once out, it costs nothing: 80 requests in far less than 80 rounds of retries.
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
}

#[test]
fn many_objects_are_deleted_in_batches_and_listings_tell_sizes() {
    use futures_util::{StreamExt, TryStreamExt};
    let rt = rt();
    for (s, _keep) in stores() {
        rt.block_on(async {
            // Over one DeleteObjects batch (1,000 keys).
            let keys: Vec<String> = (0..1_050).map(|i| format!("many/{i:05}")).collect();
            futures_util::stream::iter(keys.clone())
                .map(|k| {
                    let s = s.clone();
                    async move { s.put(&k, Bytes::from_static(b"12345")).await }
                })
                .buffer_unordered(16)
                .try_collect::<Vec<()>>()
                .await
                .unwrap();
            let listed = s.list("many/").await.unwrap();
            assert_eq!(listed.len(), 1_050, "{}", s.describe());
            if s.fs_root().is_none() {
                assert!(listed.iter().all(|e| e.size == Some(5)), "{}: {:?}", s.describe(), listed[0]);
            }
            let mut doomed = keys.clone();
            doomed.push("many/never-there".into());
            s.delete_many(doomed).await.unwrap();
            assert!(s.list("many/").await.unwrap().is_empty(), "{}", s.describe());
            s.delete_many(Vec::new()).await.unwrap();
        });
    }
}

#[test]
fn folders_are_listed_a_page_at_a_time() {
    let rt = rt();
    for (s, _keep) in stores() {
        rt.block_on(async {
            for i in 0..12 {
                s.put(&format!("pages/f{i:02}/obj"), Bytes::from_static(b"x")).await.unwrap();
            }
            let mut seen = Vec::new();
            let mut after = String::new();
            loop {
                let page = s.list_page("pages/", &after, 5).await.unwrap();
                assert!(page.iter().all(|e| e.is_dir), "{}", s.describe());
                seen.extend(page.iter().map(|e| e.name.clone()));
                if page.len() < 5 {
                    break;
                }
                after = page.last().unwrap().name.clone();
            }
            let want: Vec<String> = (0..12).map(|i| format!("f{i:02}")).collect();
            assert_eq!(seen, want, "{}", s.describe());
            assert!(s.list_page("nothing/", "", 5).await.unwrap().is_empty());
        });
    }
}

fn in_secs(secs: u64) -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + secs
}

#[test]
fn locked_objects_stay_until_they_expire_and_then_every_version_goes() {
    use vastost_storage::{LockMode, Retention};
    let rt = rt();
    let sim_dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(sim_dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_locked_bucket("worm").unwrap();
    let moto = vastost_sim::moto::Moto::start().expect("moto_server (pip install 'moto[server]')");
    moto.create_locked_bucket("worm").unwrap();
    let versions = |on_sim: bool, prefix: &str| {
        if on_sim { sim.object_versions("worm", prefix).len() } else { moto.versions("worm", prefix).unwrap() }
    };
    for (store, on_sim) in [(s3_store(sim.s3_endpoint(), "worm"), true), (s3_store(moto.endpoint(), "worm"), false)] {
        rt.block_on(async {
            let data = Bytes::from(vec![7u8; 4096]);
            for key in ["img/frag/1", "img/frag/2", "img/meta"] {
                store.put(key, data.clone()).await.unwrap();
            }
            // Overwritten once: two versions of the metadata.
            store.put("img/meta", data.clone()).await.unwrap();
            let lock = Retention { mode: LockMode::Compliance, until: in_secs(if on_sim { 3600 } else { 3 }) };
            store.lock("img/frag/1", None, lock).await.unwrap();
            assert_eq!(store.retention("img/frag/1", None, LockMode::Governance).await.unwrap(), Some(lock));
            // Asking for less leaves the longer lock as it is.
            store.lock("img/frag/1", None, Retention { until: lock.until - 1, ..lock }).await.unwrap();
            assert_eq!(store.retention("img/frag/1", None, LockMode::Governance).await.unwrap(), Some(lock));
            // A locked object is kept, and the call says so.
            let refused = store.delete("img/frag/1").await.unwrap_err();
            assert_eq!(refused.kind, ErrorKind::PermissionDenied, "{refused}");
            assert_eq!(store.get("img/frag/1").await.unwrap(), data);
            // What is not locked goes, every version of it.
            store.delete_many(vec!["img/meta".into(), "img/frag/2".into()]).await.unwrap();
            assert_eq!(versions(on_sim, "img/meta"), 0, "a versioned delete leaves no version behind");
            assert_eq!(versions(on_sim, "img/frag/2"), 0);
            assert!(store.delete_all("img/").await.is_err(), "the locked fragment keeps its folder");
            assert_eq!(versions(on_sim, "img/"), 1);
            // Once expired, it goes too.
            if on_sim {
                sim.advance_clock(std::time::Duration::from_secs(7200));
            } else {
                tokio::time::sleep(std::time::Duration::from_secs(4)).await;
            }
            store.delete_all("img/").await.unwrap();
            assert_eq!(versions(on_sim, "img/"), 0, "nothing left, not even a delete marker");
        });
    }
}

#[test]
fn files_are_locked_with_vast_nfs_worm_marks_and_memory_refuses_deletes() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use vastost_storage::{LockMode, Retention};
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let fs = ObjectStore::fs(dir.path()).unwrap();
    let memory = ObjectStore::memory().unwrap();
    rt.block_on(async {
        let lock = Retention { mode: LockMode::Compliance, until: in_secs(86_400) };
        fs.put("img/frag/1", Bytes::from_static(b"data")).await.unwrap();
        fs.lock("img/frag/1", None, lock).await.unwrap();
        let meta = std::fs::metadata(dir.path().join("img/frag/1")).unwrap();
        assert_eq!(meta.atime() as u64, lock.until, "the access time is the unlock time");
        assert_eq!(meta.permissions().mode() & 0o222, 0, "no write permission left");
        assert_eq!(fs.retention("img/frag/1", None, LockMode::Compliance).await.unwrap(), Some(lock));
        // Extending moves the access time; asking for less does not.
        fs.lock("img/frag/1", None, Retention { until: lock.until + 60, ..lock }).await.unwrap();
        fs.lock("img/frag/1", None, lock).await.unwrap();
        assert_eq!(std::fs::metadata(dir.path().join("img/frag/1")).unwrap().atime() as u64, lock.until + 60);

        memory.put("img/frag/1", Bytes::from_static(b"data")).await.unwrap();
        memory.lock("img/frag/1", None, lock).await.unwrap();
        assert_eq!(memory.delete("img/frag/1").await.unwrap_err().kind, ErrorKind::PermissionDenied);
        assert_eq!(memory.delete_all("img/").await.unwrap_err().kind, ErrorKind::PermissionDenied);
        assert!(memory.get("img/frag/1").await.is_ok());
    });
}
