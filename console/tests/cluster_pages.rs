//! The Cluster page against the real embedded store: agents, frameworks, offers and tasks as
//! the allocator and the agents write them, shown with their numbers; and a user without
//! cluster-wide rights sees a note where the agents would be, not an error page.

mod common;

use common::{Harness, element, rows};
use http::StatusCode;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::json;
use strata_api::{Agent, AgentSpec, Framework, FrameworkSpec, Offer, OfferSpec, Task, TaskSpec};

fn now_plus(seconds: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(seconds)).to_string()
}

/// A Lease's MicroTime `seconds` from now.
fn micro_time(seconds: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(seconds))
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

fn condition(type_: &str, status: &str, reason: &str) -> serde_json::Value {
    json!({"type": type_, "status": status, "reason": reason, "message": "",
           "lastTransitionTime": now_plus(0)})
}

/// Two agents (one ready, one unreachable), Marathon's framework in team-a with an outstanding
/// offer and an accepted one, and a running task.
async fn cluster(h: &Harness) {
    h.namespace("team-a").await;
    let node1 = Agent::new(
        "node-1",
        AgentSpec::new(
            "host-1.example",
            "cpus:4;mem:8192;disk:10000;ports:[31000-32000]"
                .parse()
                .unwrap(),
        ),
    );
    h.create(
        &Api::all(h.admin.clone()),
        &node1,
        json!({
            "allocated": {"cpus": 1, "mem": 1024},
            "free": {"cpus": 1, "mem": 5120, "disk": 10000},
            "conditions": [condition("Ready", "True", "Heartbeating")],
        }),
    )
    .await;
    // node-1 heartbeats: its Lease was renewed a few seconds ago.
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "node-1"},
        "spec": {"holderIdentity": "node-1", "renewTime": micro_time(-5)},
    }))
    .unwrap();
    Api::<Lease>::namespaced(h.admin.clone(), "strata-node-lease")
        .create(&Default::default(), &lease)
        .await
        .expect("lease");
    let mut node2 = Agent::new(
        "node-2",
        AgentSpec::new("host-2.example", "cpus:2;mem:2048".parse().unwrap()),
    );
    node2.spec.drain = Some(Default::default());
    h.create(
        &Api::all(h.admin.clone()),
        &node2,
        json!({
            "conditions": [
                condition("Ready", "Unknown", "HeartbeatMissed"),
                condition("Unreachable", "True", "HeartbeatMissed"),
            ],
        }),
    )
    .await;

    let marathon = Framework::new("marathon", FrameworkSpec::default());
    h.create(
        &h.namespaced("team-a"),
        &marathon,
        json!({
            "active": true,
            "allocated": {"cpus": 3, "mem": 3072},
            "offered": {"cpus": 2, "mem": 2048},
            "dominantShare": 0.5,
        }),
    )
    .await;
    let offer = |name: &str, cpus: &str| {
        let mut spec: OfferSpec = serde_json::from_value(json!({
            "framework": "marathon", "agent": "node-1",
            "resources": {"cpus": cpus.parse::<f64>().unwrap(), "mem": 2048},
        }))
        .unwrap();
        spec.expires_at = Some(serde_json::from_value(json!(now_plus(60))).unwrap());
        Offer::new(name, spec)
    };
    h.create(
        &h.namespaced("team-a"),
        &offer("offer-open", "2"),
        json!(null),
    )
    .await;
    h.create(
        &h.namespaced("team-a"),
        &offer("offer-used", "0.5"),
        json!({"phase": "Accepted", "tasks": ["web.1"]}),
    )
    .await;

    let task = Task::new(
        "web.1",
        TaskSpec {
            framework: "marathon".into(),
            agent: "node-1".into(),
            resources: "cpus:1;mem:1024".parse().unwrap(),
            command: Some("sleep 1000".into()),
            ..TaskSpec::default()
        },
    );
    h.create(&h.namespaced("team-a"), &task, json!({"state": "Running"}))
        .await;
}

#[tokio::test]
async fn the_admin_sees_agents_frameworks_offers_and_tasks_with_their_numbers() {
    let h = Harness::start().await;
    cluster(&h).await;

    let page = h.admin_get("/cluster").await;
    page.is(StatusCode::OK);

    let agents = element(&page.body, "table", "agents");
    let agent_rows = rows(agents, "agent");
    assert_eq!(agent_rows.len(), 2, "{agents}");
    let node1 = agent_rows[0];
    for expected in [
        "node-1",
        "host-1.example",
        ">Ready<",
        ">4<",
        ">8192<",
        ">10000<",
        "31000-32000",
        "1 cpus · 1024 MB mem",
        "1 cpus · 5120 MB mem · 10000 MB disk",
        "s ago<",
    ] {
        assert!(node1.contains(expected), "{expected:?} in {node1}");
    }
    let node2 = agent_rows[1];
    assert!(node2.contains("Unreachable, draining"), "{node2}");
    assert!(node2.contains("none seen"), "no heartbeat seen: {node2}");

    let frameworks = element(&page.body, "table", "frameworks");
    let fw = rows(frameworks, "framework");
    assert_eq!(fw.len(), 1, "{frameworks}");
    for expected in [
        "team-a/marathon",
        ">*<",
        ">1<",
        "yes",
        "3 cpus · 3072 MB mem",
        "50.0%",
    ] {
        assert!(fw[0].contains(expected), "{expected:?} in {}", fw[0]);
    }

    let offers = element(&page.body, "table", "offers");
    let open = rows(offers, "offer");
    assert_eq!(
        open.len(),
        1,
        "only the pending offer is outstanding: {offers}"
    );
    for expected in [
        "offer-open",
        "team-a/marathon",
        "node-1",
        "2 cpus · 2048 MB mem",
    ] {
        assert!(open[0].contains(expected), "{expected:?} in {}", open[0]);
    }
    assert!(
        open[0].contains(">59s<") || open[0].contains(">60s<") || open[0].contains(">58s<"),
        "expires in about a minute: {}",
        open[0]
    );

    let tasks = element(&page.body, "table", "tasks");
    let task_rows = rows(tasks, "task");
    assert_eq!(task_rows.len(), 1, "{tasks}");
    for expected in [
        "team-a/web.1",
        "marathon",
        "node-1",
        ">Running<",
        "1 cpus · 1024 MB mem",
        "href=\"/sandbox/team-a/web.1\"",
    ] {
        assert!(
            task_rows[0].contains(expected),
            "{expected:?} in {}",
            task_rows[0]
        );
    }
}

#[tokio::test]
async fn the_sections_alone_refresh_the_page() {
    let h = Harness::start().await;
    cluster(&h).await;
    let page = h.admin_get("/cluster").await;
    page.has("id=\"cluster-sections\" data-refresh=\"/cluster/sections\"");
    let sections = h.admin_get("/cluster/sections").await;
    sections.is(StatusCode::OK);
    assert!(
        !sections.body.contains("<html"),
        "a fragment: {}",
        sections.body
    );
    for table in ["agents", "frameworks", "offers", "tasks"] {
        element(&sections.body, "table", table);
    }
}

#[tokio::test]
async fn a_tenant_sees_a_note_instead_of_agents_and_their_own_namespace() {
    let h = Harness::start().await;
    cluster(&h).await;
    let alice = h
        .namespace_user(
            "alice",
            "team-a",
            &["frameworks", "offers", "tasks"],
            &["get", "list", "watch"],
        )
        .await;

    let page = h.get("/cluster?namespace=team-a", &alice).await;
    page.is(StatusCode::OK);
    assert!(
        !page.body.contains("id=\"agents\""),
        "alice may not list agents: {}",
        page.body
    );
    page.has("You may not list agents");
    let tasks = element(&page.body, "table", "tasks");
    assert_eq!(rows(tasks, "task").len(), 1, "{tasks}");
    let frameworks = element(&page.body, "table", "frameworks");
    assert!(frameworks.contains("50.0%"), "{frameworks}");

    // Across namespaces she may list nothing: each section says so, and the page still renders.
    let page = h.get("/cluster", &alice).await;
    page.is(StatusCode::OK);
    for what in ["agents", "frameworks", "offers", "tasks"] {
        assert!(
            page.body.contains(&format!("You may not list {what}")),
            "{what}: {}",
            page.body
        );
    }
}

#[tokio::test]
async fn without_a_token_the_page_asks_to_sign_in() {
    let h = Harness::start().await;
    h.send(
        http::Request::get("/cluster")
            .body(Default::default())
            .unwrap(),
    )
    .await
    .redirects_to("/login?next=/cluster");
}
