//! What a media server remembers between plugin processes. NetBackup runs
//! a process per job, dozens at once: what every process would otherwise
//! ask the cluster again (whether an S3 server refuses a second create)
//! is asked once per host and kept here for a while.
//!
//! The folder is the plugin's `state_dir`, by default `$XDG_RUNTIME_DIR/vastost`
//! or `/tmp/vastost-<uid>`; `state_dir = ""` turns the cache off. It must belong to the user and be closed to
//! everyone else (mode 700): a folder someone else made or can write to is
//! not used (logged), and the plugin then simply asks the cluster.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

/// The folder set by the configuration (`None`: the default; empty: no
/// cache).
static CONFIGURED: RwLock<Option<PathBuf>> = RwLock::new(None);

/// Sets the process's `state_dir` (at engine start).
pub(crate) fn set_dir(dir: Option<PathBuf>) {
    *CONFIGURED.write().unwrap_or_else(|p| p.into_inner()) = dir;
}

/// The user this process runs as (the owner of its `/proc` entry).
fn my_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The cache folder, created if missing; `None` when it cannot be trusted.
fn dir() -> Option<PathBuf> {
    let uid = my_uid()?;
    let configured = CONFIGURED.read().unwrap_or_else(|p| p.into_inner()).clone();
    if configured.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
        return None;
    }
    let dir = configured.unwrap_or_else(|| match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(run) => Path::new(&run).join("vastost"),
        None => std::env::temp_dir().join(format!("vastost-{uid}")),
    });
    let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir);
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    if !meta.is_dir() || meta.uid() != uid || meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(dir = %dir.display(), "not using the state folder: it is not a folder of this user closed to others");
        return None;
    }
    Some(dir)
}

/// The file of entry `key` (a crc32c of it names the file; the key is the
/// file's first line, so two keys never share an answer).
fn file_of(dir: &Path, kind: &str, key: &str) -> PathBuf {
    dir.join(format!("{kind}-{:08x}", crc32c::crc32c(key.as_bytes())))
}

/// The file of entry `key` of `kind` in the state folder, for what keeps
/// its own format there; `None` without a trusted folder.
pub(crate) fn file(kind: &str, key: &str) -> Option<PathBuf> {
    Some(file_of(&dir()?, kind, key))
}

/// What was remembered under `key` less than `ttl` ago.
pub(crate) fn recall(kind: &str, key: &str, ttl: Duration) -> Option<String> {
    let path = file_of(&dir()?, kind, key);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    let age = SystemTime::now().duration_since(meta.modified().ok()?).unwrap_or(Duration::MAX);
    if !meta.is_file() || age > ttl {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let (first, value) = text.split_once('\n')?;
    (first == key).then(|| value.trim_end().to_string())
}

/// Remembers `value` under `key` (replacing the file whole; best effort).
pub(crate) fn remember(kind: &str, key: &str, value: &str) {
    let Some(dir) = dir() else { return };
    let path = file_of(&dir, kind, key);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(format!("{key}\n{value}\n").as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        tracing::debug!(file = %path.display(), error = %e, "not remembered");
    }
}

/// Forgets what was remembered under `key`.
pub(crate) fn forget(kind: &str, key: &str) {
    if let Some(dir) = dir() {
        let _ = std::fs::remove_file(file_of(&dir, kind, key));
    }
}

/// The VMS tokens of one user on one cluster, shared by the host's plugin
/// processes: one login per token lifetime, not one per job. Keyed by the
/// password's checksum too, so that a process given a wrong password does
/// not ride on another's login.
#[derive(Debug)]
pub(crate) struct VmsTokens {
    key: String,
}

impl VmsTokens {
    /// Tokens of `user` (logging in with `password`) on VMS `endpoint`,
    /// tenant `tenant`.
    pub(crate) fn new(endpoint: &str, tenant: Option<&str>, user: &str, password: &str) -> Self {
        let key = format!(
            "vms {endpoint} tenant={} user={user} password-crc={:08x}",
            tenant.unwrap_or(""),
            crc32c::crc32c(password.as_bytes())
        );
        VmsTokens { key }
    }
}

/// How long kept tokens are offered (a refused one is renewed anyway).
const TOKENS_KEPT: Duration = Duration::from_secs(24 * 3600);

impl vastost_vms::TokenCache for VmsTokens {
    fn load(&self) -> Option<(String, String)> {
        let text = recall("vms-token", &self.key, TOKENS_KEPT)?;
        let (access, refresh) = text.split_once('\t')?;
        Some((access.to_string(), refresh.to_string()))
    }

    fn store(&self, access: &str, refresh: &str) {
        remember("vms-token", &self.key, &format!("{access}\t{refresh}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_for_a_while_in_a_closed_folder_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        set_dir(Some(dir.clone()));
        remember("probe", "s3:http://vip/bucket", "conditional");
        assert_eq!(recall("probe", "s3:http://vip/bucket", Duration::from_secs(60)).as_deref(), Some("conditional"));
        assert_eq!(recall("probe", "s3:http://vip/other", Duration::from_secs(60)), None);
        assert_eq!(recall("probe", "s3:http://vip/bucket", Duration::ZERO), None, "too old");
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        // A folder others may write to is not trusted.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(recall("probe", "s3:http://vip/bucket", Duration::from_secs(60)), None);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        forget("probe", "s3:http://vip/bucket");
        assert_eq!(recall("probe", "s3:http://vip/bucket", Duration::from_secs(60)), None);
        set_dir(None);
    }
}
