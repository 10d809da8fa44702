//! The CustomResourceDefinitions of strata.io/v1alpha1, and their YAML.
//!
//! Why it exists: the CRDs are generated from the Rust types (whose doc comments become the
//! schema descriptions), never written by hand. The embedded store installs [`all`] at start;
//! `strata crds` prints [`to_yaml`] for `kubectl apply -f -`; `strata crds --write
//! manifests/crds` calls [`write_dir`] to refresh the checked-in copies that the Helm chart and
//! GitOps users apply, and `api/tests/crds_drift.rs` fails when those copies are stale.
//!
//! The only I/O in this crate is [`write_dir`] and [`diff_dir`], for that generator.

use std::fs;
use std::io;
use std::path::Path;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::{Agent, App, Framework, Offer, ResourceRole, Rollout, Task};

/// Header of every generated file.
const HEADER: &str = "# Generated from the types in strata-api (api/src); do not edit by hand.\n\
                      # Regenerate with: cargo run -p strata -- crds --write manifests/crds\n";

/// Every CRD of strata.io/v1alpha1, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        Agent::crd(),
        Framework::crd(),
        Offer::crd(),
        Task::crd(),
        App::crd(),
        Rollout::crd(),
        ResourceRole::crd(),
    ]
}

/// One CRD as a YAML document (no `---`).
pub fn crd_yaml(crd: &CustomResourceDefinition) -> String {
    serde_saphyr::to_string(crd).expect("a CustomResourceDefinition serializes to YAML")
}

/// The CRDs as one multi-document YAML stream, each document starting with `---`, ready for
/// `kubectl apply -f -`.
pub fn to_yaml(crds: &[CustomResourceDefinition]) -> String {
    crds.iter()
        .map(|crd| format!("---\n{}", crd_yaml(crd)))
        .collect()
}

/// The file a CRD is written to: `<plural>.<group>.yaml`, i.e. its name plus `.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or_default())
}

/// Every generated file as `(file name, contents)`.
pub fn files() -> Vec<(String, String)> {
    all()
        .iter()
        .map(|crd| (file_name(crd), format!("{HEADER}{}", crd_yaml(crd))))
        .collect()
}

/// Whether `name` looks like a file this generator owns.
fn is_generated_name(name: &str) -> bool {
    name.ends_with(&format!(".{}.yaml", crate::GROUP))
}

/// Writes one file per CRD into `dir` (created if missing), and removes generated files of
/// CRDs that no longer exist. Files are only rewritten when their contents change.
pub fn write_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let files = files();
    for (name, contents) in &files {
        let path = dir.join(name);
        if fs::read_to_string(&path).ok().as_deref() != Some(contents.as_str()) {
            fs::write(&path, contents)?;
        }
    }
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if is_generated_name(&name) && !files.iter().any(|(n, _)| *n == name) {
            fs::remove_file(dir.join(&name))?;
        }
    }
    Ok(())
}

/// How the files in `dir` differ from freshly generated ones: one line per missing, changed or
/// stale file; empty when they match. Reads only.
pub fn diff_dir(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let files = files();
    for (name, contents) in &files {
        match fs::read_to_string(dir.join(name)) {
            Ok(existing) if existing == *contents => {}
            Ok(existing) => out.push(format!(
                "{name}: differs from the types{}",
                first_difference(&existing, contents)
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => out.push(format!("{name}: missing")),
            Err(e) => return Err(e),
        }
    }
    if dir.exists() {
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if is_generated_name(&name) && !files.iter().any(|(n, _)| *n == name) {
                out.push(format!("{name}: no longer generated (stale)"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// ` (first at line N: "found" vs "expected")` for two texts that differ.
fn first_difference(found: &str, expected: &str) -> String {
    let mut found_lines = found.lines();
    let mut expected_lines = expected.lines();
    for line in 1.. {
        match (found_lines.next(), expected_lines.next()) {
            (Some(f), Some(e)) if f == e => continue,
            (None, None) => return String::new(),
            (f, e) => {
                return format!(
                    " (first at line {line}: found {:?}, expected {:?})",
                    f.unwrap_or("<end of file>"),
                    e.unwrap_or("<end of file>")
                );
            }
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;

    fn crd(kind: &str) -> CustomResourceDefinition {
        all()
            .into_iter()
            .find(|c| c.spec.names.kind == kind)
            .unwrap()
    }

    fn schema(kind: &str) -> JSONSchemaProps {
        crd(kind).spec.versions[0]
            .schema
            .clone()
            .unwrap()
            .open_api_v3_schema
            .unwrap()
    }

    /// Walks a schema, calling `f(path, node)` on every node.
    fn walk(path: &str, s: &JSONSchemaProps, f: &mut dyn FnMut(&str, &JSONSchemaProps)) {
        f(path, s);
        for (name, p) in s.properties.iter().flatten() {
            walk(&format!("{path}.{name}"), p, f);
        }
        if let Some(k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schema(items)) =
            &s.items
        {
            walk(&format!("{path}[]"), items, f);
        }
        if let Some(k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrBool::Schema(extra)) =
            &s.additional_properties
        {
            walk(&format!("{path}{{}}"), extra, f);
        }
    }

    #[test]
    fn names_scopes_and_short_names() {
        let summary: Vec<_> = all()
            .iter()
            .map(|c| {
                (
                    c.metadata.name.clone().unwrap(),
                    c.spec.scope.clone(),
                    c.spec.names.short_names.clone().unwrap(),
                    c.spec.names.categories.clone().unwrap(),
                )
            })
            .collect();
        let strata = vec!["strata".to_string()];
        assert_eq!(
            summary,
            [
                (
                    "agents.strata.io".into(),
                    "Cluster".into(),
                    vec!["agt".into()],
                    strata.clone()
                ),
                (
                    "frameworks.strata.io".into(),
                    "Namespaced".into(),
                    vec!["fw".into()],
                    strata.clone()
                ),
                (
                    "offers.strata.io".into(),
                    "Namespaced".into(),
                    vec!["ofr".into()],
                    strata.clone()
                ),
                (
                    "tasks.strata.io".into(),
                    "Namespaced".into(),
                    vec!["tsk".into()],
                    strata.clone()
                ),
                (
                    "apps.strata.io".into(),
                    "Namespaced".into(),
                    vec!["mapp".into()],
                    strata.clone()
                ),
                (
                    "rollouts.strata.io".into(),
                    "Namespaced".into(),
                    vec!["mdep".into()],
                    strata.clone()
                ),
                (
                    "resourceroles.strata.io".into(),
                    "Cluster".into(),
                    vec!["rrole".into()],
                    strata
                ),
            ]
        );
    }

    #[test]
    fn short_names_do_not_collide_with_core_kinds() {
        const CORE: &[&str] = &[
            "cm", "cs", "ds", "deploy", "ep", "ev", "hpa", "ing", "limits", "netpol", "no", "ns",
            "pdb", "po", "pc", "pv", "pvc", "quota", "rc", "rs", "sa", "sc", "sts", "svc", "cj",
            "csr", "crd", "crds", "job", "app", "apps", "ro", "wf",
        ];
        for c in all() {
            for short in c.spec.names.short_names.unwrap() {
                assert!(!CORE.contains(&short.as_str()), "{short} collides");
            }
        }
    }

    #[test]
    fn every_crd_has_status_and_every_field_a_description() {
        for c in all() {
            let kind = c.spec.names.kind.clone();
            let version = &c.spec.versions[0];
            assert!(
                version.subresources.as_ref().unwrap().status.is_some(),
                "{kind} status"
            );
            assert!(version.served && version.storage);
            walk(&kind, &schema(&kind), &mut |path, node| {
                assert!(node.type_.is_some(), "{path} has no type");
                assert!(
                    node.any_of.is_none() && node.one_of.is_none() && node.all_of.is_none(),
                    "{path}: combinator"
                );
                assert!(node.ref_path.is_none(), "{path}: $ref");
                let top_level = ["apiVersion", "kind", "metadata"]
                    .iter()
                    .any(|f| path == format!("{kind}.{f}"));
                let element = path.ends_with("[]") || path.ends_with("{}") || path == kind;
                if !top_level && !element {
                    assert!(
                        node.description.as_deref().is_some_and(|d| !d.is_empty()),
                        "{path} has no description"
                    );
                }
            });
        }
    }

    #[test]
    fn optional_enums_keep_the_field_description() {
        let status = |kind: &str| {
            schema(kind).properties.unwrap()["status"]
                .properties
                .clone()
                .unwrap()
        };
        let state = &status("Task")["state"];
        assert!(
            state
                .description
                .as_deref()
                .unwrap()
                .starts_with("Mesos task state: Staging"),
            "{state:?}"
        );
        assert_eq!(state.enum_.as_ref().unwrap().len(), 12);
        assert_eq!(state.nullable, Some(true));
        assert!(
            status("App")["phase"]
                .description
                .as_deref()
                .unwrap()
                .starts_with("The \"Status\" column")
        );
    }

    #[test]
    fn cpus_are_numbers_and_defaults_are_marathons() {
        let app = schema("App");
        let spec = &app.properties.as_ref().unwrap()["spec"];
        let props = spec.properties.as_ref().unwrap();
        assert_eq!(props["cpus"].type_.as_deref(), Some("number"));
        let default = |name: &str| props[name].default.clone().map(|d| d.0).unwrap();
        assert_eq!(default("cpus"), serde_json::json!(1));
        assert_eq!(default("mem"), serde_json::json!(128));
        assert_eq!(default("disk"), serde_json::json!(0));
        assert_eq!(default("gpus"), serde_json::json!(0));
        assert_eq!(default("instances"), serde_json::json!(1));
        assert_eq!(default("backoffSeconds"), serde_json::json!(1));
        assert_eq!(default("backoffFactor"), serde_json::json!(1.15));
        assert_eq!(default("maxLaunchDelaySeconds"), serde_json::json!(300));
        assert_eq!(
            default("killSelection"),
            serde_json::json!("YOUNGEST_FIRST")
        );
        assert_eq!(
            default("upgradeStrategy"),
            serde_json::json!({"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0})
        );
        let hc = props["healthChecks"].items.clone().unwrap();
        let k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schema(hc) = hc else {
            panic!("healthChecks items")
        };
        let hc = hc.properties.unwrap();
        for (name, value) in [
            ("gracePeriodSeconds", 300),
            ("intervalSeconds", 60),
            ("timeoutSeconds", 20),
            ("maxConsecutiveFailures", 3),
            ("delaySeconds", 15),
        ] {
            assert_eq!(
                hc[name].default.clone().unwrap().0,
                serde_json::json!(value),
                "{name}"
            );
        }
        assert_eq!(hc["protocol"].enum_.clone().unwrap().len(), 4);
    }

    #[test]
    fn app_has_the_scale_subresource_and_marathon_columns() {
        let c = crd("App");
        let v = &c.spec.versions[0];
        let scale = v.subresources.as_ref().unwrap().scale.clone().unwrap();
        assert_eq!(scale.spec_replicas_path, ".spec.instances");
        assert_eq!(scale.status_replicas_path, ".status.instances");
        assert_eq!(
            scale.label_selector_path.as_deref(),
            Some(".status.selector")
        );
        let columns: Vec<_> = v
            .additional_printer_columns
            .clone()
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(
            columns,
            [
                "ID",
                "Memory (MB)",
                "CPUs",
                "Tasks / Instances",
                "Health",
                "Status",
                "Age"
            ]
        );
    }

    #[test]
    fn list_map_keys_are_required_or_defaulted() {
        for c in all() {
            let kind = c.spec.names.kind.clone();
            let mut seen = 0;
            walk(&kind, &schema(&kind), &mut |path, node| {
                if node.x_kubernetes_list_type.as_deref() != Some("map") {
                    return;
                }
                seen += 1;
                let Some(k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schema(
                    item,
                )) = &node.items
                else {
                    panic!("{path}: no items")
                };
                for key in node.x_kubernetes_list_map_keys.clone().unwrap() {
                    let required = item.required.iter().flatten().any(|r| *r == key);
                    let defaulted = item.properties.as_ref().unwrap()[&key].default.is_some();
                    assert!(
                        required || defaulted,
                        "{path}: map key {key} must be required or defaulted"
                    );
                }
            });
            assert!(seen >= 1, "{kind}: conditions are a list map");
        }
    }

    #[test]
    fn yaml_stream_has_one_document_per_crd() {
        let yaml = to_yaml(&all());
        assert_eq!(yaml.matches("---\n").count(), all().len());
        let docs: Vec<CustomResourceDefinition> = serde_saphyr::from_multiple(&yaml).unwrap();
        assert_eq!(docs, all());
        assert!(files().iter().all(
            |(name, text)| name.ends_with(".strata.io.yaml") && text.starts_with("# Generated")
        ));
    }

    #[test]
    fn write_then_diff_is_clean_and_stale_files_go() {
        let dir = std::env::temp_dir().join(format!("strata-crds-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(diff_dir(&dir).unwrap().len(), all().len(), "all missing");
        write_dir(&dir).unwrap();
        fs::write(dir.join("old.strata.io.yaml"), "x").unwrap();
        fs::write(dir.join("README.md"), "kept").unwrap();
        fs::write(dir.join("apps.strata.io.yaml"), "changed\n").unwrap();
        let diff = diff_dir(&dir).unwrap();
        assert_eq!(diff.len(), 2, "{diff:?}");
        assert!(
            diff[0].starts_with("apps.strata.io.yaml: differs from the types (first at line 1"),
            "{diff:?}"
        );
        assert_eq!(diff[1], "old.strata.io.yaml: no longer generated (stale)");
        write_dir(&dir).unwrap();
        assert!(diff_dir(&dir).unwrap().is_empty());
        assert!(dir.join("README.md").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
