//! JSON patch (RFC 6902), `application/json-patch+json`.
//!
//! Why it exists: kube-rs's finalizer helper, `kubectl patch --type json`, and the managedFields
//! migrations of kubectl and Helm send JSON patches. The operations are applied in order to a
//! copy, so a failing operation leaves the target untouched (all or nothing). One Kubernetes
//! quirk is kept on purpose: a `test` whose value is `null` passes when the path does not exist
//! (kube-rs tests `/metadata/finalizers` against `null` before adding the first finalizer).
//! Messages follow the wording of the json-patch library kube-apiserver uses.

use serde_json::Value;

use super::PatchError;

/// Applies the JSON patch `patch` (a list of operations) to `target`. On error `target` is
/// unchanged.
pub fn apply(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops = patch.as_array().ok_or_else(|| {
        let kind = match patch {
            Value::Object(_) => "object",
            Value::String(_) => "string",
            Value::Number(_) => "number",
            Value::Bool(_) => "bool",
            _ => "null",
        };
        PatchError::malformed(format!(
            "json: cannot unmarshal {kind} into Go value of type jsonpatch.Patch"
        ))
    })?;
    let mut doc = target.clone();
    for (index, op) in ops.iter().enumerate() {
        apply_op(&mut doc, index, op)?;
    }
    *target = doc;
    Ok(())
}

fn apply_op(doc: &mut Value, index: usize, op: &Value) -> Result<(), PatchError> {
    let obj = op.as_object().ok_or_else(|| {
        PatchError::malformed(format!(
            "operation {index} of the JSON patch is not an object"
        ))
    })?;
    let kind = match obj.get("op") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(PatchError::malformed(format!("Unexpected kind: {other}")));
        }
        None => {
            return Err(PatchError::malformed(format!(
                "Unexpected kind: operation {index} has no \"op\""
            )));
        }
    };
    let raw_path = string_field(obj.get("path"), kind, "path", index)?;
    let path = parse_pointer(raw_path).map_err(|e| e.at(Some(index), raw_path))?;
    let fail = |e: PatchError| e.at(Some(index), raw_path);
    match kind {
        "add" => {
            let value = value_field(obj.get("value"), kind, index)?;
            add(doc, &path, value.clone(), raw_path, "add").map_err(fail)
        }
        "remove" => remove(doc, &path, raw_path).map(drop).map_err(fail),
        "replace" => {
            let value = value_field(obj.get("value"), kind, index)?;
            replace(doc, &path, value.clone(), raw_path).map_err(fail)
        }
        "move" => {
            let raw_from = string_field(obj.get("from"), kind, "from", index)?;
            let from = parse_pointer(raw_from).map_err(fail)?;
            if from == path {
                return Ok(());
            }
            if path.len() > from.len() && path[..from.len()] == from[..] {
                return Err(fail(PatchError::not_applicable(format!(
                    "move operation does not apply: from path {raw_from} is a prefix of \
                     destination path {raw_path}"
                ))));
            }
            if get(doc, &from).is_none() {
                return Err(fail(PatchError::not_applicable(format!(
                    "move operation does not apply: doc is missing from path: {raw_from}"
                ))));
            }
            let value = remove(doc, &from, raw_from).map_err(fail)?;
            add(doc, &path, value, raw_path, "move").map_err(fail)
        }
        "copy" => {
            let raw_from = string_field(obj.get("from"), kind, "from", index)?;
            let from = parse_pointer(raw_from).map_err(fail)?;
            let value = get(doc, &from).cloned().ok_or_else(|| {
                fail(PatchError::not_applicable(format!(
                    "copy operation does not apply: doc is missing from path: {raw_from}"
                )))
            })?;
            add(doc, &path, value, raw_path, "copy").map_err(fail)
        }
        "test" => {
            let value = value_field(obj.get("value"), kind, index)?;
            match get(doc, &path) {
                // kube-apiserver's quirk: testing for null succeeds on a missing path.
                None if value.is_null() => Ok(()),
                None => Err(fail(PatchError::not_applicable(format!(
                    "test operation does not apply: doc is missing path: \"{raw_path}\""
                )))),
                Some(current) if json_equal(current, value, 0) => Ok(()),
                Some(_) => Err(fail(PatchError::not_applicable(format!(
                    "testing value {raw_path} failed: test failed"
                )))),
            }
        }
        other => {
            Err(PatchError::malformed(format!("Unexpected kind: {other}"))
                .at(Some(index), raw_path))
        }
    }
}

fn string_field<'a>(
    v: Option<&'a Value>,
    kind: &str,
    field: &str,
    index: usize,
) -> Result<&'a str, PatchError> {
    match v {
        Some(Value::String(s)) => Ok(s),
        _ => Err(PatchError::malformed(format!(
            "{kind} operation {index} is missing the string field \"{field}\""
        ))
        .at(Some(index), "")),
    }
}

fn value_field<'a>(
    v: Option<&'a Value>,
    kind: &str,
    index: usize,
) -> Result<&'a Value, PatchError> {
    v.ok_or_else(|| {
        PatchError::malformed(format!(
            "{kind} operation {index} is missing the field \"value\""
        ))
        .at(Some(index), "")
    })
}

/// Splits a JSON pointer into unescaped reference tokens (`~1` is `/`, `~0` is `~`).
fn parse_pointer(pointer: &str) -> Result<Vec<String>, PatchError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(PatchError::malformed(format!(
            "invalid JSON pointer {pointer:?}: a pointer must be empty or start with \"/\""
        )));
    };
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => out.push('~'),
                    Some('1') => out.push('/'),
                    _ => {
                        return Err(PatchError::malformed(format!(
                            "invalid JSON pointer {pointer:?}: \"~\" must be followed by 0 or 1"
                        )));
                    }
                }
            }
            Ok(out)
        })
        .collect()
}

/// An array index token: `0` or a number without leading zeros.
fn parse_index(token: &str) -> Option<usize> {
    if token.is_empty()
        || !token.bytes().all(|b| b.is_ascii_digit())
        || (token.len() > 1 && token.starts_with('0'))
    {
        return None;
    }
    token.parse().ok()
}

fn invalid_index(token: &str) -> PatchError {
    PatchError::not_applicable(format!(
        "Unable to access invalid index: {token}: invalid index referenced"
    ))
}

fn get<'a>(doc: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut node = doc;
    for token in path {
        node = match node {
            Value::Object(m) => m.get(token)?,
            Value::Array(a) => a.get(parse_index(token)?)?,
            _ => return None,
        };
    }
    Some(node)
}

fn get_mut<'a>(doc: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut node = doc;
    for token in path {
        node = match node {
            Value::Object(m) => m.get_mut(token)?,
            Value::Array(a) => a.get_mut(parse_index(token)?)?,
            _ => return None,
        };
    }
    Some(node)
}

fn add(
    doc: &mut Value,
    path: &[String],
    value: Value,
    raw: &str,
    kind: &str,
) -> Result<(), PatchError> {
    let Some((last, parent_path)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    let missing = || {
        PatchError::not_applicable(format!(
            "{kind} operation does not apply: doc is missing path: \"{raw}\""
        ))
    };
    match get_mut(doc, parent_path).ok_or_else(missing)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let at = if last == "-" {
                a.len()
            } else {
                parse_index(last).ok_or_else(|| invalid_index(last))?
            };
            if at > a.len() {
                return Err(invalid_index(last));
            }
            a.insert(at, value);
            Ok(())
        }
        _ => Err(missing()),
    }
}

fn remove(doc: &mut Value, path: &[String], raw: &str) -> Result<Value, PatchError> {
    let Some((last, parent_path)) = path.split_last() else {
        return Err(PatchError::not_applicable(
            "remove operation does not apply: cannot remove the whole document",
        ));
    };
    let parent = get_mut(doc, parent_path).ok_or_else(|| {
        PatchError::not_applicable(format!(
            "remove operation does not apply: doc is missing path: \"{raw}\""
        ))
    })?;
    match parent {
        Value::Object(m) => m.shift_remove(last).ok_or_else(|| {
            PatchError::not_applicable(format!(
                "error in remove for path: '{raw}': Unable to remove nonexistent key: {last}: \
                 missing value"
            ))
        }),
        Value::Array(a) => {
            let at = parse_index(last).ok_or_else(|| invalid_index(last))?;
            if at >= a.len() {
                return Err(invalid_index(last));
            }
            Ok(a.remove(at))
        }
        _ => Err(PatchError::not_applicable(format!(
            "remove operation does not apply: doc is missing path: \"{raw}\""
        ))),
    }
}

fn replace(doc: &mut Value, path: &[String], value: Value, raw: &str) -> Result<(), PatchError> {
    let Some((last, parent_path)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    let parent = get_mut(doc, parent_path).ok_or_else(|| {
        PatchError::not_applicable(format!(
            "replace operation does not apply: doc is missing path: {raw}"
        ))
    })?;
    let slot = match parent {
        Value::Object(m) => m.get_mut(last),
        Value::Array(a) => {
            let at = parse_index(last).ok_or_else(|| invalid_index(last))?;
            a.get_mut(at)
        }
        _ => None,
    };
    let slot = slot.ok_or_else(|| {
        PatchError::not_applicable(format!(
            "replace operation does not apply: doc is missing key: {raw}: missing value"
        ))
    })?;
    *slot = value;
    Ok(())
}

/// JSON equality as kube-apiserver's decoder sees it: numbers compare by value (`1` equals
/// `1.0`), object key order does not matter. Depth is bounded by the caller's parser; past
/// [`crate::schema::MAX_DEPTH`] levels the structural comparison of serde_json is used.
fn json_equal(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > crate::schema::MAX_DEPTH {
        return a == b;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q, depth + 1))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w, depth + 1)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::PatchErrorKind;
    use serde_json::json;

    fn patched(doc: Value, patch: Value) -> Result<Value, PatchError> {
        let mut d = doc;
        apply(&mut d, &patch).map(|()| d)
    }

    #[test]
    fn json_patch_applies_every_operation() {
        let doc = json!({"a": {"b": [1, 2, 3]}, "c": "x"});
        let out = patched(
            doc,
            json!([
                {"op": "add", "path": "/a/b/1", "value": 9},
                {"op": "add", "path": "/a/b/-", "value": 4},
                {"op": "remove", "path": "/a/b/0"},
                {"op": "replace", "path": "/c", "value": "y"},
                {"op": "copy", "from": "/c", "path": "/d"},
                {"op": "move", "from": "/d", "path": "/a/e"},
                {"op": "test", "path": "/a/e", "value": "y"},
                {"op": "add", "path": "/a/new", "value": {"k": null}}
            ]),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"a": {"b": [9, 2, 3, 4], "e": "y", "new": {"k": null}}, "c": "y"})
        );
    }

    #[test]
    fn json_patch_unescapes_pointer_tokens() {
        let doc = json!({"metadata": {"annotations": {"a/b": "1", "m~n": "2"}}});
        let out = patched(
            doc,
            json!([
                {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "3"},
                {"op": "remove", "path": "/metadata/annotations/m~0n"},
                {"op": "add", "path": "/metadata/annotations/x~01", "value": "4"}
            ]),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"annotations": {"a/b": "3", "x~1": "4"}}})
        );
    }

    #[test]
    fn json_patch_test_null_passes_on_missing_path() {
        // What kube-rs's finalizer helper sends for an object without finalizers.
        let doc = json!({"metadata": {"name": "a"}});
        let out = patched(
            doc,
            json!([
                {"op": "test", "path": "/metadata/finalizers", "value": null},
                {"op": "add", "path": "/metadata/finalizers", "value": []},
                {"op": "add", "path": "/metadata/finalizers/-", "value": "strata.io/cleanup"}
            ]),
        )
        .unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["strata.io/cleanup"]));
    }

    #[test]
    fn json_patch_test_null_fails_when_a_value_is_present() {
        let doc = json!({"metadata": {"finalizers": ["x"]}});
        let err = patched(
            doc,
            json!([{"op": "test", "path": "/metadata/finalizers", "value": null}]),
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "testing value /metadata/finalizers failed: test failed"
        );
        assert_eq!(err.operation, Some(0));
        assert_eq!(err.status_code(), 422);
    }

    #[test]
    fn json_patch_test_of_missing_path_names_it() {
        let err = patched(
            json!({"metadata": {}}),
            json!([
                {"op": "add", "path": "/x", "value": 1},
                {"op": "test", "path": "/metadata/finalizers", "value": ["a"]}
            ]),
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "test operation does not apply: doc is missing path: \"/metadata/finalizers\""
        );
        assert_eq!(err.operation, Some(1));
        assert_eq!(err.path.as_deref(), Some("/metadata/finalizers"));
        assert_eq!(err.kind, PatchErrorKind::NotApplicable);
    }

    #[test]
    fn json_patch_test_compares_numbers_by_value_and_ignores_key_order() {
        let doc = json!({"a": {"x": 1, "y": [1.0]}});
        patched(
            doc,
            json!([{"op": "test", "path": "/a", "value": {"y": [1], "x": 1.0}}]),
        )
        .unwrap();
    }

    #[test]
    fn json_patch_rolls_back_on_failure() {
        let doc = json!({"spec": {"replicas": 1}, "list": [1]});
        let mut target = doc.clone();
        let err = apply(
            &mut target,
            &json!([
                {"op": "replace", "path": "/spec/replicas", "value": 5},
                {"op": "add", "path": "/list/-", "value": 2},
                {"op": "remove", "path": "/spec/missing"}
            ]),
        )
        .unwrap_err();
        assert_eq!(target, doc, "the target must be untouched");
        assert_eq!(err.operation, Some(2));
        assert_eq!(
            err.message,
            "error in remove for path: '/spec/missing': Unable to remove nonexistent key: \
             missing: missing value"
        );
    }

    #[test]
    fn json_patch_checks_array_bounds() {
        let doc = json!({"a": [1, 2]});
        assert!(
            patched(
                doc.clone(),
                json!([{"op": "add", "path": "/a/2", "value": 3}])
            )
            .is_ok()
        );
        let err = patched(
            doc.clone(),
            json!([{"op": "add", "path": "/a/3", "value": 3}]),
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "Unable to access invalid index: 3: invalid index referenced"
        );
        assert!(patched(doc.clone(), json!([{"op": "remove", "path": "/a/2"}])).is_err());
        assert!(
            patched(
                doc.clone(),
                json!([{"op": "replace", "path": "/a/-", "value": 1}])
            )
            .is_err()
        );
        assert!(patched(doc.clone(), json!([{"op": "remove", "path": "/a/01"}])).is_err());
        assert!(patched(doc, json!([{"op": "test", "path": "/a/5", "value": 1}])).is_err());
    }

    #[test]
    fn json_patch_add_needs_an_existing_parent() {
        let err = patched(
            json!({}),
            json!([{"op": "add", "path": "/a/b", "value": 1}]),
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "add operation does not apply: doc is missing path: \"/a/b\""
        );
    }

    #[test]
    fn json_patch_move_into_own_child_is_refused() {
        let err = patched(
            json!({"a": {"b": 1}}),
            json!([{"op": "move", "from": "/a", "path": "/a/c"}]),
        )
        .unwrap_err();
        assert!(err.message.contains("prefix"), "{}", err.message);
    }

    #[test]
    fn json_patch_whole_document_operations() {
        let out = patched(
            json!({"a": 1}),
            json!([{"op": "replace", "path": "", "value": {"b": 2}}]),
        )
        .unwrap();
        assert_eq!(out, json!({"b": 2}));
        let out = patched(
            json!({"a": 1}),
            json!([{"op": "add", "path": "", "value": [1]}]),
        )
        .unwrap();
        assert_eq!(out, json!([1]));
    }

    #[test]
    fn json_patch_refuses_malformed_documents() {
        for patch in [
            json!({"op": "add"}),
            json!([{"op": "frobnicate", "path": "/a"}]),
            json!([{"path": "/a"}]),
            json!([{"op": "add", "path": "/a"}]),
            json!([{"op": "add", "path": "a", "value": 1}]),
            json!([{"op": "add", "path": "/a~2", "value": 1}]),
            json!([{"op": "move", "path": "/a"}]),
            json!(["add"]),
        ] {
            let err = patched(json!({}), patch.clone()).unwrap_err();
            assert_eq!(err.status_code(), 400, "{patch}: {}", err.message);
        }
    }
}
