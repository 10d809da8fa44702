//! Defaulting: filling in the `default` values a structural schema declares, as kube-apiserver
//! does for custom resources on every read from a request and from storage.
//!
//! Why it exists: CRD authors rely on defaults (`spec.replicas: 1`), and controllers read the
//! defaulted object back. The rules follow apiextensions-apiserver's structural defaulting: a
//! property that is absent, or null where the schema does not allow null, gets a deep copy of its
//! default; defaulting then continues inside the value, so defaults within defaulted objects,
//! within array items and within `additionalProperties` values apply too. Nesting deeper than
//! [`MAX_DEPTH`] is left alone (validation refuses it).

use serde_json::Value;

use super::{MAX_DEPTH, Schema};

/// Applies the defaults of `schema` to `object` (a whole resource). The root's `apiVersion`,
/// `kind` and `metadata` are left alone.
pub fn apply_defaults(schema: &Schema, object: &mut Value) {
    default_value(schema, object, 0, true);
}

/// Applies the defaults of `schema` to any value (not a resource root).
pub fn apply_defaults_to_value(schema: &Schema, value: &mut Value) {
    default_value(schema, value, 0, false);
}

/// Whether a null (or absent) value is replaced by the schema's default.
fn defaults_null(s: &Schema) -> bool {
    !s.nullable && s.default.is_some()
}

fn default_value(s: &Schema, v: &mut Value, depth: usize, root: bool) {
    if depth >= MAX_DEPTH {
        return;
    }
    let skip = |k: &str| root && matches!(k, "apiVersion" | "kind" | "metadata");
    match v {
        Value::Object(map) => {
            for (k, prop) in &s.properties {
                let Some(default) = &prop.default else {
                    continue;
                };
                if skip(k) {
                    continue;
                }
                match map.get_mut(k.as_str()) {
                    None => {
                        map.insert(k.clone(), default.clone());
                    }
                    Some(existing) if existing.is_null() && !prop.nullable => {
                        *existing = default.clone();
                    }
                    Some(_) => {}
                }
            }
            for (k, child) in map.iter_mut() {
                if skip(k) {
                    continue;
                }
                if let Some(prop) = s.properties.get(k.as_str()) {
                    default_value(prop, child, depth + 1, false);
                } else if let Some(extra) = s.additional_properties.as_deref() {
                    if child.is_null()
                        && defaults_null(extra)
                        && let Some(default) = &extra.default
                    {
                        *child = default.clone();
                    }
                    default_value(extra, child, depth + 1, false);
                }
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = s.item() else { return };
            for item in items.iter_mut() {
                if item.is_null()
                    && defaults_null(item_schema)
                    && let Some(default) = &item_schema.default
                {
                    *item = default.clone();
                }
                default_value(item_schema, item, depth + 1, false);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
