//! The image life cycle and its OST state flags, checkpoint/restart, lists
//! and metadata.

use vastost_ost::sts_status::*;
use vastost_ost::*;

use crate::support::bytes;
use crate::{open, status};

const PENDING: u32 = STS_II_IMAGE_PENDING;
const CREATED: u32 = STS_II_IMAGE_CREATED;
const BUSY_W: u32 = STS_II_BUSY_WRITE;
const BUSY_R: u32 = STS_II_BUSY_READ;

#[test]
fn life_cycle_and_state_flags() {
    let (s, lsu) = open("small", "lifecycle");
    let mut img = s.create_image(&lsu, "client_1588173008_C1_F1", "1588173008").unwrap();
    assert_eq!(img.info().unwrap().flags, PENDING | BUSY_W);
    assert_eq!(s.image_info(&lsu, "client_1588173008_C1_F1", "1588173008").unwrap().flags, PENDING | BUSY_W);
    let data = bytes(1, 300 * 1024);
    img.write(&data[..100 * 1024], 0).unwrap();
    assert_eq!(img.info().unwrap().size, 100 * 1024, "imo_size grows as data is written");
    img.write(&data[100 * 1024..], 100 * 1024).unwrap();
    assert_eq!(img.info().unwrap().size, data.len() as u64);
    // A second create or a writer open of the same image is refused.
    assert_eq!(status(s.create_image(&lsu, "client_1588173008_C1_F1", "1588173008")), STS_EBUSY);
    assert_eq!(status(s.open_image(&lsu, "client_1588173008_C1_F1", "1588173008", STS_O_READ)), STS_ESTATE);
    img.close(true).unwrap();

    let info = s.image_info(&lsu, "client_1588173008_C1_F1", "1588173008").unwrap();
    assert_eq!((info.flags, info.size, info.lsu.as_str()), (CREATED, data.len() as u64, lsu.as_str()));
    assert!(info.created > 1_600_000_000);
    assert_eq!(status(s.create_image(&lsu, "client_1588173008_C1_F1", "1588173008")), STS_EEXIST);
    assert_eq!(status(s.open_image(&lsu, "client_1588173008_C1_F1", "1588173008", STS_O_WRITE)), STS_ESTATE);

    let mut r = s.open_image(&lsu, "client_1588173008_C1_F1", "1588173008", STS_O_READ).unwrap();
    assert_eq!(r.info().unwrap().flags, CREATED | BUSY_R);
    let mut back = vec![0u8; data.len()];
    assert_eq!(r.read(&mut back, 0).unwrap(), data.len() as u64);
    assert_eq!(back, data);
    r.close(false).unwrap();
    assert_eq!(s.image_info(&lsu, "client_1588173008_C1_F1", "1588173008").unwrap().flags, CREATED);

    s.delete_image(&lsu, "client_1588173008_C1_F1", "1588173008").unwrap();
    assert_eq!(status(s.image_info(&lsu, "client_1588173008_C1_F1", "1588173008")), STS_ENOMORE);
    assert_eq!(status(s.open_image(&lsu, "client_1588173008_C1_F1", "1588173008", STS_O_READ)), STS_ENOIMAGE);
    assert_eq!(status(s.delete_image(&lsu, "client_1588173008_C1_F1", "1588173008")), STS_ENOIMAGE);
    assert!(s.images(&lsu).unwrap().is_empty());
    // The name can be used again once deleted.
    s.create_image(&lsu, "client_1588173008_C1_F1", "1588173008").unwrap().close(true).unwrap();
}

#[test]
fn checkpoint_restart_appends_across_sessions() {
    let (s, lsu) = open("small", "checkpoint");
    let data = bytes(2, 1000 * 1024);
    let cut = 333 * 1024;
    let mut img = s.create_image(&lsu, "ckpt", "1").unwrap();
    img.write(&data[..cut], 0).unwrap();
    img.close(false).unwrap();
    let info = s.image_info(&lsu, "ckpt", "1").unwrap();
    assert_eq!((info.flags, info.size), (PENDING, cut as u64), "a checkpoint clears BUSY_WRITE and stays pending");
    assert_eq!(status(s.open_image(&lsu, "ckpt", "1", STS_O_READ)), STS_ESTATE, "only complete images are readable");

    let mut img = s.open_image(&lsu, "ckpt", "1", STS_O_WRITE).unwrap();
    assert_eq!(img.info().unwrap().flags, PENDING | BUSY_W);
    assert_eq!(img.info().unwrap().size, cut as u64);
    img.write(&data[cut..700 * 1024], cut as u64).unwrap();
    img.flush().unwrap();
    img.close(false).unwrap();
    let mut img = s.open_image(&lsu, "ckpt", "1", STS_O_WRITE).unwrap();
    img.write(&data[700 * 1024..], 700 * 1024).unwrap();
    img.close(true).unwrap();

    let mut r = s.open_image(&lsu, "ckpt", "1", STS_O_READ).unwrap();
    let mut back = vec![0u8; data.len()];
    assert_eq!(r.read(&mut back, 0).unwrap(), data.len() as u64);
    assert_eq!(back, data);
}

#[test]
fn flushed_data_survives_an_abandoned_writer() {
    let (s, lsu) = open("small", "flush_abandon");
    let data = bytes(3, 256 * 1024);
    let mut img = s.create_image(&lsu, "flushed", "1").unwrap();
    img.write(&data[..128 * 1024], 0).unwrap();
    img.flush().unwrap();
    img.write(&data[128 * 1024..], 128 * 1024).unwrap();
    // The handle is never closed: what the flush stored is committed; what
    // came after is not.
    img.abandon();
    let info = s.image_info(&lsu, "flushed", "1").unwrap();
    assert_eq!(info.flags & (PENDING | CREATED), PENDING);
    assert_eq!(info.size, 128 * 1024);
}

#[test]
fn image_lists_show_complete_and_pending_images() {
    let (s, lsu) = open("small", "lists");
    // 255 bytes is the longest name.
    let long: &str = "x".repeat(255).leak();
    let names = ["a_1_C1_F1", "b 2%C1:F1", "ünïcödé", ".dot", long];
    for (i, n) in names.iter().enumerate() {
        let mut img = s.create_image(&lsu, n, "20240101").unwrap();
        img.write(&vec![i as u8; 512 * (i + 1)], 0).unwrap();
        img.close(i % 2 == 0).unwrap();
    }
    let mut listed = s.images(&lsu).unwrap();
    listed.sort_by(|a, b| a.basename.cmp(&b.basename));
    let mut want: Vec<&str> = names.to_vec();
    want.sort();
    assert_eq!(listed.iter().map(|i| i.basename.as_str()).collect::<Vec<_>>(), want);
    for info in &listed {
        let i = names.iter().position(|n| *n == info.basename).unwrap();
        assert_eq!(info.size, 512 * (i as u64 + 1));
        assert_eq!(info.flags, if i % 2 == 0 { CREATED } else { PENDING }, "{}", info.basename);
        assert_eq!(info.date, "20240101");
    }
    // One name's images, every date, without a listing of the LSU: the
    // same as the listing says of it, and nothing of another name.
    for n in ["b 2%C1:F1", "ünïcödé"] {
        let mut img = s.create_image(&lsu, n, "20240102").unwrap();
        img.write(&[9u8; 512], 0).unwrap();
        img.close(true).unwrap();
        let dates = s.image_dates(&lsu, n).unwrap();
        let mut from_list: Vec<_> = s.images(&lsu).unwrap().into_iter().filter(|i| i.basename == *n).collect();
        from_list.sort_by(|a, b| a.date.cmp(&b.date));
        assert_eq!(dates, from_list, "{n}");
        assert_eq!(dates.len(), 2);
    }
    assert!(s.image_dates(&lsu, "nobody").unwrap().is_empty());
}

#[test]
fn metadata_before_during_and_after_the_data() {
    let (s, lsu) = open("small", "metadata");
    let mut img = s.create_image(&lsu, "meta", "1").unwrap();
    assert_eq!(img.read_meta(&mut [0u8; 16], 0).unwrap(), 0, "no metadata yet");
    assert_eq!(img.write_meta(b"header", 0).unwrap(), 6);
    img.write(&bytes(4, 64 * 1024), 0).unwrap();
    img.write_meta(b"-during", 6).unwrap();
    img.close(true).unwrap();

    let mut r = s.open_image(&lsu, "meta", "1", STS_O_READ).unwrap();
    let mut buf = [0u8; 64];
    let n = r.read_meta(&mut buf, 0).unwrap() as usize;
    assert_eq!(&buf[..n], b"header-during");
    // Metadata stays writable on a complete image opened for reading.
    r.write_meta(b"+after", 13).unwrap();
    let n = r.read_meta(&mut buf, 7).unwrap() as usize;
    assert_eq!(&buf[..n], b"during+after");
    assert_eq!(r.read_meta(&mut buf, 1000).unwrap(), 0, "past its end");
    // A few MB is fine; more than 16 MiB is refused.
    let big = bytes(5, 3 << 20);
    r.write_meta(&big, 0).unwrap();
    let mut back = vec![0u8; 3 << 20];
    assert_eq!(r.read_meta(&mut back, 0).unwrap(), 3 << 20);
    assert_eq!(back, big);
    assert_eq!(status(r.write_meta(b"x", 16 << 20)), STS_EINVAL);
}

#[test]
fn a_damaged_fragment_is_an_error_not_data() {
    let (s, lsu) = open("small", "integrity");
    let data = bytes(6, 200 * 1024);
    let mut img = s.create_image(&lsu, "fragile", "1").unwrap();
    img.write(&data, 0).unwrap();
    img.close(true).unwrap();
    let stored = crate::fixture().stored();
    let frags: Vec<String> =
        stored.names(&lsu, "images/fragile/1/frag").iter().map(|n| format!("images/fragile/1/frag/{n}")).collect();
    assert_eq!(frags.len(), 4, "200 KiB in 64 KiB fragments");
    let mut bytes_on_disk = stored.read(&lsu, &frags[1]);
    bytes_on_disk[1234] ^= 0x01;
    stored.write(&lsu, &frags[1], &bytes_on_disk);

    let mut r = s.open_image(&lsu, "fragile", "1", STS_O_READ).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    assert_eq!(r.read(&mut buf, 0).unwrap(), 64 * 1024, "the first fragment is intact");
    assert_eq!(buf, data[..64 * 1024]);
    let err = r.read(&mut buf, 64 * 1024).unwrap_err();
    assert_eq!(err.code(), Some(STS_EINTEGRITY), "{}", err.message);
    assert!(err.message.contains("checksum"), "{}", err.message);
    // A truncated fragment is caught too.
    stored.write(&lsu, &frags[2], b"short");
    let err = r.read(&mut buf, 128 * 1024).unwrap_err();
    assert_eq!(err.code(), Some(STS_EINTEGRITY), "{}", err.message);
}

#[test]
fn an_asynchronous_delete_is_done_at_once_and_frees_the_space_behind() {
    let (s, lsu) = open("small", "async_delete");
    let data = bytes(21, 40 * 64 * 1024);
    crate::support::backup(&s, &lsu, "bulky", &data, 256 * 1024).unwrap();
    let stored = crate::fixture().stored();
    assert_eq!(stored.fragments(&lsu, "images/bulky"), 40);
    let api = crate::fixture().plugin.api();
    let (l, d) = (s.lsu(&lsu).unwrap(), vastost_loader::image_def("bulky", "1").unwrap());
    // SAFETY: valid structs.
    assert_eq!(unsafe { (api.stspi_delete_image)(&l, &d, 1) }, 0);
    // Gone for everyone at once...
    assert!(s.images(&lsu).unwrap().is_empty());
    assert_eq!(status(s.open_image(&lsu, "bulky", "1", STS_O_READ)), STS_ENOIMAGE);
    // ... and its space freed behind.
    let started = std::time::Instant::now();
    while stored.fragments(&lsu, "images/bulky") > 0 {
        assert!(started.elapsed().as_secs() < 30, "fragments left: {}", stored.fragments(&lsu, "images/bulky"));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // What cannot be deleted is still said at once.
    // SAFETY: valid structs.
    assert_eq!(unsafe { (api.stspi_delete_image)(&l, &d, 1) }, STS_ENOIMAGE as i32);
}
