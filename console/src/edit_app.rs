//! Editing an app's configuration: its spec in a YAML/JSON editor, saved as a new version.
//!
//! Why it exists: in Marathon's UI a new version is deployed by editing the app's
//! configuration. Here the editor holds the App's `spec` as stored; saving replaces it with the
//! user's client, conditional on the resourceVersion the editor was opened with, so a change
//! someone made meanwhile is never silently overwritten. The store validates the new spec and
//! its field errors are shown above the editor; the Marathon controller rolls the change out.

use axum::Form;
use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::StatusCode;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, PostParams};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use strata_api::App;

use crate::Console;
use crate::app_page::MANAGER;
use crate::error::AppError;
use crate::layout::{self, Nav};
use crate::new_app::{Problem, parse_yaml_or_json, problems_of};
use crate::session::User;

/// `GET` and `POST /apps/{namespace}/{name}/edit`.
pub fn routes() -> Router<Console> {
    Router::new().route("/apps/{namespace}/{name}/edit", get(edit_page).post(save))
}

/// Apps as stored, untyped: what the editor shows is exactly what the store holds.
fn raw_apps(user: &User, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        user.client.clone(),
        namespace,
        &ApiResource::erase::<App>(&()),
    )
}

/// The editor's form: the spec as typed and the resourceVersion it was read at.
#[derive(Deserialize)]
struct EditForm {
    spec: String,
    #[serde(default)]
    resource_version: String,
}

async fn edit_page(
    user: User,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Markup, AppError> {
    let app = raw_apps(&user, &namespace).get(&name).await?;
    let spec = app.data.get("spec").cloned().unwrap_or(Value::Null);
    let text = serde_saphyr::to_string(&spec)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("cannot write the spec as YAML: {e}")))?;
    let version = app.metadata.resource_version.unwrap_or_default();
    Ok(render(&user, &namespace, &name, &text, &version, &[]))
}

fn render(
    user: &User,
    namespace: &str,
    name: &str,
    text: &str,
    resource_version: &str,
    problems: &[Problem],
) -> Markup {
    let page = format!("/apps/{namespace}/{name}");
    let body = html! {
        nav.breadcrumb {
            a href="/apps" { "Apps" } " / " a href=(page) { (namespace) " / " (name) } " / edit"
        }
        h1 { "Edit " (namespace) "/" (name) }
        @if !problems.is_empty() {
            ul.error-message #manifest-errors role="alert" {
                @for p in problems {
                    li.field-error data-field=(p.field.as_deref().unwrap_or("")) {
                        @if let Some(f) = &p.field { code { (f) } ": " } (p.message)
                    }
                }
            }
        }
        form.card #edit-form method="post" action={(page) "/edit"} {
            p.muted { "The app's spec (YAML or JSON). Saving deploys it as a new version within the upgrade strategy." }
            input type="hidden" name="resource_version" value=(resource_version);
            textarea #manifest name="spec" rows="30" spellcheck="false" { (text) }
            p {
                button.primary #save type="submit" { "Save and deploy" }
                " "
                a.button href=(page) { "Cancel" }
            }
        }
    };
    layout::page(&format!("Edit {name}"), Nav::Apps, user, body)
}

async fn save(
    user: User,
    Path((namespace, name)): Path<(String, String)>,
    Form(form): Form<EditForm>,
) -> Result<Response, AppError> {
    let again = |code: StatusCode, problems: &[Problem]| {
        let page = render(
            &user,
            &namespace,
            &name,
            &form.spec,
            &form.resource_version,
            problems,
        );
        (code, page).into_response()
    };
    let spec = match parse_yaml_or_json(&form.spec) {
        Ok(spec) if spec.is_object() => spec,
        Ok(_) => {
            let problem = Problem {
                field: Some("spec".into()),
                message: "The spec must be a mapping of fields (cmd, cpus, mem, ...).".into(),
            };
            return Ok(again(StatusCode::UNPROCESSABLE_ENTITY, &[problem]));
        }
        Err(problem) => return Ok(again(StatusCode::UNPROCESSABLE_ENTITY, &[problem])),
    };
    let apps = raw_apps(&user, &namespace);
    let mut app = apps.get(&name).await?;
    // The version the editor was opened at is the precondition: a change made since is a 409.
    if !form.resource_version.is_empty() {
        app.metadata.resource_version = Some(form.resource_version.clone());
    }
    app.metadata.managed_fields = None;
    app.data["spec"] = spec;
    if let Some(object) = app.data.as_object_mut() {
        object.remove("status");
    }
    let params = PostParams {
        field_manager: Some(MANAGER.into()),
        ..PostParams::default()
    };
    match apps.replace(&name, &params, &app).await {
        Ok(_) => Ok(Redirect::to(&format!("/apps/{namespace}/{name}")).into_response()),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let problem = Problem {
                field: None,
                message: "The app changed since this editor was opened (someone else updated \
                          it); nothing was saved. Open the editor again to start from the \
                          current configuration."
                    .into(),
            };
            Ok(again(StatusCode::CONFLICT, &[problem]))
        }
        Err(e) => {
            let (code, problems) = problems_of(e)?;
            Ok(again(code, &problems))
        }
    }
}
