//! Loading the plugin and opening a server, as every command starts.

use std::path::Path;

use anyhow::{Context, Result};
use vastost_loader::{Plugin, Server};

use crate::args::{Cli, ServerArgs};

/// Loads the plugin named on the command line (or the default one) and
/// initializes it with `config`.
pub fn load(cli_plugin: Option<&Path>, config: Option<&Path>) -> Result<Plugin> {
    let path = cli_plugin.map(Path::to_path_buf).unwrap_or_else(Plugin::default_path);
    let plugin = Plugin::load(&path)?;
    plugin.init(config).with_context(|| format!("cannot initialize plugin {}", path.display()))?;
    Ok(plugin)
}

/// Loads the plugin for a command.
pub fn plugin(cli: &Cli) -> Result<Plugin> {
    load(cli.plugin.as_deref(), cli.config.as_deref())
}

/// The password of `args`, read from its file (empty without one).
pub fn password(args: &ServerArgs) -> Result<String> {
    Ok(match &args.password_file {
        Some(f) => crate::secrets::read_password(f)?,
        None => String::new(),
    })
}

/// Opens the server named by `args`, with the password read from its file.
pub fn open<'p>(plugin: &'p Plugin, args: &ServerArgs) -> Result<Server<'p>> {
    let password = password(args)?;
    let cred = args.user.as_deref().map(|u| (u, password.as_str()));
    plugin.open_server(&args.server, cred).with_context(|| format!("cannot open storage server {}", args.server))
}
