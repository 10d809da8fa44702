//! JSON merge patch (RFC 7386), `application/merge-patch+json`.
//!
//! Why it exists: it is the patch kubectl uses for custom resources (client-side apply, `kubectl
//! patch --type merge`, `kubectl scale` on `/scale`), and the one kube-rs and the Python client
//! send by default. Objects merge key by key, `null` deletes, anything else (lists included)
//! replaces. The walk is iterative, so no nesting depth in the patch can exhaust the stack.

use serde_json::{Map, Value};

/// Applies `patch` to `target` as RFC 7386 describes. Key order is kept: existing keys stay where
/// they are, new keys are appended in the patch's order.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    // Each work item is a patch object and the path (object keys from the root of `target`) of
    // the node it merges into; that node exists when the item is taken.
    let mut work: Vec<(Vec<&str>, &Map<String, Value>)> = Vec::new();
    match patch {
        Value::Object(p) => work.push((Vec::new(), p)),
        other => {
            *target = other.clone();
            return;
        }
    }
    while let Some((path, p)) = work.pop() {
        let Some(node) = node_at(target, &path) else {
            continue;
        };
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(obj) = node else {
            continue;
        };
        for (key, value) in p {
            match value {
                Value::Null => {
                    obj.shift_remove(key);
                }
                Value::Object(child) => {
                    if !obj.get(key).is_some_and(Value::is_object) {
                        // Replaced in place (keeping the key's position) or appended.
                        obj.insert(key.clone(), Value::Object(Map::new()));
                    }
                    let mut child_path = path.clone();
                    child_path.push(key.as_str());
                    work.push((child_path, child));
                }
                other => {
                    obj.insert(key.clone(), other.clone());
                }
            }
        }
    }
}

fn node_at<'a>(root: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    let mut node = root;
    for key in path {
        node = node.as_object_mut()?.get_mut(*key)?;
    }
    Some(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merged(target: Value, patch: Value) -> Value {
        let mut t = target;
        merge_patch(&mut t, &patch);
        t
    }

    #[test]
    fn merge_patch_follows_rfc7386_examples() {
        // The test cases of RFC 7386 appendix A.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, want) in cases {
            assert_eq!(
                merged(target.clone(), patch.clone()),
                want,
                "{target} + {patch}"
            );
        }
    }

    #[test]
    fn merge_patch_keeps_key_order_and_appends_new_keys() {
        let out = merged(
            json!({"z": 1, "a": {"y": 1, "b": 2}, "m": 3}),
            json!({"a": {"b": 5, "c": 6}, "n": 4}),
        );
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"z":1,"a":{"y":1,"b":5,"c":6},"m":3,"n":4}"#
        );
    }

    #[test]
    fn merge_patch_keeps_nulls_inside_lists() {
        let out = merged(json!({}), json!({"a": [null, {"b": null}]}));
        assert_eq!(out, json!({"a": [null, {"b": null}]}));
    }

    #[test]
    fn merge_patch_survives_very_deep_patches() {
        // Built by hand: the parser would refuse this depth, the merge must not care.
        let mut patch = json!({"leaf": 1});
        for _ in 0..2000 {
            let mut m = Map::new();
            m.insert("a".into(), patch);
            patch = Value::Object(m);
        }
        let mut target = json!({});
        merge_patch(&mut target, &patch);
        let mut node = &target;
        for _ in 0..2000 {
            node = &node["a"];
        }
        assert_eq!(node["leaf"], 1);
        // Dropping deep values recurses inside serde_json; unwind them iteratively here.
        for v in [target, patch] {
            unwind(v);
        }
    }

    fn unwind(mut v: Value) {
        while let Value::Object(mut m) = v {
            v = m.shift_remove("a").unwrap_or(Value::Null);
        }
    }
}
