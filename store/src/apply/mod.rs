//! Server-side apply and field ownership (`metadata.managedFields`), with structured-merge-diff
//! semantics.
//!
//! Why it exists: kubectl (`apply --server-side`), Helm v4 and kube-rs controllers apply
//! configurations and rely on kube-apiserver's answer: the configuration merged into the live
//! object per the schema, conflicts when another manager owns a field being changed, shared
//! ownership when values agree, and removal of fields a manager stops applying. Every other
//! write records what it changed under an `Update` entry ([`track_update`]) so that later
//! applies conflict with it (that is how `kubectl scale` followed by a re-apply reports
//! `.spec.replicas`). Pure functions over `serde_json::Value`; the HTTP layer turns
//! [`ApplyError`] into a Status (409 with `FieldManagerConflict` causes, or 400/422).
//!
//! [`fieldset`] holds the set algebra and the FieldsV1 format, [`managed`] the managedFields
//! entries, and the private `merge` module the schema-directed walks.

use std::fmt;

use serde_json::{Map, Value};

use crate::schema::Schema;

pub mod fieldset;
pub mod managed;
mod merge;

pub use fieldset::{FieldSet, Path, PathElement};
pub use managed::{ManagedEntry, Operation};
pub use merge::UNTRACKED_METADATA;

/// The annotation kubectl's client-side apply keeps the last applied configuration in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The field manager kubectl uses for `apply --server-side`; kube-apiserver gives it the
/// client-side apply migration (see [`apply`]).
const KUBECTL_MANAGER: &str = "kubectl";

/// A server-side apply request.
#[derive(Debug, Clone, Copy)]
pub struct ApplyRequest<'a> {
    /// The schema of the kind.
    pub schema: &'a Schema,
    /// The stored object; `None` when the apply creates it.
    pub live: Option<&'a Value>,
    /// The user's configuration (the request body).
    pub applied: &'a Value,
    /// `fieldManager`.
    pub manager: &'a str,
    /// `force`: take ownership of conflicting fields instead of failing.
    pub force: bool,
    /// The apiVersion the request is served at (`group/version`, or `v1`).
    pub api_version: &'a str,
    /// `Some("status")` for `/status`.
    pub subresource: Option<&'a str>,
    /// The time of the request, RFC 3339.
    pub now: &'a str,
}

/// A non-apply write (create, update, any other patch), to record in managedFields.
#[derive(Debug)]
pub struct UpdateRequest<'a> {
    pub schema: &'a Schema,
    /// The stored object; `None` on create.
    pub old: Option<&'a Value>,
    /// The object about to be stored; its `metadata.managedFields` is rewritten.
    pub new: &'a mut Value,
    pub manager: &'a str,
    pub api_version: &'a str,
    pub subresource: Option<&'a str>,
    pub now: &'a str,
}

/// One field an apply would change that another manager owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The owning manager's name.
    pub manager: String,
    /// How the owner got the field: an earlier Apply or an Update.
    pub operation: Operation,
    /// The apiVersion of the owner's entry.
    pub api_version: String,
    /// The subresource the owner wrote through, if any.
    pub subresource: Option<String>,
    /// The field, e.g. `.spec.instances` or `.spec.ports[name="http"].port`.
    pub path: String,
}

impl Conflict {
    /// The owner as kube-apiserver names it: `"m"`, `"m" with subresource "status"`, and for
    /// Update owners ` using <apiVersion>` appended.
    pub fn manager_description(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            s.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

/// `conflict with "m" using v1` — the message of one `FieldManagerConflict` cause.
impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conflict with {}", self.manager_description())
    }
}

/// Why an apply (or the tracking of an update) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// Fields owned by other managers would change; answer 409 Conflict with one
    /// `FieldManagerConflict` cause per entry (field = `path`, message = the conflict's Display).
    Conflicts(Vec<Conflict>),
    /// The request cannot be applied as sent (not an object, managedFields set, list items
    /// without their keys or duplicated, nesting too deep, invalid managedFields): 400/422.
    Invalid(String),
}

impl fmt::Display for ApplyError {
    /// kube-apiserver's wording:
    /// `Apply failed with 1 conflict: conflict with "m" using v1: .spec.x`, or for several
    /// `Apply failed with 2 conflicts: conflicts with "m":\n- .spec.a\n- .spec.b` (grouped by
    /// manager, one line per field).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Invalid(message) => f.write_str(message),
            ApplyError::Conflicts(conflicts) => {
                if let [c] = conflicts.as_slice() {
                    return write!(f, "Apply failed with 1 conflict: {c}: {}", c.path);
                }
                let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
                for c in conflicts {
                    let who = c.manager_description();
                    match groups.iter_mut().find(|(w, _)| *w == who) {
                        Some((_, paths)) => paths.push(&c.path),
                        None => groups.push((who, vec![&c.path])),
                    }
                }
                groups.sort_by(|a, b| a.0.cmp(&b.0));
                let lines: Vec<String> = groups
                    .iter()
                    .map(|(who, paths)| {
                        let mut s = format!("conflicts with {who}:");
                        for p in paths {
                            s.push_str(&format!("\n- {p}"));
                        }
                        s
                    })
                    .collect();
                write!(
                    f,
                    "Apply failed with {} conflicts: {}",
                    conflicts.len(),
                    lines.join("\n")
                )
            }
        }
    }
}

impl std::error::Error for ApplyError {}

/// The fields a configuration (a whole object) sets, as server-side apply owns them: leaves,
/// list items (`k:` for map lists, `v:` for sets), map keys, empty and null values; never
/// apiVersion, kind or the server-owned metadata ([`UNTRACKED_METADATA`]). A list whose items
/// cannot be identified counts as one atomic value.
pub fn field_set(schema: &Schema, value: &Value) -> FieldSet {
    merge::field_set_of(schema, value, false).unwrap_or_default()
}

/// Server-side apply: merges `req.applied` into `req.live` (or creates the object) and returns
/// the result with `metadata.managedFields` updated.
///
/// - The configuration merges per the schema: maps field by field (`x-kubernetes-map-type:
///   atomic` replaces), lists per `x-kubernetes-list-type` (atomic replaces, set unions by
///   value, map merges items by key).
/// - A field being changed (added or given a different value) that another manager owns, by
///   Apply or Update, is a conflict; with `force` its ownership moves to this manager instead.
///   Applying the value a field already has shares its ownership.
/// - Fields this manager applied before (its Apply entry for the same subresource) and omits
///   now are removed from the object unless another manager owns them.
/// - Manager "kubectl" is allowed to take over fields whose live value still equals the
///   client-side `last-applied-configuration` annotation, and that annotation is kept in step,
///   as kube-apiserver does for `kubectl apply --server-side` after client-side applies.
/// - For `/status` the configuration's `spec` is ignored.
pub fn apply(req: ApplyRequest<'_>) -> Result<Value, ApplyError> {
    let ApplyRequest {
        schema,
        live,
        applied,
        manager,
        force,
        api_version,
        subresource,
        now,
    } = req;
    let Value::Object(applied_obj) = applied else {
        return Err(ApplyError::Invalid(
            "the applied configuration must be an object".into(),
        ));
    };
    if let Some(mf) = applied.pointer("/metadata/managedFields")
        && !(mf.is_null() || mf.as_array().is_some_and(Vec::is_empty))
    {
        return Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".into(),
        ));
    }
    if live.is_some_and(|l| !l.is_object()) {
        return Err(ApplyError::Invalid(
            "the live object is not an object".into(),
        ));
    }
    let mut config = applied_obj.clone();
    if let Some(Value::Object(meta)) = config.get_mut("metadata") {
        meta.shift_remove("managedFields");
    }
    if subresource == Some("status") {
        config.shift_remove("spec");
    }
    let config_value = Value::Object(config);
    let new_set = merge::field_set_of(schema, &config_value, true).map_err(ApplyError::Invalid)?;
    let Value::Object(config) = config_value else {
        return Err(ApplyError::Invalid(
            "the applied configuration must be an object".into(),
        ));
    };

    let mut entries = live.map(managed::decode_lenient).unwrap_or_default();
    let mine = entries
        .iter()
        .position(|e| e.is(manager, Operation::Apply, api_version, subresource));
    let last = mine.map(|i| entries[i].fields.clone()).unwrap_or_default();

    let mut merged = merge::merge_applied(schema, live, &config).map_err(ApplyError::Invalid)?;

    // Fields this manager applied before, omits now, and nobody else owns, go.
    let mut owned = new_set.clone();
    for (i, e) in entries.iter().enumerate() {
        if Some(i) != mine {
            owned.union_with(&e.fields);
        }
    }
    let gone = last.difference(&owned);
    if !gone.is_empty() {
        merge::prune(schema, &mut merged, &gone, &owned);
    }

    let empty = Value::Object(Map::new());
    let cmp = merge::compare(schema, live.unwrap_or(&empty), &merged);
    let changed = cmp.added.union(&cmp.modified);
    let mut conflicting: Vec<(usize, FieldSet)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if Some(i) == mine {
            continue;
        }
        let c = e.fields.intersection(&changed);
        if !c.is_empty() {
            conflicting.push((i, c));
        }
    }
    if !conflicting.is_empty() && !force {
        let mut conflicts = Vec::new();
        for (i, set) in &conflicting {
            let e = &entries[*i];
            for path in set.paths() {
                if manager == KUBECTL_MANAGER
                    && live.is_some_and(|l| last_applied_allows(schema, l, &path.0))
                {
                    continue;
                }
                conflicts.push(Conflict {
                    manager: e.manager.clone(),
                    operation: e.operation,
                    api_version: e.api_version.clone(),
                    subresource: e.subresource.clone(),
                    path: path.to_string(),
                });
            }
        }
        if !conflicts.is_empty() {
            return Err(ApplyError::Conflicts(conflicts));
        }
    }
    for (i, set) in &conflicting {
        entries[*i].fields = entries[*i].fields.difference(set);
    }
    for (i, e) in entries.iter_mut().enumerate() {
        if Some(i) != mine {
            e.fields = e.fields.recursive_difference(&cmp.removed);
        }
    }
    match mine {
        Some(i) => {
            let e = &mut entries[i];
            if !cmp.is_same() || e.fields != new_set || e.api_version != api_version {
                e.time = Some(now.to_string());
            }
            e.fields = new_set;
            e.api_version = api_version.to_string();
        }
        None => entries.push(ManagedEntry {
            manager: manager.to_string(),
            operation: Operation::Apply,
            api_version: api_version.to_string(),
            time: Some(now.to_string()),
            subresource: subresource.map(str::to_string),
            fields: new_set,
        }),
    }
    if manager == KUBECTL_MANAGER && live.is_some_and(|l| last_applied_of(l).is_some()) {
        sync_last_applied(&mut merged, applied);
    }
    managed::store(&mut merged, &entries, Vec::new());
    Ok(merged)
}

fn last_applied_of(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/annotations")?
        .get(LAST_APPLIED_ANNOTATION)?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// Whether the live value at `path` is what client-side apply last applied there, so that
/// kubectl's server-side apply may take the field over without a conflict.
fn last_applied_allows(schema: &Schema, live: &Value, path: &[PathElement]) -> bool {
    let Some(text) = last_applied_of(live) else {
        return false;
    };
    let Ok(last) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    if !field_set(schema, &last).contains(path) {
        return false;
    }
    match (
        merge::value_at(schema, live, path),
        merge::value_at(schema, &last, path),
    ) {
        (Some(Value::Object(_) | Value::Array(_)), Some(Value::Object(_) | Value::Array(_))) => {
            true
        }
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Rewrites the last-applied annotation to the configuration kubectl just applied (without the
/// annotation itself); dropped if the annotations would exceed their size limit.
fn sync_last_applied(merged: &mut Value, applied: &Value) {
    let mut config = applied.clone();
    if let Some(Value::Object(annotations)) = config.pointer_mut("/metadata/annotations") {
        annotations.shift_remove(LAST_APPLIED_ANNOTATION);
    }
    let Some(Value::Object(annotations)) = merged.pointer_mut("/metadata/annotations") else {
        return;
    };
    annotations.insert(
        LAST_APPLIED_ANNOTATION.into(),
        Value::String(config.to_string()),
    );
    let size: usize = annotations
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size as u64 > crate::schema::metadata::TOTAL_ANNOTATION_SIZE_LIMIT {
        annotations.shift_remove(LAST_APPLIED_ANNOTATION);
    }
}

/// Whether a client's managedFields asks to reset tracking: an empty list, or a list holding one
/// empty entry.
fn is_reset(v: &Value) -> bool {
    match v.as_array().map(Vec::as_slice) {
        Some([]) => true,
        Some([Value::Object(m)]) => m.is_empty(),
        _ => false,
    }
}

/// Records a non-apply write in `req.new`'s managedFields, as kube-apiserver does:
///
/// - the fields added or changed between `old` and `new` become this manager's, under its
///   `Update` entry for (manager, apiVersion, subresource) (merged with what it had), and leave
///   every other manager's set; fields removed from the object leave every set;
/// - on create every field of the object is this manager's;
/// - a client may write managedFields itself (kubectl and Helm migrate client-side apply
///   ownership with a JSON patch): a non-empty list differing from the stored one is validated
///   (each entry needs a manager, operation `Apply` or `Update`, an apiVersion and fieldsType
///   `FieldsV1`) and used as given, with this write's changes tracked on top; through a
///   subresource the client's list is ignored;
/// - an empty list (or `[{}]`) resets tracking: on create this manager then owns everything, on
///   update managedFields is removed and, as for any object without managedFields, updates are
///   not tracked until the next apply.
pub fn track_update(req: UpdateRequest<'_>) -> Result<(), ApplyError> {
    let UpdateRequest {
        schema,
        old,
        new,
        manager,
        api_version,
        subresource,
        now,
    } = req;
    if !new.is_object() {
        return Err(ApplyError::Invalid(
            "the object must be a JSON object".into(),
        ));
    }
    let carried = managed::take(new);
    let requested = match subresource {
        None => carried.as_ref().filter(|v| !v.is_null()),
        Some(_) => None,
    };
    let mut entries = match requested {
        Some(v) if is_reset(v) => Vec::new(),
        Some(v) => managed::decode_strict(v).map_err(ApplyError::Invalid)?,
        None => old.map(managed::decode_lenient).unwrap_or_default(),
    };
    if entries.is_empty() && old.is_some() {
        return Ok(());
    }
    // The request's managedFields are the stored ones (a patch, or a status write, carries them
    // along) and each was read as one entry: the entries this write leaves alone keep their JSON.
    let stored = old
        .and_then(managed::managed_fields_of)
        .and_then(Value::as_array);
    let mut json: Vec<Option<Value>> = match carried {
        Some(Value::Array(items)) if items.len() == entries.len() && stored == Some(&items) => {
            items.into_iter().map(Some).collect()
        }
        _ => Vec::new(),
    };
    let empty = Value::Object(Map::new());
    let cmp = merge::compare(schema, old.unwrap_or(&empty), new);
    let changed = cmp.added.union(&cmp.modified);
    let mine = entries
        .iter()
        .position(|e| e.is(manager, Operation::Update, api_version, subresource));
    for (i, e) in entries.iter_mut().enumerate() {
        let touched = Some(i) == mine
            || e.fields.loses_paths_to(&changed, false)
            || e.fields.loses_paths_to(&cmp.removed, true);
        if !touched {
            continue;
        }
        if let Some(reused) = json.get_mut(i) {
            *reused = None;
        }
        if Some(i) != mine {
            e.fields = e
                .fields
                .difference(&changed)
                .recursive_difference(&cmp.removed);
        }
    }
    match mine {
        Some(i) => {
            let e = &mut entries[i];
            e.fields = e.fields.recursive_difference(&cmp.removed).union(&changed);
            if !changed.is_empty() {
                e.time = Some(now.to_string());
            }
        }
        None if !changed.is_empty() => entries.push(ManagedEntry {
            manager: manager.to_string(),
            operation: Operation::Update,
            api_version: api_version.to_string(),
            time: Some(now.to_string()),
            subresource: subresource.map(str::to_string),
            fields: changed,
        }),
        None => {}
    }
    managed::store(new, &entries, json);
    Ok(())
}

#[cfg(test)]
mod tests;
