/// What a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmsErrorKind {
    /// Bad credentials, or a token that could not be renewed.
    Auth,
    /// Authenticated, but not allowed (`permission_denied`).
    PermissionDenied,
    /// The resource does not exist.
    NotFound,
    /// VMS is unavailable (still after retries), or unreachable.
    Unavailable,
    /// Anything else VMS refused, or an answer we could not read.
    Other,
}

/// A failed VMS call, with what VMS said.
#[derive(Debug, thiserror::Error)]
#[error("VMS {method} {path}: {message}")]
pub struct VmsError {
    /// What kind of failure.
    pub kind: VmsErrorKind,
    /// HTTP method.
    pub method: &'static str,
    /// Path called (no host, no secrets).
    pub path: String,
    /// VMS's own words (`detail`), or the transport's.
    pub message: String,
    /// HTTP status, when there was an answer.
    pub status: Option<u16>,
}

impl VmsError {
    pub(crate) fn new(kind: VmsErrorKind, method: &'static str, path: &str, message: impl Into<String>) -> Self {
        VmsError { kind, method, path: path.to_string(), message: message.into(), status: None }
    }
}

/// The `detail` of a VMS error body (`{"detail": …}`, `{"code", "detail"}`
/// or a bare JSON string), else the body itself, shortened.
pub(crate) fn detail(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(v) => match v.get("detail") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => v.to_string(),
        },
        Err(_) => body.chars().take(300).collect(),
    }
}
