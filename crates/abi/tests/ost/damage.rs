//! Damage made by hand on the storage (as a failing disk, a careless
//! administrator or ransomware would) is reported, never hidden and never
//! served: damaged or lost commit records, lost metadata, lost fragments.
//! The objects are reached below the plugin through `Fixture::stored`.

use vastost_ost::sts_status::*;
use vastost_ost::*;

use crate::support::bytes;
use crate::{open, status};

/// The folder of image `name` (date "1"), relative to its LSU.
fn image_dir(name: &str) -> String {
    format!("images/{name}/1")
}

fn backup_with_meta(s: &vastost_loader::Server<'_>, lsu: &str, name: &str) -> Vec<u8> {
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
    // What each damage leaves of the record (`None`: nothing).
    type Damage = fn(Vec<u8>) -> Option<Vec<u8>>;
    let kinds: [(&str, Damage); 5] = [
        ("flip", |mut b| {
            let at = b.len() / 2;
            b[at] ^= 0x01;
            Some(b)
        }),
        ("length", |mut b| {
            // The length field alone (no longer outside the checksum).
            b[12] ^= 0x01;
            Some(b)
        }),
        ("empty", |_| Some(Vec::new())),
        ("cut10", |b| Some(b[..10].to_vec())),
        ("gone", |_| None),
    ];
    let stored = crate::fixture().stored();
    for (kind, damage) in kinds {
        let name = format!("rec_{kind}");
        backup_with_meta(&s, &lsu, &name);
        let folder = format!("{}/manifest", image_dir(&name));
        let records = stored.names(&lsu, &folder);
        assert_eq!(records.len(), 1, "{kind}: one commit record");
        let record = format!("{folder}/{}", records[0]);
        match damage(stored.read(&lsu, &record)) {
            Some(left) => stored.write(&lsu, &record, &left),
            None => stored.remove(&lsu, &record),
        }

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
    crate::fixture().stored().remove(&lsu, &format!("{}/meta", image_dir("with_meta")));
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
    crate::fixture().stored().remove(&lsu, &format!("{}/meta", image_dir("late_meta")));
    let mut r = s.open_image(&lsu, "late_meta", "1", STS_O_READ).unwrap();
    assert_eq!(status(r.read_meta(&mut [0u8; 512], 0)), STS_EINTEGRITY);

    // Written before a checkpoint, then lost before the writer resumes.
    let mut w = s.create_image(&lsu, "ckpt_meta", "1").unwrap();
    w.write(&[1u8; 4096], 0).unwrap();
    w.write_meta(b"header", 0).unwrap();
    w.close(false).unwrap();
    crate::fixture().stored().remove(&lsu, &format!("{}/meta", image_dir("ckpt_meta")));
    let mut w = s.open_image(&lsu, "ckpt_meta", "1", STS_O_WRITE).unwrap();
    assert_eq!(status(w.read_meta(&mut [0u8; 512], 0)), STS_EINTEGRITY);
    assert_eq!(status(w.write_meta(b"x", 100)), STS_EINTEGRITY, "a partial rewrite would hide the loss");
}

#[test]
fn a_lost_fragment_is_damage_naming_it_not_a_deleted_image() {
    let (s, lsu) = open("small", "lost_fragment");
    let data = backup_with_meta(&s, &lsu, "holed");
    let folder = format!("{}/frag", image_dir("holed"));
    let frags = crate::fixture().stored().names(&lsu, &folder);
    assert_eq!(frags.len(), 4, "200 KiB in 64 KiB fragments");
    crate::fixture().stored().remove(&lsu, &format!("{folder}/{}", frags[2]));
    let lost = frags[2].clone();

    let mut r = s.open_image(&lsu, "holed", "1", STS_O_READ).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    assert_eq!(r.read(&mut buf, 64 * 1024).unwrap(), 64 * 1024);
    assert_eq!(buf, data[64 * 1024..128 * 1024]);
    let err = r.read(&mut buf, 128 * 1024).unwrap_err();
    assert_eq!(err.code(), Some(STS_EINTEGRITY), "{}", err.message);
    assert!(err.message.contains(&lost), "names the fragment: {}", err.message);
    assert!(!err.message.contains("deleted"), "{}", err.message);

    // An image really deleted under an open reader is "no image" for the
    // bytes the reader had not fetched yet (its first unit is asked for at
    // open, so, like a file read after its unlink, it may still be read).
    let mut img = s.create_image(&lsu, "deleted", "1").unwrap();
    img.write(&bytes(3, 200 * 1024), 0).unwrap();
    img.close(true).unwrap();
    let mut r = s.open_image(&lsu, "deleted", "1", STS_O_READ).unwrap();
    s.delete_image(&lsu, "deleted", "1").unwrap();
    assert_eq!(status(r.read(&mut buf, 128 * 1024)), STS_ENOIMAGE);
}
