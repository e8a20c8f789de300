//! The simulator's S3 service: the s3s crate speaks the protocol
//! (routing, SigV4, `aws-chunked` bodies and their trailers, XML), and this
//! module decides what each operation does to the buckets of
//! [`objects`]. It checks what a cluster checks before it stores
//! anything: `Content-MD5` and the announced or trailing checksums, the
//! condition of a conditional write (atomically), part sizes and ETags on
//! completion, key lengths.

pub(crate) mod auth;
mod checks;
mod listing;
pub(crate) mod lock;
mod multipart;
pub(crate) mod objects;
mod versioning;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use checks::{Announced, attrs_of, check_key, copy_source, read_condition, receive, write_condition};
use listing::{list, owner, token, untoken};
use objects::{Described, Objects, Sums, hex};

/// Behaviours of the S3 service that tests switch on.
#[derive(Debug, Default)]
pub(crate) struct Knobs {
    /// The next this-many requests get 503 SlowDown.
    pub slow_down: std::sync::atomic::AtomicU32,
    /// Ignore `If-None-Match` / `If-Match` as some S3 servers do (a create
    /// overwrites what exists).
    pub ignore_conditions: std::sync::atomic::AtomicBool,
    /// S3 requests served (benches count what an operation costs).
    pub requests: std::sync::atomic::AtomicU64,
}

/// The S3 service over [`Objects`].
pub(crate) struct Buckets {
    objects: Arc<Objects>,
    knobs: Arc<Knobs>,
}

impl Buckets {
    pub(crate) fn new(objects: Arc<Objects>, knobs: Arc<Knobs>) -> Self {
        Buckets { objects, knobs }
    }

    /// Counts a request, and refuses it when a fault is due.
    fn fault(&self) -> S3Result<()> {
        self.knobs.requests.fetch_add(1, Ordering::Relaxed);
        let taken = self.knobs.slow_down.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        match taken {
            Ok(_) => Err(s3_error!(SlowDown, "simulated throttling")),
            Err(_) => Ok(()),
        }
    }

    fn ignores_conditions(&self) -> bool {
        self.knobs.ignore_conditions.load(Ordering::SeqCst)
    }
}

/// Whether the caller may bypass governance retention: the cluster's own
/// S3 user may, the users VMS creates (those the plugin is given) may not.
fn may_bypass<T>(req: &S3Request<T>) -> bool {
    req.credentials.as_ref().is_some_and(|c| c.access_key == auth::ACCESS_KEY)
}

/// A body stream over an open object.
fn stream(reader: objects::Reader) -> StreamingBlob {
    let chunks = futures_util::stream::unfold(reader, |mut r| async move {
        match r.next_chunk() {
            Ok(Some(b)) => Some((Ok::<_, std::io::Error>(b), r)),
            Ok(None) => None,
            Err(e) => Some((Err(e), r)),
        }
    });
    StreamingBlob::wrap(chunks)
}

#[async_trait::async_trait]
impl S3 for Buckets {
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fault()?;
        let name = &req.input.bucket;
        if !objects::valid_bucket_name(name) {
            return Err(s3_error!(InvalidBucketName, "the specified bucket is not valid"));
        }
        let locked = req.input.object_lock_enabled_for_bucket.unwrap_or(false);
        let config =
            lock::BucketConfig { versioning: locked.then_some(true), object_lock: locked, ..Default::default() };
        match self.objects.create_bucket(name, &config) {
            Ok(true) => Ok(S3Response::new(CreateBucketOutput::default())),
            Ok(false) => Err(s3_error!(BucketAlreadyOwnedByYou, "the bucket exists")),
            Err(e) => Err(objects::internal("creating a bucket", e)),
        }
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.fault()?;
        self.objects.delete_bucket(&req.input.bucket)?;
        Ok(S3Response::new(DeleteBucketOutput::default()))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fault()?;
        self.objects.bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fault()?;
        self.objects.bucket(&req.input.bucket)?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn list_buckets(&self, _req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fault()?;
        let buckets = self
            .objects
            .bucket_names()
            .into_iter()
            .map(|(name, created)| Bucket {
                name: Some(name),
                creation_date: Some(Timestamp::from(created)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput { buckets: Some(buckets), owner: Some(owner()), ..Default::default() }))
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.fault()?;
        let S3Request { input, headers, trailing_headers, .. } = req;
        check_key(&input.key)?;
        let bucket = self.objects.bucket(&input.bucket)?;
        let announced = Announced {
            algorithm: input.checksum_algorithm,
            md5: input.content_md5,
            sums: Sums {
                crc32: input.checksum_crc32,
                crc32c: input.checksum_crc32c,
                sha1: input.checksum_sha1,
                sha256: input.checksum_sha256,
                crc64nvme: input.checksum_crc64nvme,
            },
        };
        let retention = versioning::asked(input.object_lock_mode, input.object_lock_retain_until_date)?;
        let config = bucket.config();
        if retention.is_some() && !config.object_lock {
            return Err(s3_error!(InvalidRequest, "Bucket is missing Object Lock Configuration"));
        }
        if let Some((_, until)) = retention {
            config.check_period(until, self.objects.clock.now())?;
        }
        let summed = announced.md5.is_some() || announced.algorithm.is_some() || announced.sums != Sums::default();
        let trailed = headers.contains_key("x-amz-trailer");
        if (retention.is_some() || config.default_retention.is_some()) && !summed && !trailed {
            return Err(s3_error!(
                InvalidRequest,
                "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters"
            ));
        }
        let staged = receive(&self.objects, input.body, announced, &headers, trailing_headers).await?;
        let etag = hex(&staged.md5);
        let attrs = attrs_of(
            input.content_type.map(|c| c.to_string()),
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.metadata,
        );
        let (if_match, if_none_match) =
            if self.ignores_conditions() { (None, None) } else { (input.if_match, input.if_none_match) };
        let stored =
            self.objects.store(&bucket, &input.key, staged, Described { etag, attrs, retention }, |existing| {
                write_condition(existing, &if_match, &if_none_match)
            })?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(stored.etag.clone())),
            version_id: Some(stored.version_id()).filter(|v| v != "null"),
            checksum_crc32: stored.sums.crc32.clone(),
            checksum_crc32c: stored.sums.crc32c.clone(),
            checksum_sha1: stored.sums.sha1.clone(),
            checksum_sha256: stored.sums.sha256.clone(),
            checksum_crc64nvme: stored.sums.crc64nvme.clone(),
            ..Default::default()
        }))
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.fault()?;
        let input = req.input;
        let bucket = self.objects.bucket(&input.bucket)?;
        // A read racing an overwrite may find the version it looked up
        // already replaced: it then reads the new one.
        for _ in 0..3 {
            let o = self.objects.version(&bucket, &input.key, input.version_id.as_deref())?;
            read_condition(&o, &input.if_match, &input.if_none_match)?;
            let range = match &input.range {
                Some(r) => Some(r.check(o.size)?),
                None => None,
            };
            let (offset, len) = range.as_ref().map_or((0, o.size), |r| (r.start, r.end - r.start));
            let Ok(reader) = o.open(offset, len) else { continue };
            let whole = len == o.size;
            return Ok(S3Response::new(GetObjectOutput {
                body: Some(stream(reader)),
                content_length: Some(len as i64),
                content_range: range.map(|r| format!("bytes {}-{}/{}", r.start, r.end - 1, o.size)),
                accept_ranges: Some("bytes".into()),
                last_modified: Some(Timestamp::from(o.modified)),
                e_tag: Some(ETag::Strong(o.etag.clone())),
                version_id: Some(o.version_id()).filter(|v| v != "null"),
                metadata: o.attrs.user.clone(),
                content_type: o.attrs.content_type.as_deref().and_then(|c| c.parse().ok()),
                content_encoding: o.attrs.content_encoding.clone(),
                content_disposition: o.attrs.content_disposition.clone(),
                content_language: o.attrs.content_language.clone(),
                cache_control: o.attrs.cache_control.clone(),
                // S3 returns the object's checksum only with the whole object.
                checksum_crc32: o.sums.crc32.clone().filter(|_| whole),
                checksum_crc32c: o.sums.crc32c.clone().filter(|_| whole),
                checksum_sha1: o.sums.sha1.clone().filter(|_| whole),
                checksum_sha256: o.sums.sha256.clone().filter(|_| whole),
                checksum_crc64nvme: o.sums.crc64nvme.clone().filter(|_| whole),
                ..Default::default()
            }));
        }
        Err(s3_error!(SlowDown, "the object kept changing while read"))
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.fault()?;
        let input = req.input;
        let bucket = self.objects.bucket(&input.bucket)?;
        let o = self.objects.version(&bucket, &input.key, input.version_id.as_deref())?;
        read_condition(&o, &input.if_match, &input.if_none_match)?;
        let held = o.retention();
        Ok(S3Response::new(HeadObjectOutput {
            version_id: Some(o.version_id()).filter(|v| v != "null"),
            object_lock_mode: held.until.map(|(m, _)| ObjectLockMode::from(m.dto().as_str().to_string())),
            object_lock_retain_until_date: held.until.map(|(_, t)| Timestamp::from(t)),
            object_lock_legal_hold_status: Some(ObjectLockLegalHoldStatus::from_static(if held.legal_hold {
                ObjectLockLegalHoldStatus::ON
            } else {
                ObjectLockLegalHoldStatus::OFF
            })),
            content_length: Some(o.size as i64),
            accept_ranges: Some("bytes".into()),
            last_modified: Some(Timestamp::from(o.modified)),
            e_tag: Some(ETag::Strong(o.etag.clone())),
            metadata: o.attrs.user.clone(),
            content_type: o.attrs.content_type.as_deref().and_then(|c| c.parse().ok()),
            content_encoding: o.attrs.content_encoding.clone(),
            content_disposition: o.attrs.content_disposition.clone(),
            content_language: o.attrs.content_language.clone(),
            cache_control: o.attrs.cache_control.clone(),
            checksum_crc32: o.sums.crc32.clone(),
            checksum_crc32c: o.sums.crc32c.clone(),
            checksum_sha1: o.sums.sha1.clone(),
            checksum_sha256: o.sums.sha256.clone(),
            checksum_crc64nvme: o.sums.crc64nvme.clone(),
            ..Default::default()
        }))
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.fault()?;
        let input = req.input;
        check_key(&input.key)?;
        let bucket = self.objects.bucket(&input.bucket)?;
        let source = copy_source(&self.objects, &input.copy_source)?;
        if let Some(ETagCondition::ETag(e)) = &input.copy_source_if_match
            && e.value() != source.etag
        {
            return Err(s3_error!(PreconditionFailed, "the source's ETag does not match"));
        }
        if let Some(ETagCondition::ETag(e)) = &input.copy_source_if_none_match
            && e.value() == source.etag
        {
            return Err(s3_error!(PreconditionFailed, "the source's ETag matches"));
        }
        let mut sink = self.objects.sink(Default::default())?;
        self.objects.copy_into(&mut sink, &source, 0, source.size)?;
        let mut staged = sink.finish()?;
        staged.sums = source.sums.clone();
        let replace = input.metadata_directive.as_ref().is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let attrs = if replace {
            attrs_of(
                input.content_type.map(|c| c.to_string()),
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
                input.metadata,
            )
        } else {
            source.attrs.clone()
        };
        let stored = self.objects.store(
            &bucket,
            &input.key,
            staged,
            Described { etag: source.etag.clone(), attrs, retention: None },
            |_| Ok(()),
        )?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(stored.etag.clone())),
                last_modified: Some(Timestamp::from(stored.modified)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.fault()?;
        let may_bypass = may_bypass(&req);
        let input = req.input;
        let bucket = self.objects.bucket(&input.bucket)?;
        if let Some(ETagCondition::ETag(e)) = &input.if_match {
            match bucket.get(&input.key) {
                Some(o) if o.etag == e.value() => {}
                _ => return Err(s3_error!(PreconditionFailed, "the ETag does not match")),
            }
        }
        let bypass = may_bypass && input.bypass_governance_retention.unwrap_or(false);
        let done = self.objects.delete(&bucket, &input.key, input.version_id.as_deref(), bypass)?;
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: done.marker.then_some(true),
            version_id: done.version_id,
            ..Default::default()
        }))
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.fault()?;
        let may_bypass = may_bypass(&req);
        let input = req.input;
        let bucket = self.objects.bucket(&input.bucket)?;
        if input.delete.objects.len() > 1000 {
            return Err(s3_error!(MalformedXML, "a delete names at most 1,000 keys"));
        }
        let bypass = may_bypass && input.bypass_governance_retention.unwrap_or(false);
        let quiet = input.delete.quiet.unwrap_or(false);
        let (mut deleted, mut errors) = (Vec::new(), Vec::new());
        for o in input.delete.objects {
            match self.objects.delete(&bucket, &o.key, o.version_id.as_deref(), bypass) {
                Ok(_) if quiet => {}
                Ok(done) => deleted.push(DeletedObject {
                    key: Some(o.key),
                    version_id: o.version_id.clone(),
                    delete_marker: done.marker.then_some(true),
                    delete_marker_version_id: done.version_id.filter(|_| done.marker && o.version_id.is_none()),
                }),
                Err(e) => errors.push(Error {
                    code: Some(e.code().as_str().to_string()),
                    message: e.message().map(str::to_string),
                    key: Some(o.key),
                    version_id: o.version_id,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput { deleted: Some(deleted), errors: Some(errors), ..Default::default() }))
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fault()?;
        let i = req.input;
        let prefix = i.prefix.clone().unwrap_or_default();
        let l = list(&self.objects, &i.bucket, &prefix, i.delimiter.as_deref(), i.marker.as_deref(), i.max_keys, true)?;
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(i.bucket),
            prefix: Some(prefix),
            marker: i.marker,
            max_keys: Some(i.max_keys.unwrap_or(1000)),
            is_truncated: Some(l.truncated),
            next_marker: l.last.filter(|_| l.truncated),
            contents: Some(l.contents),
            common_prefixes: Some(l.prefixes),
            delimiter: i.delimiter,
            ..Default::default()
        }))
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fault()?;
        let i = req.input;
        let prefix = i.prefix.clone().unwrap_or_default();
        let after = match &i.continuation_token {
            Some(t) => Some(untoken(t)?),
            None => i.start_after.clone(),
        };
        let with_owner = i.fetch_owner.unwrap_or(false);
        let l =
            list(&self.objects, &i.bucket, &prefix, i.delimiter.as_deref(), after.as_deref(), i.max_keys, with_owner)?;
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(i.bucket),
            prefix: Some(prefix),
            max_keys: Some(i.max_keys.unwrap_or(1000)),
            key_count: Some((l.contents.len() + l.prefixes.len()) as i32),
            continuation_token: i.continuation_token,
            start_after: i.start_after,
            is_truncated: Some(l.truncated),
            next_continuation_token: l.last.filter(|_| l.truncated).map(|m| token(&m)),
            contents: Some(l.contents),
            common_prefixes: Some(l.prefixes),
            delimiter: i.delimiter,
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.fault()?;
        multipart::create(&self.objects, req.input)
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.fault()?;
        multipart::upload_part(&self.objects, req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.fault()?;
        multipart::upload_part_copy(&self.objects, req.input)
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.fault()?;
        multipart::list_parts(&self.objects, req.input)
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.fault()?;
        multipart::list_uploads(&self.objects, req.input)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.fault()?;
        multipart::abort(&self.objects, req.input)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.fault()?;
        multipart::complete(&self.objects, self.ignores_conditions(), req.input)
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        self.fault()?;
        versioning::put_versioning(&self.objects, req.input)
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.fault()?;
        versioning::get_versioning(&self.objects, req.input)
    }

    async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        self.fault()?;
        versioning::put_lock_configuration(&self.objects, req.input)
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        self.fault()?;
        versioning::get_lock_configuration(&self.objects, req.input)
    }

    async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        self.fault()?;
        let bypass = may_bypass(&req);
        versioning::put_retention(&self.objects, req.input, bypass)
    }

    async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        self.fault()?;
        versioning::get_retention(&self.objects, req.input)
    }

    async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        self.fault()?;
        versioning::put_legal_hold(&self.objects, req.input)
    }

    async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        self.fault()?;
        versioning::get_legal_hold(&self.objects, req.input)
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        self.fault()?;
        versioning::list_versions(&self.objects, req.input)
    }
}
