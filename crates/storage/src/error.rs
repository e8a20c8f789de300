use std::error::Error as StdError;
use std::fmt;

use crate::s3::said::S3Said;

/// What a caller can act on when a storage call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The object or folder does not exist.
    NotFound,
    /// The bucket itself does not exist (S3 `NoSuchBucket`): not an object
    /// missing, which callers often take as "nothing there", but the whole
    /// store gone.
    NoSuchBucket,
    /// `put_new` found an object already there.
    AlreadyExists,
    /// The storage refused access (file mode, bucket policy, credentials).
    PermissionDenied,
    /// The filesystem, bucket or quota is full.
    NoSpace,
    /// A fault that may go away if the call is made again (throttling,
    /// connection trouble).
    Temporary,
    /// The call itself was wrong (bad configuration, bad key).
    Invalid,
    /// The endpoint's TLS certificate was refused (unknown issuer, wrong
    /// name, expired): not retried.
    Tls,
    /// The server does not implement the call.
    Unsupported,
    /// A lock was refused as shorter than the bucket's minimum retention.
    LockTooShort,
    /// A lock was refused as longer than the bucket's maximum retention.
    LockTooLong,
    /// Anything else: an I/O error, an unexpected answer.
    Other,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::NoSuchBucket => "no such bucket",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::NoSpace => "no space left",
            ErrorKind::Temporary => "temporary failure",
            ErrorKind::Invalid => "invalid request",
            ErrorKind::Tls => "TLS certificate refused",
            ErrorKind::Unsupported => "not implemented by the server",
            ErrorKind::LockTooShort => "lock shorter than the bucket's minimum retention",
            ErrorKind::LockTooLong => "lock longer than the bucket's maximum retention",
            ErrorKind::Other => "storage error",
        };
        f.write_str(s)
    }
}

/// A failed storage call, with the operation and key it concerned.
#[derive(Debug, thiserror::Error)]
#[error("{op}{}: {kind}: {message}", quoted(.key))]
pub struct StorageError {
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// The operation (`put`, `get`, `list` ...).
    pub op: &'static str,
    /// The key or prefix concerned.
    pub key: String,
    message: String,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync>>,
}

/// ` 'key'`, or nothing for a call on no key (a bucket check).
fn quoted(key: &str) -> String {
    if key.is_empty() { String::new() } else { format!(" '{key}'") }
}

/// Result of a storage call.
pub type Result<T> = std::result::Result<T, StorageError>;

impl StorageError {
    pub(crate) fn new(kind: ErrorKind, op: &'static str, key: &str, message: impl Into<String>) -> Self {
        StorageError { kind, op, key: key.to_string(), message: message.into(), source: None }
    }

    pub(crate) fn from_io(op: &'static str, key: &str, err: std::io::Error) -> Self {
        let kind = io_kind(&err);
        StorageError { kind, op, key: key.to_string(), message: err.to_string(), source: Some(Box::new(err)) }
    }

    /// Translates an OpenDAL error, the one place where its kinds meet ours.
    pub(crate) fn from_opendal(op: &'static str, key: &str, err: opendal::Error) -> Self {
        use opendal::ErrorKind as K;
        let mut kind = match err.kind() {
            K::NotFound => ErrorKind::NotFound,
            K::AlreadyExists | K::ConditionNotMatch => ErrorKind::AlreadyExists,
            K::PermissionDenied => ErrorKind::PermissionDenied,
            K::RateLimited => ErrorKind::Temporary,
            K::ConfigInvalid | K::IsADirectory | K::NotADirectory | K::RangeNotSatisfied => ErrorKind::Invalid,
            // "Persistent" is OpenDAL's word for a temporary failure that
            // its retries did not get past: still temporary to a caller.
            _ if err.is_temporary() || err.is_persistent() => ErrorKind::Temporary,
            _ => ErrorKind::Other,
        };
        // What an S3 server answered, in one line; otherwise OpenDAL's own
        // message, without its context dump (kept in the source).
        let said = S3Said::read(err.message(), &err.to_string());
        // The S3 error code is the server's own classification: it wins
        // over the status's (OpenDAL files NoSuchBucket under "config
        // invalid", NotImplemented under "unexpected").
        if let Some(by_code) = said.as_ref().and_then(|s| s.code.as_deref()).and_then(kind_of_code) {
            kind = by_code;
        }
        let mut message = match &said {
            Some(said) => said.line(),
            None if err.message().is_empty() => err.kind().to_string(),
            None => err.message().to_string(),
        };
        // OpenDAL reports most filesystem failures as "unexpected" with the
        // io::Error as source, and HTTP failures with the client's error as
        // source: look for the cause a user needs to see.
        let mut causes: Vec<String> = Vec::new();
        let mut cause: Option<&(dyn StdError + 'static)> = err.source();
        while let Some(c) = cause {
            if kind == ErrorKind::Other
                && let Some(io) = c.downcast_ref::<std::io::Error>()
            {
                kind = io_kind(io);
            }
            // A connection refused, cut or timed out is temporary by its
            // cause, whatever status the layers above gave it.
            if kind == ErrorKind::Other
                && let Some(http) = c.downcast_ref::<reqwest::Error>()
                && (http.is_connect() || http.is_timeout())
            {
                kind = ErrorKind::Temporary;
            }
            if refused_certificate(c) {
                kind = ErrorKind::Tls;
            }
            causes.push(c.to_string());
            cause = c.source();
        }
        if let Some(root) = causes.last().filter(|c| said.is_none() && !message.contains(c.as_str())) {
            message = format!("{message}: {root}");
        }
        StorageError { kind, op, key: key.to_string(), message, source: Some(Box::new(err)) }
    }
}

/// What an S3 answer that is not a success means to a caller, whichever
/// client got it: its error code where the code decides (see
/// [`kind_of_code`]), else its status.
pub(crate) fn kind_of_answer(status: u16, code: Option<&str>) -> ErrorKind {
    if let Some(kind) = code.and_then(kind_of_code) {
        return kind;
    }
    match status {
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        // Only conditional requests (If-None-Match) are answered so.
        412 => ErrorKind::AlreadyExists,
        // What the server does not implement is not ours to fix.
        501 => ErrorKind::Unsupported,
        429 | 500..=599 => ErrorKind::Temporary,
        _ => ErrorKind::Other,
    }
}

/// What an S3 error code means to a caller, for the codes whose meaning
/// does not depend on the call; `None` leaves the status's.
fn kind_of_code(code: &str) -> Option<ErrorKind> {
    Some(match code {
        "NoSuchBucket" => ErrorKind::NoSuchBucket,
        "NoSuchKey" | "NoSuchUpload" | "NoSuchVersion" => ErrorKind::NotFound,
        "NotImplemented" => ErrorKind::Unsupported,
        "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccountProblem" | "AllAccessDisabled" => {
            ErrorKind::PermissionDenied
        }
        "SlowDown" | "ServiceUnavailable" | "InternalError" | "RequestTimeout" | "BadDigest" => ErrorKind::Temporary,
        "InvalidBucketName" | "KeyTooLongError" | "InvalidDigest" | "MalformedXML" => ErrorKind::Invalid,
        _ => return None,
    })
}

/// Whether `cause` is TLS refusing the server's certificate (unknown
/// issuer, wrong name, expired): rustls's error, which the HTTP client
/// carries inside `io::Error`s (whose `source` skips what they wrap).
fn refused_certificate(cause: &(dyn StdError + 'static)) -> bool {
    let mut at = Some(cause);
    while let Some(e) = at {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::UnsupportedNameType
                    | rustls::Error::InvalidCertRevocationList(_)
            );
        }
        at = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn StdError + 'static));
    }
    false
}

fn io_kind(err: &std::io::Error) -> ErrorKind {
    use std::io::ErrorKind as K;
    match err.kind() {
        K::NotFound => ErrorKind::NotFound,
        K::AlreadyExists => ErrorKind::AlreadyExists,
        K::PermissionDenied | K::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
        K::StorageFull | K::QuotaExceeded | K::FileTooLarge => ErrorKind::NoSpace,
        K::TimedOut
        | K::Interrupted
        | K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::BrokenPipe
        | K::StaleNetworkFileHandle => ErrorKind::Temporary,
        K::InvalidInput | K::InvalidFilename => ErrorKind::Invalid,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_decides_the_kind_where_it_means_one_thing() {
        assert_eq!(kind_of_code("NoSuchBucket"), Some(ErrorKind::NoSuchBucket));
        assert_eq!(kind_of_code("NoSuchKey"), Some(ErrorKind::NotFound));
        assert_eq!(kind_of_code("NotImplemented"), Some(ErrorKind::Unsupported));
        assert_eq!(kind_of_code("SlowDown"), Some(ErrorKind::Temporary));
        assert_eq!(kind_of_code("SignatureDoesNotMatch"), Some(ErrorKind::PermissionDenied));
        assert_eq!(kind_of_code("SomethingNew"), None);
    }

    #[test]
    fn both_clients_read_an_answer_alike_the_code_first() {
        // What the raw client (locks, versions, uploads) and OpenDAL's
        // path make of the same answer.
        assert_eq!(kind_of_answer(404, Some("NoSuchBucket")), ErrorKind::NoSuchBucket);
        assert_eq!(kind_of_answer(400, Some("BadDigest")), ErrorKind::Temporary, "damaged in transit: sent again");
        assert_eq!(kind_of_answer(400, Some("MalformedXML")), ErrorKind::Invalid);
        assert_eq!(kind_of_answer(403, Some("SomethingNew")), ErrorKind::PermissionDenied, "the status, then");
        assert_eq!(kind_of_answer(503, None), ErrorKind::Temporary);
        assert_eq!(kind_of_answer(412, None), ErrorKind::AlreadyExists);
        assert_eq!(kind_of_answer(418, None), ErrorKind::Other);
    }
}
