//! A second, independent S3 server for interoperability tests: moto's
//! server (PyPI `moto[server]`), run as a child process on loopback.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `moto_server`; killed when dropped.
#[derive(Debug)]
pub struct Moto {
    addr: SocketAddr,
    child: Child,
}

impl Moto {
    /// Starts `moto_server` on a free loopback port and waits until it
    /// answers. Fails with a message that says how to install it.
    pub fn start() -> std::io::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        // `python3 -m moto.server` is `moto_server` without relying on the
        // script being on PATH (pyenv shims, user installs).
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let child = Command::new(python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot run python3 -m moto.server ({e}): install it with pip install 'moto[server]'"),
                )
            })?;
        let mut moto = Moto { addr, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            if let Some(status) = moto.child.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "moto's server exited at start ({status}): is it installed? pip install 'moto[server]'"
                )));
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other("moto_server did not start within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends an unsigned request (moto accepts them) and returns the body
    /// of a 200 answer.
    fn request(&self, method: &str, target: &str) -> std::io::Result<String> {
        self.request_with(method, target, "")
    }

    /// [`Moto::request`] with more header lines (each ending with CRLF).
    fn request_with(&self, method: &str, target: &str, headers: &str) -> std::io::Result<String> {
        let mut s = TcpStream::connect(self.addr)?;
        write!(
            s,
            "{method} {target} HTTP/1.1\r\nHost: {}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n",
            self.addr
        )?;
        let mut answer = String::new();
        s.read_to_string(&mut answer)?;
        if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200") {
            Ok(answer.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default())
        } else {
            Err(std::io::Error::other(format!(
                "moto refused {method} {target}: {}",
                answer.lines().next().unwrap_or("")
            )))
        }
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, name: &str) -> std::io::Result<()> {
        self.request("PUT", &format!("/{name}")).map(drop)
    }

    /// Creates a bucket with Object Lock enabled (and so versioning).
    pub fn create_locked_bucket(&self, name: &str) -> std::io::Result<()> {
        self.request_with("PUT", &format!("/{name}"), "x-amz-bucket-object-lock-enabled: true\r\n").map(drop)
    }

    /// How many versions and delete markers the bucket holds under
    /// `prefix` (a plain prefix, no escapes).
    pub fn versions(&self, bucket: &str, prefix: &str) -> std::io::Result<usize> {
        Ok(self.request("GET", &format!("/{bucket}?versions&prefix={prefix}"))?.matches("<VersionId>").count())
    }

    /// Starts a multipart upload of `key` (a plain key, no escapes) and
    /// leaves it incomplete, as a writer killed mid-upload does.
    pub fn start_upload(&self, bucket: &str, key: &str) -> std::io::Result<()> {
        self.request("POST", &format!("/{bucket}/{key}?uploads")).map(drop)
    }

    /// How many incomplete multipart uploads the bucket has.
    pub fn uploads(&self, bucket: &str) -> std::io::Result<usize> {
        Ok(self.request("GET", &format!("/{bucket}?uploads"))?.matches("<UploadId>").count())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
