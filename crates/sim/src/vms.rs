//! The simulator's VMS REST API: the subset the plugin uses, with VAST's
//! paths, fields, status codes and authentication behaviour.
//!
//! - `/api/[<version>/]<resource>[/<id>]/`, trailing slash optional, version
//!   segments none, `v1`…`v5`, `latest`;
//! - Basic, JWT (`token/`, `token/refresh/`; an expired or unknown bearer
//!   gets 403 "Token is invalid or expired") and `Api-Token`;
//! - lists are bare arrays, or pages (`count`, `next`, `previous`,
//!   `results`) when `page_size` is given;
//! - `clusters`, `views` (each bucket folder is an S3 view), `quotas`
//!   (used capacity is what the bucket holds);
//! - knobs for tests: token lifetime, users denied (`permission_denied`),
//!   a number of 503 answers to give (failover).

use std::collections::HashMap;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::s3::objects::Objects;
use crate::vms_store::{self, Db, Refusal};

/// The simulated cluster's usable capacity: 100 TiB.
pub const CAPACITY: u64 = 100 << 40;

/// Test knobs and accounts of the simulated VMS.
#[derive(Debug)]
pub struct VmsKnobs {
    users: Mutex<HashMap<String, String>>,
    denied: Mutex<Vec<String>>,
    api_tokens: Mutex<Vec<String>>,
    token_lifetime_ms: AtomicU64,
    unavailable: AtomicU32,
    requests: AtomicU64,
    received: Mutex<Vec<(String, String, Value)>>,
    /// Client certificates (DER) trusted to log in, and as whom.
    client_certs: Mutex<HashMap<Vec<u8>, String>>,
}

/// The user a connection's verified client certificate logs in, if any.
#[derive(Debug, Clone)]
pub(crate) struct ClientIdentity(pub Option<String>);

impl VmsKnobs {
    fn new() -> Self {
        let users = HashMap::from([("admin".to_string(), "123456".to_string())]);
        VmsKnobs {
            users: Mutex::new(users),
            denied: Mutex::new(Vec::new()),
            api_tokens: Mutex::new(Vec::new()),
            token_lifetime_ms: AtomicU64::new(3_600_000),
            unavailable: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            received: Mutex::new(Vec::new()),
            client_certs: Mutex::new(HashMap::new()),
        }
    }

    /// Adds a user (VMS's default account `admin` / `123456` exists).
    pub fn add_user(&self, user: &str, password: &str) {
        lock(&self.users).insert(user.to_string(), password.to_string());
    }

    /// Makes every call of `user` (but logging in) a `permission_denied`.
    pub fn deny(&self, user: &str) {
        lock(&self.denied).push(user.to_string());
    }

    /// Logs in as `user` a client presenting certificate `cert_pem` (over
    /// HTTPS with a client CA, see `SimTls::client_ca_pem`).
    pub fn trust_client_certificate(&self, cert_pem: &[u8], user: &str) {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        for cert in CertificateDer::pem_slice_iter(cert_pem).flatten() {
            lock(&self.client_certs).insert(cert.to_vec(), user.to_string());
        }
    }

    pub(crate) fn certificate_user(&self, der: &[u8]) -> Option<String> {
        lock(&self.client_certs).get(der).cloned()
    }

    /// Accepts `Authorization: Api-Token <token>`.
    pub fn add_api_token(&self, token: &str) {
        lock(&self.api_tokens).push(token.to_string());
    }

    /// Lifetime of access tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.token_lifetime_ms.store(lifetime.as_millis() as u64, Ordering::SeqCst);
    }

    /// The next `n` requests get 503, as during a VMS failover.
    pub fn fail_next(&self, n: u32) {
        self.unavailable.store(n, Ordering::SeqCst);
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Every JSON request body received so far, with its method and its
    /// operation as VAST's OpenAPI file names it (`/views/{id}/`).
    pub fn received(&self) -> Vec<(String, String, Value)> {
        lock(&self.received).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Default)]
struct Tokens {
    access: HashMap<String, (String, Instant)>,
    refresh: HashMap<String, String>,
}

pub(crate) struct VmsState {
    pub knobs: Arc<VmsKnobs>,
    objects: Arc<Objects>,
    tokens: Mutex<Tokens>,
    db: Mutex<Db>,
    s3_keys: crate::s3::auth::Keys,
}

impl VmsState {
    pub(crate) fn new(objects: Arc<Objects>, s3_keys: crate::s3::auth::Keys, vips: Vec<std::net::IpAddr>) -> Self {
        VmsState {
            knobs: Arc::new(VmsKnobs::new()),
            objects,
            tokens: Mutex::new(Tokens::default()),
            db: Mutex::new(Db::new(&vips)),
            s3_keys,
        }
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn detail(status: StatusCode, text: &str) -> Response {
    answer(status, json!({ "detail": text }))
}

fn issue_tokens(state: &VmsState, user: &str) -> Value {
    let access = format!("{:032x}", fastrand::u128(..));
    let refresh = format!("{:032x}", fastrand::u128(..));
    let lifetime = Duration::from_millis(state.knobs.token_lifetime_ms.load(Ordering::SeqCst));
    let mut t = lock(&state.tokens);
    t.access.insert(access.clone(), (user.to_string(), Instant::now() + lifetime));
    t.refresh.insert(refresh.clone(), user.to_string());
    json!({ "access": access, "refresh": refresh })
}

/// Who is calling, or the answer refusing them.
fn authenticate(state: &VmsState, headers: &HeaderMap, who: Option<&str>) -> Result<String, Box<Response>> {
    use base64::Engine;
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        // No header: a verified client certificate logs the caller in.
        return match who {
            Some(user) => Ok(user.to_string()),
            None => Err(Box::new(detail(StatusCode::UNAUTHORIZED, "Authentication credentials were not provided."))),
        };
    };
    if let Some(b64) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_default();
        let text = String::from_utf8(decoded).unwrap_or_default();
        if let Some((user, password)) = text.split_once(':')
            && lock(&state.knobs.users).get(user).is_some_and(|p| p == password)
        {
            return Ok(user.to_string());
        }
        return Err(Box::new(detail(StatusCode::UNAUTHORIZED, "Invalid username/password.")));
    }
    if let Some(token) = value.strip_prefix("Bearer ") {
        return match lock(&state.tokens).access.get(token) {
            Some((user, expiry)) if Instant::now() < *expiry => Ok(user.clone()),
            _ => Err(Box::new(answer(
                StatusCode::FORBIDDEN,
                json!({ "detail": "Token is invalid or expired", "code": "token_not_valid" }),
            ))),
        };
    }
    if let Some(token) = value.strip_prefix("Api-Token ")
        && lock(&state.knobs.api_tokens).iter().any(|t| t == token)
    {
        return Ok("api-token".to_string());
    }
    Err(Box::new(detail(StatusCode::UNAUTHORIZED, "Invalid authorization header.")))
}

fn quota_view(state: &VmsState, q: &Value) -> Value {
    let mut q = q.clone();
    // What the bucket at the quota's path holds (the simulator keeps no
    // data for other paths).
    let path = q["path"].as_str().unwrap_or("/").trim_start_matches('/').to_string();
    let used = if path.contains('/') { 0 } else { state.objects.usage(&path) };
    let hard = q["hard_limit"].as_u64().unwrap_or(0);
    q["used_capacity"] = json!(used);
    q["used_effective_capacity"] = json!(used);
    q["percent_capacity"] = json!((used * 100).checked_div(hard).unwrap_or(0));
    q["state"] = json!(if hard > 0 && used >= hard { "HARD_EXCEEDED" } else { "OK" });
    q
}

/// Django-style filters, as VMS takes them: `field=value`, and the
/// suffixes `__contains`, `__icontains`, `__startswith`, `__in` (comma
/// separated); `page`, `page_size` and `fields` are not filters.
fn filtered(items: Vec<Value>, query: &HashMap<String, String>) -> Vec<Value> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    items
        .into_iter()
        .filter(|item| {
            query.iter().filter(|(k, _)| !matches!(k.as_str(), "page" | "page_size" | "fields")).all(|(k, want)| {
                let (field, op) = k.split_once("__").unwrap_or((k, "exact"));
                let Some(have) = text(&item[field]) else { return false };
                match op {
                    "contains" => have.contains(want.as_str()),
                    "icontains" => have.to_lowercase().contains(&want.to_lowercase()),
                    "startswith" => have.starts_with(want.as_str()),
                    "in" => want.split(',').any(|w| w == have),
                    _ => have == *want,
                }
            })
        })
        .collect()
}

/// A bare array, or a page when `page_size` is given.
fn list(uri: &Uri, headers: &HeaderMap, items: Vec<Value>, query: &HashMap<String, String>) -> Response {
    let items = filtered(items, query);
    let Some(size) = query.get("page_size").and_then(|s| s.parse::<usize>().ok()).filter(|s| *s > 0) else {
        return answer(StatusCode::OK, Value::Array(items));
    };
    let page = query.get("page").and_then(|s| s.parse::<usize>().ok()).unwrap_or(1).max(1);
    let count = items.len();
    let results: Vec<Value> = items.into_iter().skip((page - 1).saturating_mul(size)).take(size).collect();
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let link = |p: usize| {
        let mut pairs: Vec<(String, String)> =
            query.iter().filter(|(k, _)| *k != "page").map(|(k, v)| (k.clone(), v.clone())).collect();
        pairs.push(("page".into(), p.to_string()));
        let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("http://{host}{}?{}", uri.path(), q.join("&"))
    };
    let next = (page.saturating_mul(size) < count).then(|| link(page + 1));
    let previous = (page > 1).then(|| link(page - 1));
    answer(StatusCode::OK, json!({ "count": count, "next": next, "previous": previous, "results": results }))
}

pub(crate) async fn handle(
    State(state): State<Arc<VmsState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    identity: Option<axum::Extension<ClientIdentity>>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    state.knobs.requests.fetch_add(1, Ordering::SeqCst);
    let who = identity.and_then(|axum::Extension(ClientIdentity(who))| who);
    let Some(rest) = uri.path().strip_prefix("/api/") else {
        return detail(StatusCode::NOT_FOUND, "Not found.");
    };
    let mut parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if parts
        .first()
        .is_some_and(|v| *v == "latest" || (v.len() == 2 && v.starts_with('v') && ("1"..="5").contains(&&v[1..])))
    {
        parts.remove(0);
    }
    if state.knobs.unavailable.load(Ordering::SeqCst) > 0 {
        state.knobs.unavailable.fetch_sub(1, Ordering::SeqCst);
        return detail(StatusCode::SERVICE_UNAVAILABLE, "VMS is not available (failover in progress)");
    }
    let json_body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) if body.iter().all(u8::is_ascii_whitespace) => Value::Null,
        Err(e) => return detail(StatusCode::BAD_REQUEST, &format!("JSON parse error - {e}")),
    };
    if !json_body.is_null() {
        lock(&state.knobs.received).push((method.to_string(), crate::openapi::template(&parts), json_body.clone()));
    }
    match (method.clone(), parts.as_slice()) {
        (Method::POST, ["token"]) => {
            let user = json_body["username"].as_str().unwrap_or_default();
            let password = json_body["password"].as_str().unwrap_or_default();
            if lock(&state.knobs.users).get(user).is_some_and(|p| p == password) {
                answer(StatusCode::OK, issue_tokens(&state, user))
            } else {
                detail(StatusCode::UNAUTHORIZED, "No active account found with the given credentials")
            }
        }
        (Method::POST, ["token", "refresh"]) => {
            let refresh = json_body["refresh"].as_str().unwrap_or_default();
            let user = lock(&state.tokens).refresh.remove(refresh);
            match user {
                Some(user) => answer(StatusCode::OK, issue_tokens(&state, &user)),
                None => answer(
                    StatusCode::UNAUTHORIZED,
                    json!({ "detail": "Token is invalid or expired", "code": "token_not_valid" }),
                ),
            }
        }
        _ => {
            let user = match authenticate(&state, &headers, who.as_deref()) {
                Ok(u) => u,
                Err(refusal) => return *refusal,
            };
            if lock(&state.knobs.denied).contains(&user) {
                return answer(
                    StatusCode::FORBIDDEN,
                    json!({ "detail": "You do not have permission to perform this action.", "code": "permission_denied" }),
                );
            }
            resource(&state, &user, method, &uri, &headers, &parts, &query, json_body)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn resource(
    state: &VmsState,
    caller: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    parts: &[&str],
    query: &HashMap<String, String>,
    body: Value,
) -> Response {
    let template = crate::openapi::template(parts);
    if !crate::openapi::has_operation(&template, method.as_str()) {
        return if crate::openapi::has_path(&template) {
            detail(StatusCode::METHOD_NOT_ALLOWED, &format!("Method \"{method}\" not allowed."))
        } else {
            detail(StatusCode::NOT_FOUND, "Not found.")
        };
    }
    // A body is checked against VAST's schema of the operation. No body is
    // an empty one: refused only when fields are required.
    let body = if body.is_null() { json!({}) } else { body };
    if let Some(schema) = crate::openapi::request_schema(&template, method.as_str()) {
        if !body.is_object() {
            return detail(StatusCode::BAD_REQUEST, "the request body must be a JSON object");
        }
        let problems = crate::openapi::validate(schema, &body);
        if !problems.is_empty() {
            return detail(StatusCode::BAD_REQUEST, &problems.join("; "));
        }
    }
    let mut db = lock(&state.db);
    db.sync_buckets(&state.objects);
    let id: Option<u64> = parts.get(1).and_then(|p| p.parse().ok());
    let result: Result<(StatusCode, Value), Refusal> = match (method.clone(), parts) {
        (Method::GET, ["clusters"]) => {
            let used = state.objects.total_usage();
            let clusters = json!([{
                "id": 1, "name": "vast-sim", "guid": "00000000-5eed-4a57-0000-000000000001",
                "sw_version": "5.3.0-sim", "state": "ONLINE",
                "usable_capacity_bytes": CAPACITY, "free_usable_capacity": CAPACITY.saturating_sub(used),
                "logical_space": CAPACITY, "logical_space_in_use": used,
                "physical_space": CAPACITY, "physical_space_in_use": used, "drr": 1.0,
            }]);
            drop(db);
            // A page when asked for one, as for every list.
            return list(uri, headers, clusters.as_array().cloned().unwrap_or_default(), query);
        }
        (Method::GET, ["versions"]) => {
            drop(db);
            let versions = vec![json!({ "id": 1, "sys_version": "5.3.0-sim", "status": "success" })];
            return list(uri, headers, versions, query);
        }
        (Method::GET, [table]) if vms_store::TABLES.contains(table) => {
            let mut items: Vec<Value> = db.table(table).values().cloned().collect();
            if *table == "quotas" {
                items = items.iter().map(|q| quota_view(state, q)).collect();
            }
            if *table == "apitokens" {
                // VMS names API tokens by string ids, and never shows them again.
                for t in &mut items {
                    t["id"] = json!(t["id"].to_string());
                    if let Some(o) = t.as_object_mut() {
                        o.remove("token");
                    }
                }
            }
            drop(db);
            return list(uri, headers, items, query);
        }
        (Method::GET, [table, _]) if vms_store::TABLES.contains(table) => match db.table(table).get(&id.unwrap_or(0)) {
            Some(r) if *table == "quotas" => Ok((StatusCode::OK, quota_view(state, r))),
            Some(r) => Ok((StatusCode::OK, r.clone())),
            None => Err(vms_store::not_found()),
        },
        (Method::POST, ["views"]) => {
            vms_store::create_view(&mut db, &state.objects, body).map(|v| (StatusCode::CREATED, v))
        }
        (Method::DELETE, ["views", _]) => vms_store::delete_view(&mut db, &state.objects, id.unwrap_or(0))
            .map(|()| (StatusCode::NO_CONTENT, Value::Null)),
        (Method::POST, ["snapshots"]) => {
            crate::vms_snapshots::create(&mut db, body, state.objects.clock.now()).map(|s| (StatusCode::CREATED, s))
        }
        (Method::DELETE, ["snapshots", _]) => {
            crate::vms_snapshots::delete(&mut db, id.unwrap_or(0), state.objects.clock.now())
                .map(|()| (StatusCode::NO_CONTENT, Value::Null))
        }
        (Method::PATCH, ["snapshots", _]) => {
            crate::vms_snapshots::patch(&mut db, id.unwrap_or(0), &body, state.objects.clock.now())
                .map(|s| (StatusCode::OK, s))
        }
        (Method::POST, ["quotas"]) => {
            let path = body["path"].as_str().unwrap_or_default().to_string();
            match vms_store::check_path(&path) {
                Err(e) => Err(e),
                Ok(()) if db.table("quotas").values().any(|q| q["path"] == path.as_str()) => {
                    Err((StatusCode::CONFLICT, format!("a quota exists on {path}")))
                }
                Ok(()) => {
                    let mut q = body.clone();
                    for k in ["hard_limit", "soft_limit"] {
                        if q.get(k).is_none() {
                            q[k] = json!(0);
                        }
                    }
                    let q = db.insert("quotas", q);
                    Ok((StatusCode::CREATED, quota_view(state, &q)))
                }
            }
        }
        (Method::POST, ["tenants"]) => {
            let mut t = body.clone();
            t["vippools"] = json!([]);
            if t.get("local_provider_id").is_none() {
                t["local_provider_id"] = json!(1);
            }
            if let Some(schema) = crate::openapi::response_schema("/tenants/", "POST", 201) {
                crate::openapi::complete(schema, &mut t);
            }
            db.insert_named("tenants", t).map(|t| (StatusCode::CREATED, t))
        }
        (Method::POST, ["localproviders"]) => {
            db.insert_named("localproviders", body.clone()).map(|p| (StatusCode::CREATED, p))
        }
        (Method::POST, ["users"]) => {
            vms_store::user_record(&db, body.clone()).map(|u| (StatusCode::CREATED, db.insert("users", u)))
        }
        (Method::POST, ["users", _, "access_keys"]) => {
            let keys = &state.s3_keys;
            match db.table_mut("users").get_mut(&id.unwrap_or(0)) {
                None => Err(vms_store::not_found()),
                Some(user) => {
                    let (access_key, secret_key) = new_key_pair();
                    if let Some(list) = user["access_keys"].as_array_mut() {
                        list.push(json!({ "access_key": access_key, "enabled": true, "tenant_id": 1,
                                          "creation_time": "2026-01-01T00:00:00Z" }));
                    }
                    lock(keys).insert(access_key.clone(), secret_key.clone());
                    Ok((StatusCode::OK, json!({ "access_key": access_key, "secret_key": secret_key })))
                }
            }
        }
        (Method::DELETE | Method::PATCH, ["users", _, "access_keys"]) => {
            let key = body["access_key"].as_str().unwrap_or_default().to_string();
            let enable = method == Method::PATCH && body["enabled"].as_bool().unwrap_or(true);
            match db.table_mut("users").get_mut(&id.unwrap_or(0)) {
                None => Err(vms_store::not_found()),
                Some(user) => match user["access_keys"].as_array_mut() {
                    Some(list) if list.iter().any(|k| k["access_key"] == key.as_str()) => {
                        if method == Method::DELETE {
                            list.retain(|k| k["access_key"] != key.as_str());
                        } else {
                            list.iter_mut()
                                .filter(|k| k["access_key"] == key.as_str())
                                .for_each(|k| k["enabled"] = json!(enable));
                        }
                        toggle_key(state, &key, method == Method::PATCH && enable);
                        Ok((StatusCode::NO_CONTENT, Value::Null))
                    }
                    _ => Err((StatusCode::NOT_FOUND, format!("user {} has no access key {key}", id.unwrap_or(0)))),
                },
            }
        }
        (Method::POST, ["s3keys"]) => {
            let (access_key, secret_key) = new_key_pair();
            lock(&state.s3_keys).insert(access_key.clone(), secret_key.clone());
            Ok((StatusCode::CREATED, json!({ "access_key": access_key, "secret_key": secret_key })))
        }
        (Method::GET, ["s3keys"]) => Ok((StatusCode::OK, json!({}))),
        (Method::POST, ["apitokens"]) => {
            let token = format!("{:032x}", fastrand::u128(..));
            state.knobs.add_api_token(&token);
            let owner = body["owner"].as_str().unwrap_or(caller).to_string();
            let name = body["name"].as_str().map_or_else(|| format!("{owner}_api_token"), str::to_string);
            let record = db.insert(
                "apitokens",
                json!({ "name": name, "owner": owner, "revoked": false,
                                                         "created": "2026-01-01T00:00:00Z", "token": token }),
            );
            Ok((StatusCode::CREATED, json!({ "id": record["id"].to_string(), "token": token })))
        }
        (Method::PATCH | Method::PUT, [table, _]) if vms_store::TABLES.contains(table) => {
            match db.table_mut(table).get_mut(&id.unwrap_or(0)) {
                None => Err(vms_store::not_found()),
                Some(record) => {
                    if *table == "views" && body.get("bucket").is_some_and(|b| *b != record["bucket"]) {
                        Err((StatusCode::BAD_REQUEST, "the bucket of a view cannot change".into()))
                    } else if body
                        .get("path")
                        .and_then(Value::as_str)
                        .is_some_and(|p| vms_store::check_path(p).is_err())
                    {
                        Err((StatusCode::BAD_REQUEST, "invalid path".into()))
                    } else {
                        vms_store::patch(record, body.as_object().unwrap_or(&serde_json::Map::new()));
                        let r = record.clone();
                        Ok((StatusCode::OK, if *table == "quotas" { quota_view(state, &r) } else { r }))
                    }
                }
            }
        }
        (Method::DELETE, [table, _]) if vms_store::TABLES.contains(table) => {
            let id = id.unwrap_or(0);
            match db.table_mut(table).remove(&id) {
                None => Err(vms_store::not_found()),
                Some(removed) => {
                    if *table == "users" {
                        for k in removed["access_keys"].as_array().into_iter().flatten() {
                            toggle_key(state, k["access_key"].as_str().unwrap_or_default(), false);
                        }
                    }
                    Ok((StatusCode::NO_CONTENT, Value::Null))
                }
            }
        }
        _ => Err((StatusCode::METHOD_NOT_ALLOWED, format!("Method \"{method}\" not allowed."))),
    };
    match result {
        Ok((StatusCode::NO_CONTENT, _)) => StatusCode::NO_CONTENT.into_response(),
        Ok((status, value)) => answer(status, value),
        Err((status, text)) => detail(status, &text),
    }
}

fn new_key_pair() -> (String, String) {
    let access_key = format!("AK{:018X}", fastrand::u128(..) & 0x00FF_FFFF_FFFF_FFFF_FFFF);
    (access_key, format!("{:040x}", fastrand::u128(..)))
}

/// Disabled or deleted keys no longer sign S3 requests; enabled ones do
/// again (their secret is kept aside while disabled).
fn toggle_key(state: &VmsState, key: &str, enable: bool) {
    let mut keys = lock(&state.s3_keys);
    let parked = format!("disabled:{key}");
    if enable {
        if let Some(secret) = keys.remove(&parked) {
            keys.insert(key.to_string(), secret);
        }
    } else if let Some(secret) = keys.remove(key) {
        keys.insert(parked, secret);
    }
}
