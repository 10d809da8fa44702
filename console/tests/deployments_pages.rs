//! The Deployments page against the real embedded store: a rollout in progress shows its
//! change, step, progress and what it waits for; Rollback and Cancel write an earlier
//! revision's spec back into the App (through the actions shared with the CLI); the events
//! stream tells the page when a rollout changes; and users see only what they may list.

mod common;

use common::{Harness, element, rows};
use http::StatusCode;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use strata_api::rollout::{Change, RolloutSpec, rollout_name};
use strata_api::{App, AppSpec, Rollout};

fn spec(cmd: &str, instances: u32) -> AppSpec {
    AppSpec {
        cmd: Some(cmd.into()),
        instances,
        ..AppSpec::default()
    }
}

fn rollout(revision: u64, change: Change, version: &str, from: Option<&str>, cmd: &str) -> Rollout {
    Rollout::new(
        &rollout_name("web", revision),
        RolloutSpec {
            app: "web".into(),
            revision,
            change,
            generation: revision as i64,
            version: version.into(),
            restart: None,
            from_version: from.map(String::from),
            target: spec(cmd, 2),
        },
    )
}

fn ago(seconds: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(seconds)).to_string()
}

/// App team-a/web at revision 2 (version b, `two`), upgraded from revision 1 (version a,
/// `one`); the upgrade is half done, waiting for health.
async fn upgrading(h: &Harness) {
    h.namespace("team-a").await;
    h.create(
        &h.namespaced("team-a"),
        &App::new("web", spec("two", 3)),
        json!({"revision": 2, "version": "b"}),
    )
    .await;
    h.create(
        &h.namespaced("team-a"),
        &rollout(1, Change::Start, "a", None, "one"),
        json!({
            "phase": "Succeeded", "startedAt": ago(600), "finishedAt": ago(540),
            "steps": [{"action": "StartApplication", "instances": 2, "done": true},
                      {"action": "ScaleApplication", "instances": 2, "done": true}],
        }),
    )
    .await;
    h.create(
        &h.namespaced("team-a"),
        &rollout(2, Change::Upgrade, "b", Some("a"), "two"),
        json!({
            "phase": "InProgress", "startedAt": ago(30),
            "steps": [{"action": "RestartApplication", "instances": 2, "done": true},
                      {"action": "KillAllOldTasksOf", "instances": 2, "done": false}],
            "progress": "1/2", "newInstances": 2, "newHealthy": 1, "oldInstances": 1,
            "reason": "WaitingForHealth",
            "message": "1 of 2 new instances healthy",
            "conditions": [{"type": "Progressing", "status": "False",
                            "reason": "ProgressDeadlineExceeded",
                            "message": "no progress for 600s",
                            "lastTransitionTime": ago(1)}],
        }),
    )
    .await;
}

async fn app_cmd(h: &Harness) -> (Option<String>, u32) {
    let app = h.namespaced::<App>("team-a").get("web").await.unwrap();
    (app.spec.cmd, app.spec.instances)
}

#[tokio::test]
async fn a_rollout_in_progress_shows_its_step_progress_and_why_it_waits() {
    let h = Harness::start().await;
    upgrading(&h).await;

    let page = h.admin_get("/deployments").await;
    page.is(StatusCode::OK);
    let active = element(&page.body, "table", "active-rollouts");
    let rollouts = rows(active, "rollout");
    assert_eq!(rollouts.len(), 1, "only the rollout in progress: {active}");
    let row = rollouts[0];
    for expected in [
        "data-name=\"team-a/web-2\"",
        "team-a/web",
        ">Upgrade<",
        "2 / 2",
        "KillAllOldTasksOf",
        "width:50%",
        "1/2",
        "WaitingForHealth",
        "1 of 2 new instances healthy",
        "ProgressDeadlineExceeded: no progress for 600s",
        "30s",
        "action=\"/deployments/team-a/web-2/rollback\"",
        "action=\"/deployments/team-a/web-2/cancel\"",
        "return confirm(",
    ] {
        assert!(row.contains(expected), "{expected:?} in {row}");
    }
    assert!(
        page.body.contains("id=\"cancel-explained\""),
        "the page says what Cancel does"
    );

    let finished = element(&page.body, "table", "finished-rollouts");
    let done = rows(finished, "finished-rollout");
    assert_eq!(done.len(), 1, "{finished}");
    assert!(
        done[0].contains("Succeeded") && done[0].contains(">Start<"),
        "{}",
        done[0]
    );
}

#[tokio::test]
async fn rollback_writes_the_previous_versions_spec_back_keeping_the_instances() {
    let h = Harness::start().await;
    upgrading(&h).await;

    let answer = h
        .admin_post("/deployments/team-a/web-2/rollback", &[])
        .await;
    answer.is(StatusCode::SEE_OTHER);
    let back = answer.location().to_string();
    assert_eq!(back, "/deployments?rolled_back=team-a/web&revision=1");
    assert_eq!(app_cmd(&h).await, (Some("one".into()), 3));

    let page = h.admin_get(&back).await;
    let notice = element(&page.body, "p", "action-done");
    assert!(notice.contains("revision 1"), "{notice}");
}

#[tokio::test]
async fn cancel_goes_back_to_the_version_before_the_rollout() {
    let h = Harness::start().await;
    upgrading(&h).await;

    let answer = h.admin_post("/deployments/team-a/web-2/cancel", &[]).await;
    answer.is(StatusCode::SEE_OTHER);
    assert_eq!(app_cmd(&h).await, (Some("one".into()), 3));

    // A finished rollout has nothing to cancel.
    let answer = h.admin_post("/deployments/team-a/web-1/cancel", &[]).await;
    answer.is(StatusCode::BAD_REQUEST);
    answer.has("already finished");

    // Nor has a first rollout anything before it.
    h.create(
        &h.namespaced("team-a"),
        &Rollout::new(
            "api-1",
            RolloutSpec {
                app: "api".into(),
                ..rollout(1, Change::Start, "x", None, "api").spec
            },
        ),
        json!({"phase": "InProgress"}),
    )
    .await;
    let answer = h.admin_post("/deployments/team-a/api-1/cancel", &[]).await;
    answer.is(StatusCode::BAD_REQUEST);
    answer.has("no earlier version");
}

#[tokio::test]
async fn users_see_and_change_only_what_rbac_allows() {
    let h = Harness::start().await;
    upgrading(&h).await;
    // Dana may watch rollouts and read apps in team-a, but not change apps.
    let dana = h
        .namespace_user(
            "dana",
            "team-a",
            &["rollouts", "apps"],
            &["get", "list", "watch"],
        )
        .await;

    // Across namespaces she may list nothing: the page says so, and offers the namespace field.
    let page = h.get("/deployments", &dana).await;
    page.is(StatusCode::OK);
    page.has("You may not list rollouts");

    let page = h.get("/deployments?namespace=team-a", &dana).await;
    page.is(StatusCode::OK);
    let active = element(&page.body, "table", "active-rollouts");
    assert_eq!(rows(active, "rollout").len(), 1, "{active}");

    let answer = h
        .post("/deployments/team-a/web-2/rollback", &dana, &[])
        .await;
    answer.is(StatusCode::FORBIDDEN);
    answer.has("You may not");
    assert_eq!(
        app_cmd(&h).await,
        (Some("two".into()), 3),
        "nothing changed"
    );
}

#[tokio::test]
async fn the_events_stream_says_when_a_rollout_changes() {
    let h = Harness::start().await;
    upgrading(&h).await;
    let mut events = h.events("/deployments/events").await;
    events.until("event: changed").await; // the initial list
    h.namespaced::<Rollout>("team-a")
        .patch_status(
            "web-2",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"newHealthy": 2, "progress": "2/2"}})),
        )
        .await
        .unwrap();
    events.until("event: changed").await;

    // The table the script fetches then shows the new progress.
    let table = h.admin_get("/deployments/table").await;
    table.is(StatusCode::OK);
    let active = element(&table.body, "table", "active-rollouts");
    assert!(
        active.contains("width:100%") && active.contains("2/2"),
        "{active}"
    );
}
