//! The engine's one error type: an enum a caller can act on
//! ([`ErrorKind`]) with the context of what failed. Every lower error
//! (storage, VMS, I/O) is translated here, once; the ABI maps kinds to OST
//! status codes in its own table and nowhere else.

use std::sync::Arc;

use vastost_storage::StorageError;

/// What a caller can act on; the ABI maps each kind to one OST status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A bad argument: wrong size, bad name, bad offset.
    InvalidArgument,
    /// The configuration is unusable.
    Config,
    /// The storage server is not one of ours or not configured.
    NoSuchServer,
    /// The LSU does not exist.
    NoSuchLsu,
    /// The image does not exist.
    NoSuchImage,
    /// The image already exists.
    Exists,
    /// The image is in a state that forbids the call.
    WrongState,
    /// Somebody else is using the image.
    Busy,
    /// Stored data does not match its checksum.
    Integrity,
    /// The storage is full.
    NoSpace,
    /// Access refused by the storage.
    PermissionDenied,
    /// A fault that may pass: try again later.
    Temporary,
    /// The storage endpoint cannot be reached (VMS down, TLS refused).
    Connect,
    /// The cluster refused the credentials.
    Auth,
    /// An I/O failure of the storage.
    Io,
    /// The operation was cancelled by its caller.
    Cancelled,
    /// No background copy has that name.
    NoSuchCopy,
    /// The LSU or storage cannot do what was asked.
    NotSupported,
    /// A WORM lock shorter than the LSU's minimum.
    WormMin,
    /// A WORM lock longer than the LSU's maximum.
    WormMax,
    /// The image's WORM lock has not expired.
    WormLocked,
    /// Written by a newer plugin, in a format this one does not read.
    NewerFormat,
    /// A bug of ours.
    Internal,
}

/// An engine failure with enough context to be shown to an administrator.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// A caller passed something unusable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A name from NetBackup that cannot be stored safely.
    #[error("invalid {what} {name:?}: {reason}")]
    InvalidName {
        /// Which kind of name (image basename, date, LSU).
        what: &'static str,
        /// The name as given (escaped for display by `{:?}`).
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The storage server is not configured.
    #[error("storage server '{0}' is not configured (add a [server.\"<name>\"] section)")]
    NoSuchServer(String),
    /// The LSU does not exist.
    #[error("LSU '{0}' does not exist")]
    NoSuchLsu(String),
    /// The image does not exist.
    #[error("image {0} does not exist")]
    NoSuchImage(String),
    /// The image already exists.
    #[error("image {0} already exists")]
    ImageExists(String),
    /// The image's state forbids the call.
    #[error("image {image}: {reason}")]
    WrongState {
        /// The image, as `basename/date`.
        image: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The image is in use.
    #[error("image {image} is busy: {reason}")]
    Busy {
        /// The image, as `basename/date`.
        image: String,
        /// Who holds it.
        reason: &'static str,
    },
    /// Stored bytes do not match their checksum, or a record is damaged.
    #[error("data integrity: {0}")]
    Integrity(String),
    /// A storage call failed.
    #[error(transparent)]
    Storage(Arc<StorageError>),
    /// The cluster refused the credentials, or none were given.
    #[error("authentication: {0}")]
    Auth(String),
    /// A VMS (control plane) call failed.
    #[error(transparent)]
    Vms(Arc<vastost_vms::VmsError>),
    /// The caller cancelled the operation.
    #[error("cancelled")]
    Cancelled,
    /// No background copy has that name.
    #[error("no background copy is named {0:?} (it never started, or its end was already reported)")]
    NoSuchCopy(String),
    /// What was asked is not supported here.
    #[error("not supported: {0}")]
    NotSupported(String),
    /// A lock outside the LSU's bounds.
    #[error("image {image}: a lock of {period} s is {} the LSU's {} of {bound} s", if *min { "under" } else { "over" }, if *min { "minimum" } else { "maximum" })]
    WormRange {
        /// The image, as `basename/date`.
        image: String,
        /// The lock asked for, in seconds from now.
        period: u64,
        /// Whether the minimum (else the maximum) was crossed.
        min: bool,
        /// That bound, in seconds.
        bound: u64,
    },
    /// A lock that would end before the one the image has.
    #[error("image {image}: locked until {held}, a lock is only extended (asked until {asked})")]
    WormShorter {
        /// The image, as `basename/date`.
        image: String,
        /// Its lock's end, seconds since the epoch.
        held: u64,
        /// The end asked for.
        asked: u64,
    },
    /// A compliance lock, which nobody lifts.
    #[error("image {image} is locked in compliance mode until {until}: nobody can lift it")]
    WormCompliance {
        /// The image, as `basename/date`.
        image: String,
        /// When its lock expires.
        until: u64,
    },
    /// The image is locked.
    #[error(
        "image {image} is WORM-locked until {until} (seconds since the epoch): it cannot be deleted or changed before"
    )]
    WormLocked {
        /// The image, as `basename/date`.
        image: String,
        /// When its lock expires.
        until: u64,
    },
    /// Something stored in a format newer than this plugin's: intact, not
    /// damage, but not for this plugin to read or change.
    #[error(
        "{what}: written by a newer plugin (format {found}); this media server runs format {ours}: upgrade it to use this"
    )]
    NewerFormat {
        /// What was found (a commit record, an LSU).
        what: String,
        /// Its format.
        found: u32,
        /// The format of this plugin.
        ours: u32,
    },
    /// A bug of ours (a task died, an invariant broke).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result of an engine call.
pub type Result<T> = std::result::Result<T, EngineError>;

impl From<StorageError> for EngineError {
    fn from(e: StorageError) -> Self {
        EngineError::Storage(Arc::new(e))
    }
}

impl From<vastost_vms::VmsError> for EngineError {
    fn from(e: vastost_vms::VmsError) -> Self {
        EngineError::Vms(Arc::new(e))
    }
}

impl EngineError {
    /// The kind a caller acts on.
    pub fn kind(&self) -> ErrorKind {
        use vastost_storage::ErrorKind as S;
        match self {
            EngineError::InvalidArgument(_) | EngineError::InvalidName { .. } => ErrorKind::InvalidArgument,
            EngineError::Config(_) => ErrorKind::Config,
            EngineError::NoSuchServer(_) => ErrorKind::NoSuchServer,
            EngineError::NoSuchLsu(_) => ErrorKind::NoSuchLsu,
            EngineError::NoSuchImage(_) => ErrorKind::NoSuchImage,
            EngineError::ImageExists(_) => ErrorKind::Exists,
            EngineError::WrongState { .. } => ErrorKind::WrongState,
            EngineError::Busy { .. } => ErrorKind::Busy,
            EngineError::Integrity(_) => ErrorKind::Integrity,
            EngineError::Internal(_) => ErrorKind::Internal,
            EngineError::NewerFormat { .. } => ErrorKind::NewerFormat,
            EngineError::NotSupported(_) => ErrorKind::NotSupported,
            EngineError::WormRange { min: true, .. } => ErrorKind::WormMin,
            EngineError::WormRange { min: false, .. } => ErrorKind::WormMax,
            EngineError::WormShorter { .. } | EngineError::WormCompliance { .. } => ErrorKind::PermissionDenied,
            EngineError::WormLocked { .. } => ErrorKind::WormLocked,
            EngineError::Cancelled => ErrorKind::Cancelled,
            EngineError::NoSuchCopy(_) => ErrorKind::NoSuchCopy,
            EngineError::Auth(_) => ErrorKind::Auth,
            EngineError::Vms(v) => match v.kind {
                vastost_vms::VmsErrorKind::Auth => ErrorKind::Auth,
                vastost_vms::VmsErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
                vastost_vms::VmsErrorKind::Unavailable => ErrorKind::Connect,
                vastost_vms::VmsErrorKind::NotFound | vastost_vms::VmsErrorKind::Other => ErrorKind::Io,
            },
            EngineError::Storage(s) => match s.kind {
                S::NotFound => ErrorKind::Io,
                S::NoSuchBucket => ErrorKind::NoSuchLsu,
                S::AlreadyExists => ErrorKind::Busy,
                S::PermissionDenied => ErrorKind::PermissionDenied,
                S::NoSpace => ErrorKind::NoSpace,
                S::Temporary => ErrorKind::Temporary,
                S::Invalid => ErrorKind::InvalidArgument,
                S::Tls => ErrorKind::Connect,
                S::LockTooShort => ErrorKind::WormMin,
                S::LockTooLong => ErrorKind::WormMax,
                S::Unsupported => ErrorKind::NotSupported,
                S::Other => ErrorKind::Io,
            },
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        EngineError::InvalidArgument(msg.into())
    }
}

/// Runs `read` (a fetch and its checksum check) once more when it finds
/// damage: bytes damaged on the way pass the second time, bytes damaged on
/// the storage fail again and are reported. `what` names the thing read.
pub(crate) async fn again_if_damaged<T, F, Fut>(what: &str, read: F) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    again_if_damaged_after(what, read(), read).await
}

/// [`again_if_damaged`] whose first read is `first` (one already under
/// way, as a GET sent ahead), and whose second is `again`.
pub(crate) async fn again_if_damaged_after<T, Fut>(
    what: &str,
    first: impl Future<Output = Result<T>>,
    again: impl FnOnce() -> Fut,
) -> Result<T>
where
    Fut: Future<Output = Result<T>>,
{
    match first.await {
        Err(EngineError::Integrity(why)) => {
            tracing::warn!(what, error = %why, "checksum mismatch: reading it again");
            again().await
        }
        other => other,
    }
}
