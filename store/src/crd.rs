//! CustomResourceDefinitions: checking a CRD before it is stored, the status the server owns
//! (NamesAccepted, Established, storedVersions), and turning a stored CRD into served resources.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::admission::{self, meta_str};
use crate::errors::{ApiError, ApiResult, Cause};
use crate::registry::{Registry, Resource, ScalePaths};
use crate::schema::Schema;
use crate::table;

/// Deleting a CRD first deletes every object of it; this finalizer holds the CRD until then.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn is_crd(res: &Resource) -> bool {
    res.group == "apiextensions.k8s.io" && res.plural == "customresourcedefinitions"
}

fn cause(field: &str, reason: &str, message: impl Into<String>) -> Cause {
    Cause {
        reason: reason.into(),
        message: message.into(),
        field: field.into(),
    }
}

/// Checks a CRD and sets the status the server owns. A no-op for other kinds.
pub fn prepare(res: &Resource, old: Option<&Value>, crd: &mut Value) -> ApiResult<()> {
    if !is_crd(res) {
        return Ok(());
    }
    let name = meta_str(crd, "name").unwrap_or("").to_string();
    let mut causes = Vec::new();
    let spec = crd.get("spec").cloned().unwrap_or(json!({}));
    let group = spec.get("group").and_then(Value::as_str).unwrap_or("");
    let plural = spec
        .pointer("/names/plural")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = spec
        .pointer("/names/kind")
        .and_then(Value::as_str)
        .unwrap_or("");
    if group.is_empty() || !group.contains('.') {
        causes.push(cause(
            "spec.group",
            "FieldValueInvalid",
            format!("Invalid value: {group:?}: should be a domain with at least one dot"),
        ));
    }
    if plural.is_empty() {
        causes.push(cause(
            "spec.names.plural",
            "FieldValueRequired",
            "Required value",
        ));
    }
    if kind.is_empty() {
        causes.push(cause(
            "spec.names.kind",
            "FieldValueRequired",
            "Required value",
        ));
    }
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        causes.push(cause(
            "metadata.name",
            "FieldValueInvalid",
            format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    match spec.get("scope").and_then(Value::as_str) {
        Some("Namespaced" | "Cluster") => {}
        other => causes.push(cause(
            "spec.scope",
            "FieldValueNotSupported",
            format!("Unsupported value: {other:?}: supported values: \"Cluster\", \"Namespaced\""),
        )),
    }
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(cause(
            "spec.versions",
            "FieldValueRequired",
            "Required value: must have exactly one version marked as storage version",
        ));
    }
    let storage: Vec<&str> = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .collect();
    if !versions.is_empty() && storage.len() != 1 {
        causes.push(cause(
            "spec.versions",
            "FieldValueInvalid",
            "Invalid value: must have exactly one version marked as storage version",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if let Some(schema) = v.pointer("/schema/openAPIV3Schema")
            && let Err(e) = Schema::from_json(schema)
        {
            causes.push(cause(
                &format!("spec.versions[{i}].schema.openAPIV3Schema.{}", e.path),
                "FieldValueInvalid",
                e.message,
            ));
        }
        if let Some(cols) = v.get("additionalPrinterColumns")
            && let Err(e) = table::columns_for_crd(cols)
        {
            causes.push(cause(
                &format!("spec.versions[{i}].additionalPrinterColumns"),
                "FieldValueInvalid",
                e.to_string(),
            ));
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(&res.group, &res.kind, &name, causes));
    }
    if old.is_none() {
        let mut f = admission::finalizers(crd);
        if !f.iter().any(|x| x == CLEANUP_FINALIZER) {
            f.push(CLEANUP_FINALIZER.into());
        }
        admission::meta_mut(crd).insert("finalizers".into(), json!(f));
    }
    let mut stored: Vec<String> = old
        .and_then(|o| o.pointer("/status/storedVersions"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    for s in storage {
        if !stored.iter().any(|x| x == s) {
            stored.push(s.to_string());
        }
    }
    let now = admission::now();
    let terminating = crd.pointer("/metadata/deletionTimestamp").is_some();
    crd["status"] = json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": if terminating { "False" } else { "True" },
             "reason": if terminating { "Terminating" } else { "InitialNamesAccepted" },
             "message": if terminating { "the CRD is being deleted" } else { "the initial names have been accepted" },
             "lastTransitionTime": now},
        ],
        "acceptedNames": spec.get("names").cloned().unwrap_or(json!({})),
        "storedVersions": stored,
    });
    Ok(())
}

/// Registers the served versions of CRD `name` as stored now (`None`: it is gone).
pub fn sync(registry: &Registry, name: &str, crd: Option<&Value>) {
    match crd.map(resources) {
        Some(Ok(list)) => registry.set_crd(name, list),
        Some(Err(e)) => {
            tracing::error!(crd = name, error = %e, "stored CRD cannot be served");
            registry.remove_crd(name);
        }
        None => registry.remove_crd(name),
    }
}

/// The resources a CRD serves, one per served version.
pub fn resources(crd: &Value) -> Result<Vec<Resource>, String> {
    let spec = crd.get("spec").ok_or("no spec")?;
    let s = |p: &str| {
        spec.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let group = s("/group");
    let plural = s("/names/plural");
    let kind = s("/names/kind");
    let singular = Some(s("/names/singular"))
        .filter(|x| !x.is_empty())
        .unwrap_or_else(|| kind.to_lowercase());
    let list_kind = Some(s("/names/listKind"))
        .filter(|x| !x.is_empty())
        .unwrap_or_else(|| format!("{kind}List"));
    let strings = |p: &str| -> Vec<String> {
        spec.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let storage: Arc<str> = Arc::from(format!("{group}/{plural}"));
    let mut out = Vec::new();
    for v in spec
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let version = v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let schema_json = v
            .pointer("/schema/openAPIV3Schema")
            .cloned()
            .unwrap_or(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
        let schema = Schema::from_json(&schema_json).map_err(|e| e.to_string())?;
        let columns =
            table::columns_for_crd(v.get("additionalPrinterColumns").unwrap_or(&json!([])))
                .map_err(|e| e.to_string())?;
        let scale = v.pointer("/subresources/scale").map(|sc| ScalePaths {
            spec_replicas: sc
                .get("specReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".spec.replicas")
                .to_string(),
            status_replicas: sc
                .get("statusReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".status.replicas")
                .to_string(),
            label_selector: sc
                .get("labelSelectorPath")
                .and_then(Value::as_str)
                .map(String::from),
        });
        out.push(Resource {
            group: group.clone(),
            version,
            plural: plural.clone(),
            singular: singular.clone(),
            kind: kind.clone(),
            list_kind: list_kind.clone(),
            namespaced: s("/scope") == "Namespaced",
            short_names: strings("/names/shortNames"),
            categories: strings("/names/categories"),
            status: v.pointer("/subresources/status").is_some(),
            scale,
            schema,
            schema_json,
            columns,
            builtin: false,
            storage: storage.clone(),
        });
    }
    Ok(out)
}
