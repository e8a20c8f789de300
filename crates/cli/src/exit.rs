//! What the exit code says: 0 done, 1 failed, 3 the data is damaged or
//! differs (a verification mismatch, or the plugin's `STS_EINTEGRITY`), 4
//! a locked image is whole but someone wrote behind its lock (tampered,
//! restorable from the locked versions), 5 something was written by a newer
//! plugin in a stored format this one does not read (`STS_ENEWERFORMAT`:
//! not damage; upgrade).

use std::process::ExitCode;

/// Verification found different data (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// Objects were written behind a lock; the locked image restores whole
/// (exit code 4).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Tampered(pub String);

/// Images of a newer plugin were found and left alone (exit code 5).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NewerFormat(pub String);

/// The exit code of a failed command.
pub(crate) fn code_of(e: &anyhow::Error) -> ExitCode {
    let damage = e.chain().any(|c| {
        c.downcast_ref::<Mismatch>().is_some()
            || c.downcast_ref::<vastost_loader::OstError>()
                .is_some_and(|o| o.code() == Some(vastost_ost::sts_status::STS_EINTEGRITY))
    });
    if damage {
        ExitCode::from(3)
    } else if e.chain().any(|c| c.downcast_ref::<Tampered>().is_some()) {
        ExitCode::from(4)
    } else if e.chain().any(|c| {
        c.downcast_ref::<NewerFormat>().is_some()
            || c.downcast_ref::<vastost_loader::OstError>()
                .is_some_and(|o| o.code() == Some(vastost_ost::sts_status::STS_ENEWERFORMAT))
    }) {
        ExitCode::from(5)
    } else {
        ExitCode::from(1)
    }
}
