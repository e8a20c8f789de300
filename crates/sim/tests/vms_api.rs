//! The simulated VMS keeps what VMS keeps, refuses what VMS refuses, and
//! every answer it gives matches VAST's OpenAPI description.

use reqwest::Method;
use serde_json::{Value, json};
use vastost_sim::Simulator;
use vastost_sim::openapi;

struct Api {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
    token: String,
    /// Every answer: (operation, method, status, body).
    seen: std::cell::RefCell<Vec<(String, String, u16, Value)>>,
}

impl Api {
    fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/api/{path}", self.base);
        let mut req = self.http.request(method.clone(), &url).bearer_auth(&self.token);
        if let Some(b) = &body {
            req = req.json(b);
        }
        let (status, text) = self.rt.block_on(async {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        });
        let value: Value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
        let parts: Vec<&str> = path.split('?').next().unwrap().split('/').filter(|s| !s.is_empty()).collect();
        self.seen.borrow_mut().push((openapi::template(&parts), method.to_string(), status, value.clone()));
        (status, value)
    }
}

fn api(sim: &Simulator) -> Api {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let http = reqwest::Client::new();
    let base = sim.vms_endpoint();
    let login = json!({ "username": "admin", "password": "123456" });
    let token = rt.block_on(async {
        let r = http.post(format!("{base}/api/token/")).json(&login).send().await.unwrap();
        r.json::<Value>().await.unwrap()["access"].as_str().unwrap().to_string()
    });
    Api { rt, http, base, token, seen: Default::default() }
}

#[test]
fn views_users_quotas_and_keys_are_kept_as_vms_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_bucket("existing").unwrap();
    let api = api(&sim);

    // Views: every field given is stored; NFS stays NFS; ids are stable.
    let (st, nfs) =
        api.call(Method::POST, "views/", Some(json!({ "path": "/nfs1", "policy_id": 1, "protocols": ["NFS"] })));
    assert_eq!(st, 201, "{nfs}");
    assert_eq!(nfs["protocols"], json!(["NFS"]));
    assert!(nfs.get("bucket").is_none() && !sim.data().join("nfs1").exists(), "{nfs}");
    let s3_body = json!({ "path": "/zbucket", "policy_id": 2, "protocols": ["S3"], "bucket": "zbucket",
                          "bucket_owner": "vastost", "name": "z" });
    let (st, z) = api.call(Method::POST, "views/", Some(s3_body));
    assert_eq!(st, 201, "{z}");
    assert_eq!(
        (z["bucket_owner"].as_str(), z["name"].as_str(), z["policy_id"].as_u64()),
        (Some("vastost"), Some("z"), Some(2))
    );
    assert!(sim.data().join("zbucket").is_dir());
    let (_, before) = api.call(Method::GET, &format!("views/{}/", z["id"]), None);
    let (st, _) = api.call(
        Method::POST,
        "views/",
        Some(json!({ "path": "/abucket", "policy_id": 2,
        "protocols": ["S3"], "bucket": "abucket", "bucket_owner": "vastost" })),
    );
    assert_eq!(st, 201);
    let (_, after) = api.call(Method::GET, &format!("views/{}/", z["id"]), None);
    assert_eq!(before, after, "creating a view renumbers none");
    let (_, listed) = api.call(Method::GET, "views/?bucket=existing", None);
    assert_eq!(listed.as_array().unwrap().len(), 1, "a bucket made through S3 is a view too: {listed}");
    let (st, patched) = api.call(Method::PATCH, &format!("views/{}/", z["id"]), Some(json!({ "name": "renamed" })));
    assert_eq!((st, patched["name"].as_str()), (200, Some("renamed")));
    let (st, _) = api.call(Method::DELETE, &format!("views/{}/", nfs["id"]), None);
    assert_eq!(st, 204);
    assert_eq!(api.call(Method::GET, &format!("views/{}/", nfs["id"]), None).0, 404);

    // What VMS refuses, the simulator refuses, with a detail and never 500.
    for (body, says) in [
        (json!({ "path": "/no-policy" }), "policy_id"),
        (json!({ "path": "/x\u{0}y", "policy_id": 1 }), "NUL"),
        (json!({ "path": format!("/{}", "p".repeat(300)), "policy_id": 1 }), "255"),
        (
            json!({ "path": "/.name", "policy_id": 2, "protocols": ["S3"], "bucket": ".name", "bucket_owner": "u" }),
            "bucket",
        ),
        (json!({ "path": "/s3", "policy_id": 2, "protocols": ["S3"] }), "bucket"),
        (json!({ "path": "/t", "policy_id": 99 }), "policy"),
        (json!({ "path": "relative", "policy_id": 1 }), "absolute"),
        (json!({ "path": "/p", "policy_id": "one" }), "integer"),
    ] {
        let (st, answer) = api.call(Method::POST, "views/", Some(body.clone()));
        assert_eq!(st, 400, "{body}: {answer}");
        assert!(answer["detail"].as_str().is_some_and(|d| d.contains(says)), "{body}: {answer}");
    }
    let (st, _) = api.call(Method::POST, "views/", Some(json!({ "path": "/zbucket", "policy_id": 1 })));
    assert_eq!(st, 409, "a path is one view");
    sim.put_object("zbucket", "object", b"x").unwrap();
    assert_eq!(api.call(Method::DELETE, &format!("views/{}/", z["id"]), None).0, 409, "a bucket with objects stays");

    // Users live in a local provider; keys come and go.
    let (st, refused) = api.call(Method::POST, "users/", Some(json!({ "name": "nbu" })));
    assert!(st == 400 && refused["detail"].as_str().unwrap().contains("local_provider_id"), "{refused}");
    let (_, providers) = api.call(Method::GET, "localproviders/", None);
    let provider = providers[0]["id"].clone();
    let (st, user) =
        api.call(Method::POST, "users/", Some(json!({ "name": "nbu", "local_provider_id": provider, "uid": 5001 })));
    assert_eq!((st, user["uid"].as_u64()), (201, Some(5001)));
    let keys = format!("users/{}/access_keys/", user["id"]);
    let (st, pair) = api.call(Method::POST, &keys, Some(json!({})));
    assert!(st == 200 && pair["secret_key"].as_str().is_some(), "{pair}");
    let (_, user_now) = api.call(Method::GET, &format!("users/{}/", user["id"]), None);
    assert_eq!(user_now["access_keys"][0]["access_key"], pair["access_key"]);
    assert_eq!(api.call(Method::DELETE, &keys, Some(json!({ "access_key": pair["access_key"] }))).0, 204);
    assert_eq!(api.call(Method::DELETE, &keys, Some(json!({ "access_key": pair["access_key"] }))).0, 404);
    assert_eq!(api.call(Method::POST, "s3keys/", None).0, 201);
    let (st, token) = api.call(Method::POST, "apitokens/", Some(json!({ "name": "nbu" })));
    assert!(st == 201 && token["token"].as_str().is_some(), "{token}");

    // Quotas and tenants by id.
    let (st, q) =
        api.call(Method::POST, "quotas/", Some(json!({ "name": "q", "path": "/zbucket", "hard_limit": 1000 })));
    assert_eq!((st, q["used_capacity"].as_u64()), (201, Some(1)));
    let (st, q2) = api.call(Method::PATCH, &format!("quotas/{}/", q["id"]), Some(json!({ "hard_limit": 2000 })));
    assert_eq!((st, q2["hard_limit"].as_u64()), (200, Some(2000)));
    let (st, t) = api.call(Method::POST, "tenants/", Some(json!({ "name": "backup" })));
    assert_eq!(st, 201);
    assert_eq!(api.call(Method::GET, &format!("tenants/{}/", t["id"]), None).1["name"], "backup");

    // A tenant created with an empty QoS is answered as VMS answers it:
    // every static limit there (at its default), matching the schema.
    let (st, tenant) = api.call(Method::POST, "tenants/", Some(json!({ "name": "qos-tenant", "qos": {} })));
    assert_eq!(st, 201, "{tenant}");
    assert!(tenant["qos"]["static_limits"].is_object(), "{tenant}");
    // A bucket's view may sit at a nested path.
    let nested = json!({ "path": "/s3/nested", "policy_id": 1, "protocols": ["S3"], "bucket": "nested-bucket",
                         "bucket_owner": "admin" });
    let (st, view) = api.call(Method::POST, "views/", Some(nested));
    assert_eq!(st, 201, "{view}");
    assert!(sim.data().join("nested-bucket").is_dir());
    // Every list pages when asked to, clusters and versions too.
    for resource in ["clusters", "versions", "views"] {
        let (st, page) = api.call(Method::GET, &format!("{resource}/?page_size=1"), None);
        assert_eq!(st, 200);
        assert!(page["count"].as_u64().is_some() && page["results"].as_array().is_some_and(|r| r.len() == 1), "{page}");
    }
    // Methods an operation lacks are 405; unknown resources 404.
    assert_eq!(api.call(Method::DELETE, "versions/", None).0, 405);
    assert_eq!(api.call(Method::PUT, &format!("users/{}/", user["id"]), Some(json!({ "name": "x" }))).0, 405);
    assert_eq!(api.call(Method::GET, "nonsense/", None).0, 404);

    // Every answer the simulator gave matches VAST's description.
    let mut checked = 0;
    for (op, method, status, body) in api.seen.borrow().iter() {
        if let Some(schema) = openapi::response_schema(op, method, *status) {
            // VAST's file describes lists as arrays; asked with page_size
            // VMS answers a page whose `results` is that array.
            let body =
                if body.get("results").is_some() && body.get("count").is_some() { &body["results"] } else { body };
            let problems = openapi::validate(schema, body);
            assert!(problems.is_empty(), "{method} {op} {status} {body}: {problems:?}");
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked} answers checked");
}

#[test]
fn an_indestructible_snapshot_stays_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(&dir.path().join("s3"), "127.0.0.1:0".parse().unwrap()).unwrap();
    sim.create_bucket("pool").unwrap();
    let api = api(&sim);
    let earlier = "2026-12-01T00:00:00Z";
    let far = "2030-01-01T00:00:00Z";
    let snap = |body: Value| api.call(Method::POST, "snapshots/", Some(body));
    assert_eq!(snap(json!({ "name": "s", "path": "/nowhere" })).0, 400, "a path under no view");
    assert_eq!(snap(json!({ "name": "s", "path": "/pool", "indestructible": true })).0, 400, "needs an expiry");
    let (st, s) = snap(json!({ "name": "s", "path": "/pool", "indestructible": true, "expiration_time": far }));
    assert_eq!(st, 201, "{s}");
    assert_eq!(snap(json!({ "name": "s", "path": "/pool" })).0, 409, "names are unique per path");
    let id = s["id"].as_u64().unwrap();
    let one = format!("snapshots/{id}/");
    assert_eq!(api.call(Method::DELETE, &one, None).0, 409);
    assert_eq!(api.call(Method::PATCH, &one, Some(json!({ "expiration_time": earlier }))).0, 409);
    assert_eq!(api.call(Method::PATCH, &one, Some(json!({ "indestructible": false }))).0, 409);
    assert_eq!(api.call(Method::PATCH, &one, Some(json!({ "expiration_time": "2031-01-01T00:00:00Z" }))).0, 200);
    let (st, listed) = api.call(Method::GET, "snapshots/?path=/pool", None);
    assert_eq!(st, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    // Once the cluster's clock passes its expiry, it can go.
    sim.advance_clock(std::time::Duration::from_secs(6 * 366 * 86_400));
    assert_eq!(api.call(Method::DELETE, &one, None).0, 204);
    assert_eq!(api.call(Method::GET, &one, None).0, 404);
    for (op, method, status, body) in api.seen.borrow().iter() {
        if let Some(schema) = openapi::response_schema(op, method, *status) {
            let problems = openapi::validate(schema, body);
            assert!(problems.is_empty(), "{method} {op} {status} {body}: {problems:?}");
        }
    }
}
