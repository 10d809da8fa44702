//! The Deployments page: Marathon's running deployments (strata's Rollouts) with their progress,
//! why they wait, and Rollback and Cancel.
//!
//! Why it exists: Marathon users watch deployments — what is changing, how far it got, why it
//! waits — and undo them. A Rollout is one change of an App (`<app>-<revision>`); the page lists
//! those in progress across the namespaces the user may list, with the recently finished ones
//! below, and updates itself from a watch of Rollouts (server-sent events). Rollback and Cancel
//! both write an earlier revision's spec back into the App (strata's `strata app rollback`,
//! through the actions shared with the CLI): Cancel is Marathon's `DELETE /v2/deployments/{id}`,
//! which rolls back to the version before the deployment. Every call is the user's own.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use futures::{Stream, StreamExt};
use kube::api::ListParams;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use strata_api::conditions::{ConditionStatus, find_condition, types};
use strata_api::rollout::{Change, RolloutPhase};
use strata_api::{App, Rollout};
use strata_controllers::marathon::actions::{
    Actions, NoRevision, RolledBack, choose_rollback, revisions,
};

use crate::Console;
use crate::apps::{home_namespace, watcher_changes};
use crate::error::AppError;
use crate::layout::{self, Nav};
use crate::listing::{
    Listed, NamespaceQuery, Scope, empty_row, list_namespaced, namespace_form, qualified,
    with_namespace,
};
use crate::session::User;

/// How many finished rollouts the page lists below the active ones (the newest).
pub const FINISHED_LIMIT: usize = 20;

/// The Deployments pages.
pub fn routes() -> Router<Console> {
    Router::new()
        .route("/deployments", get(deployments_page))
        .route("/deployments/table", get(deployments_table))
        .route("/deployments/events", get(deployments_events))
        .route("/deployments/{namespace}/{name}/rollback", post(rollback))
        .route("/deployments/{namespace}/{name}/cancel", post(cancel))
}

/// What the page was redirected back with after an action.
#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    #[serde(default)]
    namespace: Option<String>,
    /// `ns/app` rolled back by the last action.
    #[serde(default)]
    rolled_back: Option<String>,
    /// `ns/app` that already had the spec the last action would have restored.
    #[serde(default)]
    unchanged: Option<String>,
    /// The revision it went back to.
    #[serde(default)]
    revision: Option<u64>,
}

async fn deployments_page(user: User, Query(query): Query<PageQuery>) -> Result<Markup, AppError> {
    let namespace = query.namespace.as_deref();
    let listed = list_namespaced::<Rollout>(&user, namespace).await?;
    let events = with_namespace("/deployments/events", namespace);
    let table = with_namespace("/deployments/table", namespace);
    let body = html! {
        style { (PreEscaped(STYLE)) }
        h1 { "Deployments" }
        (namespace_form("/deployments", namespace))
        @if let (Some(app), Some(revision)) = (&query.rolled_back, query.revision) {
            p.notice #action-done {
                "App " code { (app) } " goes back to the spec of revision " (revision)
                "; the Marathon controller rolls it out as a new deployment."
            }
        }
        @if let (Some(app), Some(revision)) = (&query.unchanged, query.revision) {
            p.notice #action-done {
                "App " code { (app) } " already has the spec of revision " (revision)
                "; nothing was changed."
            }
        }
        p.muted #cancel-explained {
            "Cancel rolls the app back to the version it ran before that deployment (Marathon's \
             cancel); Rollback goes back to the app's previous version."
        }
        div #rollouts data-table=(table) data-events=(events) {
            (tables(listed))
        }
        script { (PreEscaped(LIVE_JS)) }
    };
    Ok(layout::page("Deployments", Nav::Deployments, &user, body))
}

/// The tables alone, which the page's script fetches again when a rollout changes.
async fn deployments_table(
    user: User,
    Query(query): Query<NamespaceQuery>,
) -> Result<Markup, AppError> {
    let listed = list_namespaced::<Rollout>(&user, query.namespace.as_deref()).await?;
    Ok(tables(listed))
}

/// The progress bar's looks (the shared stylesheet has none).
const STYLE: &str = ".progress-bar{display:inline-block;width:120px;height:8px;background:#eceef1;\
border-radius:2px;overflow:hidden;vertical-align:middle;margin-right:8px}\
.progress-bar .done{display:block;height:100%;background:#3aa0ff}";

/// Re-fetches the tables (debounced) whenever the events stream says a rollout changed.
const LIVE_JS: &str = r#"
(function () {
  var box = document.getElementById('rollouts');
  if (!box || !window.EventSource) { return; }
  var timer = null;
  var refresh = function () {
    strataRefetch(box.dataset.table, function (html) { box.innerHTML = html; });
  };
  var source = new EventSource(box.dataset.events);
  source.addEventListener('changed', function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
})();
"#;

fn tables(listed: Listed<Rollout>) -> Markup {
    let (rollouts, scope) = match listed.or_note("rollouts") {
        Ok(listed) => listed,
        Err(note) => return note,
    };
    let (mut active, mut finished): (Vec<Rollout>, Vec<Rollout>) =
        rollouts.into_iter().partition(|r| !phase(r).is_finished());
    active.sort_by_key(|r| {
        (
            r.namespace().unwrap_or_default(),
            r.spec.app.clone(),
            r.spec.revision,
        )
    });
    finished.sort_by_key(|r| std::cmp::Reverse(finished_at(r)));
    finished.truncate(FINISHED_LIMIT);
    html! {
        @if let Scope::Namespace(ns) = &scope {
            p.notice.scope { "Showing namespace " code { (ns) } " (you may not list all namespaces)." }
        }
        table #active-rollouts.data {
                thead { tr {
                    th { "App" } th { "Change" } th { "Step" } th { "Progress" }
                    th { "Waiting for" } th { "Age" } th { "Actions" }
                } }
                tbody {
                    @if active.is_empty() { (empty_row(7, "No deployments in progress.")) }
                    @for rollout in &active { (active_row(rollout)) }
                }
            }
        h2 { "Finished recently" }
        table #finished-rollouts.data {
                thead { tr {
                    th { "App" } th { "Revision" } th { "Change" } th { "Result" } th { "Why" } th { "Finished" }
                } }
                tbody {
                    @if finished.is_empty() { (empty_row(6, "None.")) }
                    @for rollout in &finished {
                        @let status = rollout.status.clone().unwrap_or_default();
                        tr.finished-rollout data-name=(qualified(rollout)) {
                            td.app { (app_link(rollout)) }
                            td.revision.num { (rollout.spec.revision) }
                            td.change { (change_name(rollout.spec.change)) }
                            td.phase { (format!("{:?}", status.phase)) }
                            td.reason { (status.reason.unwrap_or_default())
                                @if let Some(by) = status.superseded_by { " (by " (by) ")" } }
                            td.age { (status.finished_at.as_ref().map_or(String::new(), |t| format!("{} ago", layout::age(t)))) }
                        }
                    }
                }
            }
    }
}

fn phase(rollout: &Rollout) -> RolloutPhase {
    rollout.status.as_ref().map(|s| s.phase).unwrap_or_default()
}

fn finished_at(rollout: &Rollout) -> Option<jiff::Timestamp> {
    rollout
        .status
        .as_ref()
        .and_then(|s| s.finished_at.as_ref())
        .map(|t| t.0)
        .or_else(|| rollout.creation_timestamp().map(|t| t.0))
}

fn change_name(change: Change) -> &'static str {
    match change {
        Change::Start => "Start",
        Change::Scale => "Scale",
        Change::Upgrade => "Upgrade",
        Change::Restart => "Restart",
        Change::Stop => "Stop",
    }
}

fn app_link(rollout: &Rollout) -> Markup {
    let ns = rollout.namespace().unwrap_or_default();
    html! {
        a href=(format!("/apps/{ns}/{}", rollout.spec.app)) { (ns) "/" (rollout.spec.app) }
    }
}

/// The step the rollout is on (1-based) and how many there are: the first step not done, or
/// the last when all are.
pub fn step_of(rollout: &Rollout) -> (usize, usize) {
    let steps = rollout
        .status
        .as_ref()
        .map(|s| s.steps.as_slice())
        .unwrap_or_default();
    let current = steps
        .iter()
        .position(|s| !s.done)
        .map_or(steps.len(), |i| i + 1);
    (current, steps.len())
}

/// How far the rollout got, 0 to 100: the new version's healthy instances of those wanted (for
/// a stop, the old instances gone); the steps done when there is nothing to count.
pub fn percent_done(rollout: &Rollout) -> u32 {
    let status = rollout.status.clone().unwrap_or_default();
    let wanted = rollout.spec.target.instances;
    let fraction = if wanted > 0 {
        f64::from(status.new_healthy.min(wanted)) / f64::from(wanted)
    } else if !status.steps.is_empty() {
        let done = status.steps.iter().filter(|s| s.done).count();
        done as f64 / status.steps.len() as f64
    } else {
        0.0
    };
    (fraction * 100.0).round() as u32
}

fn active_row(rollout: &Rollout) -> Markup {
    let status = rollout.status.clone().unwrap_or_default();
    let (step, steps) = step_of(rollout);
    let percent = percent_done(rollout);
    let ns = rollout.namespace().unwrap_or_default();
    let name = rollout.name_any();
    let app = &rollout.spec.app;
    let action = |verb: &str| {
        format!(
            "/deployments/{}/{}/{verb}",
            layout::encode(&ns),
            layout::encode(&name)
        )
    };
    // Stuck beyond its progress deadline: the Progressing condition says so.
    let stuck = find_condition(&status.conditions, types::PROGRESSING)
        .filter(|c| c.status == ConditionStatus::False);
    let started = status
        .started_at
        .clone()
        .or_else(|| rollout.creation_timestamp());
    html! {
        tr.rollout data-name=(qualified(rollout)) data-app=(app) {
            td.app { (app_link(rollout)) span.muted { " revision " (rollout.spec.revision) } }
            td.change { (change_name(rollout.spec.change)) }
            td.step {
                (step) " / " (steps)
                @if let Some(current) = step.checked_sub(1).and_then(|i| status.steps.get(i)) {
                    " " span.muted.action { (format!("{:?}", current.action)) }
                }
            }
            td.progress {
                div.progress-bar title=(format!("{percent}%")) {
                    span.done style=(format!("width:{percent}%")) {}
                }
                span.progress-text { (status.progress.clone().unwrap_or_else(|| format!("{percent}%"))) }
            }
            td.waiting {
                @if let Some(reason) = &status.reason {
                    span.reason { (reason) }
                    @if let Some(message) = &status.message { ": " span.message { (message) } }
                } @else if stuck.is_none() {
                    span.muted { "—" }
                }
                @if let Some(stuck) = stuck {
                    div.stuck.error-message {
                        (stuck.reason) @if !stuck.message.is_empty() { ": " (stuck.message) }
                    }
                }
            }
            td.age { (started.as_ref().map_or(String::new(), layout::age)) }
            td.actions {
                (layout::confirm_button(&action("rollback"), "Rollback",
                    &format!("Roll app {ns}/{app} back to its previous version?")))
                " "
                (layout::confirm_button(&action("cancel"), "Cancel",
                    &format!("Cancel this deployment of {ns}/{app}? The app goes back to the version it ran before it.")))
            }
        }
    }
}

/// A stream of `changed` events, one per change of a rollout the user may watch (across
/// namespaces, else in `?namespace=` or the user's own namespace).
async fn deployments_events(
    user: User,
    Query(query): Query<NamespaceQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let api: Api<Rollout> = match query.namespace.as_deref().filter(|ns| !ns.is_empty()) {
        Some(ns) => Api::namespaced(user.client.clone(), ns),
        None => {
            let all: Api<Rollout> = Api::all(user.client.clone());
            match all.list(&ListParams::default().limit(1)).await {
                Ok(_) => all,
                Err(kube::Error::Api(status)) if status.code == 403 => {
                    Api::namespaced(user.client.clone(), &home_namespace(&user))
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    // Errors (the user may not watch, the store restarting) are retried with backoff, quietly.
    let events = watcher_changes(watcher::watcher(api, watcher::Config::default()))
        .map(|()| Ok(Event::default().event("changed").data("rollouts")));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The field manager of the console's writes.
const MANAGER: &str = "strata-console";

/// `POST /deployments/{namespace}/{name}/rollback`: the rollout's app back to its previous
/// version (the newest earlier revision with another version), as `strata app rollback` does.
async fn rollback(
    user: User,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (actions, rollout) = rollout_actions(&user, &namespace, &name).await?;
    let app_name = &rollout.spec.app;
    let (app, history) = (
        actions.app(app_name).await?,
        actions.history(app_name).await?,
    );
    let chosen = choose_rollback(&history, app.status.as_ref(), None)
        .map_err(|why| no_revision(&namespace, app_name, &history, &why))?;
    restore(&actions, &app, chosen).await
}

/// `POST /deployments/{namespace}/{name}/cancel`: Marathon's cancel — the app back to the
/// version it ran before this rollout (the rollout's `fromVersion`), which the Marathon
/// controller rolls out as a new revision, superseding this one.
async fn cancel(
    user: User,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (actions, rollout) = rollout_actions(&user, &namespace, &name).await?;
    let app_name = &rollout.spec.app;
    let phase = phase(&rollout);
    if phase.is_finished() {
        return Err(AppError::BadRequest(format!(
            "Deployment {name} of app {namespace}/{app_name} has already finished ({phase:?}), so \
             there is nothing to cancel; use Rollback to go back to the app's previous version."
        )));
    }
    let Some(from) = rollout.spec.from_version.as_deref() else {
        return Err(AppError::BadRequest(format!(
            "Deployment {name} is the first of app {namespace}/{app_name}: there is no earlier \
             version to go back to. Suspend or destroy the app on its page instead."
        )));
    };
    let (app, history) = (
        actions.app(app_name).await?,
        actions.history(app_name).await?,
    );
    let before = history
        .iter()
        .filter(|r| r.spec.revision < rollout.spec.revision && r.spec.version == from)
        .max_by_key(|r| r.spec.revision)
        .ok_or_else(|| {
            AppError::BadRequest(format!(
                "App {namespace}/{app_name} no longer has a revision of version {from}, the one \
                 deployment {name} replaced (the revisions kept are {}).",
                revisions(&history)
            ))
        })?;
    restore(&actions, &app, before).await
}

/// The rollout `namespace/name`, read as the user, and the actions on its namespace.
async fn rollout_actions(
    user: &User,
    namespace: &str,
    name: &str,
) -> Result<(Actions, Rollout), AppError> {
    let actions = Actions::new(user.client.clone(), namespace, MANAGER);
    let rollout = actions.rollouts.get(name).await?;
    Ok((actions, rollout))
}

/// Writes `revision`'s spec back into `app`, then back to the Deployments page, saying what
/// was done.
async fn restore(actions: &Actions, app: &App, revision: &Rollout) -> Result<Response, AppError> {
    let done = actions.rollback(app, revision).await?;
    let result = match done {
        RolledBack::Restored { .. } => "rolled_back",
        RolledBack::Unchanged => "unchanged",
    };
    Ok(Redirect::to(&format!(
        "/deployments?{result}={}/{}&revision={}",
        layout::encode(&app.namespace().unwrap_or_default()),
        layout::encode(&app.name_any()),
        revision.spec.revision
    ))
    .into_response())
}

/// Why there is no previous version, in words.
fn no_revision(namespace: &str, app: &str, history: &[Rollout], why: &NoRevision) -> AppError {
    let message = match why {
        NoRevision::NoHistory => {
            format!("App {namespace}/{app} has no rollouts, so there is nothing to go back to.")
        }
        NoRevision::Missing(revision) => format!(
            "App {namespace}/{app} has no revision {revision} (it keeps {}).",
            revisions(history)
        ),
        NoRevision::NoCurrentVersion => format!(
            "App {namespace}/{app} has no current version yet (the Marathon controller has not \
             seen it), so there is no previous one."
        ),
        NoRevision::NoPreviousVersion { revision, version } => format!(
            "App {namespace}/{app} has no previous version: no revision before the current one \
             ({revision}) has a version other than {version}."
        ),
    };
    AppError::BadRequest(message)
}

#[cfg(test)]
mod tests {
    use strata_api::rollout::{RolloutStatus, RolloutStep, StepAction};
    use strata_controllers::marathon::actions::fixtures::rollout;

    use super::*;

    fn with_status(mut r: Rollout, status: RolloutStatus) -> Rollout {
        r.status = Some(status);
        r
    }

    fn step(done: bool) -> RolloutStep {
        RolloutStep {
            action: StepAction::ScaleApplication,
            instances: 0,
            done,
        }
    }

    #[test]
    fn the_step_is_the_first_not_done() {
        let r = |steps| {
            with_status(
                rollout("web", 2, "b", "two"),
                RolloutStatus {
                    steps,
                    ..RolloutStatus::default()
                },
            )
        };
        assert_eq!(step_of(&r(vec![step(false), step(false)])), (1, 2));
        assert_eq!(step_of(&r(vec![step(true), step(false)])), (2, 2));
        assert_eq!(step_of(&r(vec![step(true), step(true)])), (2, 2));
        assert_eq!(step_of(&r(vec![])), (0, 0));
    }

    #[test]
    fn progress_counts_healthy_new_instances_or_steps() {
        let mut r = rollout("web", 2, "b", "two");
        r.spec.target.instances = 4;
        let r = with_status(
            r,
            RolloutStatus {
                new_healthy: 3,
                ..RolloutStatus::default()
            },
        );
        assert_eq!(percent_done(&r), 75);
        // A stop (to 0 instances) counts its steps.
        let mut stop = rollout("web", 3, "b", "two");
        stop.spec.target.instances = 0;
        let stop = with_status(
            stop,
            RolloutStatus {
                steps: vec![step(true), step(false)],
                ..RolloutStatus::default()
            },
        );
        assert_eq!(percent_done(&stop), 50);
    }
}
