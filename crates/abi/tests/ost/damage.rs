//! Damage made by hand on the storage (as a failing disk, a careless
//! administrator or ransomware would) is reported, never hidden and never
//! served: damaged or lost commit records, lost metadata, lost fragments.
//! The objects are files under `Fixture::data` on both data paths.

use std::path::PathBuf;

use vastost_abi::ost::sts_status::*;
use vastost_abi::ost::*;

use crate::support::bytes;
use crate::{open, status};

/// The folder of image `name` (date "1") on LSU `lsu`.
fn image_dir(lsu: &str, name: &str) -> PathBuf {
    crate::fixture().data.join(lsu).join("images").join(name).join("1")
}

/// The files of a folder of the image, sorted.
fn files(dir: PathBuf) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    out.sort();
    out
}

fn backup_with_meta(s: &vastost_abi::loader::Server<'_>, lsu: &str, name: &str) -> Vec<u8> {
    let data = bytes(11, 200 * 1024);
    let mut img = s.create_image(lsu, name, "1").unwrap();
    img.write(&data, 0).unwrap();
    img.write_meta(b"netbackup header", 0).unwrap();
    img.close(true).unwrap();
    data
}

#[test]
fn a_damaged_cut_or_lost_commit_record_is_listed_as_damaged_and_refused() {
    let (s, lsu) = open("small", "damaged_records");
    type Damage = fn(&std::path::Path);
    let kinds: [(&str, Damage); 5] = [
        ("flip", |p| {
            let mut b = std::fs::read(p).unwrap();
            let at = b.len() / 2;
            b[at] ^= 0x01;
            std::fs::write(p, b).unwrap();
        }),
        ("length", |p| {
            // The length field alone (no longer outside the checksum).
            let mut b = std::fs::read(p).unwrap();
            b[12] ^= 0x01;
            std::fs::write(p, b).unwrap();
        }),
        ("empty", |p| std::fs::write(p, b"").unwrap()),
        ("cut10", |p| {
            let b = std::fs::read(p).unwrap();
            std::fs::write(p, &b[..10]).unwrap();
        }),
        ("gone", |p| std::fs::remove_file(p).unwrap()),
    ];
    for (kind, damage) in kinds {
        let name = format!("rec_{kind}");
        backup_with_meta(&s, &lsu, &name);
        let records = files(image_dir(&lsu, &name).join("manifest"));
        assert_eq!(records.len(), 1, "{kind}: one commit record");
        damage(&records[0]);

        let listed = s.images(&lsu).unwrap();
        let entry = listed.iter().find(|i| i.basename == name).unwrap_or_else(|| panic!("{kind}: not listed"));
        assert_eq!(entry.flags & VASTOST_II_DAMAGED, VASTOST_II_DAMAGED, "{kind}: flags {:#x}", entry.flags);
        assert_eq!(entry.flags & (STS_II_IMAGE_CREATED | STS_II_IMAGE_PENDING), 0, "{kind}");

        let err = s.open_image(&lsu, &name, "1", STS_O_READ).unwrap_err();
        assert_eq!(err.code(), Some(STS_EINTEGRITY), "{kind}: {}", err.message);
        assert!(err.message.contains("manifest/"), "{kind}: the record is named: {}", err.message);
        assert_eq!(status(s.image_info(&lsu, &name, "1")), STS_EINTEGRITY, "{kind}");
        assert_eq!(status(s.open_image(&lsu, &name, "1", STS_O_WRITE)), STS_EINTEGRITY, "{kind}");
        // Never mistaken for a free name.
        assert_ne!(crate::status(s.create_image(&lsu, &name, "1")), STS_EOK, "{kind}");
    }
}

#[test]
fn lost_metadata_is_damage_not_an_empty_record() {
    let (s, lsu) = open("small", "lost_meta");
    backup_with_meta(&s, &lsu, "with_meta");
    std::fs::remove_file(image_dir(&lsu, "with_meta").join("meta")).unwrap();
    let mut r = s.open_image(&lsu, "with_meta", "1", STS_O_READ).unwrap();
    let err = r.read_meta(&mut [0u8; 512], 0).unwrap_err();
    assert_eq!(err.code(), Some(STS_EINTEGRITY), "{}", err.message);
    assert!(err.message.contains("meta"), "{}", err.message);
    drop(r);

    // Metadata first written on a read handle, after the image completed,
    // is recorded too.
    let mut img = s.create_image(&lsu, "late_meta", "1").unwrap();
    img.write(&[7u8; 4096], 0).unwrap();
    img.close(true).unwrap();
    let mut r = s.open_image(&lsu, "late_meta", "1", STS_O_READ).unwrap();
    assert_eq!(r.read_meta(&mut [0u8; 512], 0).unwrap(), 0, "no metadata yet: empty, not an error");
    r.write_meta(b"added later", 0).unwrap();
    r.close(false).unwrap();
    std::fs::remove_file(image_dir(&lsu, "late_meta").join("meta")).unwrap();
    let mut r = s.open_image(&lsu, "late_meta", "1", STS_O_READ).unwrap();
    assert_eq!(status(r.read_meta(&mut [0u8; 512], 0)), STS_EINTEGRITY);

    // Written before a checkpoint, then lost before the writer resumes.
    let mut w = s.create_image(&lsu, "ckpt_meta", "1").unwrap();
    w.write(&[1u8; 4096], 0).unwrap();
    w.write_meta(b"header", 0).unwrap();
    w.close(false).unwrap();
    std::fs::remove_file(image_dir(&lsu, "ckpt_meta").join("meta")).unwrap();
    let mut w = s.open_image(&lsu, "ckpt_meta", "1", STS_O_WRITE).unwrap();
    assert_eq!(status(w.read_meta(&mut [0u8; 512], 0)), STS_EINTEGRITY);
    assert_eq!(status(w.write_meta(b"x", 100)), STS_EINTEGRITY, "a partial rewrite would hide the loss");
}

#[test]
fn a_lost_fragment_is_damage_naming_it_not_a_deleted_image() {
    let (s, lsu) = open("small", "lost_fragment");
    let data = backup_with_meta(&s, &lsu, "holed");
    let frags = files(image_dir(&lsu, "holed").join("frag"));
    assert_eq!(frags.len(), 4, "200 KiB in 64 KiB fragments");
    std::fs::remove_file(&frags[2]).unwrap();
    let lost = frags[2].file_name().unwrap().to_string_lossy().into_owned();

    let mut r = s.open_image(&lsu, "holed", "1", STS_O_READ).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    assert_eq!(r.read(&mut buf, 64 * 1024).unwrap(), 64 * 1024);
    assert_eq!(buf, data[64 * 1024..128 * 1024]);
    let err = r.read(&mut buf, 128 * 1024).unwrap_err();
    assert_eq!(err.code(), Some(STS_EINTEGRITY), "{}", err.message);
    assert!(err.message.contains(&lost), "names the fragment: {}", err.message);
    assert!(!err.message.contains("deleted"), "{}", err.message);

    // An image really deleted under an open reader is "no image".
    let mut img = s.create_image(&lsu, "deleted", "1").unwrap();
    img.write(&bytes(3, 200 * 1024), 0).unwrap();
    img.close(true).unwrap();
    let mut r = s.open_image(&lsu, "deleted", "1", STS_O_READ).unwrap();
    s.delete_image(&lsu, "deleted", "1").unwrap();
    assert_eq!(status(r.read(&mut buf, 0)), STS_ENOIMAGE);
}
