//! A cluster a network away, and a busy one: every request to the
//! simulator is answered a round trip later, and every new connection costs
//! one more (the TCP handshake), as a cluster at that distance answers;
//! with a limit of requests in flight, those beyond it are answered `503
//! SlowDown` at once, as a cluster under load sheds them. Clients see what
//! latency and load do to them without a proxy in between.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A service whose every answer comes `latency` later, and that sheds what
/// is beyond `max_in_flight` requests at once (0: no limit).
#[derive(Debug, Clone)]
pub(crate) struct Delayed<S> {
    pub inner: S,
    pub latency: Duration,
    pub max_in_flight: usize,
    pub in_flight: Arc<AtomicUsize>,
    /// Requests shed so far.
    pub shed: Arc<AtomicUsize>,
}

/// S3's answer to a request the cluster has no room for.
fn slow_down() -> s3s::HttpResponse {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
                <Message>Please reduce your request rate.</Message></Error>";
    let mut resp = s3s::HttpResponse::new(s3s::Body::from(body.to_string()));
    *resp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    resp
}

impl<S, R> hyper::service::Service<R> for Delayed<S>
where
    S: hyper::service::Service<R, Response = s3s::HttpResponse> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, req: R) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let now = this.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            let result = if this.max_in_flight > 0 && now > this.max_in_flight {
                this.shed.fetch_add(1, Ordering::Relaxed);
                Ok(slow_down())
            } else {
                if !this.latency.is_zero() {
                    tokio::time::sleep(this.latency).await;
                }
                this.inner.call(req).await
            };
            this.in_flight.fetch_sub(1, Ordering::SeqCst);
            result
        })
    }
}

/// Waits out a new connection's handshake.
pub(crate) async fn handshake(latency: Duration) {
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}
