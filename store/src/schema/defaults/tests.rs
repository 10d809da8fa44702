//! Tests of defaulting: absent and null fields, nested defaults, items and map values, and
//! hostile nesting.

use serde_json::{Value, json};

use super::*;
use crate::schema::validate::tests::{on_small_stack, with_deep_value};

fn schema() -> Schema {
    Schema::from_json(&json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "default": "never/v1"},
            "metadata": {"type": "object", "default": {"name": "never"}},
            "spec": {
                "type": "object",
                "default": {},
                "properties": {
                    "replicas": {"type": "integer", "default": 1},
                    "paused": {"type": "boolean", "default": false},
                    "note": {"type": "string", "nullable": true, "default": "n"},
                    "strategy": {
                        "type": "object",
                        "default": {"type": "Rolling"},
                        "properties": {
                            "type": {"type": "string"},
                            "maxSurge": {"x-kubernetes-int-or-string": true, "default": "25%"}
                        }
                    },
                    "ports": {"type": "array", "items": {
                        "type": "object",
                        "default": {"port": 80},
                        "properties": {"port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"}}
                    }},
                    "limits": {"type": "object", "additionalProperties": {
                        "type": "object",
                        "default": {"max": 10},
                        "properties": {"max": {"type": "integer"}, "unit": {"type": "string", "default": "count"}}
                    }},
                    "tags": {"type": "array", "default": ["a"], "items": {"type": "string"}}
                }
            }
        }
    }))
    .unwrap()
}

fn defaulted(object: Value) -> Value {
    let mut object = object;
    apply_defaults(&schema(), &mut object);
    object
}

#[test]
fn cases() {
    let cases = [
        (
            // Everything absent: spec defaults to {}, then everything inside it defaults.
            json!({"kind": "Thing"}),
            json!({"kind": "Thing", "spec": {
                "replicas": 1, "paused": false, "note": "n",
                "strategy": {"type": "Rolling", "maxSurge": "25%"}, "tags": ["a"]
            }}),
        ),
        (
            // Present values stay; a null nullable field stays null; null non-nullable ones default.
            json!({"spec": {"replicas": 3, "paused": null, "note": null, "strategy": {"type": "Recreate"}, "tags": []}}),
            json!({"spec": {"replicas": 3, "paused": false, "note": null, "strategy": {"type": "Recreate", "maxSurge": "25%"},
                            "tags": []}}),
        ),
        (
            // Array items, including null items, and additionalProperties values.
            json!({"spec": {"ports": [{"port": 8080}, null, {"protocol": "UDP"}],
                            "limits": {"cpu": {"max": 2}, "mem": null}}}),
            json!({"spec": {
                "ports": [{"port": 8080, "protocol": "TCP"}, {"port": 80, "protocol": "TCP"}, {"protocol": "UDP"}],
                "limits": {"cpu": {"max": 2, "unit": "count"}, "mem": {"max": 10, "unit": "count"}},
                "replicas": 1, "paused": false, "note": "n", "strategy": {"type": "Rolling", "maxSurge": "25%"},
                "tags": ["a"]
            }}),
        ),
    ];
    for (input, want) in cases {
        let got = defaulted(input.clone());
        // Object equality does not depend on key order.
        assert_eq!(got, want, "input {input}");
    }
}

#[test]
fn leaves_the_roots_type_and_metadata_alone() {
    let got = defaulted(json!({"spec": {}}));
    assert!(got.get("apiVersion").is_none());
    assert!(got.get("metadata").is_none());
    // Not at the root, the same schema defaults them.
    let mut value = json!({});
    apply_defaults_to_value(&schema(), &mut value);
    assert_eq!(value["apiVersion"], "never/v1");
    assert_eq!(value["metadata"], json!({"name": "never"}));
}

#[test]
fn defaults_are_deep_copies() {
    let s = schema();
    let mut a = json!({});
    let mut b = json!({});
    apply_defaults(&s, &mut a);
    a["spec"]["strategy"]["type"] = json!("changed");
    apply_defaults(&s, &mut b);
    assert_eq!(b["spec"]["strategy"]["type"], "Rolling");
}

#[test]
fn wrong_types_are_left_for_validation() {
    let got = defaulted(json!({"spec": {"strategy": "fast", "ports": {"x": 1}, "limits": [1]}}));
    assert_eq!(got["spec"]["strategy"], "fast");
    assert_eq!(got["spec"]["ports"], json!({"x": 1}));
    assert_eq!(got["spec"]["limits"], json!([1]));
}

#[test]
fn hostile_nesting_does_not_overflow_the_stack() {
    // A self-similar schema 150 levels deep, and a value as deep: defaulting stops at the limit.
    let mut s =
        json!({"type": "object", "properties": {"leaf": {"type": "integer", "default": 7}}});
    for _ in 0..150 {
        s = json!({"type": "object", "properties": {"a": s, "leaf": {"type": "integer", "default": 7}}});
    }
    let s = Schema::from_json(&s).unwrap();
    let depth_reached = with_deep_value(150, |v| {
        on_small_stack(|| apply_defaults(&s, v));
        let mut depth = 0;
        let mut node = &*v;
        while let Some(next) = node.get("a") {
            if node.get("leaf").is_some() {
                depth += 1;
            }
            node = next;
        }
        depth
    });
    assert_eq!(depth_reached, MAX_DEPTH);
    with_deep_value(20_000, |v| {
        on_small_stack(|| apply_defaults(&Schema::any(), v))
    });
}
