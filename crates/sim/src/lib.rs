//! A VAST cluster simulator, so that the plugin runs and is tested on one
//! machine: an S3 endpoint on loopback (the s3s crate speaks the protocol;
//! the buckets behind it are folders of a data folder, see `s3/`), with
//! the checks a cluster makes before it stores anything and conditional
//! writes decided atomically.
//!
//! Beside it, on a port of its own, the subset of VAST's VMS REST API the
//! plugin uses (see `vms.rs`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod faults;
mod latency;
pub mod moto;
pub mod openapi;
mod paced;
mod s3;
pub mod vms;
mod vms_snapshots;
mod vms_store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::service::S3ServiceBuilder;
use tokio::sync::oneshot;

/// A simulator that could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The data folder is unusable.
    #[error("simulator data folder {path}: {message}")]
    Data {
        /// The folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Data VIPs the simulator tries to serve S3 on (consecutive loopback
/// addresses, one port).
const VIPS: u32 = 3;

pub use s3::auth::{ACCESS_KEY, SECRET_KEY};

/// The certificate the simulator presents on `https://` (PEM).
#[derive(Clone)]
pub struct SimTls {
    /// Certificate chain, server certificate first.
    pub cert_pem: Vec<u8>,
    /// The certificate's private key.
    pub key_pem: Vec<u8>,
    /// CA certificates (PEM) of TLS client certificates to accept (and
    /// verify): VMS then also logs in a client by its certificate (see
    /// [`vms::VmsKnobs::trust_client_certificate`]). Without it no client
    /// certificate is asked for.
    pub client_ca_pem: Option<Vec<u8>>,
}

impl SimTls {
    /// A self-signed certificate for `localhost`, `127.0.0.1` and the data
    /// VIPs (`127.0.0.2`, `127.0.0.3`): its `cert_pem` is also the CA bundle
    /// a client must trust.
    pub fn self_signed() -> Result<Self, SimError> {
        let names = ["localhost", "127.0.0.1", "127.0.0.2", "127.0.0.3"].map(String::from).to_vec();
        let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names)
            .map_err(|e| SimError::Data { path: PathBuf::from("<certificate>"), message: e.to_string() })?;
        Ok(SimTls {
            cert_pem: cert.pem().into_bytes(),
            key_pem: signing_key.serialize_pem().into_bytes(),
            client_ca_pem: None,
        })
    }
}

impl std::fmt::Debug for SimTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimTls { .. }")
    }
}

fn tls_acceptor(tls: &SimTls) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&tls.cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate PEM: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(&tls.key_pem).map_err(|e| format!("key PEM: {e}"))?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &tls.client_ca_pem {
        // Client certificates are asked for, verified when given, and
        // optional (S3 clients and password logins present none).
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                roots.add(cert.map_err(|e| format!("client CA PEM: {e}"))?).map_err(|e| e.to_string())?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(std::sync::Arc::new(roots), provider)
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| e.to_string())?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(certs, key).map_err(|e| e.to_string())?;
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// How a simulator serves.
#[derive(Debug, Default)]
pub struct SimOptions {
    /// Serve `https://` with this certificate.
    pub tls: Option<SimTls>,
    /// Keep object bodies in memory rather than on disk (a restart loses
    /// them): what the S3 clients can do when the server's disk is not
    /// the limit.
    pub in_memory: bool,
    /// The round trip time of a network between the clients and the
    /// cluster: each request (S3 and VMS) is answered that much later, and
    /// each new connection costs that much once more.
    pub latency: std::time::Duration,
    /// S3 requests answered at once; those beyond are answered `503
    /// SlowDown` straight away, as a busy cluster sheds load (0: no limit).
    pub max_in_flight: usize,
    /// Bytes per second one S3 connection moves each way at most, as one
    /// TCP flow across a long network does (0: no limit).
    pub bandwidth_per_connection: u64,
}

/// A running simulator; stops when dropped.
#[derive(Debug)]
pub struct Simulator {
    s3_addr: SocketAddr,
    vips: Vec<std::net::IpAddr>,
    connections: std::sync::Arc<Vec<std::sync::atomic::AtomicU64>>,
    vms_addr: SocketAddr,
    vms: std::sync::Arc<vms::VmsKnobs>,
    knobs: std::sync::Arc<s3::Knobs>,
    scheme: &'static str,
    data: PathBuf,
    objects: std::sync::Arc<s3::objects::Objects>,
    s3_keys: s3::auth::Keys,
    /// S3 requests answered `503 SlowDown` for want of room.
    shed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Simulator {
    /// Starts a simulator over `data` (created if missing), listening on
    /// `listen` (port 0: any free port; see [`Simulator::s3_endpoint`]).
    pub fn start(data: &Path, listen: SocketAddr) -> Result<Self, SimError> {
        Self::start_with(data, listen, None)
    }

    /// Like [`Simulator::start`], serving `https://` with `tls` when given.
    pub fn start_with(data: &Path, listen: SocketAddr, tls: Option<SimTls>) -> Result<Self, SimError> {
        Self::start_with_options(data, listen, SimOptions { tls, ..SimOptions::default() })
    }

    /// Like [`Simulator::start`], with [`SimOptions`].
    pub fn start_with_options(data: &Path, listen: SocketAddr, options: SimOptions) -> Result<Self, SimError> {
        let SimOptions { tls, in_memory, latency, max_in_flight, bandwidth_per_connection: per_connection } = options;
        let data_err = |e: &dyn std::fmt::Display| SimError::Data { path: data.to_path_buf(), message: e.to_string() };
        std::fs::create_dir_all(data).map_err(|e| data_err(&e))?;
        let objects = std::sync::Arc::new(s3::objects::Objects::open(data, in_memory).map_err(|e| data_err(&e))?);
        let s3_knobs = std::sync::Arc::new(s3::Knobs::default());
        let mut builder = S3ServiceBuilder::new(s3::Buckets::new(objects.clone(), s3_knobs.clone()));
        let keys: s3::auth::Keys = std::sync::Arc::new(std::sync::Mutex::new(
            [(ACCESS_KEY.to_string(), SECRET_KEY.to_string())].into_iter().collect(),
        ));
        builder.set_auth(s3::auth::KeyAuth(keys.clone()));
        let shed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let service = latency::Delayed {
            inner: builder.build(),
            latency,
            max_in_flight,
            in_flight: Default::default(),
            shed: shed.clone(),
        };
        let acceptor = tls.as_ref().map(tls_acceptor).transpose().map_err(|e| data_err(&format!("TLS: {e}")))?;
        let scheme = if acceptor.is_some() { "https" } else { "http" };

        let listener =
            std::net::TcpListener::bind(listen).map_err(|source| SimError::Listen { addr: listen, source })?;
        listener.set_nonblocking(true).map_err(|source| SimError::Listen { addr: listen, source })?;
        let s3_addr = listener.local_addr().map_err(|source| SimError::Listen { addr: listen, source })?;
        // The data VIPs of the cluster: the same port on the next loopback
        // addresses (Linux routes all of 127.0.0.0/8 to loopback). Those
        // that cannot be bound are left out of the VIP pool.
        let mut listeners = vec![listener];
        if let std::net::IpAddr::V4(ip) = s3_addr.ip()
            && ip.is_loopback()
        {
            for extra in 1..VIPS {
                let vip = std::net::Ipv4Addr::from(u32::from(ip) + extra);
                match std::net::TcpListener::bind((vip, s3_addr.port())) {
                    Ok(l) if l.set_nonblocking(true).is_ok() => listeners.push(l),
                    _ => break,
                }
            }
        }
        let vips: Vec<std::net::IpAddr> =
            listeners.iter().filter_map(|l| l.local_addr().ok()).map(|a| a.ip()).collect();
        let connections: std::sync::Arc<Vec<std::sync::atomic::AtomicU64>> =
            std::sync::Arc::new(vips.iter().map(|_| std::sync::atomic::AtomicU64::new(0)).collect());
        let counters = connections.clone();
        let vms_listener = std::net::TcpListener::bind(SocketAddr::new(listen.ip(), 0))
            .map_err(|source| SimError::Listen { addr: listen, source })?;
        vms_listener.set_nonblocking(true).map_err(|source| SimError::Listen { addr: listen, source })?;
        let vms_addr = vms_listener.local_addr().map_err(|source| SimError::Listen { addr: listen, source })?;
        let vms_state = std::sync::Arc::new(vms::VmsState::new(objects.clone(), keys.clone(), vips.clone()));
        let knobs = vms_state.knobs.clone();
        let vms_knobs = knobs.clone();
        let vms_app = axum::Router::new().fallback(vms::handle).with_state(vms_state).layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| async move {
                latency::handshake(latency).await;
                next.run(req).await
            },
        ));
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("vastost-sim".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("vastost-sim-io")
                    .enable_all()
                    .build()
                    .expect("the simulator runtime starts");
                rt.block_on(async move {
                    let vms_listener = tokio::net::TcpListener::from_std(vms_listener).expect("a listening socket");
                    match acceptor.clone() {
                        // HTTPS, as a real VMS serves it, with the same certificate.
                        Some(acceptor) => {
                            let http = ConnBuilder::new(TokioExecutor::new());
                            tokio::spawn(async move {
                                loop {
                                    let Ok((socket, _)) = vms_listener.accept().await else { continue };
                                    let (acceptor, http, app) = (acceptor.clone(), http.clone(), vms_app.clone());
                                    let knobs = vms_knobs.clone();
                                    tokio::spawn(async move {
                                        match acceptor.accept(socket).await {
                                            Ok(tls) => {
                                                // Who the client certificate says the caller is.
                                                let peer = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
                                                let who =
                                                    vms::ClientIdentity(peer.and_then(|c| knobs.certificate_user(c)));
                                                let app = app.layer(axum::Extension(who));
                                                let service = hyper_util::service::TowerToHyperService::new(app);
                                                let _ = http.serve_connection(TokioIo::new(tls), service).await;
                                            }
                                            Err(e) => tracing::debug!("simulator: VMS TLS handshake failed: {e}"),
                                        }
                                    });
                                }
                            });
                        }
                        None => {
                            tokio::spawn(async move {
                                if let Err(e) = axum::serve(vms_listener, vms_app).await {
                                    tracing::warn!("simulator: VMS server stopped: {e}");
                                }
                            });
                        }
                    }
                    let (tx, mut sockets) = tokio::sync::mpsc::channel::<tokio::net::TcpStream>(64);
                    for (i, listener) in listeners.into_iter().enumerate() {
                        let listener = tokio::net::TcpListener::from_std(listener).expect("a listening socket");
                        let (tx, counters) = (tx.clone(), counters.clone());
                        tokio::spawn(async move {
                            loop {
                                match listener.accept().await {
                                    Ok((socket, _)) => {
                                        counters[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                        if tx.send(socket).await.is_err() {
                                            break;
                                        }
                                    }
                                    Err(e) => tracing::warn!("simulator: accept failed: {e}"),
                                }
                            }
                        });
                    }
                    let http = ConnBuilder::new(TokioExecutor::new());
                    loop {
                        let socket = tokio::select! {
                            Some(socket) = sockets.recv() => socket,
                            _ = &mut stop_rx => break,
                        };
                        let (http, service, acceptor) = (http.clone(), service.clone(), acceptor.clone());
                        tokio::spawn(async move {
                            latency::handshake(latency).await;
                            match acceptor {
                                Some(acceptor) => match acceptor.accept(socket).await {
                                    Ok(tls) => {
                                        let _ = http.serve_connection(TokioIo::new(tls), service).await;
                                    }
                                    Err(e) => tracing::debug!("simulator: TLS handshake failed: {e}"),
                                },
                                None if per_connection > 0 => {
                                    let paced = paced::Paced::new(socket, per_connection);
                                    let _ = http.serve_connection(TokioIo::new(paced), service).await;
                                }
                                None => {
                                    let _ = http.serve_connection(TokioIo::new(socket), service).await;
                                }
                            }
                        });
                    }
                });
                rt.shutdown_timeout(std::time::Duration::from_secs(2));
            })
            .map_err(|e| data_err(&e))?;
        tracing::info!(%s3_addr, data = %data.display(), "simulator started");
        Ok(Simulator {
            s3_addr,
            vips,
            connections,
            vms_addr,
            vms: knobs,
            knobs: s3_knobs,
            scheme,
            data: data.to_path_buf(),
            objects,
            s3_keys: keys,
            shed,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// S3 requests answered `503 SlowDown` so far because more than
    /// [`SimOptions::max_in_flight`] were in flight.
    pub fn shed_requests(&self) -> usize {
        self.shed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The S3 endpoint, `http://127.0.0.1:<port>` (`https://localhost:<port>`
    /// with TLS, the name test certificates are made for).
    pub fn s3_endpoint(&self) -> String {
        match self.scheme {
            "https" => format!("https://localhost:{}", self.s3_addr.port()),
            _ => format!("http://{}", self.s3_addr),
        }
    }

    /// The VMS REST endpoint, `http://127.0.0.1:<port>` (paths under
    /// `/api/`); `https://localhost:<port>` with TLS, like the S3 endpoint.
    pub fn vms_endpoint(&self) -> String {
        match self.scheme {
            "https" => format!("https://localhost:{}", self.vms_addr.port()),
            _ => format!("http://{}", self.vms_addr),
        }
    }

    /// The simulated VMS's accounts and fault knobs.
    pub fn vms(&self) -> &vms::VmsKnobs {
        &self.vms
    }

    /// The next `n` S3 requests get 503 SlowDown, as a throttling cluster
    /// answers.
    pub fn s3_slow_down(&self, n: u32) {
        self.knobs.slow_down.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Ignore conditional writes (`If-None-Match: *`) from now on, as some
    /// S3 servers do: a create then overwrites an object that exists.
    pub fn ignore_conditional_writes(&self, ignore: bool) {
        self.knobs.ignore_conditions.store(ignore, std::sync::atomic::Ordering::SeqCst);
    }

    /// S3 requests answered so far (authenticated ones, errors included).
    pub fn s3_requests(&self) -> u64 {
        self.knobs.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// S3 connections accepted so far on each data VIP.
    pub fn s3_connections(&self) -> Vec<(std::net::IpAddr, u64)> {
        self.vips
            .iter()
            .zip(self.connections.iter())
            .map(|(ip, n)| (*ip, n.load(std::sync::atomic::Ordering::Relaxed)))
            .collect()
    }

    /// The port of the S3 endpoint.
    pub fn s3_port(&self) -> u16 {
        self.s3_addr.port()
    }

    /// The folder holding the buckets (one subfolder each).
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// Creates a bucket (what a VAST S3 view is); nothing if it exists.
    pub fn create_bucket(&self, name: &str) -> std::io::Result<()> {
        if !s3::objects::valid_bucket_name(name) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{name:?} is not a bucket name"),
            ));
        }
        self.objects.create_bucket(name, &Default::default()).map(|_| ())
    }

    /// Creates a bucket with S3 Object Lock (and so versioning) enabled and
    /// no default retention; nothing if it exists.
    pub fn create_locked_bucket(&self, name: &str) -> std::io::Result<()> {
        let config = s3::lock::BucketConfig { versioning: Some(true), object_lock: true, ..Default::default() };
        self.objects.create_bucket(name, &config).map(|_| ())
    }

    /// [`Simulator::create_locked_bucket`] whose retentions must last from
    /// `min` to `max` (a view's `min_retention_period` and
    /// `max_retention_period`).
    pub fn create_locked_bucket_with_bounds(
        &self,
        name: &str,
        min: std::time::Duration,
        max: std::time::Duration,
    ) -> std::io::Result<()> {
        let config = s3::lock::BucketConfig {
            versioning: Some(true),
            object_lock: true,
            min_retention: Some(min),
            max_retention: Some(max),
            ..Default::default()
        };
        self.objects.create_bucket(name, &config).map(|_| ())
    }

    /// [`Simulator::create_locked_bucket`] whose every new object version
    /// is locked in compliance mode for `period` (a view's
    /// `default_retention_period`; shorter than S3's whole days, for tests).
    pub fn create_locked_bucket_with_default(&self, name: &str, period: std::time::Duration) -> std::io::Result<()> {
        let config = s3::lock::BucketConfig {
            versioning: Some(true),
            object_lock: true,
            default_retention: Some((s3::lock::Mode::Compliance, period)),
            ..Default::default()
        };
        self.objects.create_bucket(name, &config).map(|_| ())
    }

    /// Stores an object directly, as if a client had put it (for tests
    /// that need data in place without an S3 client).
    pub fn put_object(&self, bucket: &str, key: &str, data: &[u8]) -> Result<(), SimError> {
        let err = |e: &dyn std::fmt::Display| SimError::Data { path: self.data.join(bucket), message: e.to_string() };
        self.objects.put(bucket, key, data).map_err(|e| err(&e))
    }

    /// The bytes stored under `key` in `bucket`, as a client would get them.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        self.objects.read(bucket, key)
    }

    /// Deletes an object directly; `false` if there was none.
    pub fn delete_object(&self, bucket: &str, key: &str) -> bool {
        self.objects.bucket(bucket).is_ok_and(|b| b.remove(key))
    }

    /// Moves the simulated cluster's clock forward (Object Lock retention
    /// expires by it).
    pub fn advance_clock(&self, by: std::time::Duration) {
        self.objects.clock.advance(by);
    }

    /// Every version stored in `bucket` under `prefix`, delete markers
    /// included: `(key, version id, is a delete marker)`, by key.
    pub fn object_versions(&self, bucket: &str, prefix: &str) -> Vec<(String, String, bool)> {
        let Ok(b) = self.objects.bucket(bucket) else { return Vec::new() };
        b.with_versions(|i| {
            let live = i.live.range(prefix.to_string()..).take_while(|(k, _)| k.starts_with(prefix));
            let old = i.old.range(prefix.to_string()..).take_while(|(k, _)| k.starts_with(prefix));
            let mut all: Vec<_> = live
                .map(|(k, o)| (k.clone(), o.version_id(), false))
                .chain(old.flat_map(|(k, v)| v.iter().map(move |o| (k.clone(), o.version_id(), o.marker))))
                .collect();
            all.sort();
            all
        })
    }

    /// The Object Lock retention of the current version of `key`: its mode
    /// (`GOVERNANCE` or `COMPLIANCE`) and retain-until time.
    pub fn retention(&self, bucket: &str, key: &str) -> Option<(&'static str, std::time::SystemTime)> {
        let o = self.objects.bucket(bucket).ok()?.get(key)?;
        o.retention().until.map(|(mode, until)| (mode.name(), until))
    }

    /// Adds an S3 user's key, as the simulated VMS does for the users it
    /// creates: such a user may not bypass governance retention (only the
    /// simulator's own user, [`ACCESS_KEY`], may).
    pub fn add_s3_key(&self, access_key: &str, secret_key: &str) {
        self.s3_keys.lock().unwrap_or_else(|p| p.into_inner()).insert(access_key.into(), secret_key.into());
    }

    /// The keys of `bucket` under `prefix`, in order.
    pub fn object_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.objects.keys(bucket, prefix)
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
