//! Events: what happened to images, kept on the storage itself so that any
//! media server (of this NetBackup domain or of another one, with its own
//! plugin instance) can poll them, and so that they survive restarts.
//!
//! Each event is one small object `.vastost/events/<time>-<token>` in the
//! bookkeeping of the LSU it concerns (see `bookkeeping`); the time
//! (nanoseconds since the epoch, 20 digits) makes the names sort in the
//! order the events happened. A replication ("import
//! this image") event is written into the *target* LSU by the copy that
//! made the image there. Events nobody deletes expire after the server's
//! `event_retention_hours` (the reclaimer removes them).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::ctx::{LsuCtx, now};
use crate::error::Result;
use crate::layout::EVENTS;
use crate::manifest::Manifest;

/// What an event tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An image was closed complete.
    ImageCreated,
    /// An image was deleted.
    ImageDeleted,
    /// A copy within the server finished; the image is the new copy.
    CopyDone,
    /// An image was replicated here from another server: import it.
    Replicated,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The LSU of the image.
    pub lsu: String,
    /// The image's basename.
    pub basename: String,
    /// The image's date.
    pub date: String,
    /// The image's size in bytes.
    pub size: u64,
    /// Seconds since the epoch when it happened.
    pub time: u64,
    /// Where the image came from (`server/lsu`), for copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// An event as stored: its key names it for deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The LSU holding it.
    pub lsu: String,
    /// Its object key in that LSU.
    pub key: String,
    /// What it says.
    pub event: Event,
}

/// Stores `event` in LSU `ctx`.
pub(crate) async fn post(ctx: &LsuCtx, event: &Event) -> Result<()> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let key = format!("{EVENTS}{nanos:020}-{:08x}", fastrand::u32(..));
    let bytes = serde_json::to_vec(event).expect("an event serializes");
    ctx.books.put(&key, Bytes::from(bytes)).await?;
    Ok(())
}

/// Stores an event about the image `m` of LSU `ctx`. Events are a
/// courtesy to pollers: failing to store one is logged, never fails the
/// operation that already happened.
pub(crate) async fn post_image(ctx: &LsuCtx, kind: EventKind, m: &Manifest, source: Option<String>) {
    let event = Event {
        kind,
        lsu: ctx.name.to_string(),
        basename: m.basename.clone(),
        date: m.date.clone(),
        size: m.size,
        time: now(),
        source,
    };
    if let Err(e) = post(ctx, &event).await {
        tracing::warn!(lsu = %ctx.name, image = %m.basename, kind = ?kind, error = %e, "event not stored");
    }
}

/// How far back of the newest event it handed out a poller looks again:
/// events are named after the clock of the media server that wrote them,
/// and one with a slower clock may write an event that sorts before.
pub const REWIND: std::time::Duration = std::time::Duration::from_secs(300);

/// Event names listed per request.
pub(crate) const PAGE: usize = 1000;

/// The time an event's name (under [`EVENTS`]) tells, in nanoseconds.
fn name_nanos(name: &str) -> Option<u128> {
    name.split('-').next()?.parse().ok()
}

/// Where a poller that handed out the event named `name` looks back from
/// ([`REWIND`] before it), as a name prefix; `None` before any event.
pub(crate) fn rewind(name: &str) -> Option<String> {
    Some(format!("{:020}", name_nanos(name)?.saturating_sub(REWIND.as_nanos())))
}

/// Up to `limit` names of events of LSU `ctx` that sort after `after`
/// ("" for the oldest), oldest first: one listing request on S3.
pub(crate) async fn names_after(ctx: &LsuCtx, after: &str, limit: usize) -> Result<Vec<String>> {
    let entries = ctx.books.list_page(EVENTS, after, limit).await?;
    Ok(entries.into_iter().filter(|e| !e.is_dir).map(|e| e.name).collect())
}

/// Reads event `key` of LSU `ctx`: `None` when it was deleted meanwhile
/// or is unreadable (logged).
pub(crate) async fn read(ctx: &LsuCtx, key: &str) -> Result<Option<StoredEvent>> {
    let bytes = match ctx.books.get(key).await {
        Ok(b) => b,
        Err(e) if e.kind == vastost_storage::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match serde_json::from_slice::<Event>(&bytes) {
        Ok(event) => Ok(Some(StoredEvent { lsu: ctx.name.to_string(), key: key.to_string(), event })),
        Err(e) => {
            tracing::warn!(event = %key, error = %e, "unreadable event skipped");
            Ok(None)
        }
    }
}

/// The events of LSU `ctx`, oldest first.
pub(crate) async fn list(ctx: &LsuCtx) -> Result<Vec<StoredEvent>> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let names = names_after(ctx, &after, PAGE).await?;
        for name in &names {
            out.extend(read(ctx, &format!("{EVENTS}{name}")).await?);
        }
        match names.last() {
            Some(last) if names.len() == PAGE => after = last.clone(),
            _ => return Ok(out),
        }
    }
}

/// Deletes event `key` of LSU `ctx` (deleting a deleted event succeeds).
pub(crate) async fn delete(ctx: &LsuCtx, key: &str) -> Result<()> {
    if !key.starts_with(EVENTS) || key[EVENTS.len()..].contains('/') {
        return Err(crate::error::EngineError::invalid(format!("{key:?} is not an event")));
    }
    ctx.books.delete(key).await?;
    Ok(())
}

/// Deletes the events older than `hours`; returns how many. Their names
/// tell their age, so none is read: a page of names per request, and one
/// batch delete per page.
pub(crate) async fn expire(ctx: &LsuCtx, hours: u64) -> Result<u64> {
    let cutoff = u128::from(now().saturating_sub(hours.saturating_mul(3600))) * 1_000_000_000;
    let (mut n, mut after) = (0, String::new());
    loop {
        let names = names_after(ctx, &after, PAGE).await?;
        let full = names.len() == PAGE;
        let old: Vec<String> = names
            .iter()
            .take_while(|name| name_nanos(name).is_some_and(|t| t < cutoff))
            .map(|name| format!("{EVENTS}{name}"))
            .collect();
        let reached_new = old.len() < names.len();
        n += old.len() as u64;
        ctx.books.delete_many(old).await?;
        match names.last() {
            Some(last) if full && !reached_new => after = last.clone(),
            _ => return Ok(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poller_looks_back_a_little_before_what_it_saw() {
        let name = format!("{:020}-0000abcd", 1_000_000_000_000_000_000u128);
        let from = rewind(&name).unwrap();
        assert_eq!(from, format!("{:020}", 1_000_000_000_000_000_000u128 - REWIND.as_nanos()));
        // Every event written within the rewind window sorts after it.
        let just_before = format!("{:020}-ffffffff", 1_000_000_000_000_000_000u128 - REWIND.as_nanos() + 1);
        assert!(just_before.as_str() > from.as_str());
        assert_eq!(rewind(&format!("{:020}-1", 5)).unwrap(), format!("{:020}", 0));
        assert!(rewind("").is_none(), "nothing handed out yet");
    }
}
