//! The panic boundary and error reporting of every entry point: a failure
//! becomes one status code, a readable message kept per thread
//! (`vastost_last_error`) and a log line; a panic becomes
//! `STS_ESOFTWARE`, never an unwind into C.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::failure::Failure;
use crate::ost::{sts_status, sts_status_t};

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The message of the calling thread's last failed call ("" after a success).
pub(crate) fn last_error() -> String {
    LAST_ERROR.with(|m| m.borrow().clone())
}

fn set_last_error(message: String) {
    LAST_ERROR.with(|m| *m.borrow_mut() = message);
}

/// Runs the body of entry point `op`.
pub(crate) fn guard(op: &'static str, body: impl FnOnce() -> Result<(), Failure>) -> sts_status_t {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            set_last_error(String::new());
            sts_status::STS_EOK as sts_status_t
        }
        Ok(Err(f)) => {
            let code = f.status as sts_status_t;
            if f.status == sts_status::STS_ENOMORE {
                tracing::debug!(op, code, "{}", f.message);
            } else {
                tracing::warn!(op, code, status = f.status.name(), "{}", f.message);
            }
            set_last_error(format!("{op}: {} ({code}): {}", f.status.name(), f.message));
            code
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(op, "internal error (panic): {what}");
            let code = sts_status::STS_ESOFTWARE as sts_status_t;
            set_last_error(format!("{op}: STS_ESOFTWARE ({code}): internal error: {what}"));
            code
        }
    }
}
