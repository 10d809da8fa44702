//! Marathon end to end on real agents running real processes: a crash-looping app backs off
//! (Delayed, growing delays), can be stopped, and recovers with a fixed version; a broken new
//! version never takes the old one down and a rollback restores it without restarting it; an
//! agent that goes away has its instances replaced elsewhere, and nothing runs twice when it
//! comes back; apps start in dependency order and stop in reverse; a new Docker image rolls out
//! one container at a time without ever dropping below the healthy capacity.

use std::time::{Duration, Instant};

use strata_e2e::agent::{Agent, agent_token, busybox_image};
use strata_e2e::apps::{WAIT, app, apply, live_tasks, strata_app_ok, tasks_column, wait_app};
use strata_e2e::cluster::Cluster;
use strata_e2e::eventually;

fn agent(cluster: &Cluster, name: &str) -> Agent {
    let token = agent_token(&cluster.server, name);
    Agent::start(
        &cluster.server,
        name,
        &token,
        &["--heartbeat-interval", "1s"],
    )
}

fn process_app(name: &str, instances: u32, cmd: &str, extra: &str) -> String {
    format!(
        "apiVersion: strata.io/v1alpha1\nkind: App\nmetadata: {{name: {name}}}\nspec:\n  cmd: {cmd:?}\n  cpus: 0.1\n  mem: 16\n  instances: {instances}\n{extra}"
    )
}

#[test]
fn a_crash_loop_backs_off_can_be_stopped_and_a_fixed_version_recovers() {
    let cluster = Cluster::without_agents(&[]);
    let _agent = agent(&cluster, "node-a");
    let backoff = "  backoffSeconds: 1\n  backoffFactor: 2\n  maxLaunchDelaySeconds: 4\n";
    apply(&cluster, &process_app("crash", 1, "exit 1", backoff));

    // Delays grow 1, 2, 4 and stay at the cap.
    let mut delays = Vec::new();
    let started = Instant::now();
    while delays.last() != Some(&4) {
        let status = app(&cluster, "crash")["status"].clone();
        if status["phase"] == "Delayed"
            && let Some(seconds) = status["launchDelay"]["seconds"].as_u64()
            && delays.last() != Some(&seconds)
        {
            delays.push(seconds);
        }
        assert!(
            started.elapsed() < WAIT,
            "delays seen {delays:?}; status {status:#}\n{}",
            cluster.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        delays.windows(2).all(|w| w[0] < w[1]) && delays.len() >= 2,
        "{delays:?}"
    );
    let status = app(&cluster, "crash")["status"].clone();
    assert_eq!(status["lastTaskFailure"]["state"], "Failed", "{status:#}");
    let progressing = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap()
        .clone();
    assert_eq!(progressing["reason"], "Backoff");
    assert!(
        progressing["message"]
            .as_str()
            .unwrap()
            .contains("next launch in")
    );

    // Stop: no more launches of this version.
    strata_app_ok(&cluster.server, &["stop", "crash"]);
    let stopped = wait_app(&cluster, "crash", "launches stopped", |s| {
        s["phase"] == "Stopped"
    });
    let failures = stopped["status"]["launchDelay"]["failures"].clone();
    std::thread::sleep(Duration::from_secs(6));
    let later = app(&cluster, "crash")["status"].clone();
    assert_eq!(later["phase"], "Stopped");
    assert_eq!(
        later["launchDelay"]["failures"], failures,
        "nothing relaunched"
    );

    // A fixed version starts at once, whatever the backoff was.
    apply(&cluster, &process_app("crash", 1, "sleep 1000", backoff));
    let fixed = wait_app(
        &cluster,
        "crash",
        "the fixed version runs",
        tasks_column("1 / 1"),
    );
    assert_eq!(fixed["status"]["phase"], "Running");
    assert!(
        fixed["status"]["launchDelay"].is_null(),
        "{:#}",
        fixed["status"]
    );
}

#[test]
fn a_broken_version_never_takes_the_old_one_down_and_a_rollback_restores_it() {
    let cluster = Cluster::without_agents(&[]);
    let _agent = agent(&cluster, "node-a");
    let checks = |probe: &str| {
        format!(
            "  healthChecks:\n  - {{protocol: COMMAND, command: {{value: {probe:?}}}, gracePeriodSeconds: 2, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 2, delaySeconds: 0}}\n  upgradeStrategy: {{minimumHealthCapacity: 1, maximumOverCapacity: 0.5}}\n"
        )
    };
    apply(
        &cluster,
        &process_app("svc", 2, "sleep 1000", &checks("true")),
    );
    let good = wait_app(&cluster, "svc", "2 healthy", |s| {
        s["tasksHealthy"] == 2 && s["phase"] == "Running"
    });
    let v1 = good["status"]["version"].as_str().unwrap().to_string();
    let mut v1_tasks: Vec<String> = live_tasks(&cluster, "svc")
        .into_iter()
        .map(|t| t.0)
        .collect();
    v1_tasks.sort();

    // A new version whose health check always fails.
    apply(
        &cluster,
        &process_app("svc", 2, "sleep 1000", &checks("false")),
    );
    let rolling = wait_app(&cluster, "svc", "the broken version rolls out", |s| {
        s["version"].as_str().is_some_and(|v| v != v1) && s["phase"] == "Deploying"
    });
    let broken_rollout = rolling["status"]["rollout"].as_str().unwrap().to_string();
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        let healthy_v1 = live_tasks(&cluster, "svc")
            .into_iter()
            .filter(|t| t.3 == v1 && t.2 == "Running")
            .count();
        assert_eq!(healthy_v1, 2, "the old version keeps running");
        std::thread::sleep(Duration::from_millis(200));
    }
    let rollout = cluster.json(&["get", "rollout", &broken_rollout]);
    assert_eq!(rollout["status"]["phase"], "InProgress");
    assert_eq!(
        rollout["status"]["reason"], "WaitingForHealth",
        "a stuck rollout says why: {rollout:#}"
    );

    // One command back: the old version, with the very same tasks.
    strata_app_ok(&cluster.server, &["rollback", "svc"]);
    let back = wait_app(&cluster, "svc", "rolled back", |s| {
        s["version"] == v1.as_str() && s["phase"] == "Running" && s["tasksHealthy"] == 2
    });
    let mut after: Vec<String> = live_tasks(&cluster, "svc")
        .into_iter()
        .map(|t| t.0)
        .collect();
    after.sort();
    assert_eq!(after, v1_tasks, "the old tasks were never restarted");
    let superseded = cluster.json(&["get", "rollout", &broken_rollout]);
    assert_eq!(superseded["status"]["phase"], "Superseded");
    assert_eq!(
        superseded["status"]["supersededBy"],
        back["status"]["rollout"]
    );
}

#[test]
fn instances_on_a_lost_agent_are_replaced_and_never_run_twice() {
    let cluster = Cluster::without_agents(&["--agent-unreachable-timeout", "3s"]);
    let mut a = agent(&cluster, "node-a");
    let strategy = "  unreachableStrategy: {inactiveAfterSeconds: 1, expungeAfterSeconds: 600}\n";
    apply(&cluster, &process_app("keep", 1, "sleep 1000", strategy));
    wait_app(&cluster, "keep", "running on node-a", tasks_column("1 / 1"));
    let settled = live_tasks(&cluster, "keep")[0].clone();
    assert_eq!(settled.1, "node-a");
    let _b = agent(&cluster, "node-b");

    a.kill();
    let replaced = eventually(WAIT, || {
        let tasks = live_tasks(&cluster, "keep");
        tasks
            .iter()
            .any(|t| t.1 == "node-b" && t.2 == "Running")
            .then_some(tasks)
    })
    .unwrap_or_else(|| panic!("{:?}\n{}", live_tasks(&cluster, "keep"), cluster.log()));
    assert!(
        replaced
            .iter()
            .any(|t| t.0 == settled.0 && t.2 == "Unreachable"),
        "the lost instance is Unreachable, not forgotten: {replaced:?}"
    );

    // Back: the old instance reports Running again and one of the two is killed.
    a.restart(&cluster.server);
    let one = eventually(WAIT, || {
        let tasks = live_tasks(&cluster, "keep");
        (tasks.len() == 1 && tasks[0].2 == "Running").then_some(tasks)
    });
    assert!(
        one.is_some(),
        "exactly one instance runs: {:?}\n{}",
        live_tasks(&cluster, "keep"),
        cluster.log()
    );
    let pids = eventually(WAIT, || {
        let pids = a.task_pids();
        (one.as_ref().unwrap()[0].1 == "node-a" || pids.is_empty()).then_some(pids)
    });
    assert!(
        pids.is_some(),
        "node-a runs nothing it should not: {:?}",
        a.task_pids()
    );
}

#[test]
fn apps_start_in_dependency_order_and_stop_in_reverse() {
    let cluster = Cluster::without_agents(&[]);
    let _agent = agent(&cluster, "node-a");
    // db cannot be placed at first (no agent is called nowhere), so web must wait for it.
    let nowhere = "  constraints:\n  - {field: \"@hostname\", operator: IS, value: nowhere}\n";
    apply(&cluster, &process_app("db", 1, "sleep 1000", nowhere));
    // web takes a while to stop (it cleans up for 3 s after SIGTERM).
    let slow_stop = "trap 'sleep 3; exit 0' TERM; sleep 1000 & wait";
    let depends = "  dependencies: [db]\n  taskKillGracePeriodSeconds: 10\n";
    apply(&cluster, &process_app("web", 1, slow_stop, depends));
    let waiting = wait_app(&cluster, "web", "waiting for db", |s| {
        s["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["reason"] == "WaitingForDependencies"))
    });
    assert!(live_tasks(&cluster, "web").is_empty(), "{waiting:#}");

    apply(&cluster, &process_app("db", 1, "sleep 1000", ""));
    wait_app(&cluster, "db", "db runs", tasks_column("1 / 1"));
    wait_app(&cluster, "web", "then web", tasks_column("1 / 1"));

    // Deleting both: db keeps running until web has stopped.
    cluster
        .server
        .kubectl_ok(&["delete", "app", "web", "db", "--wait=false"]);
    let mut saw_web_stopping = false;
    let gone = eventually(WAIT, || {
        // db first: web still there afterwards means it was there when db was looked at.
        let db = live_or_dying(&cluster, "db");
        let web = live_or_dying(&cluster, "web");
        if !web.is_empty() {
            saw_web_stopping = true;
            assert!(
                db.iter().all(|dying| !dying),
                "db was stopped while web still ran"
            );
        }
        (web.is_empty() && db.is_empty()).then_some(())
    });
    assert!(gone.is_some(), "both stop\n{}", cluster.log());
    assert!(
        saw_web_stopping,
        "web took 3 s to stop; it was seen stopping"
    );
    let apps = cluster.server.kubectl_ok(&["get", "apps", "-o", "name"]);
    assert!(apps.trim().is_empty(), "{apps}");
}

/// Whether each task of the app is being killed (deletionTimestamp set).
fn live_or_dying(cluster: &Cluster, app: &str) -> Vec<bool> {
    let list = cluster.json(&["get", "tasks", "-l", &format!("strata.io/app={app}")]);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| !t["metadata"]["deletionTimestamp"].is_null())
        .collect()
}

#[test]
fn a_new_image_rolls_out_one_container_at_a_time_never_below_capacity() {
    let image = busybox_image();
    let next = "strata-test/busybox:2";
    let tagged = std::process::Command::new("docker")
        .args(["tag", image, next])
        .status()
        .expect("docker runs");
    assert!(tagged.success(), "docker tag {image} {next}");
    let cluster = Cluster::without_agents(&[]);
    let token = agent_token(&cluster.server, "node-a");
    let _agent = Agent::start_with_resources(
        &cluster.server,
        "node-a",
        &token,
        "cpus:8;mem:8192;disk:10000",
        8,
        &["--heartbeat-interval", "1s"],
    );
    let web = |image: &str| {
        format!(
            "apiVersion: strata.io/v1alpha1
kind: App
metadata: {{name: web}}
spec:
  container:
    docker: {{image: {image:?}}}
    portMappings: [{{containerPort: 8080, name: http}}]
  cmd: exec httpd -f -p 8080 -h /www
  cpus: 0.1
  mem: 32
  instances: 3
  taskKillGracePeriodSeconds: 1
  healthChecks: [{{protocol: HTTP, path: /index.html, portIndex: 0, delaySeconds: 0, gracePeriodSeconds: 10, intervalSeconds: 2, timeoutSeconds: 2}}]
  readinessChecks: [{{portName: http, path: /index.html, intervalSeconds: 1, timeoutSeconds: 1}}]
  upgradeStrategy: {{minimumHealthCapacity: 1, maximumOverCapacity: 0.34}}
"
        )
    };
    apply(&cluster, &web(image));
    let first = wait_app(&cluster, "web", "3 healthy containers", |s| {
        s["tasksHealthy"] == 3 && s["phase"] == "Running"
    });
    let v1 = first["status"]["version"].as_str().unwrap().to_string();

    apply(&cluster, &web(next));
    let started = Instant::now();
    let (mut lowest, mut most) = (usize::MAX, 0);
    let mut samples = Vec::new();
    loop {
        let tasks = cluster.json(&["get", "tasks", "-l", "strata.io/app=web"]);
        let live: Vec<&serde_json::Value> = tasks["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["metadata"]["deletionTimestamp"].is_null())
            .collect();
        let healthy = live
            .iter()
            .filter(|t| t["status"]["state"] == "Running" && t["status"]["healthy"] == true)
            .count();
        lowest = lowest.min(healthy);
        most = most.max(live.len());
        samples.push(format!(
            "{:?}: {healthy} healthy of {:?}",
            started.elapsed(),
            live.iter()
                .map(|t| format!(
                    "{}:{}:{}",
                    t["metadata"]["name"].as_str().unwrap_or(""),
                    t["status"]["state"].as_str().unwrap_or("-"),
                    t["status"]["healthy"]
                ))
                .collect::<Vec<_>>()
        ));
        let status = app(&cluster, "web")["status"].clone();
        let new_everywhere = live.len() == 3
            && live
                .iter()
                .all(|t| t["spec"]["container"]["image"] == next && t["status"]["healthy"] == true);
        if status["version"] != v1.as_str() && status["phase"] == "Running" && new_everywhere {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the rollout did not finish: {status:#}\n{}",
            cluster.log()
        );
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(
        lowest >= 3,
        "never fewer than 3 healthy containers, saw {lowest}:\n{}\n{}",
        samples.join("\n"),
        cluster.log()
    );
    assert!(most <= 4, "one extra container at a time, saw {most}");
}
