//! Reference markers: how an image that holds another image's bytes by
//! reference (a same-server copy, a virtual synthetic image) keeps them
//! from being reclaimed, without a lock server.
//!
//! The fragments referenced belong to their *owner*, the image that wrote
//! them. Before an image takes references it writes a marker into each
//! owner's folder (`refs/<id>`, naming the referencing image and when), and
//! only then checks that its source is still whole; it commits within the
//! grace period of that check, or renews marker and check first. The
//! reclaimer lists an owner's markers before deciding what is garbage:
//!
//! - a marker whose image is gone or deleted protects nothing;
//! - a marker younger than the grace period whose image is still being
//!   written protects every fragment of the owner (references may be in
//!   the making);
//! - otherwise the marker protects what the referencing image's newest
//!   commit references.
//!
//! With storage that is strongly consistent (VAST's S3 and NFS are), either
//! the reclaimer sees the marker, or the referencing image sees the
//! owner's deletion and gives up: a committed reference never dangles.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::commit::latest_record;
use crate::ctx::{LsuCtx, now};
use crate::error::{EngineError, Result};
use crate::layout::ImageKeys;
use crate::manifest::{ImageState, Manifest, ObjectRef};
use crate::names::{ImageDef, checksum64};

/// The content of a marker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Marker {
    /// LSU of the referencing image.
    pub lsu: String,
    /// The referencing image.
    pub basename: String,
    pub date: String,
    /// Seconds since the epoch when it was written.
    pub at: u64,
}

/// Writes (or renews) the marker of image `def` of LSU `lsu` in the folder
/// of `owner` (an image of `owner_ctx`).
pub(crate) async fn write_marker(owner_ctx: &LsuCtx, owner: &ImageKeys, lsu: &str, def: &ImageDef) -> Result<()> {
    let id = checksum64(&format!("{lsu}\n{}\n{}", def.basename(), def.date()));
    let marker = Marker { lsu: lsu.to_string(), basename: def.basename().into(), date: def.date().into(), at: now() };
    let bytes = serde_json::to_vec(&marker).expect("a marker serializes");
    owner_ctx.store.put(&owner.marker(&id), Bytes::from(bytes)).await?;
    Ok(())
}

/// What the markers of an owner say.
#[derive(Debug, Default)]
pub(crate) struct Protection {
    /// A reference may be in the making: keep everything.
    pub everything: bool,
    /// Fragment keys of the owner that live images reference.
    pub keys: HashSet<String>,
    /// Markers that protect nothing any more (their image is gone).
    pub stale: Vec<String>,
}

/// Reads the markers of `owner` (an image of `ctx`) and what they protect.
pub(crate) async fn protection(ctx: &Arc<LsuCtx>, owner: &ImageKeys, grace: u64) -> Result<Protection> {
    let mut out = Protection::default();
    let store = &ctx.store;
    for entry in store.list(&owner.refs_dir()).await?.into_iter().filter(|e| !e.is_dir) {
        let key = owner.marker(&entry.name);
        let marker: Marker = match store.get(&key).await {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    // Unreadable: it may be a marker being written; keep all.
                    tracing::warn!(marker = %key, error = %e, "unreadable reference marker: keeping the image's data");
                    out.everything = true;
                    continue;
                }
            },
            Err(e) if e.kind == vastost_storage::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        let referrer = match referrer_manifest(ctx, &marker).await {
            Ok(Some(m)) if m.state != ImageState::Deleted => m,
            Ok(_) => {
                out.stale.push(key);
                continue;
            }
            // Its LSU is gone: so is the image.
            Err(EngineError::NoSuchLsu(_)) => {
                out.stale.push(key);
                continue;
            }
            Err(e) => return Err(e),
        };
        if referrer.state == ImageState::Pending && now() < marker.at.saturating_add(grace) {
            out.everything = true;
        }
        for e in &referrer.extents {
            let lsu = e.object.lsu.as_deref().unwrap_or(&marker.lsu);
            if lsu == ctx.name.as_str() && owner.owns(&e.object.key) {
                out.keys.insert(e.object.key.clone());
            }
        }
    }
    Ok(out)
}

async fn referrer_manifest(ctx: &Arc<LsuCtx>, marker: &Marker) -> Result<Option<Manifest>> {
    let def = match ImageDef::new(&marker.basename, &marker.date) {
        Ok(def) => def,
        Err(_) => return Ok(None),
    };
    let lsu = ctx.sibling(&marker.lsu).await?;
    let m = latest_record(&lsu.store, &ImageKeys::new(&def)).await?;
    Ok(m.filter(|m| m.basename == marker.basename && m.date == marker.date))
}

/// The image that wrote a data fragment: where reference markers for it go.
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    pub lsu: String,
    pub keys: ImageKeys,
}

impl PartialEq for Owner {
    fn eq(&self, other: &Self) -> bool {
        self.lsu == other.lsu && self.keys.root() == other.keys.root()
    }
}

impl Owner {
    /// The owner of `obj`, referenced from an image of LSU `home` (objects
    /// name their LSU only when it is another one); `None` when the object
    /// is not an image fragment.
    pub(crate) fn of(obj: &ObjectRef, home: &str) -> Option<Owner> {
        let keys = ImageKeys::owner_of(&obj.key)?;
        Some(Owner { lsu: obj.lsu.as_deref().unwrap_or(home).to_string(), keys })
    }

    /// Adds `self` to `owners` unless it is there.
    pub(crate) fn add_to(self, owners: &mut Vec<Owner>) {
        if !owners.contains(&self) {
            owners.push(self);
        }
    }
}

/// An image whose bytes a writer references: what the writer must renew
/// and re-check before each commit that comes late.
#[derive(Debug)]
pub(crate) struct SourceUse {
    /// The source image (it may itself reference other owners).
    pub ctx: Arc<LsuCtx>,
    pub def: ImageDef,
    pub seq: u64,
    /// Owners marked: (LSU, image keys).
    pub owners: Vec<Owner>,
    pub marked_at: Instant,
}

impl SourceUse {
    /// Marks `owners` for the image `def` of LSU `lsu`, then checks the
    /// source is still the complete image it was (same commit).
    pub(crate) async fn mark_and_check(&mut self, owners: &[Owner], lsu: &str, def: &ImageDef) -> Result<()> {
        for owner in owners {
            write_marker(&*self.ctx.sibling(&owner.lsu).await?, &owner.keys, lsu, def).await?;
        }
        self.marked_at = Instant::now();
        match latest_record(&self.ctx.store, &ImageKeys::new(&self.def)).await? {
            Some(m) if m.seq == self.seq && m.state == ImageState::Created => Ok(()),
            _ => Err(EngineError::NoSuchImage(format!(
                "{} (the source was deleted or changed during the copy)",
                self.def
            ))),
        }
    }

    /// Renews markers and check when the last ones are older than half
    /// the grace period.
    pub(crate) async fn renew_if_old(&mut self, grace: u64, lsu: &str, def: &ImageDef) -> Result<()> {
        if self.marked_at.elapsed().as_secs() * 2 >= grace {
            let owners = self.owners.clone();
            self.mark_and_check(&owners, lsu, def).await?;
        }
        Ok(())
    }
}
