//! Structural schemas: the subset of OpenAPI v3 that Kubernetes allows in a CRD's `openAPIV3Schema`.
//!
//! The store reads every kind's schema into a [`Schema`] tree once (when a CRD is stored or a built-in
//! kind is registered) and then walks it for validation, pruning, defaulting and the list/map semantics
//! of server-side apply. Nothing here touches storage or HTTP.

use std::collections::BTreeMap;

use serde_json::Value;

pub mod builtin;
pub mod defaults;
pub mod metadata;
pub mod prune;
pub mod validate;

pub use validate::FieldError;

/// How deeply objects and arrays may nest in a value that validation, pruning and defaulting walk.
/// Deeper values are refused (see [`validate::validate`]) instead of being recursed into, so that
/// untrusted input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 100;

/// The JSON type a schema node admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaType {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

/// How server-side apply merges a list (`x-kubernetes-list-type`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ListType {
    /// The whole list is one value, owned by one manager (the default for CRDs).
    #[default]
    Atomic,
    /// A list of unique scalars; each element is owned separately.
    Set,
    /// A list of objects identified by the `x-kubernetes-list-map-keys` fields.
    Map(Vec<String>),
}

/// How server-side apply merges an object with `additionalProperties` (`x-kubernetes-map-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapType {
    /// Each key is owned separately (the default).
    #[default]
    Granular,
    /// The whole map is one value.
    Atomic,
}

/// One node of a structural schema.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// `type`; `None` only where `x-kubernetes-int-or-string` or `x-kubernetes-preserve-unknown-fields`
    /// allow any type.
    pub kind: Option<SchemaType>,
    pub format: Option<String>,
    pub description: Option<String>,
    /// Named fields of an object.
    pub properties: BTreeMap<String, Schema>,
    pub required: Vec<String>,
    /// The schema of every value of a map-like object (`additionalProperties`).
    pub additional_properties: Option<Box<Schema>>,
    /// The schema of every element of an array.
    pub items: Option<Box<Schema>>,
    pub nullable: bool,
    /// Allowed values (`enum`); empty means any.
    pub enumeration: Vec<Value>,
    pub default: Option<Value>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: bool,
    pub exclusive_maximum: bool,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub pattern: Option<String>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub unique_items: bool,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    /// `x-kubernetes-preserve-unknown-fields`: fields not in `properties` are kept, not pruned.
    pub preserve_unknown_fields: bool,
    /// `x-kubernetes-int-or-string`: an integer or a string.
    pub int_or_string: bool,
    /// `x-kubernetes-embedded-resource`: an object with its own apiVersion, kind and metadata.
    pub embedded_resource: bool,
    /// `x-kubernetes-list-type` (with `x-kubernetes-list-map-keys` for maps).
    pub list_type: ListType,
    /// `x-kubernetes-map-type`.
    pub map_type: MapType,
}

/// Why a schema could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SchemaError {
    /// Where in the schema, e.g. `properties.spec.properties.cpus.type`.
    pub path: String,
    pub message: String,
}

impl Schema {
    /// A schema that admits anything and prunes nothing.
    pub fn any() -> Schema {
        Schema {
            preserve_unknown_fields: true,
            ..Schema::default()
        }
    }

    /// Reads an `openAPIV3Schema` (JSONSchemaProps as JSON).
    pub fn from_json(value: &Value) -> Result<Schema, SchemaError> {
        parse(value, "")
    }

    /// The schema of field `name` of an object: a named property, else `additionalProperties`, else
    /// `None` (unknown field).
    pub fn field(&self, name: &str) -> Option<&Schema> {
        self.properties
            .get(name)
            .or(self.additional_properties.as_deref())
    }

    /// The schema of an array's elements.
    pub fn item(&self) -> Option<&Schema> {
        self.items.as_deref()
    }
}

fn err(path: &str, message: impl Into<String>) -> SchemaError {
    SchemaError {
        path: path.trim_start_matches('.').to_string(),
        message: message.into(),
    }
}

fn parse(value: &Value, path: &str) -> Result<Schema, SchemaError> {
    let obj = value
        .as_object()
        .ok_or_else(|| err(path, "a schema must be an object"))?;
    let mut s = Schema::default();
    let u64_of = |key: &str| -> Result<Option<u64>, SchemaError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| err(&format!("{path}.{key}"), "must be a non-negative integer")),
        }
    };
    let f64_of = |key: &str| -> Result<Option<f64>, SchemaError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| err(&format!("{path}.{key}"), "must be a number")),
        }
    };
    let bool_of = |key: &str| obj.get(key).and_then(Value::as_bool).unwrap_or(false);
    let str_of = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_string);

    s.kind = match obj.get("type").and_then(Value::as_str) {
        None => None,
        Some("object") => Some(SchemaType::Object),
        Some("array") => Some(SchemaType::Array),
        Some("string") => Some(SchemaType::String),
        Some("integer") => Some(SchemaType::Integer),
        Some("number") => Some(SchemaType::Number),
        Some("boolean") => Some(SchemaType::Boolean),
        Some(other) => {
            return Err(err(
                &format!("{path}.type"),
                format!(
                    "unsupported type {other:?}: use object, array, string, integer, number or boolean"
                ),
            ));
        }
    };
    s.format = str_of("format");
    s.description = str_of("description");
    if let Some(props) = obj.get("properties") {
        let props = props
            .as_object()
            .ok_or_else(|| err(&format!("{path}.properties"), "must be an object"))?;
        for (name, sub) in props {
            s.properties.insert(
                name.clone(),
                parse(sub, &format!("{path}.properties.{name}"))?,
            );
        }
    }
    if let Some(req) = obj.get("required") {
        s.required = req
            .as_array()
            .ok_or_else(|| err(&format!("{path}.required"), "must be a list of field names"))?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
    }
    match obj.get("additionalProperties") {
        Some(Value::Object(_)) => {
            s.additional_properties = Some(Box::new(parse(
                &obj["additionalProperties"],
                &format!("{path}.additionalProperties"),
            )?));
        }
        Some(Value::Bool(true)) => s.additional_properties = Some(Box::new(Schema::any())),
        _ => {}
    }
    if let Some(items) = obj.get("items") {
        s.items = Some(Box::new(parse(items, &format!("{path}.items"))?));
    }
    s.nullable = bool_of("nullable");
    if let Some(e) = obj.get("enum") {
        s.enumeration = e
            .as_array()
            .ok_or_else(|| err(&format!("{path}.enum"), "must be a list"))?
            .clone();
    }
    s.default = obj.get("default").cloned();
    s.minimum = f64_of("minimum")?;
    s.maximum = f64_of("maximum")?;
    s.exclusive_minimum = bool_of("exclusiveMinimum");
    s.exclusive_maximum = bool_of("exclusiveMaximum");
    s.min_length = u64_of("minLength")?;
    s.max_length = u64_of("maxLength")?;
    s.pattern = str_of("pattern");
    if let Some(p) = &s.pattern {
        regex::Regex::new(p).map_err(|e| {
            err(
                &format!("{path}.pattern"),
                format!("invalid regular expression: {e}"),
            )
        })?;
    }
    s.min_items = u64_of("minItems")?;
    s.max_items = u64_of("maxItems")?;
    s.unique_items = bool_of("uniqueItems");
    s.min_properties = u64_of("minProperties")?;
    s.max_properties = u64_of("maxProperties")?;
    s.preserve_unknown_fields = bool_of("x-kubernetes-preserve-unknown-fields");
    s.int_or_string = bool_of("x-kubernetes-int-or-string");
    s.embedded_resource = bool_of("x-kubernetes-embedded-resource");
    s.list_type = match obj.get("x-kubernetes-list-type").and_then(Value::as_str) {
        None | Some("atomic") => ListType::Atomic,
        Some("set") => ListType::Set,
        Some("map") => {
            let keys: Vec<String> = obj
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if keys.is_empty() {
                return Err(err(
                    &format!("{path}.x-kubernetes-list-map-keys"),
                    "x-kubernetes-list-type map requires x-kubernetes-list-map-keys",
                ));
            }
            ListType::Map(keys)
        }
        Some(other) => {
            return Err(err(
                &format!("{path}.x-kubernetes-list-type"),
                format!("unsupported value {other:?}: use atomic, set or map"),
            ));
        }
    };
    s.map_type = match obj.get("x-kubernetes-map-type").and_then(Value::as_str) {
        Some("atomic") => MapType::Atomic,
        _ => MapType::Granular,
    };
    if s.kind.is_none() && !s.int_or_string && !s.preserve_unknown_fields && path.is_empty() {
        // The root of a CRD schema must be an object.
        s.kind = Some(SchemaType::Object);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_list_and_map_types() {
        let s = Schema::from_json(&json!({
            "type": "object",
            "properties": {
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"},
                           "x-kubernetes-map-type": "atomic"}
            }
        }))
        .unwrap();
        assert_eq!(
            s.field("ports").unwrap().list_type,
            ListType::Map(vec!["name".into()])
        );
        assert_eq!(s.field("labels").unwrap().map_type, MapType::Atomic);
        assert_eq!(
            s.field("labels").unwrap().field("anything").unwrap().kind,
            Some(SchemaType::String)
        );
        assert!(s.field("nope").is_none());
    }

    #[test]
    fn rejects_map_list_without_keys() {
        let e = Schema::from_json(&json!({"type": "array", "x-kubernetes-list-type": "map"}))
            .unwrap_err();
        assert_eq!(e.path, "x-kubernetes-list-map-keys");
    }
}
