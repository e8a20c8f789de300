//! VAST's own description of the VMS operations the simulator serves, and a
//! check of JSON bodies against it. `openapi/vms-subset.json` is the part of
//! VAST's published OpenAPI file (Apache-2.0, from VAST's Go client) that
//! those operations use, extracted by `openapi/extract.py`. The simulator
//! refuses a request body its schema refuses (as VMS does, with 400), and
//! the tests check the plugin's requests and the simulator's answers with
//! the same schemas.
//!
//! Only the OpenAPI 3.0 keywords the file uses are understood: `$ref`,
//! `type`, `nullable`, `required`, `properties`, `items`, `enum` and
//! `minimum`; others (formats, descriptions, VAST's `x-` keys) are ignored.
//! A general JSON Schema crate would not know OpenAPI's `nullable`.

use std::sync::LazyLock;

use serde_json::Value;

static SPEC: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../openapi/vms-subset.json")).expect("the OpenAPI subset is valid JSON")
});

/// The operation template of a request path's parts (`["views", "12"]` is
/// `/views/{id}/`), as the OpenAPI file names it.
pub fn template(parts: &[&str]) -> String {
    let mut out = String::from("/");
    for p in parts {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("{id}/");
        } else {
            out.push_str(p);
            out.push('/');
        }
    }
    out
}

fn operation(path: &str, method: &str) -> Option<&'static Value> {
    SPEC["paths"].get(path)?.get(method.to_ascii_lowercase())
}

/// Whether the file describes `method` on `path` (a template).
pub fn has_operation(path: &str, method: &str) -> bool {
    operation(path, method).is_some()
}

/// Whether the file describes `path` (a template) at all.
pub fn has_path(path: &str) -> bool {
    SPEC["paths"].get(path).is_some()
}

/// The schema of the JSON request body of `method` on `path`, if any.
pub fn request_schema(path: &str, method: &str) -> Option<&'static Value> {
    let body = operation(path, method)?.get("requestBody")?;
    let body = resolve(body);
    body.get("content")?.get("application/json")?.get("schema")
}

/// The schema of the JSON answer of `method` on `path` with `status`.
pub fn response_schema(path: &str, method: &str, status: u16) -> Option<&'static Value> {
    let response = operation(path, method)?.get("responses")?.get(status.to_string())?;
    resolve(response).get("content")?.get("application/json")?.get("schema")
}

fn resolve(node: &'static Value) -> &'static Value {
    let mut node = node;
    while let Some(r) = node.get("$ref").and_then(Value::as_str) {
        let mut target = &*SPEC;
        for part in r.trim_start_matches("#/").split('/') {
            target = &target[part];
        }
        node = target;
    }
    node
}

/// Checks `value` against `schema`; the problems found, each with the
/// field's path (empty when there are none).
pub fn validate(schema: &'static Value, value: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    check(resolve(schema), value, "body", &mut problems);
    problems
}

fn type_ok(kind: &str, value: &Value) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => true,
    }
}

fn check(schema: &'static Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    if value.is_null() {
        // Only what the file says may be null (or gives no type) is.
        if schema.get("type").is_some() && schema.get("nullable") != Some(&Value::Bool(true)) {
            problems.push(format!("{at}: may not be null"));
        }
        return;
    }
    if let Some(kind) = schema.get("type").and_then(Value::as_str)
        && !type_ok(kind, value)
    {
        problems.push(format!("{at}: expected {kind}, got {}", short(value)));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        // VAST's file puts the enum of an array's items on the array at
        // times: then every item is checked against it.
        let items: Vec<&Value> = match value.as_array() {
            Some(array) if !allowed.iter().any(Value::is_array) => array.iter().collect(),
            _ => vec![value],
        };
        for v in items.into_iter().filter(|v| !allowed.contains(v)) {
            problems.push(format!("{at}: {} is not one of {}", short(v), Value::Array(allowed.clone())));
        }
    }
    if let (Some(min), Some(n)) = (schema.get("minimum").and_then(Value::as_f64), value.as_f64())
        && n < min
    {
        problems.push(format!("{at}: {n} is below the minimum {min}"));
    }
    if let Some(object) = value.as_object() {
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                problems.push(format!("{at}.{name}: this field is required"));
            }
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, v) in object {
                if let Some(s) = props.get(name) {
                    check(resolve(s), v, &format!("{at}.{name}"), problems);
                }
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            check(resolve(items), v, &format!("{at}[{i}]"), problems);
        }
    }
}

/// `value` with what `schema` requires and VMS fills in: each required
/// field missing is given its default, or an object completed the same
/// way (a tenant created with `qos: {}` is answered with every static
/// limit at 0, as VMS answers it).
pub fn complete(schema: &'static Value, value: &mut Value) {
    let schema = resolve(schema);
    let Some(object) = value.as_object_mut() else { return };
    let props = schema.get("properties").and_then(Value::as_object);
    for name in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        let Some(field) = props.and_then(|p| p.get(name)).map(resolve) else { continue };
        if !object.contains_key(name) {
            if let Some(default) = field.get("default") {
                object.insert(name.to_string(), default.clone());
            } else if field.get("type").and_then(Value::as_str) == Some("object") {
                object.insert(name.to_string(), Value::Object(Default::default()));
            }
        }
    }
    for (name, v) in object.iter_mut() {
        if let Some(field) = props.and_then(|p| p.get(name)) {
            complete(field, v);
        }
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 40 { format!("{}…", &text[..text.floor_char_boundary(40)]) } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_are_checked_against_vast_s_schemas() {
        let views = request_schema("/views/", "POST").expect("views_create has a body");
        assert!(
            validate(views, &json!({ "path": "/b", "policy_id": 2, "protocols": ["S3"], "bucket": "b" })).is_empty()
        );
        let missing = validate(views, &json!({ "path": "/b" }));
        assert_eq!(missing, ["body.policy_id: this field is required"]);
        let wrong = validate(views, &json!({ "path": 7, "policy_id": "x", "protocols": ["NOPE"] }));
        assert_eq!(wrong.len(), 3, "{wrong:?}");
        let users = request_schema("/users/", "POST").unwrap();
        assert!(validate(users, &json!({ "name": "u" })).iter().any(|p| p.contains("local_provider_id")));
        assert_eq!(template(&["users", "12", "access_keys"]), "/users/{id}/access_keys/");
        assert!(has_operation("/views/{id}/", "DELETE") && !has_operation("/versions/", "POST"));
    }

    #[test]
    fn answers_are_checked_too() {
        let view = response_schema("/views/", "POST", 201).unwrap();
        assert!(validate(view, &json!({ "id": 3, "path": "/b", "policy_id": 2 })).is_empty());
        assert!(!validate(view, &json!({ "id": "3", "path": "/b" })).is_empty());
    }
}
