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
