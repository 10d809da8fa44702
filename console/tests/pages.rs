//! The console's pages as a user meets them, over the real embedded store (no controllers run:
//! app statuses are written by the tests as the Marathon controller would).

mod common;

use axum::body::Body;
use common::{Harness, app_rows, form};
use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{Method, Request, StatusCode};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use strata_api::app::AppPhase;
use strata_api::rollout::rollout_name;
use strata_api::{AppStatus, Rollout, Task};
use strata_controllers::marathon::actions::fixtures::rollout;

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

/// App `namespace/name` of `instances`, with `running` tasks of which `healthy` are healthy,
/// in `phase`, as the Marathon controller would write it.
async fn running_app(
    h: &Harness,
    namespace: &str,
    name: &str,
    instances: u32,
    (running_now, healthy): (u32, u32),
    phase: AppPhase,
) {
    let id = match namespace {
        "default" => format!("/{name}"),
        ns => format!("/{ns}/{name}"),
    };
    h.app(
        namespace,
        name,
        instances,
        running(&id, running_now, healthy, phase),
    )
    .await;
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
    page.is(StatusCode::OK);
    page.has(r#"id="token""#);
    // Before anyone has signed in, the bar is just the brand.
    page.has(r#"class="brand""#)
        .lacks(r#"href="/deployments""#)
        .lacks(r#"id="logout""#);

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
    page.redirects_to("/apps?group=/prod");
    let cookie = page.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(
        cookie.starts_with(&format!("strata_token={};", h.admin_token)),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }

    let page = h.send(login("not-a-token")).await;
    page.is(StatusCode::UNAUTHORIZED);
    page.has("The API server refused that token");
    page.has(r#"id="token""#);
    assert!(page.headers.get(SET_COOKIE).is_none());
}

#[tokio::test]
async fn pages_need_a_sign_in() {
    let h = Harness::start().await;
    let page = h
        .send(Request::get("/apps?q=web").body(Body::empty()).unwrap())
        .await;
    page.redirects_to("/login?next=/apps%3Fq%3Dweb");

    let page = h.get("/apps", "expired-or-wrong").await;
    page.is(StatusCode::SEE_OTHER);

    let page = h
        .post("/apps/default/web/scale", "wrong", &[("instances", "2")])
        .await;
    page.is(StatusCode::UNAUTHORIZED);

    // A form posted from another site is refused even with the cookie, whichever page it
    // posts to; from the console itself it goes through.
    for path in [
        "/logout",
        "/apps/default/web/scale",
        "/apps/new",
        "/deployments/default/web-1/cancel",
    ] {
        let page = h.post_from(path, "https://evil.example").await;
        page.is(StatusCode::FORBIDDEN).has("another site");
    }
    let page = h.post_from("/logout", "http://console.example:8080").await;
    page.is(StatusCode::SEE_OTHER);

    // Signed in already: the login page goes on to where the user was going.
    let page = h.admin_get("/login?next=/apps/new").await;
    page.redirects_to("/apps/new");

    let page = h.admin_get("/no/such/page").await;
    page.is(StatusCode::NOT_FOUND);
    page.has("no such page");

    let page = h.admin_get("/").await;
    page.redirects_to("/apps");
}

#[tokio::test]
async fn the_apps_table_shows_numbers_status_and_health() {
    let h = Harness::start().await;
    h.namespace("prod").await;
    running_app(&h, "default", "web", 3, (2, 1), AppPhase::Deploying).await;
    running_app(&h, "prod", "kibana", 1, (1, 1), AppPhase::Running).await;
    running_app(&h, "default", "idle", 0, (0, 0), AppPhase::Suspended).await;

    let page = h.admin_get("/apps").await;
    page.is(StatusCode::OK);
    page.has(r#"<table id="apps""#);
    let rows = app_rows(&page.body);
    assert_eq!(rows["/web"], ("2 / 3".to_string(), "Deploying".to_string()));
    assert_eq!(
        rows["/idle"],
        ("0 / 0".to_string(), "Suspended".to_string())
    );
    // /prod is a folder at the root.
    assert!(!rows.contains_key("/prod/kibana"));
    page.has(r#"data-group="/prod""#);
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
    page.has(r#"<option value="Suspended">Suspended (1)</option>"#);
    page.has(r#"<option value="Running">Running (1)</option>"#);

    // The admin may look at one namespace; nothing says they were refused.
    let page = h.admin_get("/apps?namespace=prod").await;
    assert_eq!(
        app_rows(&page.body).keys().collect::<Vec<_>>(),
        ["/prod/kibana"],
        "one namespace opens at its group"
    );
    page.lacks("You may not");

    // Into the folder, with a breadcrumb back.
    let page = h.admin_get("/apps?group=/prod").await;
    let rows = app_rows(&page.body);
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["/prod/kibana"]);
    page.has(r#"id="breadcrumb""#);

    // Filters flatten the groups.
    let page = h.admin_get("/apps?q=KIB").await;
    assert_eq!(
        app_rows(&page.body).keys().collect::<Vec<_>>(),
        ["/prod/kibana"]
    );
    let page = h.admin_get("/apps?status=Suspended").await;
    assert_eq!(app_rows(&page.body).keys().collect::<Vec<_>>(), ["/idle"]);

    // The live-update body is the same rows.
    let page = h.admin_get("/apps/rows?status=Deploying").await;
    page.is(StatusCode::OK);
    page.lacks("<html");
    assert_eq!(app_rows(&page.body).keys().collect::<Vec<_>>(), ["/web"]);
}

#[tokio::test]
async fn a_new_app_is_created_and_the_stores_refusal_shows_beside_the_field() {
    let h = Harness::start().await;
    let page = h.admin_get("/apps/new").await;
    page.is(StatusCode::OK);
    page.has(r#"id="manifest""#);

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
    let page = h.admin_post("/apps/new", &fields).await;
    page.is(StatusCode::UNPROCESSABLE_ENTITY);
    let cpus_field = page.body.split(r#"id="app-cpus""#).nth(1).unwrap();
    let next_field = cpus_field.split(r#"class="field""#).next().unwrap();
    assert!(
        next_field.contains(r#"<p class="field-error" data-field="spec.cpus">"#),
        "{}",
        page.body
    );
    // What was typed is kept.
    page.has(r#"value="-1""#);
    assert!(h.stored_app("default", "web").await.is_none());

    fields[3] = ("cpus", "0.5");
    let page = h.admin_post("/apps/new", &fields).await;
    page.redirects_to("/apps/default/web");
    let app = h.stored_app("default", "web").await.unwrap();
    assert_eq!(app.spec.instances, 2);
    assert_eq!(app.spec.mem, 64);
    assert_eq!(app.spec.env["A"], "1");
}

#[tokio::test]
async fn the_manifest_editor_creates_an_app_or_says_what_is_wrong() {
    let h = Harness::start().await;
    let yaml = "metadata:\n  name: api\nspec:\n  cmd: sleep 100\n  mem: -5\n";
    let page = h.admin_post("/apps/new", &[("manifest", yaml)]).await;
    page.is(StatusCode::UNPROCESSABLE_ENTITY);
    page.has(r#"id="manifest-errors""#);
    page.has("spec.mem");
    assert!(h.stored_app("default", "api").await.is_none());

    let page = h
        .admin_post("/apps/new", &[("manifest", "metadata:\n  name: [\n")])
        .await;
    page.is(StatusCode::UNPROCESSABLE_ENTITY);
    page.has("line");

    let yaml = "metadata:\n  name: api\nspec:\n  cmd: sleep 100\n  instances: 3\n";
    let page = h.admin_post("/apps/new", &[("manifest", yaml)]).await;
    page.is(StatusCode::SEE_OTHER);
    assert_eq!(instances_of(&h, "default", "api").await, 3);
}

#[tokio::test]
async fn scale_suspend_resume_and_destroy_change_the_app() {
    let h = Harness::start().await;
    running_app(&h, "default", "web", 3, (3, 3), AppPhase::Running).await;
    let page = h.admin_get("/apps/default/web").await;
    page.is(StatusCode::OK);
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
    page.has("return confirm(");

    let page = h
        .admin_post("/apps/default/web/scale", &[("instances", "5")])
        .await;
    page.redirects_to("/apps/default/web");
    assert_eq!(instances_of(&h, "default", "web").await, 5);

    let page = h.admin_post("/apps/default/web/suspend", &[]).await;
    page.is(StatusCode::SEE_OTHER);
    assert_eq!(instances_of(&h, "default", "web").await, 0);
    let page = h.admin_get("/apps/default/web").await;
    page.has(r#"id="resume""#);

    let page = h.admin_post("/apps/default/web/resume", &[]).await;
    page.is(StatusCode::SEE_OTHER);
    assert_eq!(
        instances_of(&h, "default", "web").await,
        5,
        "resume restores the instances suspended"
    );

    // Resuming an app suspended by a plain scale to 0 starts one instance.
    h.admin_post("/apps/default/web/scale", &[("instances", "0")])
        .await;
    h.admin_post("/apps/default/web/resume", &[]).await;
    assert_eq!(instances_of(&h, "default", "web").await, 1);

    let page = h
        .admin_post("/apps/default/web/scale", &[("instances", "-2")])
        .await;
    page.is(StatusCode::BAD_REQUEST);

    let page = h.admin_post("/apps/default/web/restart", &[]).await;
    page.is(StatusCode::SEE_OTHER);
    let app = h.stored_app("default", "web").await.unwrap();
    assert!(
        app.metadata
            .annotations
            .unwrap()
            .contains_key("strata.io/restart")
    );

    let page = h.admin_post("/apps/default/web/destroy", &[]).await;
    page.redirects_to("/apps");
    assert!(h.stored_app("default", "web").await.is_none());
}

#[tokio::test]
async fn a_user_bound_to_one_namespace_sees_only_it_and_is_told_no_elsewhere() {
    let h = Harness::start().await;
    h.namespace("team-a").await;
    h.namespace("team-b").await;
    running_app(&h, "team-a", "mine", 1, (1, 0), AppPhase::Running).await;
    running_app(&h, "team-b", "theirs", 1, (1, 0), AppPhase::Running).await;
    let alice = h.service_account("team-a", "alice").await;

    // Not allowed to list all namespaces: the page says so and shows the one asked for.
    let page = h.get("/apps", &alice).await;
    page.is(StatusCode::OK);
    page.has("You may not list apps in all namespaces");
    page.has(r#"id="filter-namespace" type="text" name="namespace" value="team-a""#);
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
    page.has("system:serviceaccount:team-a:alice");

    let page = h.get("/apps?namespace=team-b", &alice).await;
    page.is(StatusCode::FORBIDDEN);
    page.has("You may not");
    page.lacks("theirs");

    let page = h.get("/apps/team-b/theirs", &alice).await;
    page.is(StatusCode::FORBIDDEN);
    let page = h
        .post("/apps/team-b/theirs/scale", &alice, &[("instances", "9")])
        .await;
    page.is(StatusCode::FORBIDDEN);
    page.has("You may not");
    assert_eq!(instances_of(&h, "team-b", "theirs").await, 1);

    let page = h
        .post("/apps/team-a/mine/scale", &alice, &[("instances", "2")])
        .await;
    page.is(StatusCode::SEE_OTHER);
    assert_eq!(instances_of(&h, "team-a", "mine").await, 2);
}

async fn instances_of(h: &Harness, namespace: &str, name: &str) -> u32 {
    h.stored_app(namespace, name).await.unwrap().spec.instances
}

#[tokio::test]
async fn the_apps_events_stream_fires_when_an_app_changes() {
    let h = Harness::start().await;
    let mut events = h.events("/apps/events").await;
    events.until("data: apps").await; // the watches' first listing
    h.app("default", "web", 1, None).await;
    events.until("data: apps").await;
    // The page going away drops the stream and its watches.
    drop(events);
}

#[tokio::test]
async fn the_app_pages_events_stream_fires_when_the_app_changes() {
    let h = Harness::start().await;
    h.app("default", "web", 1, None).await;
    let page = h.admin_get("/apps/default/web").await;
    page.has(r#"data-events="/apps/default/web/events""#);
    let mut events = h.events("/apps/default/web/events").await;
    events.until("data: app").await;
    h.admin_post("/apps/default/web/scale", &[("instances", "3")])
        .await;
    events.until("data: app").await;
    let missing = h.admin_get("/apps/default/nope/events").await;
    missing.is(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_task_is_listed_and_killed_with_or_without_scaling_down() {
    let h = Harness::start().await;
    running_app(&h, "default", "web", 3, (2, 0), AppPhase::Running).await;
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
    let page = h.admin_get("/apps/default/web").await;
    page.has(r#"<tr class="task" data-name="web-aaaa1">"#);
    page.has(r#"href="/sandbox/default/web-aaaa1""#);
    page.has(r#"<td class="agent">node-1</td>"#);
    page.has(r#"<td class="ports">31001</td>"#);

    let tasks: Api<Task> = Api::namespaced(h.admin.clone(), "default");
    let page = h
        .admin_post("/apps/default/web/tasks/web-aaaa1/kill", &[])
        .await;
    page.is(StatusCode::SEE_OTHER);
    assert!(tasks.get_opt("web-aaaa1").await.unwrap().is_none());
    assert_eq!(
        instances_of(&h, "default", "web").await,
        3,
        "replaced, not scaled"
    );

    let page = h
        .admin_post(
            "/apps/default/web/tasks/web-bbbb2/kill",
            &[("scale", "true")],
        )
        .await;
    page.is(StatusCode::SEE_OTHER);
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
    let page = h.admin_get("/apps/default/web").await;
    page.has(r#"id="rollout""#);
    page.has(r#"<li class="step done">StartApplication to 4"#);
    page.has(r#"<li class="step pending">KillAllOldTasksOf to 0"#);
    page.has("Waiting: 2 instance(s) wait for offers");
    page.has(r#"<tr class="version" data-revision="1">"#);
    page.has("Rollback");

    let page = h
        .admin_post("/apps/default/web/rollback", &[("revision", "1")])
        .await;
    page.is(StatusCode::SEE_OTHER);
    let app = h.stored_app("default", "web").await.unwrap();
    assert_eq!(app.spec.cmd.as_deref(), Some("serve v1"));
    assert_eq!(app.spec.instances, 4, "the instances are kept");

    let page = h
        .admin_post("/apps/default/web/rollback", &[("revision", "9")])
        .await;
    page.is(StatusCode::BAD_REQUEST);
    page.has("no revision 9");
}

#[tokio::test]
async fn signing_out_clears_the_cookie() {
    let h = Harness::start().await;
    let page = h.admin_post("/logout", &[]).await;
    page.redirects_to("/login");
    let cookie = page.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cookie.starts_with("strata_token=;"), "{cookie}");
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
}

#[tokio::test]
async fn an_app_that_waits_for_nothing_shows_its_last_rollouts_outcome_not_why_it_waits() {
    let h = Harness::start().await;
    let status: AppStatus = serde_json::from_value(json!({
        "id": "/web",
        "phase": "Running",
        "conditions": [{
            "type": "Progressing", "status": "True", "reason": "DeploymentComplete",
            "message": "rollout web-1 complete", "lastTransitionTime": "2030-01-01T00:00:00Z",
        }],
    }))
    .unwrap();
    h.app("default", "web", 1, Some(status)).await;
    let page = h.admin_get("/apps/default/web").await;
    page.is(StatusCode::OK)
        .lacks(r#"id="waiting""#)
        .lacks("Why it is waiting")
        .has(r#"id="outcome""#)
        .has("DeploymentComplete: rollout web-1 complete");

    // Waiting for offers is waiting.
    let waiting: AppStatus = serde_json::from_value(json!({
        "id": "/api",
        "phase": "Waiting",
        "queue": {"count": 2, "offersProcessed": 7},
    }))
    .unwrap();
    h.app("default", "api", 2, Some(waiting)).await;
    h.admin_get("/apps/default/api")
        .await
        .has(r#"id="waiting""#)
        .has("2 instances wait for an offer");
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
    let page = h.admin_get("/apps/default/web").await;
    page.has(r#"id="waiting""#);
    page.has("after 4 failures in a row");
    page.has(r#"id="stop-launches""#);

    let page = h.admin_post("/apps/default/web/stop-launches", &[]).await;
    page.is(StatusCode::SEE_OTHER);
    let stopped = |app: strata_api::App| {
        app.metadata
            .annotations
            .unwrap_or_default()
            .get("strata.io/launches-stopped")
            .cloned()
    };
    let app = h.stored_app("default", "web").await.unwrap();
    assert_eq!(stopped(app).as_deref(), Some("3f2a9c"));
    let page = h.admin_get("/apps/default/web").await;
    page.has(r#"id="resume-launches""#);

    let page = h.admin_post("/apps/default/web/resume-launches", &[]).await;
    page.is(StatusCode::SEE_OTHER);
    let app = h.stored_app("default", "web").await.unwrap();
    assert_eq!(stopped(app), None);
}

#[tokio::test]
async fn editing_the_configuration_saves_a_new_spec_or_shows_what_is_wrong() {
    let h = Harness::start().await;
    h.app("default", "web", 2, None).await;
    let page = h.admin_get("/apps/default/web").await;
    page.has(r#"href="/apps/default/web/edit""#);
    let page = h.admin_get("/apps/default/web/edit").await;
    page.is(StatusCode::OK);
    page.has("sleep 1000");
    let version = common::between(&page.body, r#"name="resource_version" value=""#, "\"");
    assert!(!version.is_empty());

    let bad = "cmd: sleep 2000\ncpus: -3\ninstances: 2\n";
    let page = h
        .admin_post(
            "/apps/default/web/edit",
            &[("spec", bad), ("resource_version", &version)],
        )
        .await;
    page.is(StatusCode::UNPROCESSABLE_ENTITY);
    page.has(r#"data-field="spec.cpus""#);
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
        .admin_post(
            "/apps/default/web/edit",
            &[("spec", good), ("resource_version", &version)],
        )
        .await;
    page.is(StatusCode::SEE_OTHER);
    let app = h.stored_app("default", "web").await.unwrap();
    assert_eq!(app.spec.cmd.as_deref(), Some("sleep 2000"));
    assert_eq!(app.spec.cpus.to_string(), "0.25");

    // The editor opened before that save is stale now: nothing is overwritten.
    let page = h
        .admin_post(
            "/apps/default/web/edit",
            &[
                ("spec", "cmd: sleep 3000\n"),
                ("resource_version", &version),
            ],
        )
        .await;
    page.is(StatusCode::CONFLICT);
    page.has("changed since this editor was opened");
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
