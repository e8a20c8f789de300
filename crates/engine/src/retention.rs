//! The types of WORM: an LSU's policy, an image's lock and its mode. Kept
//! apart from `worm` (which locks images through the commit log) so that
//! the configuration and the commit records can name them.

use vastost_storage::{LockMode, Retention};

/// Who may lift a lock before it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WormMode {
    /// A privileged user who asks to (VAST and S3 "governance"; NetBackup's
    /// "enterprise" mode).
    Governance,
    /// Nobody (NetBackup's "compliance" mode).
    Compliance,
}

impl WormMode {
    /// The storage's name for the mode.
    pub(crate) fn storage(self) -> LockMode {
        match self {
            WormMode::Governance => LockMode::Governance,
            WormMode::Compliance => LockMode::Compliance,
        }
    }

    /// `compliance` or `governance`.
    pub fn as_str(self) -> &'static str {
        match self {
            WormMode::Governance => "governance",
            WormMode::Compliance => "compliance",
        }
    }
}

/// An LSU's WORM policy: the mode of its locks and how long a lock may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WormPolicy {
    /// The mode every lock of the LSU gets.
    pub mode: WormMode,
    /// The shortest lock, in seconds from the moment it is set.
    pub min_secs: u64,
    /// The longest.
    pub max_secs: u64,
}

/// An image's lock: it cannot be deleted before `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageLock {
    /// Seconds since the epoch when it expires.
    pub until: u64,
    /// Who may lift it early.
    pub mode: WormMode,
}

impl ImageLock {
    /// Whether it still holds at `at`.
    pub fn holds_at(&self, at: u64) -> bool {
        self.until > at
    }

    /// Whether it still holds.
    pub fn holds_now(&self) -> bool {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.holds_at(now)
    }

    /// The storage lock of the objects it covers.
    pub(crate) fn retention(self) -> Retention {
        Retention { mode: self.mode.storage(), until: self.until }
    }
}
