//! A fault-injecting proxy for the tests: it sits on loopback between the
//! plugin and the simulator (S3 or VMS) and, connection by connection,
//! drops or resets it, stalls it, slows it, truncates or corrupts the
//! answer, or answers 500 / 503 SlowDown itself; on a schedule (the next
//! connections) or at random with a seed.
//!
//! Every answer it relays gets `Connection: close`, so clients open one
//! connection per request and a fault hits exactly one request.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// What happens to one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Closed as soon as accepted, before any answer.
    Drop,
    /// Reset (TCP RST) as soon as accepted.
    Reset,
    /// Nothing is relayed for this long, then the request goes through.
    Stall(Duration),
    /// The answer is relayed at this many bytes a second.
    Slow(u64),
    /// The answer's body is cut in the middle and the connection closed.
    Truncate,
    /// One byte of the answer's body is flipped.
    Corrupt,
    /// One byte of the request's body (an upload) is flipped on its way
    /// to the server.
    CorruptRequest,
    /// The proxy answers this HTTP status itself (503 is S3's SlowDown).
    Status(u16),
}

impl Fault {
    /// The fault's class, for counts.
    pub fn class(&self) -> &'static str {
        match self {
            Fault::Drop => "drop",
            Fault::Reset => "reset",
            Fault::Stall(_) => "stall",
            Fault::Slow(_) => "slow",
            Fault::Truncate => "truncate",
            Fault::Corrupt => "corrupt",
            Fault::CorruptRequest => "corrupt-request",
            Fault::Status(500) => "http-500",
            Fault::Status(503) => "http-503",
            Fault::Status(_) => "http-other",
        }
    }
}

#[derive(Debug, Default)]
struct Plan {
    queue: VecDeque<Fault>,
    random: Option<(fastrand::Rng, f64, Vec<Fault>)>,
    injected: BTreeMap<&'static str, u64>,
    connections: u64,
}

impl Plan {
    fn next(&mut self) -> Option<Fault> {
        self.connections += 1;
        if let Some(f) = self.queue.pop_front() {
            return Some(f);
        }
        let (rng, p, faults) = self.random.as_mut()?;
        (rng.f64() < *p && !faults.is_empty()).then(|| faults[rng.usize(..faults.len())].clone())
    }
}

/// A running proxy; stopped when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    plan: Arc<Mutex<Plan>>,
    _stop: oneshot::Sender<()>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream`.
    pub fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let plan = Arc::new(Mutex::new(Plan::default()));
        let (stop, stopped) = oneshot::channel::<()>();
        let shared = plan.clone();
        std::thread::Builder::new().name("vastost-fault-proxy".into()).spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("the proxy runtime starts");
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("a tokio listener");
                let accept = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else { continue };
                        let fault = shared.lock().unwrap_or_else(|p| p.into_inner()).next();
                        tokio::spawn(relay(client, upstream, fault, shared.clone()));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        })?;
        Ok(FaultProxy { addr, plan, _stop: stop })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Applies `faults` to the next connections, one each, in order.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.plan.lock().unwrap_or_else(|p| p.into_inner()).queue.extend(faults);
    }

    /// From now on, each connection gets one of `faults` (picked at random)
    /// with probability `p`; the same seed gives the same sequence.
    pub fn random(&self, seed: u64, p: f64, faults: Vec<Fault>) {
        self.plan.lock().unwrap_or_else(|p| p.into_inner()).random = Some((fastrand::Rng::with_seed(seed), p, faults));
    }

    /// No more faults.
    pub fn calm(&self) {
        let mut plan = self.plan.lock().unwrap_or_else(|p| p.into_inner());
        plan.queue.clear();
        plan.random = None;
    }

    /// Faults actually injected so far, by class.
    pub fn injected(&self) -> BTreeMap<&'static str, u64> {
        self.plan.lock().unwrap_or_else(|p| p.into_inner()).injected.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.plan.lock().unwrap_or_else(|p| p.into_inner()).connections
    }
}

fn count(plan: &Mutex<Plan>, fault: &Fault) {
    *plan.lock().unwrap_or_else(|p| p.into_inner()).injected.entry(fault.class()).or_default() += 1;
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads an HTTP message head (through the blank line) and returns it
/// with whatever came after it.
async fn read_head(s: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            let rest = buf.split_off(at + 4);
            return Ok((buf, rest));
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn content_length(head: &[u8]) -> Option<u64> {
    String::from_utf8_lossy(head).lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
    })
}

/// The head with `Connection: close` instead of any connection header.
fn close_head(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(&head[..head.len() - 4]);
    let mut out: Vec<&str> =
        text.split("\r\n").filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect();
    out.push("Connection: close");
    format!("{}\r\n\r\n", out.join("\r\n")).into_bytes()
}

async fn answer_status(mut client: TcpStream, code: u16) -> std::io::Result<()> {
    let (head, rest) = read_head(&mut client).await?;
    // Take the request body, so the client is not cut off mid-send.
    let mut left = content_length(&head).unwrap_or(0).saturating_sub(rest.len() as u64);
    let mut sink = [0u8; 64 << 10];
    while left > 0 {
        let n = client.read(&mut sink).await?;
        if n == 0 {
            break;
        }
        left = left.saturating_sub(n as u64);
    }
    let (reason, code_text) = match code {
        503 => ("Slow Down", "SlowDown"),
        500 => ("Internal Server Error", "InternalError"),
        _ => ("Error", "InternalError"),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code_text}</Code><Message>injected</Message></Error>"
    );
    let msg = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    client.write_all(msg.as_bytes()).await?;
    client.shutdown().await
}

async fn relay(client: TcpStream, upstream: SocketAddr, fault: Option<Fault>, plan: Arc<Mutex<Plan>>) {
    let _ = relay_inner(client, upstream, fault, &plan).await;
}

async fn relay_inner(
    client: TcpStream,
    upstream: SocketAddr,
    fault: Option<Fault>,
    plan: &Mutex<Plan>,
) -> std::io::Result<()> {
    match &fault {
        Some(f @ Fault::Drop) => {
            count(plan, f);
            drop(client);
            return Ok(());
        }
        Some(f @ Fault::Reset) => {
            count(plan, f);
            client.set_zero_linger()?;
            drop(client);
            return Ok(());
        }
        Some(f @ Fault::Status(code)) => {
            count(plan, f);
            return answer_status(client, *code).await;
        }
        Some(f @ Fault::Stall(d)) => {
            count(plan, f);
            tokio::time::sleep(*d).await;
        }
        _ => {}
    }
    // The request goes up with `Connection: close` too, so the server ends
    // the connection after its answer whatever the answer's framing.
    let mut client = client;
    let (request_head, request_rest) = read_head(&mut client).await?;
    let is_head = request_head.starts_with(b"HEAD ");
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&close_head(&request_head)).await?;
    let mut request_rest = request_rest;
    let mut damage = fault == Some(Fault::CorruptRequest) && content_length(&request_head).is_some_and(|l| l > 0);
    if damage && !request_rest.is_empty() {
        request_rest[0] ^= 0x5A;
        damage = false;
        count(plan, &Fault::CorruptRequest);
    }
    server.write_all(&request_rest).await?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    if damage {
        // The body had not arrived with the head: flip its first byte.
        let mut first = [0u8; 1];
        if client_read.read_exact(&mut first).await.is_ok() {
            server_write.write_all(&[first[0] ^ 0x5A]).await?;
            count(plan, &Fault::CorruptRequest);
        }
    }
    let requests = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    let (head, mut body) = loop {
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            let rest = buf.split_off(at + 4);
            break (buf, rest);
        }
        let n = server_read.read(&mut chunk).await?;
        if n == 0 {
            requests.abort();
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    client_write.write_all(&close_head(&head)).await?;
    let status = String::from_utf8_lossy(&head).split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok());
    let bodiless = is_head || matches!(status, Some(100..=199 | 204 | 304));
    let length = if bodiless { Some(0) } else { content_length(&head) };
    let mut sent = 0u64;
    let mut corrupted = false;
    while length != Some(0) {
        if body.is_empty() {
            let n = server_read.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        match &fault {
            Some(f @ Fault::Corrupt) if !corrupted => {
                // Somewhere in the first half of the body.
                let target = length.unwrap_or(0) / 2;
                if target >= sent && target < sent + body.len() as u64 {
                    body[(target - sent) as usize] ^= 0x5A;
                    corrupted = true;
                    count(plan, f);
                }
            }
            Some(f @ Fault::Truncate) => {
                let half = length.unwrap_or(0) / 2;
                if length.is_some_and(|l| l > 0) && sent + body.len() as u64 >= half {
                    let keep = (half - sent) as usize;
                    client_write.write_all(&body[..keep]).await?;
                    count(plan, f);
                    requests.abort();
                    return Ok(());
                }
            }
            Some(Fault::Slow(rate)) => {
                let pause = Duration::from_secs_f64(body.len() as f64 / (*rate).max(1) as f64);
                tokio::time::sleep(pause).await;
            }
            _ => {}
        }
        client_write.write_all(&body).await?;
        sent += body.len() as u64;
        body.clear();
        if length.is_some_and(|l| sent >= l) {
            break;
        }
    }
    if let Some(f @ Fault::Slow(_)) = &fault {
        count(plan, f);
    }
    let _ = client_write.shutdown().await;
    requests.abort();
    Ok(())
}
