//! Tests of the built-in schemas: structural form, list semantics, and real objects of each kind
//! going through pruning, defaulting and validation.

use serde_json::{Value, json};

use super::*;
use crate::schema::{ListType, SchemaType, defaults, prune, validate};

fn schema(group: &str, kind: &str) -> Schema {
    Schema::from_json(&builtin_schema(group, kind).unwrap()).unwrap()
}

/// A schema node in JSONSchemaProps form: no `$ref`, no combinators, one type.
fn assert_structural(schema: &Value, at: &str) {
    let m = schema
        .as_object()
        .unwrap_or_else(|| panic!("{at} is not an object"));
    for bad in [
        "$ref",
        "$defs",
        "$schema",
        "oneOf",
        "anyOf",
        "allOf",
        "definitions",
    ] {
        assert!(!m.contains_key(bad), "{bad} at {at}");
    }
    if let Some(t) = m.get("type") {
        assert!(t.is_string(), "type at {at} is {t}");
    }
    if let Some(Value::Object(props)) = m.get("properties") {
        for (name, prop) in props {
            assert_structural(prop, &format!("{at}.{name}"));
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child @ Value::Object(_)) = m.get(key) {
            assert_structural(child, &format!("{at}.{key}"));
        }
    }
}

#[test]
fn every_kind_has_a_structural_schema() {
    for (group, kind) in BUILTIN_KINDS {
        let json = builtin_schema(group, kind).unwrap_or_else(|| panic!("{kind}"));
        assert_structural(&json, kind);
        assert_eq!(json["type"], "object", "{kind}");
        assert!(
            json["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{kind}"
        );
        assert!(
            !json
                .get("required")
                .and_then(Value::as_array)
                .is_some_and(|r| r.contains(&json!("metadata"))),
            "{kind} requires metadata"
        );
        let s = Schema::from_json(&json).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(s.properties.contains_key("metadata"), "{kind}");
        assert!(s.properties.contains_key("apiVersion"), "{kind}");
    }
    assert_structural(&object_meta_schema(), "ObjectMeta");
    assert!(builtin_schema("", "Pod").is_none());
    assert!(builtin_schema("apps", "Secret").is_none());
    assert_eq!(builtin_schema("", "Secret"), builtin_schema("", "Secret"));
}

#[test]
fn object_meta_list_semantics() {
    let m = object_meta();
    assert_eq!(m.field("finalizers").unwrap().list_type, ListType::Set);
    assert_eq!(
        m.field("ownerReferences").unwrap().list_type,
        ListType::Map(vec!["uid".into()])
    );
    assert_eq!(
        m.field("managedFields").unwrap().list_type,
        ListType::Atomic
    );
    let fields_v1 = m
        .field("managedFields")
        .unwrap()
        .item()
        .unwrap()
        .field("fieldsV1")
        .unwrap();
    assert!(fields_v1.preserve_unknown_fields);
    let created = m.field("creationTimestamp").unwrap();
    assert_eq!(
        (created.kind, created.format.as_deref()),
        (Some(SchemaType::String), Some("date-time"))
    );
    assert_eq!(
        m.field("labels").unwrap().field("any").unwrap().kind,
        Some(SchemaType::String)
    );
    assert!(
        m.field("name")
            .unwrap()
            .description
            .as_deref()
            .is_some_and(|d| d.contains("unique"))
    );
    let json = object_meta_schema();
    assert_eq!(
        json["properties"]["ownerReferences"]["x-kubernetes-patch-merge-key"],
        "uid"
    );
    assert_eq!(
        json["properties"]["finalizers"]["x-kubernetes-patch-strategy"],
        "merge"
    );
}

#[test]
fn kind_specific_semantics() {
    let secret = schema("", "Secret");
    let data = secret.field("data").unwrap().field("key").unwrap();
    assert_eq!(
        (data.kind, data.format.as_deref()),
        (Some(SchemaType::String), Some("byte"))
    );
    let cm = schema("", "ConfigMap");
    assert_eq!(
        cm.field("binaryData")
            .unwrap()
            .field("k")
            .unwrap()
            .format
            .as_deref(),
        Some("byte")
    );

    let sa = schema("", "ServiceAccount");
    assert_eq!(
        sa.field("secrets").unwrap().list_type,
        ListType::Map(vec!["name".into()])
    );
    assert_eq!(
        sa.field("imagePullSecrets").unwrap().list_type,
        ListType::Atomic
    );

    let ns = schema("", "Namespace");
    let conditions = ns.field("status").unwrap().field("conditions").unwrap();
    assert_eq!(conditions.list_type, ListType::Map(vec!["type".into()]));

    let crd = schema("apiextensions.k8s.io", "CustomResourceDefinition");
    let version = crd
        .field("spec")
        .unwrap()
        .field("versions")
        .unwrap()
        .item()
        .unwrap();
    let open_api = version
        .field("schema")
        .unwrap()
        .field("openAPIV3Schema")
        .unwrap();
    assert!(open_api.preserve_unknown_fields);
    assert_eq!(open_api.kind, Some(SchemaType::Object));
    let crd_conditions = crd.field("status").unwrap().field("conditions").unwrap();
    assert_eq!(crd_conditions.list_type, ListType::Map(vec!["type".into()]));

    let rb = schema("rbac.authorization.k8s.io", "RoleBinding");
    assert!(rb.required.contains(&"roleRef".to_string()));
    let lease = schema("coordination.k8s.io", "Lease");
    let duration = lease
        .field("spec")
        .unwrap()
        .field("leaseDurationSeconds")
        .unwrap();
    assert_eq!(
        (duration.kind, duration.format.as_deref()),
        (Some(SchemaType::Integer), Some("int32"))
    );
}

/// Prune, default and validate as the admission path does; returns (removed, errors).
fn admit(group: &str, kind: &str, object: &mut Value) -> (Vec<String>, Vec<String>) {
    let s = schema(group, kind);
    let removed = prune::prune(&s, object);
    defaults::apply_defaults(&s, object);
    let errors = validate::validate(&s, object)
        .into_iter()
        .map(|e| e.cause_message())
        .collect();
    (removed, errors)
}

#[test]
fn real_objects() {
    let mut secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "namespace": "default", "creationTimestamp": null},
        "type": "Opaque", "data": {"password": "aHVudGVyMg=="}, "stringData": {"user": "me"}
    });
    assert_eq!(admit("", "Secret", &mut secret), (vec![], vec![]));
    let mut bad = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "%%%"}, "bogus": 1});
    assert_eq!(
        admit("", "Secret", &mut bad),
        (
            vec!["bogus".to_string()],
            vec![
                "data.k: Invalid value: \"%%%\": data.k in body must be of type byte: \"%%%\""
                    .to_string()
            ]
        )
    );

    let mut rb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb"},
                        "subjects": [{"kind": "User", "name": "alice"}]});
    assert_eq!(
        admit("rbac.authorization.k8s.io", "RoleBinding", &mut rb).1,
        ["roleRef: Required value"]
    );

    let mut role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"},
                          "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]});
    assert_eq!(
        admit("rbac.authorization.k8s.io", "Role", &mut role),
        (vec![], vec![])
    );

    // client-go's event recorder sends `eventTime: null`.
    let mut event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e.1", "namespace": "default"},
                           "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
                           "reason": "Started", "message": "m", "count": 1, "type": "Normal",
                           "eventTime": null, "firstTimestamp": "2024-01-01T00:00:00Z", "source": {"component": "c"}});
    assert_eq!(admit("", "Event", &mut event), (vec![], vec![]));
    assert!(event.get("eventTime").is_none());

    let mut lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
                           "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                                    "renewTime": "2024-01-01T00:00:00.000000Z", "leaseTransitions": 0}});
    assert_eq!(
        admit("coordination.k8s.io", "Lease", &mut lease),
        (vec![], vec![])
    );

    let mut crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "things", "singular": "thing", "kind": "Thing", "shortNames": ["th"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
                    "type": "object", "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {"n": {"type": "integer", "default": 1, "enum": [1, 2]}}}}}},
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.n", "statusReplicasPath": ".status.n"}},
                "additionalPrinterColumns": [{"name": "N", "type": "integer", "jsonPath": ".spec.n"}]
            }]
        },
        "status": {"conditions": [{"type": "Established", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}],
                   "acceptedNames": {"plural": "things", "kind": "Thing"}, "storedVersions": ["v1"]}
    });
    let before = crd.clone();
    assert_eq!(
        admit("apiextensions.k8s.io", "CustomResourceDefinition", &mut crd),
        (vec![], vec![])
    );
    assert_eq!(crd, before, "the CRD's own schema is kept verbatim");

    let mut sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"},
                        "secrets": [{"name": "a"}, {"name": "a"}]});
    assert_eq!(
        admit("", "ServiceAccount", &mut sa).1,
        ["secrets[1]: Duplicate value: {\"name\":\"a\"}"]
    );
}
