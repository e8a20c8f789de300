//! Versioning and Object Lock requests: a bucket's versioning and lock
//! configuration, a version's retention and legal hold, and the listing of
//! every version. What the rules are is `lock`'s; this module reads the
//! requests and answers them.

use s3s::dto::*;
use s3s::{S3Response, S3Result, s3_error};

use super::listing::{Item, owner, page};
use super::lock::{Mode, system_time};
use super::objects::Objects;

/// The retention a write asks for in its headers (mode and date come
/// together or not at all).
pub(super) fn asked(
    mode: Option<ObjectLockMode>,
    until: Option<Timestamp>,
) -> S3Result<Option<(Mode, std::time::SystemTime)>> {
    match (mode, until) {
        (None, None) => Ok(None),
        (Some(m), Some(t)) => {
            let mode = Mode::parse(m.as_str()).ok_or_else(|| s3_error!(InvalidArgument, "unknown lock mode"))?;
            Ok(Some((mode, system_time(&t)?)))
        }
        _ => Err(s3_error!(InvalidArgument, "x-amz-object-lock-mode and -retain-until-date come together")),
    }
}

pub(super) fn put_versioning(
    objects: &Objects,
    i: PutBucketVersioningInput,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let bucket = objects.bucket(&i.bucket)?;
    let enable = match i.versioning_configuration.status.as_ref().map(|s| s.as_str()) {
        Some(BucketVersioningStatus::ENABLED) => true,
        Some(BucketVersioningStatus::SUSPENDED) => false,
        _ => return Err(s3_error!(MalformedXML, "versioning status is Enabled or Suspended")),
    };
    bucket.configure(|c| {
        if c.object_lock && !enable {
            return Err(s3_error!(InvalidBucketState, "versioning cannot be suspended on a bucket with Object Lock"));
        }
        c.versioning = Some(enable);
        Ok(())
    })?;
    Ok(S3Response::new(PutBucketVersioningOutput::default()))
}

pub(super) fn get_versioning(
    objects: &Objects,
    i: GetBucketVersioningInput,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let config = objects.bucket(&i.bucket)?.config();
    let status = config.versioning.map(|on| {
        BucketVersioningStatus::from_static(if on {
            BucketVersioningStatus::ENABLED
        } else {
            BucketVersioningStatus::SUSPENDED
        })
    });
    Ok(S3Response::new(GetBucketVersioningOutput { status, ..Default::default() }))
}

pub(super) fn put_lock_configuration(
    objects: &Objects,
    i: PutObjectLockConfigurationInput,
) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
    let bucket = objects.bucket(&i.bucket)?;
    let asked = i.object_lock_configuration.unwrap_or_default();
    let default = match asked.rule.and_then(|r| r.default_retention) {
        None => None,
        Some(d) => {
            let mode = d.mode.as_ref().and_then(|m| Mode::parse(m.as_str()));
            let days = match (d.days, d.years) {
                (Some(days), None) if days > 0 => days as u64,
                (None, Some(years)) if years > 0 => years as u64 * 365,
                _ => return Err(s3_error!(MalformedXML, "a default retention has days or years, above zero")),
            };
            let mode = mode.ok_or_else(|| s3_error!(MalformedXML, "a default retention has a mode"))?;
            Some((mode, std::time::Duration::from_secs(days * 86_400)))
        }
    };
    bucket.configure(|c| {
        if !c.object_lock && c.versioning != Some(true) {
            return Err(s3_error!(InvalidBucketState, "Object Lock needs versioning enabled"));
        }
        c.object_lock = true;
        c.versioning = Some(true);
        c.default_retention = default;
        Ok(())
    })?;
    Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
}

pub(super) fn get_lock_configuration(
    objects: &Objects,
    i: GetObjectLockConfigurationInput,
) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
    let config = objects.bucket(&i.bucket)?.config();
    if !config.object_lock {
        return Err(s3_error!(ObjectLockConfigurationNotFoundError, "Object Lock configuration does not exist"));
    }
    let rule = config.default_retention.map(|(mode, period)| ObjectLockRule {
        default_retention: Some(DefaultRetention {
            mode: Some(mode.dto()),
            days: Some(period.as_secs().div_ceil(86_400) as i32),
            years: None,
        }),
    });
    Ok(S3Response::new(GetObjectLockConfigurationOutput {
        object_lock_configuration: Some(ObjectLockConfiguration {
            object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
            rule,
        }),
    }))
}

pub(super) fn put_retention(
    objects: &Objects,
    i: PutObjectRetentionInput,
    may_bypass: bool,
) -> S3Result<S3Response<PutObjectRetentionOutput>> {
    let bucket = objects.bucket(&i.bucket)?;
    let object = objects.version(&bucket, &i.key, i.version_id.as_deref())?;
    let bypass = may_bypass && i.bypass_governance_retention.unwrap_or(false);
    let next = match i.retention {
        Some(r) => asked(r.mode.map(|m| ObjectLockMode::from(m.as_str().to_string())), r.retain_until_date)?,
        None => None,
    };
    let config = bucket.config();
    objects.protect(&bucket, &object, |held, now| {
        held.check_change(next, now, bypass)?;
        if let Some((_, until)) = next {
            config.check_period(until, now)?;
        }
        held.until = next;
        Ok(())
    })?;
    Ok(S3Response::new(PutObjectRetentionOutput::default()))
}

pub(super) fn get_retention(
    objects: &Objects,
    i: GetObjectRetentionInput,
) -> S3Result<S3Response<GetObjectRetentionOutput>> {
    let bucket = objects.bucket(&i.bucket)?;
    let object = objects.version(&bucket, &i.key, i.version_id.as_deref())?;
    let Some((mode, until)) = object.retention().until else {
        return Err(s3_error!(NoSuchObjectLockConfiguration, "the object has no retention"));
    };
    Ok(S3Response::new(GetObjectRetentionOutput {
        retention: Some(ObjectLockRetention {
            mode: Some(mode.dto()),
            retain_until_date: Some(Timestamp::from(until)),
        }),
    }))
}

pub(super) fn put_legal_hold(
    objects: &Objects,
    i: PutObjectLegalHoldInput,
) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
    let bucket = objects.bucket(&i.bucket)?;
    let object = objects.version(&bucket, &i.key, i.version_id.as_deref())?;
    let on = match i.legal_hold.and_then(|h| h.status).as_ref().map(|s| s.as_str()) {
        Some(ObjectLockLegalHoldStatus::ON) => true,
        Some(ObjectLockLegalHoldStatus::OFF) => false,
        _ => return Err(s3_error!(MalformedXML, "a legal hold is ON or OFF")),
    };
    objects.protect(&bucket, &object, |held, _| {
        held.legal_hold = on;
        Ok(())
    })?;
    Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
}

pub(super) fn get_legal_hold(
    objects: &Objects,
    i: GetObjectLegalHoldInput,
) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
    let bucket = objects.bucket(&i.bucket)?;
    let object = objects.version(&bucket, &i.key, i.version_id.as_deref())?;
    let status =
        if object.retention().legal_hold { ObjectLockLegalHoldStatus::ON } else { ObjectLockLegalHoldStatus::OFF };
    Ok(S3Response::new(GetObjectLegalHoldOutput {
        legal_hold: Some(ObjectLockLegalHold { status: Some(ObjectLockLegalHoldStatus::from_static(status)) }),
    }))
}

/// `ListObjectVersions`: every version and delete marker under a prefix,
/// newest first within a key, a page of whole keys at a time (a key's
/// versions are never split across pages here, so the version-id marker
/// is not needed to continue).
pub(super) fn list_versions(
    objects: &Objects,
    i: ListObjectVersionsInput,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let bucket = objects.bucket(&i.bucket)?;
    let prefix = i.prefix.clone().unwrap_or_default();
    let max = usize::try_from(i.max_keys.unwrap_or(1000).clamp(1, 1000)).unwrap_or(1000);
    let (versions, markers, prefixes, next, truncated) = bucket.with_versions(|index| {
        // Every key with a version: current ones and keys with only old
        // versions or markers.
        let mut keys: std::collections::BTreeMap<String, ()> = std::collections::BTreeMap::new();
        let in_range = |k: &String| k.starts_with(&prefix);
        keys.extend(index.live.keys().filter(|k| in_range(k)).map(|k| (k.clone(), ())));
        keys.extend(index.old.keys().filter(|k| in_range(k)).map(|k| (k.clone(), ())));
        let page = page(&keys, &prefix, i.delimiter.as_deref(), i.key_marker.as_deref(), max);
        let (mut versions, mut markers, mut prefixes) = (Vec::new(), Vec::new(), Vec::new());
        let next = page.items.last().map(|item| item.marker().to_string());
        for item in page.items {
            let key = match item {
                Item::Key(k, _) => k,
                Item::Prefix(p) => {
                    prefixes.push(CommonPrefix { prefix: Some(p) });
                    continue;
                }
            };
            let olds = index.old.get(key).map(Vec::as_slice).unwrap_or_default();
            let newest_first = index.live.get(key).into_iter().chain(olds.iter().rev());
            for (n, o) in newest_first.enumerate() {
                let common = (Some(key.to_string()), Some(o.version_id()), Some(n == 0));
                if o.marker {
                    markers.push(DeleteMarkerEntry {
                        key: common.0,
                        version_id: common.1,
                        is_latest: common.2,
                        last_modified: Some(Timestamp::from(o.modified)),
                        owner: Some(owner()),
                    });
                } else {
                    versions.push(ObjectVersion {
                        key: common.0,
                        version_id: common.1,
                        is_latest: common.2,
                        last_modified: Some(Timestamp::from(o.modified)),
                        e_tag: Some(ETag::Strong(o.etag.clone())),
                        size: Some(o.size as i64),
                        storage_class: Some(ObjectVersionStorageClass::from_static(
                            ObjectVersionStorageClass::STANDARD,
                        )),
                        owner: Some(owner()),
                        ..Default::default()
                    });
                }
            }
        }
        (versions, markers, prefixes, next, page.truncated)
    });
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(i.bucket),
        prefix: Some(prefix),
        key_marker: i.key_marker,
        max_keys: Some(max as i32),
        delimiter: i.delimiter,
        is_truncated: Some(truncated),
        next_key_marker: next.filter(|_| truncated),
        versions: Some(versions),
        delete_markers: Some(markers),
        common_prefixes: Some(prefixes),
        ..Default::default()
    }))
}
