//! OpenAPI v3 documents, one per group/version, as kube-apiserver serves them.
//!
//! kubectl needs them: `kubectl apply`/`create` check that the PATCH operation of a kind takes a
//! `fieldValidation` parameter before delegating validation to the server, `kubectl explain` reads
//! the schemas, and client-side apply uses strategic merge only where the PATCH body lists it
//! (built-in kinds; never custom resources).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde_json::{Map, Value, json};

use crate::registry::{Registry, Resource};
use crate::schema::builtin;

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// `GET /openapi/v3`: the index of documents.
pub fn index(registry: &Registry) -> Value {
    let mut paths = Map::new();
    let mut gvs: Vec<(String, String)> = registry
        .all()
        .iter()
        .map(|r| (r.group.clone(), r.version.clone()))
        .collect();
    gvs.sort();
    gvs.dedup();
    for (g, v) in gvs {
        let path = doc_path(&g, &v);
        let hash = document(registry, &g, &v)
            .map(|d| hash_of(&d))
            .unwrap_or_default();
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

fn doc_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn hash_of(v: &Value) -> String {
    let mut h = DefaultHasher::new();
    v.to_string().hash(&mut h);
    format!("{:016X}", h.finish())
}

/// `GET /openapi/v3/{api/v1 | apis/g/v}`.
pub fn document_at(registry: &Registry, path: &str) -> Option<Value> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["api", v] => document(registry, "", v),
        ["apis", g, v] => document(registry, g, v),
        _ => None,
    }
}

/// The component name of a kind's schema, as kube-apiserver names it.
fn component_name(r: &Resource) -> String {
    if r.builtin {
        let pkg = match r.group.as_str() {
            "" => "io.k8s.api.core".to_string(),
            "apiextensions.k8s.io" => {
                "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions".to_string()
            }
            g => format!("io.k8s.api.{}", g.split('.').next().unwrap_or(g)),
        };
        format!("{pkg}.{}.{}", r.version, r.kind)
    } else {
        let reversed: Vec<&str> = r.group.split('.').rev().collect();
        format!("{}.{}.{}", reversed.join("."), r.version, r.kind)
    }
}

fn document(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let resources = registry.in_group_version(group, version);
    if resources.is_empty() {
        return None;
    }
    let mut schemas = Map::new();
    let mut paths = Map::new();
    schemas.insert(OBJECT_META.into(), builtin::object_meta_schema());
    for r in &resources {
        let name = component_name(r);
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let mut schema = r.schema_json.clone();
        if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert(
                "metadata".into(),
                json!({"allOf": [{"$ref": format!("#/components/schemas/{OBJECT_META}")}],
                       "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}),
            );
            props.entry("apiVersion").or_insert(json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
            props.entry("kind").or_insert(json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
        }
        schema["x-kubernetes-group-version-kind"] = json!([gvk.clone()]);
        schemas.insert(name.clone(), schema);
        let prefix = format!("/{}", doc_path(group, version));
        let item_path = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{prefix}/{}/{{name}}", r.plural)
        };
        let reference = json!({"$ref": format!("#/components/schemas/{name}")});
        let mut content = Map::new();
        for ct in [
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ] {
            content.insert(ct.into(), json!({"schema": {"type": "object"}}));
        }
        if r.builtin {
            content.insert(
                "application/strategic-merge-patch+json".into(),
                json!({"schema": {"type": "object"}}),
            );
        }
        let query = |n: &str, d: &str| json!({"name": n, "in": "query", "description": d, "schema": {"type": "string", "uniqueItems": true}});
        let mut params = vec![
            json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}}),
            query(
                "dryRun",
                "When present, indicates that modifications should not be persisted.",
            ),
            query(
                "fieldManager",
                "fieldManager is a name associated with the actor or entity that is making these changes.",
            ),
            query(
                "fieldValidation",
                "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.",
            ),
            json!({"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}),
        ];
        if r.namespaced {
            params.insert(1, json!({"name": "namespace", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}}));
        }
        let op = |action: &str, verb: &str| {
            json!({
                "operationId": format!("{verb}{}", r.kind),
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}},
            })
        };
        let mut patch = op("patch", "patch");
        patch["parameters"] = json!(params);
        patch["requestBody"] = json!({"content": content, "required": true});
        let mut get = op("get", "read");
        get["parameters"] = json!([params[0].clone()]);
        let mut put = op("put", "replace");
        put["parameters"] = json!(params[..params.len() - 1].to_vec());
        put["requestBody"] =
            json!({"content": {"application/json": {"schema": reference}}, "required": true});
        paths.insert(item_path, json!({"get": get, "put": put, "patch": patch}));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v{}.{}", crate::discovery::KUBE_MAJOR, crate::discovery::KUBE_MINOR)},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}
