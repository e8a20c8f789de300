//! Which commit record rules an image folder when someone holding the
//! storage keys has written behind an image's lock.
//!
//! Object Lock protects versions, not names: with the plugin's own keys
//! anyone can add a record, write a new version over a locked one, or hide
//! it under a delete marker. None of that may make a locked image
//! unrestorable or return other bytes, so the records of a folder are read
//! as *stored versions* (the version listing shows what a delete marker
//! hides), and when one of them claims a lock that still holds:
//!
//! - the **anchor** is the earliest-made record version whose claimed lock
//!   the storage confirms (a HEAD of that exact version). Anything an
//!   attacker adds is made after it, by the server's clock;
//! - a record made while the anchor's lock (or an extension's) held rules
//!   instead only if it says exactly what the anchor says, under a lock at
//!   least as long that the storage confirms too (a lock extension). Every
//!   other record made then is ignored, whether its own lock has expired or
//!   not: an expired anchor does not hand the image to a record added
//!   while it held;
//! - a confirmed lock claimed after every lock of the chain had expired
//!   (the image was locked again) starts a new chain, with its own anchor;
//! - the ruling record pins the version of every object it maps
//!   ([`crate::manifest::ObjectRef::version`]), so readers never see what
//!   was written over those keys.
//!
//! Without a holding lock the newest record rules, as it always has: an
//! unlocked image is the keys' holder's to change.

use vastost_storage::{ErrorKind as StorageKind, ObjectStore, StoredVersion};

use crate::error::{EngineError, Result, again_if_damaged};
use crate::layout::{ImageKeys, parse_manifest_seq};
use crate::manifest::Manifest;

/// One stored version of a commit record.
#[derive(Debug, Clone)]
pub(crate) struct RecordVersion {
    /// Its sequence number (from its key).
    pub seq: u64,
    /// The storage's version id, where it keeps versions.
    pub version: Option<String>,
    /// When the storage made it (ms).
    pub made_ms: u64,
}

/// What a folder's records say.
#[derive(Debug)]
pub(crate) struct Ruling {
    /// The record that rules, `None` when one listed vanished before it
    /// was read (the caller lists again).
    pub record: Option<Manifest>,
    /// The anchor and the records that follow it legitimately, when a
    /// lock holds: everything else made after the anchor was added.
    pub chain: Vec<RecordVersion>,
    /// When the anchor was made (ms), when there is one.
    pub anchored_ms: Option<u64>,
    /// The version of the record that rules.
    pub ruled_by: Option<RecordVersion>,
}

/// The record versions listed in an image's record folder (delete markers
/// left out: they hide nothing from a version listing), newest sequence
/// first, the earliest-made version of a key first.
pub(crate) fn record_versions(listed: Vec<StoredVersion>) -> Vec<RecordVersion> {
    let mut out: Vec<RecordVersion> = listed
        .into_iter()
        .filter(|v| !v.deleted)
        .filter_map(|v| {
            Some(RecordVersion { seq: parse_manifest_seq(&v.name)?, version: v.version, made_ms: v.made_ms })
        })
        .collect();
    out.sort_by(|a, b| b.seq.cmp(&a.seq).then(a.made_ms.cmp(&b.made_ms)));
    out
}

/// Reads one record version (`None` when it vanished meanwhile); one that
/// is damaged, or holds another sequence number than its key, is an error.
pub(crate) async fn read_record(store: &ObjectStore, keys: &ImageKeys, r: &RecordVersion) -> Result<Option<Manifest>> {
    let key = keys.manifest(r.seq);
    let once = || async {
        match store.get_version(&key, r.version.as_deref()).await {
            Ok(bytes) => Manifest::decode(&bytes, &key).map(Some),
            Err(e) if e.kind == StorageKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    };
    match again_if_damaged(&key, once).await? {
        Some(m) if m.seq != r.seq => {
            Err(EngineError::Integrity(format!("commit record {key} holds another sequence number")))
        }
        other => Ok(other),
    }
}

/// Whether the storage holds record version `r` under at least the lock
/// its content `m` claims.
pub(crate) async fn confirmed(store: &ObjectStore, keys: &ImageKeys, r: &RecordVersion, m: &Manifest) -> Result<bool> {
    let Some(claim) = m.lock else { return Ok(false) };
    let held =
        store.retention(&keys.manifest(r.seq), r.version.as_deref(), crate::retention::lock_mode(claim.mode)).await?;
    Ok(held.is_some_and(|h| h.mode == crate::retention::lock_mode(claim.mode) && h.until >= claim.until))
}

/// Whether `later` says what `anchor` says, but for its sequence, session,
/// time and a lock at least as long: a lock extension.
fn extends(later: &Manifest, anchor: &Manifest) -> bool {
    let body = |m: &Manifest| Manifest { seq: 0, updated: 0, session: String::new(), lock: None, ..m.clone() };
    let longer = match (later.lock, anchor.lock) {
        (Some(l), Some(a)) => l.mode == a.mode && l.until >= a.until,
        _ => false,
    };
    longer && body(later) == body(anchor)
}

/// The record that rules an image folder whose record versions are
/// `records` (as [`record_versions`] orders them, not empty).
pub(crate) async fn rule(store: &ObjectStore, keys: &ImageKeys, records: &[RecordVersion]) -> Result<Ruling> {
    let vanished = Ruling { record: None, chain: Vec::new(), anchored_ms: None, ruled_by: None };
    // The common case: one record, nothing added behind it.
    if let [only] = records {
        let record = read_record(store, keys, only).await?;
        return Ok(Ruling { record, ruled_by: Some(only.clone()), ..vanished });
    }
    let mut read_all = Vec::with_capacity(records.len());
    for r in records {
        match read_record(store, keys, r).await {
            Ok(None) => return Ok(vanished),
            other => read_all.push((r, other)),
        }
    }
    let mut claims: Vec<(&RecordVersion, &Manifest)> = read_all
        .iter()
        .filter_map(|(r, m)| match m {
            Ok(Some(m)) if m.lock.is_some() => Some((*r, m)),
            _ => None,
        })
        .collect();
    claims.sort_by_key(|(r, _)| (r.made_ms, r.seq));
    let chain = lock_chain(store, keys, &claims).await?;
    let held_until = chain.iter().filter_map(|(_, m)| m.lock.map(|l| l.until)).max().unwrap_or(0);
    let Some(((anchor, _), (last, ruling))) = chain.first().zip(chain.iter().max_by_key(|(r, _)| r.seq)) else {
        return newest(read_all, records);
    };
    if held_until <= crate::ctx::now() {
        // The lock has expired: the image is the keys' holder's again.
        return newest(read_all, records);
    }
    Ok(Ruling {
        record: Some((*ruling).clone()),
        anchored_ms: Some(anchor.made_ms),
        ruled_by: Some((*last).clone()),
        chain: chain.iter().map(|(r, _)| (*r).clone()).collect(),
    })
}

/// The newest record, which rules where no lock holds (it must be
/// readable).
fn newest(read_all: Vec<(&RecordVersion, Result<Option<Manifest>>)>, records: &[RecordVersion]) -> Result<Ruling> {
    let (_, newest) = read_all.into_iter().next().expect("records is not empty");
    Ok(Ruling { record: newest?, chain: Vec::new(), anchored_ms: None, ruled_by: records.first().cloned() })
}

/// The records of the latest lock: its anchor first, then its confirmed
/// extensions, from `claims` (records claiming a lock, in the order they
/// were made). Empty when no claimed lock is confirmed.
async fn lock_chain<'a>(
    store: &ObjectStore,
    keys: &ImageKeys,
    claims: &[(&'a RecordVersion, &'a Manifest)],
) -> Result<Vec<(&'a RecordVersion, &'a Manifest)>> {
    let mut chain: Vec<(&RecordVersion, &Manifest)> = Vec::new();
    let mut held_until_ms = 0u64;
    for (r, m) in claims {
        let while_held = !chain.is_empty() && r.made_ms < held_until_ms;
        if while_held && !(r.seq > chain[0].0.seq && extends(m, chain[0].1)) {
            tracing::warn!(record = %keys.manifest(r.seq), "a record added while the image was locked: ignored");
            continue;
        }
        if !confirmed(store, keys, r, m).await? {
            tracing::warn!(record = %keys.manifest(r.seq), "a record claims a lock the storage does not hold: ignored");
            continue;
        }
        if !while_held {
            // The first lock, or one set after every earlier one expired.
            chain.clear();
        }
        chain.push((*r, *m));
        held_until_ms = held_until_ms.max(m.lock.map_or(0, |l| l.until.saturating_mul(1000)));
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::{ImageLock, WormMode};

    fn locked(until: u64) -> Manifest {
        let mut m = Manifest::new("b", "d", 1);
        m.state = crate::manifest::ImageState::Created;
        m.lock = Some(ImageLock { until, mode: WormMode::Compliance });
        m
    }

    #[test]
    fn only_a_longer_lock_on_the_same_content_extends() {
        let a = locked(100);
        let mut longer = crate::commit::next_commit(&a);
        longer.lock = Some(ImageLock { until: 200, mode: WormMode::Compliance });
        assert!(extends(&longer, &a));
        let mut shorter = longer.clone();
        shorter.lock = Some(ImageLock { until: 99, mode: WormMode::Compliance });
        assert!(!extends(&shorter, &a));
        let mut other = longer.clone();
        other.size = 7;
        assert!(!extends(&other, &a), "other content");
        let mut unlocked = longer.clone();
        unlocked.lock = None;
        assert!(!extends(&unlocked, &a), "no lock");
        let mut weaker = longer;
        weaker.lock = Some(ImageLock { until: 200, mode: WormMode::Governance });
        assert!(!extends(&weaker, &a), "another mode");
    }

    #[test]
    fn versions_are_ordered_newest_sequence_first_then_earliest_made() {
        let v = |name: &str, id: &str, made_ms: u64, deleted: bool| StoredVersion {
            name: name.to_string(),
            version: Some(id.to_string()),
            deleted,
            made_ms,
        };
        let seq = |n: u64| format!("{n:020}");
        let listed = vec![
            v(&seq(1), "a", 10, false),
            v(&seq(2), "c", 30, false),
            v(&seq(2), "b", 20, false),
            v(&seq(2), "m", 40, true),
            v("junk", "j", 5, false),
        ];
        let ids: Vec<_> = record_versions(listed).into_iter().map(|r| r.version.unwrap()).collect();
        assert_eq!(ids, ["b", "c", "a"]);
    }
}
