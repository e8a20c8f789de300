//! A failed call ([`Failure`]: the status to return and the message for
//! the administrator) and the one table from engine errors to OST status
//! codes.

use vastost_engine::{EngineError, ErrorKind};

use crate::ost::sts_status;

/// A failed call: the status to return and what to tell the administrator.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: sts_status,
    pub message: String,
}

impl Failure {
    pub(crate) fn new(status: sts_status, message: impl Into<String>) -> Self {
        Failure { status, message: message.into() }
    }

    pub(crate) fn null(what: &str) -> Self {
        Failure::new(sts_status::STS_EINVAL, format!("{what} is NULL"))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure::new(sts_status::STS_EINVAL, message)
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure { status: status_of(&e), message: e.to_string() }
    }
}

/// The one table from engine errors to OST status codes.
pub(crate) fn status_of(err: &EngineError) -> sts_status {
    use sts_status::*;
    match err.kind() {
        ErrorKind::InvalidArgument => STS_EINVAL,
        ErrorKind::Config => STS_ECONFIG,
        ErrorKind::NoSuchServer => STS_ENOSERVER,
        ErrorKind::NoSuchLsu => STS_ENOLSU,
        ErrorKind::NoSuchImage => STS_ENOIMAGE,
        ErrorKind::Exists => STS_EEXIST,
        ErrorKind::WrongState => STS_ESTATE,
        ErrorKind::Busy => STS_EBUSY,
        ErrorKind::Integrity => STS_EINTEGRITY,
        ErrorKind::NoSpace => STS_ENOSPC,
        ErrorKind::PermissionDenied => STS_EACCESS,
        ErrorKind::Temporary => STS_EAGAIN,
        ErrorKind::Connect => STS_ECONNECT,
        ErrorKind::Auth => STS_EAUTH,
        ErrorKind::Io => STS_ESYSCALL,
        ErrorKind::Cancelled => STS_ECANCELED,
        ErrorKind::NoSuchCopy => STS_ENOCOPY,
        ErrorKind::NotSupported => STS_ENOTSUP,
        ErrorKind::WormMin => STS_EWORM_MIN,
        ErrorKind::WormMax => STS_EWORM_MAX,
        ErrorKind::WormLocked => STS_EWORM_LOCKED,
        ErrorKind::NewerFormat => STS_ENEWERFORMAT,
        ErrorKind::Internal => STS_ESOFTWARE,
    }
}
