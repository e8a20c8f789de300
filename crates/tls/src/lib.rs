//! HTTP clients with the plugin's TLS rules, for S3 endpoints and VMS
//! alike: the server's certificate is verified unless switched off (and
//! then a warning is logged on every open), the system's roots are
//! trusted plus those of a CA bundle, TLS 1.2 is the oldest version
//! spoken, and a client certificate can be presented.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// TLS of an endpoint.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// PEM file of extra CA certificates (VAST clusters often present a
    /// private-CA certificate).
    pub ca_bundle: Option<PathBuf>,
    /// Check the server's certificate and name. Switching it off is logged
    /// as a warning on every open.
    pub verify: bool,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings { ca_bundle: None, verify: true }
    }
}

/// A client that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA bundle cannot be read or holds no certificate.
    #[error("CA bundle {path}: {message}")]
    CaBundle {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The client certificate (`cert:`) is not a PEM certificate with its key.
    #[error("client certificate (cert:): {0}")]
    Identity(String),
    /// The HTTP client refused its settings.
    #[error("HTTP client: {0}")]
    Client(String),
}

/// An HTTP client with the TLS rules of `tls`, for the endpoint `what`
/// (named in logs).
pub fn http_client(tls: &TlsSettings, what: &str) -> Result<reqwest::Client, TlsError> {
    builder(tls, what)?.build().map_err(|e| TlsError::Client(e.to_string()))
}

/// Like [`http_client`], presenting the client certificate of
/// `identity_pem` (a PEM holding the certificate and its private key).
pub fn http_client_with_identity(
    tls: &TlsSettings,
    what: &str,
    identity_pem: &str,
) -> Result<reqwest::Client, TlsError> {
    let identity =
        reqwest::Identity::from_pem(identity_pem.as_bytes()).map_err(|e| TlsError::Identity(e.to_string()))?;
    builder(tls, what)?.identity(identity).build().map_err(|e| TlsError::Client(e.to_string()))
}

/// Idle connections kept per host: as many as a process sends requests at
/// once (an image listing reads 128 images at once), so that a connection
/// is opened once per burst, not once per request. Each opened again costs
/// a round trip and a handshake: with 10 kept, listing 1,000 images on a
/// simulator 10 ms away took 0.43-0.50 s; with 128, 0.35-0.37 s. Only
/// connections a burst opened are kept, each for the pool's idle timeout.
const POOL_IDLE_PER_HOST: usize = 128;

fn builder(tls: &TlsSettings, what: &str) -> Result<reqwest::ClientBuilder, TlsError> {
    let mut builder = reqwest::Client::builder()
        .min_tls_version(reqwest::tls::Version::TLS_1_2)
        .pool_max_idle_per_host(POOL_IDLE_PER_HOST);
    if let Some(path) = &tls.ca_bundle {
        let bundle_error = |message: String| TlsError::CaBundle { path: path.clone(), message };
        let pem = std::fs::read(path).map_err(|e| bundle_error(format!("cannot read it: {e}")))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bundle_error(e.to_string()))?;
        if certs.is_empty() {
            return Err(bundle_error("holds no PEM certificate".into()));
        }
        builder = builder.tls_certs_merge(certs);
    }
    if !tls.verify {
        tracing::warn!(endpoint = %what, "TLS certificate verification is OFF for this endpoint (tls_verify = false)");
        builder = builder.danger_accept_invalid_certs(true);
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_certificates_or_an_unreadable_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("vastost-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        for path in [empty, dir.join("missing.pem")] {
            let tls = TlsSettings { ca_bundle: Some(path.clone()), verify: true };
            let err = http_client(&tls, "s3").unwrap_err();
            assert!(matches!(err, TlsError::CaBundle { .. }), "{err}");
            assert!(err.to_string().contains(&path.display().to_string()), "{err}");
        }
        assert!(matches!(
            http_client_with_identity(&TlsSettings::default(), "vms", "junk"),
            Err(TlsError::Identity(_))
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
