//! S3 Object Lock as a cluster enforces it: a bucket's versioning and lock
//! configuration (kept beside its objects), each version's retention and
//! legal hold, and the rules that decide whether a version may be deleted
//! or its retention changed. Time is the simulator's [`Clock`], which tests
//! move forward to see locks expire without waiting.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use s3s::dto::{ObjectLockRetentionMode, Timestamp, TimestampFormat};
use s3s::{S3Result, s3_error};

/// The simulator's time: the machine's, moved forward by what tests ask.
#[derive(Debug, Clone, Default)]
pub(crate) struct Clock {
    ahead_secs: Arc<AtomicI64>,
}

impl Clock {
    /// Now, as the simulated cluster sees it.
    pub(crate) fn now(&self) -> SystemTime {
        let ahead = self.ahead_secs.load(Ordering::SeqCst);
        let real = SystemTime::now();
        if ahead >= 0 {
            real + Duration::from_secs(ahead as u64)
        } else {
            real - Duration::from_secs(ahead.unsigned_abs())
        }
    }

    /// Moves the cluster's time forward by `by`.
    pub(crate) fn advance(&self, by: Duration) {
        self.ahead_secs.fetch_add(by.as_secs() as i64, Ordering::SeqCst);
    }
}

/// A retention mode. Governance can be shortened or removed by a user with
/// the bypass permission who asks for it; compliance by nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Mode {
    Governance,
    Compliance,
}

impl Mode {
    pub(crate) fn parse(text: &str) -> Option<Mode> {
        match text.to_ascii_uppercase().as_str() {
            "GOVERNANCE" => Some(Mode::Governance),
            "COMPLIANCE" => Some(Mode::Compliance),
            _ => None,
        }
    }

    /// S3's name of the mode.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Governance => ObjectLockRetentionMode::GOVERNANCE,
            Mode::Compliance => ObjectLockRetentionMode::COMPLIANCE,
        }
    }

    pub(crate) fn dto(self) -> ObjectLockRetentionMode {
        ObjectLockRetentionMode::from_static(self.name())
    }
}

/// What protects one object version.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Retention {
    /// Mode and retain-until time, when the version has a retention.
    pub until: Option<(Mode, SystemTime)>,
    /// A legal hold: no delete whatever the retention says.
    #[serde(default)]
    pub legal_hold: bool,
}

impl Retention {
    /// A retention of `mode` until `until`.
    #[cfg(test)]
    pub(crate) fn new(mode: Mode, until: SystemTime) -> Self {
        Retention { until: Some((mode, until)), legal_hold: false }
    }

    /// Why the version cannot be deleted now (`None` when it can). A
    /// governance retention yields to a caller who may and does bypass it.
    pub(crate) fn refuses_delete(&self, now: SystemTime, bypass: bool) -> Option<&'static str> {
        if self.legal_hold {
            return Some("the object version is under legal hold");
        }
        match self.until {
            Some((Mode::Compliance, until)) if until > now => Some("the object version is locked in compliance mode"),
            Some((Mode::Governance, until)) if until > now && !bypass => {
                Some("the object version is locked in governance mode")
            }
            _ => None,
        }
    }

    /// Checks that the retention may become `next`: a live compliance
    /// retention is only ever extended, a live governance one is shortened,
    /// removed or weakened only with the bypass.
    pub(crate) fn check_change(&self, next: Option<(Mode, SystemTime)>, now: SystemTime, bypass: bool) -> S3Result<()> {
        let Some((mode, until)) = self.until.filter(|(_, until)| *until > now) else { return Ok(()) };
        let weaker = match next {
            None => true,
            Some((next_mode, next_until)) => {
                next_until < until || (mode == Mode::Compliance && next_mode == Mode::Governance)
            }
        };
        match (weaker, mode) {
            (false, _) => Ok(()),
            (true, Mode::Governance) if bypass => Ok(()),
            (true, Mode::Governance) => {
                Err(s3_error!(AccessDenied, "a governance retention is shortened only with the bypass"))
            }
            (true, Mode::Compliance) => Err(s3_error!(AccessDenied, "a compliance retention cannot be shortened")),
        }
    }
}

/// Converts a request's timestamp.
pub(crate) fn system_time(t: &Timestamp) -> S3Result<SystemTime> {
    let mut text = Vec::new();
    t.format(TimestampFormat::EpochSeconds, &mut text).map_err(|e| s3_error!(InvalidArgument, "a bad date: {e}"))?;
    let secs: f64 = String::from_utf8_lossy(&text).parse().map_err(|_| s3_error!(InvalidArgument, "a bad date"))?;
    if secs < 0.0 {
        return Err(s3_error!(InvalidArgument, "a retain-until date before 1970"));
    }
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs))
}

/// A bucket's versioning and Object Lock settings.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct BucketConfig {
    /// `None`: never versioned; `Some(true)`: enabled; `Some(false)`:
    /// suspended (new writes replace the current version).
    pub versioning: Option<bool>,
    /// Object Lock is on (set at creation; implies versioning, for good).
    pub object_lock: bool,
    /// What every new version gets when its upload asks for nothing.
    pub default_retention: Option<(Mode, Duration)>,
    /// The shortest retention a version may be given (a view's
    /// `min_retention_period`).
    #[serde(default)]
    pub min_retention: Option<Duration>,
    /// The longest (`max_retention_period`).
    #[serde(default)]
    pub max_retention: Option<Duration>,
}

/// Where a bucket's configuration lives in its folder (the object loader
/// skips it: only `.meta`, `.obj` and `.pending` files are objects).
const CONFIG_FILE: &str = "bucket.json";

impl BucketConfig {
    pub(crate) fn load(dir: &Path) -> Self {
        std::fs::read(dir.join(CONFIG_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    pub(crate) fn save(&self, dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        let tmp = dir.join(".bucket.json.tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(tmp, dir.join(CONFIG_FILE))
    }

    /// New writes keep the versions they replace.
    pub(crate) fn keeps_versions(&self) -> bool {
        self.versioning == Some(true)
    }

    /// Checks a retention asked for against the view's bounds.
    pub(crate) fn check_period(&self, until: SystemTime, now: SystemTime) -> S3Result<()> {
        let period = until.duration_since(now).unwrap_or_default();
        if self.min_retention.is_some_and(|min| period < min) {
            return Err(s3_error!(
                InvalidArgument,
                "the retention is shorter than the bucket's minimum retention period"
            ));
        }
        if self.max_retention.is_some_and(|max| period > max) {
            return Err(s3_error!(
                InvalidArgument,
                "the retention is longer than the bucket's maximum retention period"
            ));
        }
        Ok(())
    }

    /// The retention a new version gets: the one asked for, else the
    /// bucket's default.
    pub(crate) fn retention_for(&self, asked: Option<(Mode, SystemTime)>, now: SystemTime) -> Retention {
        let until = asked.or_else(|| self.default_retention.map(|(mode, period)| (mode, now + period)));
        Retention { until, legal_hold: false }
    }
}

/// A VMS retention period (`"2d"`, `"12h"`, `"1y"`; `m` is months except
/// for the maximum, whose documented unit `m` is minutes). `None` when the
/// text is not one.
pub(crate) fn period(text: &str, m_is_minutes: bool) -> Option<Duration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let n: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let secs = match unit {
        'h' => 3_600,
        'd' => 86_400,
        'm' if m_is_minutes => 60,
        'm' => 30 * 86_400,
        'y' => 365 * 86_400,
        _ => return None,
    };
    (n > 0).then(|| Duration::from_secs(n * secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compliance_is_extended_only_and_governance_yields_to_the_bypass() {
        let now = SystemTime::now();
        let later = now + Duration::from_secs(100);
        let compliance = Retention::new(Mode::Compliance, later);
        assert!(compliance.refuses_delete(now, true).is_some());
        assert!(compliance.refuses_delete(later + Duration::from_secs(1), false).is_none());
        assert!(compliance.check_change(Some((Mode::Compliance, later + Duration::from_secs(1))), now, false).is_ok());
        assert!(compliance.check_change(Some((Mode::Compliance, now)), now, true).is_err());
        assert!(compliance.check_change(Some((Mode::Governance, later)), now, true).is_err());
        assert!(compliance.check_change(None, now, true).is_err());
        let governance = Retention::new(Mode::Governance, later);
        assert!(governance.refuses_delete(now, false).is_some());
        assert!(governance.refuses_delete(now, true).is_none());
        assert!(governance.check_change(Some((Mode::Governance, now)), now, false).is_err());
        assert!(governance.check_change(None, now, true).is_ok());
        let held = Retention { until: None, legal_hold: true };
        assert!(held.refuses_delete(now, true).is_some());
    }

    #[test]
    fn vms_periods_are_read() {
        assert_eq!(period("2d", false), Some(Duration::from_secs(2 * 86_400)));
        assert_eq!(period("12h", false), Some(Duration::from_secs(12 * 3_600)));
        assert_eq!(period("1m", false), Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(period("5m", true), Some(Duration::from_secs(300)));
        assert_eq!(period("1y", false), Some(Duration::from_secs(365 * 86_400)));
        assert_eq!(period("0d", false), None);
        assert_eq!(period("d", false), None);
        assert_eq!(period("3w", false), None);
    }
}
