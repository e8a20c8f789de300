//! The manifest: an image's single commit record.
//!
//! An image exists, with a given size and state, exactly when its newest
//! manifest says so. Data fragments are written first and the manifest that
//! maps them second, so a crash never exposes a mapping to data that is not
//! stored. On storage a manifest is framed so that it describes and checks
//! itself:
//!
//! ```text
//! magic "VOSTMAN1" | version u32 | payload length u64 | CRC32C u32 | JSON payload
//! ```
//!
//! Decoding is strict: a record shorter than its frame is [`Decoded::Torn`]
//! (never committed: the previous record stands); a bad magic, version or
//! checksum is corruption and an error, never skipped.

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
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
}

/// A fresh session token.
pub(crate) fn new_session() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// What a stored record turned out to be.
#[derive(Debug)]
pub enum Decoded {
    /// A whole, checked record.
    Valid(Box<Manifest>),
    /// A record cut short by a crash while it was written: not committed.
    Torn,
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
        }
    }

    /// The framed bytes to store.
    pub fn encode(&self) -> Vec<u8> {
        let payload = serde_json::to_vec(self).expect("a manifest always serializes");
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&LAYOUT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Reads framed bytes back; `what` names the record in errors.
    pub fn decode(bytes: &[u8], what: &str) -> Result<Decoded> {
        let corrupt = |why: &str| Err(EngineError::Integrity(format!("manifest {what}: {why}")));
        if bytes.len() < HEADER {
            return if MAGIC.starts_with(&bytes[..bytes.len().min(8)]) {
                Ok(Decoded::Torn)
            } else {
                corrupt("bad magic")
            };
        }
        if &bytes[..8] != MAGIC {
            return corrupt("bad magic");
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version == 0 || version > LAYOUT_VERSION {
            return corrupt("unsupported layout version");
        }
        let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
        let payload = &bytes[HEADER..];
        if (payload.len() as u64) < len {
            return Ok(Decoded::Torn);
        }
        if payload.len() as u64 > len {
            return corrupt("trailing bytes after the record");
        }
        if crc32c::crc32c(payload) != crc {
            return corrupt("checksum mismatch");
        }
        let manifest: Manifest = serde_json::from_slice(payload).map_err(|e| {
            EngineError::Integrity(format!("manifest {what}: checksum matches but content is unreadable: {e}"))
        })?;
        manifest.check_invariants(what)?;
        Ok(Decoded::Valid(Box::new(manifest)))
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
            object: ObjectRef { lsu: None, key: "k".into(), size: 1024, chunk_size: 1 << 20, crcs: vec![5] },
        });
        m
    }

    #[test]
    fn round_trip() {
        let m = sample();
        match Manifest::decode(&m.encode(), "t").unwrap() {
            Decoded::Valid(d) => assert_eq!(*d, m),
            Decoded::Torn => panic!("torn"),
        }
    }

    #[test]
    fn a_torn_tail_is_not_committed() {
        let bytes = sample().encode();
        for cut in [0, 3, 8, 23, 24, bytes.len() - 1] {
            assert!(matches!(Manifest::decode(&bytes[..cut], "t"), Ok(Decoded::Torn)), "cut at {cut}");
        }
    }

    #[test]
    fn every_flipped_byte_is_an_error() {
        let bytes = sample().encode();
        for at in 0..bytes.len() {
            let mut b = bytes.clone();
            b[at] ^= 0x40;
            match Manifest::decode(&b, "t") {
                Err(EngineError::Integrity(_)) => {}
                // A flip in the length field that makes the record look longer
                // than it is reads as a torn write; any other outcome is a bug.
                Ok(Decoded::Torn) if (12..20).contains(&at) => {}
                other => panic!("flip at {at}: {other:?}"),
            }
        }
    }

    #[test]
    fn inconsistent_extents_are_corruption() {
        let mut m = sample();
        m.extents[0].length = 4096;
        assert!(matches!(Manifest::decode(&m.encode(), "t"), Err(EngineError::Integrity(_))));
    }
}
