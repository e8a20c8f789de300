//! What is wrong with a configuration.

/// A configuration that cannot be used, said so that an administrator can
/// mend it (a file, a section and a key are named; a secret never is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// What this crate's functions return.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;
