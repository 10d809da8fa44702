//! Tests of pruning: what goes, what stays, how removed fields are reported, and hostile nesting.

use serde_json::{Value, json};

use super::*;
use crate::schema::validate::tests::{nest_arrays, on_small_stack, with_deep_value};

fn schema() -> Schema {
    Schema::from_json(&json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "note": {"type": "string", "nullable": true},
                    "replicas": {"type": "integer", "default": 1},
                    "ports": {"type": "array", "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "port": {"type": "integer"}}}},
                    "untyped": {"type": "array"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                             "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                 "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}}},
                    "loose": {"type": "object", "x-kubernetes-embedded-resource": true,
                              "x-kubernetes-preserve-unknown-fields": true}
                }
            },
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}
        }
    }))
    .unwrap()
}

fn pruned(object: Value) -> (Value, Vec<String>) {
    let mut object = object;
    let removed = prune(&schema(), &mut object);
    (object, removed)
}

#[test]
fn removes_unknown_fields_and_reports_their_paths() {
    let (object, removed) = pruned(json!({
        "apiVersion": "example.com/v1",
        "kind": "Thing",
        "metadata": {"name": "x", "labels": {"a": "b"}, "bogus": 1},
        "spec": {"name": "n", "foo": 1, "ports": [{"name": "a", "port": 1}, {"name": "b", "bar": true}],
                 "labels": {"any": "thing"}},
        "extra": {"deep": 1},
        "status": {"ready": true, "phase": "x"}
    }));
    assert_eq!(
        removed,
        [
            "metadata.bogus",
            "spec.foo",
            "spec.ports[1].bar",
            "extra",
            "status.phase"
        ]
    );
    assert_eq!(
        object,
        json!({
            "apiVersion": "example.com/v1",
            "kind": "Thing",
            "metadata": {"name": "x", "labels": {"a": "b"}},
            "spec": {"name": "n", "ports": [{"name": "a", "port": 1}, {"name": "b"}], "labels": {"any": "thing"}},
            "status": {"ready": true}
        })
    );
}

#[test]
fn metadata_is_pruned_to_object_meta() {
    let (object, removed) = pruned(json!({
        "metadata": {
            "name": "x", "namespace": "default", "uid": "u", "resourceVersion": "1", "generation": 1,
            "creationTimestamp": null, "labels": {"a": "b"}, "annotations": {"c": "d"},
            "finalizers": ["f"], "generateName": "x-", "selfLink": "", "deletionTimestamp": "2024-01-01T00:00:00Z",
            "deletionGracePeriodSeconds": 0,
            "ownerReferences": [{"apiVersion": "v1", "kind": "K", "name": "n", "uid": "u", "controller": true,
                                 "blockOwnerDeletion": true, "junk": 1}],
            "managedFields": [{"manager": "m", "operation": "Apply", "apiVersion": "v1", "time": "2024-01-01T00:00:00Z",
                               "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:x": {}}}, "subresource": ""}],
            "clusterName": "old"
        }
    }));
    assert_eq!(
        removed,
        ["metadata.ownerReferences[0].junk", "metadata.clusterName"]
    );
    let meta = object["metadata"].as_object().unwrap();
    // The null timestamp is dropped silently, as Go's decoder drops it.
    assert!(!meta.contains_key("creationTimestamp"));
    assert_eq!(
        meta["managedFields"][0]["fieldsV1"],
        json!({"f:spec": {"f:x": {}}})
    );
    assert_eq!(meta.len(), 14);
}

#[test]
fn metadata_of_a_schema_without_properties_is_still_pruned() {
    let s = Schema::any();
    let mut object = json!({"metadata": {"name": "x", "foo": 1}, "anything": {"goes": true}});
    assert_eq!(prune(&s, &mut object), ["metadata.foo"]);
    assert_eq!(
        object,
        json!({"metadata": {"name": "x"}, "anything": {"goes": true}})
    );
    let mut meta = json!({"name": "x", "nope": 2});
    assert_eq!(
        prune_metadata(&mut meta, "spec.template.metadata"),
        ["spec.template.metadata.nope"]
    );
}

#[test]
fn preserve_unknown_fields_keeps_unknowns_but_prunes_declared_fields() {
    let (object, removed) =
        pruned(json!({"spec": {"free": {"other": {"x": 1}, "known": {"a": "1", "b": 2}}}}));
    assert_eq!(removed, ["spec.free.known.b"]);
    assert_eq!(
        object["spec"]["free"],
        json!({"other": {"x": 1}, "known": {"a": "1"}})
    );
}

#[test]
fn embedded_resources_keep_type_and_prune_metadata() {
    let (object, removed) = pruned(json!({"spec": {
        "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "junk": 1},
                     "spec": {"x": "y", "z": 1}, "other": 2},
        "loose": {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}, "junk": 1}, "spec": {"any": 1}}
    }}));
    assert_eq!(
        removed,
        [
            "spec.template.metadata.junk",
            "spec.template.spec.z",
            "spec.template.other",
            "spec.loose.metadata.junk"
        ]
    );
    assert_eq!(
        object["spec"]["template"],
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": "y"}})
    );
    assert_eq!(object["spec"]["loose"]["spec"], json!({"any": 1}));
    // A non-string apiVersion is not kept as a type field.
    let (_, removed) = pruned(json!({"spec": {"template": {"apiVersion": 1, "kind": "Pod"}}}));
    assert_eq!(removed, ["spec.template.apiVersion"]);
}

#[test]
fn nulls_of_non_nullable_fields_without_defaults_are_dropped_silently() {
    let (object, removed) =
        pruned(json!({"spec": {"name": null, "note": null, "replicas": null}, "metadata": null}));
    assert!(removed.is_empty());
    // `note` is nullable; `replicas` keeps its null for defaulting to replace.
    assert_eq!(object, json!({"spec": {"note": null, "replicas": null}}));
}

#[test]
fn values_of_the_wrong_type_lose_their_fields() {
    // As kube-apiserver does: the schema declares no fields there, so all are unknown; validation
    // then reports the wrong type.
    let (object, removed) = pruned(json!({"spec": {"name": {"a": 1}}}));
    assert_eq!(removed, ["spec.name.a"]);
    assert_eq!(object, json!({"spec": {"name": {}}}));
}

#[test]
fn arrays_without_an_item_schema() {
    let (object, removed) = pruned(json!({"spec": {"untyped": [{"a": 1}, 2, [{"b": 3}]]}}));
    assert_eq!(removed, ["spec.untyped[0].a", "spec.untyped[2][0].b"]);
    assert_eq!(object, json!({"spec": {"untyped": [{}, 2, [{}]]}}));
}

#[test]
fn nothing_to_prune() {
    let (object, removed) =
        pruned(json!({"apiVersion": "v1", "kind": "Thing", "spec": {"name": "n"}}));
    assert!(removed.is_empty());
    assert_eq!(
        object,
        json!({"apiVersion": "v1", "kind": "Thing", "spec": {"name": "n"}})
    );
    let mut not_an_object = json!("x");
    assert!(prune(&schema(), &mut not_an_object).is_empty());
}

#[test]
fn hostile_nesting_does_not_overflow_the_stack() {
    // Deep unknown content is removed at its top; deep preserved content is not walked.
    let removed = with_deep_value(20_000, |v| {
        let mut object = json!({"spec": {"free": {}, "untyped": []}, "extra": 1});
        object["spec"]["free"]["x"] = v.take();
        object["spec"]["untyped"] = nest_arrays(20_000);
        on_small_stack(|| prune(&schema(), &mut object))
    });
    assert_eq!(removed, ["extra"]);
    let removed = with_deep_value(20_000, |v| on_small_stack(|| prune(&Schema::any(), v)));
    assert!(removed.is_empty());
}
