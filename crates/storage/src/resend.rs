//! An upload the server refused because its bytes did not match their
//! checksum (S3 `BadDigest`) was damaged on the way: this transport sends
//! it again, up to a few times. It sits under OpenDAL's retry layer, which
//! sees a 400 and would give up; S3 names the cause only in the answer's
//! body, so a 400 answer is read whole to look for it.

use futures_util::stream;
use http::{Request, Response, StatusCode};
use opendal::{Buffer, HttpBody, HttpTransport};

/// Times a damaged upload is sent again.
const RESENDS: usize = 3;

/// Re-sends requests answered `400 BadDigest`.
#[derive(Debug, Clone)]
pub(crate) struct ResendDamaged<T> {
    pub inner: T,
}

fn copy_of(req: &Request<Buffer>) -> Request<Buffer> {
    let mut copy = Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.headers_mut() = req.headers().clone();
    *copy.version_mut() = req.version();
    copy
}

impl<T: HttpTransport> HttpTransport for ResendDamaged<T> {
    async fn fetch(&self, req: Request<Buffer>) -> opendal::Result<Response<HttpBody>> {
        let mut sent = 0;
        loop {
            let resp = self.inner.fetch(copy_of(&req)).await?;
            if resp.status() != StatusCode::BAD_REQUEST || req.body().is_empty() {
                return Ok(resp);
            }
            let (parts, mut body) = resp.into_parts();
            let text = body.to_buffer().await?;
            let code = crate::s3::said::S3Said::code_in_body(&String::from_utf8_lossy(&text.to_vec()));
            let damaged = code.as_deref() == Some("BadDigest");
            if damaged && sent < RESENDS {
                sent += 1;
                tracing::warn!(uri = %req.uri(), "upload damaged on the way (BadDigest): sending it again");
                continue;
            }
            let len = text.len() as u64;
            return Ok(Response::from_parts(parts, HttpBody::new(stream::iter([Ok(text)]), Some(len))));
        }
    }
}
