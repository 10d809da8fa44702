//! The master keeping agents and frameworks honest over time, end to end: agents that stop
//! heartbeating (simulated, and a real one SIGKILLed and restarted), operators marking agents
//! gone and draining them, frameworks that go away, and the controllers restarting mid-flight.

use std::time::Duration;

use serde_json::{Value, json};
use strata_e2e::agent::{Agent, agent_token};
use strata_e2e::cluster::Cluster;
use strata_e2e::framework::{Behaviour, run_framework};
use strata_e2e::{eventually, kube_client};

const WAIT: Duration = Duration::from_secs(60);

/// A framework launching up to `max_tasks` tasks of `task` resources.
fn launching(task: &str, max_tasks: usize) -> Behaviour {
    Behaviour {
        task: Some(task.to_string()),
        refuse_seconds: 1.0,
        max_tasks,
        hold: false,
    }
}

/// Task name → (agent, state, reason).
fn tasks(cluster: &Cluster) -> Vec<(String, String, String, String)> {
    let list = cluster.json(&["get", "tasks"]);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                s(&t["metadata"]["name"]),
                s(&t["spec"]["agent"]),
                s(&t["status"]["state"]),
                s(&t["status"]["reason"]),
            )
        })
        .collect()
}

fn state_of(cluster: &Cluster, task: &str) -> Option<String> {
    tasks(cluster)
        .into_iter()
        .find(|t| t.0 == task)
        .map(|t| t.2)
}

/// An agent's condition of `type_` as (status, reason).
fn condition(cluster: &Cluster, agent: &str, type_: &str) -> Option<(String, String)> {
    let agent = cluster.json(&["get", "agent", agent]);
    agent["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
}

/// Waits until every task named in `expected` has the state given, and says what it saw if not.
fn wait_for_states(cluster: &Cluster, expected: &[(&str, &str)]) {
    let reached = eventually(WAIT, || {
        expected
            .iter()
            .all(|(t, s)| state_of(cluster, t).as_deref() == Some(*s))
            .then_some(())
    });
    assert!(
        reached.is_some(),
        "expected {expected:?}, saw {:?}\n{}",
        tasks(cluster),
        cluster.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_agents_turn_unreachable_then_gone_and_their_tasks_follow() {
    let mut cluster = Cluster::without_agents(&[
        "--agent-unreachable-timeout",
        "3s",
        "--agent-reregister-timeout",
        "8s",
    ]);
    let client = kube_client(&cluster.server).await;
    // Two agents, each running one task of a partition-aware framework and one of a framework
    // that is not; one will fall silent, the other stays.
    let mut frameworks = Vec::new();
    for (agent, prefix) in [("quiet", ""), ("steady", "kept-")] {
        for (name, spec) in [
            ("aware", json!({"capabilities": {"partitionAware": true}})),
            ("plain", json!({})),
        ] {
            let name = format!("{prefix}{name}");
            let behaviour = launching("cpus:1;mem:64", 1);
            let (handle, _) =
                run_framework(client.clone(), "default", &name, spec, behaviour).await;
            frameworks.push(handle);
        }
        cluster.wait_active(&[&format!("{prefix}aware"), &format!("{prefix}plain")]);
        cluster.add_agents(agent, 1, "cpus:2;mem:256");
        let running = eventually(WAIT, || {
            let t = tasks(&cluster);
            (t.len() == frameworks.len() && t.iter().all(|t| t.2 == "Running")).then_some(())
        });
        assert!(
            running.is_some(),
            "tasks running on {agent}: {:?}\n{}",
            tasks(&cluster),
            cluster.log()
        );
    }
    let running = tasks(&cluster);
    let on = |agent: &str, framework: &str| -> String {
        running
            .iter()
            .find(|t| t.1 == agent && t.0 == format!("{framework}-1"))
            .unwrap_or_else(|| panic!("a task of {framework} on {agent}: {running:?}"))
            .0
            .clone()
    };
    let (quiet_aware, quiet_plain) = (on("quiet-0", "aware"), on("quiet-0", "plain"));

    cluster.agents[0].kill();
    // Unreachable: the partition-aware framework's task is Unreachable, the other's Lost.
    wait_for_states(
        &cluster,
        &[(&quiet_aware, "Unreachable"), (&quiet_plain, "Lost")],
    );
    assert_eq!(
        condition(&cluster, "quiet-0", "Ready")
            .map(|c| c.0)
            .as_deref(),
        Some("Unknown")
    );
    let table = cluster.server.kubectl_ok(&["get", "agents"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("quiet-0") && l.contains("Unknown")),
        "{table}"
    );
    // After the re-registration timeout: Gone, and the Unreachable task with it.
    wait_for_states(&cluster, &[(&quiet_aware, "Gone")]);
    assert_eq!(
        condition(&cluster, "quiet-0", "Gone"),
        Some(("True".into(), "ReregisterTimeout".into()))
    );
    let reasons: Vec<String> = tasks(&cluster)
        .into_iter()
        .filter(|t| t.1 == "quiet-0")
        .map(|t| t.3)
        .collect();
    assert!(
        reasons.contains(&"AgentGone".to_string()) && reasons.contains(&"AgentUnreachable".into()),
        "{reasons:?}"
    );
    // The steady agent's tasks never moved.
    for framework in ["kept-aware", "kept-plain"] {
        let task = on("steady-0", framework);
        assert_eq!(state_of(&cluster, &task).as_deref(), Some("Running"));
    }

    // An operator marks the steady agent gone: its tasks are Gone (Lost for the plain
    // framework), it is never offered again.
    cluster.server.kubectl_ok(&[
        "patch",
        "agent",
        "steady-0",
        "--type=merge",
        "-p",
        r#"{"spec": {"gone": true}}"#,
    ]);
    wait_for_states(
        &cluster,
        &[
            (&on("steady-0", "kept-aware"), "Gone"),
            (&on("steady-0", "kept-plain"), "Lost"),
        ],
    );
    assert_eq!(
        condition(&cluster, "steady-0", "Gone"),
        Some(("True".into(), "MarkedGone".into()))
    );
    // Operators see it in the metrics too.
    let counted = eventually(WAIT, || {
        let metrics = cluster.metrics();
        (metrics.contains("strata_agents{phase=\"Gone\"} 2")
            && metrics.contains("strata_agents{phase=\"Ready\"} 0"))
        .then_some(())
    });
    assert!(counted.is_some(), "{}", cluster.metrics());
    std::thread::sleep(Duration::from_secs(2));
    let pending: Vec<Value> = cluster.json(&["get", "offers"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["status"]["phase"].is_null())
        .cloned()
        .collect();
    assert!(
        pending.is_empty(),
        "no offers from gone agents: {pending:?}"
    );
    for framework in frameworks {
        framework.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_kills_the_tasks_and_frameworks_that_go_away_lose_theirs() {
    let mut cluster = Cluster::without_agents(&[]);
    let client = kube_client(&cluster.server).await;
    let (drained, _) = run_framework(
        client.clone(),
        "default",
        "drained",
        json!({}),
        launching("cpus:1;mem:64", 1),
    )
    .await;
    cluster.add_agents("drain", 1, "cpus:1;mem:128");
    wait_for_states(&cluster, &[("drained-1", "Running")]);
    drained.abort();
    // Drain with a 1 s grace period, marking the agent gone once drained.
    cluster.server.kubectl_ok(&[
        "patch",
        "agent",
        "drain-0",
        "--type=merge",
        "-p",
        r#"{"spec": {"drain": {"maxGracePeriodSeconds": 1, "markGone": true}}}"#,
    ]);
    let gone = eventually(WAIT, || {
        let killed = state_of(&cluster, "drained-1").is_none();
        let gone = condition(&cluster, "drain-0", "Gone").map(|c| c.1);
        (killed && gone.as_deref() == Some("Drained")).then_some(())
    });
    assert!(
        gone.is_some(),
        "the task is killed and the agent gone: {:?} {:?}\n{}",
        tasks(&cluster),
        condition(&cluster, "drain-0", "Gone"),
        cluster.log()
    );

    // (The drained framework unregisters, or it would be offered what nobody answers.)
    cluster
        .server
        .kubectl_ok(&["delete", "framework,lease", "drained"]);

    // A framework that stops heartbeating past its failover timeout has its tasks killed;
    // so does one whose Framework is deleted.
    let (fleeting, _) = run_framework(
        client.clone(),
        "default",
        "fleeting",
        json!({"failoverTimeoutSeconds": 2}),
        launching("cpus:1;mem:64", 1),
    )
    .await;
    let (deleted, _) = run_framework(
        client,
        "default",
        "deleted",
        json!({}),
        launching("cpus:1;mem:64", 1),
    )
    .await;
    cluster.add_agents("fresh", 2, "cpus:1;mem:128");
    wait_for_states(
        &cluster,
        &[("fleeting-1", "Running"), ("deleted-1", "Running")],
    );
    fleeting.abort();
    deleted.abort();
    cluster
        .server
        .kubectl_ok(&["delete", "lease", "fleeting", "--wait=false"]);
    cluster
        .server
        .kubectl_ok(&["delete", "framework", "deleted", "--wait=false"]);
    let killed = eventually(WAIT, || {
        let left = tasks(&cluster);
        left.iter()
            .all(|t| t.0 != "fleeting-1" && t.0 != "deleted-1")
            .then_some(())
    });
    assert!(
        killed.is_some(),
        "both frameworks' tasks are killed: {:?}\n{}",
        tasks(&cluster),
        cluster.log()
    );
    assert!(
        cluster.log().contains("failover timeout"),
        "{}",
        cluster.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_agent_back_from_a_partition_runs_nothing_twice() {
    let cluster = Cluster::without_agents(&["--agent-unreachable-timeout", "3s"]);
    let client = kube_client(&cluster.server).await;
    let spec = json!({"capabilities": {"partitionAware": true}});
    let (aware, _) = run_framework(
        client.clone(),
        "default",
        "aware",
        spec,
        launching("cpus:1;mem:64", 1),
    )
    .await;
    let (plain, _) = run_framework(
        client,
        "default",
        "plain",
        json!({}),
        launching("cpus:1;mem:64", 1),
    )
    .await;
    let token = agent_token(&cluster.server, "node-a");
    let mut agent = Agent::start(
        &cluster.server,
        "node-a",
        &token,
        &["--heartbeat-interval", "1s"],
    );
    wait_for_states(&cluster, &[("aware-1", "Running"), ("plain-1", "Running")]);
    // Each task is its executor's shim and the command.
    let before = agent.task_pids();
    assert_eq!(before.len(), 4, "two tasks' processes: {before:?}");

    // SIGKILL: the processes keep running, but the master hears nothing.
    agent.kill();
    wait_for_states(&cluster, &[("aware-1", "Unreachable"), ("plain-1", "Lost")]);

    // Back: the partition-aware framework's task is Running again (the same process); the
    // Lost one was replaced as far as its framework knows, so the agent kills it.
    agent.restart(&cluster.server);
    wait_for_states(&cluster, &[("aware-1", "Running")]);
    let reason = tasks(&cluster)
        .into_iter()
        .find(|t| t.0 == "aware-1")
        .map(|t| t.3);
    assert_eq!(reason.as_deref(), Some("AgentReregistered"));
    let survivors = eventually(WAIT, || {
        let pids = agent.task_pids();
        (pids.len() == 2).then_some(pids)
    })
    .unwrap_or_else(|| {
        panic!(
            "the Lost task is killed: {:?}\n{}",
            agent.task_pids(),
            agent.log()
        )
    });
    assert!(
        survivors.iter().all(|p| before.contains(p)),
        "adopted, not relaunched: {before:?} then {survivors:?}"
    );
    assert_eq!(state_of(&cluster, "plain-1").as_deref(), Some("Lost"));
    assert_eq!(
        condition(&cluster, "node-a", "Ready")
            .map(|c| c.0)
            .as_deref(),
        Some("True")
    );
    aware.abort();
    plain.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_controllers_count_every_task_once() {
    let mut cluster = Cluster::without_agents(&[]);
    let client = kube_client(&cluster.server).await;
    let (fw, seen) = run_framework(
        client,
        "default",
        "steady",
        json!({}),
        launching("cpus:1;mem:128", 6),
    )
    .await;
    cluster.add_agents("sim", 4, "cpus:2;mem:1024");
    let launched = eventually(WAIT, || (seen.lock().unwrap().tasks == 6).then_some(()));
    assert!(launched.is_some(), "six tasks launched\n{}", cluster.log());
    let allocated = |cluster: &Cluster| -> (f64, f64) {
        let fw = cluster.json(&["get", "framework", "steady"]);
        let of = |f: &str| fw["status"][f]["cpus"].as_f64().unwrap_or(0.0);
        let agents: f64 = cluster.json(&["get", "agents"])["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["status"]["allocated"]["cpus"].as_f64().unwrap_or(0.0))
            .sum();
        (of("allocated") - of("offered"), agents)
    };
    let settled = |cluster: &Cluster| {
        eventually(WAIT, || {
            let (framework, agents) = allocated(cluster);
            // Everything not used by the six tasks is on offer or free.
            (framework == 6.0 && agents >= 6.0).then_some(())
        })
    };
    assert!(settled(&cluster).is_some(), "{:?}", allocated(&cluster));

    // Restart the controllers three times while the framework keeps taking offers: the
    // accounting is rebuilt from the store, every task counted once.
    for _ in 0..3 {
        cluster.restart_controllers();
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        settled(&cluster).is_some(),
        "after restarts: {:?}\n{}",
        allocated(&cluster),
        cluster.log()
    );
    let running = tasks(&cluster).iter().filter(|t| t.2 == "Running").count();
    assert_eq!(running, 6, "{:?}", tasks(&cluster));
    fw.abort();
}

/// Frameworks create their tasks with the agent's finalizer (it saves the agent a write); a task
/// no agent ever ran must not hang on it when deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_deleted_before_any_agent_ran_it_does_not_hang_on_the_agents_finalizer() {
    let cluster = Cluster::without_agents(&[]);
    let task = |name: &str| {
        json!({
            "apiVersion": "strata.io/v1alpha1", "kind": "Task",
            "metadata": {"name": name, "labels": {"strata.io/agent": "nowhere"},
                         "finalizers": ["strata.io/agent"]},
            "spec": {"framework": "ghost", "agent": "nowhere", "offer": "none",
                     "resources": {"cpus": 0.1, "mem": 16}, "command": "sleep 60"},
        })
        .to_string()
    };
    for name in ["unjudged", "judged"] {
        cluster
            .server
            .kubectl_ok_stdin(&["create", "-f", "-"], Some(&task(name)));
    }
    // The master ends the one naming an offer that does not exist; the other is deleted at
    // once, whatever the master has made of it yet.
    wait_for_states(&cluster, &[("judged", "Dropped")]);
    let out = cluster
        .server
        .kubectl_ok(&["delete", "task", "unjudged", "judged", "--timeout=30s"]);
    assert!(out.contains("deleted"), "{out}");
    assert!(
        tasks(&cluster).is_empty(),
        "both are gone: {:?}\n{}",
        tasks(&cluster),
        cluster.log()
    );
}
