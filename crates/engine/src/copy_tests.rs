//! Copies, virtual images, deletion in every order and reclamation, on
//! real servers over directories (the NFS data path).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::copy::{CopyWait, Progress};
use crate::error::EngineError;
use crate::events::EventKind;
use crate::tests::data;
use crate::{Config, Engine, ImageDef, Lsu, Server};

const FRAG: usize = 8192;

struct Env {
    _dirs: Vec<tempfile::TempDir>,
    roots: Vec<PathBuf>,
    engine: Engine,
}

/// Two servers ("a" with LSUs p and q, "b" with LSU r), 8 KiB fragments.
fn env(grace: u64) -> Env {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let roots: Vec<PathBuf> = dirs.iter().map(|d| d.path().to_path_buf()).collect();
    let text = format!(
        r#"
[plugin]
memory_budget = "16MiB"
[server."VastData:a"]
data_path = "nfs"
directory = "{}"
lsus = ["p", "q"]
fragment_size = "8KiB"
reclaim_grace_secs = {grace}
[server."VastData:b"]
data_path = "nfs"
directory = "{}"
lsus = ["r"]
fragment_size = "8KiB"
reclaim_grace_secs = {grace}
"#,
        roots[0].display(),
        roots[1].display()
    );
    let engine = Engine::new(Config::from_toml(&text).unwrap()).unwrap();
    Env { _dirs: dirs, roots, engine }
}

fn def(name: &str) -> ImageDef {
    ImageDef::new(name, "1").unwrap()
}

fn backup(lsu: &Lsu, name: &str, bytes: &[u8]) {
    let mut w = lsu.create_image(&def(name)).unwrap();
    for (i, chunk) in bytes.chunks(3 * 512).enumerate() {
        w.write(chunk, (i * 3 * 512) as u64).unwrap();
    }
    w.close(true).unwrap();
}

fn restore(lsu: &Lsu, name: &str) -> Vec<u8> {
    let mut r = lsu.open_for_read(&def(name)).unwrap();
    let mut out = vec![0u8; r.size() as usize];
    let mut off = 0;
    while off < out.len() {
        let end = (off + 4096).min(out.len());
        let n = r.read(&mut out[off..end], off as u64).unwrap();
        off += n;
    }
    out
}

/// Data fragment files under `dir`, recursively.
fn fragments(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let p = e.path();
            if p.is_dir() { fragments(&p) } else { usize::from(p.parent().is_some_and(|d| d.ends_with("frag"))) }
        })
        .sum()
}

fn open(env: &Env, name: &str) -> Server {
    env.engine.open_server(name, None).unwrap()
}

#[test]
fn same_server_copies_reference_the_source_and_survive_its_deletion() {
    let env = env(900);
    let server = open(&env, "VastData:a");
    let (p, q) = (server.lsu("p").unwrap(), server.lsu("q").unwrap());
    let bytes = data(1, 5 * FRAG + 1024);
    backup(&p, "src", &bytes);
    p.write_meta(&def("src"), b"header", 0).unwrap();
    let before = fragments(&env.roots[0]);
    for (target, name) in [(&p, "copy_p"), (&q, "copy_q")] {
        let n = p.copy_image(&def("src"), target, &def(name), &Progress::default()).unwrap();
        assert_eq!(n, bytes.len() as u64);
        assert_eq!(restore(target, name), bytes);
        assert_eq!(target.read_meta(&def(name), 0, 100).unwrap(), b"header");
    }
    assert_eq!(fragments(&env.roots[0]), before, "a same-server copy stores no data");
    // The source goes; its data stays for the copies.
    p.delete_image(&def("src")).unwrap();
    assert_eq!(restore(&p, "copy_p"), bytes);
    assert_eq!(restore(&q, "copy_q"), bytes);
    assert_eq!(server.reclaim(None, Some(0), None).unwrap().fragments_freed, 0);
    p.delete_image(&def("copy_p")).unwrap();
    assert_eq!(restore(&q, "copy_q"), bytes);
    assert_eq!(fragments(&env.roots[0]), before);
    // The last reference goes: so does the data, at once.
    q.delete_image(&def("copy_q")).unwrap();
    assert_eq!(fragments(&env.roots[0]), 0);
    // Of the deleted source, only its tombstone stays (until it is older
    // than the abandon age).
    let remains: Vec<_> = walk(&env.roots[0].join("p/images/src/1"));
    assert_eq!(remains.len(), 1, "{remains:?}");
    assert!(remains[0].parent().unwrap().ends_with("manifest"), "{remains:?}");
    server.reclaim(None, Some(0), Some(0)).unwrap();
    assert!(!env.roots[0].join("p/images/src/1").exists(), "the deleted source's remains are gone");
    let kinds: Vec<EventKind> = server.events().unwrap().into_iter().map(|e| e.event.kind).collect();
    assert!(kinds.contains(&EventKind::CopyDone));
}

#[test]
fn a_synthetic_image_from_a_full_and_two_incrementals_restores_exactly() {
    let env = env(900);
    let server = open(&env, "VastData:a");
    let p = server.lsu("p").unwrap();
    let full = data(2, 6 * FRAG);
    let inc1 = data(3, 2 * FRAG + 512);
    let inc2 = data(4, FRAG);
    backup(&p, "full", &full);
    backup(&p, "inc1", &inc1);
    backup(&p, "inc2", &inc2);
    // The synthetic full: the full with blocks replaced by the incrementals'.
    let mut want = full.clone();
    want[FRAG..FRAG + inc1.len()].copy_from_slice(&inc1);
    want[4 * FRAG + 1024..5 * FRAG + 1024].copy_from_slice(&inc2);
    want.extend_from_slice(&inc2[..2048]);
    let before = fragments(&env.roots[0]);
    {
        let (rf, r1, r2) = (
            p.open_for_read(&def("full")).unwrap(),
            p.open_for_read(&def("inc1")).unwrap(),
            p.open_for_read(&def("inc2")).unwrap(),
        );
        let mut w = p.create_image(&def("synth")).unwrap();
        w.include(&rf, 0, 0, full.len() as u64).unwrap();
        w.include(&r1, 0, FRAG as u64, inc1.len() as u64).unwrap();
        // In 512-byte steps, as NetBackup may: still few extents.
        for step in 0..(FRAG / 512) as u64 {
            w.include(&r2, step * 512, 4 * FRAG as u64 + 1024 + step * 512, 512).unwrap();
        }
        w.include(&r2, 0, full.len() as u64, 2048).unwrap();
        // Bad ranges are refused, the writer stays usable.
        assert!(matches!(w.include(&r2, 0, 0, FRAG as u64 + 512), Err(EngineError::InvalidArgument(_))));
        assert!(matches!(w.include(&r2, 100, 0, 512), Err(EngineError::InvalidArgument(_))));
        w.close(true).unwrap();
    }
    let m = p
        .ctx
        .block_on(crate::commit::latest_record(&p.ctx.store, &crate::layout::ImageKeys::new(&def("synth"))))
        .unwrap()
        .unwrap();
    assert!(m.extents.len() <= 10, "small steps merge into few extents: {}", m.extents.len());
    assert_eq!(fragments(&env.roots[0]), before, "a virtual image stores no data");
    assert_eq!(restore(&p, "synth"), want);
    // Deleting the sources first keeps the synthetic whole...
    for name in ["inc2", "full", "inc1"] {
        p.delete_image(&def(name)).unwrap();
        assert_eq!(restore(&p, "synth"), want);
    }
    // ...and frees at once what it does not use: the full's fragments 1
    // and 2, hidden under inc1.
    assert_eq!(fragments(&env.roots[0]), before - 2);
    let report = server.reclaim(None, Some(0), None).unwrap();
    assert_eq!((report.fragments_freed, report.images_kept), (0, 3), "{report:?}");
    assert_eq!(restore(&p, "synth"), want);
    // Then the synthetic goes, and everything with it.
    p.delete_image(&def("synth")).unwrap();
    server.reclaim(None, Some(0), None).unwrap();
    assert_eq!(fragments(&env.roots[0]), 0);
}

#[test]
fn a_cross_server_copy_streams_verified_bytes_and_announces_itself_on_the_target() {
    let env = env(900);
    let (a, b) = (open(&env, "VastData:a"), open(&env, "VastData:b"));
    let (p, r) = (a.lsu("p").unwrap(), b.lsu("r").unwrap());
    let bytes = data(5, 7 * FRAG + 512);
    backup(&p, "src", &bytes);
    let progress = Progress::default();
    assert_eq!(p.copy_image(&def("src"), &r, &def("dst"), &progress).unwrap(), bytes.len() as u64);
    assert_eq!(progress.done(), bytes.len() as u64);
    assert_eq!(restore(&r, "dst"), bytes);
    assert!(fragments(&env.roots[1]) >= 8, "the target holds its own data");
    // Another plugin instance, polling the target, learns of it.
    let other = Engine::new(env.engine.config().clone()).unwrap();
    let events = other.open_server("VastData:b", None).unwrap().events().unwrap();
    let e = events.iter().find(|e| e.event.kind == EventKind::Replicated).expect("replication event");
    assert_eq!((e.event.basename.as_str(), e.event.lsu.as_str()), ("dst", "r"));
    assert_eq!(e.event.source.as_deref(), Some("VastData:a/p"));
    // A damaged source fragment stops the copy; no target is left.
    let frag = std::fs::read_dir(env.roots[0].join("p/images/src/1/frag")).unwrap().next().unwrap().unwrap().path();
    let mut raw = std::fs::read(&frag).unwrap();
    raw[100] ^= 1;
    std::fs::write(&frag, raw).unwrap();
    let err = p.copy_image(&def("src"), &r, &def("dst2"), &Progress::default()).unwrap_err();
    assert!(matches!(err, EngineError::Integrity(_)), "{err}");
    assert!(r.image_info(&def("dst2")).is_err());
}

#[test]
fn a_cancelled_copy_leaves_no_image() {
    let env = env(900);
    let (a, b) = (open(&env, "VastData:a"), open(&env, "VastData:b"));
    let (p, r) = (a.lsu("p").unwrap(), b.lsu("r").unwrap());
    backup(&p, "src", &data(6, 4 * FRAG));
    let progress = Progress::default();
    progress.cancel();
    let err = p.copy_image(&def("src"), &r, &def("dst"), &progress).unwrap_err();
    assert!(matches!(err, EngineError::Cancelled), "{err}");
    assert!(r.image_info(&def("dst")).is_err());
    assert!(crate::ImagePager::new(r.clone()).next_image().unwrap().is_none());
    // In the background: a named copy is waited for once, then forgotten.
    let name = a.copies().start(Some("job1"), p.clone(), def("src"), r.clone(), def("dst")).unwrap();
    assert_eq!(name, "job1");
    assert!(a.copies().start(Some("job1"), p.clone(), def("src"), r.clone(), def("x")).is_err());
    let done = loop {
        match a.copies().wait("job1", Duration::from_secs(30)).unwrap() {
            CopyWait::Done(result) => break result,
            CopyWait::Running { .. } => continue,
        }
    };
    assert_eq!(done.unwrap(), 4 * FRAG as u64);
    assert!(matches!(a.copies().wait("job1", Duration::ZERO), Err(EngineError::NoSuchCopy(_))));
    assert!(matches!(a.copies().cancel("nope"), Err(EngineError::NoSuchCopy(_))));
}

#[test]
fn orphans_of_a_crashed_session_are_reclaimed_once_the_image_is_complete() {
    let env = env(900);
    let server = open(&env, "VastData:a");
    let p = server.lsu("p").unwrap();
    let bytes = data(7, 3 * FRAG);
    let mut w = p.create_image(&def("img")).unwrap();
    w.write(&bytes[..2 * FRAG], 0).unwrap();
    w.close(false).unwrap();
    // A session that died after storing a fragment it never committed.
    let orphan = env.roots[0].join("p/images/img/1/frag/0000000099-deadbeef");
    std::fs::write(&orphan, vec![7u8; FRAG]).unwrap();
    // While the image is pending, its stray fragments are left alone.
    assert_eq!(server.reclaim(None, Some(0), None).unwrap().fragments_freed, 0);
    let mut w = p.open_for_write(&def("img")).unwrap();
    w.write(&bytes[2 * FRAG..], 2 * FRAG as u64).unwrap();
    w.close(true).unwrap();
    let report = server.reclaim(None, Some(0), None).unwrap();
    assert_eq!((report.fragments_freed, report.bytes_freed), (1, FRAG as u64));
    assert!(!orphan.exists());
    assert_eq!(restore(&p, "img"), bytes);
}

#[test]
fn references_in_the_making_hold_the_data_for_the_grace_period() {
    let env = env(900);
    let server = open(&env, "VastData:a");
    let p = server.lsu("p").unwrap();
    let bytes = data(8, 2 * FRAG);
    backup(&p, "src", &bytes);
    let reader = p.open_for_read(&def("src")).unwrap();
    let mut w = p.create_image(&def("synth")).unwrap();
    w.include(&reader, 0, 0, bytes.len() as u64).unwrap();
    drop(reader);
    // Another media server deletes the source and reclaims meanwhile: the
    // uncommitted reference is protected by its marker.
    p.delete_image(&def("src")).unwrap();
    let report = server.reclaim(None, None, None).unwrap();
    assert_eq!(report.fragments_freed, 0, "{report:?}");
    // The writer's commit comes well inside the grace period: it is valid.
    w.close(true).unwrap();
    assert_eq!(restore(&p, "synth"), bytes);
}

#[test]
fn a_reference_taken_after_the_source_was_deleted_is_refused() {
    let env = env(0);
    let server = open(&env, "VastData:a");
    let p = server.lsu("p").unwrap();
    backup(&p, "src", &data(9, FRAG));
    let reader = p.open_for_read(&def("src")).unwrap();
    p.delete_image(&def("src")).unwrap();
    let mut w = p.create_image(&def("synth")).unwrap();
    let err = w.include(&reader, 0, 0, FRAG as u64).unwrap_err();
    assert!(matches!(err, EngineError::NoSuchImage(_)), "{err}");
}

/// The files under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .filter_map(|e| e.ok())
        .flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] })
        .collect()
}

#[test]
fn reclaiming_a_deleted_image_spares_a_new_image_of_the_same_name() {
    let env = env(900);
    let server = open(&env, "VastData:a");
    let p = server.lsu("p").unwrap();
    backup(&p, "reused", &data(1, 4 * FRAG));
    let keys = crate::layout::ImageKeys::new(&def("reused"));
    let old = p.ctx.block_on(crate::commit::latest_record(&p.ctx.store, &keys)).unwrap().unwrap();
    p.delete_image(&def("reused")).unwrap();
    // What a new image of that name, created by another media server
    // while a sweep of the deleted one runs, has written: the sweep took
    // the tombstone for the newest commit, and must leave this alone.
    let theirs = keys.fragment(0, "othersession0000", "otherlife0000000");
    let path = env.roots[0].join("p").join(&theirs);
    std::fs::write(&path, b"a new life's data").unwrap();
    let mine = env.roots[0].join("p").join(keys.fragment(9, "stalesession0000", &old.incarnation));
    std::fs::write(&mine, b"a straggler of the deleted life").unwrap();
    server.reclaim(None, Some(0), None).unwrap();
    assert!(path.exists(), "another life's fragment was swept");
    assert!(!mine.exists(), "the deleted life's straggler stays");
}
