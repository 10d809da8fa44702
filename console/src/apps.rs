//! The Apps page: the seed's Marathon table (ID, Memory (MB), CPUs, Tasks / Instances, Health,
//! Status), groups as folders, filters, and live updates.
//!
//! Why it exists: it is the first thing a Marathon user looks at. It lists the Apps the user
//! may see — of every namespace when they may list them cluster-wide, else of one namespace
//! they name — and keeps itself current: `/apps/events` is a server-sent events stream fed by
//! watches made with the user's own client, and the page's few lines of JavaScript re-fetch
//! the table body (`/apps/rows`) when it fires. It only reads.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{Stream, StreamExt, stream};
use kube::api::ListParams;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use strata_api::app::AppPhase;
use strata_api::{App, Task, labels};
use strata_controllers::marathon::ids;

use crate::Console;
use crate::error::AppError;
use crate::layout::{self, HealthCounts, Nav};
use crate::listing::empty_row;
use crate::session::User;

/// How long the events stream waits for more changes before it tells the page.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(300);

/// `/apps`, `/apps/rows`, `/apps/events`.
pub fn routes() -> Router<Console> {
    Router::new()
        .route("/apps", get(apps_page))
        .route("/apps/rows", get(apps_rows))
        .route("/apps/events", get(apps_events))
}

/// The page's query: where and what to show.
#[derive(Deserialize, Default, Debug, Clone)]
pub struct AppsQuery {
    /// Show apps whose id or name contains this (any case); flattens the groups.
    #[serde(default)]
    pub q: Option<String>,
    /// Show apps in this status only (Running, Deploying, ...); flattens the groups.
    #[serde(default)]
    pub status: Option<String>,
    /// The group (folder) shown, e.g. `/prod`; the root `/` by default.
    #[serde(default)]
    pub group: Option<String>,
    /// The namespace shown when the user may not list apps of all namespaces.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The column the apps are sorted by (id, mem, cpus, tasks, health, status); a leading
    /// `-` sorts descending. By id when unset.
    #[serde(default)]
    pub sort: Option<String>,
}

impl AppsQuery {
    fn q(&self) -> Option<String> {
        self.q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_lowercase)
    }

    fn status(&self) -> Option<&str> {
        self.status.as_deref().filter(|s| !s.is_empty())
    }

    /// The current group, normalised to `/` or `/a/b` (no trailing slash).
    fn group(&self) -> String {
        let trimmed = self.group.as_deref().unwrap_or("/").trim_matches('/');
        format!("/{trimmed}")
    }

    /// The namespace asked for, else `user`'s own (a ServiceAccount's), else `default`.
    fn namespace(&self, user: &User) -> String {
        self.namespace
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map_or_else(|| home_namespace(user), str::to_string)
    }

    /// This query as the page opens it in `scope`: one namespace other than `default` (whose
    /// apps all are in its group) opens at its group rather than at a root with one folder.
    fn opening(&self, scope: &Scope) -> AppsQuery {
        let mut query = self.clone();
        if let (None, Scope::Namespace(ns)) = (&self.group, scope)
            && ns != "default"
        {
            query.group = Some(format!("/{ns}"));
        }
        query
    }

    fn filtering(&self) -> bool {
        self.q().is_some() || self.status().is_some()
    }

    /// This query as a URL query string (for links and the live updates).
    fn to_query_string(&self, group: Option<&str>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(q) = self.q.as_deref().filter(|q| !q.is_empty()) {
            pairs.push(("q", q.to_string()));
        }
        if let Some(status) = self.status() {
            pairs.push(("status", status.to_string()));
        }
        let group = group.map_or_else(|| self.group(), str::to_string);
        if group != "/" {
            pairs.push(("group", group));
        }
        if let Some(ns) = self.namespace.as_deref().filter(|n| !n.is_empty()) {
            pairs.push(("namespace", ns.to_string()));
        }
        if let Some(sort) = self.sort.as_deref().filter(|s| !s.is_empty()) {
            pairs.push(("sort", sort.to_string()));
        }
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", layout::encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// The namespace a user presumably works in: a ServiceAccount's own
/// (`system:serviceaccount:<namespace>:<name>`), else `default`.
pub fn home_namespace(user: &User) -> String {
    user.name
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
        .map_or_else(|| "default".to_string(), |(ns, _)| ns.to_string())
}

/// Where the apps shown come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace: the user may list apps cluster-wide.
    All,
    /// One namespace, because the user may not list apps of all of them.
    Namespace(String),
}

impl Scope {
    fn apps(&self, client: &Client) -> Api<App> {
        match self {
            Scope::All => Api::all(client.clone()),
            Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
        }
    }

    fn tasks(&self, client: &Client) -> Api<Task> {
        match self {
            Scope::All => Api::all(client.clone()),
            Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
        }
    }
}

/// The apps the user may see: all of them when they may list apps cluster-wide, else those
/// of the query's namespace.
pub async fn list_apps(user: &User, query: &AppsQuery) -> Result<(Scope, Vec<App>), AppError> {
    if query.namespace.is_none() {
        match Api::<App>::all(user.client.clone())
            .list(&ListParams::default())
            .await
        {
            Ok(list) => return Ok((Scope::All, list.items)),
            Err(kube::Error::Api(status)) if status.code == 403 => {}
            Err(e) => return Err(e.into()),
        }
    }
    let scope = Scope::Namespace(query.namespace(user));
    let list = scope
        .apps(&user.client)
        .list(&ListParams::default())
        .await?;
    Ok((scope, list.items))
}

/// The Marathon path id of an app: its status' id, else the one its namespace and name map to.
pub fn app_id(app: &App) -> String {
    if let Some(id) = app.status.as_ref().and_then(|s| s.id.clone()) {
        return id;
    }
    let namespace = app.namespace().unwrap_or_else(|| "default".into());
    let annotated = app.annotations().get(ids::MARATHON_ID).map(String::as_str);
    ids::to_path(&namespace, &app.name_any(), annotated)
}

/// The Status column: the phase the Marathon controller reported; before it has, an app
/// asked to run is Deploying and one at 0 instances Suspended.
pub fn app_phase(app: &App) -> AppPhase {
    match app.status.as_ref().and_then(|s| s.phase) {
        Some(phase) => phase,
        None if app.spec.instances == 0 => AppPhase::Suspended,
        None => AppPhase::Deploying,
    }
}

/// The phase as the Status column writes it.
pub fn phase_text(phase: AppPhase) -> String {
    phase.as_str().to_string()
}

/// The app page's URL.
pub fn app_url(app: &App) -> String {
    format!(
        "/apps/{}/{}",
        app.namespace().unwrap_or_else(|| "default".into()),
        app.name_any()
    )
}

/// A row of the table: a folder (a group below the current one) or an app.
enum Row<'a> {
    Folder { path: String, apps: Vec<&'a App> },
    App(&'a App),
}

/// The rows shown for `query`: the folders and apps directly in its group, or, when
/// filtering, every matching app of the group's subtree.
fn rows<'a>(apps: &'a [App], query: &AppsQuery) -> Vec<Row<'a>> {
    let group = query.group();
    let prefix = if group == "/" {
        "/".to_string()
    } else {
        format!("{group}/")
    };
    let q = query.q();
    let status = query.status();
    let mut in_group: Vec<(String, &App)> = apps
        .iter()
        .map(|app| (app_id(app), app))
        .filter(|(id, _)| id.starts_with(&prefix))
        .collect();
    in_group.sort_by(|a, b| a.0.cmp(&b.0));
    let (column, descending) = query.sort_column();
    in_group.sort_by(|a, b| {
        let order = compare(column, a.1, b.1).then_with(|| a.0.cmp(&b.0));
        if descending { order.reverse() } else { order }
    });
    if query.filtering() {
        return in_group
            .into_iter()
            .filter(|(id, app)| {
                q.as_ref().is_none_or(|q| {
                    id.to_lowercase().contains(q) || app.name_any().to_lowercase().contains(q)
                })
            })
            .filter(|(_, app)| status.is_none_or(|s| phase_text(app_phase(app)) == s))
            .map(|(_, app)| Row::App(app))
            .collect();
    }
    let mut folders: BTreeMap<String, Vec<&App>> = BTreeMap::new();
    let mut direct = Vec::new();
    for (id, app) in in_group {
        let rest = &id[prefix.len()..];
        match rest.split_once('/') {
            Some((folder, _)) => folders
                .entry(format!("{prefix}{folder}"))
                .or_default()
                .push(app),
            None => direct.push(app),
        }
    }
    folders
        .into_iter()
        .map(|(path, apps)| Row::Folder { path, apps })
        .chain(direct.into_iter().map(Row::App))
        .collect()
}

/// The columns the table sorts by: (query value, header, numeric).
const COLUMNS: [(&str, &str, bool); 6] = [
    ("id", "ID", false),
    ("mem", "Memory (MB)", true),
    ("cpus", "CPUs", true),
    ("tasks", "Tasks / Instances", true),
    ("health", "Health", false),
    ("status", "Status", false),
];

impl AppsQuery {
    /// The sort column and whether it is descending.
    fn sort_column(&self) -> (&str, bool) {
        let sort = self.sort.as_deref().unwrap_or("id");
        match sort.strip_prefix('-') {
            Some(column) => (column, true),
            None => (sort, false),
        }
    }
}

/// How apps `a` and `b` compare in `column`.
fn compare(column: &str, a: &App, b: &App) -> std::cmp::Ordering {
    let running = |app: &App| app.status.as_ref().map_or(0, |s| s.tasks_running);
    let healthy = |app: &App| {
        let counts = HealthCounts::of_app(app);
        (counts.healthy, std::cmp::Reverse(counts.unhealthy))
    };
    match column {
        "mem" => a.spec.mem.cmp(&b.spec.mem),
        "cpus" => a.spec.cpus.cmp(&b.spec.cpus),
        "tasks" => (running(a), a.spec.instances).cmp(&(running(b), b.spec.instances)),
        "health" => healthy(a).cmp(&healthy(b)),
        "status" => phase_text(app_phase(a)).cmp(&phase_text(app_phase(b))),
        _ => std::cmp::Ordering::Equal,
    }
}

/// The table's header: each column a link sorting by it (again: the other way), the current
/// one marked with an arrow.
fn header(query: &AppsQuery) -> Markup {
    let (current, descending) = query.sort_column();
    html! {
        thead { tr {
            @for (column, label, numeric) in COLUMNS {
                @let active = current == column;
                @let next = if active && !descending { format!("-{column}") } else { column.to_string() };
                @let link = AppsQuery { sort: Some(next), ..query.clone() };
                th class=[numeric.then_some("num")] data-sort=(column)
                    aria-sort=[active.then_some(if descending { "descending" } else { "ascending" })] {
                    a href={"/apps?" (link.to_query_string(None))} {
                        (label)
                        @if active { (if descending { " ▼" } else { " ▲" }) }
                    }
                }
            }
        } }
    }
}

/// The table body for `apps` under `query`.
pub fn table_body(apps: &[App], query: &AppsQuery) -> Markup {
    let rows = rows(apps, query);
    html! {
        @if rows.is_empty() {
            (empty_row(6, if query.filtering() { "No app matches." } else { "No apps here yet." }))
        }
        @for row in &rows {
            @match row {
                Row::Folder { path, apps } => (folder_row(path, apps, query)),
                Row::App(app) => (app_row(app)),
            }
        }
    }
}

fn folder_row(path: &str, apps: &[&App], query: &AppsQuery) -> Markup {
    let name = path.rsplit('/').next().unwrap_or(path);
    let mem: u64 = apps
        .iter()
        .map(|a| a.spec.mem * u64::from(a.spec.instances))
        .sum();
    let cpus: f64 = apps
        .iter()
        .map(|a| a.spec.cpus.as_f64() * f64::from(a.spec.instances))
        .sum();
    let running: u32 = apps
        .iter()
        .map(|a| a.status.as_ref().map_or(0, |s| s.tasks_running))
        .sum();
    let instances: u32 = apps.iter().map(|a| a.spec.instances).sum();
    let mut health = HealthCounts::default();
    for app in apps {
        let c = HealthCounts::of_app(app);
        health.healthy += c.healthy;
        health.unhealthy += c.unhealthy;
        health.unknown += c.unknown;
        health.staged += c.staged;
        health.over_capacity += c.over_capacity;
        health.unscheduled += c.unscheduled;
    }
    let href = format!("/apps?{}", query.to_query_string(Some(path)));
    html! {
        tr.folder data-group=(path) {
            td.id { a href=(href) { (name) } }
            td.mem { (mem) }
            td.cpus { (format_cpus(cpus)) }
            td.tasks { (running) " / " (instances) }
            td.health { (layout::health_bar(&health)) }
            td.status { }
        }
    }
}

/// CPUs as Marathon shows them: up to three decimals, no trailing zeros.
fn format_cpus(cpus: f64) -> String {
    let text = format!("{cpus:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn app_row(app: &App) -> Markup {
    let namespace = app.namespace().unwrap_or_else(|| "default".into());
    let name = app.name_any();
    let id = app_id(app);
    let phase = phase_text(app_phase(app));
    let running = app.status.as_ref().map_or(0, |s| s.tasks_running);
    html! {
        tr.app data-id=(id) data-namespace=(namespace) data-name=(name) {
            td.id { a href=(app_url(app)) { (id) } }
            td.mem { (app.spec.mem) }
            td.cpus { (app.spec.cpus) }
            td.tasks { (running) " / " (app.spec.instances) }
            td.health { (layout::health_bar(&HealthCounts::of_app(app))) }
            td class={"status status-" (phase)} { (phase) }
        }
    }
}

/// The breadcrumb of `group`: `Apps / prod / web`, each a link.
fn breadcrumb(group: &str, query: &AppsQuery) -> Markup {
    let segments: Vec<&str> = group.split('/').filter(|s| !s.is_empty()).collect();
    html! {
        nav.breadcrumb #breadcrumb {
            a href={"/apps?" (query.to_query_string(Some("/")))} { "Apps" }
            @for (i, segment) in segments.iter().enumerate() {
                " / "
                @let path = format!("/{}", segments[..=i].join("/"));
                a href={"/apps?" (query.to_query_string(Some(&path)))} { (segment) }
            }
        }
    }
}

async fn apps_page(user: User, Query(query): Query<AppsQuery>) -> Result<Response, AppError> {
    let (scope, apps) = match list_apps(&user, &query).await {
        Ok(listed) => listed,
        Err(e) if e.is_forbidden() => {
            // Not even this namespace: say so on the page, with the field to pick another.
            let body = html! {
                h1 { "Applications" }
                (filters(&query, &Scope::Namespace(query.namespace(&user)), &[]))
                (layout::inline_error(&e))
            };
            let page = layout::page("Applications", Nav::Apps, &user, body);
            return Ok((e.status_code(), page).into_response());
        }
        Err(e) => return Err(e),
    };
    let query = query.opening(&scope);
    let group = query.group();
    let live = query.to_query_string(None);
    let body = html! {
        div.toolbar {
            h1 { "Applications" }
            span.spacer {}
            a.button.primary #new-app href="/apps/new" { "Create Application" }
        }
        (filters(&query, &scope, &apps))
        // Without a namespace asked for, one namespace means the store refused the list of all.
        @if let (Scope::Namespace(ns), None) = (&scope, &query.namespace) {
            (layout::notice(&format!(
                "You may not list apps in all namespaces, so this shows namespace {ns} only \
                 (pick another above)."
            )))
        }
        (breadcrumb(&group, &query))
        table #apps data-live=(live) {
            (header(&query))
            tbody #apps-body { (table_body(&apps, &query)) }
        }
        script { (PreEscaped(LIVE_JS)) }
    };
    Ok(layout::page("Applications", Nav::Apps, &user, body).into_response())
}

/// The filter form: name, status (with how many apps are in each), and the namespace when the
/// user sees only one.
fn filters(query: &AppsQuery, scope: &Scope, apps: &[App]) -> Markup {
    let status = query.status().unwrap_or("");
    let count = |phase: AppPhase| apps.iter().filter(|a| app_phase(a) == phase).count();
    html! {
        form.toolbar #filters method="get" action="/apps" {
            input #filter-q type="search" name="q" placeholder="Filter by name"
                value=(query.q.as_deref().unwrap_or(""));
            select #filter-status name="status" {
                option value="" selected[status.is_empty()] { "All statuses" }
                @for phase in AppPhase::ALL {
                    option value=(phase.as_str()) selected[status == phase.as_str()] {
                        (phase.as_str()) " (" (count(phase)) ")"
                    }
                }
            }
            @if query.group() != "/" {
                input type="hidden" name="group" value=(query.group());
            }
            @if let Some(sort) = query.sort.as_deref().filter(|s| !s.is_empty()) {
                input type="hidden" name="sort" value=(sort);
            }
            @if let Scope::Namespace(ns) = scope {
                label for="filter-namespace" { "Namespace" }
                input #filter-namespace type="text" name="namespace" value=(ns);
            }
            button type="submit" { "Filter" }
        }
    }
}

/// Refreshes the table body whenever `/apps/events` says something changed.
const LIVE_JS: &str = r#"
(function () {
  var table = document.getElementById('apps');
  if (!table || !window.EventSource) return;
  var query = table.getAttribute('data-live');
  var body = document.getElementById('apps-body');
  var source = new EventSource('/apps/events' + (query ? '?' + query : ''));
  source.onmessage = function () {
    strataRefetch('/apps/rows' + (query ? '?' + query : ''), function (html) { body.innerHTML = html; });
  };
})();
"#;

async fn apps_rows(user: User, Query(query): Query<AppsQuery>) -> Result<Markup, AppError> {
    let (scope, apps) = list_apps(&user, &query).await?;
    Ok(table_body(&apps, &query.opening(&scope)))
}

/// Server-sent events: one `changed` message (data `apps`) whenever an App or a Task of an
/// app in scope changes, at most one per [`DEBOUNCE`]. The stream (and its watches) ends when
/// the client goes away: dropping the response body drops them.
async fn apps_events(user: User, Query(query): Query<AppsQuery>) -> Result<Response, AppError> {
    let (scope, _) = list_apps(&user, &query).await?;
    let changes = changes(&user.client, &scope);
    let events = debounced(changes, DEBOUNCE)
        .map(|()| Ok::<Event, Infallible>(Event::default().data("apps")));
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// A unit item for every change of an App, or of a Task of an app, in `scope`.
fn changes(client: &Client, scope: &Scope) -> impl Stream<Item = ()> + Send + 'static {
    let apps = watcher(scope.apps(client), watcher::Config::default());
    let tasks = watcher(
        scope.tasks(client),
        watcher::Config::default().labels(labels::APP),
    );
    let apps = watcher_changes(apps);
    let tasks = watcher_changes(tasks);
    stream::select(apps, tasks)
}

/// The changes a watcher reports: applied and deleted objects, and the end of a (re)list.
/// Errors (e.g. the user may not watch tasks) are retried with backoff and not reported.
pub(crate) fn watcher_changes<K>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
) -> impl Stream<Item = ()> + Send + 'static
where
    K: Send + 'static,
{
    use kube::runtime::WatchStreamExt;
    events.default_backoff().filter_map(|event| {
        // Every listing counts, the first too: it covers what changed between the page being
        // rendered and this stream starting.
        let changed = match event {
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone) => {
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::debug!(error = %e, "apps page watch failed; retrying");
                false
            }
        };
        futures::future::ready(changed.then_some(()))
    })
}

/// `changes` coalesced: after one arrives, more arriving within `quiet` of each other are
/// folded into it (for at most a few `quiet`s), then one item is yielded.
pub(crate) fn debounced(
    changes: impl Stream<Item = ()> + Send + 'static,
    quiet: Duration,
) -> impl Stream<Item = ()> + Send + 'static {
    stream::unfold(Box::pin(changes), move |mut changes| async move {
        changes.next().await?;
        let deadline = tokio::time::Instant::now() + quiet * 4;
        while tokio::time::Instant::now() < deadline {
            match tokio::time::timeout(quiet, changes.next()).await {
                Ok(Some(())) => continue,
                Ok(None) => break,
                Err(_) => break,
            }
        }
        Some(((), changes))
    })
}

#[cfg(test)]
mod tests {
    use strata_api::{AppSpec, AppStatus};

    use super::*;

    fn app(namespace: &str, name: &str, id: &str) -> App {
        let mut app = App::new(name, AppSpec::default());
        app.metadata.namespace = Some(namespace.into());
        app.status = Some(AppStatus {
            id: Some(id.into()),
            ..AppStatus::default()
        });
        app
    }

    fn shown(rows: &[Row<'_>]) -> Vec<String> {
        rows.iter()
            .map(|r| match r {
                Row::Folder { path, apps } => format!("folder {path} ({})", apps.len()),
                Row::App(app) => app_id(app),
            })
            .collect()
    }

    #[test]
    fn groups_are_folders() {
        let apps = vec![
            app("default", "web", "/web"),
            app("prod", "kibana", "/prod/kibana"),
            app("prod", "web.kibana", "/prod/web/kibana"),
        ];
        let root = AppsQuery::default();
        assert_eq!(shown(&rows(&apps, &root)), ["folder /prod (2)", "/web"]);
        let prod = AppsQuery {
            group: Some("/prod/".into()),
            ..AppsQuery::default()
        };
        assert_eq!(
            shown(&rows(&apps, &prod)),
            ["folder /prod/web (1)", "/prod/kibana"]
        );
        let filtered = AppsQuery {
            q: Some("KIB".into()),
            ..AppsQuery::default()
        };
        assert_eq!(
            shown(&rows(&apps, &filtered)),
            ["/prod/kibana", "/prod/web/kibana"]
        );
    }

    #[test]
    fn status_filter_uses_the_phase() {
        let mut suspended = app("default", "idle", "/idle");
        suspended.spec.instances = 0;
        let apps = vec![app("default", "web", "/web"), suspended];
        let query = AppsQuery {
            status: Some("Suspended".into()),
            ..AppsQuery::default()
        };
        assert_eq!(shown(&rows(&apps, &query)), ["/idle"]);
    }

    #[test]
    fn sorting_by_a_column_keeps_folders_first() {
        let mut big = app("default", "big", "/big");
        big.spec.mem = 4096;
        let mut small = app("default", "small", "/small");
        small.spec.mem = 64;
        let apps = vec![app("prod", "kibana", "/prod/kibana"), small, big];
        let by_mem = AppsQuery {
            sort: Some("-mem".into()),
            ..AppsQuery::default()
        };
        assert_eq!(
            shown(&rows(&apps, &by_mem)),
            ["folder /prod (1)", "/big", "/small"]
        );
        let by_mem = AppsQuery {
            sort: Some("mem".into()),
            ..AppsQuery::default()
        };
        assert_eq!(
            shown(&rows(&apps, &by_mem)),
            ["folder /prod (1)", "/small", "/big"]
        );
        let html = header(&by_mem).into_string();
        assert!(html.contains(r#"href="/apps?sort=-mem""#), "{html}");
        assert!(html.contains(r#"aria-sort="ascending""#), "{html}");
    }

    #[test]
    fn cpus_read_like_marathon() {
        assert_eq!(format_cpus(1.5), "1.5");
        assert_eq!(format_cpus(2.0), "2");
        assert_eq!(format_cpus(0.125), "0.125");
    }
}
