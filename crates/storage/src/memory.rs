//! A store in process memory, for tests: OpenDAL's memory service, with
//! create-if-absent made atomic by a lock (the service has none).

use std::collections::HashMap;

use bytes::Bytes;
use opendal::{Operator, services};

use crate::error::{ErrorKind, Result, StorageError};
use crate::types::Retention;

/// Objects in memory.
#[derive(Debug)]
pub(crate) struct MemoryStore {
    pub op: Operator,
    create_lock: tokio::sync::Mutex<()>,
    /// Object locks, enforced on delete as a locked bucket would.
    locks: std::sync::Mutex<HashMap<String, Retention>>,
}

impl MemoryStore {
    pub(crate) fn open() -> Result<Self> {
        let op =
            Operator::new(services::Memory::default()).map_err(|e| StorageError::from_opendal("open", "memory", e))?;
        Ok(MemoryStore { op, create_lock: tokio::sync::Mutex::new(()), locks: Default::default() })
    }

    /// Writes `data` under `key` unless an object is there.
    pub(crate) async fn put_new(&self, key: &str, data: Bytes) -> Result<()> {
        self.create(key, data, None).await
    }

    /// Creates `key` unless it exists, locked as it appears.
    pub(crate) async fn put_new_locked(&self, key: &str, data: Bytes, r: Retention) -> Result<()> {
        self.create(key, data, Some(r)).await
    }

    async fn create(&self, key: &str, data: Bytes, lock: Option<Retention>) -> Result<()> {
        let _guard = self.create_lock.lock().await;
        match self.op.stat(key).await {
            Ok(_) => return Err(StorageError::new(ErrorKind::AlreadyExists, "put_new", key, "object exists")),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::from_opendal("put_new", key, e)),
        }
        if let Some(r) = lock {
            self.locks.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_string(), r);
        }
        self.op.write(key, data).await.map_err(|e| StorageError::from_opendal("put_new", key, e))?;
        Ok(())
    }

    pub(crate) async fn lock(&self, key: &str, r: Retention) -> Result<()> {
        if self.op.stat(key).await.is_err() {
            return Err(StorageError::new(ErrorKind::NotFound, "lock", key, "no such object"));
        }
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        // A compliance lock at least as long covers any asked for, so what
        // is not covered is a lock to set or extend.
        if !locks.get(key).is_some_and(|held| held.covers(&r)) {
            locks.insert(key.to_string(), r);
        }
        Ok(())
    }

    /// Lifts the governance lock of `key`; a compliance lock stays.
    pub(crate) fn unlock(&self, key: &str) -> Result<()> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        match locks.get(key) {
            Some(held) if held.mode == crate::types::LockMode::Compliance => {
                Err(StorageError::new(ErrorKind::PermissionDenied, "unlock", key, "a compliance lock is never lifted"))
            }
            _ => {
                locks.remove(key);
                Ok(())
            }
        }
    }

    /// The lock of `key`.
    pub(crate) fn retention(&self, key: &str) -> Option<Retention> {
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).get(key).copied()
    }

    /// Refuses when one of `keys` (or, for a folder ending with `/`, a key
    /// under it) is locked at `now`.
    pub(crate) fn check_unlocked<'a>(&self, keys: impl IntoIterator<Item = &'a str>, now: u64) -> Result<()> {
        let locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            let held = locks
                .iter()
                .find(|(k, r)| r.until > now && (k.as_str() == key || (key.ends_with('/') && k.starts_with(key))));
            if let Some((k, r)) = held {
                return Err(StorageError::new(
                    ErrorKind::PermissionDenied,
                    "delete",
                    k,
                    format!("locked ({}) until {}", r.mode.s3_name(), r.until),
                ));
            }
        }
        Ok(())
    }
}
