//! Admission of strata's own kinds: the rules of `strata_api` that the CRD schema cannot express,
//! checked on every write of the main resource, so an invalid App is refused with a 422 instead
//! of being stored and then reported by a controller's `InvalidSpec` condition.
//!
//! Why it exists: on a real kube-apiserver these rules would be the CRD's `x-kubernetes-validations`
//! (CEL), evaluated with the schema. The embedded store does not evaluate CEL, so it runs the
//! same rules from their source of truth, [`AppSpec::validate`], and answers as kube-apiserver
//! answers a CEL failure: Status 422 `Invalid`, one cause per problem with its field path
//! (`spec.args`, `spec.constraints[0].value`) and what to fix, which kubectl prints as
//! `The App "web" is invalid: spec.args: Invalid value: "array": set cmd or args, not both`.
//!
//! The checks run after schema validation (defaults applied, types known), and, like
//! kube-apiserver's validation ratcheting, they judge only what a write changes: an update that
//! leaves the spec as stored (finalizers, labels, the status) is not refused for a problem the
//! stored App already has, so an App stored before a rule existed can still be edited and
//! deleted. The name, which an update cannot change, is checked on create.
//!
//! What it must never do: validate the status subresource (controllers write status, whatever
//! the spec), or change the object it judges.

use serde::Deserialize;
use serde_json::Value;
use strata_api::app::AppSpec;

use crate::admission::meta_str;
use crate::errors::{ApiError, ApiResult, Cause};
use crate::registry::Resource;
use crate::schema::FieldError;

const GROUP: &str = "strata.io";
const VERSION: &str = "v1alpha1";

/// Longest App name: the App's tasks carry it in the `strata.io/app` label, whose values are at
/// most 63 characters.
pub const MAX_APP_NAME: usize = 63;

/// Checks a write of `new` (over `old`, when it updates a stored object) to `subresource`; a
/// no-op for kinds without such rules and for the status subresource.
pub fn validate(
    res: &Resource,
    old: Option<&Value>,
    new: &Value,
    subresource: Option<&str>,
) -> ApiResult<()> {
    if subresource == Some("status") || res.group != GROUP || res.version != VERSION {
        return Ok(());
    }
    let errors = match res.kind.as_str() {
        "App" => app_errors(old, new),
        _ => Vec::new(),
    };
    if errors.is_empty() {
        return Ok(());
    }
    let name = meta_str(new, "name").unwrap_or("");
    let causes = errors
        .into_iter()
        .map(|e| Cause {
            reason: e.reason.to_string(),
            message: e.message,
            field: e.field,
        })
        .collect();
    Err(ApiError::invalid(&res.group, &res.kind, name, causes))
}

/// The problems of an App, in field order: its name (on create), then its spec (when the write
/// changes it).
fn app_errors(old: Option<&Value>, new: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if old.is_none() {
        let name = meta_str(new, "name").unwrap_or("");
        if name.len() > MAX_APP_NAME {
            errors.push(FieldError::invalid(
                "metadata.name",
                &Value::String(name.to_string()),
                &format!(
                    "an App name is at most {MAX_APP_NAME} characters (its tasks carry it in the \
                     {} label); shorten it",
                    strata_api::labels::APP
                ),
            ));
        }
    }
    let empty = Value::Object(Default::default());
    let spec = new.get("spec").unwrap_or(&empty);
    if old.is_some_and(|old| old.get("spec").unwrap_or(&empty) == spec) {
        return errors;
    }
    match AppSpec::deserialize(spec) {
        Ok(app) => {
            if let Err(invalid) = app.validate() {
                errors.extend(
                    invalid
                        .0
                        .into_iter()
                        .map(|e| field_error(new, e.field, &e.message)),
                );
            }
        }
        Err(e) => errors.push(FieldError::invalid(
            "spec",
            &Value::String("object".into()),
            &format!("cannot be read as an App spec: {e}"),
        )),
    }
    errors
}

/// A rule's failure as kube-apiserver words it: `Required value: <message>` for a field that is
/// not set, else `Invalid value: <value>: <message>`, where a list or object is shown by its
/// type (`"array"`, `"object"`), as a CEL failure shows it.
fn field_error(object: &Value, field: String, message: &str) -> FieldError {
    match lookup(object, &field) {
        None | Some(Value::Null) => FieldError::required(field, message),
        Some(Value::Array(_)) => FieldError::invalid(field, &Value::from("array"), message),
        Some(Value::Object(_)) => FieldError::invalid(field, &Value::from("object"), message),
        Some(scalar) => FieldError::invalid(field, scalar, message),
    }
}

/// The value at a field path such as `spec.constraints[0].value`, if it is set.
fn lookup<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    let mut here = object;
    for step in path.split('.') {
        let (key, indexes) = step.split_once('[').unwrap_or((step, ""));
        here = here.get(key)?;
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            here = here.get(index.strip_suffix(']')?.parse::<usize>().ok()?)?;
        }
    }
    Some(here)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn resource(plural: &str) -> Arc<Resource> {
        let registry = crate::registry::Registry::default();
        for crd in strata_api::crds::all() {
            let v = serde_json::to_value(&crd).unwrap();
            crate::crd::sync(&registry, crd.metadata.name.as_deref().unwrap(), Some(&v));
        }
        registry.get(GROUP, VERSION, plural).expect("strata CRD")
    }

    fn app(name: &str, spec: Value) -> Value {
        json!({"apiVersion": "strata.io/v1alpha1", "kind": "App",
               "metadata": {"name": name, "namespace": "default"}, "spec": spec})
    }

    fn causes(e: &ApiError) -> Vec<(String, String)> {
        e.details
            .causes
            .iter()
            .map(|c| (c.field.clone(), c.message.clone()))
            .collect()
    }

    #[test]
    fn an_app_with_cmd_and_args_is_invalid_at_spec_args() {
        let apps = resource("apps");
        let bad = app("web", json!({"cmd": "sleep 1", "args": ["sleep", "1"]}));
        let e = validate(&apps, None, &bad, None).unwrap_err();
        assert_eq!(e.code, http::StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.reason, "Invalid");
        assert_eq!(
            e.message,
            "App.strata.io \"web\" is invalid: spec.args: Invalid value: \"array\": set cmd or \
             args, not both"
        );
        assert_eq!(e.details.kind.as_deref(), Some("App"));
        assert_eq!(e.details.group.as_deref(), Some("strata.io"));
        assert_eq!(e.details.causes[0].reason, "FieldValueInvalid");
        let ok = app("web", json!({"cmd": "sleep 1"}));
        assert!(validate(&apps, None, &ok, None).is_ok());
    }

    #[test]
    fn every_problem_is_a_cause_with_its_path() {
        let apps = resource("apps");
        let bad = app(
            "web",
            json!({"cmd": "sleep 1", "constraints": [
                {"field": "@hostname", "operator": "LIKE"},
                {"field": "rack", "operator": "MAX_PER", "value": "two"},
            ]}),
        );
        let e = validate(&apps, None, &bad, None).unwrap_err();
        let got = causes(&e);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, "spec.constraints[0].value");
        assert!(got[0].1.starts_with("Required value: "), "{got:?}");
        assert_eq!(got[1].0, "spec.constraints[1].value");
        assert!(got[1].1.starts_with("Invalid value: \"two\": "), "{got:?}");
        assert_eq!(e.details.causes[0].reason, "FieldValueRequired");
    }

    #[test]
    fn a_name_longer_than_a_label_value_is_refused_on_create() {
        let apps = resource("apps");
        let long = "a".repeat(64);
        let e = validate(&apps, None, &app(&long, json!({"cmd": "x"})), None).unwrap_err();
        assert_eq!(causes(&e)[0].0, "metadata.name");
        assert!(
            causes(&e)[0]
                .1
                .ends_with("an App name is at most 63 characters (its tasks carry it in the strata.io/app label); shorten it"),
            "{e:?}"
        );
        let fits = "a".repeat(63);
        assert!(validate(&apps, None, &app(&fits, json!({"cmd": "x"})), None).is_ok());
    }

    #[test]
    fn updates_are_judged_on_what_they_change() {
        let apps = resource("apps");
        let valid = app("web", json!({"cmd": "sleep 1"}));
        let invalid = app("web", json!({"cmd": "sleep 1", "args": ["x"]}));
        let e = validate(&apps, Some(&valid), &invalid, None).unwrap_err();
        assert_eq!(causes(&e)[0].0, "spec.args");
        // The scale subresource writes the main resource: judged the same way.
        let mut scaled = invalid.clone();
        scaled["spec"]["instances"] = json!(3);
        assert!(validate(&apps, Some(&invalid), &scaled, None).is_err());
        // A stored problem does not block a write that leaves the spec alone.
        let mut labelled = invalid.clone();
        labelled["metadata"]["labels"] = json!({"team": "a"});
        assert!(validate(&apps, Some(&invalid), &labelled, None).is_ok());
        // Controllers write status whatever the spec.
        let mut status = scaled.clone();
        status["status"] = json!({"instances": 1});
        assert!(validate(&apps, Some(&valid), &status, Some("status")).is_ok());
    }

    #[test]
    fn other_kinds_are_not_judged_here() {
        let tasks = resource("tasks");
        let anything = json!({"metadata": {"name": "a".repeat(100)}, "spec": {}});
        assert!(validate(&tasks, None, &anything, None).is_ok());
    }

    #[test]
    fn field_paths_find_nested_values() {
        let v = json!({"spec": {"a": [{"b": 1}, {"c": [5, 6]}]}});
        assert_eq!(lookup(&v, "spec.a[0].b"), Some(&json!(1)));
        assert_eq!(lookup(&v, "spec.a[1].c[1]"), Some(&json!(6)));
        assert_eq!(lookup(&v, "spec.a[2].b"), None);
        assert_eq!(lookup(&v, "spec.x"), None);
    }
}
