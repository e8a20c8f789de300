//! The types of WORM: an LSU's policy, an image's lock and its mode. Kept
//! apart from `worm` (which locks images through the commit log) so that
//! the configuration and the commit records can name them.

use vastost_storage::{LockMode, Retention};

pub use vastost_config::{WormMode, WormPolicy};

/// The storage's name for a lock mode.
pub(crate) fn lock_mode(mode: WormMode) -> LockMode {
    match mode {
        WormMode::Governance => LockMode::Governance,
        WormMode::Compliance => LockMode::Compliance,
    }
}

/// The policy of an LSU whose view is `view`: a locked view's mode and
/// bounds win over the configuration's (`configured`, which fills what the
/// view leaves unset); a view that does not lock gives none, since nothing
/// would enforce the locks (logged when one was configured).
pub(crate) fn policy_of_view(
    view: &vastost_vms::View,
    configured: Option<WormPolicy>,
    lsu: &str,
) -> Option<WormPolicy> {
    if !view.locked() {
        if configured.is_some() {
            tracing::warn!(
                lsu,
                "worm_mode is set but the LSU's view does not lock (WORM off on the cluster): locks would not be enforced, the LSU is not WORM"
            );
        }
        return None;
    }
    let mode = match view.s3_locks_retention_mode.as_deref().or(view.files_retention_mode.as_deref()) {
        Some("GOVERNANCE") => WormMode::Governance,
        Some("COMPLIANCE") => WormMode::Compliance,
        _ => configured.map_or(WormMode::Compliance, |c| c.mode),
    };
    let bound = |text: &Option<String>, m_is_minutes: bool| {
        text.as_deref().and_then(|t| vastost_vms::period_secs(t, m_is_minutes))
    };
    let defaults = configured.unwrap_or(WormPolicy::with_defaults(mode));
    Some(WormPolicy {
        mode,
        min_secs: bound(&view.min_retention_period, false).unwrap_or(defaults.min_secs),
        max_secs: bound(&view.max_retention_period, true).unwrap_or(defaults.max_secs),
        default_secs: bound(&view.default_retention_period, false).or(defaults.default_secs),
    })
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
    /// Whether it still holds. (The clock is read here rather than through
    /// `ctx::now`, which this module cannot name without a cycle.)
    pub fn holds_now(&self) -> bool {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.until > now
    }

    /// The storage lock of the objects it covers.
    pub(crate) fn retention(self) -> Retention {
        Retention { mode: lock_mode(self.mode), until: self.until }
    }
}
