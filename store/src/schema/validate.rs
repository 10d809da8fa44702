//! Value validation of an object against its structural schema, as kube-apiserver validates custom
//! resources: the OpenAPI v3 checks of kube-openapi (types, nullable, enum, bounds, lengths,
//! patterns, formats, item and property counts, required fields), the list-type rules of
//! apiextensions-apiserver (duplicates in `set` and `map` lists), and the apiVersion/kind rules of
//! embedded resources.
//!
//! An update is checked against the object it replaces, as kube-apiserver ratchets custom
//! resource validation: a field equal to the stored one passes unchecked (the stored object
//! passed when it was written, and kube-apiserver lets an unchanged field stand even when a
//! newer schema would refuse it). A status write thus checks the status, not the spec it left
//! alone. Fields are compared only down to [`RATCHET_DEPTH`], which bounds what the comparisons
//! cost.
//!
//! Why it exists: a 422 whose causes read like kube-apiserver's is what kubectl, Helm and
//! controllers show their users, and tests written against a real cluster compare those strings.
//! Each [`FieldError`] therefore carries the Kubernetes CauseType and the message body
//! kube-apiserver would put in the Status cause (`Invalid value: -1: spec.instances in body should
//! be greater than or equal to 0`). Nothing here recurses deeper than [`MAX_DEPTH`] levels of
//! nesting: a deeper value is refused with a [`FieldError`].

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::sync::{LazyLock, Mutex};

use regex::Regex;
use serde_json::{Map, Number, Value};

use super::{ListType, MAX_DEPTH, Schema, SchemaType};
use crate::ordered::{Counterparts, identical};

/// One invalid field, as a cause of a 422 Invalid Status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's path: `spec.instances`, `spec.ports[0].name`, `metadata.labels`.
    pub field: String,
    /// The Kubernetes CauseType, e.g. [`FieldError::INVALID`] (`FieldValueInvalid`).
    pub reason: &'static str,
    /// The message body kube-apiserver puts in the cause, without the field: `Required value`,
    /// `Invalid value: "x": spec.name in body should match '^[a-z]+$'`.
    pub message: String,
}

impl FieldError {
    pub const INVALID: &'static str = "FieldValueInvalid";
    pub const REQUIRED: &'static str = "FieldValueRequired";
    pub const NOT_SUPPORTED: &'static str = "FieldValueNotSupported";
    pub const TYPE_INVALID: &'static str = "FieldValueTypeInvalid";
    pub const TOO_LONG: &'static str = "FieldValueTooLong";
    pub const TOO_MANY: &'static str = "FieldValueTooMany";
    pub const DUPLICATE: &'static str = "FieldValueDuplicate";
    pub const FORBIDDEN: &'static str = "FieldValueForbidden";

    /// `<field>: <message>`: how the error reads inside the Status message
    /// `<Kind>.<group> "<name>" is invalid: <field>: <message>`.
    pub fn cause_message(&self) -> String {
        if self.field.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }

    /// `Required value` (with `: detail` when given).
    pub fn required(field: impl Into<String>, detail: &str) -> FieldError {
        FieldError {
            field: field.into(),
            reason: Self::REQUIRED,
            message: with_detail("Required value".into(), detail),
        }
    }

    /// `Invalid value: <value>: <detail>`.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> FieldError {
        FieldError {
            field: field.into(),
            reason: Self::INVALID,
            message: with_detail(format!("Invalid value: {}", go_value(value)), detail),
        }
    }

    /// `Invalid value: <value>: <detail>` with the CauseType `FieldValueTypeInvalid`.
    pub fn type_invalid(field: impl Into<String>, value: &Value, detail: &str) -> FieldError {
        FieldError {
            field: field.into(),
            reason: Self::TYPE_INVALID,
            message: with_detail(format!("Invalid value: {}", go_value(value)), detail),
        }
    }

    /// `Unsupported value: <value>: supported values: "a", "b"`.
    pub fn not_supported(
        field: impl Into<String>,
        value: &Value,
        supported: &[String],
    ) -> FieldError {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        FieldError {
            field: field.into(),
            reason: Self::NOT_SUPPORTED,
            message: with_detail(format!("Unsupported value: {}", go_value(value)), &detail),
        }
    }

    /// `Too long: may not be more than <max> bytes`.
    pub fn too_long(field: impl Into<String>, max: u64) -> FieldError {
        let unit = if max == 1 { "byte" } else { "bytes" };
        FieldError {
            field: field.into(),
            reason: Self::TOO_LONG,
            message: format!("Too long: may not be more than {max} {unit}"),
        }
    }

    /// `Too many: <actual>: must have at most <max> items`.
    pub fn too_many(field: impl Into<String>, actual: usize, max: u64) -> FieldError {
        let unit = if max == 1 { "item" } else { "items" };
        FieldError {
            field: field.into(),
            reason: Self::TOO_MANY,
            message: format!("Too many: {actual}: must have at most {max} {unit}"),
        }
    }

    /// `Duplicate value: <value>`.
    pub fn duplicate(field: impl Into<String>, value: &Value) -> FieldError {
        FieldError {
            field: field.into(),
            reason: Self::DUPLICATE,
            message: format!("Duplicate value: {}", go_value(value)),
        }
    }

    /// `Forbidden: <detail>`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> FieldError {
        FieldError {
            field: field.into(),
            reason: Self::FORBIDDEN,
            message: with_detail("Forbidden".into(), detail),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cause_message())
    }
}

impl std::error::Error for FieldError {}

fn with_detail(mut s: String, detail: &str) -> String {
    if !detail.is_empty() {
        s.push_str(": ");
        s.push_str(detail);
    }
    s
}

/// Validates `object` (a whole resource) against its schema and returns every problem found.
///
/// The root's `apiVersion` and `kind` are skipped (the server sets them), and so is `metadata`
/// (see [`super::metadata::validate_metadata`]), except that `metadata.name` and
/// `metadata.generateName` must satisfy what the schema declares for them, as a CRD may restrict
/// them.
pub fn validate(schema: &Schema, object: &Value) -> Vec<FieldError> {
    validate_update(schema, object, None)
}

/// [`validate`] for an update of `old`: fields equal to `old`'s pass unchecked (see the module
/// doc).
pub fn validate_update(schema: &Schema, object: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut v = Validator::default();
    let mut path = String::new();
    match object {
        Value::Object(map) => v.object(schema, map, old, &mut path, 0, true),
        other => v.node(schema, other, old, &mut path, 0),
    }
    v.errors
}

/// How deep below the root fields are compared with the stored object's (kube-apiserver
/// compares at any depth; deeper fields are checked whether they changed or not). The fields
/// of a changed object are compared again one by one, so an object is compared at most this
/// many times over, however hostile its nesting.
const RATCHET_DEPTH: usize = 8;

/// Validates a value found at `path` (for example `metadata`) against `schema`. With
/// `go_decoding`, the value is judged as Go's decoder judges a typed struct: a null counts as
/// absent and `required` is not enforced (the kind's own validation checks what it needs).
pub(crate) fn validate_at(
    schema: &Schema,
    value: &Value,
    path: &str,
    go_decoding: bool,
) -> Vec<FieldError> {
    let mut v = Validator {
        go_decoding,
        ..Validator::default()
    };
    let mut path = path.to_string();
    v.node(schema, value, None, &mut path, 0);
    v.errors
}

#[derive(Default)]
struct Validator {
    errors: Vec<FieldError>,
    /// See [`validate_at`].
    go_decoding: bool,
    /// A too-deep value was reported: stop descending anywhere.
    too_deep: bool,
}

/// Whether `v` holds a non-empty array or object `room` levels or more below it (where
/// [`Validator::enter`] refuses one: `room` is how many levels are left before the limit).
fn nests_too_deep(v: &Value, room: usize) -> bool {
    match v {
        Value::Array(items) if !items.is_empty() => {
            room == 0 || items.iter().any(|i| nests_too_deep(i, room - 1))
        }
        Value::Object(map) if !map.is_empty() => {
            room == 0 || map.values().any(|i| nests_too_deep(i, room - 1))
        }
        _ => false,
    }
}

/// Appends `.name` (or `name` at the root) to `path`; returns the length to truncate back to.
pub(crate) fn push_field(path: &mut String, name: &str) -> usize {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(name);
    len
}

/// Appends `[i]` to `path`; returns the length to truncate back to.
pub(crate) fn push_index(path: &mut String, i: usize) -> usize {
    let len = path.len();
    let _ = write!(path, "[{i}]");
    len
}

/// The JSON type of a value, as kube-openapi names it in type errors.
pub(crate) fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integral(n: &Number) -> bool {
    n.is_i64()
        || n.is_u64()
        || n.as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

/// The type a schema demands, as kube-openapi spells it in messages.
fn wanted_type(s: &Schema) -> Option<&'static str> {
    if s.int_or_string {
        return Some("integer,string");
    }
    s.kind.map(|k| match k {
        SchemaType::Object => "object",
        SchemaType::Array => "array",
        SchemaType::String => "string",
        SchemaType::Integer => "integer",
        SchemaType::Number => "number",
        SchemaType::Boolean => "boolean",
    })
}

fn type_matches(s: &Schema, v: &Value) -> bool {
    if s.int_or_string {
        return match v {
            Value::String(_) => true,
            Value::Number(n) => is_integral(n),
            _ => false,
        };
    }
    match (s.kind, v) {
        (None, _) => true,
        (Some(SchemaType::Object), Value::Object(_))
        | (Some(SchemaType::Array), Value::Array(_))
        | (Some(SchemaType::String), Value::String(_))
        | (Some(SchemaType::Number), Value::Number(_))
        | (Some(SchemaType::Boolean), Value::Bool(_)) => true,
        (Some(SchemaType::Integer), Value::Number(n)) => is_integral(n),
        _ => false,
    }
}

/// `<path> in body` (kube-openapi's subject of a message).
fn subject(path: &str) -> String {
    if path.is_empty() {
        "body".to_string()
    } else {
        format!("{path} in body")
    }
}

impl Validator {
    /// Refuses to enter a container nested deeper than [`MAX_DEPTH`]; `depth` counts the
    /// containers around `v`.
    fn enter(&mut self, kind: &str, path: &str, depth: usize) -> bool {
        if self.too_deep {
            return false;
        }
        if depth >= MAX_DEPTH {
            self.too_deep = true;
            self.errors.push(FieldError::invalid(
                path,
                &Value::String(kind.into()),
                &format!("must not be nested more than {MAX_DEPTH} levels deep"),
            ));
            return false;
        }
        true
    }

    fn type_error(&mut self, path: &str, want: &str, got: &str) {
        self.errors.push(FieldError::type_invalid(
            path,
            &Value::String(got.into()),
            &format!(
                "{} must be of type {want}: {}",
                subject(path),
                go_quote(got)
            ),
        ));
    }

    /// Checks `v` (which replaces `old`, in an update) against `s`.
    fn node(
        &mut self,
        s: &Schema,
        v: &Value,
        old: Option<&Value>,
        path: &mut String,
        depth: usize,
    ) {
        let old = old.filter(|_| depth < RATCHET_DEPTH);
        if old.is_some_and(|old| identical(old, v)) {
            return;
        }
        if v.is_null() {
            if !(s.nullable || self.go_decoding)
                && let Some(want) = wanted_type(s)
            {
                self.type_error(path, want, "null");
            }
            return;
        }
        if let Some(want) = wanted_type(s)
            && !type_matches(s, v)
        {
            self.type_error(path, want, type_of(v));
            // Still refuse hostile nesting below a mistyped value.
            self.depth_only(v, path, depth);
            return;
        }
        match v {
            Value::String(text) => self.string(s, text, v, path),
            Value::Number(n) => self.number(s, n, v, path),
            Value::Array(items) => self.array(s, items, old, path, depth),
            Value::Object(map) => self.object(s, map, old, path, depth, false),
            Value::Bool(_) | Value::Null => {}
        }
        if !s.enumeration.is_empty() && !s.enumeration.iter().any(|e| json_eq(e, v)) {
            let supported: Vec<String> = s
                .enumeration
                .iter()
                .map(|e| match e {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            self.errors
                .push(FieldError::not_supported(path.as_str(), v, &supported));
        }
    }

    /// Walks a value that has no schema only to refuse hostile nesting. Most such values
    /// (managedFields' field sets, free-form maps) are shallow, which is told without building
    /// the path of each of their fields; only a value that nests too deep is walked for its
    /// path.
    fn depth_only(&mut self, v: &Value, path: &mut String, depth: usize) {
        if nests_too_deep(v, MAX_DEPTH.saturating_sub(depth)) {
            self.find_too_deep(v, path, depth);
        }
    }

    fn find_too_deep(&mut self, v: &Value, path: &mut String, depth: usize) {
        match v {
            Value::Array(items) if !items.is_empty() => {
                if !self.enter("array", path, depth) {
                    return;
                }
                for (i, item) in items.iter().enumerate() {
                    if matches!(item, Value::Array(_) | Value::Object(_)) {
                        let at = push_index(path, i);
                        self.find_too_deep(item, path, depth + 1);
                        path.truncate(at);
                    }
                }
            }
            Value::Object(map) if !map.is_empty() => {
                if !self.enter("object", path, depth) {
                    return;
                }
                for (k, item) in map {
                    if matches!(item, Value::Array(_) | Value::Object(_)) {
                        let at = push_field(path, k);
                        self.find_too_deep(item, path, depth + 1);
                        path.truncate(at);
                    }
                }
            }
            _ => {}
        }
    }

    fn string(&mut self, s: &Schema, text: &str, v: &Value, path: &str) {
        if s.max_length.is_some() || s.min_length.is_some() {
            let chars = text.chars().count() as u64;
            if let Some(max) = s.max_length
                && chars > max
            {
                self.errors.push(FieldError::too_long(path, max));
            }
            if let Some(min) = s.min_length
                && chars < min
            {
                self.errors.push(FieldError::invalid(
                    path,
                    v,
                    &format!("{} should be at least {min} chars long", subject(path)),
                ));
            }
        }
        if let Some(pattern) = &s.pattern
            && matches_pattern(pattern, text) == Some(false)
        {
            self.errors.push(FieldError::invalid(
                path,
                v,
                &format!("{} should match '{pattern}'", subject(path)),
            ));
        }
        if let Some(format) = &s.format
            && !string_format_ok(format, text)
        {
            self.errors.push(FieldError::type_invalid(
                path,
                v,
                &format!(
                    "{} must be of type {format}: {}",
                    subject(path),
                    go_quote(text)
                ),
            ));
        }
    }

    fn number(&mut self, s: &Schema, n: &Number, v: &Value, path: &str) {
        let integer = !n.is_f64();
        let value = n.as_f64().unwrap_or(0.0);
        // kube-openapi prints the bound as an integer when the value is one.
        let bound = |b: f64| -> String {
            if integer && b.fract() == 0.0 && b.abs() < 9.2e18 {
                (b as i64).to_string()
            } else {
                go_float(b)
            }
        };
        if let Some(min) = s.minimum {
            let below = if s.exclusive_minimum {
                value <= min
            } else {
                value < min
            };
            if below {
                let relation = if s.exclusive_minimum {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                self.errors.push(FieldError::invalid(
                    path,
                    v,
                    &format!("{} should be {relation} {}", subject(path), bound(min)),
                ));
            }
        }
        if let Some(max) = s.maximum {
            let above = if s.exclusive_maximum {
                value >= max
            } else {
                value > max
            };
            if above {
                let relation = if s.exclusive_maximum {
                    "less than"
                } else {
                    "less than or equal to"
                };
                self.errors.push(FieldError::invalid(
                    path,
                    v,
                    &format!("{} should be {relation} {}", subject(path), bound(max)),
                ));
            }
        }
        if s.kind == Some(SchemaType::Integer) && s.format.as_deref() == Some("int32") {
            let fits = n
                .as_i64()
                .map(|i| i32::try_from(i).is_ok())
                .unwrap_or_else(|| {
                    n.as_f64()
                        .is_some_and(|f| f >= i32::MIN as f64 && f <= i32::MAX as f64)
                });
            if !fits {
                self.errors.push(FieldError::invalid(
                    path,
                    v,
                    &format!("{} must be in range of type int32", subject(path)),
                ));
            }
        }
    }

    fn array(
        &mut self,
        s: &Schema,
        items: &[Value],
        old: Option<&Value>,
        path: &mut String,
        depth: usize,
    ) {
        let old_items = old.and_then(Value::as_array);
        if let Some(max) = s.max_items
            && items.len() as u64 > max
        {
            self.errors
                .push(FieldError::too_many(path.as_str(), items.len(), max));
        }
        if let Some(min) = s.min_items
            && (items.len() as u64) < min
        {
            self.errors.push(FieldError::invalid(
                path.as_str(),
                &Value::from(items.len()),
                &format!("{} should have at least {min} items", subject(path)),
            ));
        }
        if items.is_empty() || !self.enter("array", path, depth) {
            return;
        }
        for (i, item) in items.iter().enumerate() {
            let at = push_index(path, i);
            match s.item() {
                Some(item_schema) => {
                    let was = old_items.and_then(|o| o.get(i));
                    self.node(item_schema, item, was, path, depth + 1)
                }
                None => self.depth_only(item, path, depth + 1),
            }
            path.truncate(at);
        }
        if self.go_decoding {
            // Go's decoder does not enforce list semantics.
            return;
        }
        match &s.list_type {
            ListType::Map(keys) => self.map_list_duplicates(s, keys, items, path),
            ListType::Set => self.set_duplicates(items, path),
            ListType::Atomic if s.unique_items => self.set_duplicates(items, path),
            ListType::Atomic => {}
        }
    }

    /// Items of a `set` list (or a list with `uniqueItems`) equal to an earlier item.
    fn set_duplicates(&mut self, items: &[Value], path: &mut String) {
        let mut seen = HashSet::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if !seen.insert(canonical(item)) {
                let at = push_index(path, i);
                self.errors.push(FieldError::duplicate(path.as_str(), item));
                path.truncate(at);
            }
        }
    }

    /// Items of a `map` list whose key fields equal an earlier item's.
    fn map_list_duplicates(
        &mut self,
        s: &Schema,
        keys: &[String],
        items: &[Value],
        path: &mut String,
    ) {
        let mut seen = HashSet::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Value::Object(obj) = item else {
                if !item.is_null() {
                    let at = push_index(path, i);
                    self.errors.push(FieldError::invalid(
                        path.as_str(),
                        item,
                        "must be an object for an array of list-type map",
                    ));
                    path.truncate(at);
                }
                continue;
            };
            let mut key = Map::new();
            for k in keys {
                let value = obj
                    .get(k)
                    .cloned()
                    .or_else(|| {
                        s.item()
                            .and_then(|is| is.properties.get(k))
                            .and_then(|ks| ks.default.clone())
                    })
                    .unwrap_or(Value::Null);
                key.insert(k.clone(), value);
            }
            let key = Value::Object(key);
            if !seen.insert(canonical(&key)) {
                let at = push_index(path, i);
                self.errors.push(FieldError::duplicate(path.as_str(), &key));
                path.truncate(at);
            }
        }
    }

    fn object(
        &mut self,
        s: &Schema,
        map: &Map<String, Value>,
        old: Option<&Value>,
        path: &mut String,
        depth: usize,
        root: bool,
    ) {
        // `node` has already let go of `old` below RATCHET_DEPTH.
        let mut old_fields = old.and_then(Value::as_object).map(Counterparts::new);
        for name in s.required.iter().filter(|_| !self.go_decoding) {
            if !map.contains_key(name) {
                let at = push_field(path, name);
                self.errors.push(FieldError::required(path.as_str(), ""));
                path.truncate(at);
            }
        }
        if let Some(max) = s.max_properties
            && map.len() as u64 > max
        {
            self.errors
                .push(FieldError::too_many(path.as_str(), map.len(), max));
        }
        if let Some(min) = s.min_properties
            && (map.len() as u64) < min
        {
            self.errors.push(FieldError::invalid(
                path.as_str(),
                &Value::from(map.len()),
                &format!("{} should have at least {min} properties", subject(path)),
            ));
        }
        if s.embedded_resource && !root {
            self.embedded_resource(map, path);
        }
        if map.is_empty() || !self.enter("object", path, depth) {
            return;
        }
        for (k, child) in map {
            let at = push_field(path, k);
            if root && (k == "apiVersion" || k == "kind") {
                // Set by the server.
            } else if root && k == "metadata" {
                self.root_metadata(s, child, path, depth + 1);
            } else if s.embedded_resource && !root && k == "metadata" {
                // Checked as ObjectMeta by `embedded_resource`.
                self.depth_only(child, path, depth + 1);
            } else {
                match s.field(k) {
                    Some(child_schema) => {
                        let was = old_fields.as_mut().and_then(|fields| fields.get(k));
                        self.node(child_schema, child, was, path, depth + 1)
                    }
                    None => self.depth_only(child, path, depth + 1),
                }
            }
            path.truncate(at);
        }
    }

    /// A CRD may restrict `metadata.name` and `metadata.generateName` (the only metadata fields
    /// its schema may mention); the rest of metadata is ObjectMeta's business.
    fn root_metadata(&mut self, s: &Schema, meta: &Value, path: &mut String, depth: usize) {
        let (Some(meta_schema), Value::Object(meta)) = (s.properties.get("metadata"), meta) else {
            return;
        };
        for field in ["name", "generateName"] {
            if let (Some(field_schema), Some(value @ Value::String(_))) =
                (meta_schema.properties.get(field), meta.get(field))
            {
                let at = push_field(path, field);
                self.node(field_schema, value, None, path, depth + 1);
                path.truncate(at);
            }
        }
    }

    /// `x-kubernetes-embedded-resource`: apiVersion and kind are required, metadata is ObjectMeta.
    fn embedded_resource(&mut self, map: &Map<String, Value>, path: &mut String) {
        for field in ["apiVersion", "kind"] {
            let at = push_field(path, field);
            match map.get(field) {
                None => self.errors.push(FieldError::required(path.as_str(), "")),
                Some(Value::String(s)) if s.is_empty() => {
                    self.errors.push(FieldError::required(path.as_str(), ""));
                }
                Some(Value::String(s)) => {
                    if field == "apiVersion" {
                        if s.split('/').count() > 2 {
                            self.errors.push(FieldError::invalid(
                                path.as_str(),
                                &Value::String(s.clone()),
                                &format!("unexpected GroupVersion string: {s}"),
                            ));
                        }
                    } else {
                        let errs = super::metadata::dns1035_label_errors(&s.to_lowercase());
                        if !errs.is_empty() {
                            self.errors.push(FieldError::invalid(
                                path.as_str(),
                                &Value::String(s.clone()),
                                &format!(
                                    "may have mixed case, but should otherwise match: {}",
                                    errs.join(",")
                                ),
                            ));
                        }
                    }
                }
                Some(other) => {
                    self.errors.push(FieldError::invalid(
                        path.as_str(),
                        other,
                        "must be a string",
                    ));
                }
            }
            path.truncate(at);
        }
        if let Some(meta) = map.get("metadata") {
            let at = push_field(path, "metadata");
            self.errors
                .extend(super::metadata::validate_embedded_metadata(meta, path));
            path.truncate(at);
        }
    }
}

/// Equality of JSON values where numbers compare by value (`1` equals `1.0`).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A string equal for equal JSON values (object keys sorted, integral numbers as integers), for
/// duplicate detection. Nesting is bounded by [`MAX_DEPTH`]; deeper content is elided.
fn canonical(v: &Value) -> String {
    fn go(v: &Value, out: &mut String, depth: usize) {
        match v {
            Value::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() && f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    let _ = write!(out, "{}", f as i64);
                }
                _ => {
                    let _ = write!(out, "{n}");
                }
            },
            Value::String(s) => {
                let _ = write!(out, "{s:?}");
            }
            Value::Array(items) => {
                out.push('[');
                if depth < MAX_DEPTH {
                    for item in items {
                        go(item, out, depth + 1);
                        out.push(',');
                    }
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                if depth < MAX_DEPTH {
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    for k in keys {
                        let _ = write!(out, "{k:?}:");
                        go(&map[k.as_str()], out, depth + 1);
                        out.push(',');
                    }
                }
                out.push('}');
            }
            other => {
                let _ = write!(out, "{other}");
            }
        }
    }
    let mut out = String::new();
    go(v, &mut out, 0);
    out
}

/// Whether `text` matches `pattern` (unanchored, as Go's `regexp.MatchString`); `None` when the
/// pattern does not compile (schemas are checked when read, so this does not happen).
fn matches_pattern(pattern: &str, text: &str) -> Option<bool> {
    static CACHE: LazyLock<Mutex<HashMap<String, Option<Regex>>>> = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() > 1024 && !cache.contains_key(pattern) {
        cache.clear();
    }
    let re = cache
        .entry(pattern.to_string())
        .or_insert_with(|| Regex::new(pattern).ok());
    re.as_ref().map(|re| re.is_match(text))
}

/// The string formats kube-apiserver checks for custom resources; unknown formats pass.
fn string_format_ok(format: &str, s: &str) -> bool {
    match format.replace(['-', '_'], "").to_ascii_lowercase().as_str() {
        "byte" => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(s).is_ok()
        }
        "datetime" => is_date_time(s),
        "date" => is_date(s),
        "uuid" | "uuid3" | "uuid4" | "uuid5" => is_uuid(s),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(s),
        "hostname" => is_hostname(s),
        "email" => is_email(s),
        _ => true,
    }
}

/// The number written by ASCII digits `b` (all digits, at most 9 of them).
fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

/// `YYYY-MM-DD` with a valid month and day.
fn is_date(s: &str) -> bool {
    is_date_bytes(s.as_bytes())
}

fn is_date_bytes(b: &[u8]) -> bool {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (num(&b[0..4]), num(&b[5..7]), num(&b[8..10])) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// RFC 3339 date-time, loosely as go-openapi's strfmt accepts it: `T`, `t` or a space between
/// date and time, optional fraction, `Z`/`z` or a numeric offset (also without a colon), or no
/// zone at all.
fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 19 || !is_date_bytes(&b[..10]) || !matches!(b[10], b'T' | b't' | b' ') {
        return false;
    }
    let t = &b[11..];
    if t[2] != b':' || t[5] != b':' {
        return false;
    }
    match (num(&t[0..2]), num(&t[3..5]), num(&t[6..8])) {
        (Some(h), Some(m), Some(sec)) if h <= 23 && m <= 59 && sec <= 60 => {}
        _ => return false,
    }
    let mut zone = &t[8..];
    if let Some(frac) = zone.strip_prefix(b".") {
        let n = frac.iter().take_while(|d| d.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        zone = &frac[n..];
    }
    match zone {
        b"" | b"Z" | b"z" => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] | [b'+' | b'-', h1, h2, m1, m2] => {
            matches!((num(&[*h1, *h2]), num(&[*m1, *m2])), (Some(h), Some(m)) if h <= 23 && m <= 59)
        }
        _ => false,
    }
}

/// 32 hex digits in 8-4-4-4-12 groups (dashes optional, any case).
fn is_uuid(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    if s.len() == 36 {
        let b = s.as_bytes();
        return b[8] == b'-' && b[13] == b'-' && b[18] == b'-' && b[23] == b'-';
    }
    s.len() == 32
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Some(bits) = num(bits.as_bytes()) else {
        return false;
    };
    if ip.parse::<std::net::Ipv4Addr>().is_ok() {
        bits <= 32
    } else {
        ip.parse::<std::net::Ipv6Addr>().is_ok() && bits <= 128
    }
}

fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn is_email(s: &str) -> bool {
    let addr = match (s.find('<'), s.ends_with('>')) {
        (Some(i), true) => &s[i + 1..s.len() - 1],
        _ => s,
    };
    match addr.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !addr.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// A value as kube-apiserver prints a bad value: strings quoted Go-style, numbers and booleans
/// bare, null as `null`, anything else as compact JSON.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => go_quote(s),
        Value::Number(n) if n.is_f64() => go_float(n.as_f64().unwrap_or(0.0)),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        other => canonical_json(other),
    }
}

/// Compact JSON with nesting bounded by [`MAX_DEPTH`] (deeper content elided as `…`).
fn canonical_json(v: &Value) -> String {
    fn go(v: &Value, out: &mut String, depth: usize) {
        match v {
            Value::Array(items) => {
                out.push('[');
                if depth >= MAX_DEPTH && !items.is_empty() {
                    out.push('…');
                } else {
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        go(item, out, depth + 1);
                    }
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                if depth >= MAX_DEPTH && !map.is_empty() {
                    out.push('…');
                } else {
                    for (i, (k, item)) in map.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(&Value::String(k.clone()).to_string());
                        out.push(':');
                        go(item, out, depth + 1);
                    }
                }
                out.push('}');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    go(v, &mut out, 0);
    out
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): the shortest digits that
/// round-trip, in exponent form when the exponent is below -4 or at least 6 (`1e+06`).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        return format!(
            "{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        );
    }
    format!("{f}")
}

#[cfg(test)]
pub(crate) mod tests;
