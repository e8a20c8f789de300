//! The manifest: an image's single commit record.
//!
//! An image exists, with a given size and state, exactly when its newest
//! manifest says so. Data fragments are written first and the manifest that
//! maps them second, so a crash never exposes a mapping to data that is not
//! stored. On storage a manifest is framed so that it describes and checks
//! itself:
//!
//! ```text
//! magic "VOSTMAN1" | frame version u32 | payload length u64 | CRC32C u32 | JSON payload
//! ```
//!
//! The frame version is the stored format (see `format`). From version 2 on
//! the CRC32C covers every other byte of the record: magic, version, length
//! and payload (version 1 covered the payload only), and every later version
//! keeps this frame, so a record of a format newer than this plugin's is
//! checked all the same: intact, it is [`EngineError::NewerFormat`], not
//! damage. Both data paths create a record in one atomic step (a
//! conditional PUT, or a file written aside and linked into place), so a
//! record is either whole or absent: one that is short, long, or fails its
//! checksum can only be damage, and is an error, never skipped.

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::format;
use crate::layout::LAYOUT_VERSION;

const MAGIC: &[u8; 8] = b"VOSTMAN1";
const HEADER: usize = 8 + 4 + 8 + 4;

/// Where an image is in its life. The OST flags (pending, created) are
/// derived from it; busy flags come from the open handles of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageState {
    /// Being written, or checkpointed: can be reopened for writing.
    Pending,
    /// Closed complete: readable, never writable again.
    Created,
    /// Being deleted: invisible; its remains are being removed.
    Deleted,
}

/// A data object (or part of one) with the checksums that vouch for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// The LSU holding the object, when it is not the image's own (a copy
    /// or virtual image referencing another LSU of the same server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lsu: Option<String>,
    /// Key inside its LSU.
    pub key: String,
    /// Bytes in the object.
    pub size: u64,
    /// The object is checked in chunks of this many bytes (the last one may
    /// be shorter).
    pub chunk_size: u64,
    /// CRC32C of each chunk.
    pub crcs: Vec<u32>,
    /// The storage's version of the object that a locked record pins (S3
    /// version id): readers read exactly it, whatever was written over
    /// the key since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// `length` bytes of the image at `offset` are bytes `object_offset..` of
/// `object`. Later extents override earlier ones where they overlap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    /// Offset in the image.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// Offset in the object.
    pub object_offset: u64,
    /// The object holding the bytes.
    pub object: ObjectRef,
}

/// The content of one commit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version that wrote it.
    pub layout: u32,
    /// Commit number; the highest record of an image is its state.
    pub seq: u64,
    /// NetBackup's image basename, unescaped.
    pub basename: String,
    /// NetBackup's image date, unescaped.
    pub date: String,
    /// Life-cycle state.
    pub state: ImageState,
    /// Logical size in bytes.
    pub size: u64,
    /// Seconds since the epoch when the image was created.
    pub created: u64,
    /// Seconds since the epoch of this commit.
    pub updated: u64,
    /// The extent map, in write order.
    pub extents: Vec<Extent>,
    /// A random token of the session that wrote this record: two writers
    /// never write the same bytes, so a record found in place after a
    /// retried write can be told to be ours.
    #[serde(default)]
    pub session: String,
    /// Whether the image has metadata (`write_image_meta` was called): a
    /// metadata object that is then missing is damage, not "no metadata".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub meta: bool,
    /// A random token of this image's life, from its creation on: an image
    /// deleted and created again under the same name is another one, which
    /// a handle of the first must not take for damage of its own.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub incarnation: String,
    /// The image's WORM lock, once set (see `worm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<crate::retention::ImageLock>,
    /// The storage's version of the metadata object that a locked record
    /// pins (see [`ObjectRef::version`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_version: Option<String>,
}

/// A fresh session token.
pub(crate) fn new_session() -> String {
    format!("{:016x}", fastrand::u64(..))
}

impl Manifest {
    /// A new, empty, pending image.
    pub fn new(basename: &str, date: &str, now: u64) -> Self {
        Manifest {
            layout: LAYOUT_VERSION,
            seq: 0,
            basename: basename.to_string(),
            date: date.to_string(),
            state: ImageState::Pending,
            size: 0,
            created: now,
            updated: now,
            extents: Vec::new(),
            session: new_session(),
            meta: false,
            incarnation: new_session(),
            lock: None,
            meta_version: None,
        }
    }

    /// The framed bytes to store.
    pub fn encode(&self) -> Vec<u8> {
        let payload = serde_json::to_vec(self).expect("a manifest always serializes");
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&format::WRITTEN.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&out), &payload);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Reads framed bytes back; `what` names the record in errors. Any
    /// record that is not whole and intact is [`EngineError::Integrity`].
    pub fn decode(bytes: &[u8], what: &str) -> Result<Manifest> {
        let corrupt = |why: String| Err(EngineError::Integrity(format!("commit record {what}: {why}")));
        if bytes.len() < HEADER {
            return corrupt(format!("only {} bytes, shorter than a record's header ({HEADER})", bytes.len()));
        }
        if &bytes[..8] != MAGIC {
            return corrupt("bad magic (not a commit record)".into());
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
        let payload = &bytes[HEADER..];
        let computed = match version {
            0 => return corrupt("frame version 0".into()),
            1 => crc32c::crc32c(payload),
            _ => crc32c::crc32c_append(crc32c::crc32c(&bytes[..20]), payload),
        };
        if computed != crc {
            return corrupt(format!("checksum mismatch ({} bytes stored)", bytes.len()));
        }
        if payload.len() as u64 != len {
            return corrupt(format!("{} payload bytes where the header says {len}", payload.len()));
        }
        if version > format::WRITTEN {
            return Err(format::newer(format!("commit record {what}"), version));
        }
        let manifest: Manifest = serde_json::from_slice(payload).map_err(|e| {
            EngineError::Integrity(format!("commit record {what}: checksum matches but content is unreadable: {e}"))
        })?;
        if manifest.layout == 0 || manifest.layout > LAYOUT_VERSION {
            return corrupt(format!("unsupported layout version {}", manifest.layout));
        }
        manifest.check_invariants(what)?;
        Ok(manifest)
    }

    fn check_invariants(&self, what: &str) -> Result<()> {
        for e in &self.extents {
            let chunks = e.object.size.div_ceil(e.object.chunk_size.max(1));
            let ok = e.object.chunk_size > 0
                && e.object.crcs.len() as u64 == chunks
                && e.object_offset.checked_add(e.length).is_some_and(|end| end <= e.object.size)
                && e.offset.checked_add(e.length).is_some_and(|end| end <= self.size);
            if !ok {
                return Err(EngineError::Integrity(format!("manifest {what}: extent at {} is inconsistent", e.offset)));
            }
        }
        Ok(())
    }
}

/// A record as a plugin of format `version` frames it (the frame of every
/// format from 2 on), for tests of what later plugins leave.
#[cfg(test)]
pub(crate) fn framed(version: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out), payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let mut m = Manifest::new("client_1_C1_F1", "20240101", 7);
        m.size = 1024;
        m.extents.push(Extent {
            offset: 0,
            length: 1024,
            object_offset: 0,
            object: ObjectRef {
                lsu: None,
                key: "k".into(),
                size: 1024,
                chunk_size: 1 << 20,
                crcs: vec![5],
                version: None,
            },
        });
        m
    }

    #[test]
    fn round_trip() {
        let mut m = sample();
        assert_eq!(Manifest::decode(&m.encode(), "t").unwrap(), m);
        m.meta = true;
        assert_eq!(Manifest::decode(&m.encode(), "t").unwrap(), m);
    }

    #[test]
    fn a_short_or_long_record_is_damage() {
        let bytes = sample().encode();
        for cut in [0, 3, 8, 10, 23, 24, bytes.len() - 1] {
            assert!(matches!(Manifest::decode(&bytes[..cut], "t"), Err(EngineError::Integrity(_))), "cut at {cut}");
        }
        let mut long = bytes.clone();
        long.push(b' ');
        assert!(matches!(Manifest::decode(&long, "t"), Err(EngineError::Integrity(_))));
    }

    #[test]
    fn every_flipped_byte_is_an_error() {
        let bytes = sample().encode();
        for at in 0..bytes.len() {
            for bit in [0x01, 0x40, 0x80] {
                let mut b = bytes.clone();
                b[at] ^= bit;
                assert!(matches!(Manifest::decode(&b, "t"), Err(EngineError::Integrity(_))), "flip {bit:#x} at {at}");
            }
        }
    }

    #[test]
    fn records_of_frame_version_1_are_still_read() {
        let m = sample();
        let payload = serde_json::to_vec(&m).unwrap();
        let mut old = MAGIC.to_vec();
        old.extend_from_slice(&1u32.to_le_bytes());
        old.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        old.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        old.extend_from_slice(&payload);
        assert_eq!(Manifest::decode(&old, "t").unwrap(), m);
    }

    #[test]
    fn an_intact_record_of_a_later_format_is_newer_not_damage() {
        let later = format::WRITTEN + 1;
        // Its payload may mean anything: it is not parsed.
        for payload in [serde_json::to_vec(&sample()).unwrap(), b"\x00 not json in this format".to_vec()] {
            let bytes = framed(later, &payload);
            match Manifest::decode(&bytes, "t") {
                Err(EngineError::NewerFormat { found, .. }) => assert_eq!(found, later),
                other => panic!("{other:?}"),
            }
            // Damaged, it is damage: the frame's checksum is checked all the same.
            for at in [9, 13, 21, bytes.len() - 1] {
                let mut b = bytes.clone();
                b[at] ^= 0x10;
                assert!(matches!(Manifest::decode(&b, "t"), Err(EngineError::Integrity(_))), "flip at {at}");
            }
        }
        let m = sample();
        assert_eq!(framed(format::WRITTEN, &serde_json::to_vec(&m).unwrap()), m.encode());
    }

    #[test]
    fn inconsistent_extents_are_corruption() {
        let mut m = sample();
        m.extents[0].length = 4096;
        assert!(matches!(Manifest::decode(&m.encode(), "t"), Err(EngineError::Integrity(_))));
    }
}
