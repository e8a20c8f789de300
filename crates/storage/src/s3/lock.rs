//! S3 Object Lock and versions, which OpenDAL does not reach: a version's
//! retention (`PUT ?retention`, read back from `HEAD`), whether the bucket keeps versions
//! (`GET ?versioning`), the versions under a prefix (`GET ?versions`) and
//! deleting versions by id (`POST ?delete`), which is the only delete that
//! frees anything in a versioned bucket (a plain one adds a delete marker).

use bytes::Bytes;
use serde::Deserialize;

use crate::error::{ErrorKind, Result, StorageError};
use crate::s3::raw::{RawS3, encode};
use crate::types::{LockMode, Retention};

/// One version of a key, or a delete marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    pub key: String,
    pub id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersioningXml {
    #[serde(default)]
    status: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LockConfigurationXml {
    #[serde(default)]
    rule: Option<LockRuleXml>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LockRuleXml {
    default_retention: Option<DefaultRetentionXml>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DefaultRetentionXml {
    mode: String,
    #[serde(default)]
    days: Option<u64>,
    #[serde(default)]
    years: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersionsXml {
    #[serde(default)]
    version: Vec<VersionXml>,
    #[serde(default)]
    delete_marker: Vec<VersionXml>,
    #[serde(default)]
    is_truncated: Option<bool>,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_version_id_marker: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersionXml {
    key: String,
    version_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteResultXml {
    #[serde(default)]
    error: Vec<DeleteErrorXml>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteErrorXml {
    key: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// `query` with `versionId` added when a version is named.
fn with_version(query: &str, version: Option<&str>) -> String {
    match (version, query.is_empty()) {
        (None, _) => query.to_string(),
        (Some(v), true) => format!("versionId={}", encode(v, false)),
        (Some(v), false) => format!("{query}&versionId={}", encode(v, false)),
    }
}

/// The retain-until date of `r` as S3 writes it.
fn retain_until(key: &str, r: Retention) -> Result<String> {
    let until = jiff::Timestamp::from_second(r.until as i64)
        .map_err(|e| StorageError::new(ErrorKind::Invalid, "lock", key, e.to_string()))?;
    Ok(until.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn unreadable(op: &'static str, key: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::new(ErrorKind::Other, op, key, format!("unreadable answer: {e}"))
}

/// XML text with `&`, `<` and `>` escaped.
fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

impl RawS3 {
    /// Gives version `version` of `key` (the current one when `None`)
    /// retention `r`.
    pub(crate) async fn put_retention(&self, key: &str, version: Option<&str>, r: Retention) -> Result<()> {
        let body = format!(
            "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>{}</Mode>\
             <RetainUntilDate>{}</RetainUntilDate></Retention>",
            r.mode.s3_name(),
            retain_until(key, r)?
        );
        let query = with_version("retention", version);
        self.send_body("lock", http::Method::PUT, &encode(key, true), &query, Bytes::from(body)).await.map(drop)
    }

    /// Creates `key` with `data` unless it exists ([`ErrorKind::AlreadyExists`]
    /// then), carrying retention `r` from its first moment: there is never
    /// a version of it without the lock.
    pub(crate) async fn put_new_locked(&self, key: &str, data: Bytes, r: Retention) -> Result<()> {
        let until = retain_until(key, r)?;
        let headers = [
            ("if-none-match", "*"),
            ("x-amz-object-lock-mode", r.mode.s3_name()),
            ("x-amz-object-lock-retain-until-date", until.as_str()),
        ];
        // A key taken answers 412, which the exchange reports as AlreadyExists.
        self.exchange("put_new", http::Method::PUT, &encode(key, true), "", data, &headers).await.map(drop)
    }

    /// Removes the governance retention of version `version` of `key` (an
    /// empty retention sent with the bypass header): only a user whose
    /// policy allows `s3:BypassGovernanceRetention` may.
    pub(crate) async fn remove_retention(&self, key: &str, version: Option<&str>) -> Result<()> {
        let body = "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></Retention>";
        let bypass = [("x-amz-bypass-governance-retention", "true")];
        let path = encode(key, true);
        let query = with_version("retention", version);
        self.exchange("unlock", http::Method::PUT, &path, &query, Bytes::from(body), &bypass).await.map(drop)
    }

    /// The retention of version `version` of `key` (`None` without one),
    /// from its `HEAD` (which every server with Object Lock answers;
    /// `GET ?retention` is not as widely served).
    pub(crate) async fn retention(&self, key: &str, version: Option<&str>) -> Result<Option<Retention>> {
        let query = with_version("", version);
        let (headers, _) =
            self.exchange("retention", http::Method::HEAD, &encode(key, true), &query, Bytes::new(), &[]).await?;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let mode = header("x-amz-object-lock-mode").as_deref().and_then(LockMode::from_s3_name);
        let until = header("x-amz-object-lock-retain-until-date")
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| u64::try_from(t.as_second()).unwrap_or(0));
        Ok(mode.zip(until).map(|(mode, until)| Retention { mode, until }))
    }

    /// Whether the bucket keeps versions (versioning enabled, or suspended
    /// with versions kept from before).
    pub(crate) async fn versioned(&self) -> Result<bool> {
        let body = self.send("versioning", http::Method::GET, "", "versioning").await?;
        let xml: VersioningXml = quick_xml::de::from_reader(&body[..]).map_err(|e| unreadable("versioning", "", e))?;
        Ok(xml.status.is_some_and(|s| s == "Enabled" || s == "Suspended"))
    }

    /// The lock the bucket gives every new object version that asks for
    /// none (its Object Lock default retention): mode and period in
    /// seconds. `None` for a bucket without Object Lock or without a
    /// default.
    pub(crate) async fn default_lock(&self) -> Result<Option<(LockMode, u64)>> {
        let body = match self.send("lock configuration", http::Method::GET, "", "object-lock").await {
            Ok(body) => body,
            // ObjectLockConfigurationNotFoundError: no Object Lock at all.
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let xml: LockConfigurationXml =
            quick_xml::de::from_reader(&body[..]).map_err(|e| unreadable("lock configuration", "", e))?;
        let Some(d) = xml.rule.and_then(|r| r.default_retention) else { return Ok(None) };
        let days = d.days.unwrap_or(0) + d.years.unwrap_or(0) * 365;
        Ok(LockMode::from_s3_name(&d.mode).filter(|_| days > 0).map(|mode| (mode, days * 86_400)))
    }

    /// Every version and delete marker under `prefix`.
    pub(crate) async fn versions(&self, prefix: &str) -> Result<Vec<Version>> {
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker) = (String::new(), String::new());
        loop {
            let mut query = format!("prefix={}&versions", encode(prefix, false));
            if !key_marker.is_empty() {
                query = format!(
                    "key-marker={}&prefix={}&version-id-marker={}&versions",
                    encode(&key_marker, false),
                    encode(prefix, false),
                    encode(&id_marker, false)
                );
            }
            let body = self.send("list versions", http::Method::GET, "", &query).await?;
            let page: VersionsXml =
                quick_xml::de::from_reader(&body[..]).map_err(|e| unreadable("list versions", prefix, e))?;
            out.extend(
                page.version.into_iter().chain(page.delete_marker).map(|v| Version { key: v.key, id: v.version_id }),
            );
            match (page.is_truncated, page.next_key_marker) {
                (Some(true), Some(k)) if !k.is_empty() => {
                    let id = page.next_version_id_marker.unwrap_or_default();
                    if k == key_marker && id == id_marker {
                        return Ok(out);
                    }
                    key_marker = k;
                    id_marker = id;
                }
                _ => return Ok(out),
            }
        }
    }

    /// Deletes versions by id, up to 1,000 per request. A version the
    /// server keeps (its lock has not expired) fails the call with
    /// [`ErrorKind::PermissionDenied`] after the others are deleted.
    pub(crate) async fn delete_versions(&self, versions: &[Version]) -> Result<()> {
        let mut refused = Vec::new();
        for batch in versions.chunks(1000) {
            let mut body =
                String::from("<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>");
            for v in batch {
                body += &format!(
                    "<Object><Key>{}</Key><VersionId>{}</VersionId></Object>",
                    xml_text(&v.key),
                    xml_text(&v.id)
                );
            }
            body += "</Delete>";
            let answer = self.send_body("delete versions", http::Method::POST, "", "delete", Bytes::from(body)).await?;
            let result: DeleteResultXml =
                quick_xml::de::from_reader(&answer[..]).map_err(|e| unreadable("delete versions", &batch[0].key, e))?;
            refused.extend(result.error);
        }
        match refused.first() {
            None => Ok(()),
            Some(first) => {
                let kind = if first.code == "AccessDenied" { ErrorKind::PermissionDenied } else { ErrorKind::Other };
                Err(StorageError::new(
                    kind,
                    "delete versions",
                    &first.key,
                    format!("{} of {} versions kept: {}: {}", refused.len(), versions.len(), first.code, first.message),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_versions_and_markers_are_read() {
        let xml = r#"<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <IsTruncated>true</IsTruncated><NextKeyMarker>b</NextKeyMarker><NextVersionIdMarker>3</NextVersionIdMarker>
  <Version><Key>a</Key><VersionId>1</VersionId><IsLatest>false</IsLatest></Version>
  <DeleteMarker><Key>a</Key><VersionId>2</VersionId></DeleteMarker>
  <Version><Key>b</Key><VersionId>3</VersionId></Version>
</ListVersionsResult>"#;
        let page: VersionsXml = quick_xml::de::from_str(xml).unwrap();
        assert_eq!(page.version.len(), 2);
        assert_eq!(page.delete_marker.len(), 1);
        assert_eq!(page.next_version_id_marker.as_deref(), Some("3"));
    }

    #[test]
    fn a_default_retention_is_read() {
        let xml = r#"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>
  <Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>2</Days></DefaultRetention></Rule></ObjectLockConfiguration>"#;
        let c: LockConfigurationXml = quick_xml::de::from_str(xml).unwrap();
        let d = c.rule.unwrap().default_retention.unwrap();
        assert_eq!((d.mode.as_str(), d.days, d.years), ("COMPLIANCE", Some(2), None));
        let none: LockConfigurationXml = quick_xml::de::from_str(
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>",
        )
        .unwrap();
        assert!(none.rule.is_none());
    }

    #[test]
    fn delete_errors_are_read() {
        let xml = r#"<DeleteResult><Error><Key>k</Key><VersionId>1</VersionId><Code>AccessDenied</Code><Message>locked</Message></Error></DeleteResult>"#;
        let r: DeleteResultXml = quick_xml::de::from_str(xml).unwrap();
        assert_eq!(r.error[0].code, "AccessDenied");
        assert_eq!(xml_text("a<&>b"), "a&lt;&amp;&gt;b");
    }
}
