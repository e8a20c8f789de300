//! What versions change: deletes that add a delete marker or remove one
//! version (unless its lock protects it), finding a version by id, and
//! changing a version's retention or legal hold.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use s3s::{S3Result, s3_error};

use super::{Attrs, Bucket, Index, Object, Objects, Sums, internal, lock};
use crate::s3::lock::Retention;

/// What a delete did.
#[derive(Debug, Default)]
pub(crate) struct Deleted {
    /// The version removed, or the delete marker added.
    pub version_id: Option<String>,
    /// A delete marker was added, or removed.
    pub marker: bool,
}

impl Objects {
    /// Deletes `key`: without `version`, the current version, or where the
    /// bucket keeps versions, by adding a delete marker (which frees
    /// nothing); with one, that version, unless its lock or legal hold
    /// protects it (a governance lock yields to `bypass`).
    pub(crate) fn delete(&self, bucket: &Bucket, key: &str, version: Option<&str>, bypass: bool) -> S3Result<Deleted> {
        let now = self.clock.now();
        let mut index = bucket.index.write().unwrap_or_else(|p| p.into_inner());
        let Some(version) = version else {
            if !bucket.config().keeps_versions() {
                let gone = index.live.remove(key);
                drop(index);
                if let Some(o) = gone {
                    bucket.forget(&o);
                }
                return Ok(Deleted::default());
            }
            let seq = self.next_id();
            let marker = Object {
                key: key.to_string(),
                seq,
                versioned: true,
                marker: true,
                lock: Mutex::default(),
                size: 0,
                etag: String::new(),
                modified: now,
                attrs: Attrs::default(),
                sums: Sums::default(),
                body: None,
            };
            if !self.memory {
                let json = serde_json::to_vec(&marker).map_err(|e| internal("writing a delete marker", e))?;
                std::fs::write(bucket.dir.join(format!("{seq:x}.meta")), json)
                    .map_err(|e| internal("writing a delete marker", e))?;
            }
            let id = marker.version_id();
            let current = index.live.remove(key);
            let olds = index.old.entry(key.to_string()).or_default();
            olds.extend(current);
            olds.push(Arc::new(marker));
            return Ok(Deleted { version_id: Some(id), marker: true });
        };
        let Index { live, old } = &mut *index;
        let found = if live.get(key).is_some_and(|o| o.version_id() == version) {
            live.get(key).cloned()
        } else {
            old.get(key).and_then(|v| v.iter().find(|o| o.version_id() == version).cloned())
        };
        let Some(found) = found else {
            // S3 answers a delete of a version that is not there with success.
            return Ok(Deleted { version_id: Some(version.to_string()), marker: false });
        };
        if let Some(why) = found.retention().refuses_delete(now, bypass) {
            return Err(s3_error!(AccessDenied, "Access Denied because object protected by object lock: {why}"));
        }
        if live.get(key).is_some_and(|o| Arc::ptr_eq(o, &found)) {
            live.remove(key);
            // The version before becomes current, unless it is a marker.
            if let Some(olds) = old.get_mut(key)
                && olds.last().is_some_and(|o| !o.marker)
            {
                live.insert(key.to_string(), olds.pop().expect("a last version"));
            }
        } else if let Some(olds) = old.get_mut(key) {
            olds.retain(|o| !Arc::ptr_eq(o, &found));
            if olds.last().is_some_and(|o| !o.marker) && !live.contains_key(key) {
                live.insert(key.to_string(), olds.pop().expect("a last version"));
            }
        }
        if old.get(key).is_some_and(|v| v.is_empty()) {
            old.remove(key);
        }
        drop(index);
        bucket.forget(&found);
        Ok(Deleted { version_id: Some(version.to_string()), marker: found.marker })
    }

    /// The version `version` of `key` (the current one when `None`).
    pub(crate) fn version(&self, bucket: &Bucket, key: &str, version: Option<&str>) -> S3Result<Arc<Object>> {
        let found = bucket.with_versions(|i| match version {
            None => i.live.get(key).cloned(),
            Some(v) => i
                .live
                .get(key)
                .filter(|o| o.version_id() == v)
                .or_else(|| i.old.get(key).and_then(|olds| olds.iter().find(|o| o.version_id() == v)))
                .cloned(),
        });
        match found {
            Some(o) if !o.marker => Ok(o),
            Some(_) => Err(s3_error!(MethodNotAllowed, "the version is a delete marker")),
            None if version.is_some() => Err(s3_error!(NoSuchVersion, "the specified version does not exist")),
            None => Err(s3_error!(NoSuchKey, "the specified key does not exist")),
        }
    }

    /// Changes the retention and legal hold of a version with `f`, which
    /// sees what protects it now and the bucket's clock.
    pub(crate) fn protect(
        &self,
        bucket: &Bucket,
        object: &Object,
        f: impl FnOnce(&mut Retention, SystemTime) -> S3Result<()>,
    ) -> S3Result<()> {
        if !bucket.config().object_lock {
            return Err(s3_error!(InvalidRequest, "Bucket is missing Object Lock Configuration"));
        }
        let mut held = lock(&object.lock);
        let mut next = held.clone();
        f(&mut next, self.clock.now())?;
        let before = std::mem::replace(&mut *held, next);
        drop(held);
        if let Err(e) = bucket.rewrite_sidecar(object) {
            *lock(&object.lock) = before;
            return Err(e);
        }
        Ok(())
    }
}
