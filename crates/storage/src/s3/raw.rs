//! S3 requests that OpenDAL does not make: listing and aborting the
//! incomplete multipart uploads a killed writer leaves behind, and the
//! Object Lock and version requests of `lock`. Signed with AWS Signature
//! V4 by reqsign (as OpenDAL signs its own), with the bucket's credentials,
//! and sent through the same per-endpoint transports as OpenDAL's requests
//! (TLS rules, circuit breaker, request metrics, re-sending of damaged
//! uploads), spread over the endpoints and retried like them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use opendal::{Buffer, HttpTransporter};
use reqsign_aws_v4::{Credential, RequestSigner};
use reqsign_core::{Context, SignRequest};
use serde::Deserialize;

use crate::breaker::Breaker;
use crate::error::{ErrorKind, Result, StorageError};
use crate::retry_cause::RetryCause;
use crate::s3::said::S3Said;
use crate::types::S3Settings;

/// An incomplete multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The object it would create.
    pub key: String,
    /// Its id, to abort it.
    pub upload_id: String,
    /// Seconds since the epoch when it was started (0 when the server did
    /// not say).
    pub initiated: u64,
}

/// One endpoint (VIP) and the transport that reaches it.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub endpoint: String,
    pub transport: HttpTransporter,
    pub breaker: Arc<Breaker>,
}

/// One request, as its tries send it again.
struct Call<'a> {
    op: &'static str,
    method: http::Method,
    path: &'a str,
    query: &'a str,
    body: Bytes,
    headers: &'a [(&'static str, &'a str)],
}

/// Signed S3 requests on one bucket.
#[derive(Debug)]
pub(crate) struct RawS3 {
    routes: Vec<Route>,
    next: AtomicUsize,
    bucket: String,
    signer: RequestSigner,
    credential: Credential,
    timeout: Duration,
    retries: usize,
}

/// The wait before retry `n` (from 0): 100 ms doubling up to 5 s, with
/// jitter, as OpenDAL's retry layer waits.
fn backoff(n: usize) -> Duration {
    let base = 100u64.saturating_mul(1 << n.min(6)).min(5_000);
    Duration::from_millis(base / 2 + fastrand::u64(..=base / 2))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListResult {
    #[serde(default)]
    upload: Vec<UploadXml>,
    #[serde(default)]
    is_truncated: Option<bool>,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_upload_id_marker: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadXml {
    key: String,
    upload_id: String,
    #[serde(default)]
    initiated: Option<String>,
}

/// The kind of a refused retention whose error names the bucket's bounds
/// (S3 answers `InvalidArgument` with the reason in words only).
fn lock_bounds(text: &str) -> Option<ErrorKind> {
    let text = text.to_ascii_lowercase();
    if !text.contains("retention") {
        return None;
    }
    if text.contains("minimum") || text.contains("shorter") {
        Some(ErrorKind::LockTooShort)
    } else if text.contains("maximum") || text.contains("longer") {
        Some(ErrorKind::LockTooLong)
    } else {
        None
    }
}

/// A failed try, with why, should it be tried again.
type Tried = std::result::Result<(http::HeaderMap, Bytes), (StorageError, RetryCause)>;

/// Percent-encodes `text` as S3 wants it in a path (`/` kept) or a query
/// value (`/` encoded): every byte but the unreserved ones.
pub(crate) fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl RawS3 {
    /// Requests on `settings.bucket` through `routes` (at least one).
    pub(crate) fn new(settings: &S3Settings, routes: Vec<Route>) -> Self {
        RawS3 {
            routes,
            next: AtomicUsize::new(0),
            bucket: settings.bucket.clone(),
            signer: RequestSigner::new("s3", &settings.region),
            credential: Credential {
                access_key_id: settings.access_key.clone(),
                secret_access_key: settings.secret_key.clone(),
                session_token: None,
                expires_in: None,
            },
            timeout: settings.timeout,
            retries: settings.retries,
        }
    }

    /// The endpoint for the next attempt: in turn, skipping those whose
    /// circuit is open (unless all are).
    fn route(&self) -> &Route {
        let n = self.routes.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let pick = (0..n).map(|k| (start + k) % n).find(|i| !self.routes[*i].breaker.is_open()).unwrap_or(start % n);
        &self.routes[pick]
    }

    /// Sends a signed request with no body; `path` is the encoded key
    /// (empty for the bucket), `query` the encoded query string.
    pub(crate) async fn send(&self, op: &'static str, method: http::Method, path: &str, query: &str) -> Result<Bytes> {
        self.send_body(op, method, path, query, Bytes::new()).await
    }

    /// Sends a signed request with an XML body (with its Content-MD5, which
    /// S3 requires of retention and batch delete requests).
    pub(crate) async fn send_body(
        &self,
        op: &'static str,
        method: http::Method,
        path: &str,
        query: &str,
        body: Bytes,
    ) -> Result<Bytes> {
        self.exchange(op, method, path, query, body, &[]).await.map(|(_, body)| body)
    }

    /// [`RawS3::send_body`] with more request headers (signed with the
    /// rest), answering with the response's headers too. A temporary
    /// failure (no answer, a reset, 429, 5xx, an endpoint out of the
    /// rotation) is tried again, on the next endpoint, up to `retries`
    /// times; every request the server answers is counted in the metrics.
    pub(crate) async fn exchange(
        &self,
        op: &'static str,
        method: http::Method,
        path: &str,
        query: &str,
        body: Bytes,
        headers: &[(&'static str, &str)],
    ) -> Result<(http::HeaderMap, Bytes)> {
        let call = Call { op, method, path, query, body, headers };
        let mut attempt = 0;
        loop {
            let route = self.route();
            match self.attempt(route, &call).await {
                Err((e, cause)) if e.kind == ErrorKind::Temporary && attempt < self.retries => {
                    tracing::debug!(error = %e, endpoint = %route.endpoint, attempt, "S3 request failed: trying again");
                    vastost_metrics::global().retry(vastost_metrics::Service::S3, cause.label());
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other.map_err(|(e, _)| e),
            }
        }
    }

    /// One try of `call`, on `route`.
    async fn attempt(&self, route: &Route, call: &Call<'_>) -> Tried {
        let Call { op, path, query, headers, .. } = *call;
        let (method, body) = (call.method.clone(), call.body.clone());
        let url = format!("{}/{}/{path}?{query}", route.endpoint.trim_end_matches('/'), self.bucket);
        let err = |kind, msg: String| StorageError::new(kind, op, path, msg);
        let other = |kind, msg: String| (err(kind, msg), RetryCause::Other);
        let mut request =
            http::Request::builder().method(method).uri(&url).header("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
        if !body.is_empty() {
            use base64::Engine as _;
            use md5::Digest as _;
            let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body));
            request = request.header("content-md5", md5).header("content-type", "application/xml");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(()).map_err(|e| other(ErrorKind::Invalid, format!("bad request {url}: {e}")))?;
        let (mut parts, ()) = request.into_parts();
        self.signer
            .sign_request(&Context::new(), &mut parts, Some(&self.credential), None)
            .await
            .map_err(|e| other(ErrorKind::Invalid, format!("cannot sign: {e}")))?;
        let request = http::Request::from_parts(parts, Buffer::from(body));
        let response = tokio::time::timeout(self.timeout, route.transport.send(request))
            .await
            .map_err(|_| {
                let why = format!("no answer from {} within {:?}", route.endpoint, self.timeout);
                (err(ErrorKind::Temporary, why), RetryCause::Timeout)
            })?
            .map_err(|e| {
                // The transports mark what is worth another try.
                let kind = if e.is_temporary() { ErrorKind::Temporary } else { ErrorKind::Other };
                let cause =
                    if crate::breaker::out_of_rotation(&e) { RetryCause::EndpointDown } else { RetryCause::Unexpected };
                (err(kind, e.to_string()), cause)
            })?;
        let (parts, body) = response.into_parts();
        let body = body.to_bytes();
        let status = parts.status;
        if status.is_success() {
            return Ok((parts.headers, body));
        }
        let text = String::from_utf8_lossy(&body);
        let code = S3Said::code_in_body(&text);
        let cause = match status.as_u16() {
            429 | 503 => RetryCause::Throttled,
            _ => RetryCause::Unexpected,
        };
        let kind = match code.as_deref() {
            // A retention outside the bucket's bounds, said only in words.
            Some("InvalidArgument") if status.as_u16() == 400 => lock_bounds(&text).unwrap_or(ErrorKind::Invalid),
            code => crate::error::kind_of_answer(status.as_u16(), code),
        };
        let message = match S3Said::read(&text, &format!("status: {},", status.as_u16())) {
            Some(said) => said.line(),
            None => format!(
                "{status}: {}",
                text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(300).collect::<String>()
            ),
        };
        Err((err(kind, message), cause))
    }

    /// Every incomplete multipart upload of the bucket under `prefix`.
    pub(crate) async fn uploads(&self, prefix: &str) -> Result<Vec<Upload>> {
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker) = (String::new(), String::new());
        loop {
            let mut query = format!("uploads=&prefix={}", encode(prefix, false));
            if !key_marker.is_empty() {
                query += &format!(
                    "&key-marker={}&upload-id-marker={}",
                    encode(&key_marker, false),
                    encode(&id_marker, false)
                );
            }
            let body = self.send("list uploads", http::Method::GET, "", &query).await?;
            let page: ListResult = quick_xml::de::from_reader(&body[..]).map_err(|e| {
                StorageError::new(ErrorKind::Other, "list uploads", prefix, format!("unreadable answer: {e}"))
            })?;
            for u in page.upload {
                let initiated = u
                    .initiated
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .map_or(0, |t| u64::try_from(t.as_second()).unwrap_or(0));
                out.push(Upload { key: u.key, upload_id: u.upload_id, initiated });
            }
            match (page.is_truncated, page.next_key_marker, page.next_upload_id_marker) {
                (Some(true), Some(k), id) if !k.is_empty() && k != key_marker => {
                    key_marker = k;
                    id_marker = id.unwrap_or_default();
                }
                _ => return Ok(out),
            }
        }
    }

    /// Aborts one upload: its parts are freed.
    pub(crate) async fn abort(&self, upload: &Upload) -> Result<()> {
        let query = format!("uploadId={}", encode(&upload.upload_id, false));
        match self.send("abort upload", http::Method::DELETE, &encode(&upload.key, true), &query).await {
            // Gone meanwhile (completed or aborted by someone else).
            Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
            other => other.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_are_encoded_for_s3() {
        assert_eq!(encode("images/a%2Fb/1/frag/0001-x", true), "images/a%252Fb/1/frag/0001-x");
        assert_eq!(encode("images/", false), "images%2F");
        assert_eq!(encode("a b+c~", false), "a%20b%2Bc~");
    }

    #[test]
    fn a_list_answer_is_read() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>k2</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>
  <MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>
  <Upload><Key>k1</Key><UploadId>u1</UploadId><Initiated>2026-11-30T04:00:00.000Z</Initiated></Upload>
  <Upload><Key>k2</Key><UploadId>u2</UploadId></Upload>
</ListMultipartUploadsResult>"#;
        let page: ListResult = quick_xml::de::from_str(xml).unwrap();
        assert_eq!(page.upload.len(), 2);
        assert_eq!(
            page.upload[0].initiated.as_deref().unwrap().parse::<jiff::Timestamp>().unwrap().as_second(),
            1_796_011_200
        );
        assert_eq!(page.is_truncated, Some(false));
    }
}
