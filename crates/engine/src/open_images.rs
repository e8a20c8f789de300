//! Which images this process has open, to derive OST's busy flags and to
//! refuse a second writer of the same image.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    writers: u32,
    readers: u32,
}

/// Open images of one LSU, by image key.
#[derive(Debug, Default)]
pub(crate) struct OpenImages {
    map: Mutex<HashMap<String, Usage>>,
}

/// Busy flags of an image in this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Busy {
    /// A writer has it open.
    pub writing: bool,
    /// Readers have it open.
    pub reading: bool,
}

/// Marks an image open until dropped.
#[derive(Debug)]
pub(crate) struct OpenGuard {
    owner: Arc<OpenImages>,
    key: String,
    writer: bool,
}

impl OpenGuard {
    /// Whether it marks a writer.
    pub(crate) fn is_writer(&self) -> bool {
        self.writer
    }
}

impl OpenImages {
    /// Registers a writer; `None` when one is already there.
    pub(crate) fn open_writer(self: &Arc<Self>, key: &str) -> Option<OpenGuard> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let usage = map.entry(key.to_string()).or_default();
        if usage.writers > 0 {
            return None;
        }
        usage.writers += 1;
        Some(OpenGuard { owner: self.clone(), key: key.to_string(), writer: true })
    }

    /// Registers a reader.
    pub(crate) fn open_reader(self: &Arc<Self>, key: &str) -> OpenGuard {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_string()).or_default().readers += 1;
        OpenGuard { owner: self.clone(), key: key.to_string(), writer: false }
    }

    pub(crate) fn busy(&self, key: &str) -> Busy {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let u = map.get(key).copied().unwrap_or_default();
        Busy { writing: u.writers > 0, reading: u.readers > 0 }
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let mut map = self.owner.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(u) = map.get_mut(&self.key) {
            if self.writer {
                u.writers -= 1;
            } else {
                u.readers -= 1;
            }
            if u.writers == 0 && u.readers == 0 {
                map.remove(&self.key);
            }
        }
    }
}
