use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{VmsError, VmsErrorKind, detail};
use crate::model::{Cluster, Quota, View};

/// How to authenticate to VMS.
#[derive(Clone)]
pub enum Auth {
    /// HTTP Basic on every request.
    Basic {
        /// User.
        user: String,
        /// Password.
        password: String,
    },
    /// JWT: log in at `token/`, send `Bearer <access>`, renew on expiry.
    Jwt {
        /// User.
        user: String,
        /// Password.
        password: String,
    },
    /// `Api-Token <token>` (VAST 5.3+).
    ApiToken(String),
    /// A TLS client certificate, presented by the HTTP client itself: no
    /// header is sent.
    ClientCertificate,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic { user, .. } => write!(f, "Basic({user}, <redacted>)"),
            Auth::Jwt { user, .. } => write!(f, "Jwt({user}, <redacted>)"),
            Auth::ApiToken(_) => f.write_str("ApiToken(<redacted>)"),
            Auth::ClientCertificate => f.write_str("ClientCertificate"),
        }
    }
}

/// Where a client keeps its JWT tokens for other processes of the host to
/// use, so that a media server running a process per job logs in once per
/// token lifetime, not once per job. The store must be the user's alone.
pub trait TokenCache: Send + Sync + std::fmt::Debug {
    /// The access and refresh tokens kept, if any.
    fn load(&self) -> Option<(String, String)>;
    /// Keeps new tokens.
    fn store(&self, access: &str, refresh: &str);
}

/// Where VMS is and how to talk to it.
#[derive(Debug, Clone)]
pub struct VmsConfig {
    /// `https://<vms-host>[:port]`.
    pub endpoint: String,
    /// API version segment (`v5`, `latest` …), or none.
    pub version: Option<String>,
    /// Tenant scope (`X-Tenant-Name`), or none.
    pub tenant: Option<String>,
    /// Credentials.
    pub auth: Auth,
    /// Retries of a transient failure (502/503/504, connection refused).
    pub retries: u32,
    /// First backoff; doubled at each retry, with jitter.
    pub backoff: Duration,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Tokens shared with the host's other processes (JWT only).
    pub token_cache: Option<std::sync::Arc<dyn TokenCache>>,
}

impl VmsConfig {
    /// A configuration with the defaults: no version segment, no tenant,
    /// 3 retries from 200 ms, 30 s per request.
    pub fn new(endpoint: &str, auth: Auth) -> Self {
        VmsConfig {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            version: None,
            tenant: None,
            auth,
            retries: 3,
            backoff: Duration::from_millis(200),
            timeout: Duration::from_secs(30),
            token_cache: None,
        }
    }
}

#[derive(Debug, Clone)]
struct Tokens {
    access: String,
    refresh: String,
}

/// A VMS client; cheap to share (`Arc`) between threads.
#[derive(Debug)]
pub struct VmsClient {
    http: reqwest::Client,
    base: String,
    cfg: VmsConfig,
    tokens: tokio::sync::Mutex<Option<Tokens>>,
}

impl VmsClient {
    /// A client over `http` (which carries the TLS rules).
    pub fn new(cfg: VmsConfig, http: reqwest::Client) -> Self {
        let base = match &cfg.version {
            Some(v) => format!("{}/api/{v}/", cfg.endpoint),
            None => format!("{}/api/", cfg.endpoint),
        };
        VmsClient { http, base, cfg, tokens: tokio::sync::Mutex::new(None) }
    }

    fn url(&self, resource: &str) -> String {
        format!("{}{}/", self.base, resource.trim_matches('/'))
    }

    fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, url).timeout(self.cfg.timeout).header("Accept", "application/json");
        if let Some(t) = &self.cfg.tenant {
            r = r.header("X-Tenant-Name", t);
        }
        r
    }

    async fn pause(&self, attempt: u32) {
        let base = self.cfg.backoff.saturating_mul(1 << attempt.min(5));
        let jitter = base.mul_f64(fastrand::f64() * 0.5);
        tokio::time::sleep((base + jitter).min(Duration::from_secs(10))).await;
    }

    /// Logs in (JWT) and keeps the tokens.
    async fn login(&self, user: &str, password: &str) -> Result<Tokens, VmsError> {
        let body = json!({ "username": user, "password": password });
        let v = self.call_unauthenticated("token", &body).await?;
        tokens_of(&v).ok_or_else(|| VmsError::new(VmsErrorKind::Other, "POST", "token/", "no access token in answer"))
    }

    /// Renews the tokens: by refresh, else by logging in again.
    async fn renew(&self) -> Result<(), VmsError> {
        let Auth::Jwt { user, password } = &self.cfg.auth else { return Ok(()) };
        let mut slot = self.tokens.lock().await;
        let refreshed = match slot.as_ref() {
            Some(t) => {
                let body = json!({ "refresh": t.refresh });
                self.call_unauthenticated("token/refresh", &body).await.ok().and_then(|v| tokens_of(&v))
            }
            None => None,
        };
        let tokens = match refreshed {
            Some(t) => t,
            None => self.login(user, password).await?,
        };
        if let Some(cache) = &self.cfg.token_cache {
            cache.store(&tokens.access, &tokens.refresh);
        }
        *slot = Some(tokens);
        Ok(())
    }

    async fn call_unauthenticated(&self, resource: &str, body: &Value) -> Result<Value, VmsError> {
        let url = self.url(resource);
        let path = format!("{resource}/");
        let resp = self
            .request(Method::POST, &url)
            .json(body)
            .send()
            .await
            .map_err(|e| VmsError::new(VmsErrorKind::Unavailable, "POST", &path, e.to_string()))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            return serde_json::from_str(&text)
                .map_err(|e| VmsError::new(VmsErrorKind::Other, "POST", &path, e.to_string()));
        }
        let kind = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => VmsErrorKind::Auth,
            s if s.is_server_error() => VmsErrorKind::Unavailable,
            _ => VmsErrorKind::Other,
        };
        Err(VmsError { status: Some(status.as_u16()), ..VmsError::new(kind, "POST", &path, detail(&text)) })
    }

    /// One authenticated call, with the failure policy of this crate.
    async fn call(&self, method: Method, url: &str, path: &str, body: Option<&Value>) -> Result<Value, VmsError> {
        let name = method_name(&method);
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            let mut req = self.request(method.clone(), url);
            if let Some(b) = body {
                req = req.json(b);
            }
            req = match &self.cfg.auth {
                Auth::Basic { user, password } => req.basic_auth(user, Some(password)),
                Auth::ApiToken(token) => req.header("Authorization", format!("Api-Token {token}")),
                Auth::ClientCertificate => req,
                Auth::Jwt { .. } => {
                    let mut slot = self.tokens.lock().await;
                    if slot.is_none()
                        && let Some((access, refresh)) = self.cfg.token_cache.as_ref().and_then(|c| c.load())
                    {
                        // Another process of the host logged in: its tokens
                        // serve (a refused one is renewed below).
                        *slot = Some(Tokens { access, refresh });
                    }
                    let missing = slot.is_none();
                    drop(slot);
                    if missing {
                        self.renew().await?;
                    }
                    let access = self.tokens.lock().await.as_ref().map(|t| t.access.clone()).unwrap_or_default();
                    req.bearer_auth(access)
                }
            };
            let started = std::time::Instant::now();
            let sent = req.send().await;
            count_request(name, path, started.elapsed(), &sent);
            let resp = match sent {
                Ok(r) => r,
                // A connection refused or timed out never reached VMS; one
                // cut mid-way (a VMS failing over) may have, so only reads
                // are sent again then.
                Err(e)
                    if attempt < self.cfg.retries
                        && (e.is_connect() || e.is_timeout() || (method == Method::GET && e.is_request())) =>
                {
                    tracing::warn!(path, error = %e, attempt, "VMS unreachable, retrying");
                    vastost_metrics::global().retry(vastost_metrics::Service::Vms, "unreachable");
                    self.pause(attempt).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(VmsError::new(VmsErrorKind::Unavailable, name, path, e.to_string())),
            };
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            let fail = |kind| {
                Err(VmsError { status: Some(status.as_u16()), ..VmsError::new(kind, name, path, detail(&text)) })
            };
            match status {
                s if s.is_success() => {
                    if text.trim().is_empty() {
                        return Ok(Value::Null);
                    }
                    return serde_json::from_str(&text).map_err(|e| {
                        VmsError::new(VmsErrorKind::Other, name, path, format!("unreadable answer: {e}"))
                    });
                }
                StatusCode::FORBIDDEN if text.contains("permission_denied") => {
                    return fail(VmsErrorKind::PermissionDenied);
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                    if !renewed && matches!(self.cfg.auth, Auth::Jwt { .. }) =>
                {
                    tracing::info!(path, "VMS token refused, renewing");
                    vastost_metrics::global().retry(vastost_metrics::Service::Vms, "token_renewed");
                    renewed = true;
                    self.renew().await?;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return fail(VmsErrorKind::Auth),
                StatusCode::NOT_FOUND => return fail(VmsErrorKind::NotFound),
                StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
                    if attempt < self.cfg.retries =>
                {
                    tracing::warn!(path, status = status.as_u16(), attempt, "VMS unavailable, retrying");
                    vastost_metrics::global().retry(vastost_metrics::Service::Vms, "unavailable");
                    self.pause(attempt).await;
                    attempt += 1;
                }
                s if s.is_server_error() => return fail(VmsErrorKind::Unavailable),
                _ => return fail(VmsErrorKind::Other),
            }
        }
    }

    /// GET a list resource, following pages (`page_size`, `next`).
    pub async fn list<T: DeserializeOwned>(&self, resource: &str, query: &[(&str, &str)]) -> Result<Vec<T>, VmsError> {
        let path = format!("{}/", resource.trim_matches('/'));
        let mut url = reqwest::Url::parse(&self.url(resource))
            .map_err(|e| VmsError::new(VmsErrorKind::Other, "GET", &path, e.to_string()))?;
        url.query_pairs_mut().extend_pairs(query.iter().copied()).append_pair("page_size", "100");
        let mut out = Vec::new();
        let mut next = Some(url.to_string());
        while let Some(u) = next.take() {
            let v = self.call(Method::GET, &u, &path, None).await?;
            let items = match v {
                Value::Array(items) => items,
                Value::Object(mut page) => {
                    next = page.get("next").and_then(Value::as_str).map(str::to_string);
                    match page.remove("results") {
                        Some(Value::Array(items)) => items,
                        _ => return Err(VmsError::new(VmsErrorKind::Other, "GET", &path, "a page without results")),
                    }
                }
                _ => return Err(VmsError::new(VmsErrorKind::Other, "GET", &path, "neither a list nor a page")),
            };
            for item in items {
                out.push(
                    serde_json::from_value(item).map_err(|e| {
                        VmsError::new(VmsErrorKind::Other, "GET", &path, format!("unreadable item: {e}"))
                    })?,
                );
            }
        }
        Ok(out)
    }

    /// POST a JSON body to a resource.
    pub async fn post(&self, resource: &str, body: &Value) -> Result<Value, VmsError> {
        let path = format!("{}/", resource.trim_matches('/'));
        self.call(Method::POST, &self.url(resource), &path, Some(body)).await
    }

    /// DELETE a resource.
    pub async fn delete(&self, resource: &str) -> Result<(), VmsError> {
        let path = format!("{}/", resource.trim_matches('/'));
        self.call(Method::DELETE, &self.url(resource), &path, None).await.map(drop)
    }

    /// The cluster.
    pub async fn cluster(&self) -> Result<Cluster, VmsError> {
        self.list::<Cluster>("clusters", &[])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| VmsError::new(VmsErrorKind::NotFound, "GET", "clusters/", "no cluster"))
    }

    /// The views serving S3 (buckets).
    pub async fn s3_views(&self) -> Result<Vec<View>, VmsError> {
        Ok(self
            .list::<View>("views", &[])
            .await?
            .into_iter()
            .filter(|v| v.protocols.iter().any(|p| p == "S3"))
            .collect())
    }

    /// The view of bucket `bucket`, if any.
    pub async fn bucket_view(&self, bucket: &str) -> Result<Option<View>, VmsError> {
        Ok(self
            .list::<View>("views", &[("bucket", bucket)])
            .await?
            .into_iter()
            .find(|v| v.bucket.as_deref() == Some(bucket)))
    }

    /// The VIP pool `name`, if it exists.
    pub async fn vip_pool(&self, name: &str) -> Result<Option<crate::model::VipPool>, VmsError> {
        Ok(self
            .list::<crate::model::VipPool>("vippools", &[("name", name)])
            .await?
            .into_iter()
            .find(|p| p.name == name))
    }

    /// The quotas on `path`.
    pub async fn quotas(&self, path: &str) -> Result<Vec<Quota>, VmsError> {
        Ok(self.list::<Quota>("quotas", &[("path", path)]).await?.into_iter().filter(|q| q.path == path).collect())
    }
}

fn tokens_of(v: &Value) -> Option<Tokens> {
    Some(Tokens { access: v.get("access")?.as_str()?.to_string(), refresh: v.get("refresh")?.as_str()?.to_string() })
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "REQUEST",
    }
}

/// Counts a VMS request in the metrics as `<METHOD> <resource>/`, ids
/// left out (`GET views/:id/`), so that one name covers every object.
fn count_request(method: &str, path: &str, took: std::time::Duration, sent: &reqwest::Result<reqwest::Response>) {
    let resource: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .map(|part| if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) { ":id" } else { part })
        .collect();
    let outcome = match sent {
        Ok(r) if r.status().is_success() => "2xx",
        Ok(r) if r.status().is_client_error() => "4xx",
        Ok(r) if r.status().is_server_error() => "5xx",
        Ok(_) => "other",
        Err(_) => "error",
    };
    let op = format!("{method} {}/", resource.join("/"));
    vastost_metrics::global().request(vastost_metrics::Service::Vms, &op, took, outcome);
}
