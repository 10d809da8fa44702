//! The Sandbox page against the real store and a real agent sandbox service
//! (`strata_agent::files`) on a local port: the page shows the task's files, stdout and stderr
//! (escaped), the follow stream delivers bytes appended to stdout and ends with the task, the
//! download is the raw file, and users who may not read the task are refused.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Harness, element, rows};
use http::StatusCode;
use serde_json::json;
use strata_agent::files::Files;
use strata_agent::workdir::WorkDir;
use strata_api::{Agent, AgentSpec, Task, TaskSpec};

/// The harness, the agent's sandbox service URL, and the sandbox of task team-a/web.1.
struct Setup {
    h: Harness,
    url: String,
    sandbox: PathBuf,
}

fn task(name: &str) -> Task {
    Task::new(
        name,
        TaskSpec {
            framework: "marathon".into(),
            agent: "node-1".into(),
            command: Some("echo hello".into()),
            ..TaskSpec::default()
        },
    )
}

/// Task `team-a/name` (on node-1) with `status`.
async fn task_with(h: &Harness, name: &str, status: serde_json::Value) -> Task {
    h.create(&h.namespaced("team-a"), &task(name), status).await
}

async fn setup() -> Setup {
    let h = Harness::start().await;
    h.namespace("team-a").await;
    let work = WorkDir::open(&h.dir.path().join("agent")).unwrap();
    let files = Files::new("node-1", work.clone(), h.connect.clone()).router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, files).await });

    let created = h
        .create(&h.namespaced("team-a"), &task("web.1"), json!(null))
        .await;
    let uid = created.metadata.uid.clone().unwrap();
    let sandbox = work.create_sandbox(&uid).unwrap();
    std::fs::write(sandbox.join("stdout"), "hello from the task\n").unwrap();
    std::fs::write(sandbox.join("stderr"), "warning: <b>not html</b>\n").unwrap();
    std::fs::create_dir(sandbox.join("logs")).unwrap();
    std::fs::write(sandbox.join("logs/app.log"), "line one\nline two\n").unwrap();
    let status = json!({
        "state": "Running",
        "sandbox": {"url": url, "path": sandbox.display().to_string()},
    });
    h.namespaced::<Task>("team-a")
        .patch_status(
            "web.1",
            &Default::default(),
            &kube::api::Patch::Merge(json!({ "status": status })),
        )
        .await
        .unwrap();
    Setup { h, url, sandbox }
}

#[tokio::test]
async fn the_page_shows_files_stdout_and_stderr() {
    let Setup { h, .. } = setup().await;
    let page = h.admin_get("/sandbox/team-a/web.1").await;
    page.is(StatusCode::OK);

    let stdout = element(&page.body, "pre", "stdout");
    assert!(stdout.contains("hello from the task"), "{stdout}");
    assert!(
        stdout.contains("data-follow=\"/sandbox/team-a/web.1/follow?path=stdout&amp;offset=20\""),
        "follows from the end of what it shows: {stdout}"
    );
    let stderr = element(&page.body, "pre", "stderr");
    assert!(
        stderr.contains("warning: &lt;b&gt;not html&lt;/b&gt;"),
        "escaped: {stderr}"
    );

    let files = element(&page.body, "table", "files");
    let names: Vec<&str> = rows(files, "file")
        .iter()
        .map(|row| {
            let start = row.find("data-name=\"").unwrap() + "data-name=\"".len();
            &row[start..start + row[start..].find('"').unwrap()]
        })
        .collect();
    // The agent's own `.strata/` is not listed.
    assert_eq!(names, ["logs", "stderr", "stdout"], "{files}");

    // A directory is navigable, and its files open in a viewer.
    let logs = h.admin_get("/sandbox/team-a/web.1?path=logs").await;
    logs.is(StatusCode::OK);
    let files = element(&logs.body, "table", "files");
    assert!(files.contains("app.log"), "{files}");
    let viewed = h
        .admin_get("/sandbox/team-a/web.1?path=logs&view=logs/app.log")
        .await;
    let file = element(&viewed.body, "pre", "file");
    assert!(file.contains("line one\nline two"), "{file}");

    // Climbing out of the sandbox is refused before the agent is asked.
    for bad in [
        "/sandbox/team-a/web.1?path=../..",
        "/sandbox/team-a/web.1/download?path=logs/../../../etc/passwd",
        "/sandbox/team-a/web.1/follow?path=../stdout",
    ] {
        let answer = h.admin_get(bad).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            answer.body
        );
        answer.has("paths with .. are refused");
    }
}

#[tokio::test]
async fn a_long_file_shows_its_last_64_kib_with_a_note() {
    let Setup { h, sandbox, .. } = setup().await;
    let mut long = "x".repeat(100 * 1024);
    long.push_str("THE END\n");
    std::fs::write(sandbox.join("stdout"), &long).unwrap();
    let page = h.admin_get("/sandbox/team-a/web.1").await;
    let stdout = element(&page.body, "pre", "stdout");
    assert!(stdout.contains("THE END"), "the end is shown");
    let shown = stdout.matches('x').count();
    assert!(
        shown < 64 * 1024 && shown > 60 * 1024,
        "about 64 KiB shown, not {shown}"
    );
    assert!(
        page.body
            .contains("Showing the last 64 KiB of 102408 bytes"),
        "{}",
        &page.body[..2000.min(page.body.len())]
    );
}

#[tokio::test]
async fn follow_streams_appended_bytes_until_the_task_ends() {
    let Setup { h, sandbox, .. } = setup().await;
    let mut events = h
        .events("/sandbox/team-a/web.1/follow?path=stdout&offset=20")
        .await;

    let appended = sandbox.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(appended.join("stdout"))
            .unwrap();
        std::io::Write::write_all(&mut f, "more <output>\n".as_bytes()).unwrap();
    });

    let received = events.until("more <output>").await;
    // Each event's data is a JSON string; its id the offset reached.
    assert!(
        received.contains("data: \"more <output>\\n\""),
        "{received}"
    );
    assert!(received.contains("id: 34"), "{received}");

    // The task ends: the stream says so and stops.
    std::fs::write(sandbox.join(".strata/finished"), "").unwrap();
    let rest = events.rest().await;
    assert!(rest.contains("event: end"), "{rest}");
}

#[tokio::test]
async fn download_is_the_raw_file() {
    let Setup { h, .. } = setup().await;
    let answer = h
        .admin_get("/sandbox/team-a/web.1/download?path=logs/app.log")
        .await;
    answer.is(StatusCode::OK);
    assert_eq!(answer.body, "line one\nline two\n");
}

#[tokio::test]
async fn users_who_may_not_read_the_task_are_refused() {
    let Setup { h, .. } = setup().await;
    // Bob may read apps in team-a, not tasks.
    let bob = h
        .namespace_user("bob", "team-a", &["apps"], &["get", "list"])
        .await;
    for path in [
        "/sandbox/team-a/web.1",
        "/sandbox/team-a/web.1/follow?path=stdout",
        "/sandbox/team-a/web.1/download?path=stdout",
    ] {
        let answer = h.get(path, &bob).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            answer.body
        );
        assert!(
            answer.body.contains("You may not"),
            "{path}: {}",
            answer.body
        );
        assert!(!answer.body.contains("hello from the task"), "{path}");
    }

    // Carol may read the task: the agent, asked with her own token, lets her read its sandbox.
    let carol = h
        .namespace_user("carol", "team-a", &["tasks"], &["get"])
        .await;
    let page = h.get("/sandbox/team-a/web.1", &carol).await;
    page.is(StatusCode::OK);
    assert!(element(&page.body, "pre", "stdout").contains("hello from the task"));
}

#[tokio::test]
async fn no_sandbox_yet_or_an_unreachable_agent_get_a_message_not_an_error() {
    let Setup { h, .. } = setup().await;
    task_with(&h, "web.2", json!({"state": "Staging"})).await;
    let page = h.admin_get("/sandbox/team-a/web.2").await;
    page.is(StatusCode::OK);
    let note = element(&page.body, "p", "sandbox-unavailable");
    assert!(note.contains("no sandbox yet"), "{note}");

    // An agent that does not answer (nothing listens on port 9 of loopback).
    task_with(
        &h,
        "web.3",
        json!({"state": "Running", "sandbox": {"url": "http://127.0.0.1:9", "path": "/nowhere"}}),
    )
    .await;
    let page = h.admin_get("/sandbox/team-a/web.3").await;
    page.is(StatusCode::OK);
    let note = element(&page.body, "p", "sandbox-unavailable");
    assert!(note.contains("does not answer"), "{note}");
    assert!(note.contains("http://127.0.0.1:9"), "{note}");
}

#[tokio::test]
async fn a_task_on_another_agent_gets_the_agents_answer() {
    let Setup { h, url, .. } = setup().await;
    // web.4 runs on node-2, but its sandbox URL points at node-1's service, which says so.
    let mut other = task("web.4");
    other.spec.agent = "node-2".into();
    h.create(
        &h.namespaced("team-a"),
        &other,
        json!({"state": "Running", "sandbox": {"url": url, "path": "/x"}}),
    )
    .await;
    let page = h.admin_get("/sandbox/team-a/web.4").await;
    page.is(StatusCode::NOT_FOUND);
    let refusal = element(&page.body, "p", "sandbox-refused");
    assert!(refusal.contains("runs on agent"), "{refusal}");
}

#[tokio::test]
async fn follow_says_why_it_cannot_follow() {
    let Setup { h, .. } = setup().await;
    task_with(&h, "web.2", json!({"state": "Staging"})).await;
    for (path, why) in [
        (
            "/sandbox/team-a/web.2/follow?path=stdout",
            "the task has no sandbox yet",
        ),
        ("/sandbox/team-a/web.1/follow?path=nothing-here", "no file"),
    ] {
        let answer = h.admin_get(path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        assert!(
            answer.body.contains("event: refused"),
            "{path}: {}",
            answer.body
        );
        assert!(answer.body.contains(why), "{path}: {}", answer.body);
    }
}

#[tokio::test]
async fn a_sandbox_url_that_is_not_the_agents_endpoint_gets_no_token() {
    let Setup { h, url, .. } = setup().await;
    let agent = Agent::new(
        "node-1",
        AgentSpec::new("host-1", "cpus:1;mem:128".parse().unwrap()),
    );
    h.create(
        &kube::Api::all(h.admin.clone()),
        &agent,
        json!({"endpoint": format!("{url}/")}),
    )
    .await;
    // The agent's own endpoint: read as before.
    let page = h.admin_get("/sandbox/team-a/web.1").await;
    page.is(StatusCode::OK);
    assert!(element(&page.body, "pre", "stdout").contains("hello from the task"));

    // Elsewhere: refused before anything is sent there.
    task_with(
        &h,
        "web.6",
        json!({"state": "Running", "sandbox": {"url": "http://127.0.0.1:9", "path": "/x"}}),
    )
    .await;
    for path in [
        "/sandbox/team-a/web.6",
        "/sandbox/team-a/web.6/follow?path=stdout",
        "/sandbox/team-a/web.6/download?path=stdout",
    ] {
        let answer = h.admin_get(path).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.body
        );
        assert!(
            answer
                .body
                .contains("does not send your credentials elsewhere"),
            "{path}: {}",
            answer.body
        );
    }
}
