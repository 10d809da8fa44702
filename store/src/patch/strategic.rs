//! Strategic merge patch, `application/strategic-merge-patch+json`, for the built-in kinds.
//!
//! Why it exists: kubectl uses it for built-in kinds (client-side `kubectl apply`, `kubectl
//! patch`, `kubectl label`/`annotate`, `kubectl edit`), so Namespaces, Secrets, ConfigMaps,
//! ServiceAccounts, Leases, Events and the RBAC kinds must accept it and produce what
//! kube-apiserver produces. It is a JSON merge patch whose lists follow the schema: a list with
//! `x-kubernetes-list-type: map` merges items by key, a `set` merges as a union, anything else is
//! replaced. Directives steer the merge and are never stored:
//!
//! - `$patch: replace` (replace this map or list), `$patch: delete` (empty this map, or delete
//!   this list item), `$patch: merge` (the default);
//! - `$retainKeys: [...]`: keep only these keys of the original map;
//! - `$deleteFromPrimitiveList/<field>: [...]`: remove these values from a set;
//! - `$setElementOrder/<field>: [...]`: the order the merged list must have.
//!
//! Semantics follow apimachinery's `strategicpatch` package, with two deliberate differences: a
//! patch value for a key the original lacks is merged into an empty value (so nested directives
//! and nulls never reach storage), and deleting from a list that does not exist is a no-op.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::PatchError;
use crate::apply::fieldset::canonical_json;
use crate::schema::{ListType, MAX_DEPTH, Schema};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

static ANY: LazyLock<Schema> = LazyLock::new(Schema::any);

/// Applies the strategic merge patch `patch` to `target` (an object of a kind whose schema is
/// `schema`). On error `target` is unchanged.
pub fn apply(target: &mut Value, patch: &Value, schema: &Schema) -> Result<(), PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::malformed(
            "a strategic merge patch must be a JSON object",
        ));
    };
    let original = match target {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let mut path = Vec::new();
    let merged = merge_map(original, patch, schema, true, &mut path, 0)?;
    *target = Value::Object(merged);
    Ok(())
}

fn is_directive(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
        || key.starts_with(SET_ELEMENT_ORDER)
}

/// The schema of field `key`; the top-level `metadata` is always ObjectMeta.
fn child_schema<'a>(schema: &'a Schema, key: &str, root: bool) -> &'a Schema {
    if root && key == "metadata" {
        return crate::schema::builtin::object_meta();
    }
    schema.field(key).unwrap_or(&ANY)
}

fn dotted(path: &[String]) -> String {
    path.join(".")
}

fn bad(path: &[String], message: impl Into<String>) -> PatchError {
    let message = message.into();
    let p = dotted(path);
    if p.is_empty() {
        PatchError::malformed(message)
    } else {
        PatchError::malformed(format!("{p}: {message}")).at(None, p)
    }
}

fn merge_map(
    original: Map<String, Value>,
    patch: &Map<String, Value>,
    schema: &Schema,
    root: bool,
    path: &mut Vec<String>,
    depth: usize,
) -> Result<Map<String, Value>, PatchError> {
    if depth > MAX_DEPTH {
        return Err(bad(
            path,
            format!("the patch is nested more than {MAX_DEPTH} levels deep"),
        ));
    }
    match patch.get(DIRECTIVE) {
        None => merge_fields(original, patch, schema, root, path, depth),
        Some(Value::String(d)) if d == "merge" => {
            merge_fields(original, patch, schema, root, path, depth)
        }
        Some(Value::String(d)) if d == "replace" => {
            merge_fields(Map::new(), patch, schema, root, path, depth)
        }
        Some(Value::String(d)) if d == "delete" => Ok(Map::new()),
        Some(other) => Err(bad(
            path,
            format!("unknown patch type: {} in map", plain(other)),
        )),
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Merges the fields of `patch` (its `$patch` directive already handled) into `original`.
fn merge_fields(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    schema: &Schema,
    root: bool,
    path: &mut Vec<String>,
    depth: usize,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let keys: Vec<&str> = retain
            .as_array()
            .and_then(|a| a.iter().map(Value::as_str).collect::<Option<Vec<&str>>>())
            .ok_or_else(|| bad(path, "invalid patch format of retainKeys"))?;
        for (k, v) in patch {
            if !v.is_null() && !is_directive(k) && !keys.contains(&k.as_str()) {
                return Err(bad(
                    path,
                    format!("invalid patch format of retainKeys: {k:?} is not in $retainKeys"),
                ));
            }
        }
        original.retain(|k, _| keys.contains(&k.as_str()));
    }

    // $setElementOrder needs the lists as they were before this patch.
    let mut orders: Vec<(&str, &Vec<Value>, Vec<Value>)> = Vec::new();
    for (k, v) in patch {
        let Some(field) = k.strip_prefix(SET_ELEMENT_ORDER) else {
            continue;
        };
        let order = v
            .as_array()
            .filter(|_| !field.is_empty())
            .ok_or_else(|| bad(path, "invalid patch format of setElementOrder list"))?;
        let server = match original.get(field) {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        orders.push((field, order, server));
    }

    for (k, v) in patch {
        let Some(field) = k.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) else {
            continue;
        };
        let remove = v
            .as_array()
            .filter(|_| !field.is_empty())
            .ok_or_else(|| bad(path, "invalid patch format of primitive list"))?;
        if let Some(Value::Array(list)) = original.get_mut(field) {
            list.retain(|item| !remove.contains(item));
        }
    }

    for (k, v) in patch {
        if is_directive(k) {
            continue;
        }
        let child = child_schema(schema, k, root);
        path.push(k.clone());
        match v {
            Value::Null => {
                original.shift_remove(k);
            }
            Value::Object(pv) => {
                let base = match original.get_mut(k) {
                    Some(Value::Object(o)) => std::mem::take(o),
                    _ => Map::new(),
                };
                let merged = merge_map(base, pv, child, false, path, depth + 1)?;
                original.insert(k.clone(), Value::Object(merged));
            }
            Value::Array(pv) => {
                let base = match original.get_mut(k) {
                    Some(Value::Array(a)) => std::mem::take(a),
                    _ => Vec::new(),
                };
                let merged = merge_list(base, pv, child, path, depth + 1)?;
                original.insert(k.clone(), Value::Array(merged));
            }
            scalar => {
                original.insert(k.clone(), scalar.clone());
            }
        }
        path.pop();
    }

    for (field, order, server) in orders {
        let child = child_schema(schema, field, root);
        let Some(Value::Array(list)) = original.get_mut(field) else {
            continue;
        };
        let id = match item_identity(child) {
            Some(id) => id,
            None => continue,
        };
        let order_ids: Vec<Option<String>> = order.iter().map(|v| id.of(v)).collect();
        let server_ids: Vec<Option<String>> = server.iter().map(|v| id.of(v)).collect();
        let merged = std::mem::take(list);
        *list = normalize_order(merged, &order_ids, &server_ids, &id);
    }
    Ok(original)
}

/// How the items of a mergeable list are identified.
enum Identity<'a> {
    /// A set: by value.
    Value,
    /// A map list: by its key fields.
    Keys(&'a [String]),
}

impl Identity<'_> {
    fn of(&self, item: &Value) -> Option<String> {
        match self {
            Identity::Value => Some(canonical_json(item)),
            Identity::Keys(keys) => {
                let obj = item.as_object()?;
                let values: Vec<Value> = keys
                    .iter()
                    .map(|k| obj.get(k).cloned().unwrap_or(Value::Null))
                    .collect();
                Some(canonical_json(&Value::Array(values)))
            }
        }
    }
}

fn item_identity(schema: &Schema) -> Option<Identity<'_>> {
    match &schema.list_type {
        ListType::Atomic => None,
        ListType::Set => Some(Identity::Value),
        ListType::Map(keys) => Some(Identity::Keys(keys)),
    }
}

fn merge_list(
    original: Vec<Value>,
    patch: &[Value],
    schema: &Schema,
    path: &mut Vec<String>,
    depth: usize,
) -> Result<Vec<Value>, PatchError> {
    if depth > MAX_DEPTH {
        return Err(bad(
            path,
            format!("the patch is nested more than {MAX_DEPTH} levels deep"),
        ));
    }
    match &schema.list_type {
        ListType::Atomic => Ok(patch.to_vec()),
        ListType::Set => {
            let id = Identity::Value;
            let server_ids: Vec<Option<String>> = original.iter().map(|v| id.of(v)).collect();
            let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
            for item in original.into_iter().chain(patch.iter().cloned()) {
                if !merged.contains(&item) {
                    merged.push(item);
                }
            }
            let patch_ids: Vec<Option<String>> = patch.iter().map(|v| id.of(v)).collect();
            Ok(normalize_order(merged, &patch_ids, &server_ids, &id))
        }
        ListType::Map(keys) => {
            let id = Identity::Keys(keys);
            let item_schema = schema.item().unwrap_or(&ANY);
            let mut original = original;
            let mut regular: Vec<&Map<String, Value>> = Vec::new();
            let mut replace = false;
            for item in patch {
                let Value::Object(pm) = item else {
                    return Err(bad(
                        path,
                        format!(
                            "list items must be objects with the merge key {:?}",
                            keys.first().map_or("", String::as_str)
                        ),
                    ));
                };
                match pm.get(DIRECTIVE) {
                    None => regular.push(pm),
                    Some(Value::String(d)) if d == "delete" => {
                        require_key(pm, keys, path)?;
                        let target = id.of(item);
                        original.retain(|o| id.of(o) != target);
                    }
                    Some(Value::String(d)) if d == "replace" => replace = true,
                    Some(Value::String(d)) if d == "merge" => {
                        return Err(bad(
                            path,
                            "merging lists cannot yet be specified in the patch",
                        ));
                    }
                    Some(other) => {
                        return Err(bad(
                            path,
                            format!("unknown patch type: {} in map", plain(other)),
                        ));
                    }
                }
            }
            let item_schema_ref = item_schema;
            if replace {
                return regular
                    .into_iter()
                    .map(|pm| {
                        merge_map(Map::new(), pm, item_schema_ref, false, path, depth + 1)
                            .map(Value::Object)
                    })
                    .collect();
            }
            let server_ids: Vec<Option<String>> = original.iter().map(|v| id.of(v)).collect();
            let mut patch_ids = Vec::with_capacity(regular.len());
            for pm in regular {
                require_key(pm, keys, path)?;
                let wanted = id.of(&Value::Object(pm.clone()));
                patch_ids.push(wanted.clone());
                let found = original.iter().position(|o| id.of(o) == wanted);
                match found {
                    Some(at) => {
                        let base = match &mut original[at] {
                            Value::Object(o) => std::mem::take(o),
                            _ => Map::new(),
                        };
                        let merged = merge_map(base, pm, item_schema_ref, false, path, depth + 1)?;
                        original[at] = Value::Object(merged);
                    }
                    None => {
                        let merged =
                            merge_map(Map::new(), pm, item_schema_ref, false, path, depth + 1)?;
                        original.push(Value::Object(merged));
                    }
                }
            }
            Ok(normalize_order(original, &patch_ids, &server_ids, &id))
        }
    }
}

fn require_key(
    item: &Map<String, Value>,
    keys: &[String],
    path: &[String],
) -> Result<(), PatchError> {
    match keys.first() {
        Some(k) if !item.contains_key(k) => Err(bad(
            path,
            format!(
                "map: {} does not contain declared merge key: {k}",
                Value::Object(item.clone())
            ),
        )),
        _ => Ok(()),
    }
}

/// Orders a merged list as apimachinery does: the items named in `order` come in that order, the
/// others keep the order they had on the server (`server`), and the two sequences are
/// interleaved by their positions on the server.
fn normalize_order(
    merged: Vec<Value>,
    order: &[Option<String>],
    server: &[Option<String>],
    id: &Identity<'_>,
) -> Vec<Value> {
    let position = |list: &[Option<String>], item_id: &Option<String>| {
        item_id
            .as_ref()
            .and_then(|i| list.iter().position(|o| o.as_ref() == Some(i)))
    };
    let mut ordered: Vec<(Option<String>, Value)> = Vec::new();
    let mut server_only: Vec<(Option<String>, Value)> = Vec::new();
    for item in merged {
        let item_id = id.of(&item);
        if position(order, &item_id).is_some() {
            ordered.push((item_id, item));
        } else {
            server_only.push((item_id, item));
        }
    }
    ordered.sort_by_key(|(i, _)| position(order, i).unwrap_or(usize::MAX));
    server_only.sort_by_key(|(i, _)| position(server, i).unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(ordered.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = ordered.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((l, _)), Some((r, _))) => {
                matches!((position(server, l), position(server, r)), (Some(li), Some(ri)) if li < ri)
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        if let Some((_, v)) = next {
            out.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::builtin::builtin_schema;
    use serde_json::json;

    fn schema_of(kind: &str) -> Schema {
        Schema::from_json(&builtin_schema("", kind).unwrap()).unwrap()
    }

    fn patched(kind: &str, target: Value, patch: Value) -> Value {
        let mut t = target;
        apply(&mut t, &patch, &schema_of(kind)).unwrap();
        assert_no_directives(&t);
        t
    }

    fn assert_no_directives(v: &Value) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    assert!(!is_directive(k), "directive {k} was stored");
                    assert_no_directives(v);
                }
            }
            Value::Array(a) => a.iter().for_each(assert_no_directives),
            _ => {}
        }
    }

    #[test]
    fn strategic_configmap_patch_from_kubectl_apply() {
        // kubectl apply's three-way patch after editing the file: one key changed, one removed,
        // one added, and the last-applied annotation rewritten.
        let live = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": "default",
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{old}",
                                         "other": "kept"}},
            "data": {"a": "1", "b": "2", "keep": "x"}
        });
        let patch = json!({
            "data": {"a": "10", "b": null, "c": "3"},
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{new}"}}
        });
        let out = patched("ConfigMap", live, patch);
        assert_eq!(out["data"], json!({"a": "10", "keep": "x", "c": "3"}));
        assert_eq!(
            out["metadata"]["annotations"],
            json!({"kubectl.kubernetes.io/last-applied-configuration": "{new}", "other": "kept"})
        );
    }

    #[test]
    fn strategic_namespace_finalizers_merge_as_a_set() {
        let live = json!({"apiVersion": "v1", "kind": "Namespace",
                          "metadata": {"name": "ns", "finalizers": ["a.io/x", "b.io/y"]}});
        // kubectl adds one finalizer: the list holds only the addition, the order list all.
        let out = patched(
            "Namespace",
            live.clone(),
            json!({"metadata": {"$setElementOrder/finalizers": ["a.io/x", "b.io/y", "c.io/z"],
                                "finalizers": ["c.io/z"]}}),
        );
        assert_eq!(
            out["metadata"]["finalizers"],
            json!(["a.io/x", "b.io/y", "c.io/z"])
        );
        // kubectl removes one: a parallel deletion list.
        let out = patched(
            "Namespace",
            live.clone(),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.io/x"],
                                "$setElementOrder/finalizers": ["b.io/y"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["b.io/y"]));
        // A plain patch adds without duplicating.
        let out = patched(
            "Namespace",
            live,
            json!({"metadata": {"finalizers": ["b.io/y", "c.io/z"]}}),
        );
        assert_eq!(
            out["metadata"]["finalizers"],
            json!(["a.io/x", "b.io/y", "c.io/z"])
        );
    }

    #[test]
    fn strategic_set_element_order_reorders() {
        let live = json!({"metadata": {"finalizers": ["a", "b", "c"]}});
        let out = patched(
            "Namespace",
            live,
            json!({"metadata": {"$setElementOrder/finalizers": ["c", "a", "b"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
    }

    #[test]
    fn strategic_patch_order_follows_apimachinery() {
        // apimachinery's "preserve the order from the patch in a merging list 2".
        let live =
            json!({"secrets": [{"name": "1"}, {"name": "2", "namespace": "b"}, {"name": "3"}]});
        let out = patched(
            "ServiceAccount",
            live,
            json!({"secrets": [{"name": "3", "namespace": "c"}, {"name": "1", "namespace": "a"}]}),
        );
        assert_eq!(
            out["secrets"],
            json!([{"name": "2", "namespace": "b"}, {"name": "3", "namespace": "c"},
                   {"name": "1", "namespace": "a"}])
        );
        let live = json!({"metadata": {"finalizers": ["1", "2", "3"]}});
        let out = patched(
            "Namespace",
            live,
            json!({"metadata": {"finalizers": ["3", "1"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["2", "3", "1"]));
    }

    #[test]
    fn strategic_namespace_spec_finalizers_are_replaced() {
        // spec.finalizers has no merge strategy: the patch list replaces it (how `kubectl
        // patch ns x -p '{"spec":{"finalizers":[]}}'` unblocks a namespace).
        let live = json!({"metadata": {"name": "ns"}, "spec": {"finalizers": ["kubernetes"]}});
        let out = patched("Namespace", live, json!({"spec": {"finalizers": []}}));
        assert_eq!(out["spec"]["finalizers"], json!([]));
    }

    #[test]
    fn strategic_map_list_merges_by_key_and_deletes_items() {
        let live = json!({"metadata": {"name": "sa"},
                          "secrets": [{"name": "a", "namespace": "x"}, {"name": "b"}]});
        let out = patched(
            "ServiceAccount",
            live,
            json!({"secrets": [{"name": "a", "namespace": "y"},
                               {"name": "c"},
                               {"name": "b", "$patch": "delete"}]}),
        );
        assert_eq!(
            out["secrets"],
            json!([{"name": "a", "namespace": "y"}, {"name": "c"}])
        );
    }

    #[test]
    fn strategic_map_list_replace_directive_replaces_the_list() {
        let live = json!({"secrets": [{"name": "a"}, {"name": "b"}]});
        let out = patched(
            "ServiceAccount",
            live,
            json!({"secrets": [{"$patch": "replace"}, {"name": "z", "namespace": null}]}),
        );
        assert_eq!(out["secrets"], json!([{"name": "z"}]));
    }

    #[test]
    fn strategic_owner_references_merge_by_uid() {
        let live = json!({"metadata": {"ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "a", "uid": "1"}]}});
        let out = patched(
            "Secret",
            live,
            json!({"metadata": {"ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "b", "uid": "2"}]}}),
        );
        let uids: Vec<&str> = out["metadata"]["ownerReferences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["uid"].as_str().unwrap())
            .collect();
        // Without $setElementOrder apimachinery puts new patch items before server-only ones.
        assert_eq!(uids, ["2", "1"]);
    }

    #[test]
    fn strategic_map_directives() {
        let live =
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"x": "1", "y": "2"}});
        let out = patched(
            "ConfigMap",
            live.clone(),
            json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
        );
        assert_eq!(out["metadata"]["labels"], json!({"c": "3"}));
        let out = patched(
            "ConfigMap",
            live.clone(),
            json!({"data": {"$retainKeys": ["y", "z"], "z": "3"}}),
        );
        assert_eq!(out["data"], json!({"y": "2", "z": "3"}));
        let out = patched(
            "ConfigMap",
            live.clone(),
            json!({"data": {"$patch": "delete"}}),
        );
        assert_eq!(out["data"], json!({}));
        let out = patched(
            "ConfigMap",
            live,
            json!({"data": {"$patch": "merge", "x": null}}),
        );
        assert_eq!(out["data"], json!({"y": "2"}));
    }

    #[test]
    fn strategic_directives_in_new_values_are_not_stored() {
        let out = patched(
            "ConfigMap",
            json!({"metadata": {"name": "a"}}),
            json!({"metadata": {"labels": {"$patch": "replace", "x": "1", "gone": null},
                                "$setElementOrder/finalizers": ["f"], "finalizers": ["f"],
                                "$deleteFromPrimitiveList/finalizers": ["g"]},
                   "data": {"$retainKeys": ["k"], "k": "v"}}),
        );
        assert_eq!(
            out,
            json!({"metadata": {"name": "a", "labels": {"x": "1"}, "finalizers": ["f"]},
                   "data": {"k": "v"}})
        );
    }

    #[test]
    fn strategic_rejects_malformed_directives_and_leaves_target() {
        let live = json!({"data": {"a": "1"}, "metadata": {"finalizers": ["a"]}});
        for patch in [
            json!({"data": {"$patch": "explode"}}),
            json!({"data": {"$retainKeys": "a"}}),
            json!({"data": {"$retainKeys": ["a"], "b": "2"}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
            json!({"metadata": {"$setElementOrder/finalizers": {"a": 1}}}),
            json!(["not", "an", "object"]),
        ] {
            let mut t = live.clone();
            let err = apply(&mut t, &patch, &schema_of("ConfigMap")).unwrap_err();
            assert_eq!(err.status_code(), 400, "{patch}");
            assert_eq!(t, live);
        }
        let mut t = json!({"secrets": [{"name": "a"}]});
        let err = apply(
            &mut t,
            &json!({"secrets": [{"namespace": "x"}]}),
            &schema_of("ServiceAccount"),
        )
        .unwrap_err();
        assert!(
            err.message
                .contains("does not contain declared merge key: name"),
            "{}",
            err.message
        );
    }

    #[test]
    fn strategic_refuses_too_deep_patches() {
        let mut patch = json!("x");
        for _ in 0..(MAX_DEPTH + 5) {
            patch = json!({ "a": patch });
        }
        let mut t = json!({});
        let err = apply(&mut t, &patch, &Schema::any()).unwrap_err();
        assert!(err.message.contains("nested more than"), "{}", err.message);
        assert_eq!(t, json!({}));
    }
}
