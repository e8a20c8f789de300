//! Image metadata (OST's `write_image_meta` / `read_image_meta`): a small
//! object per image, rewritten whole on each write. It is framed with a
//! checksum like everything else the plugin stores, so that metadata
//! damaged on the way or on the storage is an error, never returned:
//!
//! ```text
//! magic "VOSTMETA" | CRC32C u32 of the bytes | the bytes
//! ```

use bytes::Bytes;
use vastost_storage::ErrorKind as StorageKind;

use crate::ctx::{LsuCtx, MAX_META_SIZE};
use crate::error::{EngineError, Result, again_if_damaged};
use crate::layout::ImageKeys;
use crate::manifest::ImageState;
use crate::names::ImageDef;

const MAGIC: &[u8; 8] = b"VOSTMETA";
const HEADER: usize = 12;

fn encode(meta: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(HEADER + meta.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&crc32c::crc32c(meta).to_le_bytes());
    out.extend_from_slice(meta);
    Bytes::from(out)
}

fn decode(stored: &[u8], key: &str) -> Result<Vec<u8>> {
    if stored.len() < HEADER || &stored[..8] != MAGIC {
        return Err(EngineError::Integrity(format!("image metadata {key}: not a metadata record")));
    }
    let crc = u32::from_le_bytes(stored[8..12].try_into().expect("4 bytes"));
    let meta = &stored[HEADER..];
    if crc32c::crc32c(meta) != crc {
        return Err(EngineError::Integrity(format!("image metadata {key}: checksum mismatch")));
    }
    Ok(meta.to_vec())
}

/// The whole metadata of an image (empty when it has none). A record that
/// fails its checksum is read once more before it is reported; one that is
/// missing although the image's commit says it has metadata (`expected`)
/// is damage.
async fn read_all(ctx: &LsuCtx, def: &ImageDef, expected: Expected<'_>) -> Result<Vec<u8>> {
    let keys = ImageKeys::new(def);
    let key = keys.meta();
    let found = again_if_damaged(&key, || async {
        match ctx.store.get_version(&key, expected.version).await {
            Ok(stored) => decode(&stored, &key).map(Some),
            Err(e) if e.kind == StorageKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    })
    .await?;
    match found {
        Some(meta) => Ok(meta),
        None if !expected.has_meta => Ok(Vec::new()),
        // Deleted meanwhile (OST lets a caller delete an open image, and
        // create another of that name), or lost.
        None => match crate::commit::latest_record(&ctx.store, &keys).await? {
            Some(m) if m.state != ImageState::Deleted && expected.same_life(&m.incarnation) => {
                Err(EngineError::Integrity(format!(
                    "image metadata {key} is missing, although the image's commit record says it has metadata"
                )))
            }
            _ => Err(EngineError::NoSuchImage(format!("{def} (deleted while open)"))),
        },
    }
}

/// What the caller knows of an image's metadata.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected<'a> {
    /// The image's commit says it has metadata (or it was written since).
    pub has_meta: bool,
    /// The life of the image the caller has open (see
    /// `Manifest::incarnation`; empty when not known).
    pub incarnation: &'a str,
    /// The version of the metadata a locked record pins.
    pub version: Option<&'a str>,
}

impl Expected<'_> {
    /// Whether a commit of life `other` is of the image the caller has.
    pub(crate) fn same_life(&self, other: &str) -> bool {
        self.incarnation.is_empty() || other.is_empty() || self.incarnation == other
    }
}

/// Where metadata `data` written at `offset` ends, if within the limit.
pub(crate) fn end_of(data: &[u8], offset: u64) -> Result<u64> {
    offset
        .checked_add(data.len() as u64)
        .filter(|e| *e <= MAX_META_SIZE)
        .ok_or_else(|| EngineError::invalid(format!("image metadata is limited to {MAX_META_SIZE} bytes")))
}

/// Writes `data` at `offset` of an image's metadata, growing it as needed.
pub(crate) async fn write_meta(
    ctx: &LsuCtx,
    def: &ImageDef,
    data: &[u8],
    offset: u64,
    expected: Expected<'_>,
) -> Result<()> {
    let end = end_of(data, offset)?;
    let key = ImageKeys::new(def).meta();
    if !expected.has_meta {
        // None recorded: the first write creates the object without
        // reading it first (a round trip less for every backup that writes
        // metadata); one found there after all is read and rewritten below.
        let mut meta = vec![0u8; end as usize];
        meta[offset as usize..].copy_from_slice(data);
        match ctx.store.put_new(&key, encode(&meta)).await {
            Ok(()) => return Ok(()),
            Err(e) if e.kind == StorageKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut meta = read_all(ctx, def, expected).await?;
    if (meta.len() as u64) < end {
        meta.resize(end as usize, 0);
    }
    meta[offset as usize..end as usize].copy_from_slice(data);
    ctx.store.put(&key, encode(&meta)).await?;
    Ok(())
}

/// Reads up to `len` bytes of an image's metadata from `offset`.
pub(crate) async fn read_meta(
    ctx: &LsuCtx,
    def: &ImageDef,
    offset: u64,
    len: usize,
    expected: Expected<'_>,
) -> Result<Vec<u8>> {
    let meta = read_all(ctx, def, expected).await?;
    let start = (offset.min(meta.len() as u64)) as usize;
    let end = start.saturating_add(len).min(meta.len());
    Ok(meta[start..end].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_every_flip_is_caught() {
        let stored = encode(b"netbackup header");
        assert_eq!(decode(&stored, "k").unwrap(), b"netbackup header");
        for at in 0..stored.len() {
            let mut bad = stored.to_vec();
            bad[at] ^= 0x10;
            assert!(matches!(decode(&bad, "k"), Err(EngineError::Integrity(_))), "flip at {at}");
        }
        assert!(matches!(decode(&stored[..5], "k"), Err(EngineError::Integrity(_))));
        assert_eq!(decode(&encode(b""), "k").unwrap(), b"");
    }
}
