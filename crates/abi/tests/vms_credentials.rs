//! The other ways a password given to `tpconfig` can log in to VMS, as the
//! design passes them: `cert:<PEM file>` is a TLS client certificate (with
//! its key) that VMS verifies; `token:<token>`, or any password when
//! `vms_auth = "api_token"` names no token file, is an API token.

use vastost_testkit as support;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use vastost_ost::sts_status::*;
use vastost_sim::{SimTls, Simulator};

/// A client certificate signed by `ca`, as one PEM with its key.
fn client_pem(ca: &CertifiedIssuer<'static, KeyPair>, name: &str) -> String {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.signed_by(&key, ca).unwrap();
    format!("{}{}", cert.pem(), key.serialize_pem())
}

fn owner_only(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn client_certificates_and_api_tokens_given_as_passwords_log_in() {
    let _turn = support::turn();
    let dir = tempfile::tempdir().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "media servers CA");
    let client_ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let mut tls = SimTls::self_signed().unwrap();
    tls.client_ca_pem = Some(client_ca.pem().into_bytes());
    let server_ca = dir.path().join("vms-ca.pem");
    std::fs::write(&server_ca, &tls.cert_pem).unwrap();
    let sim = Simulator::start_with(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap(), Some(tls)).unwrap();
    sim.create_bucket("pool1").unwrap();

    let trusted = client_pem(&client_ca, "nbu-media-1");
    let trusted_file = dir.path().join("media1.pem");
    owner_only(&trusted_file, &trusted);
    sim.vms().trust_client_certificate(trusted.as_bytes(), "admin");
    let stranger_file = dir.path().join("stranger.pem");
    owner_only(&stranger_file, &client_pem(&client_ca, "stranger"));
    sim.vms().add_api_token("tok-0123456789");

    let creds = support::write_sim_credentials(dir.path());
    let server = |name: &str, extra: &str| {
        format!(
            "[server.\"{name}\"]\ndata_path = \"s3\"\nendpoint = \"{}\"\ncredentials_file = \"{}\"\nca_bundle = \"{}\"\n\
             vms_endpoint = \"{}\"\nlsus = [\"pool1\"]\n{extra}\n",
            sim.s3_endpoint(),
            creds.display(),
            server_ca.display(),
            sim.vms_endpoint()
        )
    };
    let config = dir.path().join("vastost.toml");
    let text = server("jwt", "") + &server("token", "vms_auth = \"api_token\"");
    std::fs::write(&config, text).unwrap();
    let plugin = support::load();
    plugin.init(Some(&config)).unwrap();

    let cert = format!("cert:{}", trusted_file.display());
    let s = plugin.open_server("VastData:jwt", Some(("nbu", &cert))).unwrap();
    assert!(s.info().unwrap().version.contains("ONLINE"), "logged in with the certificate");
    support::backup(&s, "pool1", "by_cert", &[9u8; 4096], 4096).unwrap();
    drop(s);
    let stranger = format!("cert:{}", stranger_file.display());
    let err = plugin.open_server("VastData:jwt", Some(("nbu", &stranger))).unwrap_err();
    assert_eq!(err.code(), Some(STS_EAUTH), "a certificate VMS does not know logs nobody in: {err}");
    let missing = plugin.open_server("VastData:jwt", Some(("nbu", "cert:/nonexistent.pem"))).unwrap_err();
    assert_eq!(missing.code(), Some(STS_ECONFIG), "{missing}");

    drop(plugin.open_server("VastData:jwt", Some(("nbu", "token:tok-0123456789"))).unwrap());
    drop(plugin.open_server("VastData:token", Some(("nbu", "tok-0123456789"))).unwrap());
    let err = plugin.open_server("VastData:token", Some(("nbu", "not-a-token"))).unwrap_err();
    assert_eq!(err.code(), Some(STS_EAUTH), "{err}");
    plugin.terminate().unwrap();
}

/// NetBackup runs a process per job: the first one of the host logs in to
/// VMS and keeps the tokens in the host's state folder (the user's alone);
/// the others use them, and renew them when VMS refuses them. A process
/// given another password does not use them.
#[test]
fn job_processes_of_a_host_share_one_vms_login() {
    let _turn = support::turn();
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_bucket("pool1").unwrap();
    sim.vms().add_user("nbu", "nbu-pw");
    let creds = support::write_sim_credentials(dir.path());
    let state = dir.path().join("state");
    let config = dir.path().join("vastost.toml");
    std::fs::write(
        &config,
        format!(
            "[plugin]\nstate_dir = \"{}\"\n\n[server.\"vms\"]\ndata_path = \"s3\"\nendpoint = \"{}\"\n\
             credentials_file = \"{}\"\nvms_endpoint = \"{}\"\nlsus = [\"pool1\"]\n",
            state.display(),
            sim.s3_endpoint(),
            creds.display(),
            sim.vms_endpoint()
        ),
    )
    .unwrap();
    let logins = || sim.vms().received().iter().filter(|(m, path, _)| m == "POST" && path == "/token/").count();
    // One "process" after another: the plugin initialized and terminated.
    let job = |password: &str| {
        let plugin = support::load();
        plugin.init(Some(&config)).unwrap();
        let result = plugin.open_server("VastData:vms", Some(("nbu", password))).map(|s| s.lsu_info("pool1").map(drop));
        plugin.terminate().unwrap();
        result
    };
    for _ in 0..5 {
        job("nbu-pw").unwrap().unwrap();
    }
    assert_eq!(logins(), 1, "five jobs, one login");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o700);
    // Tokens that VMS no longer takes are renewed, and kept again.
    sim.vms().set_token_lifetime(std::time::Duration::from_millis(1));
    std::thread::sleep(std::time::Duration::from_millis(20));
    job("nbu-pw").unwrap().unwrap();
    sim.vms().set_token_lifetime(std::time::Duration::from_secs(3600));
    let after_renewal = logins();
    job("nbu-pw").unwrap().unwrap();
    job("nbu-pw").unwrap().unwrap();
    assert_eq!(logins(), after_renewal, "the renewed tokens serve the next jobs");
    // Another password finds nothing kept: it logs in, and is refused.
    let wrong = job("not-the-password");
    assert_eq!(wrong.err().and_then(|e| e.code()), Some(STS_EAUTH));
}
