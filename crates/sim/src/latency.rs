//! A cluster a network away: every request to the simulator is answered a
//! round trip later, and every new connection costs one more (the TCP
//! handshake), as a cluster at that distance answers. Clients see what
//! latency does to them (requests in sequence pay it each; requests in
//! flight together pay it once) without a delay proxy in between.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A service whose every answer comes `latency` later.
#[derive(Debug, Clone)]
pub(crate) struct Delayed<S> {
    pub inner: S,
    pub latency: Duration,
}

impl<S, R> hyper::service::Service<R> for Delayed<S>
where
    S: hyper::service::Service<R> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, req: R) -> Self::Future {
        let (inner, latency) = (self.inner.clone(), self.latency);
        Box::pin(async move {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            inner.call(req).await
        })
    }
}

/// Waits out a new connection's handshake.
pub(crate) async fn handshake(latency: Duration) {
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}
