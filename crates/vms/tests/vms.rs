//! The VMS client against the simulator's VMS: every authentication mode,
//! token expiry and renewal, permission denied, pagination, failover.

use std::time::Duration;

use serde_json::json;
use vastost_sim::Simulator;
use vastost_vms::{Auth, VmsClient, VmsConfig, VmsErrorKind};

struct Env {
    sim: Simulator,
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(&dir.path().join("data"), "127.0.0.1:0".parse().unwrap()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    Env { sim, _dir: dir, rt }
}

fn client(env: &Env, auth: Auth) -> VmsClient {
    let mut cfg = VmsConfig::new(&env.sim.vms_endpoint(), auth);
    cfg.backoff = Duration::from_millis(10);
    VmsClient::new(cfg, reqwest::Client::new())
}

fn basic(user: &str, password: &str) -> Auth {
    Auth::Basic { user: user.into(), password: password.into() }
}

fn jwt(user: &str, password: &str) -> Auth {
    Auth::Jwt { user: user.into(), password: password.into() }
}

#[test]
fn basic_jwt_and_api_token_authentication() {
    let env = env();
    env.sim.vms().add_api_token("tok-123");
    for auth in [basic("admin", "123456"), jwt("admin", "123456"), Auth::ApiToken("tok-123".into())] {
        let c = client(&env, auth.clone());
        let cluster = env.rt.block_on(c.cluster()).unwrap_or_else(|e| panic!("{auth:?}: {e}"));
        assert_eq!((cluster.name.as_str(), cluster.state.as_str()), ("vast-sim", "ONLINE"));
        assert!(cluster.usable_capacity_bytes > 0);
    }
    for auth in [basic("admin", "wrong"), jwt("admin", "wrong"), Auth::ApiToken("nope".into())] {
        let err = env.rt.block_on(client(&env, auth.clone()).cluster()).unwrap_err();
        assert_eq!(err.kind, VmsErrorKind::Auth, "{auth:?}: {err}");
        assert!(!err.to_string().contains("wrong"), "no password in errors: {err}");
    }
    assert!(!format!("{:?}", jwt("admin", "123456")).contains("123456"), "Debug hides passwords");
}

#[test]
fn expired_tokens_are_renewed_without_the_caller_noticing() {
    let env = env();
    env.sim.vms().set_token_lifetime(Duration::from_millis(150));
    let c = client(&env, jwt("admin", "123456"));
    env.rt.block_on(c.cluster()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // The access token is now refused with 403 "Token is invalid or expired".
    env.rt.block_on(c.cluster()).expect("renewed by refresh, then retried");
    std::thread::sleep(Duration::from_millis(300));
    env.rt.block_on(c.cluster()).expect("renewed again");
}

#[test]
fn permission_denied_is_never_retried() {
    let env = env();
    env.sim.vms().add_user("viewer", "pw");
    env.sim.vms().deny("viewer");
    for auth in [basic("viewer", "pw"), jwt("viewer", "pw")] {
        let c = client(&env, auth);
        let before = env.sim.vms().requests();
        let err = env.rt.block_on(c.cluster()).unwrap_err();
        assert_eq!(err.kind, VmsErrorKind::PermissionDenied, "{err}");
        assert!(err.message.contains("permission"), "VMS's own words: {err}");
        let calls = env.sim.vms().requests() - before;
        assert!(calls <= 2, "login at most, then one call: {calls} requests");
    }
}

#[test]
fn failover_503_is_retried_then_reported() {
    let env = env();
    let c = client(&env, basic("admin", "123456"));
    env.sim.vms().fail_next(2);
    env.rt.block_on(c.cluster()).expect("two 503 then success");
    env.sim.vms().fail_next(10);
    let err = env.rt.block_on(c.cluster()).unwrap_err();
    assert_eq!((err.kind, err.status), (VmsErrorKind::Unavailable, Some(503)), "{err}");
    assert!(err.message.contains("failover"), "{err}");
}

#[test]
fn pages_are_followed_and_versions_accepted() {
    let env = env();
    let c = client(&env, jwt("admin", "123456"));
    for i in 0..230 {
        env.rt
            .block_on(c.post("quotas", &json!({ "name": format!("q{i}"), "path": format!("/p{i}"), "hard_limit": 1 })))
            .unwrap();
    }
    let conflict = env.rt.block_on(c.post("quotas", &json!({ "name": "again", "path": "/p0" }))).unwrap_err();
    assert_eq!(conflict.status, Some(409), "{conflict}");
    let all: Vec<serde_json::Value> = env.rt.block_on(c.list("quotas", &[])).unwrap();
    assert_eq!(all.len(), 230, "three pages of 100 followed");
    for version in ["v1", "v5", "latest"] {
        let mut cfg = VmsConfig::new(&env.sim.vms_endpoint(), basic("admin", "123456"));
        cfg.version = Some(version.into());
        cfg.tenant = Some("default".into());
        let c = VmsClient::new(cfg, reqwest::Client::new());
        assert_eq!(env.rt.block_on(c.quotas("/p7")).unwrap().len(), 1, "{version}");
    }
}

#[test]
fn buckets_are_views_and_quotas_count_what_they_hold() {
    let env = env();
    env.sim.create_bucket("pool1").unwrap();
    env.sim.put_object("pool1", "obj", &[0u8; 1000]).unwrap();
    let c = client(&env, basic("admin", "123456"));
    let views = env.rt.block_on(c.s3_views()).unwrap();
    assert_eq!(views.iter().map(|v| v.bucket.clone().unwrap()).collect::<Vec<_>>(), ["pool1"]);
    let view = env.rt.block_on(c.bucket_view("pool1")).unwrap().expect("the bucket's view");
    assert_eq!(view.path, "/pool1");
    assert!(env.rt.block_on(c.bucket_view("nope")).unwrap().is_none());
    env.rt.block_on(c.post("quotas", &json!({ "name": "pool1", "path": "/pool1", "hard_limit": 1 << 20 }))).unwrap();
    let q = env.rt.block_on(c.quotas("/pool1")).unwrap();
    assert_eq!((q.len(), q[0].hard_limit, q[0].used_capacity), (1, Some(1 << 20), 1000));
}

#[test]
fn provisioning_twice_is_a_no_op_the_second_time() {
    let env = env();
    let c = client(&env, jwt("admin", "123456"));
    let plan = vastost_vms::ProvisionPlan {
        s3_user: "vastost".into(),
        buckets: vec!["nbu-pool1".into(), "nbu-pool2".into()],
        quota: Some(1 << 40),
        policy: "s3_default_policy".into(),
        tenant: Some("backup".into()),
        worm: None,
        bookkeeping: None,
    };
    let first = env.rt.block_on(c.provision(&plan)).unwrap();
    assert_eq!(first.created.len(), 6, "tenant, user, two views, two quotas: {first:?}");
    let second = env.rt.block_on(c.provision(&plan)).unwrap();
    assert!(second.created.is_empty(), "{second:?}");
    assert_eq!(second.user_id, first.user_id);
    assert_eq!(env.rt.block_on(c.s3_views()).unwrap().len(), 2);
    let (ak, sk) = env.rt.block_on(c.create_access_key(first.user_id)).unwrap();
    assert!(!ak.is_empty() && sk.len() >= 32);
    // That the key signs S3 requests is shown by `vastost setup`'s test.
    // The user was made in a local provider, as VMS requires.
    let users: Vec<serde_json::Value> = env.rt.block_on(c.list("users", &[("name", "vastost")])).unwrap();
    assert!(users[0]["local_provider_id"].as_u64().is_some(), "{users:?}");

    // Contract: every body the client sent is what VAST's OpenAPI file
    // says the operation takes.
    let sent = env.sim.vms().received();
    assert!(sent.len() >= 8, "{sent:?}");
    for (method, op, body) in &sent {
        let schema = vastost_sim::openapi::request_schema(op, method)
            .unwrap_or_else(|| panic!("{method} {op} takes no body in VAST's API"));
        let problems = vastost_sim::openapi::validate(schema, body);
        assert!(problems.is_empty(), "{method} {op} {body}: {problems:?}");
    }
}

#[test]
fn the_vip_pool_lists_the_data_vips() {
    let env = env();
    let c = client(&env, basic("admin", "123456"));
    let pool = env.rt.block_on(c.vip_pool("protocols")).unwrap().expect("the protocols pool");
    assert_eq!((pool.role.as_str(), pool.enabled), ("PROTOCOLS", true));
    let vips: Vec<_> = env.sim.s3_connections().into_iter().map(|(ip, _)| ip).collect();
    assert_eq!(pool.addresses(), vips);
    assert_eq!(vips.len(), 3, "127.0.0.1-3 on Linux loopback");
    assert!(env.rt.block_on(c.vip_pool("nope")).unwrap().is_none());
}
