//! `vastost support-bundle`: what support asks for, in one archive: the
//! configuration with every secret removed, versions, the last lines of the
//! plugin's log and `vastost check` of every configured server. It works
//! when the configuration is broken (that is when it is needed): nothing
//! here initializes the plugin.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::args::{Cli, SupportArgs};

/// How long one server's check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether a configuration key may hold a secret.
fn secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["secret", "password", "token", "access_key"].iter().any(|s| key.contains(s)) && !key.ends_with("_file")
}

/// The configuration with the values of secret-looking keys replaced.
fn redacted(value: &mut toml::Value) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                if secret_key(k) {
                    *v = toml::Value::String("<redacted>".into());
                } else {
                    redacted(v);
                }
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(redacted),
        _ => {}
    }
}

/// The configuration as support may see it; an unreadable one is kept with
/// the lines that name secrets cut.
fn config_for_support(text: &str) -> String {
    match text.parse::<toml::Table>() {
        Ok(table) => {
            let mut v = toml::Value::Table(table);
            redacted(&mut v);
            toml::to_string(&v).unwrap_or_default()
        }
        Err(e) => {
            let lines: Vec<String> = text
                .lines()
                .map(|l| match l.split_once('=') {
                    Some((k, _)) if secret_key(k.trim()) => format!("{} = <redacted>", k.trim()),
                    _ => l.to_string(),
                })
                .collect();
            // Only the parser's first line (where): the rest quotes the
            // offending line, which may hold a secret.
            let at = e.to_string().lines().next().unwrap_or_default().to_string();
            format!("# this configuration does not parse: {at}\n{}\n", lines.join("\n"))
        }
    }
}

/// The last `n` lines of the newest log file (the plugin adds a date to
/// the configured name when it rotates).
fn log_tail(log_file: &Path, n: usize) -> Result<String> {
    let dir = log_file.parent().unwrap_or(Path::new("."));
    let stem = log_file.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let newest = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&stem))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
    let Some(newest) = newest else { bail!("no log file {stem}* in {}", dir.display()) };
    let text = std::fs::read_to_string(newest.path())?;
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(n)..].join("\n");
    Ok(format!("# {}\n{tail}\n", newest.path().display()))
}

/// Runs a command with a time limit; what it printed, or why it did not.
fn output_of(cmd: &mut Command, limit: Duration) -> String {
    let mut child = match cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => return format!("cannot run {cmd:?}: {e}\n"),
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return format!("{cmd:?}: {e}\n"),
        }
    }
    match child.wait_with_output() {
        Ok(o) => format!(
            "$ {cmd:?}\n{}{}exit: {}\n",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            o.status
        ),
        Err(e) => format!("{cmd:?}: {e}\n"),
    }
}

/// Writes the bundle.
pub fn run(cli: &Cli, args: &SupportArgs) -> Result<()> {
    let config_path = vastost_config::Config::locate(cli.config.as_deref());
    let work = tempfile::tempdir()?;
    let dir = work.path().join("vastost-support");
    std::fs::create_dir_all(&dir)?;
    let text = std::fs::read_to_string(&config_path).unwrap_or_else(|e| format!("# cannot read it: {e}\n"));
    std::fs::write(dir.join("config.toml"), format!("# {}\n{}", config_path.display(), config_for_support(&text)))?;
    // Read as a bare table, not as a configuration: a bundle is most
    // needed when the file does not pass the plugin's checks.
    let parsed = text.parse::<toml::Table>().ok();

    let plugin_path = cli.plugin.clone().unwrap_or_else(vastost_loader::Plugin::default_path);
    let plugin_version = match vastost_loader::Plugin::load(&plugin_path) {
        Ok(p) => p.version(),
        Err(e) => format!("cannot load: {e}"),
    };
    let mut versions =
        format!("vastost {}\nplugin {} {plugin_version}\n", env!("VASTOST_VERSION"), plugin_path.display());
    versions += &output_of(Command::new("uname").arg("-a"), Duration::from_secs(5));
    versions += &output_of(Command::new("ldd").arg("--version"), Duration::from_secs(5));
    std::fs::write(dir.join("versions.txt"), versions)?;

    let log_file = parsed.as_ref().and_then(|c| c.get("plugin")?.get("log_file")?.as_str().map(PathBuf::from));
    let log = match log_file {
        Some(f) => log_tail(&f, args.log_lines).unwrap_or_else(|e| format!("# {e:#}\n")),
        None => "# no log_file configured: the plugin logs nothing\n".into(),
    };
    std::fs::write(dir.join("plugin-log-tail.txt"), log)?;

    let servers: Vec<String> = parsed
        .as_ref()
        .and_then(|c| c.get("server")?.as_table().map(|t| t.keys().cloned().collect()))
        .unwrap_or_default();
    let mut checks = String::new();
    let me = std::env::current_exe()?;
    for server in &servers {
        let mut cmd = Command::new(&me);
        cmd.arg("--config").arg(&config_path).arg("--plugin").arg(&plugin_path);
        cmd.args(["check", "--server", &format!("VastData:{server}")]);
        checks += &output_of(&mut cmd, CHECK_TIMEOUT);
    }
    if servers.is_empty() {
        checks += "# no server configured\n";
    }
    std::fs::write(dir.join("check.txt"), checks)?;

    let out = std::path::absolute(&args.output)?;
    let status =
        Command::new("tar").arg("-czf").arg(&out).arg("-C").arg(work.path()).arg("vastost-support").status()?;
    if !status.success() {
        bail!("tar could not write {}", out.display());
    }
    println!("support bundle: {} (config, versions, log tail, checks of {} server(s))", out.display(), servers.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_the_bundle() {
        let text = "[server.a]\ndirectory = \"/x\"\nvms_password = \"hunter2\"\ncredentials_file = \"/k\"\n\
                    [plugin]\nsecret_key = \"s3cr3t\"\n";
        let out = config_for_support(text);
        assert!(!out.contains("hunter2") && !out.contains("s3cr3t"), "{out}");
        assert!(out.contains("/k") && out.contains("/x"), "paths stay: {out}");
        assert!(!out.contains("does not parse") && out.contains("<redacted>"), "{out}");
        let broken = config_for_support("[server.a\napi_token = \"t0ken\"\n");
        assert!(!broken.contains("t0ken") && broken.contains("does not parse"), "{broken}");
    }
}
