//! Marathon end to end on simulated agents: apps applied with kubectl run, scale, suspend and
//! resume; constraints spread them or leave them waiting with the reason; a new version rolls
//! out within the upgrade strategy; deleting an app removes its tasks and rollouts.

use std::time::Instant;

use serde_json::Value;
use strata_e2e::apps::{
    MARATHON_COLUMNS, WAIT, app, apply, live_tasks, sleeper, strata_app_ok, tasks_column, wait_app,
};
use strata_e2e::cluster::Cluster;
use strata_e2e::eventually;

#[test]
fn apps_scale_suspend_resume_and_show_marathons_table() {
    let mut cluster = Cluster::without_agents(&[]);
    cluster.add_agents("sim", 3, "cpus:4;mem:4096;ports:[31000-31100]");
    apply(&cluster, &sleeper("web", 2, ""));
    wait_app(&cluster, "web", "2 running", tasks_column("2 / 2"));
    cluster.server.kubectl_ok(&[
        "wait",
        "--for=condition=Available",
        "app/web",
        "--timeout=60s",
    ]);

    cluster
        .server
        .kubectl_ok(&["scale", "app/web", "--replicas=5"]);
    let status = wait_app(&cluster, "web", "5 running", tasks_column("5 / 5"));
    assert_eq!(status["status"]["phase"], "Running");
    assert_eq!(live_tasks(&cluster, "web").len(), 5);

    cluster
        .server
        .kubectl_ok(&["scale", "app/web", "--replicas=0"]);
    wait_app(&cluster, "web", "suspended", |s| s["phase"] == "Suspended");
    let gone = eventually(WAIT, || {
        live_tasks(&cluster, "web").is_empty().then_some(())
    });
    assert!(gone.is_some(), "suspending kills every task");

    cluster
        .server
        .kubectl_ok(&["scale", "app/web", "--replicas=3"]);
    wait_app(&cluster, "web", "resumed", tasks_column("3 / 3"));
    let table = cluster.server.kubectl_ok(&["get", "apps"]);
    let header = table.lines().next().unwrap();
    for column in MARATHON_COLUMNS {
        assert!(header.contains(column), "{table}");
    }
    let row = table
        .lines()
        .find(|l| l.contains(" /web "))
        .unwrap_or_else(|| panic!("a row with ID /web:\n{table}"));
    for cell in ["64", "0.5", "3 / 3", "3 running", "Running"] {
        assert!(row.contains(cell), "{cell} in {row}");
    }

    // Every change was a rollout: start, scale up, suspend, resume.
    let rollouts = cluster.json(&["get", "rollouts", "-l", "strata.io/app=web"]);
    let changes: Vec<(&str, &str)> = rollouts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["spec"]["change"].as_str().unwrap(),
                r["status"]["phase"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("Start", "Succeeded"),
            ("Scale", "Succeeded"),
            ("Stop", "Succeeded"),
            ("Start", "Succeeded")
        ],
        "{rollouts:#}"
    );

    // Deleting the app stops its tasks and removes its rollouts.
    cluster
        .server
        .kubectl_ok(&["delete", "app", "web", "--timeout=60s"]);
    let cleaned = eventually(WAIT, || {
        let tasks = cluster.server.kubectl_ok(&["get", "tasks", "-o", "name"]);
        let rollouts = cluster
            .server
            .kubectl_ok(&["get", "rollouts", "-o", "name"]);
        (tasks.trim().is_empty() && rollouts.trim().is_empty()).then_some(())
    });
    assert!(cleaned.is_some(), "tasks and rollouts go with the app");
    cluster.restart_controllers();
}

#[test]
fn unique_hostname_spreads_and_an_unsatisfiable_constraint_waits_with_the_reason() {
    let mut cluster = Cluster::without_agents(&[]);
    cluster.add_agents("sim", 3, "cpus:4;mem:4096");
    let unique = "  constraints:\n  - {field: \"@hostname\", operator: UNIQUE}\n";
    apply(&cluster, &sleeper("spread", 3, unique));
    wait_app(&cluster, "spread", "3 running", tasks_column("3 / 3"));
    let mut agents: Vec<String> = live_tasks(&cluster, "spread")
        .into_iter()
        .map(|t| t.1)
        .collect();
    agents.sort();
    assert_eq!(agents, ["sim-0", "sim-1", "sim-2"], "one per agent");

    cluster
        .server
        .kubectl_ok(&["scale", "app/spread", "--replicas=4"]);
    let status = wait_app(&cluster, "spread", "waiting for a fourth agent", |s| {
        s["phase"] == "Waiting" && s["queue"]["rejections"][0]["reason"] == "UnfulfilledConstraint"
    });
    let progressing = status["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap();
    assert_eq!(progressing["reason"], "WaitingForOffers");
    assert!(
        progressing["message"]
            .as_str()
            .unwrap()
            .contains("unfulfilled constraint"),
        "{progressing}"
    );
    assert_eq!(status["status"]["tasks"], "3 / 4");
    // A fourth agent lets it finish.
    cluster.add_agents("more", 1, "cpus:4;mem:4096");
    wait_app(&cluster, "spread", "4 running", tasks_column("4 / 4"));
}

#[test]
fn a_new_version_rolls_out_without_dropping_below_minimum_health_capacity() {
    let mut cluster = Cluster::without_agents(&[]);
    cluster.add_agents("sim", 4, "cpus:8;mem:8192");
    let strategy = "  upgradeStrategy: {minimumHealthCapacity: 1, maximumOverCapacity: 0.5}\n";
    apply(&cluster, &sleeper("roll", 6, strategy));
    let first = wait_app(&cluster, "roll", "6 running", tasks_column("6 / 6"));
    let v1 = first["status"]["version"].as_str().unwrap().to_string();

    apply(
        &cluster,
        &sleeper("roll", 6, &format!("{strategy}  env: {{RELEASE: \"2\"}}\n")),
    );
    let started = Instant::now();
    let mut lowest = usize::MAX;
    let mut highest = 0;
    let done = loop {
        let tasks = live_tasks(&cluster, "roll");
        let running = tasks.iter().filter(|t| t.2 == "Running").count();
        lowest = lowest.min(running);
        highest = highest.max(tasks.len());
        let status = app(&cluster, "roll");
        let v2 = status["status"]["version"].as_str().unwrap_or("");
        if v2 != v1
            && status["status"]["phase"] == "Running"
            && tasks.len() == 6
            && tasks.iter().all(|t| t.3 == v2 && t.2 == "Running")
        {
            break status;
        }
        assert!(
            started.elapsed() < WAIT,
            "rollout did not finish: {status:#}\n{}",
            cluster.log()
        );
    };
    assert!(
        lowest >= 6,
        "never fewer than 6 running during the rollout, saw {lowest}"
    );
    assert!(highest <= 9, "never more than 6 + 3 tasks, saw {highest}");
    let rollout = done["status"]["rollout"].as_str().unwrap();
    let rollout = cluster.json(&["get", "rollout", rollout]);
    assert_eq!(rollout["spec"]["change"], "Upgrade");
    assert_eq!(rollout["status"]["phase"], "Succeeded");
    assert!(
        rollout["status"]["lowestHealthy"].as_u64().unwrap() >= 6,
        "{rollout:#}"
    );
}

#[test]
fn restart_kill_and_history_and_a_controller_restart_mid_rollout() {
    let mut cluster = Cluster::without_agents(&["--rollout-history", "3"]);
    cluster.add_agents("sim", 2, "cpus:8;mem:8192");
    apply(&cluster, &sleeper("svc", 4, ""));
    wait_app(&cluster, "svc", "4 running", tasks_column("4 / 4"));
    let before: Vec<String> = live_tasks(&cluster, "svc")
        .into_iter()
        .map(|t| t.0)
        .collect();

    // A restart replaces every task with a new one of the same spec.
    strata_app_ok(&cluster.server, &["restart", "svc"]);
    let replaced = eventually(WAIT, || {
        let now: Vec<String> = live_tasks(&cluster, "svc")
            .into_iter()
            .map(|t| t.0)
            .collect();
        (now.len() == 4 && now.iter().all(|t| !before.contains(t))).then_some(now)
    });
    assert!(replaced.is_some(), "every task replaced\n{}", cluster.log());
    let restarted = wait_app(&cluster, "svc", "restarted", tasks_column("4 / 4"));
    let rollout = cluster.json(&[
        "get",
        "rollout",
        restarted["status"]["rollout"].as_str().unwrap(),
    ]);
    assert_eq!(rollout["spec"]["change"], "Restart");

    // Kill one task with --scale: that very task goes, and no other.
    let tasks = live_tasks(&cluster, "svc");
    let victim = tasks[1].0.clone();
    strata_app_ok(&cluster.server, &["kill", &victim, "--scale"]);
    wait_app(&cluster, "svc", "3 left", tasks_column("3 / 3"));
    let left: Vec<String> = live_tasks(&cluster, "svc")
        .into_iter()
        .map(|t| t.0)
        .collect();
    let mut expected: Vec<String> = tasks
        .iter()
        .map(|t| t.0.clone())
        .filter(|t| *t != victim)
        .collect();
    expected.sort();
    let mut left_sorted = left.clone();
    left_sorted.sort();
    assert_eq!(left_sorted, expected, "only {victim} was killed");
    // Without --scale the task is replaced.
    strata_app_ok(&cluster.server, &["kill", &left[0]]);
    let refilled = eventually(WAIT, || {
        let now: Vec<String> = live_tasks(&cluster, "svc")
            .into_iter()
            .map(|t| t.0)
            .collect();
        (now.len() == 3 && !now.contains(&left[0])).then_some(())
    });
    assert!(refilled.is_some(), "the killed task is replaced");

    // The controllers restart in the middle of an upgrade: it completes, as one rollout.
    apply(
        &cluster,
        &sleeper(
            "svc",
            3,
            "  env: {RELEASE: \"2\"}\n  upgradeStrategy: {minimumHealthCapacity: 1, maximumOverCapacity: 0.34}\n",
        ),
    );
    cluster.restart_controllers();
    let done = wait_app(&cluster, "svc", "upgraded", |s| {
        s["phase"] == "Running" && s["tasks"] == "3 / 3"
    });
    let version = done["status"]["version"].as_str().unwrap();
    assert!(live_tasks(&cluster, "svc").iter().all(|t| t.3 == version));
    let rollouts = cluster.json(&["get", "rollouts", "-l", "strata.io/app=svc"]);
    let items = rollouts["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        3,
        "--rollout-history 3 keeps three: {rollouts:#}"
    );
    let upgrades: Vec<&Value> = items
        .iter()
        .filter(|r| r["spec"]["version"] == version)
        .collect();
    assert_eq!(upgrades.len(), 1, "one rollout for the one change");
    assert_eq!(upgrades[0]["status"]["phase"], "Succeeded");
}
