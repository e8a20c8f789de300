//! Files holding secrets (S3 keys, VMS passwords): written so that the
//! secret is never readable by others, not even for a moment, and never
//! replaces another file by accident; read only when owner-only, as the
//! plugin reads its credentials files.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Writes `text` to `path` through a new file of a unique name in the same
/// folder, created mode 600, synced, then renamed over `path`: whatever
/// `path` was before (or an unrelated file beside it) is never written
/// through, and a crash leaves the old file or the new one, whole.
pub fn write(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // tempfile creates the file with O_EXCL and mode 600.
    let mut temp = tempfile::Builder::new()
        .prefix(".vastost-secret-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    temp.write_all(text.as_bytes())
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", temp.path().display()))?;
    temp.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Reads a password file (trailing line ends removed); refused unless only
/// its owner can read it.
pub fn read_password(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read the password file {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "the password file {} has mode {mode:03o}: it must be readable by its owner only (chmod 600 {})",
            path.display(),
            path.display()
        );
    }
    Ok(std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the password file {}", path.display()))?
        .trim_end_matches(['\r', '\n'])
        .to_string())
}

/// Writes an S3 credentials file at `path`, readable by its owner only.
pub fn write_credentials(path: &Path, access_key: &str, secret_key: &str) -> Result<()> {
    let keys = vastost_config::S3Keys { access_key: access_key.into(), secret_key: secret_key.into() };
    write(path, &keys.to_toml())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_replaces_only_its_own_file_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("s3-credentials.toml");
        std::fs::write(&other, "another cluster's keys").unwrap();
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o644)).unwrap();
        let target = dir.path().join("keys.toml");
        std::fs::write(&target, "old").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&target, "secret").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret");
        assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "another cluster's keys");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "no temporary file left");
    }

    #[test]
    fn a_password_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "hunter2\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_password(&p).unwrap_err().to_string().contains("mode 644"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_password(&p).unwrap(), "hunter2");
    }
}
