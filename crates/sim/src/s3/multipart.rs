//! Multipart uploads: create, parts (uploaded or copied), list, abort,
//! complete (parts in order, ETags matching, 5 MiB but the last).

use s3s::crypto::Checksum as _;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::auth::ACCESS_KEY;
use super::checks::{Announced, attrs_of, check_key, copy_source, receive, write_condition};
use super::listing::owner;
use super::objects::{Described, Objects, Sums, Uploads, hex};

/// S3's smallest part, except the last.
const MIN_PART: u64 = 5 << 20;

/// Starts an upload.
pub(super) fn create(
    objects: &Objects,
    i: CreateMultipartUploadInput,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    check_key(&i.key)?;
    objects.bucket(&i.bucket)?;
    let attrs = attrs_of(
        i.content_type.map(|c| c.to_string()),
        i.content_encoding,
        i.content_disposition,
        i.content_language,
        i.cache_control,
        i.metadata,
    );
    let id = objects.uploads.create(&i.bucket, &i.key, attrs);
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(i.bucket),
        key: Some(i.key),
        upload_id: Some(id),
        ..Default::default()
    }))
}

/// Receives a part, checked like a PUT's body.
pub(super) async fn upload_part(
    objects: &Objects,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let S3Request { input: i, headers, trailing_headers, .. } = req;
    if !(1..=10_000).contains(&i.part_number) {
        return Err(s3_error!(InvalidArgument, "part numbers are 1 to 10,000"));
    }
    objects.uploads.with(&i.upload_id, &i.bucket, &i.key, |_| Ok(()))?;
    let announced = Announced {
        algorithm: i.checksum_algorithm,
        md5: i.content_md5,
        sums: Sums {
            crc32: i.checksum_crc32,
            crc32c: i.checksum_crc32c,
            sha1: i.checksum_sha1,
            sha256: i.checksum_sha256,
            crc64nvme: i.checksum_crc64nvme,
        },
    };
    let staged = receive(objects, i.body, announced, &headers, trailing_headers).await?;
    let etag = hex(&staged.md5);
    let sums = staged.sums.clone();
    objects.uploads.put_part(&i.upload_id, &i.bucket, &i.key, i.part_number, staged)?;
    Ok(S3Response::new(UploadPartOutput {
        e_tag: Some(ETag::Strong(etag)),
        checksum_crc32: sums.crc32,
        checksum_crc32c: sums.crc32c,
        checksum_sha1: sums.sha1,
        checksum_sha256: sums.sha256,
        checksum_crc64nvme: sums.crc64nvme,
        ..Default::default()
    }))
}

/// Makes a part of (a range of) an existing object.
pub(super) fn upload_part_copy(
    objects: &Objects,
    i: UploadPartCopyInput,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    if !(1..=10_000).contains(&i.part_number) {
        return Err(s3_error!(InvalidArgument, "part numbers are 1 to 10,000"));
    }
    objects.uploads.with(&i.upload_id, &i.bucket, &i.key, |_| Ok(()))?;
    let source = copy_source(objects, &i.copy_source)?;
    let (offset, len) = match &i.copy_source_range {
        None => (0, source.size),
        Some(r) => {
            let range = r
                .strip_prefix("bytes=")
                .and_then(|r| r.split_once('-'))
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                .filter(|(a, b)| a <= b && *b < source.size)
                .ok_or_else(|| s3_error!(InvalidArgument, "the copy source range {r} is not valid"))?;
            (range.0, range.1 - range.0 + 1)
        }
    };
    let mut sink = objects.sink(Default::default())?;
    objects.copy_into(&mut sink, &source, offset, len)?;
    let staged = sink.finish()?;
    let etag = hex(&staged.md5);
    objects.uploads.put_part(&i.upload_id, &i.bucket, &i.key, i.part_number, staged)?;
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(ETag::Strong(etag)),
            last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
            ..Default::default()
        }),
        ..Default::default()
    }))
}

/// The parts of an upload, a page at a time.
pub(super) fn list_parts(objects: &Objects, i: ListPartsInput) -> S3Result<S3Response<ListPartsOutput>> {
    let max = usize::try_from(i.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
    let after = i.part_number_marker.unwrap_or(0);
    let (parts, truncated) = objects.uploads.with(&i.upload_id, &i.bucket, &i.key, |u| {
        let mut parts: Vec<Part> = u
            .parts
            .range(after + 1..)
            .map(|(n, p)| Part {
                part_number: Some(*n),
                size: Some(p.size as i64),
                e_tag: Some(ETag::Strong(hex(&p.md5))),
                last_modified: Some(Timestamp::from(p.modified)),
                ..Default::default()
            })
            .collect();
        let truncated = parts.len() > max;
        parts.truncate(max);
        Ok((parts, truncated))
    })?;
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(i.bucket),
        key: Some(i.key),
        upload_id: Some(i.upload_id),
        part_number_marker: i.part_number_marker,
        next_part_number_marker: parts.last().and_then(|p| p.part_number).filter(|_| truncated),
        max_parts: Some(max as i32),
        is_truncated: Some(truncated),
        parts: Some(parts),
        ..Default::default()
    }))
}

/// The uploads in progress of a bucket, by key.
pub(super) fn list_uploads(
    objects: &Objects,
    i: ListMultipartUploadsInput,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    objects.bucket(&i.bucket)?;
    let prefix = i.prefix.clone().unwrap_or_default();
    let max = usize::try_from(i.max_uploads.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
    let key_marker = i.key_marker.clone().unwrap_or_default();
    let id_marker = i.upload_id_marker.clone();
    let mut uploads = Vec::new();
    let mut truncated = false;
    for (key, id, initiated) in objects.uploads.list(&i.bucket) {
        let past_marker = match &id_marker {
            Some(m) if key == key_marker => id.as_str() > m.as_str(),
            _ => key.as_str() > key_marker.as_str(),
        };
        if !key.starts_with(&prefix) || !past_marker {
            continue;
        }
        if uploads.len() == max {
            truncated = true;
            break;
        }
        uploads.push(MultipartUpload {
            key: Some(key),
            upload_id: Some(id),
            initiated: Some(Timestamp::from(initiated)),
            owner: Some(owner()),
            initiator: Some(Initiator { display_name: Some(ACCESS_KEY.into()), id: Some(ACCESS_KEY.into()) }),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..Default::default()
        });
    }
    let last = uploads.last().map(|u| (u.key.clone(), u.upload_id.clone()));
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(i.bucket),
        prefix: Some(prefix),
        key_marker: i.key_marker,
        upload_id_marker: i.upload_id_marker,
        max_uploads: Some(max as i32),
        is_truncated: Some(truncated),
        next_key_marker: last.clone().and_then(|l| l.0).filter(|_| truncated),
        next_upload_id_marker: last.and_then(|l| l.1).filter(|_| truncated),
        uploads: Some(uploads),
        ..Default::default()
    }))
}

/// Ends an upload and frees its parts.
pub(super) fn abort(
    objects: &Objects,
    i: AbortMultipartUploadInput,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let upload = objects.uploads.take(&i.upload_id, &i.bucket, &i.key)?;
    Uploads::discard_parts(&upload);
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

/// Assembles the chosen parts into the object, under its write condition.
pub(super) fn complete(
    objects: &Objects,
    ignore_conditions: bool,
    i: CompleteMultipartUploadInput,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let bucket = objects.bucket(&i.bucket)?;
    let upload = objects.uploads.take(&i.upload_id, &i.bucket, &i.key)?;
    let assembled = (|| {
        let chosen = i.multipart_upload.as_ref().and_then(|m| m.parts.as_ref()).filter(|p| !p.is_empty());
        let Some(chosen) = chosen else {
            return Err(s3_error!(MalformedXML, "you must specify at least one part"));
        };
        let mut sink = objects.sink(Default::default())?;
        let mut md5s = Vec::new();
        let mut previous = 0;
        for (n, c) in chosen.iter().enumerate() {
            let number = c.part_number.unwrap_or(0);
            if number <= previous {
                return Err(s3_error!(InvalidPartOrder, "the list of parts was not in ascending order"));
            }
            previous = number;
            let part =
                upload.parts.get(&number).ok_or_else(|| s3_error!(InvalidPart, "part {number} was not uploaded"))?;
            if c.e_tag.as_ref().is_some_and(|e| e.value() != hex(&part.md5)) {
                return Err(s3_error!(InvalidPart, "part {number}'s ETag does not match"));
            }
            if n + 1 < chosen.len() && part.size < MIN_PART {
                return Err(s3_error!(EntityTooSmall, "part {number} is smaller than 5 MiB"));
            }
            Uploads::append_part(&mut sink, part)?;
            md5s.extend_from_slice(&part.md5);
        }
        let etag = format!("{}-{}", hex(&s3s::crypto::Md5::checksum(&md5s)), chosen.len());
        Ok((sink.finish()?, etag))
    })();
    let (staged, etag) = match assembled {
        Ok(done) => done,
        Err(e) => {
            objects.uploads.restore(&i.upload_id, upload);
            return Err(e);
        }
    };
    let (if_match, if_none_match) =
        if ignore_conditions { (None, None) } else { (i.if_match.clone(), i.if_none_match.clone()) };
    let stored = objects.store(
        &bucket,
        &i.key,
        staged,
        Described { etag, attrs: upload.attrs.clone(), retention: None },
        |existing| write_condition(existing, &if_match, &if_none_match),
    );
    match stored {
        Ok(stored) => {
            Uploads::discard_parts(&upload);
            Ok(S3Response::new(CompleteMultipartUploadOutput {
                bucket: Some(i.bucket),
                key: Some(i.key),
                e_tag: Some(ETag::Strong(stored.etag.clone())),
                ..Default::default()
            }))
        }
        Err(e) => {
            // The parts stay: the client may complete again or abort.
            objects.uploads.restore(&i.upload_id, upload);
            Err(e)
        }
    }
}
