//! The pipelines on both kinds of store: buffered uploads (memory, as S3
//! will be) and direct writes (a filesystem, as NFS is).

use vastost_storage::ObjectStore;

use crate::budget::MemoryBudget;
use crate::error::EngineError;
use crate::lsu::Lsu;
use crate::manifest::ImageState;
use crate::names::ImageDef;

const FRAG: u64 = 8192;

/// An LSU on each kind of store (memory, as S3 buffers; a directory, as
/// NFS), with 8 KiB fragments, sharing a runtime and a memory budget.
pub(crate) struct Env {
    pub rt: tokio::runtime::Runtime,
    pub budget: MemoryBudget,
    pub dir: tempfile::TempDir,
    pub lsus: Vec<Lsu>,
}

pub(crate) fn env(budget: u64) -> Env {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let budget = MemoryBudget::new(budget, None);
    let dir = tempfile::tempdir().unwrap();
    let stores = [ObjectStore::memory().unwrap(), ObjectStore::fs(dir.path()).unwrap()];
    let lsus = stores
        .into_iter()
        .map(|s| Lsu::new(crate::ctx::LsuCtx::on_store(s, rt.handle().clone(), budget.clone(), FRAG)))
        .collect();
    Env { rt, budget, dir, lsus }
}

fn def(name: &str) -> ImageDef {
    ImageDef::new(name, "1").unwrap()
}

pub(crate) fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v);
    v
}

fn read_all(lsu: &Lsu, name: &str) -> Vec<u8> {
    let mut r = lsu.open_for_read(&def(name)).unwrap();
    let mut out = vec![0u8; r.size() as usize];
    let mut off = 0;
    while off < out.len() {
        let end = (off + 3 * 512).min(out.len()).max(off + 512);
        let mut buf = vec![0u8; end - off];
        let n = r.read(&mut buf, off as u64).unwrap();
        out[off..off + n].copy_from_slice(&buf[..n]);
        off += n;
    }
    out
}

#[test]
fn round_trips_on_every_store() {
    let env = env(1 << 20);
    for lsu in &env.lsus {
        for size in [0, 512, FRAG as usize - 512, FRAG as usize, FRAG as usize + 512, 5 * FRAG as usize + 1024] {
            let name = format!("img{size}");
            let bytes = data(size as u64, size);
            let mut w = lsu.create_image(&def(&name)).unwrap();
            for (i, chunk) in bytes.chunks(1536).enumerate() {
                w.write(chunk, i as u64 * 1536).unwrap();
            }
            w.close(true).unwrap();
            assert_eq!(read_all(lsu, &name), bytes, "size {size}");
        }
    }
    assert!(env.budget.stats().peak <= env.budget.stats().total);
}

#[test]
fn checkpoints_and_overwrites_on_every_store() {
    let env = env(1 << 20);
    for lsu in &env.lsus {
        let mut model = vec![0u8; 6 * FRAG as usize];
        let mut w = lsu.create_image(&def("ow")).unwrap();
        let mut rng = fastrand::Rng::with_seed(5);
        for round in 0..60 {
            let len = 512 * rng.usize(1..20);
            let off = 512 * rng.usize(0..(model.len() - len) / 512);
            let chunk = data(round, len);
            w.write(&chunk, off as u64).unwrap();
            model[off..off + len].copy_from_slice(&chunk);
            if round % 20 == 19 {
                w.close(false).unwrap();
                assert_eq!(lsu.image_info(&def("ow")).unwrap().state, ImageState::Pending);
                w = lsu.open_for_write(&def("ow")).unwrap();
            }
        }
        let size = w.size() as usize;
        w.close(true).unwrap();
        model.truncate(size);
        assert_eq!(read_all(lsu, "ow"), model);
        lsu.delete_image(&def("ow")).unwrap();
        assert!(matches!(lsu.image_info(&def("ow")), Err(EngineError::NoSuchImage(_))));
        assert!(crate::ImagePager::new(lsu.clone()).next_image().unwrap().is_none());
    }
}

#[test]
fn many_writers_on_a_small_budget_never_deadlock() {
    // Room for four fragments, eight writers: they must take turns.
    let env = env(4 * FRAG);
    let lsu = &env.lsus[0];
    std::thread::scope(|s| {
        for t in 0..8u64 {
            s.spawn(move || {
                let bytes = data(t, 10 * FRAG as usize);
                let name = format!("w{t}");
                let mut w = lsu.create_image(&def(&name)).unwrap();
                for (i, chunk) in bytes.chunks(4096).enumerate() {
                    w.write(chunk, i as u64 * 4096).unwrap();
                }
                w.close(true).unwrap();
                assert_eq!(read_all(lsu, &name), bytes);
            });
        }
    });
    let stats = env.budget.stats();
    assert!(stats.peak <= stats.total, "{stats:?}");
    drop(env.rt);
}

#[test]
fn a_failed_fragment_write_is_sticky_and_nothing_is_committed() {
    let env = env(1 << 20);
    let lsu = &env.lsus[1];
    let d = def("sticky");
    let mut w = lsu.create_image(&d).unwrap();
    w.write(&data(1, FRAG as usize), 0).unwrap();
    w.flush().unwrap();
    // Make the fragment folder unusable: a file where the folder must be.
    let root = env.dir.path().join("images/sticky/1/frag");
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::write(&root, b"not a folder").unwrap();
    let err = w.write(&data(2, FRAG as usize), FRAG).unwrap_err();
    assert!(matches!(err, EngineError::Storage(_)), "{err}");
    assert!(w.write(&data(3, 512), 2 * FRAG).is_err(), "the error is sticky");
    assert!(w.close(true).is_err(), "close reports it too");
    let info = lsu.image_info(&d).unwrap();
    assert_eq!((info.state, info.size), (ImageState::Pending, FRAG), "only the flushed part is committed");
}

#[test]
fn a_commit_record_found_in_place_after_a_retry_is_ours_only_if_identical() {
    let env = env(1 << 20);
    for lsu in &env.lsus {
        let ctx = &lsu.ctx;
        assert!(ctx.block_on(crate::commit::put_record(ctx, "r/1", b"ours".to_vec())).unwrap());
        // The answer was lost and the write retried: the same bytes are there.
        assert!(ctx.block_on(crate::commit::put_record(ctx, "r/1", b"ours".to_vec())).unwrap());
        // Another writer's record is a conflict.
        assert!(!ctx.block_on(crate::commit::put_record(ctx, "r/1", b"theirs".to_vec())).unwrap());
    }
}

#[test]
fn writes_past_the_page_cache_are_paid_from_the_budget_or_go_through_it() {
    use vastost_storage::FragmentWriter;
    let bytes = data(11, 3 * FRAG as usize + 512);
    // Room for the direct writer's buffers: held while a fragment is open,
    // given back once the image is closed.
    let roomy = env(8 * FragmentWriter::DIRECT_MEMORY);
    let lsu = &roomy.lsus[1];
    let mut w = lsu.create_image(&def("paid")).unwrap();
    w.write(&bytes[..512], 0).unwrap();
    assert!(roomy.budget.stats().in_use >= FragmentWriter::DIRECT_MEMORY, "an open direct fragment holds its buffers");
    w.write(&bytes[512..], 512).unwrap();
    w.close(true).unwrap();
    assert_eq!(roomy.budget.stats().in_use, 0, "all given back at close");
    // The staging buffers the store keeps for the next fragments are paid
    // for, and give way to whoever needs the whole budget.
    assert!(roomy.budget.stats().pooled > 0, "{:?}", roomy.budget.stats());
    let all = roomy.budget.try_acquire(roomy.budget.stats().total).expect("the stores' pools give way");
    assert_eq!(roomy.budget.stats().pooled, 0);
    drop(all);
    assert_eq!(read_all(lsu, "paid"), bytes);
    // No room: the same bytes go through the page cache, nothing held.
    let tight = env(1 << 20);
    let lsu = &tight.lsus[1];
    let mut w = lsu.create_image(&def("unpaid")).unwrap();
    w.write(&bytes, 0).unwrap();
    assert!(tight.budget.stats().peak < FragmentWriter::DIRECT_MEMORY);
    w.close(true).unwrap();
    assert_eq!(read_all(lsu, "unpaid"), bytes);
}

#[test]
fn a_writers_metadata_lands_with_its_commit_and_never_outlives_its_image() {
    let env = env(1 << 20);
    for lsu in &env.lsus {
        let store = &lsu.ctx.store;
        let meta_of = |name: &str| crate::layout::ImageKeys::new(&def(name)).meta();
        let stored = |name: &str| env.rt.block_on(store.size(&meta_of(name))).unwrap().is_some();
        // Kept until the commit, and read back as given meanwhile.
        let mut w = lsu.create_image(&def("m1")).unwrap();
        w.image().write_meta(b"header", 0).unwrap();
        w.image().write_meta(b"++", 6).unwrap();
        assert_eq!(w.image().read_meta(0, 100).unwrap(), b"header++");
        assert!(!stored("m1"), "stored before the commit");
        w.write(&[7u8; 512], 0).unwrap();
        w.flush().unwrap();
        assert!(stored("m1"));
        w.image().write_meta(b"H", 0).unwrap();
        w.close(true).unwrap();
        assert_eq!(lsu.read_meta(&def("m1"), 0, 100).unwrap(), b"Header++");
        // A writer that never commits leaves no metadata.
        let w = lsu.create_image(&def("m2")).unwrap();
        w.image().write_meta(b"header", 0).unwrap();
        drop(w);
        assert!(!stored("m2"));
        // Deleted while its writer is open: the close fails, and the
        // metadata it stored is taken back.
        let mut w = lsu.create_image(&def("m3")).unwrap();
        w.image().write_meta(b"header", 0).unwrap();
        w.write(&[7u8; 512], 0).unwrap();
        lsu.delete_image(&def("m3")).unwrap();
        assert!(w.close(true).is_err());
        assert!(!stored("m3"), "metadata outlived its image");
    }
}
