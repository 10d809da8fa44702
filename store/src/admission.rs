//! What happens to an object between the request and storage: defaults, pruning and field
//! validation, metadata rules, the status/main split of subresources, generation, and the
//! server-owned parts of built-in kinds. Pure functions: no storage, no HTTP.

use serde_json::{Map, Value, json};

use crate::errors::{ApiError, ApiResult, Cause};
use crate::ordered::{Counterparts, identical};
use crate::registry::Resource;
use crate::request::Query;
use crate::schema::{defaults, metadata, prune, validate};

/// RFC 3339 with seconds, as Kubernetes writes timestamps.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// How unknown fields are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn from_query(q: &Query) -> ApiResult<FieldValidation> {
        match q.field_validation.as_deref() {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of Ignore, Warn or Strict, not {other:?}"
            ))),
        }
    }
}

/// Removes fields the schema does not know; depending on `mode`, fails (Strict) or returns the
/// warnings to send back (Warn).
pub fn prune_unknown(
    res: &Resource,
    object: &mut Value,
    mode: FieldValidation,
) -> ApiResult<Vec<String>> {
    let unknown = prune::prune(&res.schema, object);
    if unknown.is_empty() || mode == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    let list: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    if mode == FieldValidation::Strict {
        let mut e = ApiError::bad_request(format!("strict decoding error: {}", list.join(", ")));
        for f in &unknown {
            e = e.with_cause("FieldValueInvalid", f, format!("unknown field \"{f}\""));
        }
        return Err(e);
    }
    Ok(list)
}

/// The field manager of a request: `fieldManager`, else the client's User-Agent program name.
pub fn manager(q: &Query, user_agent: Option<&str>) -> ApiResult<String> {
    if let Some(m) = &q.field_manager {
        if m.len() > 128 {
            return Err(ApiError::invalid(
                "",
                "",
                "",
                vec![Cause {
                    reason: "FieldValueTooLong".into(),
                    message: "Too long: must have at most 128 bytes".into(),
                    field: "fieldManager".into(),
                }],
            ));
        }
        return Ok(m.clone());
    }
    let agent = user_agent.unwrap_or("unknown");
    Ok(agent.split('/').next().unwrap_or(agent).to_string())
}

pub fn meta(object: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    object
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or(&EMPTY)
}

pub fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"].as_object_mut().expect("just ensured")
}

pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    meta(object).get(field).and_then(Value::as_str)
}

pub fn finalizers(object: &Value) -> Vec<String> {
    meta(object)
        .get("finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets apiVersion and kind to the resource's, refusing a body that names another kind.
pub fn set_type(res: &Resource, object: &mut Value) -> ApiResult<()> {
    let want_av = res.api_version();
    if let Some(kind) = object.get("kind").and_then(Value::as_str)
        && !kind.is_empty()
        && kind != res.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind of the object ({kind}) does not match the resource of the request ({}): \
             send it to the {} endpoint instead",
            res.kind,
            kind.to_lowercase()
        )));
    }
    if let Some(av) = object.get("apiVersion").and_then(Value::as_str) {
        let group_of = |av: &str| av.rsplit_once('/').map_or("", |(g, _)| g).to_string();
        if !av.is_empty() && group_of(av) != res.group {
            return Err(ApiError::bad_request(format!(
                "the apiVersion of the object ({av}) does not match the request ({want_av})"
            )));
        }
    }
    object["apiVersion"] = json!(want_av);
    object["kind"] = json!(res.kind);
    Ok(())
}

/// Defaults, metadata rules and schema validation; 422 with every cause at once. In an update,
/// `old` is the stored object, whose fields the schema lets stand where they are unchanged
/// (kube-apiserver's validation ratcheting; see [`validate`]).
pub fn validate_object(res: &Resource, object: &mut Value, old: Option<&Value>) -> ApiResult<()> {
    drop_empty_metadata(object);
    defaults::apply_defaults(&res.schema, object);
    let name = meta_str(object, "name").unwrap_or("").to_string();
    let rule = metadata::NameRule::for_kind(&res.group, &res.kind);
    let empty = json!({});
    let mut errors = metadata::validate_metadata(
        object.get("metadata").unwrap_or(&empty),
        res.namespaced,
        rule,
    );
    errors.extend(validate::validate_update(&res.schema, object, old));
    if errors.is_empty() {
        return Ok(());
    }
    let causes = errors
        .into_iter()
        .map(|e| Cause {
            reason: e.reason.to_string(),
            message: e.message.clone(),
            field: e.field.clone(),
        })
        .collect();
    Err(ApiError::invalid(&res.group, &res.kind, &name, causes))
}

/// Empty lists and maps in metadata are not stored, as kube-apiserver's decoding drops them (a
/// JSON patch `test` of a missing `/metadata/finalizers` must then pass).
fn drop_empty_metadata(object: &mut Value) {
    let m = meta_mut(object);
    for field in [
        "finalizers",
        "labels",
        "annotations",
        "ownerReferences",
        "managedFields",
    ] {
        let empty = match m.get(field) {
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(o)) => o.is_empty(),
            Some(Value::Null) => true,
            _ => false,
        };
        if empty {
            m.remove(field);
        }
    }
}

/// A 422 with one cause.
pub fn invalid_field(res: &Resource, name: &str, field: &str, reason: &str, msg: &str) -> ApiError {
    ApiError::invalid(
        &res.group,
        &res.kind,
        name,
        vec![Cause {
            reason: reason.to_string(),
            message: msg.to_string(),
            field: field.to_string(),
        }],
    )
}

/// Whether `a` and `b` (objects) are equal but for the top-level fields `skip` names, compared
/// in place: updates compare whole objects, and cloning them to strip fields cost more than the
/// rest of the write.
pub fn equal_without(a: &Value, b: &Value, skip: impl Fn(&str) -> bool) -> bool {
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => {
            let kept = |m: &Map<String, Value>| m.iter().filter(|(k, _)| !skip(k)).count();
            let mut in_b = Counterparts::new(b);
            kept(a) == kept(b)
                && a.iter()
                    .filter(|(k, _)| !skip(k))
                    .all(|(k, v)| in_b.get(k).is_some_and(|w| identical(v, w)))
        }
        _ => a == b,
    }
}

/// Whether the spec (everything but metadata, type and, with a status subresource, status)
/// differs.
fn spec_changed(res: &Resource, old: &Value, new: &Value) -> bool {
    !equal_without(old, new, |k| {
        matches!(k, "metadata" | "apiVersion" | "kind") || (res.status && k == "status")
    })
}

/// Carries the server-owned metadata of `old` into `new`, its generation as it was: it moves on
/// in [`next_generation`], once defaults are filled in.
pub fn carry_metadata(old: &Value, new: &mut Value) {
    let old_meta = meta(old);
    let m = meta_mut(new);
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_meta.get(field) {
            Some(v) => set_if_changed(m, field, v),
            None => {
                m.remove(field);
            }
        }
    }
    for field in ["name", "namespace"] {
        if let Some(v) = old_meta.get(field) {
            set_if_changed(m, field, v);
        }
    }
    m.remove("selfLink");
}

/// Sets `map[field]` to `value` unless it already is (a copy of a large value is not free).
fn set_if_changed(map: &mut Map<String, Value>, field: &str, value: &Value) {
    if map.get(field) != Some(value) {
        map.insert(field.into(), value.clone());
    }
}

/// Makes `new` equal to `old` but for the fields in `except`, copying only what differs: a
/// write that left them alone copies nothing.
fn restore(new: &mut Map<String, Value>, old: &Map<String, Value>, except: &[&str]) {
    new.retain(|k, _| except.contains(&k.as_str()) || old.contains_key(k));
    for (k, v) in old {
        if !except.contains(&k.as_str()) {
            set_if_changed(new, k, v);
        }
    }
}

/// Moves `new`'s generation on from `old`'s when its spec changed. Called once defaults are
/// filled in, so an apply that leaves out what the schema defaults (a port's protocol, a health
/// check's interval) is no change — no new generation, and for an App no new rollout.
pub fn next_generation(res: &Resource, old: &Value, new: &mut Value) {
    let generation = meta(old)
        .get("generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let changed = spec_changed(res, old, new);
    meta_mut(new).insert(
        "generation".into(),
        json!(if changed { generation + 1 } else { generation }),
    );
}

/// The server-owned metadata of a new object.
pub fn init_metadata(object: &mut Value, namespace: Option<&str>) {
    let m = meta_mut(object);
    m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    m.insert("creationTimestamp".into(), json!(now()));
    m.insert("generation".into(), json!(1));
    for field in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        m.remove(field);
    }
    if let Some(ns) = namespace {
        m.insert("namespace".into(), json!(ns));
    } else {
        m.remove("namespace");
    }
}

/// Replaces `generateName` with a name: the prefix and five random characters.
pub fn generate_name(object: &mut Value) {
    let m = meta_mut(object);
    let has_name = m
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if has_name {
        return;
    }
    if let Some(prefix) = m.get("generateName").and_then(Value::as_str) {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        use rand::Rng;
        let mut rng = rand::rng();
        let suffix: String = (0..5)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        let name = format!("{prefix}{suffix}");
        m.insert("name".into(), json!(name));
    }
}

/// For kinds with a status subresource, a write to the main resource keeps the stored status and
/// a write to `/status` changes only status.
pub fn split_status(
    res: &Resource,
    old: Option<&Value>,
    new: &mut Value,
    subresource: Option<&str>,
) {
    if !res.status {
        return;
    }
    match subresource {
        Some("status") => {
            if let Some(old) = old {
                only_status_changes(old, new);
            }
        }
        _ => keep_stored_status(old, new),
    }
}

/// A write to `/status`: `new` becomes `old` with `new`'s status; the resourceVersion (a
/// precondition) and managedFields stay the request's, managedFields the stored ones when the
/// request has none.
fn only_status_changes(old: &Value, new: &mut Value) {
    if !new.is_object() {
        *new = Value::Object(Map::new());
    }
    restore(
        new.as_object_mut().expect("just ensured"),
        old.as_object().expect("stored objects are maps"),
        &["status", "metadata"],
    );
    let old_meta = meta(old);
    let m = meta_mut(new);
    if !m.contains_key("managedFields")
        && let Some(managed) = old_meta.get("managedFields")
    {
        m.insert("managedFields".into(), managed.clone());
    }
    restore(m, old_meta, &["resourceVersion", "managedFields"]);
}

/// A write to the main resource keeps the stored status (none if there is none).
fn keep_stored_status(old: Option<&Value>, new: &mut Value) {
    let old_status = old.and_then(|o| o.get("status"));
    let obj = new.as_object_mut().expect("objects are maps");
    match old_status {
        Some(s) => set_if_changed(obj, "status", s),
        None => {
            obj.remove("status");
        }
    }
}

/// The server-owned parts of built-in kinds (what their Go strategies do).
pub fn builtin_rules(res: &Resource, old: Option<&Value>, object: &mut Value) -> ApiResult<()> {
    if !res.group.is_empty() {
        return Ok(());
    }
    match res.plural.as_str() {
        "namespaces" => {
            if old.is_none() {
                object["spec"] = json!({"finalizers": ["kubernetes"]});
                object["status"] = json!({"phase": "Active"});
            }
            if let Some(old) = old {
                object["spec"] = old.get("spec").cloned().unwrap_or(json!({}));
            }
        }
        "secrets" => {
            if let Some(Value::Object(string_data)) =
                object.as_object_mut().and_then(|o| o.remove("stringData"))
            {
                use base64::Engine;
                let data = object
                    .as_object_mut()
                    .expect("objects are maps")
                    .entry("data")
                    .or_insert_with(|| json!({}));
                if let Some(data) = data.as_object_mut() {
                    for (k, v) in string_data {
                        let s = v.as_str().unwrap_or_default();
                        data.insert(
                            k,
                            json!(base64::engine::general_purpose::STANDARD.encode(s)),
                        );
                    }
                }
            }
            if object.get("type").is_none() {
                object["type"] = json!("Opaque");
            }
            if let Some(old) = old
                && old.get("type") != object.get("type")
            {
                let name = meta_str(object, "name").unwrap_or("").to_string();
                return Err(invalid_field(
                    res,
                    &name,
                    "type",
                    "FieldValueInvalid",
                    "field is immutable",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> Value {
        json!({
            "apiVersion": "strata.io/v1alpha1", "kind": "Task",
            "metadata": {"name": "t", "uid": "u1", "resourceVersion": "7", "labels": {"a": "b"},
                         "managedFields": [{"manager": "m"}]},
            "spec": {"command": "sleep 1"},
            "status": {"state": "Staging"},
        })
    }

    #[test]
    fn a_status_write_changes_status_alone() {
        let old = stored();
        let mut new = json!({
            "apiVersion": "strata.io/v1alpha1", "kind": "Task",
            "metadata": {"name": "t", "resourceVersion": "7", "labels": {"x": "y"},
                         "annotations": {"new": "one"}},
            "spec": {"command": "rm -rf /"},
            "extra": 1,
            "status": {"state": "Running"},
        });
        only_status_changes(&old, &mut new);
        let mut want = stored();
        want["status"] = json!({"state": "Running"});
        assert_eq!(new, want, "spec, labels and uid are the stored ones");

        let mut unconditional = stored();
        unconditional["status"] = json!({"state": "Running"});
        meta_mut(&mut unconditional).remove("resourceVersion");
        meta_mut(&mut unconditional).insert("managedFields".into(), json!([{"manager": "n"}]));
        only_status_changes(&old, &mut unconditional);
        assert_eq!(meta(&unconditional).get("resourceVersion"), None);
        assert_eq!(
            meta(&unconditional)["managedFields"],
            json!([{"manager": "n"}])
        );

        let mut removed = stored();
        removed.as_object_mut().unwrap().remove("status");
        only_status_changes(&old, &mut removed);
        assert_eq!(
            removed.get("status"),
            None,
            "a status write may remove status"
        );
    }

    #[test]
    fn a_write_to_the_main_resource_keeps_the_stored_status() {
        let old = stored();
        let mut new = stored();
        new["spec"] = json!({"command": "sleep 2"});
        new["status"] = json!({"state": "Finished"});
        keep_stored_status(Some(&old), &mut new);
        assert_eq!(new["status"], json!({"state": "Staging"}));
        assert_eq!(new["spec"], json!({"command": "sleep 2"}));

        let mut created = stored();
        keep_stored_status(None, &mut created);
        assert_eq!(
            created.get("status"),
            None,
            "a new object starts without status"
        );
    }

    #[test]
    fn carried_metadata_is_the_stored_objects() {
        let old = stored();
        let mut new = json!({"metadata": {"name": "t", "uid": "forged", "generation": 9,
                                          "selfLink": "/x", "labels": {"c": "d"}}});
        carry_metadata(&old, &mut new);
        assert_eq!(
            new,
            json!({"metadata": {"name": "t", "uid": "u1", "labels": {"c": "d"}}}),
            "uid from the store, no generation since the stored object has none, no selfLink"
        );
    }
}
