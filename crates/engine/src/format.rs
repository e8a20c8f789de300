//! Stored formats: which this plugin reads and writes, and what an LSU
//! says about the formats written to it.
//!
//! A format is one number for everything the plugin stores: commit
//! records, fragment names, the LSU's own objects. It is the frame version
//! of every commit record (see `manifest`), the first thing a reader sees,
//! and it goes up by one whenever anything stored changes meaning.
//!
//! | format | first written by | what changed |
//! |---|---|---|
//! | 1 | the first releases (up to 0aa5641) | records checked by a CRC32C of their payload; fragments `frag/<seq>-<token>` |
//! | 2 | this series | the CRC32C covers the whole record; images carry a life token (`incarnation`) and fragments `frag/<life>-<seq>-<token>`; WORM locks pin object versions; whole-image content records; format markers |
//!
//! The rules, stated once:
//! - Every plugin reads every earlier format; nothing is ever rewritten
//!   to upgrade it (old images keep their format until they expire).
//! - The frame is fixed from format 2 on: magic, version, length, then a
//!   CRC32C of the header and payload. A plugin checks that CRC on a
//!   record of any later format, so damage is still told from a record it
//!   is too old to read; an intact record of a later format is reported as
//!   [`EngineError::NewerFormat`] (never as damage), and nothing is
//!   deleted, reclaimed or rewritten on its strength.
//! - Each LSU holds a marker per format written to it
//!   (`.vastost/formats/<format>`), made before the first commit record of
//!   that format. A marker names the oldest format that may still write
//!   beside it (`writers_from`): a plugin older than that refuses to write
//!   to the LSU (it may still read), so a future format that older writers
//!   would corrupt can shut them out. Format 2 lets every format write.
//!   A plugin rereads the markers at most every 10 minutes (per process
//!   and, through the host cache, per media server), so a plugin that
//!   raises `writers_from` waits that long after writing its marker before
//!   it writes anything older writers must not meet.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use vastost_storage::ErrorKind as StorageKind;

use crate::bookkeeping::Bookkeeping;
use crate::error::{EngineError, Result};
use crate::host_cache;

/// The format this plugin writes.
pub const WRITTEN: u32 = 2;
/// The oldest format this plugin reads (every one up to [`WRITTEN`]).
pub const OLDEST_READ: u32 = 1;
/// The oldest format that may write beside what this plugin writes.
const WRITERS_FROM: u32 = 1;

/// The folder of the format markers, in the LSU's bookkeeping.
pub(crate) const MARKERS: &str = ".vastost/formats/";

/// How long a process or host trusts that an LSU's markers allow it to
/// write.
const REMEMBERED: Duration = Duration::from_secs(600);

/// One format marker.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    format: u32,
    writers_from: u32,
    /// The plugin version that wrote it first, for people.
    #[serde(default)]
    plugin: String,
    /// Seconds since the epoch when it was written.
    #[serde(default)]
    since: u64,
}

/// The formats written to an LSU, as its markers say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LsuFormats {
    /// Every format with a marker, oldest first. Empty for an empty LSU,
    /// or one written only by plugins of format 1, which made none.
    pub written: Vec<u32>,
    /// The oldest format allowed to write to it.
    pub writers_from: u32,
}

impl LsuFormats {
    /// The newest format written to the LSU, as far as markers tell.
    pub fn newest(&self) -> Option<u32> {
        self.written.last().copied()
    }
}

/// The error for `what`, found in format `found`, newer than ours.
pub(crate) fn newer(what: String, found: u32) -> EngineError {
    EngineError::NewerFormat { what, found, ours: WRITTEN }
}

/// The key of the marker of `format`.
fn marker_key(format: u32) -> String {
    format!("{MARKERS}{format:04}")
}

/// Reads the markers of an LSU. A marker of a later format is read to learn
/// who may write beside it; one that cannot be read is taken to shut
/// every older writer out (the safe side).
pub(crate) async fn read(books: &Bookkeeping) -> Result<LsuFormats> {
    // Markers are few (one per format ever written): one page holds them.
    let listed = match books.list_page(MARKERS, "", 1000).await {
        Ok(entries) => entries,
        Err(e) if e.kind == StorageKind::NotFound => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut written: Vec<u32> = listed.iter().filter(|e| !e.is_dir).filter_map(|e| e.name.parse().ok()).collect();
    written.sort_unstable();
    let mut writers_from = WRITERS_FROM;
    for &format in written.iter().filter(|f| **f > WRITTEN) {
        let said = match books.get(&marker_key(format)).await {
            Ok(bytes) => serde_json::from_slice::<Marker>(&bytes).map_or(format, |m| m.writers_from),
            Err(e) if e.kind == StorageKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        writers_from = writers_from.max(said);
    }
    Ok(LsuFormats { written, writers_from })
}

/// The check before an LSU's commit records: the LSU lets this format
/// write, and holds its marker. Done again after [`REMEMBERED`], in a
/// process and (through the host cache) on a media server.
#[derive(Debug, Default)]
pub(crate) struct WriteGate {
    passed: Mutex<Option<Instant>>,
}

impl WriteGate {
    /// Notes that the gate was passed now.
    fn stamp(&self) {
        *self.passed.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// Passes, or refuses with [`EngineError::NewerFormat`] when a newer
    /// format written to the LSU shuts this one out.
    pub(crate) async fn pass(&self, books: &Bookkeeping, lsu: &str) -> Result<()> {
        let fresh = |at: &Option<Instant>| at.is_some_and(|t| t.elapsed() < REMEMBERED);
        if fresh(&self.passed.lock().unwrap_or_else(|p| p.into_inner())) {
            return Ok(());
        }
        let cache_key = books.describe();
        let ours = WRITTEN.to_string();
        if host_cache::recall("formats", &cache_key, REMEMBERED).as_deref() == Some(ours.as_str()) {
            self.stamp();
            return Ok(());
        }
        let found = read(books).await?;
        if found.writers_from > WRITTEN {
            let newest = found.newest().unwrap_or(found.writers_from);
            tracing::error!(
                lsu,
                newest,
                writers_from = found.writers_from,
                "a newer format written here shuts this plugin's writes out"
            );
            let what = format!(
                "LSU {lsu} (its format {newest} images allow writes by format {} and later only)",
                found.writers_from
            );
            return Err(newer(what, newest));
        }
        if !found.written.contains(&WRITTEN) {
            let marker = Marker {
                format: WRITTEN,
                writers_from: WRITERS_FROM,
                plugin: env!("CARGO_PKG_VERSION").to_string(),
                since: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            };
            let bytes = Bytes::from(serde_json::to_vec(&marker).expect("a marker serializes"));
            match books.put_new(&marker_key(WRITTEN), bytes).await {
                Ok(()) => {
                    tracing::info!(target: "audit", lsu, format = WRITTEN, "first record of this format in the LSU: marker written")
                }
                Err(e) if e.kind == StorageKind::AlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
        }
        host_cache::remember("formats", &cache_key, &ours);
        self.stamp();
        Ok(())
    }
}
