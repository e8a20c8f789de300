//! What was written into a locked image's folder behind its lock, and its
//! removal. Readers already ignore all of it (see `anchor`): this makes it
//! visible, so that an operator learns someone with the storage keys
//! tried, and can clean up where the keys allow.

use std::collections::BTreeMap;

use vastost_storage::{ObjectStore, StoredVersion};

use crate::anchor::{confirmed, record_versions, rule};
use crate::error::Result;
use crate::layout::{ImageKeys, parse_manifest_seq};
use crate::manifest::Manifest;

/// One object version (or delete marker) that does not belong to a locked
/// image although it is in its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tampered {
    /// Its key in the LSU.
    pub key: String,
    /// Its storage version, where the store keeps versions.
    pub version: Option<String>,
    /// What it is.
    pub what: Addition,
}

/// The kinds of additions behind a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addition {
    /// A delete marker hiding a version.
    DeleteMarker,
    /// A new version written over an object the lock pins.
    Overwrite,
    /// A commit record that is not the lock's nor a lock extension.
    Record,
    /// Any other object made after the lock.
    Object,
}

impl Addition {
    /// How reports name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Addition::DeleteMarker => "delete marker",
            Addition::Overwrite => "new version over a locked object",
            Addition::Record => "commit record added behind the lock",
            Addition::Object => "object added behind the lock",
        }
    }
}

/// Everything added to the folder of image `keys` after its lock was set,
/// and over the objects it maps from other folders of its LSU, or nothing
/// when no lock holds.
pub(crate) async fn find(store: &ObjectStore, keys: &ImageKeys) -> Result<Vec<Tampered>> {
    let root = keys.root();
    // One listing of the whole folder: its records are in it too.
    let listed = store.versions(root, true).await?;
    let records_at = keys.manifest_dir();
    let record_dir = records_at.strip_prefix(root).unwrap_or(&records_at);
    let records = record_versions(
        listed
            .iter()
            .filter_map(|v| {
                let name = v.name.strip_prefix(record_dir)?;
                Some(StoredVersion { name: name.to_string(), ..v.clone() })
            })
            .collect(),
    );
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let ruling = rule(store, keys, &records).await?;
    let (anchored, m) = match (ruling.anchored_ms, ruling.record) {
        (Some(anchored), Some(m)) => (anchored, m),
        // A lone record is read without asking the storage about its lock.
        (None, Some(m)) if records.len() == 1 && m.lock.is_some_and(|l| l.holds_now()) => {
            if !confirmed(store, keys, &records[0], &m).await? {
                return Ok(Vec::new());
            }
            (records[0].made_ms, m)
        }
        _ => return Ok(Vec::new()),
    };
    let pinned = |key: &str| -> Option<Option<&str>> {
        if key == keys.meta() && m.meta {
            return Some(m.meta_version.as_deref());
        }
        m.extents.iter().find(|e| e.object.lsu.is_none() && e.object.key == key).map(|e| e.object.version.as_deref())
    };
    let mut out = Vec::new();
    for v in listed {
        let key = format!("{root}{}", v.name);
        // References from copies are added after a lock by design.
        if key.starts_with(&keys.refs_dir()) {
            continue;
        }
        let record = key.strip_prefix(&keys.manifest_dir()).and_then(parse_manifest_seq);
        let what = if v.deleted {
            Some(Addition::DeleteMarker)
        } else if let Some(seq) = record {
            let in_chain = ruling.chain.iter().any(|c| c.seq == seq && c.version == v.version);
            // A store that keeps no times (memory) is told by the number.
            let later = v.made_ms > anchored || (anchored == 0 && ruling.chain.first().is_some_and(|a| seq > a.seq));
            (!in_chain && later).then_some(Addition::Record)
        } else if let Some(version) = pinned(&key) {
            (version.is_some() && v.version.as_deref() != version && v.made_ms > anchored)
                .then_some(Addition::Overwrite)
        } else {
            (v.made_ms > anchored).then_some(Addition::Object)
        };
        if let Some(what) = what {
            out.push(Tampered { key, version: v.version, what });
        }
    }
    out.extend(elsewhere(store, root, &m, anchored).await?);
    out.sort_by(|a, b| a.key.cmp(&b.key).then(a.version.cmp(&b.version)));
    Ok(out)
}

/// What was written over the objects image `m` maps from other folders of
/// its LSU (a copy by reference maps its source's fragments) after its lock
/// was set (`anchored`, ms): one version listing per folder. Objects of
/// other LSUs are not looked at.
async fn elsewhere(store: &ObjectStore, root: &str, m: &Manifest, anchored: u64) -> Result<Vec<Tampered>> {
    let mut by_dir: BTreeMap<&str, BTreeMap<&str, Option<&str>>> = BTreeMap::new();
    for e in m.extents.iter().filter(|e| e.object.lsu.is_none() && !e.object.key.starts_with(root)) {
        let key = e.object.key.as_str();
        let (dir, name) = key.rsplit_once('/').map_or(("", key), |(d, n)| (&key[..=d.len()], n));
        by_dir.entry(dir).or_default().insert(name, e.object.version.as_deref());
    }
    let mut out = Vec::new();
    for (dir, names) in by_dir {
        for v in store.versions(dir, false).await? {
            let Some(pinned) = names.get(v.name.as_str()) else { continue };
            let what = if v.deleted {
                Addition::DeleteMarker
            } else if pinned.is_some() && v.version.as_deref() != *pinned {
                Addition::Overwrite
            } else {
                continue;
            };
            if v.made_ms > anchored {
                out.push(Tampered { key: format!("{dir}{}", v.name), version: v.version, what });
            }
        }
    }
    Ok(out)
}

/// What removing the additions did: each one removed, or kept with why.
#[derive(Debug, Default)]
pub struct Cleanup {
    /// Removed.
    pub removed: Vec<Tampered>,
    /// Still there (locked by whoever added it, or refused), with the reason.
    pub kept: Vec<(Tampered, String)>,
}

/// Removes `found` version by version, as far as the keys allow.
pub(crate) async fn remove(store: &ObjectStore, found: Vec<Tampered>) -> Cleanup {
    let mut done = Cleanup::default();
    for t in found {
        match store.delete_version(&t.key, t.version.as_deref()).await {
            Ok(()) => {
                tracing::warn!(target: "audit", key = %t.key, version = ?t.version, what = t.what.as_str(), "removed what was added behind a lock");
                done.removed.push(t);
            }
            Err(e) => done.kept.push((t, e.to_string())),
        }
    }
    done
}
