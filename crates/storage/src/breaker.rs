//! A circuit breaker per S3 endpoint (VIP), in the HTTP transport. A VIP that keeps failing
//! (connections refused or cut, timeouts, 5xx answers) is taken out of the
//! rotation for a while, so requests go to the other VIPs at once instead
//! of each paying retries and timeouts against a dead address. After the
//! cool-down one request is let through; a success closes the circuit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Request, Response};
use opendal::{Buffer, HttpBody, HttpTransport};
use opendal_http_transport_reqwest::ReqwestTransport;

/// Consecutive failures that open the circuit.
pub const TRIP_AFTER: u32 = 3;
/// How long an open circuit keeps its endpoint out of the rotation.
pub const COOL_DOWN: Duration = Duration::from_secs(5);

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Why a request was not sent: its endpoint's circuit is open. Carried as
/// the source of the transport's error, so that what counts retries knows
/// the cause by its type.
#[derive(Debug, thiserror::Error)]
#[error("endpoint {0} is out of the rotation after repeated failures")]
pub(crate) struct OutOfRotation(String);

/// Whether `e` is a request refused because its endpoint is out of the
/// rotation.
pub(crate) fn out_of_rotation(e: &opendal::Error) -> bool {
    std::error::Error::source(e).is_some_and(|s| s.downcast_ref::<OutOfRotation>().is_some())
}

/// The health of one endpoint.
#[derive(Debug, Default)]
pub struct Breaker {
    failures: AtomicU32,
    open_until_ms: AtomicU64,
    trips: AtomicU64,
}

impl Breaker {
    /// Whether the endpoint is out of the rotation now.
    pub fn is_open(&self) -> bool {
        now_ms() < self.open_until_ms.load(Ordering::Relaxed)
    }

    /// How many times the circuit opened.
    pub fn trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }

    fn success(&self) {
        self.failures.store(0, Ordering::Relaxed);
        self.open_until_ms.store(0, Ordering::Relaxed);
    }

    /// Records a failure; returns whether it opened the circuit.
    fn failure(&self) -> bool {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n < TRIP_AFTER {
            return false;
        }
        let was_open = self.is_open();
        self.open_until_ms.store(now_ms() + COOL_DOWN.as_millis() as u64, Ordering::Relaxed);
        if !was_open {
            self.trips.fetch_add(1, Ordering::Relaxed);
        }
        !was_open
    }
}

/// The HTTP transport of one endpoint: reqwest, watched by its breaker.
#[derive(Debug, Clone)]
pub(crate) struct BreakerTransport {
    pub inner: ReqwestTransport,
    pub breaker: Arc<Breaker>,
    /// Every endpoint's breaker: with all of them open there is nowhere
    /// else to go, so requests are tried anyway.
    pub all: Arc<[Arc<Breaker>]>,
    pub endpoint: String,
}

impl HttpTransport for BreakerTransport {
    async fn fetch(&self, req: Request<Buffer>) -> opendal::Result<Response<HttpBody>> {
        if self.breaker.is_open() && self.all.iter().any(|b| !b.is_open()) {
            let why = OutOfRotation(self.endpoint.clone());
            return Err(opendal::Error::new(opendal::ErrorKind::Unexpected, why.to_string())
                .set_source(why)
                .set_temporary());
        }
        // A request that could not be sent or answered (refused, reset,
        // cut) is worth another try, here or on another endpoint: S3
        // requests are idempotent, and OpenDAL would otherwise give up on
        // writes at once.
        let op = s3_operation(&req);
        let uri = req.uri().clone();
        let started = std::time::Instant::now();
        let result = self.inner.fetch(req).await.map_err(|e| if e.is_temporary() { e } else { e.set_temporary() });
        let outcome = match &result {
            Ok(resp) if resp.status().is_success() => "2xx",
            Ok(resp) if resp.status().is_server_error() => "5xx",
            Ok(resp) if resp.status().is_client_error() => "4xx",
            Ok(_) => "other",
            Err(_) => "error",
        };
        vastost_metrics::global().request(vastost_metrics::Service::S3, op, started.elapsed(), outcome);
        tracing::trace!(op, %uri, outcome, ms = started.elapsed().as_secs_f64() * 1e3, "S3 request");
        let failed = matches!(outcome, "5xx" | "error");
        if !failed {
            self.breaker.success();
        } else if self.breaker.failure() {
            tracing::warn!(
                endpoint = %self.endpoint,
                cool_down_secs = COOL_DOWN.as_secs(),
                "endpoint keeps failing: taken out of the rotation"
            );
        }
        result
    }
}

/// The S3 operation a request is, by its method, query and headers (for
/// the request metrics).
pub(crate) fn s3_operation<B>(req: &Request<B>) -> &'static str {
    let query = req.uri().query().unwrap_or("");
    let has = |key: &str| query.split('&').any(|p| p.split('=').next() == Some(key));
    let copy = req.headers().contains_key("x-amz-copy-source");
    // Path-style: /<bucket>/<key>; a key makes it an object operation.
    let object = req.uri().path().trim_start_matches('/').contains('/');
    match *req.method() {
        http::Method::GET if has("list-type") => "ListObjectsV2",
        http::Method::GET if has("uploads") => "ListMultipartUploads",
        http::Method::GET if has("uploadId") => "ListParts",
        http::Method::GET if has("versions") => "ListObjectVersions",
        http::Method::GET if has("versioning") => "GetBucketVersioning",
        http::Method::GET if has("retention") => "GetObjectRetention",
        http::Method::GET if object => "GetObject",
        http::Method::GET => "ListObjects",
        http::Method::HEAD if object => "HeadObject",
        http::Method::HEAD => "HeadBucket",
        http::Method::PUT if has("partNumber") && copy => "UploadPartCopy",
        http::Method::PUT if has("partNumber") => "UploadPart",
        http::Method::PUT if copy => "CopyObject",
        http::Method::PUT if has("retention") => "PutObjectRetention",
        http::Method::PUT if object => "PutObject",
        http::Method::PUT => "CreateBucket",
        http::Method::POST if has("uploads") => "CreateMultipartUpload",
        http::Method::POST if has("uploadId") => "CompleteMultipartUpload",
        http::Method::POST if has("delete") => "DeleteObjects",
        http::Method::DELETE if has("uploadId") => "AbortMultipartUpload",
        http::Method::DELETE if object => "DeleteObject",
        http::Method::DELETE => "DeleteBucket",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_named_by_their_s3_operation() {
        let req = |method: &str, uri: &str, copy: bool| {
            let mut r = Request::builder().method(method).uri(uri);
            if copy {
                r = r.header("x-amz-copy-source", "/b/src");
            }
            s3_operation(&r.body(()).unwrap())
        };
        assert_eq!(req("GET", "http://h/b?list-type=2&prefix=x", false), "ListObjectsV2");
        assert_eq!(req("GET", "http://h/b/k", false), "GetObject");
        assert_eq!(req("PUT", "http://h/b/k?partNumber=1&uploadId=u", false), "UploadPart");
        assert_eq!(req("PUT", "http://h/b/k?partNumber=1&uploadId=u", true), "UploadPartCopy");
        assert_eq!(req("PUT", "http://h/b/k", true), "CopyObject");
        assert_eq!(req("POST", "http://h/b/k?uploads", false), "CreateMultipartUpload");
        assert_eq!(req("POST", "http://h/b?delete", false), "DeleteObjects");
        assert_eq!(req("DELETE", "http://h/b/k?uploadId=u", false), "AbortMultipartUpload");
        assert_eq!(req("HEAD", "http://h/b", false), "HeadBucket");
        assert_eq!(req("PUT", "http://h/b/k?retention&versionId=v", false), "PutObjectRetention");
        assert_eq!(req("GET", "http://h/b?prefix=p&versions", false), "ListObjectVersions");
        assert_eq!(req("GET", "http://h/b?versioning", false), "GetBucketVersioning");
    }

    #[test]
    fn a_request_refused_by_an_open_circuit_is_known_by_its_cause() {
        let why = OutOfRotation("http://vip1".into());
        let refused = opendal::Error::new(opendal::ErrorKind::Unexpected, why.to_string()).set_source(why);
        assert!(out_of_rotation(&refused));
        // The same words without the cause are another failure.
        let other = opendal::Error::new(opendal::ErrorKind::Unexpected, refused.message().to_string());
        assert!(!out_of_rotation(&other));
    }
}
