//! The App page: one app's tasks, configuration, versions and active rollout, and the actions
//! Marathon's UI offers on it (scale, suspend, resume, restart, roll back, kill a task,
//! destroy).
//!
//! Why it exists: it is where a user looks when an app misbehaves — what runs where, what
//! changed, why it is waiting — and acts on it. Every read and write uses the signed-in user's
//! client, so a user the store forbids to act sees the store's "you may not" and nothing
//! changes. The actions themselves are `strata_controllers::marathon::actions`, shared with the
//! CLI so both mean the same thing; destructive ones ask for confirmation in the browser.

use std::convert::Infallible;

use axum::Form;
use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use futures::{StreamExt, stream};
use http::request::Parts;
use kube::api::{DeleteParams, ListParams};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use strata_api::conditions::{ConditionStatus, find_condition, types};
use strata_api::rollout::RolloutPhase;
use strata_api::{App, Rollout, Task, labels};
use strata_controllers::marathon::actions::{self, Actions};

use crate::Console;
use crate::apps::{DEBOUNCE, app_id, app_phase, debounced, phase_text, watcher_changes};
use crate::error::AppError;
use crate::layout::{self, HealthCounts, Nav, confirm_js};
use crate::listing::empty_row;
use crate::session::User;

/// The field manager of the console's writes.
pub const MANAGER: &str = "strata-console";

/// `/apps/{namespace}/{name}` and its actions.
pub fn routes() -> Router<Console> {
    Router::new()
        .route("/apps/{namespace}/{name}", get(app_page))
        .route("/apps/{namespace}/{name}/events", get(app_events))
        .route("/apps/{namespace}/{name}/scale", post(scale))
        .route("/apps/{namespace}/{name}/suspend", post(suspend))
        .route("/apps/{namespace}/{name}/resume", post(resume))
        .route("/apps/{namespace}/{name}/restart", post(restart))
        .route(
            "/apps/{namespace}/{name}/stop-launches",
            post(stop_launches),
        )
        .route(
            "/apps/{namespace}/{name}/resume-launches",
            post(resume_launches),
        )
        .route("/apps/{namespace}/{name}/rollback", post(rollback))
        .route("/apps/{namespace}/{name}/destroy", post(destroy))
        .route("/apps/{namespace}/{name}/tasks/{task}/kill", post(kill))
}

/// The URL of app `namespace/name`'s page.
fn page_url(namespace: &str, name: &str) -> String {
    format!("/apps/{namespace}/{name}")
}

/// Everything the page shows about one app.
struct Loaded {
    app: App,
    /// The app's tasks, or why they cannot be listed.
    tasks: Result<Vec<Task>, AppError>,
    /// The app's rollouts by revision, or why they cannot be listed.
    history: Result<Vec<Rollout>, AppError>,
}

async fn load(user: &User, namespace: &str, name: &str) -> Result<Loaded, AppError> {
    let actions = Actions::new(user.client.clone(), namespace, MANAGER);
    let app = actions.app(name).await?;
    let selector = labels::app_selector(name);
    let tasks = actions
        .tasks
        .list(&ListParams::default().labels(&selector))
        .await
        .map(|list| {
            let mut tasks = list.items;
            tasks.sort_by_key(ResourceExt::name_any);
            tasks
        })
        .map_err(AppError::from);
    let history = actions.history(name).await.map_err(AppError::from);
    Ok(Loaded {
        app,
        tasks,
        history,
    })
}

async fn app_page(
    user: User,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Markup, AppError> {
    let loaded = load(&user, &namespace, &name).await?;
    let app = &loaded.app;
    let id = app_id(app);
    let body = html! {
        (header(app, &namespace, &name))
        div #app-live data-events={(page_url(&namespace, &name)) "/events"} {
        (summary(app, &namespace, &name))
        (waiting(app, loaded.history.as_ref().ok().map(Vec::as_slice), &namespace, &name))
        h2 { "Tasks" }
        @match &loaded.tasks {
            Ok(tasks) => (tasks_table(tasks, &namespace, &name)),
            Err(e) => (layout::inline_error(e)),
        }
        @match &loaded.history {
            Ok(history) => {
                (active_rollout(app, history))
                h2 { "Versions" }
                (versions(app, history, &namespace, &name))
            }
            Err(e) => { h2 { "Versions" } (layout::inline_error(e)) }
        }
        h2 { "Configuration" }
        pre #config { (serde_saphyr::to_string(&app.spec).unwrap_or_default()) }
        }
        script { (PreEscaped(LIVE_JS)) }
    };
    Ok(layout::page(&id, Nav::Apps, &user, body))
}

fn header(app: &App, namespace: &str, name: &str) -> Markup {
    let phase = phase_text(app_phase(app));
    let instances = app.spec.instances;
    let url = page_url(namespace, name);
    html! {
        nav.breadcrumb { a href="/apps" { "Apps" } " / " (namespace) " / " (name) }
        div.toolbar {
            h1 #app-id { (app_id(app)) }
            span #app-status class={"status status-" (phase)} { (phase) }
            span.spacer {}
        }
        div.toolbar #actions {
            form.inline method="post" action={(url) "/scale"} {
                label for="scale-instances" { "Instances " }
                input #scale-instances type="number" name="instances" min="0" value=(instances)
                    style="width:6em";
                " "
                button #scale type="submit" { "Scale" }
            }
            a.button #edit href={(url) "/edit"} { "Edit" }
            form.inline method="post" action={(url) "/restart"}
                onsubmit=(confirm_js(&format!("Restart every instance of {}?", app_id(app)))) {
                button #restart type="submit" { "Restart" }
            }
            @if instances > 0 {
                form.inline method="post" action={(url) "/suspend"}
                    onsubmit=(confirm_js(&format!("Suspend {}? Its {instances} instances will be killed.", app_id(app)))) {
                    button.danger #suspend type="submit" { "Suspend" }
                }
            } @else {
                form.inline method="post" action={(url) "/resume"} {
                    button #resume type="submit" { "Resume" }
                }
            }
            form.inline method="post" action={(url) "/destroy"}
                onsubmit=(confirm_js(&format!("Destroy {}? Its tasks are killed and its configuration deleted.", app_id(app)))) {
                button.danger #destroy type="submit" { "Destroy" }
            }
        }
    }
}

/// The app's numbers: where it is, how many run, health, resources, version.
fn summary(app: &App, namespace: &str, name: &str) -> Markup {
    let status = app.status.clone().unwrap_or_default();
    let instances = app.spec.instances;
    html! {
        div.card.summary {
                dl.props.columns {
                    dt { "Namespace / name" } dd { (namespace) " / " (name) }
                    dt { "Instances" } dd #app-instances { (status.tasks_running) " running / " (instances) " requested" }
                    dt { "Health" } dd { (layout::health_bar(&HealthCounts::of_app(app))) }
                    dt { "CPUs / Memory / Disk" } dd { (app.spec.cpus) " / " (app.spec.mem) " MB / " (app.spec.disk) " MB" }
                    @if let Some(version) = &status.version {
                        dt { "Version" } dd { code { (version) } " (revision " (status.revision) ")" }
                    }
                    @if let Some(created) = &app.metadata.creation_timestamp {
                        dt { "Created" } dd { (layout::age(created)) " ago" }
                    }
                }
            }
    }
}

/// Re-renders the live part of the page (`#app-live`) whenever its events stream says the app,
/// its tasks or its rollouts changed; the actions bar is left alone (a number being typed
/// stays).
const LIVE_JS: &str = r#"
(function () {
  var live = document.getElementById('app-live');
  if (!live || !window.EventSource) return;
  var source = new EventSource(live.getAttribute('data-events'));
  source.onmessage = function () {
    strataRefetch(location.pathname, function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var fresh = doc.getElementById('app-live');
        if (fresh) live.innerHTML = fresh.innerHTML;
        var status = doc.getElementById('app-status');
        var current = document.getElementById('app-status');
        if (status && current) { current.textContent = status.textContent; current.className = status.className; }
      });
  };
})();
"#;

/// Server-sent events: a message whenever app `namespace/name`, one of its tasks or one of its
/// rollouts changes (debounced); ends when the page goes away.
async fn app_events(
    user: User,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    // Reading the app first answers 403/404 as a status, not as a stream that never fires.
    let actions = Actions::new(user.client.clone(), &namespace, MANAGER);
    actions.app(&name).await?;
    let app = watcher(
        actions.apps.clone(),
        watcher::Config::default().fields(&format!("metadata.name={name}")),
    );
    let tasks = watcher(
        actions.tasks.clone(),
        watcher::Config::default().labels(&labels::app_selector(&name)),
    );
    let rollouts = watcher(
        actions.rollouts.clone(),
        watcher::Config::default().fields(&format!("spec.app={name}")),
    );
    let changes = stream::select(
        watcher_changes(app),
        stream::select(watcher_changes(tasks), watcher_changes(rollouts)),
    );
    let events = debounced(changes, DEBOUNCE)
        .map(|()| Ok::<Event, Infallible>(Event::default().data("app")));
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// Why the app is not where it was asked to be: the crash-loop delay, the launch queue and the
/// offers that did not fit, a Progressing=False condition (waiting for offers, backoff, stuck),
/// with the last failure. When nothing waits, the outcome of the latest rollout (the
/// Progressing condition, e.g. DeploymentComplete) and the last failure under a neutral
/// "Rollout" heading instead.
fn waiting(app: &App, history: Option<&[Rollout]>, namespace: &str, name: &str) -> Markup {
    let Some(status) = &app.status else {
        return html! {};
    };
    let url = page_url(namespace, name);
    let stopped = app.annotations().get(labels::LAUNCHES_STOPPED);
    let progressing =
        find_condition(&status.conditions, types::PROGRESSING).filter(|c| !c.message.is_empty());
    // A rollout under way says why it waits in its own section; the condition says it
    // otherwise (e.g. when the user may not list rollouts).
    let rollout_shown = history.is_some_and(|h| in_progress(app, h).is_some());
    let progressing = progressing.filter(|_| !rollout_shown);
    let queued = status.queue.as_ref().filter(|q| q.count > 0);
    let is_waiting = status.launch_delay.is_some()
        || stopped.is_some()
        || queued.is_some()
        || progressing.is_some_and(|c| c.status == ConditionStatus::False);
    let last_failure = status.last_task_failure.as_ref().map(|failure| {
        html! {
            li.last-failure {
                "Last failure: task " (failure.task) " " (failure.state)
                @if let Some(m) = &failure.message { " (" (m) ")" }
                @if let Some(a) = &failure.agent { " on " (a) }
                ", " (layout::age(&failure.at)) " ago."
            }
        }
    });
    let progressing = progressing.map(|c| html! { li.progressing { (c.reason) ": " (c.message) } });
    if !is_waiting {
        if progressing.is_none() && last_failure.is_none() {
            return html! {};
        }
        return html! {
            section #outcome .card {
                h2 { "Rollout" }
                ul { (progressing.unwrap_or_default()) (last_failure.unwrap_or_default()) }
            }
        };
    }
    html! {
        section #waiting .card {
            h2 { "Why it is waiting" }
            ul {
                @if let Some(version) = stopped {
                    li.launches-stopped {
                        "Launches of version " code { (version) } " are stopped. "
                        form.inline method="post" action={(url) "/resume-launches"} {
                            button #resume-launches type="submit" { "Resume launches" }
                        }
                    }
                } @else if let Some(delay) = &status.launch_delay {
                    li.delay {
                        "Launches are delayed by the crash-loop backoff after " (delay.failures)
                        " failures in a row: the next launch in " (delay.seconds) "s (not before "
                        (delay.launch_after.0.to_string()) "). "
                        form.inline method="post" action={(url) "/stop-launches"}
                            onsubmit=(confirm_js("Stop relaunching this version until a new version or Resume launches?")) {
                            button #stop-launches type="submit" { "Stop launches" }
                        }
                    }
                }
                @if let Some(queue) = queued {
                    li.queue {
                        (queue.count) " instances wait for an offer that fits ("
                        (queue.offers_processed) " offers looked at"
                        @if let Some(since) = &queue.since { ", for " (layout::age(since)) }
                        ")."
                        @if !queue.rejections.is_empty() {
                            " Offers not used: "
                            @for (i, r) in queue.rejections.iter().enumerate() {
                                @if i > 0 { ", " }
                                (r.reason) " (" (r.count) ")"
                            }
                            "."
                        }
                    }
                }
                (progressing.unwrap_or_default())
                (last_failure.unwrap_or_default())
            }
        }
    }
}

fn tasks_table(tasks: &[Task], namespace: &str, name: &str) -> Markup {
    html! {
        table #tasks {
            thead { tr {
                th { "Task" } th { "Agent" } th { "State" } th { "Health" } th { "Ports" }
                th { "Started" } th { "Version" } th { }
            } }
            tbody {
                @if tasks.is_empty() { (empty_row(8, "No tasks.")) }
                @for task in tasks { (task_row(task, namespace, name)) }
            }
        }
    }
}

fn task_row(task: &Task, namespace: &str, app: &str) -> Markup {
    let task_name = task.name_any();
    let status = task.status.clone().unwrap_or_default();
    let state = status
        .state
        .map_or_else(|| "Pending".to_string(), |s| format!("{s:?}"));
    let health = match status.healthy {
        Some(true) => "Healthy",
        Some(false) => "Unhealthy",
        None if task.spec.health_checks.is_empty() => "",
        None => "Unknown",
    };
    let ports = task
        .spec
        .ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let kill_url = format!("{}/tasks/{task_name}/kill", page_url(namespace, app));
    let question = format!("Kill task {task_name}?");
    html! {
        tr.task data-name=(task_name) {
            td.name { a href={"/sandbox/" (namespace) "/" (task_name)} { (task_name) } }
            td.agent { (task.spec.agent) }
            td class={"state state-" (state)} { (state) }
            td class={"health health-" (health)} { (health) }
            td.ports { (ports) }
            td.started {
                @if let Some(started) = &status.started_at { (layout::age(started)) " ago" }
            }
            td.version { code { (task.labels().get(labels::APP_VERSION).map_or("", String::as_str)) } }
            td.kill {
                form.inline method="post" action=(kill_url) onsubmit=(confirm_js(&question)) {
                    label { input.kill-scale type="checkbox" name="scale" value="true"; " and scale down " }
                    button.danger.kill type="submit" { "Kill" }
                }
            }
        }
    }
}

/// The rollout under way, with its steps, progress and reason; nothing when none is.
/// The app's current rollout while it is under way.
fn in_progress<'a>(app: &App, history: &'a [Rollout]) -> Option<&'a Rollout> {
    let current = app.status.as_ref().and_then(|s| s.rollout.as_deref())?;
    history.iter().rev().find(|r| {
        r.name_any() == current
            && r.status
                .as_ref()
                .is_none_or(|s| s.phase == RolloutPhase::InProgress)
    })
}

fn active_rollout(app: &App, history: &[Rollout]) -> Markup {
    let Some(rollout) = in_progress(app, history) else {
        return html! {};
    };
    let status = rollout.status.clone().unwrap_or_default();
    html! {
        section #rollout .card data-name=(rollout.name_any()) {
            h2 { "Rollout " (rollout.spec.revision) ": " (format!("{:?}", rollout.spec.change)) }
            @if let Some(progress) = &status.progress { p.progress { (progress) } }
            ol.steps {
                @for step in &status.steps {
                    li class={"step " (if step.done { "done" } else { "pending" })} {
                        (format!("{:?}", step.action)) " to " (step.instances)
                        @if step.done { " ✓" }
                    }
                }
            }
            p.muted {
                (status.new_instances) " new (" (status.new_healthy) " healthy), "
                (status.old_instances) " old; at least " (status.minimum_healthy) " kept healthy."
            }
            @if let Some(reason) = status.message.as_ref().or(status.reason.as_ref()) {
                p.reason { "Waiting: " (reason) }
            }
        }
    }
}

fn versions(app: &App, history: &[Rollout], namespace: &str, name: &str) -> Markup {
    let current = app.status.as_ref().map(|s| s.revision);
    let url = format!("{}/rollback", page_url(namespace, name));
    html! {
        table #versions {
            thead { tr {
                th { "Revision" } th { "Version" } th { "Change" } th { "Phase" } th { "When" } th { }
            } }
            tbody {
                @if history.is_empty() {
                    (empty_row(6, "No rollouts yet."))
                }
                @for rollout in history.iter().rev() {
                    @let revision = rollout.spec.revision;
                    @let phase = rollout.status.as_ref().map_or("Pending".to_string(), |s| format!("{:?}", s.phase));
                    tr.version data-revision=(revision) {
                        td { (revision) @if current == Some(revision) { " (current)" } }
                        td { code { (rollout.spec.version) } }
                        td { (format!("{:?}", rollout.spec.change)) }
                        td { (phase) }
                        td { @if let Some(t) = &rollout.metadata.creation_timestamp { (layout::age(t)) " ago" } }
                        td {
                            @if current.is_some_and(|c| revision < c) {
                                form.inline method="post" action=(url)
                                    onsubmit=(confirm_js(&format!("Roll {} back to revision {revision}?", app_id(app)))) {
                                    input type="hidden" name="revision" value=(revision);
                                    button.rollback type="submit" { "Rollback" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The scale form.
#[derive(Deserialize)]
struct ScaleForm {
    instances: String,
}

async fn scale(target: Target, Form(form): Form<ScaleForm>) -> Result<Response, AppError> {
    let instances: u32 = form.instances.trim().parse().map_err(|_| {
        AppError::BadRequest(format!(
            "Instances must be a whole number of 0 or more, not {:?}.",
            form.instances
        ))
    })?;
    target.actions.scale(&target.name, instances).await?;
    Ok(target.back())
}

async fn suspend(app: Target) -> Result<Response, AppError> {
    app.actions.suspend(&app.name).await?;
    Ok(app.back())
}

async fn resume(app: Target) -> Result<Response, AppError> {
    app.actions.resume(&app.name).await?;
    Ok(app.back())
}

async fn restart(app: Target) -> Result<Response, AppError> {
    app.actions.restart(&app.name).await?;
    Ok(app.back())
}

async fn stop_launches(app: Target) -> Result<Response, AppError> {
    app.actions.stop_launches(&app.name).await?;
    Ok(app.back())
}

async fn resume_launches(app: Target) -> Result<Response, AppError> {
    app.actions.resume_launches(&app.name).await?;
    Ok(app.back())
}

/// The rollback form: the revision to go back to (the default one when absent).
#[derive(Deserialize)]
struct RollbackForm {
    #[serde(default)]
    revision: Option<u64>,
}

async fn rollback(target: Target, Form(form): Form<RollbackForm>) -> Result<Response, AppError> {
    let actions = &target.actions;
    let app = actions.app(&target.name).await?;
    let history = actions.history(&target.name).await?;
    let chosen =
        actions::choose_rollback(&history, app.status.as_ref(), form.revision).map_err(|why| {
            AppError::BadRequest(match why {
                actions::NoRevision::NoHistory => {
                    "The app has no rollouts yet, so there is nothing to roll back to.".into()
                }
                actions::NoRevision::Missing(r) => format!(
                    "The app has no revision {r}: the revisions are {}.",
                    actions::revisions(&history)
                ),
                actions::NoRevision::NoCurrentVersion => {
                    "The app has no current version yet, so there is no previous one.".into()
                }
                actions::NoRevision::NoPreviousVersion { revision, .. } => {
                    format!("No revision before the current one ({revision}) has another version.")
                }
            })
        })?;
    actions.rollback(&app, chosen).await?;
    Ok(target.back())
}

async fn destroy(
    user: User,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let apps: Api<App> = Api::namespaced(user.client, &namespace);
    match apps.delete(&name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Redirect::to("/apps").into_response())
}

/// The kill form: with `scale=true`, scale the app down instead of replacing the task.
#[derive(Deserialize)]
struct KillForm {
    #[serde(default)]
    scale: Option<String>,
}

async fn kill(
    user: User,
    Path((namespace, name, task)): Path<(String, String, String)>,
    Form(form): Form<KillForm>,
) -> Result<Response, AppError> {
    let scale_down = form
        .scale
        .as_deref()
        .is_some_and(|s| s == "true" || s == "on");
    let actions = Actions::new(user.client, &namespace, MANAGER);
    let found = actions.task(&task).await?;
    if found.labels().get(labels::APP) != Some(&name) {
        return Err(AppError::BadRequest(format!(
            "Task {namespace}/{task} is not a task of app {name}."
        )));
    }
    actions.kill(&task, scale_down).await?;
    Ok(back(&namespace, &name))
}

/// The app an action's URL (`/apps/{namespace}/{name}/...`) names, and the shared actions
/// acting there as the signed-in user.
struct Target {
    actions: Actions,
    namespace: String,
    name: String,
}

impl Target {
    /// Back to the app's page after the action (303).
    fn back(&self) -> Response {
        back(&self.namespace, &self.name)
    }
}

impl FromRequestParts<Console> for Target {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Target, Response> {
        let user = User::from_request_parts(parts, console).await?;
        let Path((namespace, name)) = Path::<(String, String)>::from_request_parts(parts, console)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Target {
            actions: Actions::new(user.client, &namespace, MANAGER),
            namespace,
            name,
        })
    }
}

/// Back to the app's page after an action (303).
fn back(namespace: &str, name: &str) -> Response {
    Redirect::to(&page_url(namespace, name)).into_response()
}
