//! Reading a request before anything is stored or served: its key, its
//! body received and checked against the announced digests and checksums,
//! its write or read conditions, the attributes it sets, its copy source.

use s3s::crypto::Checksum as _;
use s3s::dto::*;
use s3s::{S3Result, s3_error};

use std::sync::Arc;

use futures_util::StreamExt;

use super::objects::{self, Attrs, Object, Objects, Staged, Sums};

pub(super) fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() || key.len() > objects::MAX_KEY {
        return Err(s3_error!(KeyTooLongError, "keys are 1 to {} bytes long", objects::MAX_KEY));
    }
    Ok(())
}

/// The checksums a request announced for its body.
#[derive(Default)]
pub(super) struct Announced {
    pub algorithm: Option<ChecksumAlgorithm>,
    pub md5: Option<String>,
    pub sums: Sums,
}

impl Announced {
    /// Hashers for every checksum announced in headers, algorithm or
    /// `x-amz-trailer`.
    pub(super) fn hasher(&self, headers: &http::HeaderMap) -> S3Result<s3s::checksum::ChecksumHasher> {
        let mut h = s3s::checksum::ChecksumHasher::default();
        let trailer = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let algorithm = self.algorithm.as_ref().map(|a| a.as_str().to_ascii_lowercase()).unwrap_or_default();
        let wants = |name: &str, given: &Option<String>| {
            given.is_some() || algorithm == name || trailer == format!("x-amz-checksum-{name}")
        };
        if wants("crc32", &self.sums.crc32) {
            h.crc32 = Some(s3s::crypto::Crc32::new());
        }
        if wants("crc32c", &self.sums.crc32c) {
            h.crc32c = Some(s3s::crypto::Crc32c::new());
        }
        if wants("sha1", &self.sums.sha1) {
            h.sha1 = Some(s3s::crypto::Sha1::new());
        }
        if wants("sha256", &self.sums.sha256) {
            h.sha256 = Some(s3s::crypto::Sha256::new());
        }
        if wants("crc64nvme", &self.sums.crc64nvme) {
            h.crc64nvme = Some(s3s::crypto::Crc64Nvme::new());
        }
        if !algorithm.is_empty() && !["crc32", "crc32c", "sha1", "sha256", "crc64nvme"].contains(&algorithm.as_str()) {
            return Err(s3_error!(InvalidRequest, "unsupported checksum algorithm {algorithm}"));
        }
        Ok(h)
    }

    /// Refuses (BadDigest) a body that is not what was announced.
    pub(super) fn check(mut self, staged: &Staged, trailers: Option<s3s::TrailingHeaders>) -> S3Result<()> {
        if let Some(md5) = &self.md5 {
            use base64::Engine as _;
            let want = base64::engine::general_purpose::STANDARD
                .decode(md5)
                .map_err(|_| s3_error!(InvalidDigest, "Content-MD5 is not base64"))?;
            if want != staged.md5 {
                return Err(s3_error!(BadDigest, "the Content-MD5 you specified did not match what we received"));
            }
        }
        if let Some(t) = trailers.and_then(|t| t.take()) {
            let get = |name: &str| t.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let s = &mut self.sums;
            for (field, name) in [
                (&mut s.crc32, "x-amz-checksum-crc32"),
                (&mut s.crc32c, "x-amz-checksum-crc32c"),
                (&mut s.sha1, "x-amz-checksum-sha1"),
                (&mut s.sha256, "x-amz-checksum-sha256"),
                (&mut s.crc64nvme, "x-amz-checksum-crc64nvme"),
            ] {
                if let Some(v) = get(name) {
                    *field = Some(v);
                }
            }
        }
        let got = &staged.sums;
        for (name, want, got) in [
            ("crc32", &self.sums.crc32, &got.crc32),
            ("crc32c", &self.sums.crc32c, &got.crc32c),
            ("sha1", &self.sums.sha1, &got.sha1),
            ("sha256", &self.sums.sha256, &got.sha256),
            ("crc64nvme", &self.sums.crc64nvme, &got.crc64nvme),
        ] {
            if let Some(want) = want
                && Some(want) != got.as_ref()
            {
                return Err(s3_error!(
                    BadDigest,
                    "checksum_{name} mismatch: expected `{want}`, got `{}`",
                    got.clone().unwrap_or_default()
                ));
            }
        }
        Ok(())
    }
}

/// Checks `If-Match` / `If-None-Match` of a write against what exists.
pub(super) fn write_condition(
    existing: Option<&Object>,
    if_match: &Option<ETagCondition>,
    if_none_match: &Option<ETagCondition>,
) -> S3Result<()> {
    let failed = || s3_error!(PreconditionFailed, "at least one of the preconditions you specified did not hold");
    if let Some(cond) = if_none_match {
        match (cond, existing) {
            (ETagCondition::Any, Some(_)) => return Err(failed()),
            (ETagCondition::ETag(e), Some(o)) if e.value() == o.etag => return Err(failed()),
            _ => {}
        }
    }
    if let Some(cond) = if_match {
        match (cond, existing) {
            (_, None) => return Err(s3_error!(NoSuchKey, "the specified key does not exist")),
            (ETagCondition::ETag(e), Some(o)) if e.value() != o.etag => return Err(failed()),
            _ => {}
        }
    }
    Ok(())
}

/// Checks `If-Match` / `If-None-Match` of a read.
pub(super) fn read_condition(
    o: &Object,
    if_match: &Option<ETagCondition>,
    if_none_match: &Option<ETagCondition>,
) -> S3Result<()> {
    if let Some(ETagCondition::ETag(e)) = if_match
        && e.value() != o.etag
    {
        return Err(s3_error!(PreconditionFailed, "the ETag does not match"));
    }
    match if_none_match {
        Some(ETagCondition::Any) => Err(s3_error!(NotModified)),
        Some(ETagCondition::ETag(e)) if e.value() == o.etag => Err(s3_error!(NotModified)),
        _ => Ok(()),
    }
}

/// Receives a body into a sink, then checks it against what the request
/// announced (headers or trailers) before anything is stored.
pub(super) async fn receive(
    objects: &Objects,
    body: Option<StreamingBlob>,
    announced: Announced,
    headers: &http::HeaderMap,
    trailers: Option<s3s::TrailingHeaders>,
) -> S3Result<Staged> {
    let Some(mut body) = body else { return Err(s3_error!(IncompleteBody, "the request has no body")) };
    let mut sink = objects.sink(announced.hasher(headers)?)?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| s3_error!(IncompleteBody, "body cut short: {e}"))?;
        sink.push(&chunk)?;
    }
    let staged = sink.finish()?;
    announced.check(&staged, trailers)?;
    Ok(staged)
}

/// What a client set on an object besides its bytes.
pub(super) fn attrs_of(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    user: Option<Metadata>,
) -> Attrs {
    Attrs { content_type, content_encoding, content_disposition, content_language, cache_control, user }
}

/// The object a copy reads: bucket, key and object.
pub(super) fn copy_source(objects: &Objects, source: &CopySource) -> S3Result<Arc<Object>> {
    let CopySource::Bucket { bucket, key, .. } = source else {
        return Err(s3_error!(NotImplemented, "copies from access points are not simulated"));
    };
    objects.bucket(bucket)?.get(key).ok_or_else(|| s3_error!(NoSuchKey, "the copy source does not exist"))
}
