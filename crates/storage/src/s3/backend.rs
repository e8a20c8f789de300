//! A bucket of an S3 endpoint (a VAST S3 view): OpenDAL's S3 service with
//! AWS Signature V4, every upload carrying its CRC32C, one operator per
//! data VIP (requests spread round robin, a circuit breaker each), and
//! under OpenDAL's timeout and retry layers the transports that re-send
//! damaged uploads and watch each endpoint's health.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::{HttpTransporter, Operator, services};
use opendal_http_transport_reqwest::ReqwestTransport;
use vastost_tls::TlsSettings;

use crate::breaker::{Breaker, BreakerTransport};
use crate::error::{ErrorKind, Result, StorageError};
use crate::resend::ResendDamaged;
use crate::retry_cause::RetryCause;
use crate::s3::raw::{RawS3, Route, Upload};
use crate::types::Retention;
use crate::types::S3Settings;

/// Objects larger than this go to S3 as multipart uploads.
pub(crate) const MULTIPART_THRESHOLD: usize = 32 << 20;
/// Part size of multipart uploads.
pub(crate) const MULTIPART_PART: usize = 16 << 20;
/// Parts of one object uploaded at once.
pub(crate) const MULTIPART_PARALLEL: usize = 4;

/// Counts a retry of OpenDAL's retry layer by its cause.
fn count_retry(event: opendal::layers::RetryEvent<'_>) {
    let cause = match event.err.kind() {
        opendal::ErrorKind::RateLimited => RetryCause::Throttled,
        _ if crate::breaker::out_of_rotation(event.err) => RetryCause::EndpointDown,
        // OpenDAL's timeout layer marks its errors by this message alone.
        _ if event.err.message().ends_with("timeout reached") => RetryCause::Timeout,
        opendal::ErrorKind::Unexpected => RetryCause::Unexpected,
        _ => RetryCause::Other,
    };
    vastost_metrics::global().retry(vastost_metrics::Service::S3, cause.label());
}

/// Shows the state of `breaker` (of `endpoint`, for `bucket`) in the
/// metrics for as long as the store lives.
fn watch_breaker(endpoint: &str, bucket: &str, breaker: &Arc<Breaker>) {
    let (weak, endpoint, bucket) = (Arc::downgrade(breaker), endpoint.to_string(), bucket.to_string());
    vastost_metrics::global().probe(move || {
        let b = weak.upgrade()?;
        let labels = vec![("endpoint", endpoint.clone()), ("bucket", bucket.clone())];
        Some(vec![
            vastost_metrics::Gauge {
                name: "vastost_breaker_open",
                help: "1 while an S3 endpoint (VIP) is out of the rotation after repeated failures.",
                labels: labels.clone(),
                value: f64::from(u8::from(b.is_open())),
            },
            vastost_metrics::Gauge {
                name: "vastost_breaker_trips",
                help: "Times an S3 endpoint's circuit opened since the plugin started.",
                labels,
                value: b.trips() as f64,
            },
        ])
    });
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

/// A bucket, through one operator per endpoint.
#[derive(Debug)]
pub(crate) struct S3Store {
    /// One operator per endpoint, used in turn, with its circuit breaker.
    spread: Vec<(Operator, Arc<Breaker>)>,
    next: AtomicUsize,
    endpoint: String,
    bucket: String,
    /// What OpenDAL does not do: list and abort multipart uploads.
    raw: RawS3,
    /// Whether the bucket keeps versions (asked once).
    versioned: tokio::sync::OnceCell<bool>,
}

impl S3Store {
    /// Nothing is read from the environment or instance metadata: the
    /// settings are all there is.
    pub(crate) fn open(settings: &S3Settings) -> Result<Self> {
        // One client (one connection pool) shared by every endpoint.
        let http = http_client(&settings.tls, &settings.endpoint, None)?;
        let client = ReqwestTransport::new(http);
        let endpoints: Vec<&String> = std::iter::once(&settings.endpoint).chain(&settings.more_endpoints).collect();
        let breakers: Arc<[Arc<Breaker>]> = endpoints.iter().map(|_| Arc::new(Breaker::default())).collect();
        for (endpoint, breaker) in endpoints.iter().zip(breakers.iter()) {
            watch_breaker(endpoint, &settings.bucket, breaker);
        }
        // Each endpoint's transport: OpenDAL's requests and the raw ones
        // go the same way (breaker, metrics, re-sends).
        let routes: Vec<Route> = endpoints
            .iter()
            .zip(breakers.iter())
            .map(|(endpoint, breaker)| Route {
                endpoint: endpoint.to_string(),
                transport: HttpTransporter::new(ResendDamaged {
                    inner: BreakerTransport {
                        inner: client.clone(),
                        breaker: breaker.clone(),
                        all: breakers.clone(),
                        endpoint: endpoint.to_string(),
                    },
                }),
                breaker: breaker.clone(),
            })
            .collect();
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
            let op = op.clone().with_context(op.context().with_http_transport(routes[i].transport.clone()));
            // The timeout sits inside the retry, so a request cut short is
            // retried like any temporary failure.
            Ok(op.layer(TimeoutLayer::new().with_timeout(settings.timeout).with_io_timeout(settings.timeout)).layer(
                RetryLayer::new()
                    .with_max_times(settings.retries)
                    .with_jitter()
                    .with_min_delay(std::time::Duration::from_millis(100))
                    .with_max_delay(std::time::Duration::from_secs(5))
                    .with_notify(count_retry),
            ))
        };
        let spread = (0..endpoints.len()).map(|i| Ok((operator(i)?, breakers[i].clone()))).collect::<Result<_>>()?;
        let raw = RawS3::new(settings, routes);
        Ok(S3Store {
            spread,
            next: AtomicUsize::new(0),
            endpoint: settings.endpoint.clone(),
            bucket: settings.bucket.clone(),
            raw,
            versioned: tokio::sync::OnceCell::new(),
        })
    }

    /// The operator for the next request: endpoints in turn, skipping
    /// those whose circuit is open (unless all are).
    fn op(&self) -> &Operator {
        let n = self.spread.len();
        if n < 2 {
            return &self.spread[0].0;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let pick = (0..n).map(|k| (start + k) % n).find(|i| !self.spread[*i].1.is_open()).unwrap_or(start % n);
        &self.spread[pick].0
    }

    /// Runs `f` on the next endpoint; when it fails for a reason of the
    /// endpoint (not an answer about the object) after its retries, and
    /// other endpoints are healthy, once more on each of them, so a dead
    /// VIP costs a request no more than one round of retries.
    pub(crate) async fn run<T, F, Fut>(&self, f: F) -> std::result::Result<T, opendal::Error>
    where
        F: Fn(Operator) -> Fut,
        Fut: Future<Output = std::result::Result<T, opendal::Error>>,
    {
        let mut result = f(self.op().clone()).await;
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

    /// The incomplete multipart uploads under `prefix`.
    pub(crate) async fn incomplete_uploads(&self, prefix: &str) -> Result<Vec<Upload>> {
        self.raw.uploads(prefix).await
    }

    /// Aborts an incomplete multipart upload, freeing its parts.
    pub(crate) async fn abort_upload(&self, upload: &Upload) -> Result<()> {
        self.raw.abort(upload).await
    }

    /// Whether the bucket keeps versions, so that a plain delete would free
    /// nothing. A server without versioning (it does not implement the
    /// request) keeps none.
    pub(crate) async fn keeps_versions(&self) -> Result<bool> {
        let asked = self
            .versioned
            .get_or_try_init(|| async {
                match self.raw.versioned().await {
                    Err(e) if e.kind != ErrorKind::Temporary => {
                        tracing::warn!(bucket = %self.bucket, error = %e, "cannot tell whether the bucket keeps versions: deletes are plain deletes");
                        Ok(false)
                    }
                    other => other,
                }
            })
            .await;
        asked.copied()
    }

    /// Whether the bucket keeps versions, if asked already.
    pub(crate) fn versions_known(&self) -> Option<bool> {
        self.versioned.get().copied()
    }

    /// Takes it as known that the bucket keeps versions.
    pub(crate) fn assume_versions(&self) {
        let _ = self.versioned.set(true);
    }

    /// The bucket's default retention: mode and seconds.
    pub(crate) async fn default_lock(&self) -> Result<Option<(crate::types::LockMode, u64)>> {
        self.raw.default_lock().await
    }

    /// Gives version `version` of `key` (the current one when `None`)
    /// retention `r`, unless a lock at least as long and as strong is
    /// already there (another image's, on a shared fragment): it is read
    /// first, since not every server refuses to shorten one.
    pub(crate) async fn lock(&self, key: &str, version: Option<&str>, r: Retention) -> Result<()> {
        if self.raw.retention(key, version).await?.is_some_and(|held| held.covers(&r)) {
            return Ok(());
        }
        self.raw.put_retention(key, version, r).await
    }

    /// Creates `key` unless it exists, locked from its first moment.
    pub(crate) async fn put_new_locked(&self, key: &str, data: bytes::Bytes, r: Retention) -> Result<()> {
        self.raw.put_new_locked(key, data, r).await
    }

    /// Lifts the governance lock of a version of `key` (a privileged call).
    pub(crate) async fn unlock(&self, key: &str, version: Option<&str>) -> Result<()> {
        self.raw.remove_retention(key, version).await
    }

    /// The retention of a version of `key`.
    pub(crate) async fn retention(&self, key: &str, version: Option<&str>) -> Result<Option<Retention>> {
        self.raw.retention(key, version).await
    }

    /// Deletes one version (or delete marker) of `key`.
    pub(crate) async fn delete_version(&self, key: &str, version: &str) -> Result<()> {
        self.raw.delete_versions(&[crate::s3::lock::Version { key: key.to_string(), id: version.to_string() }]).await
    }

    /// Deletes every version of `keys`: exact keys, and everything under
    /// those ending with `/`. Keys of one folder are found with one
    /// listing of it; a lone key with a listing of its own name.
    pub(crate) async fn delete_versions(&self, keys: &[String]) -> Result<()> {
        let mut folders: Vec<&str> = Vec::new();
        let mut by_dir: std::collections::BTreeMap<&str, std::collections::HashSet<&str>> = Default::default();
        for key in keys {
            if key.ends_with('/') {
                folders.push(key);
            } else {
                let dir = key.rfind('/').map_or("", |at| &key[..=at]);
                by_dir.entry(dir).or_default().insert(key);
            }
        }
        let mut doomed = Vec::new();
        for folder in folders {
            doomed.extend(self.raw.versions(folder).await?);
        }
        for (dir, wanted) in by_dir {
            let prefix = if wanted.len() == 1 { wanted.iter().next().copied().unwrap_or(dir) } else { dir };
            doomed.extend(self.raw.versions(prefix).await?.into_iter().filter(|v| wanted.contains(v.key.as_str())));
        }
        self.raw.delete_versions(&doomed).await
    }

    /// The circuit breakers of the endpoints, in configuration order.
    pub(crate) fn breakers(&self) -> Vec<Arc<Breaker>> {
        self.spread.iter().map(|(_, b)| b.clone()).collect()
    }

    /// `s3:<endpoint>/<bucket>`.
    pub(crate) fn describe(&self) -> String {
        format!("s3:{}/{}", self.endpoint, self.bucket)
    }
}
