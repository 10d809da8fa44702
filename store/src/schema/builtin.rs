//! Structural schemas of the built-in kinds the store serves (Namespace, Secret, ConfigMap,
//! ServiceAccount, Event, Lease, the four RBAC kinds, CustomResourceDefinition) and of the shared
//! ObjectMeta.
//!
//! Why it exists: built-in kinds are validated, pruned and merged by the same code as custom
//! resources, and `/openapi/v3` must describe them for `kubectl explain` and for clients that
//! validate against the server's schemas. The schemas come from k8s-openapi's `schemars` output
//! and are rewritten into the Kubernetes OpenAPI v3 form that [`Schema::from_json`] reads: `$ref`s
//! inlined, recursion (JSONSchemaProps) cut with `x-kubernetes-preserve-unknown-fields`, opaque
//! payloads (FieldsV1, RawExtension, JSON) preserved, and the list semantics Kubernetes declares
//! (`x-kubernetes-list-type`, map keys, strategic-merge keys) added. Everything is computed once.
//!
//! [`Schema::from_json`]: super::Schema::from_json

use std::collections::HashMap;
use std::sync::LazyLock;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use super::Schema;

/// The built-in kinds with a schema here, as (group, kind).
pub const BUILTIN_KINDS: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Secret"),
    ("", "ConfigMap"),
    ("", "ServiceAccount"),
    ("", "Event"),
    ("coordination.k8s.io", "Lease"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
];

/// The OpenAPI v3 schema (JSONSchemaProps form) of a built-in kind, or `None` for a kind not in
/// [`BUILTIN_KINDS`].
pub fn builtin_schema(group: &str, kind: &str) -> Option<Value> {
    SCHEMAS.get(&(group.to_string(), kind.to_string())).cloned()
}

/// The OpenAPI v3 schema of `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`.
pub fn object_meta_schema() -> Value {
    OBJECT_META_JSON.clone()
}

/// ObjectMeta as a parsed [`Schema`], for pruning and checking the metadata of every object.
pub fn object_meta() -> &'static Schema {
    &OBJECT_META
}

static OBJECT_META_JSON: LazyLock<Value> = LazyLock::new(generate::<ObjectMeta>);

static OBJECT_META: LazyLock<Schema> = LazyLock::new(|| {
    Schema::from_json(&OBJECT_META_JSON).expect("the ObjectMeta schema is structural")
});

static SCHEMAS: LazyLock<HashMap<(String, String), Value>> = LazyLock::new(|| {
    let mut m = HashMap::new();
    let mut put = |group: &str, kind: &str, schema: Value| {
        m.insert((group.to_string(), kind.to_string()), kind_root(schema));
    };
    put("", "Namespace", generate::<Namespace>());
    put("", "Secret", generate::<Secret>());
    put("", "ConfigMap", generate::<ConfigMap>());
    put("", "ServiceAccount", generate::<ServiceAccount>());
    put("", "Event", generate::<Event>());
    put("coordination.k8s.io", "Lease", generate::<Lease>());
    let rbac = "rbac.authorization.k8s.io";
    put(rbac, "Role", generate::<Role>());
    put(rbac, "RoleBinding", generate::<RoleBinding>());
    put(rbac, "ClusterRole", generate::<ClusterRole>());
    put(rbac, "ClusterRoleBinding", generate::<ClusterRoleBinding>());
    put(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        generate::<CustomResourceDefinition>(),
    );
    m
});

const JSON_SCHEMA_PROPS: &str =
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps";

/// Types whose content is free-form JSON: kept as they are, never pruned.
const OPAQUE: &[&str] = &[
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
];
/// Types that hold any JSON value, not only objects.
const ANY_VALUE: &[&str] = &["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON"];

/// How Kubernetes merges a list field (its `+listType`, `+listMapKey` and `+patchMergeKey`
/// markers), for the lists where that is not "atomic".
enum ListSemantics {
    /// `x-kubernetes-list-type: set`, merged by strategic merge patch.
    Set,
    /// `x-kubernetes-list-type: map` keyed by one field, which is also the strategic-merge key.
    Map(&'static str),
}

/// (schema name, property, semantics).
const LISTS: &[(&str, &str, ListSemantics)] = &[
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "finalizers",
        ListSemantics::Set,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "ownerReferences",
        ListSemantics::Map("uid"),
    ),
    (
        "io.k8s.api.core.v1.ServiceAccount",
        "secrets",
        ListSemantics::Map("name"),
    ),
    (
        "io.k8s.api.core.v1.NamespaceStatus",
        "conditions",
        ListSemantics::Map("type"),
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus",
        "conditions",
        ListSemantics::Map("type"),
    ),
];

/// Structs Kubernetes marks `+structType=atomic`: replaced as a whole by server-side apply.
const ATOMIC_STRUCTS: &[&str] = &[
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
];

/// The schema of `T` in Kubernetes OpenAPI v3 form.
fn generate<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut root = generator.into_root_schema_for::<T>().to_value();
    let mut defs = match root.as_object_mut().and_then(|o| o.remove("$defs")) {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    };
    for (name, def) in defs.iter_mut() {
        annotate(name, def);
    }
    let name = T::schema_name();
    annotate(&name, &mut root);
    let mut stack = vec![name.into_owned()];
    convert(&root, &defs, &mut stack)
}

/// Adds the Kubernetes markers of the named schema.
fn annotate(name: &str, schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if ATOMIC_STRUCTS.contains(&name) {
        obj.insert("x-kubernetes-map-type".into(), json!("atomic"));
    }
    for (owner, property, semantics) in LISTS {
        if *owner != name {
            continue;
        }
        let Some(prop) = obj
            .get_mut("properties")
            .and_then(|p| p.get_mut(*property))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        prop.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
        match semantics {
            ListSemantics::Set => {
                prop.insert("x-kubernetes-list-type".into(), json!("set"));
            }
            ListSemantics::Map(key) => {
                prop.insert("x-kubernetes-list-type".into(), json!("map"));
                prop.insert("x-kubernetes-list-map-keys".into(), json!([key]));
                prop.insert("x-kubernetes-patch-merge-key".into(), json!(key));
            }
        }
    }
}

/// The root of a kind's schema: metadata is set by the server when absent, so it is not required
/// (k8s-openapi lists it as required because its Rust field is not optional).
fn kind_root(mut schema: Value) -> Value {
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("type".into(), json!("object"));
        let drop_required = match obj.get_mut("required").and_then(Value::as_array_mut) {
            Some(req) => {
                req.retain(|r| r != "metadata");
                req.is_empty()
            }
            None => false,
        };
        if drop_required {
            obj.remove("required");
        }
    }
    schema
}

fn def_name(reference: &str) -> Option<&str> {
    reference
        .strip_prefix("#/$defs/")
        .or_else(|| reference.strip_prefix("#/definitions/"))
        .or_else(|| reference.strip_prefix("#/components/schemas/"))
}

fn preserved(description: Option<&Value>, typed_object: bool) -> Value {
    let mut m = Map::new();
    if let Some(d) = description {
        m.insert("description".into(), d.clone());
    }
    if typed_object {
        m.insert("type".into(), json!("object"));
    }
    m.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
    Value::Object(m)
}

/// Rewrites one schemars node into JSONSchemaProps form (see the module doc).
fn convert(node: &Value, defs: &Map<String, Value>, stack: &mut Vec<String>) -> Value {
    let obj = match node {
        Value::Object(obj) => obj,
        // `true` admits anything; `false` cannot occur in these types.
        _ => return preserved(None, false),
    };
    if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
        let name = def_name(reference).unwrap_or(reference).to_string();
        let target = defs.get(&name);
        let description = obj
            .get("description")
            .or_else(|| target.and_then(|t| t.get("description")));
        if name == JSON_SCHEMA_PROPS || OPAQUE.contains(&name.as_str()) || stack.contains(&name) {
            return preserved(description, true);
        }
        if ANY_VALUE.contains(&name.as_str()) {
            return preserved(description, false);
        }
        let Some(target) = target else {
            return preserved(description, false);
        };
        stack.push(name);
        let mut out = convert(target, defs, stack);
        stack.pop();
        // Siblings of `$ref` (k8s-openapi puts the field's description there) override.
        let siblings: Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| *k != "$ref")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Value::Object(out) = &mut out {
            for (k, v) in convert(&Value::Object(siblings), defs, stack)
                .as_object()
                .into_iter()
                .flatten()
            {
                out.insert(k.clone(), v.clone());
            }
        }
        return out;
    }
    for combinator in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(parts)) = obj.get(combinator) {
            if combinator == "allOf" && parts.len() == 1 {
                let mut merged = obj.clone();
                merged.remove("allOf");
                let mut base = convert(&parts[0], defs, stack);
                if let (Value::Object(base), Value::Object(rest)) =
                    (&mut base, convert(&Value::Object(merged), defs, stack))
                {
                    base.extend(rest);
                }
                return base;
            }
            // Not structural: accept anything there.
            return preserved(obj.get("description"), false);
        }
    }
    let mut out = Map::new();
    for (k, v) in obj {
        match k.as_str() {
            "$schema" | "$defs" | "definitions" | "$id" | "title" | "$comment" | "examples" => {}
            "type" => match v {
                Value::Array(types) => {
                    let non_null: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
                    if non_null.len() == 1 {
                        out.insert("type".into(), non_null[0].clone());
                    }
                    if non_null.len() < types.len() {
                        out.insert("nullable".into(), json!(true));
                    }
                }
                other => {
                    out.insert("type".into(), other.clone());
                }
            },
            "properties" => {
                let props = v
                    .as_object()
                    .map(|p| {
                        p.iter()
                            .map(|(name, s)| (name.clone(), convert(s, defs, stack)))
                            .collect::<Map<String, Value>>()
                    })
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Object(props));
            }
            "items" => {
                out.insert(k.clone(), convert(v, defs, stack));
            }
            "additionalProperties" => match v {
                Value::Bool(false) => {}
                other => {
                    out.insert(k.clone(), convert(other, defs, stack));
                }
            },
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if out.get("type").and_then(Value::as_str) == Some("array")
        && !out.contains_key("x-kubernetes-list-type")
    {
        out.insert("x-kubernetes-list-type".into(), json!("atomic"));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests;
