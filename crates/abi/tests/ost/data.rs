//! Data written through the ABI comes back exactly: sizes around fragment
//! boundaries, random-offset writes, reads past the end, a GiB-scale image.

use vastost_loader::Server;
use vastost_ost::STS_O_READ;
use vastost_ost::sts_status::*;

use crate::support::bytes;
use crate::{fixture, open, status};

const FRAG: usize = 64 * 1024;

/// Writes `data` in calls of varying block-multiple lengths, closes it
/// complete, and reads it back in calls of `read_len`.
fn round_trip(s: &Server<'_>, lsu: &str, name: &str, data: &[u8], read_len: usize) {
    let mut img = s.create_image(lsu, name, "1").unwrap();
    let mut rng = fastrand::Rng::with_seed(data.len() as u64);
    let mut off = 0;
    while off < data.len() {
        let n = (512 * rng.usize(1..300)).min(data.len() - off);
        assert_eq!(img.write(&data[off..off + n], off as u64).unwrap(), n as u64);
        off += n;
    }
    img.close(true).unwrap();
    assert_eq!(s.image_info(lsu, name, "1").unwrap().size, data.len() as u64, "{name}");
    let mut r = s.open_image(lsu, name, "1", STS_O_READ).unwrap();
    let mut back = Vec::with_capacity(data.len());
    let mut buf = vec![0u8; read_len];
    loop {
        let n = r.read(&mut buf, back.len() as u64).unwrap() as usize;
        if n == 0 {
            break;
        }
        back.extend_from_slice(&buf[..n]);
    }
    assert!(back == data, "{name}: restored bytes differ");
}

#[test]
fn sizes_around_fragment_boundaries() {
    let (s, lsu) = open("small", "sizes");
    for (i, size) in [0, 512, FRAG - 512, FRAG, FRAG + 512, 3 * FRAG + 1536, 40 * FRAG - 512].into_iter().enumerate() {
        let data = bytes(i as u64, size);
        for read_len in [512, 4096, FRAG + 512, 1 << 20] {
            let name = format!("size_{size}_read_{read_len}");
            round_trip(&s, &lsu, &name, &data, read_len);
        }
    }
}

#[test]
fn random_offset_writes_and_overwrites() {
    let (s, lsu) = open("small", "random_writes");
    let mut rng = fastrand::Rng::with_seed(99);
    let size = 20 * FRAG;
    let mut model = vec![0u8; size];
    let mut img = s.create_image(&lsu, "random", "1").unwrap();
    for round in 0..200 {
        let len = 512 * rng.usize(1..200);
        let off = 512 * rng.usize(0..(size - len) / 512);
        let chunk = bytes(1000 + round, len);
        img.write(&chunk, off as u64).unwrap();
        model[off..off + len].copy_from_slice(&chunk);
        if round == 100 {
            // A checkpoint in the middle: the extent map must survive it.
            img.close(false).unwrap();
            img = s.open_image(&lsu, "random", "1", vastost_ost::STS_O_WRITE).unwrap();
        }
    }
    let written = img.info().unwrap().size as usize;
    img.close(true).unwrap();
    model.truncate(written);
    let mut r = s.open_image(&lsu, "random", "1", STS_O_READ).unwrap();
    let mut back = vec![0u8; written];
    assert_eq!(r.read(&mut back, 0).unwrap() as usize, written);
    assert!(back == model, "random writes: restored bytes differ from the model");
    // Random reads of random lengths agree with the model too.
    for _ in 0..100 {
        let len = 512 * rng.usize(1..100);
        let off = 512 * rng.usize(0..written / 512);
        let mut buf = vec![0u8; len];
        let n = r.read(&mut buf, off as u64).unwrap() as usize;
        assert_eq!(n, len.min(written - off));
        assert!(buf[..n] == model[off..off + n], "read of {len} at {off}");
    }
}

#[test]
fn holes_read_as_zeros() {
    let (s, lsu) = open("small", "holes");
    let mut img = s.create_image(&lsu, "sparse", "1").unwrap();
    img.write(&[1u8; 512], 0).unwrap();
    img.write(&[2u8; 512], 10 * FRAG as u64).unwrap();
    img.close(true).unwrap();
    let mut r = s.open_image(&lsu, "sparse", "1", STS_O_READ).unwrap();
    let mut buf = vec![9u8; 10 * FRAG + 512];
    assert_eq!(r.read(&mut buf, 0).unwrap(), buf.len() as u64);
    assert!(buf[..512].iter().all(|b| *b == 1));
    assert!(buf[512..10 * FRAG].iter().all(|b| *b == 0));
    assert!(buf[10 * FRAG..].iter().all(|b| *b == 2));
}

#[test]
fn reads_at_and_past_the_end() {
    let (s, lsu) = open("small", "past_end");
    let data = bytes(7, 5 * 512);
    let mut img = s.create_image(&lsu, "short", "1").unwrap();
    img.write(&data, 0).unwrap();
    img.close(true).unwrap();
    let mut r = s.open_image(&lsu, "short", "1", STS_O_READ).unwrap();
    let mut buf = vec![0u8; 4096];
    assert_eq!(r.read(&mut buf, 2048).unwrap(), 512, "a short read at the end");
    assert_eq!(&buf[..512], &data[2048..]);
    assert_eq!(r.read(&mut buf, 2560).unwrap(), 0, "at the end");
    assert_eq!(r.read(&mut buf, 1 << 40).unwrap(), 0, "far past the end");
    assert_eq!(status(r.read(&mut buf[..100], 0)), STS_EINVAL, "lengths are multiples of 512");
}

#[test]
fn a_gib_scale_image_with_default_fragments() {
    // 1 GiB + 1 MiB in the default 8 MiB fragments: 129 fragments, the
    // last partial (over S3, whose test server is slower, 256 MiB + 1 MiB in
    // 64 MiB fragments, sent as multipart uploads: 5 fragments).
    let (s, lsu) = open("big", "gib_scale");
    let size: u64 = if crate::S3 { (256 << 20) + (1 << 20) } else { (1 << 30) + (1 << 20) };
    let block = 1 << 20;
    let chunk = |i: u64| bytes(i, block);
    let mut img = s.create_image(&lsu, "big_image", "1").unwrap();
    for i in 0..size / block as u64 {
        img.write(&chunk(i % 7), i * block as u64).unwrap();
    }
    img.close(true).unwrap();
    let frags = fixture().stored().names(&lsu, "images/big_image/1/frag").len();
    let fragment: u64 = if crate::S3 { 64 << 20 } else { 8 << 20 };
    assert_eq!(frags as u64, size.div_ceil(fragment));
    let mut r = s.open_image(&lsu, "big_image", "1", STS_O_READ).unwrap();
    let mut buf = vec![0u8; block];
    for i in 0..size / block as u64 {
        assert_eq!(r.read(&mut buf, i * block as u64).unwrap(), block as u64);
        assert!(buf == chunk(i % 7), "block {i} differs");
    }
    assert_eq!(r.read(&mut buf, size).unwrap(), 0);
    let stats = fixture().plugin.stats().unwrap();
    assert!(stats.vs_budget_peak <= stats.vs_budget_total, "{stats:?}");
    drop(r);
    s.delete_image(&lsu, "big_image", "1").unwrap();
}
