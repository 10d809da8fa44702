//! Pruning: removing the fields a schema does not declare, as kube-apiserver does when it decodes
//! a custom resource, and reporting each removed field for `fieldValidation` (Strict fails with
//! `strict decoding error: unknown field "spec.foo"`, Warn sends `unknown field "spec.foo"`).
//!
//! Why it exists: stored objects must hold only what their schema describes, and clients such as
//! Helm and kubectl rely on the server to tell them about misspelled fields. The rules follow
//! apiextensions-apiserver's structural pruning: fields under
//! `x-kubernetes-preserve-unknown-fields` are kept (declared fields below them are still pruned),
//! the root's `apiVersion`, `kind` and `metadata` are never removed, embedded resources keep
//! theirs, and every `metadata` is pruned to ObjectMeta's fields. Null values of non-nullable
//! fields without a default are dropped too, silently, as kube-apiserver drops them while
//! decoding. Nesting deeper than [`MAX_DEPTH`] is left alone (validation refuses it).

use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::validate::{push_field, push_index};
use super::{MAX_DEPTH, Schema};

/// A schema that declares nothing: every field of an object checked against it is unknown.
static NOTHING: LazyLock<Schema> = LazyLock::new(Schema::default);

/// Removes from `object` (a whole resource) every field `schema` does not declare and returns the
/// paths of the removed fields, in document order, without a leading dot: `spec.foo`,
/// `spec.ports[0].bar`, `metadata.foo`.
pub fn prune(schema: &Schema, object: &mut Value) -> Vec<String> {
    let mut p = Pruner::default();
    let mut path = String::new();
    if let Value::Object(map) = object {
        p.object(schema, map, &mut path, 0, Resource::Root);
    }
    p.removed
}

/// Prunes `meta` (an object's `metadata`, found at `path`) to ObjectMeta's fields and returns the
/// paths of the removed fields.
pub fn prune_metadata(meta: &mut Value, path: &str) -> Vec<String> {
    let mut p = Pruner::default();
    let mut path = path.to_string();
    p.value(super::builtin::object_meta(), meta, &mut path, 0);
    p.removed
}

#[derive(Default)]
struct Pruner {
    removed: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Resource {
    /// The object itself.
    Root,
    /// An `x-kubernetes-embedded-resource`.
    Embedded,
    /// Any other object.
    No,
}

impl Pruner {
    fn value(&mut self, s: &Schema, v: &mut Value, path: &mut String, depth: usize) {
        match v {
            Value::Object(map) => {
                let resource = if s.embedded_resource {
                    Resource::Embedded
                } else {
                    Resource::No
                };
                self.object(s, map, path, depth, resource);
            }
            Value::Array(items) => {
                if depth >= MAX_DEPTH {
                    return;
                }
                let item_schema = match s.item() {
                    Some(item_schema) => item_schema,
                    // Without an item schema, kube-apiserver keeps items only where unknown
                    // fields are preserved.
                    None if s.preserve_unknown_fields => return,
                    None => &NOTHING,
                };
                for (i, item) in items.iter_mut().enumerate() {
                    if matches!(item, Value::Object(_) | Value::Array(_)) {
                        let at = push_index(path, i);
                        self.value(item_schema, item, path, depth + 1);
                        path.truncate(at);
                    }
                }
            }
            _ => {}
        }
    }

    fn object(
        &mut self,
        s: &Schema,
        map: &mut Map<String, Value>,
        path: &mut String,
        depth: usize,
        resource: Resource,
    ) {
        if depth >= MAX_DEPTH {
            return;
        }
        map.retain(|k, v| self.keep(s, k, v, path, depth, resource));
    }

    /// Whether field `k` of an object stays (after pruning below it).
    fn keep(
        &mut self,
        s: &Schema,
        k: &str,
        v: &mut Value,
        path: &mut String,
        depth: usize,
        resource: Resource,
    ) -> bool {
        let at = push_field(path, k);
        let keep = match (resource, k) {
            (Resource::Root, "apiVersion" | "kind") => true,
            (Resource::Embedded, "apiVersion" | "kind") if v.is_string() => true,
            (Resource::Root | Resource::Embedded, "metadata") => {
                if v.is_null() {
                    false
                } else {
                    self.value(super::builtin::object_meta(), v, path, depth + 1);
                    true
                }
            }
            _ => match s.field(k) {
                Some(field_schema) => {
                    if v.is_null() && !field_schema.nullable && field_schema.default.is_none() {
                        false
                    } else {
                        self.value(field_schema, v, path, depth + 1);
                        true
                    }
                }
                None if s.preserve_unknown_fields => true,
                None => {
                    self.removed.push(path.clone());
                    false
                }
            },
        };
        path.truncate(at);
        keep
    }
}

#[cfg(test)]
mod tests;
