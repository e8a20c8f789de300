//! Where the simulator keeps its objects.
//!
//! A bucket is a folder of the data folder (so VMS views and `vastost sim
//! --bucket` make buckets by making folders). Each bucket has a sorted
//! index in memory, so a listing is a range scan and never a folder walk.
//! A body lives in a file named by a unique id, with its key and
//! attributes in a sidecar beside it: keys up to S3's 1,024 bytes fit any
//! file system, and a restart rebuilds the index from the sidecars. In
//! memory mode bodies stay in memory (nothing but the bucket folders
//! touches the disk), which shows what a client can do when the server's
//! disk is not the limit.
//!
//! A write stages its body first and only then, under the bucket's lock,
//! checks its condition and swaps the index entry: conditional writes are
//! atomic, as on a real cluster, and a refused write leaves nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use s3s::crypto::Checksum as _;
use s3s::{S3Result, s3_error};

use super::lock::{BucketConfig, Clock, Mode, Retention};

/// S3's longest key, in bytes.
pub(crate) const MAX_KEY: usize = 1024;

/// Staged bodies and multipart parts, under the data folder (not a bucket
/// name: bucket names never start with a dot).
const STAGING: &str = ".staging";

/// S3's bucket naming rules (3-63 lowercase letters, digits, hyphens and
/// dots, starting and ending with a letter or digit).
pub(crate) fn valid_bucket_name(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    (3..=63).contains(&name.len())
        && name.chars().all(|c| alnum(c) || c == '-' || c == '.')
        && name.starts_with(alnum)
        && name.ends_with(alnum)
}

/// One stored version of a key: an object, or a delete marker.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Object {
    pub key: String,
    /// Orders versions of a key across restarts: the newest wins.
    seq: u64,
    /// Written while the bucket kept versions: its version id is its own
    /// (otherwise it is S3's "null" version).
    #[serde(default)]
    versioned: bool,
    /// A delete marker (no body): the key reads as deleted while it is the
    /// newest version.
    #[serde(default)]
    pub marker: bool,
    /// Its Object Lock retention and legal hold.
    #[serde(default)]
    lock: Mutex<Retention>,
    pub size: u64,
    /// The ETag's value, without quotes.
    pub etag: String,
    pub modified: SystemTime,
    pub attrs: Attrs,
    pub sums: Sums,
    #[serde(skip)]
    body: Option<Body>,
}

impl Object {
    /// Its version id.
    pub(crate) fn version_id(&self) -> String {
        if self.versioned { format!("{:016x}", self.seq) } else { "null".to_string() }
    }

    /// What protects it now.
    pub(crate) fn retention(&self) -> Retention {
        lock(&self.lock).clone()
    }

    /// `len` bytes of the body from `offset`.
    pub(crate) fn open(&self, offset: u64, len: u64) -> std::io::Result<Reader> {
        match &self.body {
            Some(body) => body.open(offset, len),
            None => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no body")),
        }
    }
}

/// The versions of a bucket's keys.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// The current version of each key that has one (what listings show).
    pub live: BTreeMap<String, Arc<Object>>,
    /// The older versions and delete markers of each key, oldest first; a
    /// delete marker last means the key reads as deleted.
    pub old: BTreeMap<String, Vec<Arc<Object>>>,
}

/// One bucket's index.
#[derive(Debug)]
pub(crate) struct Bucket {
    dir: PathBuf,
    index: RwLock<Index>,
    config: RwLock<BucketConfig>,
}

impl Bucket {
    /// The object stored under `key`.
    pub(crate) fn get(&self, key: &str) -> Option<Arc<Object>> {
        self.index.read().unwrap_or_else(|p| p.into_inner()).live.get(key).cloned()
    }

    /// Runs `f` over the sorted index of current versions (for listings).
    pub(crate) fn with_index<R>(&self, f: impl FnOnce(&BTreeMap<String, Arc<Object>>) -> R) -> R {
        f(&self.index.read().unwrap_or_else(|p| p.into_inner()).live)
    }

    /// Runs `f` over every version (for version listings).
    pub(crate) fn with_versions<R>(&self, f: impl FnOnce(&Index) -> R) -> R {
        f(&self.index.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The bucket's versioning and lock settings.
    pub(crate) fn config(&self) -> BucketConfig {
        self.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Changes the bucket's settings with `f`, and keeps them.
    pub(crate) fn configure(&self, f: impl FnOnce(&mut BucketConfig) -> S3Result<()>) -> S3Result<()> {
        let mut config = self.config.write().unwrap_or_else(|p| p.into_inner());
        let mut next = config.clone();
        f(&mut next)?;
        next.save(&self.dir).map_err(|e| internal("saving a bucket's settings", e))?;
        *config = next;
        Ok(())
    }

    /// Removes the current version of `key` outright, whatever protects it
    /// (tests that damage storage); `false` if there was nothing.
    pub(crate) fn remove(&self, key: &str) -> bool {
        let gone = self.index.write().unwrap_or_else(|p| p.into_inner()).live.remove(key);
        match gone {
            Some(o) => {
                self.forget(&o);
                true
            }
            None => false,
        }
    }

    /// Deletes a replaced or removed version's files: the sidecar first, so
    /// that a crash in between leaves a body without a sidecar, which the
    /// next load removes.
    fn forget(&self, o: &Object) {
        let _ = std::fs::remove_file(self.dir.join(format!("{:x}.meta", o.seq)));
        if let Some(b) = &o.body {
            b.remove();
        }
    }

    /// Writes a version's sidecar again (its retention changed).
    fn rewrite_sidecar(&self, o: &Object) -> S3Result<()> {
        let Some(Body::File(path)) = &o.body else { return Ok(()) };
        let json = serde_json::to_vec(o).map_err(|e| internal("writing a sidecar", e))?;
        let tmp = path.with_extension("pending");
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, path.with_extension("meta")))
            .map_err(|e| internal("writing a sidecar", e))
    }

    /// Bytes held, by every version.
    pub(crate) fn usage(&self) -> u64 {
        self.with_versions(|i| {
            i.live.values().map(|o| o.size).sum::<u64>() + i.old.values().flatten().map(|o| o.size).sum::<u64>()
        })
    }

    /// Reads the index back from the sidecars, removing what a crash left
    /// (and, where the bucket keeps no versions, the replaced ones).
    fn load(dir: &Path, keeps_versions: bool) -> std::io::Result<Index> {
        let mut all: BTreeMap<String, Vec<Arc<Object>>> = BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(ext) = path.extension().and_then(|e| e.to_str()) else { continue };
            match ext {
                "meta" => {}
                // A sidecar of a write that was never decided.
                "pending" => {
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
                // A body whose sidecar never came (or already went).
                "obj" if !path.with_extension("meta").exists() => {
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
                _ => continue,
            }
            let body = path.with_extension("obj");
            let Ok(mut o) = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Object>(&b).map_err(|e| e.to_string()))
            else {
                tracing::warn!(path = %path.display(), "simulator: unreadable object sidecar left aside");
                continue;
            };
            if !o.marker {
                o.body = Some(Body::File(body));
            }
            all.entry(o.key.clone()).or_default().push(Arc::new(o));
        }
        let mut index = Index::default();
        for (key, mut versions) in all {
            versions.sort_by_key(|o| o.seq);
            if !keeps_versions {
                let newest = versions.split_off(versions.len() - 1);
                for o in versions.drain(..).chain(newest.iter().filter(|o| o.marker).cloned()) {
                    let _ = std::fs::remove_file(dir.join(format!("{:x}.meta", o.seq)));
                    if let Some(Body::File(p)) = &o.body {
                        let _ = std::fs::remove_file(p);
                    }
                }
                versions = newest.into_iter().filter(|o| !o.marker).collect();
            }
            if versions.last().is_some_and(|o| !o.marker) {
                let current = versions.pop().expect("a last version");
                index.live.insert(key.clone(), current);
            }
            if !versions.is_empty() {
                index.old.insert(key, versions);
            }
        }
        Ok(index)
    }
}

/// What a new version is besides its body.
#[derive(Debug, Default)]
pub(crate) struct Described {
    /// Its ETag's value, without quotes.
    pub etag: String,
    pub attrs: Attrs,
    /// The retention its upload asked for (the bucket's default applies
    /// otherwise).
    pub retention: Option<(Mode, SystemTime)>,
}

/// All buckets and uploads.
#[derive(Debug)]
pub(crate) struct Objects {
    root: PathBuf,
    memory: bool,
    buckets: Mutex<HashMap<String, Arc<Bucket>>>,
    /// Multipart uploads in progress.
    pub uploads: Uploads,
    seq: AtomicU64,
    /// The cluster's time (Object Lock decisions).
    pub clock: Clock,
}

impl Objects {
    /// Objects under `root`; bodies in memory when `memory`.
    pub(crate) fn open(root: &Path, memory: bool) -> std::io::Result<Self> {
        let staging = root.join(STAGING);
        // Staged bodies and parts of a previous run are abandoned.
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)?;
        let start = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        Ok(Objects {
            root: root.to_path_buf(),
            memory,
            buckets: Mutex::new(HashMap::new()),
            uploads: Uploads::default(),
            seq: AtomicU64::new(start),
            clock: Clock::default(),
        })
    }

    /// A bucket, if its folder exists (read from its sidecars the first
    /// time it is used).
    pub(crate) fn bucket(&self, name: &str) -> S3Result<Arc<Bucket>> {
        let dir = self.root.join(name);
        if !valid_bucket_name(name) || !dir.is_dir() {
            return Err(s3_error!(NoSuchBucket, "the specified bucket does not exist"));
        }
        let mut buckets = lock(&self.buckets);
        if let Some(b) = buckets.get(name) {
            return Ok(b.clone());
        }
        let config = BucketConfig::load(&dir);
        let index = if self.memory {
            Index::default()
        } else {
            Bucket::load(&dir, config.keeps_versions()).map_err(|e| internal("loading a bucket", e))?
        };
        let b = Arc::new(Bucket { dir, index: RwLock::new(index), config: RwLock::new(config) });
        buckets.insert(name.to_string(), b.clone());
        Ok(b)
    }

    /// Creates a bucket with settings `config`; `false` if it exists.
    pub(crate) fn create_bucket(&self, name: &str, config: &BucketConfig) -> std::io::Result<bool> {
        let dir = self.root.join(name);
        if dir.is_dir() {
            return Ok(false);
        }
        std::fs::create_dir_all(&dir)?;
        if *config != BucketConfig::default() {
            config.save(&dir)?;
        }
        lock(&self.buckets).remove(name);
        Ok(true)
    }

    /// Deletes an empty bucket.
    pub(crate) fn delete_bucket(&self, name: &str) -> S3Result<()> {
        let b = self.bucket(name)?;
        let mut buckets = lock(&self.buckets);
        if b.with_versions(|i| !i.live.is_empty() || !i.old.is_empty()) {
            return Err(s3_error!(BucketNotEmpty, "the bucket you tried to delete is not empty"));
        }
        buckets.remove(name);
        std::fs::remove_dir_all(&b.dir).map_err(|e| internal("deleting a bucket", e))
    }

    /// The buckets, by name, with their creation times.
    pub(crate) fn bucket_names(&self) -> Vec<(String, SystemTime)> {
        let mut names: Vec<(String, SystemTime)> = std::fs::read_dir(&self.root)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter_map(|e| {
                        let created = e.metadata().and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
                        e.file_name().into_string().ok().map(|n| (n, created))
                    })
                    .filter(|(n, _)| valid_bucket_name(n))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Bytes held by a bucket (0 for none).
    pub(crate) fn usage(&self, bucket: &str) -> u64 {
        self.bucket(bucket).map(|b| b.usage()).unwrap_or(0)
    }

    /// Bytes held by all buckets.
    pub(crate) fn total_usage(&self) -> u64 {
        self.bucket_names().iter().map(|(n, _)| self.usage(n)).sum()
    }

    fn next_id(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst)
    }

    /// Somewhere to receive a body; `announced` are the checksums to
    /// compute as it arrives.
    pub(crate) fn sink(&self, announced: s3s::checksum::ChecksumHasher) -> S3Result<Sink> {
        let target = if self.memory {
            SinkTarget::Memory(Vec::new())
        } else {
            let path = self.root.join(STAGING).join(format!("{:x}", self.next_id()));
            let file = std::fs::File::create(&path).map_err(|e| internal("staging a body", e))?;
            SinkTarget::File { path, file: std::io::BufWriter::with_capacity(1 << 20, file) }
        };
        Ok(Sink { target, size: 0, md5: s3s::crypto::Md5::new(), sums: announced })
    }

    /// Stores a staged body under `key` once `check` accepts what is there
    /// now; check and store are one step for every writer of the bucket.
    pub(crate) fn store(
        &self,
        bucket: &Bucket,
        key: &str,
        mut staged: Staged,
        described: Described,
        check: impl FnOnce(Option<&Object>) -> S3Result<()>,
    ) -> S3Result<Arc<Object>> {
        let Described { etag, attrs, retention } = described;
        let seq = self.next_id();
        let config = bucket.config();
        let mut object = Object {
            key: key.to_string(),
            seq,
            versioned: config.keeps_versions(),
            marker: false,
            lock: Mutex::new(config.retention_for(retention, self.clock.now())),
            size: staged.size,
            etag,
            modified: SystemTime::now(),
            attrs,
            sums: std::mem::take(&mut staged.sums),
            body: None,
        };
        // The sidecar is written beside the body under a name the loader
        // ignores, and takes its real name only once the write is decided.
        let placed = match staged.body.take() {
            Some(Body::File(staging)) => {
                let body = bucket.dir.join(format!("{seq:x}.obj"));
                let pending = body.with_extension("pending");
                let json = serde_json::to_vec(&object).map_err(|e| internal("writing a sidecar", e))?;
                let placed = std::fs::rename(&staging, &body).and_then(|()| std::fs::write(&pending, json));
                if let Err(e) = placed {
                    let _ = std::fs::remove_file(&staging);
                    let _ = std::fs::remove_file(&body);
                    let _ = std::fs::remove_file(&pending);
                    return Err(internal("storing an object", e));
                }
                staged.body = Some(Body::File(body.clone()));
                Some((body, pending))
            }
            Some(b @ Body::Memory(_)) => {
                object.body = Some(b);
                None
            }
            None => return Err(internal("storing an object", "its body was already stored")),
        };
        let mut index = bucket.index.write().unwrap_or_else(|p| p.into_inner());
        let decided = check(index.live.get(key).map(|o| &**o)).and_then(|()| match &placed {
            Some((body, pending)) => std::fs::rename(pending, body.with_extension("meta"))
                .map(|()| object.body = staged.body.take())
                .map_err(|e| internal("storing an object", e)),
            None => Ok(()),
        });
        if let Err(e) = decided {
            drop(index);
            if let Some((_, pending)) = &placed {
                let _ = std::fs::remove_file(pending);
            }
            return Err(e);
        }
        let object = Arc::new(object);
        let old = index.live.insert(key.to_string(), object.clone());
        match old {
            Some(old) if object.versioned => index.old.entry(key.to_string()).or_default().push(old),
            Some(old) => {
                drop(index);
                bucket.forget(&old);
            }
            None => {}
        }
        Ok(object)
    }

    /// Copies `len` bytes from `offset` of `object` into a new sink.
    pub(crate) fn copy_into(&self, sink: &mut Sink, object: &Object, offset: u64, len: u64) -> S3Result<()> {
        let reader = object.open(offset, len).map_err(|_| s3_error!(NoSuchKey, "the source object is gone"))?;
        sink.push_all(reader, "copying")
    }
}

/// Direct access, for tests that look at or damage what is stored the way
/// a failing disk would, without an S3 client.
impl Objects {
    /// Stores `data` under `key`, replacing what is there.
    pub(crate) fn put(&self, bucket: &str, key: &str, data: &[u8]) -> S3Result<()> {
        let b = self.bucket(bucket)?;
        let mut sink = self.sink(Default::default())?;
        sink.push(data)?;
        let staged = sink.finish()?;
        let etag = hex(&staged.md5);
        self.store(&b, key, staged, Described { etag, ..Default::default() }, |_| Ok(())).map(|_| ())
    }

    /// The bytes stored under `key`.
    pub(crate) fn read(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let o = self.bucket(bucket).ok()?.get(key)?;
        let mut reader = o.open(0, o.size).ok()?;
        let mut out = Vec::new();
        while let Some(chunk) = reader.next_chunk().ok()? {
            out.extend_from_slice(&chunk);
        }
        Some(out)
    }

    /// The keys under `prefix`, in order.
    pub(crate) fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let Ok(b) = self.bucket(bucket) else { return Vec::new() };
        b.with_index(|i| {
            i.range(prefix.to_string()..).map(|(k, _)| k).take_while(|k| k.starts_with(prefix)).cloned().collect()
        })
    }
}

mod body;
mod uploads;
mod versions;

pub(crate) use body::{Attrs, Reader, Sink, Staged, Sums, hex, internal};
use body::{Body, SinkTarget, lock};
pub(crate) use uploads::Uploads;

#[cfg(test)]
mod tests;
