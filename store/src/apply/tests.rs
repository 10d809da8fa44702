//! Behaviour tests of server-side apply and update tracking, one per rule they defend.

use serde_json::{Value, json};

use super::*;

const V: &str = "strata.io/v1alpha1";
const T1: &str = "2025-01-01T00:00:00Z";
const T2: &str = "2025-01-01T00:01:00Z";
const T3: &str = "2025-01-01T00:02:00Z";

fn schema() -> Schema {
    Schema::from_json(&json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "properties": {
                    "instances": {"type": "integer"},
                    "image": {"type": "string"},
                    "args": {"type": "array", "items": {"type": "string"}},
                    "tags": {"type": "array", "x-kubernetes-list-type": "set",
                             "items": {"type": "string"}},
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "properties": {
                            "name": {"type": "string"},
                            "port": {"type": "integer"}
                        }}
                    },
                    "endpoints": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["port", "protocol"],
                        "items": {"type": "object", "properties": {
                            "port": {"type": "integer"},
                            "protocol": {"type": "string", "default": "TCP"}
                        }}
                    },
                    "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                                 "additionalProperties": {"type": "string"}},
                    "env": {"type": "object", "additionalProperties": {"type": "string"}},
                    "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                }
            },
            "status": {"type": "object", "properties": {"ready": {"type": "integer"}}}
        }
    }))
    .unwrap()
}

fn app(spec: Value) -> Value {
    json!({"apiVersion": V, "kind": "App",
           "metadata": {"name": "a", "namespace": "default"},
           "spec": spec})
}

fn apply_as(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    let s = schema();
    apply(ApplyRequest {
        schema: &s,
        live,
        applied,
        manager,
        force,
        api_version: V,
        subresource: None,
        now,
    })
}

fn ok(live: Option<&Value>, applied: &Value, manager: &str) -> Value {
    apply_as(live, applied, manager, false, T1).unwrap()
}

fn update_as(old: Option<&Value>, new: &Value, manager: &str, subresource: Option<&str>) -> Value {
    try_update(old, new, manager, subresource).unwrap()
}

fn try_update(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    subresource: Option<&str>,
) -> Result<Value, ApplyError> {
    let s = schema();
    let mut new = new.clone();
    track_update(UpdateRequest {
        schema: &s,
        old,
        new: &mut new,
        manager,
        api_version: V,
        subresource,
        now: T2,
    })?;
    Ok(new)
}

fn entries(obj: &Value) -> Vec<Value> {
    obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn entry(obj: &Value, manager: &str, operation: &str) -> Option<Value> {
    entries(obj)
        .into_iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
}

fn fields(obj: &Value, manager: &str, operation: &str) -> Value {
    entry(obj, manager, operation)
        .map(|e| e["fieldsV1"].clone())
        .unwrap_or(Value::Null)
}

fn conflicts(err: ApplyError) -> Vec<Conflict> {
    match err {
        ApplyError::Conflicts(c) => c,
        other => panic!("expected conflicts, got {other}"),
    }
}

#[test]
fn apply_creates_the_object_with_an_apply_entry() {
    let out = ok(None, &app(json!({"instances": 2, "image": "x"})), "m");
    assert_eq!(out["apiVersion"], V);
    assert_eq!(out["metadata"]["name"], "a");
    assert_eq!(out["spec"], json!({"instances": 2, "image": "x"}));
    assert_eq!(
        out["metadata"]["managedFields"],
        json!([{
            "manager": "m", "operation": "Apply", "apiVersion": V, "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:image": {}, "f:instances": {}}}
        }])
    );
}

#[test]
fn managed_fields_json_shape_matches_kubernetes() {
    let applied = json!({
        "apiVersion": V, "kind": "App",
        "metadata": {"name": "a", "labels": {"app": "web"}, "finalizers": ["a.io/x"],
                     "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap",
                                          "name": "o", "uid": "u1"}]},
        "spec": {"ports": [{"name": "http", "port": 80}]}
    });
    let out = ok(None, &applied, "m");
    assert_eq!(
        serde_json::to_string(&out["metadata"]["managedFields"]).unwrap(),
        concat!(
            r#"[{"manager":"m","operation":"Apply","apiVersion":"strata.io/v1alpha1","#,
            r#""time":"2025-01-01T00:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"#,
            r#""f:metadata":{"f:finalizers":{"v:\"a.io/x\"":{}},"f:labels":{"f:app":{}},"#,
            r#""f:ownerReferences":{"k:{\"uid\":\"u1\"}":{}}},"#,
            r#""f:spec":{"f:ports":{"k:{\"name\":\"http\"}":{".":{},"f:name":{},"f:port":{}}}}}}]"#
        )
    );
    // An Update through a subresource carries `subresource` last.
    let mut status = out.clone();
    status["status"] = json!({"ready": 1});
    let out = update_as(Some(&out), &status, "controller", Some("status"));
    let e = entry(&out, "controller", "Update").unwrap();
    assert_eq!(
        serde_json::to_string(&e).unwrap(),
        concat!(
            r#"{"manager":"controller","operation":"Update","apiVersion":"strata.io/v1alpha1","#,
            r#""time":"2025-01-01T00:01:00Z","fieldsType":"FieldsV1","#,
            r#""fieldsV1":{"f:status":{".":{},"f:ready":{}}},"subresource":"status"}"#
        )
    );
    // Apply entries sort before Update entries.
    let managers: Vec<Value> = entries(&out)
        .iter()
        .map(|e| e["operation"].clone())
        .collect();
    assert_eq!(managers, [json!("Apply"), json!("Update")]);
}

#[test]
fn reapply_with_a_changed_value_by_the_same_manager() {
    let live = ok(None, &app(json!({"instances": 2})), "m");
    let out = apply_as(Some(&live), &app(json!({"instances": 3})), "m", false, T2).unwrap();
    assert_eq!(out["spec"]["instances"], 3);
    assert_eq!(entries(&out).len(), 1);
    assert_eq!(entry(&out, "m", "Apply").unwrap()["time"], T2);
    // Re-applying the same configuration changes nothing, not even the time.
    let again = apply_as(Some(&out), &app(json!({"instances": 3})), "m", false, T3).unwrap();
    assert_eq!(again, out);
}

#[test]
fn two_managers_applying_the_same_value_share_ownership() {
    let live = ok(None, &app(json!({"instances": 2, "image": "x"})), "m1");
    let out = ok(Some(&live), &app(json!({"instances": 2})), "m2");
    assert_eq!(
        fields(&out, "m1", "Apply"),
        json!({"f:spec": {"f:image": {}, "f:instances": {}}})
    );
    assert_eq!(
        fields(&out, "m2", "Apply"),
        json!({"f:spec": {"f:instances": {}}})
    );
    assert_eq!(out["spec"], json!({"instances": 2, "image": "x"}));
}

#[test]
fn conflicting_value_is_reported_with_the_path() {
    let live = ok(None, &app(json!({"instances": 2})), "m1");
    let err = apply_as(Some(&live), &app(json!({"instances": 3})), "m2", false, T2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"m1\": .spec.instances"
    );
    let c = conflicts(err);
    assert_eq!(
        c,
        vec![Conflict {
            manager: "m1".into(),
            operation: Operation::Apply,
            api_version: V.into(),
            subresource: None,
            path: ".spec.instances".into(),
        }]
    );
    assert_eq!(c[0].to_string(), "conflict with \"m1\"");
}

#[test]
fn force_moves_ownership() {
    let live = ok(None, &app(json!({"instances": 2, "image": "x"})), "m1");
    let out = apply_as(Some(&live), &app(json!({"instances": 3})), "m2", true, T2).unwrap();
    assert_eq!(out["spec"]["instances"], 3);
    assert_eq!(
        fields(&out, "m1", "Apply"),
        json!({"f:spec": {"f:image": {}}})
    );
    assert_eq!(
        fields(&out, "m2", "Apply"),
        json!({"f:spec": {"f:instances": {}}})
    );
    // A manager left with nothing loses its entry.
    let out = apply_as(Some(&out), &app(json!({"image": "y"})), "m2", true, T3).unwrap();
    assert!(entry(&out, "m1", "Apply").is_none());
    assert_eq!(out["spec"], json!({"image": "y"}), "m2 gave up instances");
}

#[test]
fn omitted_field_is_removed() {
    let live = ok(
        None,
        &app(json!({"instances": 2, "image": "x", "env": {"A": "1", "B": "2"}})),
        "m",
    );
    let out = ok(
        Some(&live),
        &app(json!({"instances": 2, "env": {"A": "1"}})),
        "m",
    );
    assert_eq!(out["spec"], json!({"instances": 2, "env": {"A": "1"}}));
    assert_eq!(
        fields(&out, "m", "Apply"),
        json!({"f:spec": {"f:env": {"f:A": {}}, "f:instances": {}}})
    );
    // Emptied maps go with their last key.
    let out = ok(Some(&out), &app(json!({"instances": 2})), "m");
    assert_eq!(out["spec"], json!({"instances": 2}));
}

#[test]
fn omitted_field_is_kept_when_another_manager_owns_it() {
    let live = ok(None, &app(json!({"instances": 2, "image": "x"})), "m1");
    let live = ok(Some(&live), &app(json!({"image": "x"})), "m2");
    let out = ok(Some(&live), &app(json!({"instances": 2})), "m1");
    assert_eq!(out["spec"]["image"], "x");
    assert_eq!(
        fields(&out, "m1", "Apply"),
        json!({"f:spec": {"f:instances": {}}})
    );
    assert_eq!(
        fields(&out, "m2", "Apply"),
        json!({"f:spec": {"f:image": {}}})
    );
    // Once nobody else owns it, omitting it removes it.
    let bare = json!({"apiVersion": V, "kind": "App", "metadata": {"name": "a"}});
    let out = ok(Some(&out), &bare, "m2");
    assert!(out["spec"].get("image").is_none());
    assert!(entry(&out, "m2", "Apply").is_none());
}

#[test]
fn map_list_merges_by_key_with_per_item_ownership() {
    let live = ok(
        None,
        &app(json!({"ports": [{"name": "a", "port": 1}]})),
        "m1",
    );
    let live = ok(
        Some(&live),
        &app(json!({"ports": [{"name": "b", "port": 2}]})),
        "m2",
    );
    assert_eq!(
        live["spec"]["ports"],
        json!([{"name": "a", "port": 1}, {"name": "b", "port": 2}])
    );
    assert_eq!(
        fields(&live, "m1", "Apply"),
        json!({"f:spec": {"f:ports": {"k:{\"name\":\"a\"}": {".": {}, "f:name": {}, "f:port": {}}}}})
    );
    // Changing another manager's item field conflicts on that field only.
    let err = apply_as(
        Some(&live),
        &app(json!({"ports": [{"name": "b", "port": 2}, {"name": "a", "port": 9}]})),
        "m2",
        false,
        T2,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"m1\": .spec.ports[name=\"a\"].port"
    );
    // Dropping an item removes only that item.
    let out = ok(Some(&live), &app(json!({"ports": []})), "m1");
    assert_eq!(out["spec"]["ports"], json!([{"name": "b", "port": 2}]));
    assert!(entry(&out, "m1", "Apply").is_none());
}

#[test]
fn map_list_keys_take_schema_defaults() {
    let out = ok(None, &app(json!({"endpoints": [{"port": 80}]})), "m");
    assert_eq!(
        fields(&out, "m", "Apply"),
        json!({"f:spec": {"f:endpoints": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}}}})
    );
}

#[test]
fn set_lists_merge_as_a_union() {
    let live = ok(None, &app(json!({"tags": ["x", "y"]})), "m1");
    let live = ok(Some(&live), &app(json!({"tags": ["z", "y"]})), "m2");
    let mut tags: Vec<String> = live["spec"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    tags.sort();
    assert_eq!(tags, ["x", "y", "z"]);
    assert_eq!(
        fields(&live, "m1", "Apply"),
        json!({"f:spec": {"f:tags": {"v:\"x\"": {}, "v:\"y\"": {}}}})
    );
    // m1 drops x (only m1 had it) and y (m2 still has it).
    let out = ok(Some(&live), &app(json!({"tags": []})), "m1");
    let mut tags: Vec<&str> = out["spec"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tags.sort();
    assert_eq!(tags, ["y", "z"]);
}

#[test]
fn atomic_list_is_replaced_wholesale() {
    let live = ok(None, &app(json!({"args": ["a", "b"]})), "m1");
    assert_eq!(
        fields(&live, "m1", "Apply"),
        json!({"f:spec": {"f:args": {}}})
    );
    let out = ok(Some(&live), &app(json!({"args": ["c"]})), "m1");
    assert_eq!(out["spec"]["args"], json!(["c"]));
    let err = apply_as(Some(&out), &app(json!({"args": ["d"]})), "m2", false, T2).unwrap_err();
    assert_eq!(conflicts(err)[0].path, ".spec.args");
    let shared = ok(Some(&out), &app(json!({"args": ["c"]})), "m2");
    assert_eq!(
        fields(&shared, "m2", "Apply"),
        json!({"f:spec": {"f:args": {}}})
    );
}

#[test]
fn atomic_map_is_replaced_wholesale() {
    let live = ok(None, &app(json!({"selector": {"a": "1"}})), "m");
    assert_eq!(
        fields(&live, "m", "Apply"),
        json!({"f:spec": {"f:selector": {}}})
    );
    let out = ok(Some(&live), &app(json!({"selector": {"b": "2"}})), "m");
    assert_eq!(out["spec"]["selector"], json!({"b": "2"}));
}

#[test]
fn preserved_fields_are_granular_maps_with_atomic_lists() {
    let live = ok(
        None,
        &app(json!({"config": {"a": {"b": 1}, "l": [1, 2]}})),
        "m",
    );
    assert_eq!(
        fields(&live, "m", "Apply"),
        json!({"f:spec": {"f:config": {"f:a": {".": {}, "f:b": {}}, "f:l": {}}}})
    );
    let out = ok(
        Some(&live),
        &app(json!({"config": {"a": {"c": 2}, "l": [3]}})),
        "m",
    );
    assert_eq!(out["spec"]["config"], json!({"a": {"c": 2}, "l": [3]}));
}

#[test]
fn update_then_apply_conflicts() {
    // Created with client-side apply (an Update), then applied server-side by another manager.
    let created = update_as(
        None,
        &app(json!({"instances": 2})),
        "kubectl-client-side-apply",
        None,
    );
    let err = apply_as(
        Some(&created),
        &app(json!({"instances": 3})),
        "helm",
        false,
        T3,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using \
         strata.io/v1alpha1: .spec.instances"
    );
    // The same value is no conflict.
    let out = apply_as(
        Some(&created),
        &app(json!({"instances": 2})),
        "helm",
        false,
        T3,
    )
    .unwrap();
    assert_eq!(
        fields(&out, "helm", "Apply"),
        json!({"f:spec": {"f:instances": {}}})
    );
}

#[test]
fn scale_then_reapply_conflicts_on_the_scaled_field() {
    let live = ok(None, &app(json!({"instances": 2})), "kubectl");
    let mut scaled = live.clone();
    scaled["spec"]["instances"] = json!(5);
    let scaled = update_as(Some(&live), &scaled, "kubectl", Some("scale"));
    assert!(
        entry(&scaled, "kubectl", "Apply").is_none(),
        "the applier lost .spec.instances"
    );
    let err = apply_as(
        Some(&scaled),
        &app(json!({"instances": 2})),
        "kubectl",
        false,
        T3,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" \
         using strata.io/v1alpha1: .spec.instances"
    );
}

#[test]
fn multiple_conflicts_are_grouped_by_manager() {
    let live = ok(None, &app(json!({"instances": 2, "image": "x"})), "m1");
    let live = update_as(
        Some(&live),
        &app(json!({"instances": 2, "image": "x", "tags": ["t"]})),
        "editor",
        None,
    );
    let err = apply_as(
        Some(&live),
        &app(json!({"instances": 3, "image": "y", "tags": ["t", "u"], "args": ["a"]})),
        "m2",
        false,
        T3,
    );
    // tags gains an item: no conflict (nobody owns v:"u"); instances and image conflict.
    let err = err.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"m1\":\n- .spec.image\n- .spec.instances"
    );
    let live = update_as(
        Some(&live),
        &app(json!({"instances": 2, "image": "x", "tags": ["t"], "args": ["z"]})),
        "editor",
        None,
    );
    let err = apply_as(
        Some(&live),
        &app(json!({"instances": 3, "args": ["a"]})),
        "m2",
        false,
        T3,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"editor\" using strata.io/v1alpha1:\n\
         - .spec.args\nconflicts with \"m1\":\n- .spec.instances"
    );
}

#[test]
fn update_tracking_owns_changed_fields_and_takes_them_from_others() {
    let live = ok(None, &app(json!({"instances": 2, "image": "x"})), "m1");
    let mut edited = live.clone();
    edited["spec"]["image"] = json!("y");
    edited["spec"]["env"] = json!({"A": "1"});
    let out = update_as(Some(&live), &edited, "kubectl-edit", None);
    assert_eq!(
        fields(&out, "m1", "Apply"),
        json!({"f:spec": {"f:instances": {}}})
    );
    assert_eq!(
        fields(&out, "kubectl-edit", "Update"),
        json!({"f:spec": {"f:env": {".": {}, "f:A": {}}, "f:image": {}}})
    );
    // A second edit by the same manager adds to its entry.
    let mut again = out.clone();
    again["spec"]["tags"] = json!(["t"]);
    let out = update_as(Some(&out), &again, "kubectl-edit", None);
    assert_eq!(
        fields(&out, "kubectl-edit", "Update"),
        json!({"f:spec": {"f:env": {".": {}, "f:A": {}}, "f:image": {}, "f:tags": {".": {}, "v:\"t\"": {}}}})
    );
    assert_eq!(entries(&out).len(), 2);
}

#[test]
fn update_tracking_on_create_owns_everything() {
    let mut obj = app(json!({"instances": 2, "image": "x"}));
    obj["metadata"]["labels"] = json!({"app": "web"});
    obj["metadata"]["uid"] = json!("u");
    let out = update_as(None, &obj, "kubectl-create", None);
    assert_eq!(
        fields(&out, "kubectl-create", "Update"),
        json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
               "f:spec": {".": {}, "f:image": {}, "f:instances": {}}})
    );
}

#[test]
fn update_tracking_removes_deleted_fields_from_every_set() {
    let live = ok(None, &app(json!({"instances": 2, "image": "x"})), "m1");
    let live = ok(Some(&live), &app(json!({"image": "x"})), "m2");
    let mut edited = live.clone();
    edited["spec"]
        .as_object_mut()
        .unwrap()
        .shift_remove("image");
    let out = update_as(Some(&live), &edited, "editor", None);
    assert_eq!(
        fields(&out, "m1", "Apply"),
        json!({"f:spec": {"f:instances": {}}})
    );
    assert!(entry(&out, "m2", "Apply").is_none());
    assert!(
        entry(&out, "editor", "Update").is_none(),
        "removing fields owns nothing"
    );
}

#[test]
fn update_without_changes_keeps_managed_fields() {
    let live = ok(None, &app(json!({"instances": 2})), "m1");
    let out = update_as(Some(&live), &live, "other", None);
    assert_eq!(out, live);
    // A write that omits managedFields keeps the stored ones.
    let mut bare = live.clone();
    managed::take(&mut bare);
    let out = update_as(Some(&live), &bare, "other", None);
    assert_eq!(out, live);
}

#[test]
fn client_written_managed_fields_are_kept() {
    // kubectl's client-side to server-side migration: a JSON patch rewriting managedFields.
    let created = update_as(
        None,
        &app(json!({"instances": 2})),
        "kubectl-client-side-apply",
        None,
    );
    let mut migrated = created.clone();
    migrated["metadata"]["managedFields"] = json!([{
        "manager": "kubectl", "operation": "Apply", "apiVersion": V, "time": T1,
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:instances": {}}}
    }]);
    let out = update_as(Some(&created), &migrated, "kubectl", None);
    assert_eq!(
        out["metadata"]["managedFields"],
        migrated["metadata"]["managedFields"]
    );
    // kubectl's next apply then owns the field without conflict.
    let out = apply_as(
        Some(&out),
        &app(json!({"instances": 3})),
        "kubectl",
        false,
        T3,
    )
    .unwrap();
    assert_eq!(out["spec"]["instances"], 3);
}

#[test]
fn invalid_client_managed_fields_are_refused() {
    let created = update_as(None, &app(json!({"instances": 2})), "m", None);
    let cases = [
        (
            json!([{"manager": "m", "operation": "Patch", "apiVersion": V, "fieldsType": "FieldsV1"}]),
            "metadata.managedFields[0].operation: Invalid value: \"Patch\": must be `Apply` or `Update`",
        ),
        (
            json!([{"operation": "Apply", "apiVersion": V, "fieldsType": "FieldsV1"}]),
            "metadata.managedFields[0].manager: Required value: must be set",
        ),
        (
            json!([{"manager": "m", "operation": "Apply", "apiVersion": V, "fieldsType": "FieldsV2"}]),
            "metadata.managedFields[0].fieldsType: Invalid value: \"FieldsV2\": must be `FieldsV1`",
        ),
        (
            json!({"manager": "m"}),
            "metadata.managedFields: Invalid value: {\"manager\":\"m\"}: must be a list",
        ),
    ];
    for (mf, want) in cases {
        let mut new = created.clone();
        new["metadata"]["managedFields"] = mf;
        let err = try_update(Some(&created), &new, "m", None).unwrap_err();
        assert_eq!(err, ApplyError::Invalid(want.into()));
    }
    let mut new = created.clone();
    new["metadata"]["managedFields"] = json!([{"manager": "m", "operation": "Apply",
        "apiVersion": V, "fieldsType": "FieldsV1", "fieldsV1": {"x:bad": {}}}]);
    assert!(try_update(Some(&created), &new, "m", None).is_err());
}

#[test]
fn empty_managed_fields_list_resets_tracking() {
    let created = update_as(None, &app(json!({"instances": 2})), "m", None);
    for reset in [json!([]), json!([{}])] {
        let mut new = created.clone();
        new["metadata"]["managedFields"] = reset.clone();
        new["spec"]["image"] = json!("x");
        let out = update_as(Some(&created), &new, "editor", None);
        assert!(out["metadata"].get("managedFields").is_none(), "{reset}");
        // Without managedFields, updates are not tracked (until the next apply).
        let mut next = out.clone();
        next["spec"]["instances"] = json!(4);
        let out = update_as(Some(&out), &next, "editor", None);
        assert!(out["metadata"].get("managedFields").is_none());
        // On create, the creator owns everything.
        let mut obj = app(json!({"instances": 1}));
        obj["metadata"]["managedFields"] = reset;
        let out = update_as(None, &obj, "creator", None);
        assert_eq!(
            fields(&out, "creator", "Update"),
            json!({"f:spec": {".": {}, "f:instances": {}}})
        );
    }
}

#[test]
fn subresource_writes_ignore_client_managed_fields() {
    let live = ok(None, &app(json!({"instances": 2})), "m");
    let mut new = live.clone();
    new["metadata"]["managedFields"] = json!([{"manager": "evil", "operation": "Apply",
        "apiVersion": V, "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]);
    new["status"] = json!({"ready": 2});
    let out = update_as(Some(&live), &new, "controller", Some("status"));
    assert!(entry(&out, "evil", "Apply").is_none());
    assert!(entry(&out, "m", "Apply").is_some());
    assert_eq!(
        entry(&out, "controller", "Update").unwrap()["subresource"],
        "status"
    );
}

#[test]
fn status_apply_ignores_spec_and_records_the_subresource() {
    let live = ok(None, &app(json!({"instances": 2})), "m");
    let s = schema();
    let mut applied = app(json!({"instances": 9}));
    applied["status"] = json!({"ready": 2});
    let out = apply(ApplyRequest {
        schema: &s,
        live: Some(&live),
        applied: &applied,
        manager: "controller",
        force: false,
        api_version: V,
        subresource: Some("status"),
        now: T2,
    })
    .unwrap();
    assert_eq!(out["spec"]["instances"], 2);
    assert_eq!(out["status"]["ready"], 2);
    let e = entry(&out, "controller", "Apply").unwrap();
    assert_eq!(e["subresource"], "status");
    assert_eq!(e["fieldsV1"], json!({"f:status": {"f:ready": {}}}));
}

#[test]
fn untracked_metadata_is_not_owned_and_keeps_its_live_value() {
    let mut first = app(json!({"instances": 2}));
    first["metadata"]["labels"] = json!({"a": "1"});
    let mut live = ok(None, &first, "m");
    live["metadata"]["uid"] = json!("uid-1");
    live["metadata"]["resourceVersion"] = json!("7");
    live["metadata"]["generation"] = json!(1);
    let mut again = first.clone();
    again["metadata"]["uid"] = json!("other");
    again["metadata"]["resourceVersion"] = json!("3");
    again["metadata"]["generation"] = json!(9);
    let out = ok(Some(&live), &again, "m");
    assert_eq!(out["metadata"]["uid"], "uid-1");
    assert_eq!(out["metadata"]["resourceVersion"], "7");
    assert_eq!(out["metadata"]["generation"], 1);
    assert_eq!(
        fields(&out, "m", "Apply"),
        json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:instances": {}}})
    );
}

#[test]
fn kubectl_server_side_apply_takes_over_from_client_side_apply() {
    let config = app(json!({"instances": 2}));
    let mut csa = config.clone();
    csa["metadata"]["annotations"] =
        json!({LAST_APPLIED_ANNOTATION: serde_json::to_string(&config).unwrap()});
    let created = update_as(None, &csa, "kubectl-client-side-apply", None);
    // The field still has the last-applied value: kubectl takes it over.
    let out = apply_as(
        Some(&created),
        &app(json!({"instances": 3})),
        "kubectl",
        false,
        T3,
    )
    .unwrap();
    assert_eq!(out["spec"]["instances"], 3);
    assert_eq!(
        fields(&out, "kubectl", "Apply"),
        json!({"f:spec": {"f:instances": {}}})
    );
    let last: Value = serde_json::from_str(
        out["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        last,
        app(json!({"instances": 3})),
        "the annotation follows the applied config"
    );
    // Another manager does not get that allowance.
    assert!(
        apply_as(
            Some(&created),
            &app(json!({"instances": 3})),
            "helm",
            false,
            T3
        )
        .is_err()
    );
    // Neither does kubectl once the live value drifted from the annotation.
    let mut drifted = created.clone();
    drifted["spec"]["instances"] = json!(5);
    let drifted = update_as(Some(&created), &drifted, "kubectl-client-side-apply", None);
    assert!(
        apply_as(
            Some(&drifted),
            &app(json!({"instances": 3})),
            "kubectl",
            false,
            T3
        )
        .is_err()
    );
}

#[test]
fn apply_refuses_bad_configurations() {
    let invalid = |applied: Value| match apply_as(None, &applied, "m", false, T1) {
        Err(ApplyError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    };
    assert_eq!(
        invalid(json!([1])),
        "the applied configuration must be an object"
    );
    let mut with_mf = app(json!({}));
    with_mf["metadata"]["managedFields"] = json!([{"manager": "x"}]);
    assert_eq!(invalid(with_mf), "metadata.managedFields must be nil");
    assert_eq!(
        invalid(app(json!({"ports": [{"port": 1}]}))),
        ".spec.ports: element 0: associative list with keys has an element that omits key field \
         \"name\" (and doesn't have default value)"
    );
    assert_eq!(
        invalid(app(
            json!({"ports": [{"name": "a"}, {"name": "a", "port": 2}]})
        )),
        ".spec.ports: duplicate entries for key [name=\"a\"]"
    );
    assert_eq!(
        invalid(app(json!({"tags": ["x", "x"]}))),
        ".spec.tags: duplicate entries for key [=\"x\"]"
    );
    let mut deep = json!(1);
    for _ in 0..(crate::schema::MAX_DEPTH + 5) {
        deep = json!({ "d": deep });
    }
    assert!(invalid(app(json!({"config": deep}))).contains("nested more than"));
}

#[test]
fn field_set_renders_paths_like_kubernetes() {
    let set = field_set(
        &schema(),
        &app(json!({"ports": [{"name": "http", "port": 80}], "instances": 1})),
    );
    let paths: Vec<String> = set.paths().iter().map(ToString::to_string).collect();
    assert_eq!(
        paths,
        [
            ".spec.instances",
            ".spec.ports[name=\"http\"]",
            ".spec.ports[name=\"http\"].name",
            ".spec.ports[name=\"http\"].port",
        ]
    );
    let round = FieldSet::from_fields_v1(&set.to_fields_v1()).unwrap();
    assert_eq!(round, set);
}

#[test]
fn builtin_configmap_data_keys_are_owned_separately() {
    let cm = Schema::from_json(&crate::schema::builtin::builtin_schema("", "ConfigMap").unwrap())
        .unwrap();
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "c"}, "data": {"a": "1"}});
    let live = apply(ApplyRequest {
        schema: &cm,
        live: None,
        applied: &applied,
        manager: "helm",
        force: false,
        api_version: "v1",
        subresource: None,
        now: T1,
    })
    .unwrap();
    assert_eq!(
        fields(&live, "helm", "Apply"),
        json!({"f:data": {"f:a": {}}})
    );
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "c"}, "data": {"b": "2"}});
    let out = apply(ApplyRequest {
        schema: &cm,
        live: Some(&live),
        applied: &other,
        manager: "ops",
        force: false,
        api_version: "v1",
        subresource: None,
        now: T2,
    })
    .unwrap();
    assert_eq!(out["data"], json!({"a": "1", "b": "2"}));
}
