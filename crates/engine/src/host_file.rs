//! A small file that the plugin processes of one media server share, each
//! changing it in turn under an exclusive lock (`flock`): the bandwidth
//! buckets and the host memory ledger are kept in such files, in the state
//! folder (`host_cache`), which is closed to other users.
//!
//! The kernel drops a lock with its process, so a job killed while it
//! held one never blocks the others; what the killed job had taken is the
//! owner's business (the bucket forgets it by itself, the ledger reclaims
//! the shares of processes that are gone).

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// The little-endian `u64` at `at` of a shared file's bytes.
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("eight bytes"))
}

/// One shared file, open for the process's life.
#[derive(Debug)]
pub(crate) struct HostFile {
    file: File,
}

impl HostFile {
    /// Opens (or creates, owner only) `path`, never through a link
    /// someone planted.
    pub(crate) fn open(path: &Path) -> std::io::Result<HostFile> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(path)?;
        Ok(HostFile { file })
    }

    /// Runs `f` on the file's first `N` bytes (zeros past its end) under
    /// the lock, and writes them back.
    pub(crate) fn with<const N: usize, T>(&self, f: impl FnOnce(&mut [u8; N]) -> T) -> std::io::Result<T> {
        self.file.lock()?;
        let result = (|| {
            let mut bytes = [0u8; N];
            let mut read = 0;
            while read < N {
                match self.file.read_at(&mut bytes[read..], read as u64)? {
                    0 => break,
                    n => read += n,
                }
            }
            let out = f(&mut bytes);
            self.file.write_all_at(&bytes, 0)?;
            Ok(out)
        })();
        let _ = self.file.unlock();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_seen_by_every_opener_and_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let (a, b) = (HostFile::open(&path).unwrap(), HostFile::open(&path).unwrap());
        a.with(|bytes: &mut [u8; 4]| bytes[0] = 7).unwrap();
        assert_eq!(b.with(|bytes: &mut [u8; 4]| bytes[0]).unwrap(), 7);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(HostFile::open(&link).is_err());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
