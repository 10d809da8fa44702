//! The Sandbox page: a task's files, its stdout and stderr, following as they grow — the seed's
//! "enter the job's sandbox to observe stdout and stderr".
//!
//! Why it exists: a task's output lives in its sandbox on its agent, served by the agent's
//! sandbox service (`strata_agent::files`, Mesos' `/files`). The console reads the Task with the
//! user's client (so the store says whether the user may see it and where its sandbox is), then
//! asks the agent with the user's own bearer token; the agent asks the store again and refuses
//! anyone who may not read the task. The console never reads a sandbox with any other identity,
//! and it refuses paths with `..` before asking anyone.
//!
//! Routes, under `/sandbox/{namespace}/{task}`:
//! - `?path=DIR&view=FILE` — the page: the listing of DIR (the sandbox's top by default), the
//!   last 64 KiB of stdout and stderr (and of FILE, when one is opened), following as they grow.
//! - `follow?path=FILE&offset=N` — server-sent events: each event's data is a JSON string of
//!   new text, its id the byte offset reached (so a reconnecting browser resumes there); an
//!   `end` event when the task has ended and everything was sent, a `refused` event (a JSON
//!   string saying why) when the agent cannot be read.
//! - `download?path=FILE` — the raw file.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use futures::{Stream, StreamExt};
use http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use kube::Api;
use kube::ResourceExt;
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use strata_agent::sandbox_client::{AgentError, AgentSandbox, Entry, Tail};
use strata_api::{Agent, Task, labels};

use crate::Console;
use crate::error::{AppError, error_page};
use crate::layout::{self, Nav};
use crate::session::{User, request_token};

/// How much of a file the page shows (its end).
pub const TAIL_BYTES: u64 = 64 * 1024;

/// The Sandbox pages (`/sandbox/{namespace}/{task}`).
pub fn routes() -> Router<Console> {
    Router::new()
        .route("/sandbox", get(|| async { Redirect::to("/cluster#tasks") }))
        .route("/sandbox/{namespace}/{task}", get(sandbox_page))
        .route("/sandbox/{namespace}/{task}/follow", get(follow))
        .route("/sandbox/{namespace}/{task}/download", get(download))
}

/// `?path=DIR&view=FILE` of the page.
#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    view: Option<String>,
}

/// `?path=FILE&offset=N` of follow and download.
#[derive(Debug, Deserialize)]
struct FileQuery {
    path: String,
    #[serde(default)]
    offset: Option<u64>,
}

/// Refuses a path that climbs out of the sandbox (`..`) before the agent is asked (which
/// refuses it too).
fn checked_path(path: &str) -> Result<&str, AppError> {
    if path.split('/').any(|part| part == "..") {
        return Err(AppError::BadRequest(format!(
            "path {path:?} leaves the task's sandbox: paths with .. are refused"
        )));
    }
    Ok(path)
}

/// The task, read as the user, and its sandbox on its agent (None when it has none yet).
async fn task_sandbox(
    user: &User,
    headers: &HeaderMap,
    namespace: &str,
    name: &str,
) -> Result<(Task, Option<AgentSandbox>), AppError> {
    let task = Api::<Task>::namespaced(user.client.clone(), namespace)
        .get(name)
        .await?;
    // The User extractor has checked this very token with the store.
    let token = request_token(headers).ok_or_else(|| {
        AppError::BadRequest("sign in again: the request carries no token".to_string())
    })?;
    let Some(url) = task
        .status
        .as_ref()
        .and_then(|s| s.sandbox.as_ref())
        .map(|s| s.url.clone())
        .filter(|url| !url.is_empty())
    else {
        return Ok((task, None));
    };
    check_endpoint(user, &task, &url).await?;
    let sandbox = AgentSandbox::new(&url, namespace, name, Some(&token));
    Ok((task, Some(sandbox)))
}

/// Refuses a sandbox URL that is not the endpoint of the task's agent, when the user may read
/// that Agent: the user's token is sent there, so it must be the agent's own service, whoever
/// wrote the task's status. (A user who may not read agents has only the task to go by.)
async fn check_endpoint(user: &User, task: &Task, url: &str) -> Result<(), AppError> {
    let agents: Api<Agent> = Api::all(user.client.clone());
    let endpoint = match agents.get_opt(&task.spec.agent).await {
        Ok(agent) => agent.and_then(|a| a.status).and_then(|s| s.endpoint),
        Err(kube::Error::Api(status)) if status.code == 403 => None,
        Err(e) => return Err(e.into()),
    };
    match endpoint {
        Some(endpoint) if endpoint.trim_end_matches('/') != url.trim_end_matches('/') => {
            Err(AppError::BadRequest(format!(
                "The task's sandbox is said to be at {url}, but its agent {:?} serves sandboxes at \
                 {endpoint}; the console does not send your credentials elsewhere.",
                task.spec.agent
            )))
        }
        _ => Ok(()),
    }
}

/// The checked file of `query` and the task's sandbox, for follow and download.
async fn file_sandbox(
    user: &User,
    headers: &HeaderMap,
    namespace: &str,
    name: &str,
    query: &FileQuery,
) -> Result<(String, Option<AgentSandbox>), AppError> {
    let file = checked_path(&query.path)?.to_string();
    let (_, sandbox) = task_sandbox(user, headers, namespace, name).await?;
    Ok((file, sandbox))
}

/// `/sandbox/{namespace}/{task}/...` with `path` (and offset) as a query.
fn route(namespace: &str, task: &str, action: &str, path: &str) -> String {
    let base = format!(
        "/sandbox/{}/{}",
        layout::encode(namespace),
        layout::encode(task)
    );
    let action = if action.is_empty() {
        String::new()
    } else {
        format!("/{action}")
    };
    format!("{base}{action}?path={}", layout::encode(path))
}

/// `dir/name`, without a leading `./`.
fn join(dir: &str, name: &str) -> String {
    match dir.trim_end_matches('/') {
        "" | "." => name.to_string(),
        dir => format!("{dir}/{name}"),
    }
}

async fn sandbox_page(
    user: User,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Result<Response, AppError> {
    let dir = checked_path(query.path.as_deref().unwrap_or("."))?.to_string();
    let view = match query.view.as_deref() {
        Some(view) => Some(checked_path(view)?.to_string()),
        None => None,
    };
    let (task, sandbox) = task_sandbox(&user, &headers, &namespace, &name).await?;
    let title = format!("Sandbox of {namespace}/{name}");
    let state = task
        .status
        .as_ref()
        .and_then(|s| s.state)
        .map_or("Pending".to_string(), |s| format!("{s:?}"));
    let header = html! {
        p.breadcrumb {
            @if let Some(app) = task.labels().get(labels::APP) {
                a href="/apps" { "Apps" } " / "
                a href=(format!("/apps/{}/{}", layout::encode(&namespace), layout::encode(app))) {
                    (namespace) "/" (app)
                }
            } @else {
                a href="/cluster#tasks" { "Tasks" } " / " (namespace)
            }
            " / " (name)
        }
        h1 { "Sandbox of " code { (namespace) "/" (name) } }
        dl.props #task-props {
            dt { "State" } dd #task-state { (state) }
            dt { "Agent" } dd #task-agent { (task.spec.agent) }
            @if let Some(sandbox) = task.status.as_ref().and_then(|s| s.sandbox.as_ref()) {
                dt { "Sandbox" } dd #sandbox-path { code { (sandbox.path) } }
            }
        }
    };
    let Some(sandbox) = sandbox else {
        let body = html! {
            (header)
            p.notice #sandbox-unavailable {
                "This task has no sandbox yet (it is " (state) "): its agent creates one when it \
                 launches the task, and the page shows it from then on."
            }
        };
        return Ok(layout::page(&title, Nav::Sandbox, &user, body).into_response());
    };

    let (listing, stdout, stderr, viewed) = tokio::join!(
        sandbox.browse(&dir),
        sandbox.tail("stdout", TAIL_BYTES),
        sandbox.tail("stderr", TAIL_BYTES),
        async {
            match &view {
                Some(file) => Some(sandbox.tail(file, TAIL_BYTES).await),
                None => None,
            }
        },
    );
    // When the agent cannot be reached or refuses, the listing says so once for the whole page.
    let mut listing = match listing {
        Ok(entries) => entries,
        Err(error) => {
            let status = match &error {
                AgentError::Refused { status, .. } => *status,
                _ => StatusCode::OK,
            };
            let body = html! {
                (header)
                (agent_problem(&error))
            };
            let page = layout::page(&title, Nav::Sandbox, &user, body);
            return Ok((status, page).into_response());
        }
    };
    // The agent's own bookkeeping (`.strata/`) is served but not listed.
    listing.retain(|entry| !entry.name().starts_with(".strata"));
    let body = html! {
        (header)
        section #files-section {
            h2 { "Files" }
            (breadcrumb(&namespace, &name, &dir))
            (files_table(&namespace, &name, &dir, &listing))
        }
        @if let (Some(file), Some(tail)) = (&view, viewed) {
            section #viewer-section {
                h2 { code { (file) } }
                (viewer("file", &namespace, &name, file, tail))
            }
        }
        section #stdout-section {
            h2 { "stdout" }
            (viewer("stdout", &namespace, &name, "stdout", stdout))
        }
        section #stderr-section {
            h2 { "stderr" }
            (viewer("stderr", &namespace, &name, "stderr", stderr))
        }
        style { "pre.output{max-height:32em;white-space:pre-wrap;word-break:break-all}" }
        script { (PreEscaped(FOLLOW_JS)) }
    };
    Ok(layout::page(&title, Nav::Sandbox, &user, body).into_response())
}

/// What the page says when the agent cannot be asked or refuses.
fn agent_problem(error: &AgentError) -> Markup {
    match error {
        AgentError::Refused { status, message } if *status == StatusCode::FORBIDDEN => html! {
            p.error-message #sandbox-refused role="alert" {
                "The agent refused: you may not read this task's sandbox. " (message)
            }
        },
        AgentError::Refused { .. } | AgentError::Garbled(_) => html! {
            p.error-message #sandbox-refused role="alert" { (error.to_string()) }
        },
        AgentError::Unreachable { .. } => html! {
            p.notice #sandbox-unavailable {
                "The sandbox cannot be read now: " (error.to_string()) "."
            }
        },
    }
}

fn breadcrumb(namespace: &str, task: &str, dir: &str) -> Markup {
    let parts: Vec<&str> = dir
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    html! {
        p.breadcrumb #files-path {
            a href=(route(namespace, task, "", ".")) { "sandbox" }
            @for (i, part) in parts.iter().enumerate() {
                " / "
                a href=(route(namespace, task, "", &parts[..=i].join("/"))) { (part) }
            }
        }
    }
}

fn files_table(namespace: &str, task: &str, dir: &str, entries: &[Entry]) -> Markup {
    if entries.is_empty() {
        return html! { p.muted { "This directory is empty." } };
    }
    html! {
        table #files.data {
            thead { tr {
                th { "Name" } th.num { "Size" } th { "Mode" } th { "Modified" } th {}
            } }
            tbody {
                @for entry in entries {
                    @let path = join(dir, entry.name());
                    tr.file.dir[entry.is_dir()] data-name=(entry.name()) {
                        @if entry.is_dir() {
                            td.name { a href=(route(namespace, task, "", &path)) { (entry.name()) "/" } }
                        } @else {
                            td.name {
                                a href=(format!("{}&view={}", route(namespace, task, "", dir), layout::encode(&path))) {
                                    (entry.name())
                                }
                            }
                        }
                        td.size.num { (entry.size) }
                        td.mode { code { (entry.mode) } }
                        td.mtime { (mtime(entry.mtime)) }
                        td.actions {
                            @if !entry.is_dir() {
                                a.download href=(route(namespace, task, "download", &path)) { "download" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A modification time (seconds since the epoch) as UTC, to the second.
fn mtime(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A `<pre id=ID>` with the end of `file`, following it (`data-follow`) from where it ends.
fn viewer(
    id: &str,
    namespace: &str,
    task: &str,
    file: &str,
    tail: Result<Tail, AgentError>,
) -> Markup {
    match tail {
        Ok(tail) => {
            let follow = format!(
                "{}&offset={}",
                route(namespace, task, "follow", file),
                tail.size
            );
            html! {
                @if tail.truncated {
                    p.notice.truncated {
                        "Showing the last " (TAIL_BYTES / 1024) " KiB of " (tail.size) " bytes; "
                        a href=(route(namespace, task, "download", file)) { "download the whole file" } "."
                    }
                }
                pre.output id=(id) data-follow=(follow) { (tail.text) }
                p.muted.follow-state id={(id) "-state"} { "following…" }
            }
        }
        Err(AgentError::Refused { status, .. }) if status == StatusCode::NOT_FOUND => html! {
            p.muted id={(id) "-missing"} { "No such file in the sandbox." }
        },
        Err(error) => html! {
            p.error-message id={(id) "-error"} { (error.to_string()) }
        },
    }
}

/// Follows every `<pre data-follow>`: appends each event's text (as text, never as HTML) and
/// keeps the view at the bottom when it was there.
const FOLLOW_JS: &str = r#"
document.querySelectorAll('pre[data-follow]').forEach(function (pre) {
  var state = document.getElementById(pre.id + '-state');
  var say = function (text) { if (state) { state.textContent = text; } };
  var source = new EventSource(pre.dataset.follow);
  source.onmessage = function (e) {
    var bottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(document.createTextNode(JSON.parse(e.data)));
    if (bottom) { pre.scrollTop = pre.scrollHeight; }
  };
  source.addEventListener('end', function () { source.close(); say('the task has ended'); });
  source.addEventListener('refused', function (e) { source.close(); say(JSON.parse(e.data)); });
  source.onerror = function () { say('reconnecting…'); };
  source.onopen = function () { say('following…'); };
});
"#;

/// Splits `bytes` into the text of its complete UTF-8 sequences (anything invalid replaced) and
/// the bytes of a sequence cut at the end, to be completed by the next chunk.
pub fn split_utf8(bytes: &[u8]) -> (String, &[u8]) {
    let mut cut = bytes.len();
    // A cut sequence is at most 3 bytes: a lead byte and fewer continuation bytes than it needs.
    for back in 1..=3.min(bytes.len()) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for the lead
        }
        let needed = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        if needed > back {
            cut = bytes.len() - back;
        }
        break;
    }
    (
        String::from_utf8_lossy(&bytes[..cut]).into_owned(),
        &bytes[cut..],
    )
}

/// The events of following `file` from `offset`: text as JSON strings with the offset reached as
/// id, then `end`; or one `refused` event when the agent cannot be read.
fn follow_events(
    sandbox: Option<AgentSandbox>,
    file: String,
    offset: u64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let refused = |why: String| {
        Event::default()
            .event("refused")
            .json_data(why)
            .unwrap_or_default()
    };
    async_stream(move |tx| async move {
        let Some(sandbox) = sandbox else {
            let _ = tx
                .send(refused("the task has no sandbox yet".to_string()))
                .await;
            return;
        };
        let mut body = match sandbox.follow(&file, offset).await {
            Ok(body) => body,
            Err(error) => {
                let _ = tx.send(refused(error.to_string())).await;
                return;
            }
        };
        let mut reached = offset;
        let mut carry: Vec<u8> = Vec::new();
        loop {
            // Stop as soon as the browser goes away, even while the file does not grow:
            // dropping the body ends the agent's stream too.
            let frame = tokio::select! {
                _ = tx.closed() => return,
                frame = body.frame() => frame,
            };
            let Some(frame) = frame else { break };
            let Ok(frame) = frame else {
                let _ = tx
                    .send(refused(
                        "the agent stopped sending the file; reload to follow it again".into(),
                    ))
                    .await;
                return;
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            reached += data.len() as u64;
            carry.extend_from_slice(&data);
            let (text, rest) = split_utf8(&carry);
            let rest = rest.to_vec();
            if !text.is_empty() {
                let sent = reached - rest.len() as u64;
                let event = Event::default()
                    .id(sent.to_string())
                    .json_data(text)
                    .unwrap_or_default();
                if tx.send(event).await.is_err() {
                    return;
                }
            }
            carry = rest;
        }
        let _ = tx.send(Event::default().event("end").data("")).await;
    })
}

/// A stream fed by `produce` through a small channel; the producer stops when the stream is
/// dropped (its sends fail).
fn async_stream<F, Fut>(produce: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(produce(tx));
    tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok)
}

async fn follow(
    user: User,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
    Query(query): Query<FileQuery>,
) -> Result<Response, AppError> {
    let (file, sandbox) = file_sandbox(&user, &headers, &namespace, &name, &query).await?;
    // A reconnecting EventSource says where it got to.
    let offset = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .or(query.offset)
        .unwrap_or(0);
    let events = follow_events(sandbox, file, offset);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

async fn download(
    user: User,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
    Query(query): Query<FileQuery>,
) -> Result<Response, AppError> {
    let (file, sandbox) = file_sandbox(&user, &headers, &namespace, &name, &query).await?;
    let Some(sandbox) = sandbox else {
        return Err(AppError::NotFound(format!(
            "task {namespace}/{name} has no sandbox yet"
        )));
    };
    let body = match sandbox.download(&file).await {
        Ok(body) => body,
        Err(error) => return Ok(agent_error_page(&error)),
    };
    let filename: String = file
        .rsplit('/')
        .next()
        .unwrap_or("file")
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
        .collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (CONTENT_DISPOSITION, disposition),
        ],
        Body::new(body),
    )
        .into_response())
}

/// An error page for what the agent answered: its refusal with its status, or 502 when it
/// cannot be reached.
fn agent_error_page(error: &AgentError) -> Response {
    let code = match error {
        AgentError::Refused { status, .. } => *status,
        AgentError::Unreachable { .. } | AgentError::Garbled(_) => StatusCode::BAD_GATEWAY,
    };
    error_page(code, &error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_is_refused_before_the_agent_is_asked() {
        assert!(checked_path("stdout").is_ok());
        assert!(checked_path("logs/app.log").is_ok());
        assert!(checked_path("a..b").is_ok());
        for bad in ["..", "../x", "logs/../../etc/passwd", "a/.."] {
            assert!(checked_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn utf8_cut_at_the_end_waits_for_the_rest() {
        let text = "héllo €";
        let bytes = text.as_bytes();
        // Cut inside the euro sign (3 bytes).
        let (done, rest) = split_utf8(&bytes[..bytes.len() - 1]);
        assert_eq!(done, "héllo ");
        assert_eq!(rest.len(), 2);
        let (done, rest) = split_utf8(bytes);
        assert_eq!((done.as_str(), rest.len()), (text, 0));
        // Invalid bytes are replaced, not carried forever.
        let (done, rest) = split_utf8(b"a\xffb");
        assert_eq!((done.as_str(), rest.len()), ("a\u{fffd}b", 0));
    }

    #[test]
    fn routes_and_joins() {
        assert_eq!(
            route("team-a", "web.1", "follow", "logs/a b"),
            "/sandbox/team-a/web.1/follow?path=logs/a%20b"
        );
        assert_eq!(join(".", "stdout"), "stdout");
        assert_eq!(join("logs/", "x"), "logs/x");
    }
}
