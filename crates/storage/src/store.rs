use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vastost_tls::TlsSettings;

use bytes::Bytes;
use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::{HttpTransporter, Operator, services};

use crate::breaker::{Breaker, BreakerTransport};
use opendal_http_transport_reqwest::ReqwestTransport;

use crate::error::{ErrorKind, Result, StorageError};
use crate::fs;
use crate::s3_raw::{RawS3, Upload};

/// Objects larger than this go to S3 as multipart uploads.
pub const MULTIPART_THRESHOLD: usize = 32 << 20;
/// Part size of multipart uploads.
pub const MULTIPART_PART: usize = 16 << 20;
/// Parts of one object uploaded at once.
pub const MULTIPART_PARALLEL: usize = 4;

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
}

#[derive(Debug)]
enum Backend {
    /// A directory: on a real site, a VAST NFS mount.
    Fs { root: PathBuf },
    /// Process memory, for tests.
    Memory { create_lock: tokio::sync::Mutex<()> },
    /// A bucket of an S3 endpoint (a VAST S3 view).
    S3 { endpoint: String, bucket: String, raw: Box<RawS3> },
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

/// An HTTP client with the TLS rules of `tls` for the endpoint `what`
/// (named in errors and logs), presenting `identity_pem` (a client
/// certificate with its key) when given.
pub fn http_client(tls: &TlsSettings, what: &str, identity_pem: Option<&str>) -> Result<reqwest::Client> {
    let client = match identity_pem {
        Some(pem) => vastost_tls::http_client_with_identity(tls, what, pem),
        None => vastost_tls::http_client(tls, what),
    };
    client.map_err(|e| StorageError::new(ErrorKind::Invalid, "open", what, e.to_string()))
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

/// A place that holds objects under `/`-separated keys, rooted at one LSU.
///
/// Times an upload refused for a checksum mismatch is sent again.
const DAMAGED_UPLOAD_RETRIES: usize = 3;

/// Cheap to clone; every method is async and must run on a Tokio runtime.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    op: Operator,
    /// For S3 with several endpoints: one operator each, used in turn,
    /// with the circuit breaker of each.
    spread: Arc<[(Operator, Arc<Breaker>)]>,
    next: Arc<std::sync::atomic::AtomicUsize>,
    backend: Arc<Backend>,
}

impl ObjectStore {
    /// A store on a local or NFS-mounted directory, created if missing.
    pub fn fs(root: &Path) -> Result<Self> {
        let key = root.display().to_string();
        std::fs::create_dir_all(root).map_err(|e| StorageError::from_io("open", &key, e))?;
        let root = root.canonicalize().map_err(|e| StorageError::from_io("open", &key, e))?;
        let builder = services::Fs::default().root(&root.to_string_lossy());
        let op = Operator::new(builder).map_err(|e| StorageError::from_opendal("open", &key, e))?;
        Ok(ObjectStore { spread: Arc::new([]), next: Arc::default(), op, backend: Arc::new(Backend::Fs { root }) })
    }

    /// A bucket of an S3 endpoint, with AWS Signature V4 and path-style
    /// addressing. Nothing is read from the environment or instance
    /// metadata: the settings are all there is.
    pub fn s3(settings: &S3Settings) -> Result<Self> {
        // One client (one connection pool) shared by every endpoint.
        let http = http_client(&settings.tls, &settings.endpoint, None)?;
        let raw = Box::new(RawS3::new(settings, http.clone()));
        let client = ReqwestTransport::new(http);
        let endpoints: Vec<&String> = std::iter::once(&settings.endpoint).chain(&settings.more_endpoints).collect();
        let breakers: Arc<[Arc<Breaker>]> = endpoints.iter().map(|_| Arc::new(Breaker::default())).collect();
        let operator = |i: usize| -> Result<Operator> {
            let builder = services::S3::default()
                .endpoint(endpoints[i])
                .bucket(&settings.bucket)
                .region(&settings.region)
                .access_key_id(&settings.access_key)
                .secret_access_key(&settings.secret_key)
                // Every upload carries the CRC32C of its bytes, which the
                // server checks: bytes damaged on the way are refused
                // (BadDigest), never stored.
                .checksum_algorithm("crc32c")
                .disable_config_load();
            let op = Operator::new(builder).map_err(|e| StorageError::from_opendal("open", &settings.bucket, e))?;
            let transport = HttpTransporter::new(BreakerTransport {
                inner: client.clone(),
                breaker: breakers[i].clone(),
                all: breakers.clone(),
                endpoint: endpoints[i].clone(),
            });
            let op = op.clone().with_context(op.context().with_http_transport(transport));
            // The timeout sits inside the retry, so a request cut short is
            // retried like any temporary failure.
            Ok(op.layer(TimeoutLayer::new().with_timeout(settings.timeout).with_io_timeout(settings.timeout)).layer(
                RetryLayer::new()
                    .with_max_times(settings.retries)
                    .with_jitter()
                    .with_min_delay(std::time::Duration::from_millis(100)),
            ))
        };
        let spread =
            (0..endpoints.len()).map(|i| Ok((operator(i)?, breakers[i].clone()))).collect::<Result<Vec<_>>>()?;
        Ok(ObjectStore {
            op: spread[0].0.clone(),
            spread: spread.into(),
            next: Arc::default(),
            backend: Arc::new(Backend::S3 {
                endpoint: settings.endpoint.clone(),
                bucket: settings.bucket.clone(),
                raw,
            }),
        })
    }

    /// The operator for the next request: endpoints in turn, skipping
    /// those whose circuit is open (unless all are).
    fn op(&self) -> &Operator {
        if self.spread.len() < 2 {
            return &self.op;
        }
        let n = self.spread.len();
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pick = (0..n).map(|k| (start + k) % n).find(|i| !self.spread[*i].1.is_open()).unwrap_or(start % n);
        &self.spread[pick].0
    }

    /// Runs `f` on the next endpoint; when it fails for a reason of the
    /// endpoint (not an answer about the object) after its retries, and
    /// other endpoints are healthy, once more on each of them, so a dead
    /// VIP costs a request no more than one round of retries.
    async fn run<T, F, Fut>(&self, f: F) -> std::result::Result<T, opendal::Error>
    where
        F: Fn(Operator) -> Fut,
        Fut: Future<Output = std::result::Result<T, opendal::Error>>,
    {
        let mut result = f(self.op().clone()).await;
        // An upload the server refused because its bytes did not match
        // their checksum was damaged on the way: send it again (OpenDAL
        // sees a 400 and would not). S3 names it only in the error text.
        for _ in 0..DAMAGED_UPLOAD_RETRIES {
            match &result {
                Err(e) if e.to_string().contains("BadDigest") => {
                    tracing::warn!(error = %e, "upload damaged on the way: sending it again");
                    result = f(self.op().clone()).await;
                }
                _ => break,
            }
        }
        for _ in 1..self.spread.len() {
            match &result {
                Err(e)
                    if matches!(e.kind(), opendal::ErrorKind::Unexpected | opendal::ErrorKind::RateLimited)
                        && self.spread.iter().any(|(_, b)| !b.is_open()) =>
                {
                    tracing::debug!(error = %e, "trying another endpoint");
                    result = f(self.op().clone()).await;
                }
                _ => break,
            }
        }
        result
    }

    /// The incomplete multipart uploads under `prefix` (S3; other stores
    /// have none).
    pub async fn incomplete_uploads(&self, prefix: &str) -> Result<Vec<Upload>> {
        match &*self.backend {
            Backend::S3 { raw, .. } => raw.uploads(prefix).await,
            _ => Ok(Vec::new()),
        }
    }

    /// Aborts an incomplete multipart upload, freeing its parts.
    pub async fn abort_upload(&self, upload: &Upload) -> Result<()> {
        match &*self.backend {
            Backend::S3 { raw, .. } => raw.abort(upload).await,
            _ => Ok(()),
        }
    }

    /// The circuit breakers of the S3 endpoints, in configuration order.
    pub fn breakers(&self) -> Vec<Arc<Breaker>> {
        self.spread.iter().map(|(_, b)| b.clone()).collect()
    }

    /// Checks that the store answers (for S3: that the bucket exists and
    /// the keys are accepted).
    pub async fn check(&self) -> Result<()> {
        self.run(|op| async move { op.check().await }).await.map_err(|e| {
            // OpenDAL files S3's NoSuchBucket under "config invalid"; for
            // us it is a missing LSU.
            let missing_bucket =
                e.kind() == opendal::ErrorKind::ConfigInvalid && e.to_string().contains("NoSuchBucket");
            let mut err = StorageError::from_opendal("check", "", e);
            if missing_bucket {
                err.kind = ErrorKind::NotFound;
            }
            err
        })
    }

    /// A store in process memory (tests).
    pub fn memory() -> Result<Self> {
        let op =
            Operator::new(services::Memory::default()).map_err(|e| StorageError::from_opendal("open", "memory", e))?;
        Ok(ObjectStore {
            spread: Arc::new([]),
            next: Arc::default(),
            op,
            backend: Arc::new(Backend::Memory { create_lock: tokio::sync::Mutex::new(()) }),
        })
    }

    /// Where the store is, for messages and logs (never holds a secret).
    pub fn describe(&self) -> String {
        match &*self.backend {
            Backend::Fs { root } => format!("fs:{}", root.display()),
            Backend::Memory { .. } => "memory".to_string(),
            Backend::S3 { endpoint, bucket, .. } => format!("s3:{endpoint}/{bucket}"),
        }
    }

    /// The root directory when the store is a filesystem.
    pub fn fs_root(&self) -> Option<&Path> {
        match &*self.backend {
            Backend::Fs { root } => Some(root),
            _ => None,
        }
    }

    /// Writes a whole object, replacing any; durable when it returns.
    /// On S3, an object over `MULTIPART_THRESHOLD` goes up as a multipart
    /// upload, `MULTIPART_PARALLEL` parts of `MULTIPART_PART` at once.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        if let Backend::Fs { root } = &*self.backend {
            return fs::put(root, key, data).await;
        }
        let err = |e| StorageError::from_opendal("put", key, e);
        if matches!(&*self.backend, Backend::S3 { .. }) && data.len() > MULTIPART_THRESHOLD {
            self.run(|op| {
                let data = data.clone();
                async move {
                    let mut w = op.writer_with(key).chunk(MULTIPART_PART).concurrent(MULTIPART_PARALLEL).await?;
                    w.write(data).await?;
                    w.close().await.map(|_| ())
                }
            })
            .await
            .map_err(err)?;
            return Ok(());
        }
        self.run(|op| {
            let data = data.clone();
            async move { op.write(key, data).await.map(|_| ()) }
        })
        .await
        .map_err(err)?;
        Ok(())
    }

    /// Copies an object inside the store without moving its bytes through
    /// us (S3 CopyObject; a file copy on a filesystem).
    pub async fn copy(&self, from: &str, to: &str) -> Result<()> {
        if let Backend::Memory { .. } = &*self.backend {
            // The memory service has no copy; its bytes are ours anyway.
            let data = self.get(from).await?;
            return self.put(to, data).await;
        }
        self.run(|op| async move { op.copy(from, to).await })
            .await
            .map_err(|e| StorageError::from_opendal("copy", from, e))?;
        Ok(())
    }

    /// Writes an object only if no object has that key: an atomic
    /// create-if-absent. Fails with [`ErrorKind::AlreadyExists`] otherwise.
    pub async fn put_new(&self, key: &str, data: Bytes) -> Result<()> {
        match &*self.backend {
            Backend::Fs { root } => fs::put_new(root, key, data).await,
            Backend::S3 { .. } => {
                self.run(|op| {
                    let data = data.clone();
                    async move { op.write_with(key, data).if_not_exists(true).await.map(|_| ()) }
                })
                .await
                .map_err(|e| StorageError::from_opendal("put_new", key, e))?;
                Ok(())
            }
            Backend::Memory { create_lock } => {
                let _guard = create_lock.lock().await;
                if self.size(key).await?.is_some() {
                    return Err(StorageError::new(ErrorKind::AlreadyExists, "put_new", key, "object exists"));
                }
                self.op().write(key, data).await.map_err(|e| StorageError::from_opendal("put_new", key, e))?;
                Ok(())
            }
        }
    }

    /// A writer that puts the bytes of a new object straight into place,
    /// when the store is a filesystem; `None` for stores that take whole
    /// objects (memory, and S3 where the upload needs the bytes at hand).
    pub fn direct_writer(&self, key: &str) -> Result<Option<fs::DirectWriter>> {
        match &*self.backend {
            Backend::Fs { root } => fs::DirectWriter::create(root, key).map(Some),
            Backend::Memory { .. } | Backend::S3 { .. } => Ok(None),
        }
    }

    /// Reads a whole object.
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        let buf = self
            .run(|op| async move { op.read(key).await })
            .await
            .map_err(|e| StorageError::from_opendal("get", key, e))?;
        Ok(buf.to_bytes())
    }

    /// Reads `range` of an object; the answer is shorter only when the
    /// object ends inside the range.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        if let Backend::Fs { root } = &*self.backend {
            return fs::get_range(root, key, range).await;
        }
        let read = |range: Range<u64>| {
            self.run(move |op| {
                let range = range.clone();
                async move { op.read_with(key).range(range).await }
            })
        };
        let buf = match read(range.clone()).await {
            Ok(buf) => buf,
            // A range that runs past the end is refused by some services
            // and cut short by others (which OpenDAL reports as an error).
            // Answer with what there is, as a filesystem does, so that a
            // truncated object shows as short data, not as a transport error.
            Err(e) => match self.size(key).await? {
                Some(size) if size < range.end => {
                    if range.start >= size {
                        return Ok(Bytes::new());
                    }
                    let clamped = range.start..size;
                    read(clamped).await.map_err(|e| StorageError::from_opendal("get_range", key, e))?
                }
                _ => return Err(StorageError::from_opendal("get_range", key, e)),
            },
        };
        Ok(buf.to_bytes())
    }

    /// The size of an object, or `None` when it does not exist.
    pub async fn size(&self, key: &str) -> Result<Option<u64>> {
        match self.run(|op| async move { op.stat(key).await }).await {
            Ok(meta) => Ok(Some(meta.content_length())),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::from_opendal("stat", key, e)),
        }
    }

    /// The immediate children of folder `dir` (which ends with `/`, or is
    /// empty for the root). A missing folder lists as empty.
    pub async fn list(&self, dir: &str) -> Result<Vec<ListEntry>> {
        self.list_after(dir, "").await
    }

    /// The children of folder `dir` whose names sort after `after` (all of
    /// them for ""): S3 starts the listing there, other stores filter.
    pub async fn list_after(&self, dir: &str, after: &str) -> Result<Vec<ListEntry>> {
        debug_assert!(dir.is_empty() || dir.ends_with('/'));
        let from = format!("{dir}{after}");
        let server_side = !after.is_empty() && matches!(&*self.backend, Backend::S3 { .. });
        let listed = self
            .run(|op| {
                let from = from.clone();
                async move { if server_side { op.list_with(dir).start_after(&from).await } else { op.list(dir).await } }
            })
            .await;
        let entries = match listed {
            Ok(entries) => entries,
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StorageError::from_opendal("list", dir, e)),
        };
        let mut out: Vec<ListEntry> = entries
            .into_iter()
            .filter(|e| e.path() != dir && e.path() != "/")
            .filter_map(|e| {
                let rest = e.path().strip_prefix(dir)?;
                let is_dir = rest.ends_with('/');
                let name = rest.trim_end_matches('/');
                (!name.is_empty() && !name.contains('/') && name > after)
                    .then(|| ListEntry { name: name.to_string(), is_dir })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Deletes an object; deleting a missing object succeeds.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.run(|op| async move { op.delete(key).await }).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::from_opendal("delete", key, e)),
        }
    }

    /// Deletes every object under folder `dir` (ending with `/`), and on a
    /// filesystem the folders themselves.
    pub async fn delete_all(&self, dir: &str) -> Result<()> {
        debug_assert!(dir.ends_with('/'));
        match self.run(|op| async move { op.delete_with(dir).recursive(true).await }).await {
            Ok(()) => {}
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::from_opendal("delete_all", dir, e)),
        }
        if let Backend::Fs { root } = &*self.backend {
            fs::remove_empty_dirs(root, dir).await?;
        }
        Ok(())
    }

    /// Capacity of the storage, when the store can tell (a filesystem can;
    /// a bucket cannot, VMS quotas answer for it).
    pub fn capacity(&self) -> Result<Option<Capacity>> {
        match &*self.backend {
            Backend::Fs { root } => fs::capacity(root).map(Some),
            Backend::Memory { .. } | Backend::S3 { .. } => Ok(None),
        }
    }
}
