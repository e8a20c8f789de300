//! A store in process memory, for tests: OpenDAL's memory service, with
//! create-if-absent made atomic by a lock (the service has none).

use bytes::Bytes;
use opendal::{Operator, services};

use crate::error::{ErrorKind, Result, StorageError};

/// Objects in memory.
#[derive(Debug)]
pub(crate) struct MemoryStore {
    pub op: Operator,
    create_lock: tokio::sync::Mutex<()>,
}

impl MemoryStore {
    pub(crate) fn open() -> Result<Self> {
        let op =
            Operator::new(services::Memory::default()).map_err(|e| StorageError::from_opendal("open", "memory", e))?;
        Ok(MemoryStore { op, create_lock: tokio::sync::Mutex::new(()) })
    }

    /// Writes `data` under `key` unless an object is there.
    pub(crate) async fn put_new(&self, key: &str, data: Bytes) -> Result<()> {
        let _guard = self.create_lock.lock().await;
        match self.op.stat(key).await {
            Ok(_) => return Err(StorageError::new(ErrorKind::AlreadyExists, "put_new", key, "object exists")),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::from_opendal("put_new", key, e)),
        }
        self.op.write(key, data).await.map_err(|e| StorageError::from_opendal("put_new", key, e))?;
        Ok(())
    }
}
