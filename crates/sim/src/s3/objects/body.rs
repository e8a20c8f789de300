//! Bodies: where their bytes are (a file or memory), how they are read,
//! and how a body being received is hashed and staged before it is stored.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use bytes::Bytes;
use s3s::S3Result;
use s3s::crypto::Checksum as _;
use s3s::{S3Error, s3_error};

/// The error of a failed local operation (logged).
pub(crate) fn internal(what: &str, e: impl std::fmt::Display) -> S3Error {
    tracing::error!("simulator: {what}: {e}");
    s3_error!(InternalError, "{what}: {e}")
}

/// Locks, whatever a panicking holder left.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a client set on an object besides its bytes.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Attrs {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub user: Option<HashMap<String, String>>,
}

/// The additional checksums an object was uploaded with (base64, as S3
/// returns them).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Sums {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub crc64nvme: Option<String>,
}

/// Where a body's bytes are.
#[derive(Clone, Debug)]
pub(crate) enum Body {
    File(PathBuf),
    Memory(Bytes),
}

impl Body {
    /// `len` bytes from `offset`: a file opened (so a later unlink does not
    /// cut the read short) or a slice of memory.
    pub(crate) fn open(&self, offset: u64, len: u64) -> std::io::Result<Reader> {
        match self {
            Body::File(path) => {
                let mut file = std::fs::File::open(path)?;
                file.seek(SeekFrom::Start(offset))?;
                Ok(Reader::File(file.take(len)))
            }
            Body::Memory(bytes) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
                let end = usize::try_from(offset + len).unwrap_or(usize::MAX).min(bytes.len());
                Ok(Reader::Memory(Some(bytes.slice(start..end))))
            }
        }
    }

    pub(crate) fn remove(&self) {
        if let Body::File(path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// An open body being read.
pub(crate) enum Reader {
    File(std::io::Take<std::fs::File>),
    Memory(Option<Bytes>),
}

impl Reader {
    /// The next chunk, `None` at the end.
    pub(crate) fn next_chunk(&mut self) -> std::io::Result<Option<Bytes>> {
        match self {
            Reader::Memory(b) => Ok(b.take().filter(|b| !b.is_empty())),
            Reader::File(f) => {
                let mut buf = vec![0u8; 1 << 20];
                let n = f.read(&mut buf)?;
                buf.truncate(n);
                Ok((n > 0).then(|| Bytes::from(buf)))
            }
        }
    }
}

/// A body being received: hashed as it arrives (MD5 for the ETag, and
/// the checksums the client announced), kept in a staging file or memory.
pub(crate) struct Sink {
    pub(crate) target: SinkTarget,
    pub size: u64,
    pub(crate) md5: s3s::crypto::Md5,
    pub sums: s3s::checksum::ChecksumHasher,
}

pub(crate) enum SinkTarget {
    File { path: PathBuf, file: std::io::BufWriter<std::fs::File> },
    Memory(Vec<u8>),
}

impl Sink {
    /// Appends `data`.
    pub(crate) fn push(&mut self, data: &[u8]) -> S3Result<()> {
        self.md5.update(data);
        self.sums.update(data);
        self.size += data.len() as u64;
        match &mut self.target {
            SinkTarget::File { file, .. } => file.write_all(data).map_err(|e| internal("staging a body", e)),
            SinkTarget::Memory(v) => {
                v.extend_from_slice(data);
                Ok(())
            }
        }
    }

    /// Appends everything `reader` gives (`what` names the read in errors).
    pub(crate) fn push_all(&mut self, mut reader: Reader, what: &str) -> S3Result<()> {
        while let Some(chunk) = reader.next_chunk().map_err(|e| internal(what, e))? {
            self.push(&chunk)?;
        }
        Ok(())
    }

    /// The received body, with its MD5 and checksums.
    pub(crate) fn finish(self) -> S3Result<Staged> {
        let body = match self.target {
            SinkTarget::File { path, file } => {
                file.into_inner().map_err(|e| internal("staging a body", e.error()))?;
                Body::File(path)
            }
            SinkTarget::Memory(v) => Body::Memory(Bytes::from(v)),
        };
        let sums = self.sums.finalize();
        let sums = Sums {
            crc32: sums.checksum_crc32,
            crc32c: sums.checksum_crc32c,
            sha1: sums.checksum_sha1,
            sha256: sums.checksum_sha256,
            crc64nvme: sums.checksum_crc64nvme,
        };
        Ok(Staged { body: Some(body), size: self.size, md5: self.md5.finalize(), sums })
    }
}

/// A received body not yet stored; removed when dropped unless stored.
pub(crate) struct Staged {
    pub(crate) body: Option<Body>,
    pub size: u64,
    pub md5: [u8; 16],
    pub sums: Sums,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(b) = self.body.take() {
            b.remove();
        }
    }
}

/// Bytes as lowercase hexadecimal (ETags are the hex of an MD5).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
