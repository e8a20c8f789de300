//! The whole file: its `[plugin]` section and its servers, read, checked
//! and written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{ConfigError, Result};
use crate::plugin::PluginConfig;
use crate::section::ServerFile;
use crate::server::ServerConfig;

/// Environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "VASTOST_CONFIG";
/// Where NetBackup installs plugins, and where the configuration is looked
/// for when nothing else names it.
pub const DEFAULT_CONFIG_PATH: &str = "/usr/openv/lib/ost-plugins/vastost.toml";
/// Prefixes of the storage server names this plugin claims.
pub const SERVER_PREFIXES: [&str; 2] = ["VastData:", "vast://"];

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Settings shared by every server of the process.
    pub plugin: PluginConfig,
    /// Storage servers by name (the part after `VastData:` or `vast://`).
    pub servers: BTreeMap<String, ServerConfig>,
}

/// The file as TOML holds it: what serde reads and writes.
#[derive(serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    #[serde(default)]
    plugin: PluginConfig,
    #[serde(default, rename = "server")]
    servers: BTreeMap<String, ServerFile>,
}

impl Config {
    /// Parses and checks a configuration from TOML text.
    pub fn from_toml(text: &str) -> Result<Self> {
        let form: FileForm = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        let servers = form
            .servers
            .into_iter()
            .map(|(name, file)| Ok((name.clone(), file.into_config(&name)?)))
            .collect::<Result<_>>()?;
        let config = Config { plugin: form.plugin, servers };
        config.validate()?;
        Ok(config)
    }

    /// Reads the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }

    /// The file to read: the one given, else `$VASTOST_CONFIG`, else the
    /// NetBackup plugin directory's `vastost.toml`.
    pub fn locate(given: Option<&Path>) -> PathBuf {
        given
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
    }

    /// The configuration as a file: what differs from the defaults, keys as
    /// [`Config::from_toml`] reads them (which gives this value back).
    pub fn to_toml(&self) -> String {
        let form = FileForm {
            plugin: self.plugin.clone(),
            servers: self.servers.iter().map(|(name, s)| (name.clone(), ServerFile::from(s))).collect(),
        };
        let mut table = toml::Table::try_from(&form).expect("a configuration is a TOML table");
        drop_defaults(&mut table);
        toml::to_string(&table).expect("a TOML table is written")
    }

    /// Checks what involves more than one section; [`Config::from_toml`]
    /// calls it, a configuration built in code may too.
    pub fn validate(&self) -> Result<()> {
        let budget = self.plugin.memory_budget.as_u64();
        if budget < 1 << 20 {
            return Err(ConfigError(format!("memory_budget {budget} is below 1MiB")));
        }
        let host = self.plugin.host_memory_budget.map_or(u64::MAX, |b| b.as_u64());
        if host < 1 << 20 {
            return Err(ConfigError(format!("host_memory_budget {host} is below 1MiB")));
        }
        for (name, server) in &self.servers {
            server.validate(name, budget.min(host))?;
        }
        Ok(())
    }

    /// The section of storage server `name`: an exact match of the full name
    /// first, then of the name without its `VastData:` / `vast://` prefix.
    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.get(name).or_else(|| self.servers.get(strip_server_prefix(name)?))
    }
}

/// The cluster part of a storage server name, or `None` when the name is not
/// one of ours.
pub fn strip_server_prefix(name: &str) -> Option<&str> {
    SERVER_PREFIXES.iter().find_map(|p| name.strip_prefix(p)).filter(|rest| !rest.is_empty())
}

/// Removes from a whole file's table the keys that say what the defaults
/// say (a server's `data_path` stays: a reader should not have to know
/// which path is the default), and sections left empty.
pub(crate) fn drop_defaults(file: &mut toml::Table) {
    let without = |table: &mut toml::Table, defaults: toml::Table, keep: &str| {
        table.retain(|key, value| key == keep || defaults.get(key) != Some(value));
    };
    let plugin_defaults = toml::Table::try_from(PluginConfig::default()).expect("a table");
    if let Some(toml::Value::Table(plugin)) = file.get_mut("plugin") {
        without(plugin, plugin_defaults, "");
        if plugin.is_empty() {
            file.remove("plugin");
        }
    }
    let server_defaults = toml::Table::try_from(ServerFile::default()).expect("a table");
    if let Some(toml::Value::Table(servers)) = file.get_mut("server") {
        for (_, server) in servers.iter_mut() {
            if let toml::Value::Table(server) = server {
                without(server, server_defaults.clone(), "data_path");
            }
        }
    }
    if file.get("server").is_some_and(|s| s.as_table().is_some_and(toml::Table::is_empty)) {
        file.remove("server");
    }
}
