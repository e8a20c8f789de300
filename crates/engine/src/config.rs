//! The configuration as the engine takes it. The file and its types are
//! `vastost-config`'s (the command-line tool reads and writes them too);
//! here is what only the engine can check (names, by the rules the engine
//! keys its data with) and the credentials NetBackup gives at
//! `open_server`, which are no part of the file.

pub use vastost_config::{
    Config, ConfigError, DataPath, DataPathKind, LogLevel, Nfs, PluginConfig, S3, S3Keys, ServerConfig, Tls, Vms,
    VmsAuth, read_secret_file, strip_server_prefix,
};

use crate::error::{EngineError, Result};
use crate::names::{LsuName, check_bucket_name};

/// The storage server's user and password, as NetBackup gives them to
/// `open_server`.
#[derive(Clone)]
pub struct Credentials {
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.user)
    }
}

impl From<ConfigError> for EngineError {
    fn from(e: ConfigError) -> Self {
        EngineError::Config(e.0)
    }
}

/// Checks a configuration as a whole: its own rules, then the names it
/// gives (LSUs, the bookkeeping bucket) by the engine's.
pub(crate) fn check(config: &Config) -> Result<()> {
    config.validate()?;
    for server in config.servers.values() {
        for lsu in &server.lsus {
            LsuName::new(lsu)?;
        }
        if let DataPath::S3(S3 { bookkeeping_bucket: Some(bucket), .. }) = &server.data {
            check_bucket_name(bucket)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_by_the_engines_rules() {
        for text in [
            "[server.a]\ndirectory = \"/x\"\nlsus = [\"../up\"]\n",
            "[server.a]\ndirectory = \"/x\"\nlsus = [\".hidden\"]\n",
            "[server.a]\ndata_path = \"s3\"\nendpoint = \"http://x\"\ncredentials_file = \"/c\"\n\
             bookkeeping_bucket = \"Books_\"\n",
        ] {
            let config = Config::from_toml(text).expect("the file's own rules pass");
            assert!(matches!(check(&config), Err(EngineError::InvalidName { .. })), "accepted: {text}");
        }
    }
}
