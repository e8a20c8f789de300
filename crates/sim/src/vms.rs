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
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

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
}

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
    data: PathBuf,
    tokens: Mutex<Tokens>,
    quotas: Mutex<Vec<Value>>,
    users: Mutex<Vec<Value>>,
    tenants: Mutex<Vec<Value>>,
    s3_keys: crate::s3::Keys,
    vips: Vec<std::net::IpAddr>,
    next_id: AtomicU64,
}

impl VmsState {
    pub(crate) fn new(data: &Path, s3_keys: crate::s3::Keys, vips: Vec<std::net::IpAddr>) -> Self {
        VmsState {
            knobs: Arc::new(VmsKnobs::new()),
            data: data.to_path_buf(),
            tokens: Mutex::new(Tokens::default()),
            quotas: Mutex::new(Vec::new()),
            users: Mutex::new(Vec::new()),
            tenants: Mutex::new(vec![json!({ "id": 1, "name": "default", "vippools": [] })]),
            s3_keys,
            vips,
            next_id: AtomicU64::new(100),
        }
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
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
fn authenticate(state: &VmsState, headers: &HeaderMap) -> Result<String, Box<Response>> {
    use base64::Engine;
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(Box::new(detail(StatusCode::UNAUTHORIZED, "Authentication credentials were not provided.")));
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

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_size(&e.path()),
                    Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Buckets (visible folders of the data folder) as S3 views.
fn views(state: &VmsState) -> Vec<Value> {
    let mut names: Vec<String> = std::fs::read_dir(&state.data)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .enumerate()
        .map(|(i, b)| {
            json!({ "id": i + 1, "name": b, "path": format!("/{b}"), "bucket": b, "protocols": ["S3"],
                    "policy_id": 1, "bucket_owner": "admin" })
        })
        .collect()
}

fn quota_view(state: &VmsState, q: &Value) -> Value {
    let mut q = q.clone();
    let path = q["path"].as_str().unwrap_or("/").trim_start_matches('/').to_string();
    let used = dir_size(&state.data.join(path));
    let hard = q["hard_limit"].as_u64().unwrap_or(0);
    q["used_capacity"] = json!(used);
    q["used_effective_capacity"] = json!(used);
    q["percent_capacity"] = json!((used * 100).checked_div(hard).unwrap_or(0));
    q["state"] = json!(if hard > 0 && used >= hard { "HARD_EXCEEDED" } else { "OK" });
    q
}

fn filtered(items: Vec<Value>, query: &HashMap<String, String>) -> Vec<Value> {
    items
        .into_iter()
        .filter(|item| {
            query.iter().filter(|(k, _)| !matches!(k.as_str(), "page" | "page_size")).all(|(k, v)| match &item[k] {
                Value::String(s) => s == v,
                Value::Number(n) => n.to_string() == *v,
                _ => false,
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
    let results: Vec<Value> = items.into_iter().skip((page - 1) * size).take(size).collect();
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let link = |p: usize| {
        let mut pairs: Vec<(String, String)> =
            query.iter().filter(|(k, _)| *k != "page").map(|(k, v)| (k.clone(), v.clone())).collect();
        pairs.push(("page".into(), p.to_string()));
        let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("http://{host}{}?{}", uri.path(), q.join("&"))
    };
    let next = (page * size < count).then(|| link(page + 1));
    let previous = (page > 1).then(|| link(page - 1));
    answer(StatusCode::OK, json!({ "count": count, "next": next, "previous": previous, "results": results }))
}

pub(crate) async fn handle(
    State(state): State<Arc<VmsState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    state.knobs.requests.fetch_add(1, Ordering::SeqCst);
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
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
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
            let user = match authenticate(&state, &headers) {
                Ok(u) => u,
                Err(refusal) => return *refusal,
            };
            if lock(&state.knobs.denied).contains(&user) {
                return answer(
                    StatusCode::FORBIDDEN,
                    json!({ "detail": "You do not have permission to perform this action.", "code": "permission_denied" }),
                );
            }
            resource(&state, method, &uri, &headers, &parts, &query, json_body)
        }
    }
}

fn resource(
    state: &VmsState,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    parts: &[&str],
    query: &HashMap<String, String>,
    body: Value,
) -> Response {
    match (method, parts) {
        (Method::GET, ["clusters"]) => {
            let used = dir_size(&state.data);
            let cluster = json!({
                "id": 1, "name": "vast-sim", "guid": "00000000-5eed-4a57-0000-000000000001",
                "sw_version": "5.3.0-sim", "state": "ONLINE",
                "usable_capacity_bytes": CAPACITY, "free_usable_capacity": CAPACITY.saturating_sub(used),
                "logical_space": CAPACITY, "logical_space_in_use": used,
                "physical_space": CAPACITY, "physical_space_in_use": used, "drr": 1.0,
            });
            list(uri, headers, vec![cluster], query)
        }
        (Method::GET, ["versions"]) => {
            list(uri, headers, vec![json!({ "sys_version": "5.3.0-sim", "status": "success" })], query)
        }
        (Method::GET, ["views"]) => list(uri, headers, views(state), query),
        (Method::GET, ["vippools"]) => {
            let range = match (state.vips.first(), state.vips.last()) {
                (Some(a), Some(b)) => json!([[a.to_string(), b.to_string()]]),
                _ => json!([]),
            };
            let pool = json!({ "id": 1, "name": "protocols", "role": "PROTOCOLS", "enabled": true,
                               "tenant_id": 1, "ip_ranges": range, "subnet_cidr": 8 });
            list(uri, headers, vec![pool], query)
        }
        (Method::POST, ["views"]) => {
            let (Some(path), Some(_policy)) = (body["path"].as_str(), body["policy_id"].as_u64()) else {
                return detail(StatusCode::BAD_REQUEST, "path and policy_id are required");
            };
            let name = path.trim_start_matches('/');
            let bucket = body["bucket"].as_str().unwrap_or(name);
            if name.is_empty() || name.contains('/') || path.ends_with('/') || bucket != name {
                return detail(StatusCode::BAD_REQUEST, "the simulator serves views at /<bucket> only");
            }
            if state.data.join(bucket).exists() {
                return answer(
                    StatusCode::CONFLICT,
                    json!({ "code": "conflict", "detail": format!("view {path} exists") }),
                );
            }
            if let Err(e) = std::fs::create_dir_all(state.data.join(bucket)) {
                return detail(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
            }
            let created = views(state).into_iter().find(|v| v["bucket"] == bucket).unwrap_or(Value::Null);
            answer(StatusCode::CREATED, created)
        }
        (Method::GET, ["viewpolicies"]) => list(
            uri,
            headers,
            vec![
                json!({ "id": 1, "name": "default", "tenant_id": 1 }),
                json!({ "id": 2, "name": "s3_default_policy", "tenant_id": 1 }),
            ],
            query,
        ),
        (Method::GET, ["tenants"]) => list(uri, headers, lock(&state.tenants).clone(), query),
        (Method::POST, ["tenants"]) => {
            let Some(name) = body["name"].as_str() else { return detail(StatusCode::BAD_REQUEST, "name is required") };
            let mut tenants = lock(&state.tenants);
            if tenants.iter().any(|t| t["name"] == name) {
                return answer(
                    StatusCode::CONFLICT,
                    json!({ "code": "conflict", "detail": format!("tenant {name} exists") }),
                );
            }
            let t = json!({ "id": state.id(), "name": name, "vippools": [] });
            tenants.push(t.clone());
            answer(StatusCode::CREATED, t)
        }
        (Method::GET, ["users"]) => list(uri, headers, lock(&state.users).clone(), query),
        (Method::POST, ["users"]) => {
            let Some(name) = body["name"].as_str() else { return detail(StatusCode::BAD_REQUEST, "name is required") };
            let mut users = lock(&state.users);
            if users.iter().any(|u| u["name"] == name) {
                return answer(
                    StatusCode::CONFLICT,
                    json!({ "code": "conflict", "detail": format!("user {name} exists") }),
                );
            }
            let u =
                json!({ "id": state.id(), "name": name, "uid": body["uid"].as_u64().unwrap_or(0), "access_keys": [] });
            users.push(u.clone());
            answer(StatusCode::CREATED, u)
        }
        (Method::POST, ["users", id, "access_keys"]) => {
            let mut users = lock(&state.users);
            let wanted: Option<u64> = id.parse().ok();
            let Some(user) = users.iter_mut().find(|u| u["id"].as_u64().is_some() && u["id"].as_u64() == wanted) else {
                return detail(StatusCode::NOT_FOUND, "Not found.");
            };
            let access_key = format!("AK{:018X}", fastrand::u128(..) & 0x00FF_FFFF_FFFF_FFFF_FFFF);
            let secret_key = format!("{:040x}", fastrand::u128(..));
            if let Some(keys) = user["access_keys"].as_array_mut() {
                keys.push(json!({ "key": access_key, "enabled": true }));
            }
            lock(&state.s3_keys).insert(access_key.clone(), secret_key.clone());
            answer(StatusCode::OK, json!({ "access_key": access_key, "secret_key": secret_key }))
        }
        (Method::GET, ["quotas"]) => {
            let quotas: Vec<Value> = lock(&state.quotas).iter().map(|q| quota_view(state, q)).collect();
            list(uri, headers, quotas, query)
        }
        (Method::POST, ["quotas"]) => {
            let (Some(name), Some(path)) = (body["name"].as_str(), body["path"].as_str()) else {
                return detail(StatusCode::BAD_REQUEST, "name and path are required");
            };
            let mut quotas = lock(&state.quotas);
            if quotas.iter().any(|q| q["path"] == path) {
                return answer(
                    StatusCode::CONFLICT,
                    json!({ "code": "conflict", "detail": format!("a quota exists on {path}") }),
                );
            }
            let q = json!({ "id": state.next_id.fetch_add(1, Ordering::SeqCst), "name": name, "path": path,
                            "hard_limit": body["hard_limit"].as_u64().unwrap_or(0),
                            "soft_limit": body["soft_limit"].as_u64().unwrap_or(0) });
            quotas.push(q.clone());
            drop(quotas);
            answer(StatusCode::CREATED, quota_view(state, &q))
        }
        _ => detail(StatusCode::NOT_FOUND, "Not found."),
    }
}
