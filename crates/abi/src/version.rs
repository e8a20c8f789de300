//! The plugin's version, with the git commit it was built from (see
//! `version-build.rs`).

/// The plugin's version: `<crate version>+git.<commit>`.
pub const VERSION: &str = env!("VASTOST_VERSION");
/// The same, NUL-terminated, for C.
pub(crate) const VERSION_C: &str = concat!(env!("VASTOST_VERSION"), "\0");
