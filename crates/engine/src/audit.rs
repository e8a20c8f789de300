//! The audit trail of lock releases. Lifting a governance lock before it
//! expires is the one privileged act the plugin performs; it must leave a
//! trace that does not depend on how logging is configured and that the
//! one who did it cannot erase:
//!
//! - a record in the LSU itself, `.vastost/audit/<time>-<token>`, written
//!   before anything is unlocked and locked in compliance mode until the
//!   released lock would have expired (no release without its record; no
//!   one, not even a user with the bypass permission, removes it sooner);
//! - a line to the system log (`syslog_socket`, `/dev/log` by default,
//!   which journald serves too), facility authpriv, whatever `log_file`
//!   says.
//!
//! `vastost audit` (`vastost_lsu_audit`) lists the records.

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use vastost_storage::{ErrorKind as StorageKind, LockMode, ObjectStore, Retention};

use crate::error::Result;

/// The folder of the LSU's audit records.
pub const AUDIT: &str = ".vastost/audit/";

/// One audited act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Seconds since the epoch when it was done.
    pub time: u64,
    /// What was done (`governance-release`).
    pub action: String,
    /// The LSU.
    pub lsu: String,
    /// The image's basename.
    pub basename: String,
    /// The image's date.
    pub date: String,
    /// Who asked, as they said.
    pub who: String,
    /// When the released lock would have expired (seconds since the epoch).
    pub until: u64,
    /// The media server that did it.
    pub host: String,
    /// Its process.
    pub pid: u32,
}

impl AuditRecord {
    /// The record of a governance release of image `basename`/`date` of
    /// `lsu` whose lock held until `until`, asked by `who`.
    pub(crate) fn release(lsu: &str, basename: &str, date: &str, who: &str, until: u64) -> Self {
        AuditRecord {
            time: crate::ctx::now(),
            action: "governance-release".into(),
            lsu: lsu.into(),
            basename: basename.into(),
            date: date.into(),
            who: who.into(),
            until,
            host: host_name(),
            pid: std::process::id(),
        }
    }

    /// One line for people and the system log.
    pub fn line(&self) -> String {
        format!(
            "{} of {}/{} in LSU {} (locked until {}) by {:?} on {} (pid {})",
            self.action, self.basename, self.date, self.lsu, self.until, self.who, self.host, self.pid
        )
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// Where audit lines go (`syslog_socket`); `None`: nowhere.
static SYSLOG: RwLock<Option<PathBuf>> = RwLock::new(None);

/// Sets the system log socket of the process (at engine start).
pub(crate) fn set_syslog_socket(path: Option<PathBuf>) {
    *SYSLOG.write().unwrap_or_else(|p| p.into_inner()) = path;
}

/// Sends `message` to the system log as `vastost[pid]`, facility
/// authpriv, severity notice (RFC 3164, as syslog(3) sends it). A missing
/// socket is logged, never fatal: the record on the cluster is the trail.
fn to_syslog(message: &str) {
    let Some(path) = SYSLOG.read().unwrap_or_else(|p| p.into_inner()).clone() else { return };
    const AUTHPRIV_NOTICE: u8 = 10 * 8 + 5;
    let line = format!("<{AUTHPRIV_NOTICE}>vastost[{}]: {message}", std::process::id());
    let sent = std::os::unix::net::UnixDatagram::unbound().and_then(|s| s.send_to(line.as_bytes(), &path));
    if let Err(e) = sent {
        tracing::warn!(socket = %path.display(), error = %e, "audit line not sent to the system log");
    }
}

/// Stores `record` in the LSU's `store`, locked in compliance mode until
/// `record.until` (at least a minute from now), and sends it to the system
/// log. Fails when the record cannot be stored: the act must not happen
/// then.
pub(crate) async fn record(store: &ObjectStore, record: &AuditRecord) -> Result<()> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let key = format!("{AUDIT}{nanos:020}-{:08x}", fastrand::u32(..));
    let bytes = Bytes::from(serde_json::to_vec(record).expect("a record serializes"));
    let until = record.until.max(crate::ctx::now() + 60);
    store.put_new_locked(&key, bytes, Retention { mode: LockMode::Compliance, until }).await?;
    tracing::warn!(target: "audit", record = %key, "{}", record.line());
    to_syslog(&record.line());
    Ok(())
}

/// The LSU's audit records, oldest first (unreadable ones are logged and
/// skipped).
pub(crate) async fn list(store: &ObjectStore) -> Result<Vec<AuditRecord>> {
    let mut out = Vec::new();
    let mut names: Vec<String> = store.list(AUDIT).await?.into_iter().filter(|e| !e.is_dir).map(|e| e.name).collect();
    names.sort();
    for name in names {
        let key = format!("{AUDIT}{name}");
        match store.get(&key).await {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(record = %key, error = %e, "unreadable audit record"),
            },
            Err(e) if e.kind == StorageKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_is_stored_locked_and_sent_to_the_system_log() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("log");
        let listener = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
        set_syslog_socket(Some(socket));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let store = ObjectStore::memory().unwrap();
        let r = AuditRecord::release("pool", "client_1", "1", "ops: ticket 42", crate::ctx::now() + 600);
        rt.block_on(record(&store, &r)).unwrap();
        let mut buf = [0u8; 1024];
        let n = listener.recv(&mut buf).unwrap();
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(line.starts_with("<85>vastost[") && line.contains("ops: ticket 42"), "{line}");
        let listed = rt.block_on(list(&store)).unwrap();
        assert_eq!(listed, vec![r]);
        let key = rt.block_on(store.list(AUDIT)).unwrap()[0].name.clone();
        let held = rt.block_on(store.retention(&format!("{AUDIT}{key}"), None, LockMode::Compliance)).unwrap();
        assert!(held.is_some(), "the record is locked");
        set_syslog_socket(None);
    }
}
