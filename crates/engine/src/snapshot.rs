//! Snapshots of an LSU's view, through VMS: a second line of defence beside
//! image locks (a snapshot keeps the whole LSU as it was, and an
//! indestructible one cannot be deleted before it expires, even by an
//! administrator). The cluster takes and keeps them; this module turns
//! VMS's records into the engine's and refuses what the cluster would.

use vastost_vms::VmsClient;

use crate::ctx::now;
use crate::error::{EngineError, Result};

/// A snapshot of an LSU's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The cluster's id of it.
    pub id: u64,
    /// Its name, unique for the view.
    pub name: String,
    /// The view's path.
    pub path: String,
    /// When it was taken, seconds since the epoch (0 when not said).
    pub created: u64,
    /// When it expires, seconds since the epoch.
    pub expires: Option<u64>,
    /// Whether it is protected from deletion until it expires.
    pub indestructible: bool,
}

fn seconds(text: Option<&str>) -> Option<u64> {
    text?.parse::<jiff::Timestamp>().ok().and_then(|t| u64::try_from(t.as_second()).ok())
}

fn from_vms(s: vastost_vms::Snapshot) -> Snapshot {
    Snapshot {
        id: s.id,
        created: seconds(s.created.as_deref()).unwrap_or(0),
        expires: seconds(s.expiration_time.as_deref()),
        name: s.name,
        path: s.path,
        indestructible: s.indestructible,
    }
}

/// The snapshots of `path`, oldest first.
pub(crate) async fn list(vms: &VmsClient, path: &str) -> Result<Vec<Snapshot>> {
    let mut all: Vec<Snapshot> = vms.snapshots(path).await?.into_iter().map(from_vms).collect();
    all.sort_by_key(|s| (s.created, s.id));
    Ok(all)
}

/// Takes snapshot `name` of `path`.
pub(crate) async fn create(
    vms: &VmsClient,
    path: &str,
    name: &str,
    expires: Option<u64>,
    indestructible: bool,
) -> Result<Snapshot> {
    if name.is_empty() || name.len() > 255 || name.contains('/') {
        return Err(EngineError::invalid(format!("snapshot name {name:?}: 1 to 255 bytes, no '/'")));
    }
    if indestructible && expires.is_none() {
        return Err(EngineError::invalid("an indestructible snapshot needs an expiration time"));
    }
    let at = match expires {
        Some(secs) if secs <= now() => return Err(EngineError::invalid("the expiration time is in the past")),
        Some(secs) => Some(
            jiff::Timestamp::from_second(i64::try_from(secs).unwrap_or(i64::MAX))
                .map_err(|e| EngineError::invalid(format!("expiration time {secs}: {e}")))?
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
        ),
        None => None,
    };
    let made = vms.create_snapshot(path, name, at.as_deref(), indestructible).await?;
    tracing::info!(target: "audit", path, name, expires, indestructible, "snapshot taken");
    Ok(from_vms(made))
}

/// Deletes snapshot `name` of `path`; an indestructible one is refused
/// until it expires (`STS_EWORM_LOCKED`), as the cluster refuses it.
pub(crate) async fn delete(vms: &VmsClient, path: &str, name: &str) -> Result<()> {
    let Some(s) = list(vms, path).await?.into_iter().find(|s| s.name == name) else {
        return Err(EngineError::NoSuchImage(format!("snapshot {name} of {path}")));
    };
    if let (true, Some(until)) = (s.indestructible, s.expires)
        && until > now()
    {
        return Err(EngineError::WormLocked { image: format!("snapshot {name} of {path} (indestructible)"), until });
    }
    vms.delete_snapshot(s.id).await?;
    tracing::info!(target: "audit", path, name, "snapshot deleted");
    Ok(())
}
