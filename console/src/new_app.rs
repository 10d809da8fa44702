//! The New App page: a form for the common fields and an editor for a whole App manifest
//! (YAML or JSON), both validated by the store.
//!
//! Why it exists: Marathon's "Create Application" dialog. The console does not validate an app
//! itself — the store does (schema, then strata's own rules), with the user's own client — and
//! its 422 answer names each problem's field (`spec.cpus`), which the page shows next to that
//! field. Only what the console must parse (a number, the manifest's syntax) it checks itself.
//! Nothing is stored unless the store accepts the whole App.

use std::collections::BTreeMap;

use axum::Form;
use axum::Router;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::StatusCode;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, PostParams};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use strata_api::App;
use strata_controllers::marathon::ids;

use crate::Console;
use crate::app_page::MANAGER;
use crate::error::AppError;
use crate::layout::{self, Nav};
use crate::session::User;

/// `GET /apps/new` and `POST /apps/new`.
pub fn routes() -> Router<Console> {
    Router::new().route("/apps/new", get(new_page).post(create))
}

/// What the form posts: every field as typed (numbers are checked here, the rest by the
/// store). `manifest` set means the editor was used instead.
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(default)]
pub struct NewAppForm {
    pub namespace: String,
    pub name: String,
    pub id: String,
    pub cmd: String,
    pub image: String,
    pub cpus: String,
    pub mem: String,
    pub disk: String,
    pub instances: String,
    pub ports: String,
    pub env: String,
    pub manifest: Option<String>,
}

impl NewAppForm {
    fn blank() -> NewAppForm {
        NewAppForm {
            namespace: "default".into(),
            cpus: "0.1".into(),
            mem: "32".into(),
            disk: "0".into(),
            instances: "1".into(),
            ..NewAppForm::default()
        }
    }
}

/// The form's inputs: (input name, label, the spec field paths whose errors show beside it).
const FIELDS: [(&str, &str, &[&str]); 11] = [
    ("namespace", "Namespace", &["metadata.namespace"]),
    ("name", "Name", &["metadata.name"]),
    (
        "id",
        "Marathon id (optional, e.g. /prod/web/kibana)",
        &["metadata.annotations"],
    ),
    ("cmd", "Command", &["spec.cmd", "spec.args"]),
    ("image", "Docker image (optional)", &["spec.container"]),
    ("cpus", "CPUs", &["spec.cpus"]),
    ("mem", "Memory (MB)", &["spec.mem"]),
    ("disk", "Disk (MB)", &["spec.disk"]),
    ("instances", "Instances", &["spec.instances"]),
    (
        "ports",
        "Ports (comma-separated; 0 for any)",
        &["spec.portDefinitions"],
    ),
    ("env", "Environment (KEY=VALUE, one a line)", &["spec.env"]),
];

/// A problem with the app, at a field path (`spec.cpus`) when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: Option<String>,
    pub message: String,
}

/// The input a field path's error shows beside, if any.
fn input_of(field: &str) -> Option<&'static str> {
    FIELDS.iter().find_map(|(input, _, paths)| {
        paths
            .iter()
            .any(|p| {
                field == *p
                    || field.starts_with(&format!("{p}."))
                    || field.starts_with(&format!("{p}["))
            })
            .then_some(*input)
    })
}

async fn new_page(user: User) -> Markup {
    render(&user, &NewAppForm::blank(), &[], None)
}

fn render(user: &User, form: &NewAppForm, problems: &[Problem], editor: Option<&str>) -> Markup {
    let used_editor = editor.is_some();
    let unplaced: Vec<&Problem> = problems
        .iter()
        .filter(|p| used_editor || p.field.as_deref().and_then(input_of).is_none())
        .collect();
    let value = |input: &str| -> String {
        match input {
            "namespace" => form.namespace.clone(),
            "name" => form.name.clone(),
            "id" => form.id.clone(),
            "cmd" => form.cmd.clone(),
            "image" => form.image.clone(),
            "cpus" => form.cpus.clone(),
            "mem" => form.mem.clone(),
            "disk" => form.disk.clone(),
            "instances" => form.instances.clone(),
            "ports" => form.ports.clone(),
            _ => form.env.clone(),
        }
    };
    let body = html! {
        h1 { "Create Application" }
        @if !used_editor && !unplaced.is_empty() {
            ul.error-message #form-errors role="alert" {
                @for p in &unplaced { li { @if let Some(f) = &p.field { code { (f) } ": " } (p.message) } }
            }
        }
        div.grid.two {
            form.card #new-app-form method="post" action="/apps/new" {
                h2 { "Form" }
                @for (input, label, _) in FIELDS {
                    div.field {
                        label for={"app-" (input)} { (label) }
                        @if input == "env" {
                            textarea #{"app-" (input)} name=(input) rows="4" { (value(input)) }
                        } @else {
                            input #{"app-" (input)} type="text" name=(input) value=(value(input));
                        }
                        @if !used_editor {
                            @for p in problems.iter().filter(|p| p.field.as_deref().and_then(input_of) == Some(input)) {
                                p.field-error data-field=(p.field.as_deref().unwrap_or("")) { (p.message) }
                            }
                        }
                    }
                }
                button.primary #create type="submit" { "Create Application" }
            }
            form.card #manifest-form method="post" action="/apps/new" {
                h2 { "YAML or JSON" }
                @if used_editor && !unplaced.is_empty() {
                    ul.error-message #manifest-errors role="alert" {
                        @for p in &unplaced {
                            li.field-error data-field=(p.field.as_deref().unwrap_or("")) {
                                @if let Some(f) = &p.field { code { (f) } ": " } (p.message)
                            }
                        }
                    }
                }
                textarea #manifest name="manifest" rows="24" spellcheck="false" {
                    (editor.unwrap_or(EXAMPLE))
                }
                p { button.primary #create-manifest type="submit" { "Create from manifest" } }
            }
        }
    };
    layout::page("Create Application", Nav::Apps, user, body)
}

/// What the editor starts with.
const EXAMPLE: &str = "apiVersion: strata.io/v1alpha1
kind: App
metadata:
  name: hello
  namespace: default
spec:
  cmd: python3 -m http.server $PORT0
  cpus: 0.1
  mem: 32
  instances: 1
  portDefinitions:
    - port: 0
";

async fn create(user: User, Form(form): Form<NewAppForm>) -> Response {
    let (manifest, editor) = match &form.manifest {
        Some(text) => match parse_manifest(text) {
            Ok(manifest) => (manifest, Some(text.as_str())),
            Err(problem) => {
                return invalid(&user, &form, &[problem], Some(text));
            }
        },
        None => match manifest_of_form(&form) {
            Ok(manifest) => (manifest, None),
            Err(problems) => return invalid(&user, &form, &problems, None),
        },
    };
    let namespace = manifest["metadata"]["namespace"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
        .to_string();
    let object: DynamicObject = match serde_json::from_value(manifest) {
        Ok(object) => object,
        Err(e) => {
            let problem = Problem {
                field: None,
                message: format!("This is not a Kubernetes object: {e}"),
            };
            return invalid(&user, &form, &[problem], editor);
        }
    };
    let resource = ApiResource::erase::<App>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(user.client.clone(), &namespace, &resource);
    let params = PostParams {
        field_manager: Some(MANAGER.into()),
        ..PostParams::default()
    };
    match api.create(&params, &object).await {
        Ok(created) => {
            let name = created.metadata.name.unwrap_or_default();
            Redirect::to(&format!("/apps/{namespace}/{name}")).into_response()
        }
        Err(e) => match problems_of(e) {
            Ok((code, problems)) => {
                let mut response = invalid(&user, &form, &problems, editor);
                *response.status_mut() = code;
                response
            }
            Err(error) => error.into_response(),
        },
    }
}

/// What the store's refusal of a write says, problem by problem: a 422 (or 400) has a cause per
/// field; another refusal (403, 404, 409) is one problem with the store's message. The code is
/// the one to answer with; internal errors are not the user's to read (`Err`).
pub fn problems_of(error: kube::Error) -> Result<(StatusCode, Vec<Problem>), AppError> {
    match error {
        kube::Error::Api(status) if status.code == 422 || status.code == 400 => {
            let mut problems: Vec<Problem> = status
                .details
                .iter()
                .flat_map(|d| &d.causes)
                .map(|c| Problem {
                    field: Some(c.field.clone()).filter(|f| !f.is_empty()),
                    message: c.message.clone(),
                })
                .collect();
            if problems.is_empty() {
                problems.push(Problem {
                    field: None,
                    message: status.message.clone(),
                });
            }
            Ok((StatusCode::UNPROCESSABLE_ENTITY, problems))
        }
        other => {
            let error = AppError::from(other);
            if matches!(error, AppError::Internal(_)) {
                return Err(error);
            }
            let problem = Problem {
                field: None,
                message: error.message(),
            };
            Ok((error.status_code(), vec![problem]))
        }
    }
}

/// The form again with `problems`, as a 422.
fn invalid(user: &User, form: &NewAppForm, problems: &[Problem], editor: Option<&str>) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        render(user, form, problems, editor),
    )
        .into_response()
}

/// `text` as JSON when it starts with `{`, else as YAML; a parse error names the line.
pub fn parse_yaml_or_json(text: &str) -> Result<Value, Problem> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| Problem {
            field: None,
            message: format!(
                "The JSON does not parse at line {}, column {}: {e}",
                e.line(),
                e.column()
            ),
        })
    } else {
        serde_saphyr::from_str(text).map_err(|e| Problem {
            field: None,
            message: format!("The YAML does not parse: {e}"),
        })
    }
}

/// The manifest in the editor: JSON when it starts with `{`, else YAML; an App when
/// apiVersion and kind are left out.
pub fn parse_manifest(text: &str) -> Result<Value, Problem> {
    let mut manifest = parse_yaml_or_json(text)?;
    let Some(object) = manifest.as_object_mut() else {
        return Err(Problem {
            field: None,
            message: "The manifest must be one App object (a mapping with metadata and spec)."
                .into(),
        });
    };
    object
        .entry("apiVersion")
        .or_insert_with(|| json!("strata.io/v1alpha1"));
    object.entry("kind").or_insert_with(|| json!("App"));
    if object.get("kind") != Some(&json!("App")) {
        return Err(Problem {
            field: Some("kind".into()),
            message: "Only an App can be created here.".into(),
        });
    }
    Ok(manifest)
}

/// The App manifest the form describes; problems with what the console itself must parse.
pub fn manifest_of_form(form: &NewAppForm) -> Result<Value, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut spec = Map::new();
    let mut namespace = form.namespace.trim().to_string();
    let mut name = form.name.trim().to_string();
    let id = form.id.trim();
    let mut annotations = Map::new();
    if !id.is_empty() {
        match ids::from_path(id) {
            Ok((ns, n)) => {
                if name.is_empty() {
                    name = n.clone();
                    namespace = ns.clone();
                }
                if (ns, n) == (namespace.clone(), name.clone()) {
                    annotations.insert(ids::MARATHON_ID.into(), json!(id));
                } else {
                    problems.push(Problem {
                        field: Some("metadata.annotations".into()),
                        message: format!(
                            "The id {id} is the app {} in namespace {}: leave namespace and \
                             name empty, or make them match.",
                            ids::from_path(id).map(|p| p.1).unwrap_or_default(),
                            ids::from_path(id).map(|p| p.0).unwrap_or_default()
                        ),
                    });
                }
            }
            Err(why) => problems.push(Problem {
                field: Some("metadata.annotations".into()),
                message: why,
            }),
        }
    }
    if namespace.is_empty() {
        namespace = "default".into();
    }
    if !form.cmd.trim().is_empty() {
        spec.insert("cmd".into(), json!(form.cmd.trim()));
    }
    if !form.image.trim().is_empty() {
        spec.insert(
            "container".into(),
            json!({"type": "DOCKER", "docker": {"image": form.image.trim()}}),
        );
    }
    let mut number = |input: &str, field: &str, text: &str| {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        match text.parse::<f64>() {
            Ok(n) if n.fract() == 0.0 && field != "cpus" => {
                spec.insert(field.into(), json!(n as i64));
            }
            Ok(n) => {
                spec.insert(field.into(), json!(n));
            }
            Err(_) => problems.push(Problem {
                field: Some(format!("spec.{field}")),
                message: format!("{input} must be a number, not {text:?}."),
            }),
        }
    };
    number("CPUs", "cpus", &form.cpus);
    number("Memory", "mem", &form.mem);
    number("Disk", "disk", &form.disk);
    number("Instances", "instances", &form.instances);
    let ports: Vec<&str> = form
        .ports
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let mut definitions = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        match port.parse::<i64>() {
            Ok(n) => definitions.push(json!({"port": n})),
            Err(_) => problems.push(Problem {
                field: Some(format!("spec.portDefinitions[{i}].port")),
                message: format!("Ports are numbers (0 for any port), not {port:?}."),
            }),
        }
    }
    if !definitions.is_empty() {
        spec.insert("portDefinitions".into(), Value::Array(definitions));
    }
    let mut env = BTreeMap::new();
    for line in form.env.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                env.insert(key.trim().to_string(), value.to_string());
            }
            _ => problems.push(Problem {
                field: Some("spec.env".into()),
                message: format!("Environment lines are KEY=VALUE, not {line:?}."),
            }),
        }
    }
    if !env.is_empty() {
        spec.insert("env".into(), json!(env));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut metadata = json!({"name": name, "namespace": namespace});
    if !annotations.is_empty() {
        metadata["annotations"] = Value::Object(annotations);
    }
    Ok(json!({
        "apiVersion": "strata.io/v1alpha1",
        "kind": "App",
        "metadata": metadata,
        "spec": Value::Object(spec),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_find_their_input() {
        assert_eq!(input_of("spec.cpus"), Some("cpus"));
        assert_eq!(input_of("spec.portDefinitions[1].port"), Some("ports"));
        assert_eq!(input_of("spec.container.docker.image"), Some("image"));
        assert_eq!(input_of("spec.args"), Some("cmd"));
        assert_eq!(input_of("spec.constraints[0].value"), None);
        assert_eq!(input_of("spec.cpusx"), None);
    }

    #[test]
    fn the_form_becomes_an_app_manifest() {
        let form = NewAppForm {
            id: "/prod/web/kibana".into(),
            cmd: "sleep 100".into(),
            cpus: "0.5".into(),
            mem: "64".into(),
            instances: "2".into(),
            ports: "0, 8080".into(),
            env: "A=1\nB=two=2\n".into(),
            ..NewAppForm::default()
        };
        let manifest = manifest_of_form(&form).unwrap();
        assert_eq!(manifest["metadata"]["namespace"], "prod");
        assert_eq!(manifest["metadata"]["name"], "web.kibana");
        assert_eq!(
            manifest["metadata"]["annotations"][ids::MARATHON_ID],
            "/prod/web/kibana"
        );
        assert_eq!(manifest["spec"]["cpus"], 0.5);
        assert_eq!(manifest["spec"]["mem"], 64);
        assert_eq!(
            manifest["spec"]["portDefinitions"],
            json!([{"port": 0}, {"port": 8080}])
        );
        assert_eq!(manifest["spec"]["env"]["B"], "two=2");
    }

    #[test]
    fn what_the_console_must_parse_is_checked_here() {
        let form = NewAppForm {
            name: "web".into(),
            mem: "lots".into(),
            ports: "80,x".into(),
            ..NewAppForm::default()
        };
        let problems = manifest_of_form(&form).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field.clone().unwrap()).collect();
        assert_eq!(fields, ["spec.mem", "spec.portDefinitions[1].port"]);
    }

    #[test]
    fn manifest_parse_errors_name_the_line() {
        let problem = parse_manifest("metadata:\n  name: web\n spec: [\n").unwrap_err();
        assert!(problem.message.contains("line"), "{}", problem.message);
        let problem = parse_manifest("{\n \"metadata\": }").unwrap_err();
        assert!(problem.message.contains("line 2"), "{}", problem.message);
        let app = parse_manifest("metadata: {name: web}\nspec: {cmd: x}").unwrap();
        assert_eq!(app["kind"], "App");
    }
}
