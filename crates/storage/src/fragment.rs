//! One writer of new objects piece by piece, whatever the backend: in
//! place on a filesystem (past the page cache where it may, see
//! `fs::writer`), gathered in a buffer the caller lends and stored whole
//! elsewhere (an S3 upload needs its bytes at hand).

use bytes::Bytes;

use crate::error::Result;
use crate::fs::writer::DirectWriter;
use crate::store::{Backend, ObjectStore};

/// A new object being written; nothing refers to it until the caller
/// commits a record naming it, so one left half-written is only an orphan.
#[derive(Debug)]
pub struct FragmentWriter {
    key: String,
    store: ObjectStore,
    how: How,
}

#[derive(Debug)]
enum How {
    /// Written in place as it comes (a filesystem).
    InPlace(DirectWriter),
    /// Gathered in the caller's buffer, stored whole by `finish`.
    Whole(Vec<u8>),
}

impl FragmentWriter {
    /// Memory a writer in place past the page cache holds at most (its
    /// staging buffers), which the caller pays before asking for one.
    pub const DIRECT_MEMORY: u64 = DirectWriter::MEMORY;

    pub(crate) fn in_place(store: &ObjectStore, key: &str, writer: DirectWriter) -> Self {
        FragmentWriter { key: key.to_string(), store: store.clone(), how: How::InPlace(writer) }
    }

    pub(crate) fn whole(store: &ObjectStore, key: &str, buffer: Vec<u8>) -> Self {
        FragmentWriter { key: key.to_string(), store: store.clone(), how: How::Whole(buffer) }
    }

    /// Its object's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Appends `data` (in place: a blocking call, to make from the caller's
    /// thread, never from a runtime worker).
    pub fn write_all(&mut self, data: &[u8]) -> Result<()> {
        match &mut self.how {
            How::InPlace(w) => w.write_all(data),
            How::Whole(buffer) => {
                buffer.extend_from_slice(data);
                Ok(())
            }
        }
    }

    /// Makes the object durable (stored whole, or synced in place) and
    /// gives back the buffer it was lent, emptied, once the storage is done
    /// with it (for the next fragment).
    pub async fn finish(self) -> (Result<()>, Option<Vec<u8>>) {
        match self.how {
            How::InPlace(w) => (w.finish().await, None),
            How::Whole(buffer) => {
                let bytes = Bytes::from(buffer);
                let stored = self.store.put(&self.key, bytes.clone()).await;
                (stored, crate::pool::emptied(bytes))
            }
        }
    }

    /// Gives up an object nothing was written to: what was created for it
    /// is removed; the lent buffer comes back.
    pub async fn abandon(self) -> Option<Vec<u8>> {
        match self.how {
            How::InPlace(w) => {
                drop(w);
                if let Err(e) = self.store.delete(&self.key).await {
                    tracing::debug!(object = %self.key, error = %e, "an empty object not removed");
                }
                None
            }
            How::Whole(buffer) => Some(buffer),
        }
    }
}

impl ObjectStore {
    /// A writer of new object `key`, piece by piece: in place on a
    /// filesystem (with a runtime, and unless the store was opened without
    /// direct writes, past the page cache, run by that runtime's blocking
    /// threads and holding up to [`FragmentWriter::DIRECT_MEMORY`] bytes);
    /// elsewhere its bytes are gathered in the buffer `lend` gives (asked
    /// only then) and stored whole when it finishes.
    pub fn fragment_writer(
        &self,
        key: &str,
        rt: Option<&tokio::runtime::Handle>,
        lend: impl FnOnce() -> Vec<u8>,
    ) -> Result<FragmentWriter> {
        match &*self.backend {
            Backend::Fs(s) => {
                let file = DirectWriter::create(s, key, rt.filter(|_| s.direct_writes).cloned())?;
                Ok(FragmentWriter::in_place(self, key, file))
            }
            Backend::Memory(_) | Backend::S3(_) => Ok(FragmentWriter::whole(self, key, lend())),
        }
    }
}
