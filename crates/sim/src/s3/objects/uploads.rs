//! Multipart uploads in progress: their parts, kept as staged bodies until
//! the upload completes (assembled into one object) or is aborted.

use std::collections::BTreeMap;
use std::time::SystemTime;

use s3s::{S3Result, s3_error};

use std::sync::Mutex;

use super::body::{Attrs, Body, Sink, Staged, internal, lock};

/// A multipart part.
#[derive(Debug)]
pub(crate) struct Part {
    pub size: u64,
    pub md5: [u8; 16],
    pub modified: SystemTime,
    body: Body,
}

/// A multipart upload in progress (kept in memory: a simulator restart
/// forgets them, as if the cluster had expired them).
#[derive(Debug)]
pub(crate) struct Upload {
    pub bucket: String,
    pub key: String,
    pub attrs: Attrs,
    pub initiated: SystemTime,
    pub parts: BTreeMap<i32, Part>,
}

/// The uploads in progress, by id.
#[derive(Debug, Default)]
pub(crate) struct Uploads(Mutex<BTreeMap<String, Upload>>);

impl Uploads {
    /// Starts a multipart upload; its id.
    pub(crate) fn create(&self, bucket: &str, key: &str, attrs: Attrs) -> String {
        let id = format!("{:032x}", fastrand::u128(..));
        let upload = Upload {
            bucket: bucket.into(),
            key: key.into(),
            attrs,
            initiated: SystemTime::now(),
            parts: BTreeMap::new(),
        };
        lock(&self.0).insert(id.clone(), upload);
        id
    }

    /// Runs `f` on the upload `id` of `bucket`/`key`.
    pub(crate) fn with<R>(
        &self,
        id: &str,
        bucket: &str,
        key: &str,
        f: impl FnOnce(&mut Upload) -> S3Result<R>,
    ) -> S3Result<R> {
        let mut uploads = lock(&self.0);
        match uploads.get_mut(id) {
            Some(u) if u.bucket == bucket && u.key == key => f(u),
            _ => Err(s3_error!(NoSuchUpload, "the specified upload does not exist")),
        }
    }

    /// Stores a part (replacing one of the same number).
    pub(crate) fn put_part(&self, id: &str, bucket: &str, key: &str, number: i32, mut staged: Staged) -> S3Result<()> {
        let mut uploads = lock(&self.0);
        match uploads.get_mut(id) {
            Some(u) if u.bucket == bucket && u.key == key => {
                let body = staged.body.take().ok_or_else(|| internal("storing a part", "no body"))?;
                let part = Part { size: staged.size, md5: staged.md5, modified: SystemTime::now(), body };
                if let Some(old) = u.parts.insert(number, part) {
                    old.body.remove();
                }
                Ok(())
            }
            // The staged body goes with `staged`.
            _ => Err(s3_error!(NoSuchUpload, "the specified upload does not exist")),
        }
    }

    /// Ends an upload, handing back its parts (whose files the caller
    /// removes with [`Uploads::discard_parts`] once assembled).
    pub(crate) fn take(&self, id: &str, bucket: &str, key: &str) -> S3Result<Upload> {
        self.with(id, bucket, key, |_| Ok(()))?;
        lock(&self.0).remove(id).ok_or_else(|| s3_error!(NoSuchUpload, "the specified upload does not exist"))
    }

    /// Puts an upload back (a completion that was refused).
    pub(crate) fn restore(&self, id: &str, upload: Upload) {
        lock(&self.0).insert(id.to_string(), upload);
    }

    /// Removes the files of an upload's parts.
    pub(crate) fn discard_parts(upload: &Upload) {
        for p in upload.parts.values() {
            p.body.remove();
        }
    }

    /// Uploads in progress in `bucket`, by key then start time.
    pub(crate) fn list(&self, bucket: &str) -> Vec<(String, String, SystemTime)> {
        let mut all: Vec<(String, String, SystemTime)> = lock(&self.0)
            .iter()
            .filter(|(_, u)| u.bucket == bucket)
            .map(|(id, u)| (u.key.clone(), id.clone(), u.initiated))
            .collect();
        all.sort_by(|a, b| (&a.0, a.2, &a.1).cmp(&(&b.0, b.2, &b.1)));
        all
    }

    /// Copies a part's bytes into `sink`.
    pub(crate) fn append_part(sink: &mut Sink, part: &Part) -> S3Result<()> {
        let reader = part.body.open(0, part.size).map_err(|e| internal("reading a part", e))?;
        sink.push_all(reader, "reading a part")
    }
}
