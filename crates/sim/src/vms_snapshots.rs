//! Snapshots of the simulated cluster (`/snapshots/`): a named, read-only
//! point-in-time copy of a path, optionally indestructible until it
//! expires. What VMS enforces is enforced here: the path must be a view's
//! (or under one), names are unique per path, an indestructible snapshot
//! needs an expiration time, and until then it can be neither deleted nor
//! made to expire earlier nor be made destructible. Time is the
//! simulator's clock (the one S3 Object Lock expires by).

use std::time::SystemTime;

use axum::http::StatusCode;
use s3s::dto::{Timestamp, TimestampFormat};
use serde_json::{Value, json};

use crate::vms_store::{Db, Refusal, not_found};

fn bad(detail: impl Into<String>) -> Refusal {
    (StatusCode::BAD_REQUEST, detail.into())
}

/// RFC 3339 text of a time, as VMS writes it.
fn text(t: SystemTime) -> String {
    let mut out = Vec::new();
    let _ = Timestamp::from(t).format(TimestampFormat::DateTime, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The time of RFC 3339 text.
fn parse(field: &str, value: &str) -> Result<SystemTime, Refusal> {
    Timestamp::parse(TimestampFormat::DateTime, value)
        .ok()
        .and_then(|t| crate::s3::lock::system_time(&t).ok())
        .ok_or_else(|| bad(format!("{field} {value:?} is not a date and time (2026-12-01T00:00:00Z)")))
}

/// The expiration time of a stored snapshot.
fn expires(record: &Value) -> Option<SystemTime> {
    record["expiration_time"].as_str().and_then(|t| parse("expiration_time", t).ok())
}

/// `POST /snapshots/`.
pub(crate) fn create(db: &mut Db, body: Value, now: SystemTime) -> Result<Value, Refusal> {
    let name = body["name"].as_str().unwrap_or_default().to_string();
    let path = body["path"].as_str().unwrap_or_default().to_string();
    if name.is_empty() || name.len() > 255 || name.contains('/') {
        return Err(bad(format!("snapshot name {name:?} is not valid")));
    }
    let under_a_view = db.table("views").values().filter_map(|v| v["path"].as_str()).any(|v| {
        path == v
            || path.strip_prefix(v).is_some_and(|rest| rest.starts_with('/'))
            || (v == "/" && path.starts_with('/'))
    });
    if !under_a_view {
        return Err(bad(format!("path {path:?} is not a view's path nor under one")));
    }
    if db.table("snapshots").values().any(|s| s["path"] == path.as_str() && s["name"] == name.as_str()) {
        return Err((StatusCode::CONFLICT, format!("a snapshot {name} of {path} exists")));
    }
    let expiration = match body["expiration_time"].as_str() {
        None => None,
        Some(t) => {
            let at = parse("expiration_time", t)?;
            if at <= now {
                return Err(bad("expiration_time is in the past"));
            }
            Some(at)
        }
    };
    let indestructible = body["indestructible"].as_bool().unwrap_or(false);
    if indestructible && expiration.is_none() {
        return Err(bad("an indestructible snapshot needs an expiration_time"));
    }
    let mut record = json!({
        "name": name, "path": path, "created": text(now), "state": "SUCCESS",
        "indestructible": indestructible, "locked": false,
        "tenant_id": body["tenant_id"].as_u64().unwrap_or(1),
    });
    record["expiration_time"] = expiration.map_or(Value::Null, |t| json!(text(t)));
    Ok(db.insert("snapshots", record))
}

/// Whether snapshot `record` is protected at `now`.
fn protected(record: &Value, now: SystemTime) -> Option<String> {
    let until = expires(record)?;
    (record["indestructible"] == true && until > now).then(|| text(until))
}

/// `DELETE /snapshots/{id}/`.
pub(crate) fn delete(db: &mut Db, id: u64, now: SystemTime) -> Result<(), Refusal> {
    let Some(record) = db.table("snapshots").get(&id) else { return Err(not_found()) };
    if let Some(until) = protected(record, now) {
        return Err((StatusCode::CONFLICT, format!("snapshot {id} is indestructible until {until}")));
    }
    db.table_mut("snapshots").remove(&id);
    Ok(())
}

/// `PATCH /snapshots/{id}/`: the expiration time or indestructibility; a
/// protected snapshot's expiration only moves later, and it stays
/// indestructible.
pub(crate) fn patch(db: &mut Db, id: u64, body: &Value, now: SystemTime) -> Result<Value, Refusal> {
    let Some(record) = db.table("snapshots").get(&id).cloned() else { return Err(not_found()) };
    let guarded = protected(&record, now);
    let mut next = record.clone();
    if let Some(t) = body.get("expiration_time").and_then(Value::as_str) {
        let at = parse("expiration_time", t)?;
        if guarded.is_some() && expires(&record).is_some_and(|old| at < old) {
            return Err((StatusCode::CONFLICT, "an indestructible snapshot's expiration only moves later".into()));
        }
        next["expiration_time"] = json!(text(at));
    }
    if let Some(flag) = body.get("indestructible").and_then(Value::as_bool) {
        if guarded.is_some() && !flag {
            return Err((StatusCode::CONFLICT, "an indestructible snapshot stays so until it expires".into()));
        }
        if flag && expires(&next).is_none() {
            return Err(bad("an indestructible snapshot needs an expiration_time"));
        }
        next["indestructible"] = json!(flag);
    }
    if let Some(name) = body.get("name").and_then(Value::as_str) {
        next["name"] = json!(name);
    }
    db.table_mut("snapshots").insert(id, next.clone());
    Ok(next)
}
