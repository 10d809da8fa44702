//! `metadata.managedFields`: reading, validating, identifying and writing its entries.
//!
//! Why it exists: the entries are the persistent state of field ownership, written back on every
//! write and read by clients (kubectl and Helm rewrite them with JSON patches to migrate
//! client-side apply ownership), so they must round-trip in exactly Kubernetes' shape:
//! `{manager, operation, apiVersion, time, fieldsType: "FieldsV1", fieldsV1, subresource?}`,
//! sorted as kube-apiserver sorts them. A manager's identity is (manager, operation,
//! subresource), plus apiVersion for Update entries, as in kube-apiserver.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::fieldset::FieldSet;

/// `operation` of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One entry of `metadata.managedFields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedEntry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    /// RFC 3339, as stored.
    pub time: Option<String>,
    /// `None` for the main resource.
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

impl ManagedEntry {
    /// Whether `self` is the entry of this manager identity.
    pub fn is(
        &self,
        manager: &str,
        operation: Operation,
        api_version: &str,
        subresource: Option<&str>,
    ) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
            && (operation == Operation::Apply || self.api_version == api_version)
    }

    fn same_identity(&self, other: &ManagedEntry) -> bool {
        other.is(
            &self.manager,
            self.operation,
            &self.api_version,
            self.subresource.as_deref(),
        )
    }

    /// The entry as JSON, fields in Kubernetes' order.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), Value::String(self.manager.clone()));
        m.insert(
            "operation".into(),
            Value::String(self.operation.as_str().into()),
        );
        m.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        if let Some(t) = &self.time {
            m.insert("time".into(), Value::String(t.clone()));
        }
        m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), Value::String(s.clone()));
        }
        Value::Object(m)
    }

    /// Reads one entry. `index` names it in messages, which follow kube-apiserver's
    /// `ValidateManagedFields` wording.
    pub fn from_json(v: &Value, index: usize) -> Result<ManagedEntry, String> {
        let at = format!("metadata.managedFields[{index}]");
        let Value::Object(m) = v else {
            return Err(format!("{at}: Invalid value: {v}: must be an object"));
        };
        let string = |key: &str| m.get(key).and_then(Value::as_str);
        let manager = match m.get("manager") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(format!("{at}.manager: Required value: must be set")),
        };
        let operation = match string("operation") {
            Some("Apply") => Operation::Apply,
            Some("Update") => Operation::Update,
            other => {
                return Err(format!(
                    "{at}.operation: Invalid value: {}: must be `Apply` or `Update`",
                    Value::from(other.unwrap_or(""))
                ));
            }
        };
        match string("fieldsType") {
            Some("FieldsV1") => {}
            other => {
                return Err(format!(
                    "{at}.fieldsType: Invalid value: {}: must be `FieldsV1`",
                    Value::from(other.unwrap_or(""))
                ));
            }
        }
        let api_version = string("apiVersion").unwrap_or("").to_string();
        if api_version.is_empty() {
            return Err(format!("{at}.apiVersion: Required value: must be set"));
        }
        let fields = match m.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(f) => FieldSet::from_fields_v1(f).map_err(|e| format!("{at}.fieldsV1: {e}"))?,
        };
        Ok(ManagedEntry {
            manager,
            operation,
            api_version,
            time: string("time").map(str::to_string),
            subresource: string("subresource")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            fields,
        })
    }
}

/// The managedFields of an object, if it has any (a missing or null field is `None`).
pub fn managed_fields_of(object: &Value) -> Option<&Value> {
    object
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .filter(|v| !v.is_null())
}

/// Reads a managedFields list, refusing any invalid entry. Entries of the same identity are
/// merged.
pub fn decode_strict(v: &Value) -> Result<Vec<ManagedEntry>, String> {
    let Value::Array(items) = v else {
        return Err(format!(
            "metadata.managedFields: Invalid value: {v}: must be a list"
        ));
    };
    let mut out: Vec<ManagedEntry> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        push_entry(&mut out, ManagedEntry::from_json(item, i)?);
    }
    Ok(out)
}

/// Reads the managedFields stored on an object, skipping entries that cannot be read (they
/// can only come from an older server; dropping them is what kube-apiserver does too).
pub fn decode_lenient(object: &Value) -> Vec<ManagedEntry> {
    let mut out: Vec<ManagedEntry> = Vec::new();
    if let Some(Value::Array(items)) = managed_fields_of(object) {
        for (i, item) in items.iter().enumerate() {
            if let Ok(e) = ManagedEntry::from_json(item, i) {
                push_entry(&mut out, e);
            }
        }
    }
    out
}

fn push_entry(out: &mut Vec<ManagedEntry>, entry: ManagedEntry) {
    match out.iter_mut().find(|e| e.same_identity(&entry)) {
        Some(existing) => {
            existing.fields.union_with(&entry.fields);
            if entry.time > existing.time {
                existing.time = entry.time;
            }
        }
        None => out.push(entry),
    }
}

/// The managedFields list for `entries`: empty sets dropped, sorted as kube-apiserver sorts
/// (operation, time, manager, apiVersion, subresource). `None` when nothing is left. Entry `i`
/// is written as `json[i]` where that is given: the stored JSON of an entry a write left as it
/// was (re-encoding every entry of every write cost more than the rest of the managed-fields
/// bookkeeping).
fn encode(entries: &[ManagedEntry], mut json: Vec<Option<Value>>) -> Option<Value> {
    json.resize(entries.len(), None);
    let mut kept: Vec<(&ManagedEntry, Option<Value>)> = entries
        .iter()
        .zip(json)
        .filter(|(e, _)| !e.fields.is_empty())
        .collect();
    if kept.is_empty() {
        return None;
    }
    kept.sort_by(|(a, _), (b, _)| {
        a.operation
            .cmp(&b.operation)
            .then_with(|| compare_time(a.time.as_deref(), b.time.as_deref()))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| a.api_version.cmp(&b.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    Some(Value::Array(
        kept.into_iter()
            .map(|(e, json)| json.unwrap_or_else(|| e.to_json()))
            .collect(),
    ))
}

fn compare_time(a: Option<&str>, b: Option<&str>) -> Ordering {
    // RFC 3339 times in UTC with the same precision sort as strings; a missing time is oldest.
    a.unwrap_or("").cmp(b.unwrap_or(""))
}

/// Writes `entries` into `object.metadata.managedFields` (removing the field when none is
/// left), reusing `json` as [`encode`] does.
pub fn store(object: &mut Value, entries: &[ManagedEntry], json: Vec<Option<Value>>) {
    let Value::Object(obj) = object else {
        return;
    };
    let encoded = encode(entries, json);
    if encoded.is_none() && !obj.contains_key("metadata") {
        return;
    }
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    let Value::Object(meta) = meta else {
        return;
    };
    match encoded {
        Some(v) => {
            meta.insert("managedFields".into(), v);
        }
        None => {
            meta.shift_remove("managedFields");
        }
    }
}

/// Removes `metadata.managedFields` from an object and returns it.
pub fn take(object: &mut Value) -> Option<Value> {
    match object.get_mut("metadata") {
        Some(Value::Object(meta)) => meta.shift_remove("managedFields"),
        _ => None,
    }
}
