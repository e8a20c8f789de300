//! TLS to an S3 endpoint: verification is on by default, a private CA is
//! trusted through a CA bundle, and every bad certificate is refused with a
//! message that names the cause.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, date_time_ymd};
use vastost_sim::{SimTls, Simulator};
use vastost_storage::{ObjectStore, S3Settings, TlsSettings};

struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "vastost test CA");
        Pki { ca: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    /// A server certificate for `names`, signed by the CA (or by itself).
    fn server(&self, names: &[&str], expired: bool, self_signed: bool) -> SimTls {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        if expired {
            params.not_before = date_time_ymd(2001, 1, 1);
            params.not_after = date_time_ymd(2002, 1, 1);
        }
        let cert = if self_signed { params.self_signed(&key) } else { params.signed_by(&key, &self.ca) }.unwrap();
        SimTls { cert_pem: cert.pem().into_bytes(), key_pem: key.serialize_pem().into_bytes(), client_ca_pem: None }
    }
}

struct Case {
    _dir: tempfile::TempDir,
    sim: Simulator,
    ca_file: std::path::PathBuf,
}

fn serve(pki: &Pki, tls: SimTls) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start_with(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap(), Some(tls)).unwrap();
    sim.create_bucket("secure").unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, pki.ca.pem()).unwrap();
    Case { _dir: dir, sim, ca_file }
}

fn check(case: &Case, endpoint: String, ca: bool, verify: bool) -> Result<(), String> {
    let store = ObjectStore::s3(&S3Settings {
        endpoint,
        bucket: "secure".into(),
        region: "us-east-1".into(),
        more_endpoints: Vec::new(),
        access_key: vastost_sim::ACCESS_KEY.into(),
        secret_key: vastost_sim::SECRET_KEY.into(),
        tls: TlsSettings { ca_bundle: ca.then(|| case.ca_file.clone()), verify },
        retries: 0,
        timeout: std::time::Duration::from_secs(30),
    })
    .map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        store.put("k", bytes::Bytes::from_static(b"over tls")).await?;
        store.get("k").await.map(|_| ())
    })
    .map_err(|e| format!("{e:#}"))
}

/// Refused, as a TLS failure, with rustls' own words for the cause.
fn assert_refused(result: Result<(), String>, why: &str, cause: &str) {
    let err = result.expect_err(why);
    assert!(err.contains("TLS certificate refused") && err.contains(cause), "{why}: {err}");
}

#[test]
fn a_private_ca_is_trusted_only_when_given() {
    let pki = Pki::new();
    let case = serve(&pki, pki.server(&["localhost"], false, false));
    check(&case, case.sim.s3_endpoint(), true, true).expect("a good certificate with its CA bundle");
    assert_refused(
        check(&case, case.sim.s3_endpoint(), false, true),
        "without the CA the certificate is unknown",
        "UnknownIssuer",
    );
    check(&case, case.sim.s3_endpoint(), false, false).expect("verification switched off explicitly");
}

#[test]
fn wrong_names_expired_and_self_signed_certificates_are_refused() {
    let pki = Pki::new();
    let wrong = serve(&pki, pki.server(&["other.example.com"], false, false));
    assert_refused(check(&wrong, wrong.sim.s3_endpoint(), true, true), "another host name", "not valid for name");
    let expired = serve(&pki, pki.server(&["localhost"], true, false));
    assert_refused(check(&expired, expired.sim.s3_endpoint(), true, true), "an expired certificate", "expired");
    let selfsigned = serve(&pki, pki.server(&["localhost"], false, true));
    assert_refused(check(&selfsigned, selfsigned.sim.s3_endpoint(), true, true), "self-signed", "UnknownIssuer");
}

#[test]
fn a_bad_ca_bundle_is_a_clear_error() {
    let pki = Pki::new();
    let case = serve(&pki, pki.server(&["localhost"], false, false));
    std::fs::write(&case.ca_file, "not a certificate").unwrap();
    let err = check(&case, case.sim.s3_endpoint(), true, true).unwrap_err();
    assert!(err.contains("CA bundle") && err.contains("ca.pem"), "{err}");
}
