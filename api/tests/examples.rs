//! Every example in manifests/examples/ must be valid against the generated CRDs and read into
//! the Rust types without losing a field, and pass the kinds' semantic validation.
//!
//! The schema check here is a small structural validator (types, known properties, required
//! fields, enums, bounds) over the CRD's openAPIV3Schema, enough to catch a misspelt field or a
//! wrong type in an example before a user does. CEL rules are left to the API server; the kinds'
//! own `validate()` covers the same ground.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use strata_api::{Agent, App, Framework, Offer, Task};

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples")
}

/// The YAML files of a directory, kustomization files excluded, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    files.sort();
    files
}

fn documents(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

fn schema_for(kind: &str) -> Value {
    let crd = strata_api::crds::all()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap_or_else(|| {
            panic!("{kind} is not a strata kind");
        });
    let schema = crd.spec.versions[0]
        .schema
        .clone()
        .unwrap()
        .open_api_v3_schema
        .unwrap();
    serde_json::to_value(schema).unwrap()
}

/// Structural validation of `value` against `schema`; problems are pushed as "path: message".
fn check(path: &str, schema: &Value, value: &Value, errors: &mut Vec<String>) {
    if value.is_null() {
        if schema["nullable"] != Value::Bool(true) {
            errors.push(format!("{path}: null is not allowed"));
        }
        return;
    }
    let ty = schema["type"].as_str().unwrap_or("");
    let ok = match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        other => panic!("{path}: schema without a usable type {other:?}"),
    };
    if !ok {
        errors.push(format!("{path}: expected {ty}, got {value}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{path}: {value} is not one of {allowed:?}"));
    }
    if let (Some(min), Some(v)) = (schema["minimum"].as_f64(), value.as_f64())
        && v < min
    {
        errors.push(format!("{path}: {v} is below the minimum {min}"));
    }
    if let (Some(max), Some(v)) = (schema["maximum"].as_f64(), value.as_f64())
        && v > max
    {
        errors.push(format!("{path}: {v} is above the maximum {max}"));
    }
    match value {
        Value::Object(map) => {
            for req in schema["required"].as_array().into_iter().flatten() {
                if !map.contains_key(req.as_str().unwrap()) {
                    errors.push(format!("{path}: missing required field {req}"));
                }
            }
            let props = schema["properties"].as_object();
            let extra = &schema["additionalProperties"];
            for (key, child) in map {
                let child_path = format!("{path}.{key}");
                if let Some(prop) = props.and_then(|p| p.get(key)) {
                    check(&child_path, prop, child, errors);
                } else if extra.is_object() {
                    check(&child_path, extra, child, errors);
                } else if schema["x-kubernetes-preserve-unknown-fields"] != Value::Bool(true)
                    && props.is_some()
                {
                    errors.push(format!("{child_path}: unknown field"));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check(&format!("{path}[{i}]"), &schema["items"], item, errors);
            }
        }
        _ => {}
    }
}

/// Every leaf of `original` is in `reserialized` with the same value (numbers numerically), so
/// reading into the Rust types dropped nothing.
fn contained(path: &str, original: &Value, reserialized: &Value, errors: &mut Vec<String>) {
    match (original, reserialized) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => contained(&format!("{path}.{k}"), v, w, errors),
                    None => errors.push(format!("{path}.{k}: dropped by the Rust types")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                contained(&format!("{path}[{i}]"), v, w, errors);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (a, b) if a == b => {}
        (a, b) => errors.push(format!("{path}: {a} became {b}")),
    }
}

fn round_trip<K: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value) -> (K, Value) {
    let typed: K =
        serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("does not read: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    (typed, back)
}

#[test]
fn examples_validate_against_the_crds_and_types() {
    let mut files = yaml_files(&examples_dir());
    files.extend(yaml_files(&examples_dir().join("kustomize")));
    assert!(files.len() >= 5, "{files:?}");
    let mut kinds = Vec::new();
    for file in files {
        let name = file
            .strip_prefix(examples_dir())
            .unwrap()
            .display()
            .to_string();
        for doc in documents(&file) {
            let kind = doc["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: no kind"))
                .to_string();
            assert_eq!(doc["apiVersion"], strata_api::API_VERSION, "{name}");
            assert!(doc["metadata"]["name"].is_string(), "{name}: metadata.name");

            let mut errors = Vec::new();
            let schema = schema_for(&kind);
            for field in ["spec", "status"] {
                if let Some(v) = doc.get(field) {
                    check(field, &schema["properties"][field], v, &mut errors);
                }
            }
            let back = match kind.as_str() {
                "Agent" => round_trip::<Agent>(&doc).1,
                "Framework" => round_trip::<Framework>(&doc).1,
                "Offer" => round_trip::<Offer>(&doc).1,
                "Task" => {
                    let (task, back) = round_trip::<Task>(&doc);
                    if let Err(e) = task.spec.validate() {
                        errors.push(e.to_string());
                    }
                    back
                }
                "App" => {
                    let (app, back) = round_trip::<App>(&doc);
                    if let Err(e) = app.spec.validate() {
                        errors.push(e.to_string());
                    }
                    back
                }
                other => panic!("{name}: unexpected kind {other}"),
            };
            contained("", &doc, &back, &mut errors);
            assert!(
                errors.is_empty(),
                "{name} ({kind}):\n  {}",
                errors.join("\n  ")
            );
            kinds.push(kind);
        }
    }
    for kind in ["Agent", "Framework", "App"] {
        assert!(kinds.iter().any(|k| k == kind), "no example of {kind}");
    }
}

#[test]
fn the_validator_catches_typos_and_wrong_types() {
    let schema = schema_for("App");
    let mut errors = Vec::new();
    let spec = serde_json::json!({
        "cmd": "x", "instance": 2, "mem": "128", "killSelection": "RANDOM",
        "upgradeStrategy": {"minimumHealthCapacity": 2},
        "constraints": [{"field": "@hostname"}]
    });
    check("spec", &schema["properties"]["spec"], &spec, &mut errors);
    errors.sort();
    assert_eq!(
        errors,
        [
            "spec.constraints[0]: missing required field \"operator\"",
            "spec.instance: unknown field",
            "spec.killSelection: \"RANDOM\" is not one of [String(\"YOUNGEST_FIRST\"), String(\"OLDEST_FIRST\")]",
            "spec.mem: expected integer, got \"128\"",
            "spec.upgradeStrategy.minimumHealthCapacity: 2 is above the maximum 1",
        ]
    );
}

#[test]
fn kustomize_copies_match_the_examples_and_resources_exist() {
    let dir = examples_dir().join("kustomize");
    let kustomization: Value =
        serde_saphyr::from_str(&fs::read_to_string(dir.join("kustomization.yaml")).unwrap())
            .unwrap();
    let resources = kustomization["resources"].as_array().expect("resources");
    assert!(!resources.is_empty());
    for resource in resources {
        let file = resource.as_str().unwrap();
        let copy =
            fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("kustomize/{file}: {e}"));
        let original =
            fs::read_to_string(examples_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            copy == original,
            "manifests/examples/kustomize/{file} differs from manifests/examples/{file}; \
             copy it again: cp manifests/examples/{file} manifests/examples/kustomize/"
        );
    }
}
