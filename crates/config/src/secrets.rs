//! Files that hold secrets: read only when their owner alone may read
//! them, and never quoted in an error.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Result};

/// Reads a secret file that only its owner may read.
pub fn read_secret_file(path: &Path, what: &str) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(path).map_err(|e| ConfigError(format!("cannot read {what} {}: {e}", path.display())))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(ConfigError(format!(
            "{what} {} is readable by others (mode {:o}): chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        )));
    }
    std::fs::read_to_string(path).map_err(|e| ConfigError(format!("cannot read {what} {}: {e}", path.display())))
}

/// S3 keys, as the credentials file holds them.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3Keys {
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
}

impl std::fmt::Debug for S3Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Keys").field("access_key", &self.access_key).field("secret_key", &"<redacted>").finish()
    }
}

impl S3Keys {
    /// Reads a credentials file (TOML with `access_key` and `secret_key`).
    /// Errors name the file, never its content.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_secret_file(path, "credentials file")?;
        Self::from_toml(&text).ok_or_else(|| {
            ConfigError(format!(
                "credentials file {} must hold access_key = \"...\" and secret_key = \"...\"",
                path.display()
            ))
        })
    }

    /// The keys a credentials file's text holds, if it holds two non-empty
    /// keys and nothing else.
    pub fn from_toml(text: &str) -> Option<Self> {
        toml::from_str::<S3Keys>(text).ok().filter(|k| !k.access_key.is_empty() && !k.secret_key.is_empty())
    }

    /// The text of a credentials file holding these keys; whoever writes it
    /// makes it readable by its owner only.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("two strings are a TOML table")
    }
}
