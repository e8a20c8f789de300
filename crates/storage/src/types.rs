//! What the stores exchange with their callers: capacity figures, listing
//! entries, and the settings of an S3 bucket.

use vastost_tls::TlsSettings;
/// Space figures of the storage behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Bytes the storage can hold in all.
    pub total: u64,
    /// Bytes in use (by anyone).
    pub used: u64,
    /// Bytes still free for this user.
    pub available: u64,
}

/// One child of a listed folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The child's own name, without the folder and without a trailing `/`.
    pub name: String,
    /// Whether the child is a folder (a common prefix on S3).
    pub is_dir: bool,
    /// The object's size when the listing tells it without another
    /// request (S3 and memory listings do; a filesystem's does not).
    pub size: Option<u64>,
}

/// One stored version of an object (or a delete marker hiding it), as a
/// version listing shows it. Stores that keep no versions show each object
/// once, with no version id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// The key, below the folder listed.
    pub name: String,
    /// The version id (S3 buckets that keep versions).
    pub version: Option<String>,
    /// A delete marker, not data.
    pub deleted: bool,
    /// When the storage made it, in milliseconds since the epoch (0 when
    /// the store does not tell): set by the server, not by the writer.
    pub made_ms: u64,
}

/// Where an S3 bucket is and how to sign for it.
#[derive(Clone)]
pub struct S3Settings {
    /// `http(s)://host[:port]` of the S3 endpoint (path-style addressing).
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// Region used in signatures (VAST accepts any; `us-east-1` by default).
    pub region: String,
    /// More endpoints serving the same buckets (a cluster's data VIPs):
    /// requests are spread over `endpoint` and these, round robin.
    pub more_endpoints: Vec<String>,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// How the endpoint's certificate is checked (for `https://`).
    pub tls: TlsSettings,
    /// Retries of a temporary failure (503 SlowDown, 5xx, connection
    /// trouble), with exponential backoff and jitter; never of a permanent
    /// one (denied, not found, no space).
    pub retries: usize,
    /// Time limit of one request, retried as a temporary failure.
    pub timeout: std::time::Duration,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("more_endpoints", &self.more_endpoints)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// Bytes read from an object in the pieces they arrived in: an HTTP body
/// comes in many, and joining them would copy every byte once more (and
/// fault in a fresh buffer for each read) before the reader copies it out.
#[derive(Debug, Clone, Default)]
pub struct Segments {
    parts: Vec<bytes::Bytes>,
    len: usize,
}

impl Segments {
    /// The pieces, in order.
    pub fn new(parts: Vec<bytes::Bytes>) -> Self {
        let len = parts.iter().map(|p| p.len()).sum();
        Segments { parts, len }
    }

    /// Bytes in all.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes of `range` as slices of the pieces, in order.
    pub fn slices(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = &[u8]> {
        let mut at = 0;
        self.parts.iter().filter_map(move |p| {
            let (start, end) = (at, at + p.len());
            at = end;
            let (from, to) = (range.start.max(start), range.end.min(end));
            (from < to).then(|| &p[from - start..to - start])
        })
    }

    /// All the bytes in one vector (a copy: for small reads and tests).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0; self.len];
        self.copy_to(0, &mut out);
        out
    }

    /// The pieces, to reuse their memory.
    pub fn into_parts(self) -> Vec<bytes::Bytes> {
        self.parts
    }

    /// Copies the bytes from `offset` into all of `dst`.
    ///
    /// # Panics
    /// When fewer than `dst.len()` bytes follow `offset`.
    pub fn copy_to(&self, offset: usize, dst: &mut [u8]) {
        let mut done = 0;
        for s in self.slices(offset..offset + dst.len()) {
            dst[done..done + s.len()].copy_from_slice(s);
            done += s.len();
        }
        assert_eq!(done, dst.len(), "copy past the end of the bytes read");
    }
}

/// CRC32C of consecutive `chunk`-byte pieces of a stream of bytes fed in
/// pieces of any size: how fragments are checksummed as they are written
/// and checked as they are read.
#[derive(Debug)]
pub struct ChunkSums {
    chunk: usize,
    filled: usize,
    current: u32,
    done: Vec<u32>,
}

impl ChunkSums {
    /// Sums of `chunk`-byte pieces (at least 1), none fed yet.
    pub fn new(chunk: usize) -> Self {
        ChunkSums { chunk: chunk.max(1), filled: 0, current: 0, done: Vec::new() }
    }

    /// The next bytes of the stream.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let n = (self.chunk - self.filled).min(bytes.len());
            self.current = crc32c::crc32c_append(self.current, &bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled == self.chunk {
                self.done.push(self.current);
                (self.current, self.filled) = (0, 0);
            }
        }
    }

    /// The sum of each piece, the last one short if the stream ended
    /// inside it.
    pub fn finish(mut self) -> Vec<u32> {
        if self.filled > 0 {
            self.done.push(self.current);
        }
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cut_and_copy_across_pieces() {
        let parts = vec![bytes::Bytes::from_static(b"abc"), bytes::Bytes::new(), bytes::Bytes::from_static(b"defgh")];
        let s = Segments::new(parts);
        assert_eq!(s.len(), 8);
        let cut: Vec<&[u8]> = s.slices(2..5).collect();
        assert_eq!(cut, [&b"c"[..], &b"de"[..]]);
        let mut dst = [0u8; 4];
        s.copy_to(1, &mut dst);
        assert_eq!(&dst, b"bcde");
        assert_eq!(s.slices(8..8).count(), 0);
    }
}

/// How an object lock may be lifted before it expires: governance by a
/// privileged user who asks to bypass it, compliance by nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockMode {
    /// Lifted only by a privileged, explicit bypass.
    Governance,
    /// Never lifted nor shortened before it expires.
    Compliance,
}

impl LockMode {
    /// S3's name of the mode.
    pub fn s3_name(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }

    /// The mode S3 names `name`.
    pub fn from_s3_name(name: &str) -> Option<Self> {
        match name {
            "GOVERNANCE" => Some(LockMode::Governance),
            "COMPLIANCE" => Some(LockMode::Compliance),
            _ => None,
        }
    }
}

/// An object's lock: it cannot be deleted or changed before `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Who may lift it early.
    pub mode: LockMode,
    /// When it expires, in seconds since the Unix epoch.
    pub until: u64,
}

impl Retention {
    /// Whether this lock already protects at least as long and as strongly
    /// as `wanted` (so `wanted` adds nothing).
    pub fn covers(&self, wanted: &Retention) -> bool {
        self.until >= wanted.until && (self.mode == LockMode::Compliance || wanted.mode == LockMode::Governance)
    }
}

/// What a store can do, as data: the engine asks this, never which
/// backend it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capability {
    /// A create-if-absent is refused by the store itself when the object
    /// exists (files opened `O_EXCL`, which NFS v3 and later honour; the
    /// memory store). An S3 server may ignore `If-None-Match`, so it is
    /// probed instead (see the engine's commit probe).
    pub exclusive_create: bool,
    /// Objects can be read from the local page cache without waiting for
    /// the storage ([`crate::ObjectStore::page_cache_file`]).
    pub page_cache_reads: bool,
    /// New objects may be written past the page cache, with buffers of
    /// their own ([`crate::ObjectStore::fragment_writer`]).
    pub direct_writes: bool,
    /// A read sent before its turn ([`crate::ObjectStore::open_range`])
    /// overlaps a network round trip with earlier reads; where a read has
    /// no round trip (a filesystem), opening ahead only costs a task.
    pub reads_ahead_pay: bool,
}
