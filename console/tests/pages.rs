//! The console's pages as a user meets them, over the real embedded store (no controllers run:
//! app statuses are written by the tests as the Marathon controller would).

mod common;

use std::time::Duration;

use axum::body::Body;
use common::{Harness, app_rows, form};
use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use strata_api::app::AppPhase;
use strata_api::rollout::rollout_name;
use strata_api::{AppStatus, Rollout, Task};
use strata_controllers::marathon::actions::fixtures::rollout;
use tower::ServiceExt;

fn running(id: &str, running: u32, healthy: u32, phase: AppPhase) -> Option<AppStatus> {
    Some(AppStatus {
        id: Some(id.into()),
        tasks_running: running,
        tasks_healthy: healthy,
        instances: running,
        phase: Some(phase),
        ..AppStatus::default()
    })
}

#[tokio::test]
async fn login_with_the_admin_token_sets_the_cookie_and_a_wrong_one_is_refused() {
    let h = Harness::start().await;
    let page = h
        .send(
            Request::get("/login?next=/apps")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"id="token""#), "{}", page.body);

    let login = |token: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/login")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form(&[
                ("token", token),
                ("next", "/apps?group=/prod"),
            ])))
            .unwrap()
    };
    let page = h.send(login(&h.admin_token)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/apps?group=/prod");
    let cookie = page.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(
        cookie.starts_with(&format!("strata_token={};", h.admin_token)),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }

    let page = h.send(login("not-a-token")).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(
        page.body.contains("The API server refused that token"),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"id="token""#));
    assert!(page.headers.get(SET_COOKIE).is_none());
}

#[tokio::test]
async fn pages_need_a_sign_in() {
    let h = Harness::start().await;
    let page = h
        .send(Request::get("/apps?q=web").body(Body::empty()).unwrap())
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?next=/apps%3Fq%3Dweb");

    let page = h.get("/apps", "expired-or-wrong").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);

    let page = h
        .post("/apps/default/web/scale", "wrong", &[("instances", "2")])
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);

    // A form posted from another site is refused even with the cookie.
    let page = h
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/logout")
                .header("host", "console.example:8080")
                .header("origin", "https://evil.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // From the console itself it goes through.
    let page = h
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/logout")
                .header("host", "console.example:8080")
                .header("origin", "http://console.example:8080")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);

    // Signed in already: the login page goes on to where the user was going.
    let page = h.get("/login?next=/apps/new", &h.admin_token).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/apps/new");

    let page = h.get("/no/such/page", &h.admin_token).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("no such page"), "{}", page.body);

    let page = h.get("/", &h.admin_token).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/apps");
}

#[tokio::test]
async fn the_apps_table_shows_numbers_status_and_health() {
    let h = Harness::start().await;
    h.namespace("prod").await;
    h.app(
        "default",
        "web",
        3,
        running("/web", 2, 1, AppPhase::Deploying),
    )
    .await;
    h.app(
        "prod",
        "kibana",
        1,
        running("/prod/kibana", 1, 1, AppPhase::Running),
    )
    .await;
    h.app(
        "default",
        "idle",
        0,
        running("/idle", 0, 0, AppPhase::Suspended),
    )
    .await;

    let page = h.get("/apps", &h.admin_token).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(r#"<table id="apps""#), "{}", page.body);
    let rows = app_rows(&page.body);
    assert_eq!(rows["/web"], ("2 / 3".to_string(), "Deploying".to_string()));
    assert_eq!(
        rows["/idle"],
        ("0 / 0".to_string(), "Suspended".to_string())
    );
    // /prod is a folder at the root.
    assert!(!rows.contains_key("/prod/kibana"));
    assert!(page.body.contains(r#"data-group="/prod""#), "{}", page.body);
    // web: 1 healthy, 1 running without a result, 1 not yet scheduled.
    let web = page.body.split(r#"data-id="/web""#).nth(1).unwrap();
    let web = web.split("</tr>").next().unwrap();
    assert!(
        web.contains(r#"class="segment healthy" data-count="1""#),
        "{web}"
    );
    assert!(
        web.contains(r#"class="segment unknown" data-count="1""#),
        "{web}"
    );
    assert!(
        web.contains(r#"class="segment unscheduled" data-count="1""#),
        "{web}"
    );
    assert!(web.contains(r#"<td class="mem">128</td>"#), "{web}");
    assert!(web.contains(r#"<td class="cpus">1</td>"#), "{web}");

    // The status filter says how many apps are in each status.
    assert!(
        page.body
            .contains(r#"<option value="Suspended">Suspended (1)</option>"#),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"<option value="Running">Running (1)</option>"#)
    );

    // The admin may look at one namespace; nothing says they were refused.
    let page = h.get("/apps?namespace=prod", &h.admin_token).await;
    assert_eq!(
        app_rows(&page.body).keys().collect::<Vec<_>>(),
        ["/prod/kibana"],
        "one namespace opens at its group"
    );
    assert!(!page.body.contains("You may not"), "{}", page.body);

    // Into the folder, with a breadcrumb back.
    let page = h.get("/apps?group=/prod", &h.admin_token).await;
    let rows = app_rows(&page.body);
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["/prod/kibana"]);
    assert!(page.body.contains(r#"id="breadcrumb""#));

    // Filters flatten the groups.
    let page = h.get("/apps?q=KIB", &h.admin_token).await;
    assert_eq!(
        app_rows(&page.body).keys().collect::<Vec<_>>(),
        ["/prod/kibana"]
    );
    let page = h.get("/apps?status=Suspended", &h.admin_token).await;
    assert_eq!(app_rows(&page.body).keys().collect::<Vec<_>>(), ["/idle"]);

    // The live-update body is the same rows.
    let page = h.get("/apps/rows?status=Deploying", &h.admin_token).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("<html"));
    assert_eq!(app_rows(&page.body).keys().collect::<Vec<_>>(), ["/web"]);
}

#[tokio::test]
async fn a_new_app_is_created_and_the_stores_refusal_shows_beside_the_field() {
    let h = Harness::start().await;
    let page = h.get("/apps/new", &h.admin_token).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"id="manifest""#));

    let mut fields = vec![
        ("namespace", "default"),
        ("name", "web"),
        ("cmd", "sleep 100"),
        ("cpus", "-1"),
        ("mem", "64"),
        ("instances", "2"),
        ("ports", "0"),
        ("env", "A=1"),
    ];
    let page = h.post("/apps/new", &h.admin_token, &fields).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    let cpus_field = page.body.split(r#"id="app-cpus""#).nth(1).unwrap();
    let next_field = cpus_field.split(r#"class="field""#).next().unwrap();
    assert!(
        next_field.contains(r#"<p class="field-error" data-field="spec.cpus">"#),
        "{}",
        page.body
    );
    // What was typed is kept.
    assert!(page.body.contains(r#"value="-1""#));
    assert!(h.stored_app("default", "web").await.is_none());

    fields[3] = ("cpus", "0.5");
    let page = h.post("/apps/new", &h.admin_token, &fields).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/apps/default/web");
    let app = h.stored_app("default", "web").await.unwrap();
    assert_eq!(app.spec.instances, 2);
    assert_eq!(app.spec.mem, 64);
    assert_eq!(app.spec.env["A"], "1");
}

#[tokio::test]
async fn the_manifest_editor_creates_an_app_or_says_what_is_wrong() {
    let h = Harness::start().await;
    let yaml = "metadata:\n  name: api\nspec:\n  cmd: sleep 100\n  mem: -5\n";
    let page = h
        .post("/apps/new", &h.admin_token, &[("manifest", yaml)])
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"id="manifest-errors""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("spec.mem"), "{}", page.body);
    assert!(h.stored_app("default", "api").await.is_none());

    let page = h
        .post(
            "/apps/new",
            &h.admin_token,
            &[("manifest", "metadata:\n  name: [\n")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("line"), "{}", page.body);

    let yaml = "metadata:\n  name: api\nspec:\n  cmd: sleep 100\n  instances: 3\n";
    let page = h
        .post("/apps/new", &h.admin_token, &[("manifest", yaml)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(
        h.stored_app("default", "api").await.unwrap().spec.instances,
        3
    );
}

#[tokio::test]
async fn scale_suspend_resume_and_destroy_change_the_app() {
    let h = Harness::start().await;
    h.app(
        "default",
        "web",
        3,
        running("/web", 3, 3, AppPhase::Running),
    )
    .await;
    let page = h.get("/apps/default/web", &h.admin_token).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for id in [
        r#"id="scale-instances""#,
        r#"id="scale""#,
        r#"id="suspend""#,
        r#"id="destroy""#,
        r#"id="tasks""#,
        r#"id="config""#,
    ] {
        assert!(page.body.contains(id), "{id} in {}", page.body);
    }
    assert!(page.body.contains("return confirm("));

    let page = h
        .post(
            "/apps/default/web/scale",
            &h.admin_token,
            &[("instances", "5")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/apps/default/web");
    assert_eq!(instances_of(&h, "default", "web").await, 5);

    let page = h
        .post("/apps/default/web/suspend", &h.admin_token, &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(instances_of(&h, "default", "web").await, 0);
    let page = h.get("/apps/default/web", &h.admin_token).await;
    assert!(page.body.contains(r#"id="resume""#));

    let page = h
        .post("/apps/default/web/resume", &h.admin_token, &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(
        instances_of(&h, "default", "web").await,
        5,
        "resume restores the instances suspended"
    );

    // Resuming an app suspended by a plain scale to 0 starts one instance.
    h.post(
        "/apps/default/web/scale",
        &h.admin_token,
        &[("instances", "0")],
    )
    .await;
    h.post("/apps/default/web/resume", &h.admin_token, &[])
        .await;
    assert_eq!(instances_of(&h, "default", "web").await, 1);

    let page = h
        .post(
            "/apps/default/web/scale",
            &h.admin_token,
            &[("instances", "-2")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);

    let page = h
        .post("/apps/default/web/restart", &h.admin_token, &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let app = h.stored_app("default", "web").await.unwrap();
    assert!(
        app.metadata
            .annotations
            .unwrap()
            .contains_key("strata.io/restart")
    );

    let page = h
        .post("/apps/default/web/destroy", &h.admin_token, &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/apps");
    assert!(h.stored_app("default", "web").await.is_none());
}

#[tokio::test]
async fn a_user_bound_to_one_namespace_sees_only_it_and_is_told_no_elsewhere() {
    let h = Harness::start().await;
    h.namespace("team-a").await;
    h.namespace("team-b").await;
    h.app(
        "team-a",
        "mine",
        1,
        running("/team-a/mine", 1, 0, AppPhase::Running),
    )
    .await;
    h.app(
        "team-b",
        "theirs",
        1,
        running("/team-b/theirs", 1, 0, AppPhase::Running),
    )
    .await;
    let alice = h.namespace_user("team-a", "alice").await;

    // Not allowed to list all namespaces: the page says so and shows the one asked for.
    let page = h.get("/apps", &alice).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains("You may not list apps in all namespaces")
    );
    assert!(
        page.body
            .contains(r#"id="filter-namespace" type="text" name="namespace" value="team-a""#)
    );
    assert_eq!(
        app_rows(&page.body).keys().collect::<Vec<_>>(),
        ["/team-a/mine"],
        "a namespace's apps are shown at once"
    );
    let page = h.get("/apps?namespace=team-a&group=/team-a", &alice).await;
    assert_eq!(
        app_rows(&page.body).keys().collect::<Vec<_>>(),
        ["/team-a/mine"]
    );
    assert!(page.body.contains("system:serviceaccount:team-a:alice"));

    let page = h.get("/apps?namespace=team-b", &alice).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("You may not"), "{}", page.body);
    assert!(!page.body.contains("theirs"));

    let page = h.get("/apps/team-b/theirs", &alice).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = h
        .post("/apps/team-b/theirs/scale", &alice, &[("instances", "9")])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("You may not"), "{}", page.body);
    assert_eq!(
        h.stored_app("team-b", "theirs")
            .await
            .unwrap()
            .spec
            .instances,
        1
    );

    let page = h
        .post("/apps/team-a/mine/scale", &alice, &[("instances", "2")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(
        h.stored_app("team-a", "mine").await.unwrap().spec.instances,
        2
    );
}

async fn instances_of(h: &Harness, namespace: &str, name: &str) -> u32 {
    h.stored_app(namespace, name).await.unwrap().spec.instances
}

/// The body of the events stream at `path`, as the admin.
async fn events(h: &Harness, path: &str) -> axum::body::Body {
    let response = h
        .console
        .clone()
        .oneshot(
            Request::get(path)
                .header(
                    http::header::AUTHORIZATION,
                    format!("Bearer {}", h.admin_token),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    response.into_body()
}

/// Reads `body` until an event whose data is `data` (within 20 s).
async fn next_event(body: &mut axum::body::Body, data: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    while !text.contains(&format!("data: {data}")) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("an event in time")
            .expect("the stream goes on")
            .unwrap();
        if let Ok(bytes) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
}

#[tokio::test]
async fn the_apps_events_stream_fires_when_an_app_changes() {
    let h = Harness::start().await;
    let mut body = events(&h, "/apps/events").await;
    next_event(&mut body, "apps").await; // the watches' first listing
    h.app("default", "web", 1, None).await;
    next_event(&mut body, "apps").await;
    // The page going away drops the stream and its watches.
    drop(body);
}

#[tokio::test]
async fn the_app_pages_events_stream_fires_when_the_app_changes() {
    let h = Harness::start().await;
    h.app("default", "web", 1, None).await;
    let page = h.get("/apps/default/web", &h.admin_token).await;
    assert!(
        page.body
            .contains(r#"data-events="/apps/default/web/events""#)
    );
    let mut body = events(&h, "/apps/default/web/events").await;
    next_event(&mut body, "app").await;
    h.post(
        "/apps/default/web/scale",
        &h.admin_token,
        &[("instances", "3")],
    )
    .await;
    next_event(&mut body, "app").await;
    let missing = h.get("/apps/default/nope/events", &h.admin_token).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_task_is_listed_and_killed_with_or_without_scaling_down() {
    let h = Harness::start().await;
    h.app(
        "default",
        "web",
        3,
        running("/web", 2, 0, AppPhase::Running),
    )
    .await;
    for name in ["web-aaaa1", "web-bbbb2"] {
        let task: Task = serde_json::from_value(json!({
            "apiVersion": "strata.io/v1alpha1",
            "kind": "Task",
            "metadata": {"name": name, "labels": {"strata.io/app": "web", "strata.io/agent": "node-1"}},
            "spec": {"framework": "marathon", "agent": "node-1", "command": "sleep 1000", "ports": [31001]},
        }))
        .unwrap();
        Api::<Task>::namespaced(h.admin.clone(), "default")
            .create(&PostParams::default(), &task)
            .await
            .expect("task created");
    }
    let page = h.get("/apps/default/web", &h.admin_token).await;
    assert!(
        page.body
            .contains(r#"<tr class="task" data-name="web-aaaa1">"#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"href="/sandbox/default/web-aaaa1""#));
    assert!(page.body.contains(r#"<td class="agent">node-1</td>"#));
    assert!(page.body.contains(r#"<td class="ports">31001</td>"#));

    let tasks: Api<Task> = Api::namespaced(h.admin.clone(), "default");
    let page = h
        .post(
            "/apps/default/web/tasks/web-aaaa1/kill",
            &h.admin_token,
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(tasks.get_opt("web-aaaa1").await.unwrap().is_none());
    assert_eq!(
        instances_of(&h, "default", "web").await,
        3,
        "replaced, not scaled"
    );

    let page = h
        .post(
            "/apps/default/web/tasks/web-bbbb2/kill",
            &h.admin_token,
            &[("scale", "true")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(tasks.get_opt("web-bbbb2").await.unwrap().is_none());
    assert_eq!(instances_of(&h, "default", "web").await, 2);
}

#[tokio::test]
async fn rollback_restores_an_earlier_revisions_spec() {
    let h = Harness::start().await;
    h.app(
        "default",
        "web",
        4,
        Some(AppStatus {
            revision: 2,
            version: Some("v2".into()),
            rollout: Some(rollout_name("web", 2)),
            ..AppStatus::default()
        }),
    )
    .await;
    let rollouts: Api<Rollout> = Api::namespaced(h.admin.clone(), "default");
    for (revision, version, cmd) in [(1, "v1", "serve v1"), (2, "v2", "sleep 1000")] {
        rollouts
            .create(
                &PostParams::default(),
                &rollout("web", revision, version, cmd),
            )
            .await
            .expect("rollout created");
    }
    let status = json!({"status": {
        "phase": "InProgress",
        "steps": [
            {"action": "StartApplication", "instances": 4, "done": true},
            {"action": "KillAllOldTasksOf", "instances": 0, "done": false},
        ],
        "progress": "1/2",
        "reason": "WaitingForOffers",
        "message": "2 instance(s) wait for offers",
    }});
    rollouts
        .patch_status(
            &rollout_name("web", 2),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&status),
        )
        .await
        .expect("rollout status");
    let page = h.get("/apps/default/web", &h.admin_token).await;
    assert!(page.body.contains(r#"id="rollout""#), "{}", page.body);
    assert!(
        page.body
            .contains(r#"<li class="step done">StartApplication to 4"#),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"<li class="step pending">KillAllOldTasksOf to 0"#)
    );
    assert!(page.body.contains("Waiting: 2 instance(s) wait for offers"));
    assert!(
        page.body
            .contains(r#"<tr class="version" data-revision="1">"#),
        "{}",
        page.body
    );
    assert!(page.body.contains("Rollback"));

    let page = h
        .post(
            "/apps/default/web/rollback",
            &h.admin_token,
            &[("revision", "1")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let app = h.stored_app("default", "web").await.unwrap();
    assert_eq!(app.spec.cmd.as_deref(), Some("serve v1"));
    assert_eq!(app.spec.instances, 4, "the instances are kept");

    let page = h
        .post(
            "/apps/default/web/rollback",
            &h.admin_token,
            &[("revision", "9")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("no revision 9"), "{}", page.body);
}

#[tokio::test]
async fn signing_out_clears_the_cookie() {
    let h = Harness::start().await;
    let page = h.post("/logout", &h.admin_token, &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login");
    let cookie = page.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cookie.starts_with("strata_token=;"), "{cookie}");
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
}

#[tokio::test]
async fn a_crash_looping_version_can_be_stopped_and_resumed() {
    let h = Harness::start().await;
    let status: AppStatus = serde_json::from_value(json!({
        "id": "/web",
        "version": "3f2a9c",
        "phase": "Delayed",
        "launchDelay": {"failures": 4, "seconds": 8, "launchAfter": "2030-01-01T00:00:00Z"},
    }))
    .unwrap();
    h.app("default", "web", 2, Some(status)).await;
    let page = h.get("/apps/default/web", &h.admin_token).await;
    assert!(page.body.contains(r#"id="waiting""#), "{}", page.body);
    assert!(
        page.body.contains("after 4 failures in a row"),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"id="stop-launches""#));

    let page = h
        .post("/apps/default/web/stop-launches", &h.admin_token, &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let stopped = |app: strata_api::App| {
        app.metadata
            .annotations
            .unwrap_or_default()
            .get("strata.io/launches-stopped")
            .cloned()
    };
    let app = h.stored_app("default", "web").await.unwrap();
    assert_eq!(stopped(app).as_deref(), Some("3f2a9c"));
    let page = h.get("/apps/default/web", &h.admin_token).await;
    assert!(
        page.body.contains(r#"id="resume-launches""#),
        "{}",
        page.body
    );

    let page = h
        .post("/apps/default/web/resume-launches", &h.admin_token, &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let app = h.stored_app("default", "web").await.unwrap();
    assert_eq!(stopped(app), None);
}

#[tokio::test]
async fn editing_the_configuration_saves_a_new_spec_or_shows_what_is_wrong() {
    let h = Harness::start().await;
    h.app("default", "web", 2, None).await;
    let page = h.get("/apps/default/web", &h.admin_token).await;
    assert!(page.body.contains(r#"href="/apps/default/web/edit""#));
    let page = h.get("/apps/default/web/edit", &h.admin_token).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("sleep 1000"), "{}", page.body);
    let version = common::between(&page.body, r#"name="resource_version" value=""#, "\"");
    assert!(!version.is_empty());

    let bad = "cmd: sleep 2000\ncpus: -3\ninstances: 2\n";
    let page = h
        .post(
            "/apps/default/web/edit",
            &h.admin_token,
            &[("spec", bad), ("resource_version", &version)],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"data-field="spec.cpus""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("cpus: -3"), "what was typed is kept");
    assert_eq!(
        h.stored_app("default", "web")
            .await
            .unwrap()
            .spec
            .cmd
            .as_deref(),
        Some("sleep 1000")
    );

    let good = "cmd: sleep 2000\ncpus: 0.25\ninstances: 2\n";
    let page = h
        .post(
            "/apps/default/web/edit",
            &h.admin_token,
            &[("spec", good), ("resource_version", &version)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let app = h.stored_app("default", "web").await.unwrap();
    assert_eq!(app.spec.cmd.as_deref(), Some("sleep 2000"));
    assert_eq!(app.spec.cpus.to_string(), "0.25");

    // The editor opened before that save is stale now: nothing is overwritten.
    let page = h
        .post(
            "/apps/default/web/edit",
            &h.admin_token,
            &[
                ("spec", "cmd: sleep 3000\n"),
                ("resource_version", &version),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert!(page.body.contains("changed since this editor was opened"));
    assert_eq!(
        h.stored_app("default", "web")
            .await
            .unwrap()
            .spec
            .cmd
            .as_deref(),
        Some("sleep 2000")
    );
}
