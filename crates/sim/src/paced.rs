//! A connection held to a bandwidth, as one TCP flow across a long network
//! is (its window per round trip): `SimOptions::bandwidth_per_connection`.
//! A client that streams one long GET then gets what one flow gets, and
//! one that spreads its reads over several connections gets more, as
//! against a real cluster a network away.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Bytes moved between two looks at the clock at most.
const STEP: usize = 64 * 1024;

/// How far the paid-for time may run ahead of the clock before a side
/// waits: the runtime's timer ticks in milliseconds, so waiting for each
/// step's few hundred microseconds would hold a fast connection to a step
/// per tick. The long-run rate stays exact: the debt is carried, not
/// forgiven.
const SLACK: Duration = Duration::from_millis(5);

/// One direction's pace: when the next bytes may move.
#[derive(Debug)]
struct Pace {
    next: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Pace {
    fn new() -> Self {
        Pace { next: Instant::now(), sleep: None }
    }

    /// Ready once the bytes moved so far are paid for.
    fn ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() + SLACK >= self.next {
            self.sleep = None;
            return Poll::Ready(());
        }
        let next = self.next - SLACK;
        let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(next)));
        sleep.as_mut().reset(next);
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.sleep = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn moved(&mut self, n: usize, rate: u64) {
        let took = Duration::from_secs_f64(n as f64 / rate as f64);
        self.next = self.next.max(Instant::now()) + took;
    }
}

/// `inner`, reading and writing at most `rate` bytes per second each way.
#[derive(Debug)]
pub(crate) struct Paced<T> {
    inner: T,
    rate: u64,
    read: Pace,
    write: Pace,
    scratch: Vec<u8>,
}

impl<T> Paced<T> {
    pub(crate) fn new(inner: T, rate: u64) -> Self {
        Paced { inner, rate: rate.max(1), read: Pace::new(), write: Pace::new(), scratch: Vec::new() }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Paced<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.read.ready(cx).is_pending() {
            return Poll::Pending;
        }
        // At most a step at a time, through a buffer of our own (a
        // simulator's cost, not a client's).
        let room = buf.remaining().min(STEP);
        this.scratch.resize(room, 0);
        let mut step = ReadBuf::new(&mut this.scratch);
        let result = Pin::new(&mut this.inner).poll_read(cx, &mut step);
        let n = step.filled().len();
        buf.put_slice(&this.scratch[..n]);
        if n > 0 {
            this.read.moved(n, this.rate);
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Paced<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.write.ready(cx).is_pending() {
            return Poll::Pending;
        }
        let result = Pin::new(&mut this.inner).poll_write(cx, &buf[..buf.len().min(STEP)]);
        if let Poll::Ready(Ok(n)) = &result {
            this.write.moved(*n, this.rate);
        }
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn each_way_moves_no_faster_than_the_rate() {
        const MIB: usize = 1 << 20;
        let (near, far) = tokio::io::duplex(64 * 1024);
        let mut paced = Paced::new(near, 8 * MIB as u64);
        let started = Instant::now();
        let reader = tokio::spawn(async move {
            let mut far = far;
            let mut got = vec![0u8; MIB];
            far.read_exact(&mut got).await.unwrap();
            far.write_all(&got).await.unwrap();
            got
        });
        let sent: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
        paced.write_all(&sent).await.unwrap();
        let mut back = vec![0u8; MIB];
        paced.read_exact(&mut back).await.unwrap();
        assert_eq!(reader.await.unwrap(), sent);
        assert_eq!(back, sent);
        // 1 MiB each way at 8 MiB/s: an eighth of a second each, less the
        // first step of each (sent before the clock says wait).
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
    }
}
