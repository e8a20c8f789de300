//! What the simulated VMS keeps: views, quotas, users and their S3 keys,
//! tenants, local providers, view policies and API tokens, each with a
//! stable id, every field given stored and returned. S3 views are the
//! bucket folders of the data folder: a view created with `S3` in its
//! protocols makes its folder, and a folder made otherwise (the S3
//! `CreateBucket`, a test) shows up as a view.

use crate::s3::lock::{self, BucketConfig};
use crate::s3::objects::Objects;
use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

/// A refusal: status and `detail`.
pub(crate) type Refusal = (StatusCode, String);

fn bad(detail: impl Into<String>) -> Refusal {
    (StatusCode::BAD_REQUEST, detail.into())
}

/// The simulated cluster's records.
#[derive(Debug)]
pub(crate) struct Db {
    /// Each resource numbers its records on its own, from 1, as VMS does;
    /// an id is never used twice.
    next_id: BTreeMap<&'static str, u64>,
    pub tables: BTreeMap<&'static str, BTreeMap<u64, Value>>,
}

/// The resources kept as tables, by their path segment.
pub(crate) const TABLES: [&str; 9] =
    ["views", "quotas", "users", "tenants", "localproviders", "viewpolicies", "vippools", "apitokens", "snapshots"];

impl Db {
    pub(crate) fn new(vips: &[std::net::IpAddr]) -> Self {
        let mut db = Db {
            next_id: TABLES.iter().map(|t| (*t, 1)).collect(),
            tables: TABLES.iter().map(|t| (*t, BTreeMap::new())).collect(),
        };
        db.insert("tenants", json!({ "name": "default", "vippools": [], "local_provider_id": 1 }));
        db.insert(
            "localproviders",
            json!({ "name": "local", "description": "Local users", "managed_by": ["SUPER_ADMIN"] }),
        );
        db.insert("viewpolicies", json!({ "name": "default", "tenant_id": 1, "flavor": "NFS" }));
        db.insert(
            "viewpolicies",
            json!({ "name": "s3_default_policy", "tenant_id": 1, "flavor": "S3_NATIVE", "is_s3_default_policy": true }),
        );
        let range = match (vips.first(), vips.last()) {
            (Some(a), Some(b)) => json!([[a.to_string(), b.to_string()]]),
            _ => json!([]),
        };
        db.insert(
            "vippools",
            json!({ "name": "protocols", "role": "PROTOCOLS", "enabled": true, "tenant_id": 1,
                    "ip_ranges": range, "subnet_cidr": 8 }),
        );
        db
    }

    /// Stores `record` with a new id and returns it as stored.
    pub(crate) fn insert(&mut self, table: &str, mut record: Value) -> Value {
        let next = self.next_id.get_mut(table).expect("known table");
        let id = *next;
        *next += 1;
        record["id"] = json!(id);
        self.tables.get_mut(table).expect("known table").insert(id, record.clone());
        record
    }

    /// Stores `record`, whose `name` must be given and not taken in
    /// `table` (409 otherwise, as VMS answers).
    pub(crate) fn insert_named(&mut self, table: &str, record: Value) -> Result<Value, Refusal> {
        let name = record["name"].as_str().unwrap_or_default();
        if name.is_empty() || self.table(table).values().any(|r| r["name"] == name) {
            return Err((StatusCode::CONFLICT, format!("{table}: {name:?} exists or is empty")));
        }
        Ok(self.insert(table, record))
    }

    pub(crate) fn table(&self, table: &str) -> &BTreeMap<u64, Value> {
        &self.tables[table]
    }

    pub(crate) fn table_mut(&mut self, table: &str) -> &mut BTreeMap<u64, Value> {
        self.tables.get_mut(table).expect("known table")
    }

    /// Makes the S3 views match the buckets.
    pub(crate) fn sync_buckets(&mut self, objects: &Objects) {
        let folders: Vec<String> = objects.bucket_names().into_iter().map(|(n, _)| n).collect();
        self.table_mut("views").retain(|_, v| v["bucket"].as_str().is_none_or(|b| folders.iter().any(|f| f == b)));
        for bucket in folders {
            if !self.table("views").values().any(|v| v["bucket"] == bucket.as_str()) {
                self.insert(
                    "views",
                    view_record(json!({ "path": format!("/{bucket}"), "policy_id": 2,
                    "protocols": ["S3"], "bucket": bucket, "bucket_owner": "admin", "name": bucket })),
                );
            }
        }
    }
}

/// A view as VMS returns it: what was given, with VMS's defaults.
fn view_record(mut v: Value) -> Value {
    let path = v["path"].as_str().unwrap_or("/").to_string();
    let defaults = [
        ("name", json!(path.trim_start_matches('/').replace('/', "_"))),
        ("protocols", json!(["NFS"])),
        ("tenant_id", json!(1)),
        ("alias", json!("")),
        ("created", json!("2026-01-01T00:00:00Z")),
    ];
    for (k, d) in defaults {
        if v.get(k).is_none_or(Value::is_null) {
            v[k] = d;
        }
    }
    v
}

/// VMS's rules for an Element Store path: absolute, no trailing slash, no
/// empty, `.` or `..` component, no NUL, components of at most 255 bytes.
pub(crate) fn check_path(path: &str) -> Result<(), Refusal> {
    if !path.starts_with('/') {
        return Err(bad(format!("path {path:?} must be absolute")));
    }
    if path.len() > 1 && path.ends_with('/') {
        return Err(bad(format!("path {path:?} must not end with '/'")));
    }
    if path.contains('\0') {
        return Err(bad("path must not contain a NUL character"));
    }
    if path.len() > 4096 {
        return Err(bad("path is longer than 4096 bytes"));
    }
    for part in path.split('/').skip(1) {
        if part.is_empty() || part == "." || part == ".." {
            return Err(bad(format!("path {path:?} has an empty, '.' or '..' component")));
        }
        if part.len() > 255 {
            return Err(bad(format!("a component of path {path:?} is longer than 255 bytes")));
        }
    }
    Ok(())
}

/// S3's bucket naming rules.
fn check_bucket(bucket: &str) -> Result<(), Refusal> {
    if crate::s3::objects::valid_bucket_name(bucket) {
        Ok(())
    } else {
        Err(bad(format!("bucket name {bucket:?} is not a valid S3 bucket name")))
    }
}

/// Creates a view (`POST /views/`), its bucket folder for S3.
pub(crate) fn create_view(db: &mut Db, objects: &Objects, body: Value) -> Result<Value, Refusal> {
    let path = body["path"].as_str().unwrap_or_default().to_string();
    check_path(&path)?;
    let policy = body["policy_id"].as_u64().unwrap_or(0);
    if !db.table("viewpolicies").contains_key(&policy) {
        return Err(bad(format!("view policy {policy} does not exist")));
    }
    let s3 = body["protocols"].as_array().is_some_and(|p| p.iter().any(|x| x == "S3"));
    let bucket = body["bucket"].as_str().map(str::to_string);
    if db.table("views").values().any(|v| v["path"] == path.as_str()) {
        return Err((StatusCode::CONFLICT, format!("a view of path {path} exists")));
    }
    if s3 {
        let Some(bucket) = &bucket else { return Err(bad("an S3 view needs a bucket")) };
        check_bucket(bucket)?;
        if body["bucket_owner"].as_str().is_none_or(str::is_empty) {
            return Err(bad("an S3 view needs a bucket_owner"));
        }
        // Any path, nested ones too (`/s3/backups`), as VMS allows: the
        // simulator keeps a bucket's objects in the folder named after the
        // bucket whatever its view's path.
        let config = lock_config(&body)?;
        let taken = db.table("views").values().any(|v| v["bucket"] == bucket.as_str());
        if taken || !objects.create_bucket(bucket, &config).map_err(|e| bad(format!("cannot create bucket: {e}")))? {
            return Err((StatusCode::CONFLICT, format!("bucket {bucket} exists")));
        }
    } else if bucket.is_some() {
        return Err(bad("a bucket needs S3 in protocols"));
    }
    Ok(db.insert("views", view_record(body)))
}

/// The bucket settings of a view's WORM fields (`locking`, `s3_versioning`,
/// `s3_locks_retention_mode`, `default_retention_period`,
/// `min_retention_period`, `max_retention_period`), checked as VMS checks
/// them: a locked bucket is versioned, a retention mode needs a default
/// period, and the default lies within the bounds.
fn lock_config(body: &Value) -> Result<BucketConfig, Refusal> {
    let locking = body["locking"].as_bool().unwrap_or(false);
    let versioning = body["s3_versioning"].as_bool().unwrap_or(false);
    let period = |field: &str, m_is_minutes: bool| match body[field].as_str() {
        None | Some("") => Ok(None),
        Some(text) => lock::period(text, m_is_minutes)
            .map(Some)
            .ok_or_else(|| bad(format!("{field} {text:?} is not a period (a number and h, d, m or y)"))),
    };
    let (min, max) = (period("min_retention_period", false)?, period("max_retention_period", true)?);
    let default = period("default_retention_period", false)?;
    let mode = match body["s3_locks_retention_mode"].as_str() {
        None | Some("") | Some("NONE") => None,
        Some(m) => Some(lock::Mode::parse(m).ok_or_else(|| bad(format!("s3_locks_retention_mode {m:?} is unknown")))?),
    };
    if !locking {
        if mode.is_some() || default.is_some() || min.is_some() || max.is_some() {
            return Err(bad("retention settings need locking enabled"));
        }
        return Ok(BucketConfig { versioning: versioning.then_some(true), ..Default::default() });
    }
    if !versioning {
        return Err(bad("S3 object locking needs s3_versioning enabled"));
    }
    let default_retention = match (mode, default) {
        (Some(mode), Some(period)) => Some((mode, period)),
        (Some(_), None) => return Err(bad("s3_locks_retention_mode needs a default_retention_period")),
        (None, Some(_)) => return Err(bad("default_retention_period needs s3_locks_retention_mode")),
        (None, None) => None,
    };
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        return Err(bad("min_retention_period is longer than max_retention_period"));
    }
    if let Some((_, d)) = default_retention
        && (min.is_some_and(|min| d < min) || max.is_some_and(|max| d > max))
    {
        return Err(bad("default_retention_period lies outside the minimum and maximum"));
    }
    Ok(BucketConfig {
        versioning: Some(true),
        object_lock: true,
        default_retention,
        min_retention: min,
        max_retention: max,
    })
}

/// Deletes a view; a bucket view only when its bucket is empty.
pub(crate) fn delete_view(db: &mut Db, objects: &Objects, id: u64) -> Result<(), Refusal> {
    let Some(view) = db.table("views").get(&id).cloned() else { return Err(not_found()) };
    if let Some(bucket) = view["bucket"].as_str() {
        match objects.delete_bucket(bucket) {
            Ok(()) => {}
            Err(e) if e.code() == &s3s::S3ErrorCode::BucketNotEmpty => {
                return Err((StatusCode::CONFLICT, format!("bucket {bucket} is not empty")));
            }
            // Already gone.
            Err(_) => {}
        }
    }
    db.table_mut("views").remove(&id);
    Ok(())
}

pub(crate) fn not_found() -> Refusal {
    (StatusCode::NOT_FOUND, "Not found.".into())
}

/// Merges the fields of a PATCH into a record (the id stays).
pub(crate) fn patch(record: &mut Value, body: &Map<String, Value>) {
    for (k, v) in body {
        if k != "id" {
            record[k] = v.clone();
        }
    }
}

/// A user as VMS returns it.
pub(crate) fn user_record(db: &Db, mut body: Value) -> Result<Value, Refusal> {
    let name = body["name"].as_str().unwrap_or_default().to_string();
    if name.is_empty() || name.len() > 255 || name.chars().any(|c| c.is_control() || c == '/') {
        return Err(bad(format!("user name {name:?} is not valid")));
    }
    let provider = body["local_provider_id"].as_u64().unwrap_or(0);
    let Some(p) = db.table("localproviders").get(&provider) else {
        return Err(bad(format!("local provider {provider} does not exist")));
    };
    if db.table("users").values().any(|u| u["name"] == name.as_str() && u["local_provider_id"] == provider) {
        return Err((StatusCode::CONFLICT, format!("user {name} exists")));
    }
    body["local_provider"] = json!({ "id": provider, "name": p["name"] });
    body["local"] = json!(true);
    body["access_keys"] = json!([]);
    if body.get("uid").is_none() {
        body["uid"] = json!(db.next_id["users"] + 10_000);
    }
    body.as_object_mut().expect("an object").remove("password");
    body["password_is_set"] = json!(true);
    Ok(body)
}
