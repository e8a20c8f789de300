//! The simulator's S3 service: s3s-fs, with conditional writes made atomic.
//!
//! s3s-fs checks `If-None-Match` / `If-Match` and then writes, so two
//! racing conditional PUTs can both succeed. VAST (like AWS) decides them
//! atomically, and the plugin's manifest commits rely on it, so here every
//! conditional write runs under one lock. s3s-fs also checks an upload's
//! checksum only after storing it, so a damaged upload would stay in place
//! although refused; here a PUT's CRC32C is checked first, as a real
//! cluster does. Everything else goes straight to s3s-fs.

use std::collections::HashMap;
use std::sync::Arc;

use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};
use s3s_fs::FileSystem;
use tokio::sync::Mutex;

/// The S3 users' keys, shared with the simulated VMS, which creates them.
pub(crate) type Keys = Arc<std::sync::Mutex<HashMap<String, String>>>;

/// Signature checking against the shared keys.
pub(crate) struct KeyAuth(pub Keys);

#[async_trait::async_trait]
impl S3Auth for KeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let keys = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match keys.get(access_key) {
            Some(secret) => Ok(SecretKey::from(secret.as_str())),
            None => Err(s3s::s3_error!(InvalidAccessKeyId, "no such access key")),
        }
    }
}

/// Behaviours of the S3 service that tests switch on.
#[derive(Debug, Default)]
pub(crate) struct Knobs {
    /// The next this-many requests get 503 SlowDown.
    pub slow_down: std::sync::atomic::AtomicU32,
    /// Ignore `If-None-Match` / `If-Match` as some S3 servers do (a create
    /// overwrites what exists).
    pub ignore_conditions: std::sync::atomic::AtomicBool,
}

/// s3s-fs behind a lock for conditional writes, with fault knobs.
pub(crate) struct Buckets {
    fs: FileSystem,
    /// The data folder (s3s-fs keeps its upload records there).
    root: std::path::PathBuf,
    conditional: Mutex<()>,
    knobs: Arc<Knobs>,
}

impl Buckets {
    pub(crate) fn new(fs: FileSystem, root: &std::path::Path, knobs: Arc<Knobs>) -> Self {
        Buckets { fs, root: root.to_path_buf(), conditional: Mutex::new(()), knobs }
    }

    /// S3 answers NoSuchUpload for an upload id it does not know (s3s-fs
    /// says AccessDenied).
    fn known_upload(&self, id: Option<&str>) -> S3Result<()> {
        let Some(id) = id else { return Ok(()) };
        // s3s-fs makes UUIDs: no other string is turned into a path.
        let known = uuid::Uuid::parse_str(id).is_ok_and(|u| self.root.join(format!(".upload-{u}.json")).is_file());
        if known { Ok(()) } else { Err(s3s::s3_error!(NoSuchUpload, "the specified upload does not exist")) }
    }

    fn ignores_conditions(&self) -> bool {
        self.knobs.ignore_conditions.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn fault(&self) -> S3Result<()> {
        use std::sync::atomic::Ordering;
        let taken = self.knobs.slow_down.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        match taken {
            Ok(_) => Err(s3s::s3_error!(SlowDown, "simulated throttling")),
            Err(_) => Ok(()),
        }
    }
}

/// The upload an operation names, if any.
trait NamesUpload {
    fn upload(&self) -> Option<&str> {
        None
    }
}

macro_rules! names_upload {
    ($($t:ty),*) => {$(
        impl NamesUpload for $t {
            fn upload(&self) -> Option<&str> {
                Some(&self.upload_id)
            }
        }
    )*};
}
names_upload!(
    UploadPartInput,
    UploadPartCopyInput,
    ListPartsInput,
    AbortMultipartUploadInput,
    CompleteMultipartUploadInput
);
impl NamesUpload for PutObjectInput {}

/// What a conditional write checks before it is handed to s3s-fs.
#[async_trait::async_trait]
trait CheckBody {
    async fn check_body(&mut self) -> S3Result<()>;
}

#[async_trait::async_trait]
impl CheckBody for PutObjectInput {
    /// Refuses (BadDigest) a body whose CRC32C is not the one announced.
    async fn check_body(&mut self) -> S3Result<()> {
        use futures_util::TryStreamExt;
        // The body is taken only when there is a checksum to check it with
        // (a trailing checksum of an aws-chunked body is s3s's to check).
        let Some(want) = self.checksum_crc32c.clone() else { return Ok(()) };
        let Some(body) = self.body.take() else { return Ok(()) };
        let chunks: Vec<bytes::Bytes> =
            body.try_collect().await.map_err(|e| s3s::s3_error!(IncompleteBody, "body cut short: {e}"))?;
        let data: Vec<u8> = chunks.concat();
        use base64::Engine as _;
        let got = base64::engine::general_purpose::STANDARD.encode(crc32c::crc32c(&data).to_be_bytes());
        if got != want {
            return Err(s3s::s3_error!(BadDigest, "checksum_crc32c mismatch: expected `{want}`, got `{got}`"));
        }
        self.body = Some(StreamingBlob::from(s3s::Body::from(data)));
        Ok(())
    }
}

#[async_trait::async_trait]
impl CheckBody for CompleteMultipartUploadInput {
    async fn check_body(&mut self) -> S3Result<()> {
        Ok(())
    }
}

/// Implements `S3` by handing each listed operation to s3s-fs, and the
/// given writes, once their body is checked, to s3s-fs under the lock
/// when they carry a condition.
macro_rules! buckets_s3 {
    (
        plain { $($op:ident: $input:ident => $output:ident;)* }
        upload { $($uop:ident: $uinput:ident => $uoutput:ident;)* }
        conditional { $($cop:ident: $cinput:ident => $coutput:ident;)* }
    ) => {
        #[async_trait::async_trait]
        impl S3 for Buckets {
            $(
                async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    self.fault()?;
                    self.fs.$op(req).await
                }
            )*
            $(
                async fn $uop(&self, req: S3Request<$uinput>) -> S3Result<S3Response<$uoutput>> {
                    self.fault()?;
                    self.known_upload(req.input.upload())?;
                    self.fs.$uop(req).await
                }
            )*
            $(
                async fn $cop(&self, mut req: S3Request<$cinput>) -> S3Result<S3Response<$coutput>> {
                    self.fault()?;
                    self.known_upload(req.input.upload())?;
                    req.input.check_body().await?;
                    if self.ignores_conditions() {
                        req.input.if_none_match = None;
                        req.input.if_match = None;
                    }
                    if req.input.if_none_match.is_some() || req.input.if_match.is_some() {
                        let _only_one = self.conditional.lock().await;
                        self.fs.$cop(req).await
                    } else {
                        self.fs.$cop(req).await
                    }
                }
            )*
        }
    };
}

buckets_s3! {
    plain {
        create_bucket: CreateBucketInput => CreateBucketOutput;
        delete_bucket: DeleteBucketInput => DeleteBucketOutput;
        head_bucket: HeadBucketInput => HeadBucketOutput;
        list_buckets: ListBucketsInput => ListBucketsOutput;
        get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
        get_object: GetObjectInput => GetObjectOutput;
        head_object: HeadObjectInput => HeadObjectOutput;
        copy_object: CopyObjectInput => CopyObjectOutput;
        delete_object: DeleteObjectInput => DeleteObjectOutput;
        delete_objects: DeleteObjectsInput => DeleteObjectsOutput;
        list_objects: ListObjectsInput => ListObjectsOutput;
        list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
        create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput;
    }
    upload {
        upload_part: UploadPartInput => UploadPartOutput;
        upload_part_copy: UploadPartCopyInput => UploadPartCopyOutput;
        list_parts: ListPartsInput => ListPartsOutput;
        abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput;
    }
    conditional {
        put_object: PutObjectInput => PutObjectOutput;
        complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput;
    }
}
