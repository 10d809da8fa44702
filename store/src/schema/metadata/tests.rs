//! Tests of ObjectMeta validation and the name validators, against kube-apiserver's messages.

use serde_json::{Value, json};

use super::*;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

type Row = (String, &'static str, String);

fn check(meta: Value, namespaced: bool, rule: NameRule) -> Vec<Row> {
    validate_metadata(&meta, namespaced, rule)
        .into_iter()
        .map(|e| (e.field, e.reason, e.message))
        .collect()
}

fn row(field: &str, reason: &'static str, message: &str) -> Row {
    (field.to_string(), reason, message.to_string())
}

#[test]
fn table() {
    let long = "a".repeat(64);
    let cases: Vec<(Value, bool, NameRule, Vec<Row>)> = vec![
        (json!({"name": "ok"}), false, NameRule::Subdomain, vec![]),
        (
            json!({"name": "web.example.com", "namespace": "default"}),
            true,
            NameRule::Subdomain,
            vec![],
        ),
        (
            json!({}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.name",
                FieldError::REQUIRED,
                "Required value: name or generateName is required",
            )],
        ),
        (
            json!({"generateName": "web-"}),
            false,
            NameRule::Subdomain,
            vec![],
        ),
        (
            json!({"generateName": "web-"}),
            false,
            NameRule::Label,
            vec![],
        ),
        (
            json!({"generateName": "Web-"}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.generateName",
                FieldError::INVALID,
                &format!("Invalid value: \"Web-\": {SUBDOMAIN_MSG}"),
            )],
        ),
        (
            json!({"name": "Bad_Name"}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.name",
                FieldError::INVALID,
                &format!("Invalid value: \"Bad_Name\": {SUBDOMAIN_MSG}"),
            )],
        ),
        (
            json!({"name": "a".repeat(254)}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.name",
                FieldError::INVALID,
                &format!(
                    "Invalid value: \"{}\": must be no more than 253 characters",
                    "a".repeat(254)
                ),
            )],
        ),
        (
            json!({"name": "a.b"}),
            false,
            NameRule::Label,
            vec![row(
                "metadata.name",
                FieldError::INVALID,
                "Invalid value: \"a.b\": must not contain dots",
            )],
        ),
        (
            json!({"name": "-a"}),
            false,
            NameRule::Label,
            vec![row(
                "metadata.name",
                FieldError::INVALID,
                &format!("Invalid value: \"-a\": {LABEL_MSG}"),
            )],
        ),
        (
            json!({"name": long}),
            false,
            NameRule::Label,
            vec![row(
                "metadata.name",
                FieldError::INVALID,
                &format!("Invalid value: \"{long}\": must be no more than 63 characters"),
            )],
        ),
        (
            json!({"name": "system:controller:x"}),
            false,
            NameRule::PathSegment,
            vec![],
        ),
        (
            json!({"name": ".."}),
            false,
            NameRule::PathSegment,
            vec![row(
                "metadata.name",
                FieldError::INVALID,
                "Invalid value: \"..\": may not be '..'",
            )],
        ),
        (
            json!({"name": "a/b%c"}),
            false,
            NameRule::PathSegment,
            vec![
                row(
                    "metadata.name",
                    FieldError::INVALID,
                    "Invalid value: \"a/b%c\": may not contain '/'",
                ),
                row(
                    "metadata.name",
                    FieldError::INVALID,
                    "Invalid value: \"a/b%c\": may not contain '%'",
                ),
            ],
        ),
        (
            json!({"name": "x"}),
            true,
            NameRule::Subdomain,
            vec![row(
                "metadata.namespace",
                FieldError::REQUIRED,
                "Required value",
            )],
        ),
        (
            json!({"name": "x", "namespace": "default"}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.namespace",
                FieldError::FORBIDDEN,
                "Forbidden: not allowed on this type",
            )],
        ),
        (
            json!({"name": "x", "namespace": "Bad"}),
            true,
            NameRule::Subdomain,
            vec![row(
                "metadata.namespace",
                FieldError::INVALID,
                &format!("Invalid value: \"Bad\": {LABEL_MSG}"),
            )],
        ),
        (
            json!({"name": "x", "generation": -1}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.generation",
                FieldError::INVALID,
                "Invalid value: -1: must be greater than or equal to 0",
            )],
        ),
        (
            json!({"name": "x", "labels": {"app": "web", "example.com/tier": "db", "empty": ""}}),
            false,
            NameRule::Subdomain,
            vec![],
        ),
        (
            json!({"name": "x", "labels": {"-bad": "x"}}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.labels",
                FieldError::INVALID,
                &format!("Invalid value: \"-bad\": name part {QUALIFIED_MSG}"),
            )],
        ),
        (
            json!({"name": "x", "labels": {"a": "has space"}}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.labels",
                FieldError::INVALID,
                &format!("Invalid value: \"has space\": {LABEL_VALUE_MSG}"),
            )],
        ),
        (
            json!({"name": "x", "labels": {"a": "v".repeat(64)}}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.labels",
                FieldError::INVALID,
                &format!(
                    "Invalid value: \"{}\": must be no more than 63 characters",
                    "v".repeat(64)
                ),
            )],
        ),
        (
            json!({"name": "x", "labels": {"a/b/c": "x"}}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.labels",
                FieldError::INVALID,
                &format!(
                    "Invalid value: \"a/b/c\": a qualified name {QUALIFIED_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
                ),
            )],
        ),
        (
            json!({"name": "x", "labels": {"/x": ""}}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.labels",
                FieldError::INVALID,
                "Invalid value: \"/x\": prefix part must be non-empty",
            )],
        ),
        (
            json!({"name": "x", "labels": {"Bad_Prefix/x": ""}}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.labels",
                FieldError::INVALID,
                &format!("Invalid value: \"Bad_Prefix/x\": prefix part {SUBDOMAIN_MSG}"),
            )],
        ),
        (
            json!({"name": "x", "labels": {"a": 1}}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.labels.a",
                FieldError::TYPE_INVALID,
                "Invalid value: \"integer\": metadata.labels.a in body must be of type string: \"integer\"",
            )],
        ),
        (
            json!({"name": "x", "labels": ["a"]}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.labels",
                FieldError::TYPE_INVALID,
                "Invalid value: \"array\": metadata.labels in body must be of type object: \"array\"",
            )],
        ),
        (
            json!({"name": "x", "annotations": {"Example.com/Some-Key": "v", "kubectl.kubernetes.io/last-applied-configuration": "{}"}}),
            false,
            NameRule::Subdomain,
            vec![],
        ),
        (
            json!({"name": "x", "annotations": {"a": "v".repeat(256 * 1024)}}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.annotations",
                FieldError::TOO_LONG,
                "Too long: may not be more than 262144 bytes",
            )],
        ),
        (
            json!({"name": "x", "finalizers": ["example.com/cleanup", "kubernetes"]}),
            false,
            NameRule::Subdomain,
            vec![],
        ),
        (
            json!({"name": "x", "finalizers": ["bad finalizer"]}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.finalizers",
                FieldError::INVALID,
                &format!("Invalid value: \"bad finalizer\": name part {QUALIFIED_MSG}"),
            )],
        ),
        (
            json!({"name": "x", "finalizers": ["orphan", "foregroundDeletion"]}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.finalizers",
                FieldError::INVALID,
                "Invalid value: [\"orphan\",\"foregroundDeletion\"]: finalizer orphan and foregroundDeletion cannot be both set",
            )],
        ),
        (
            json!({"name": "x", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1", "controller": true}]}),
            false,
            NameRule::Subdomain,
            vec![],
        ),
        (
            json!({"name": "x", "ownerReferences": [{}]}),
            false,
            NameRule::Subdomain,
            vec![
                row(
                    "metadata.ownerReferences.apiVersion",
                    FieldError::INVALID,
                    "Invalid value: \"\": version must not be empty",
                ),
                row(
                    "metadata.ownerReferences.kind",
                    FieldError::INVALID,
                    "Invalid value: \"\": kind must not be empty",
                ),
                row(
                    "metadata.ownerReferences.name",
                    FieldError::INVALID,
                    "Invalid value: \"\": name must not be empty",
                ),
                row(
                    "metadata.ownerReferences.uid",
                    FieldError::INVALID,
                    "Invalid value: \"\": uid must not be empty",
                ),
            ],
        ),
        (
            json!({"name": "x", "ownerReferences": [
                {"apiVersion": "v1", "kind": "A", "name": "a", "uid": "1", "controller": true},
                {"apiVersion": "v1", "kind": "B", "name": "b", "uid": "2", "controller": true}
            ]}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.ownerReferences",
                FieldError::INVALID,
                "Invalid value: [{\"apiVersion\":\"v1\",\"kind\":\"A\",\"name\":\"a\",\"uid\":\"1\",\"controller\":true},{\"apiVersion\":\"v1\",\"kind\":\"B\",\"name\":\"b\",\"uid\":\"2\",\"controller\":true}]: Only one reference can have Controller set to true. Found \"true\" in references for A/a and B/b",
            )],
        ),
        (
            json!({"name": "x", "managedFields": [
                {"manager": "m", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {}},
                {"manager": "m", "operation": "Bogus", "fieldsType": "FieldsV2"}
            ]}),
            false,
            NameRule::Subdomain,
            vec![
                row(
                    "metadata.managedFields[1].operation",
                    FieldError::INVALID,
                    "Invalid value: \"Bogus\": must be `Apply` or `Update`",
                ),
                row(
                    "metadata.managedFields[1].fieldsType",
                    FieldError::INVALID,
                    "Invalid value: \"FieldsV2\": must be `FieldsV1`",
                ),
            ],
        ),
        (
            // Nulls count as absent, as the Go decoder treats them.
            json!({"name": "x", "creationTimestamp": null, "labels": null, "finalizers": null}),
            false,
            NameRule::Subdomain,
            vec![],
        ),
        (
            json!({"name": "x", "creationTimestamp": "yesterday"}),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata.creationTimestamp",
                FieldError::TYPE_INVALID,
                "Invalid value: \"yesterday\": metadata.creationTimestamp in body must be of type date-time: \"yesterday\"",
            )],
        ),
        (
            json!("x"),
            false,
            NameRule::Subdomain,
            vec![row(
                "metadata",
                FieldError::TYPE_INVALID,
                "Invalid value: \"string\": metadata in body must be of type object: \"string\"",
            )],
        ),
    ];
    for (meta, namespaced, rule, want) in cases {
        let shown = meta.to_string();
        assert_eq!(
            check(meta, namespaced, rule),
            want,
            "metadata {}",
            &shown[..shown.len().min(200)]
        );
    }
}

#[test]
fn name_validators() {
    assert_eq!(dns1123_subdomain("web.example.com"), Ok(()));
    assert_eq!(dns1123_subdomain("a"), Ok(()));
    assert_eq!(dns1123_subdomain("Web"), Err(SUBDOMAIN_MSG.to_string()));
    assert_eq!(dns1123_subdomain(""), Err(SUBDOMAIN_MSG.to_string()));
    assert_eq!(dns1123_subdomain("a..b"), Err(SUBDOMAIN_MSG.to_string()));
    assert_eq!(dns1123_subdomain("a-.b"), Err(SUBDOMAIN_MSG.to_string()));
    assert_eq!(
        dns1123_subdomain(&format!("{}A", "a".repeat(253))),
        Err(format!(
            "must be no more than 253 characters; {SUBDOMAIN_MSG}"
        ))
    );
    assert_eq!(dns1123_label("my-ns"), Ok(()));
    assert_eq!(dns1123_label("0ns"), Ok(()));
    assert_eq!(
        dns1123_label("a.b"),
        Err("must not contain dots".to_string())
    );
    assert_eq!(dns1123_label("ns-"), Err(LABEL_MSG.to_string()));
    assert_eq!(
        dns1035_label("0ns").map_err(|e| e.starts_with("a DNS-1035 label")),
        Err(true)
    );
    assert_eq!(dns1035_label("ns0"), Ok(()));
    assert_eq!(qualified_name("example.com/My_Name.1"), Ok(()));
    assert!(qualified_name("example.com/").is_err());
    assert_eq!(label_value(""), Ok(()));
    assert_eq!(label_value("a_b.c-D"), Ok(()));
    assert!(label_value("_a").is_err());
    assert_eq!(path_segment_name("system:admin"), Ok(()));
    assert_eq!(path_segment_name("."), Err("may not be '.'".to_string()));
    // Non-ASCII never panics and never passes.
    assert!(dns1123_subdomain("é").is_err());
    assert!(qualified_name("é/x").is_err());
    assert!(NameRule::Subdomain.check("é-", true).len() == 1);
    assert!(NameRule::Label.check("x-", true).is_empty());
}

#[test]
fn name_rules_of_kinds() {
    assert_eq!(NameRule::for_kind("", "Namespace"), NameRule::Label);
    assert_eq!(
        NameRule::for_kind("rbac.authorization.k8s.io", "ClusterRole"),
        NameRule::PathSegment
    );
    assert_eq!(NameRule::for_kind("", "Secret"), NameRule::Subdomain);
    assert_eq!(
        NameRule::for_kind("example.com", "Namespace"),
        NameRule::Subdomain
    );
}

#[test]
fn generate_name_may_end_with_a_dash() {
    assert!(NameRule::Subdomain.check("web-", true).is_empty());
    assert_eq!(NameRule::Subdomain.check("web-", false).len(), 1);
    assert!(NameRule::PathSegment.check("..", true).is_empty());
}
