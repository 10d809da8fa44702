//! The node agent end to end: a real `strata agent` (with its own agent token) against a real
//! store, running real processes and real Docker containers.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::Api;
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};
use strata_api::task::Task;
use strata_e2e::agent::{Agent, agent_token, busybox_image, http_get};
use strata_e2e::framework::simulated_agents;
use strata_e2e::master::{stage_task, write_status};
use strata_e2e::{Server, eventually, kube_client, strata_bin};

const WAIT: Duration = Duration::from_secs(60);

/// Applies a Task bound to `agent` with `spec` merged over a small default, and stages it
/// (marked Staging; see `strata_e2e::master`): the agent runs it.
fn apply_task(server: &Server, agent: &str, name: &str, spec: Value) {
    create_task(server, agent, name, spec);
    stage_task(server, name);
}

/// Applies a Task as a framework does, before the master staged it: the agent waits.
fn create_task(server: &Server, agent: &str, name: &str, spec: Value) {
    let mut full = json!({
        "framework": "e2e",
        "agent": agent,
        "resources": {"cpus": 0.1, "mem": 64},
        "killGracePeriodSeconds": 2,
    });
    for (k, v) in spec.as_object().unwrap() {
        full[k] = v.clone();
    }
    if let Some(port) = full["ports"].get(0).and_then(Value::as_u64) {
        full["resources"]["ports"] = json!([{"begin": port, "end": port}]);
    }
    let task = json!({
        "apiVersion": "strata.io/v1alpha1",
        "kind": "Task",
        "metadata": {"name": name, "labels": {"strata.io/agent": agent}},
        "spec": full,
    });
    server.kubectl_ok_stdin(&["apply", "-f", "-"], Some(&task.to_string()));
}

fn task_json(server: &Server, name: &str) -> Option<Value> {
    let out = server.kubectl(&["get", "task", name, "-o", "json"]);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).expect("task JSON"))
}

/// Waits until the task reaches `state`; returns its status.
fn wait_state(server: &Server, agent: &Agent, name: &str, state: &str) -> Value {
    let found = eventually(WAIT, || {
        let task = task_json(server, name)?;
        (task["status"]["state"] == state).then(|| task["status"].clone())
    });
    found.unwrap_or_else(|| {
        panic!(
            "task {name} did not reach {state}; it is {:#}\n--- agent log ---\n{}",
            task_json(server, name)
                .map(|t| t["status"].clone())
                .unwrap_or_default(),
            agent.log()
        )
    })
}

fn strata_logs(server: &Server, args: &[&str]) -> String {
    let out = Command::new(strata_bin())
        .arg("logs")
        .args(args)
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .output()
        .expect("strata logs runs");
    assert!(
        out.status.success(),
        "strata logs {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_process_task_runs_in_its_sandbox_with_its_own_environment() {
    let server = Server::start();
    let agent = Agent::start(&server, "a1", &agent_token(&server, "a1"), &[]);
    let port = agent.task_port;
    apply_task(
        &server,
        "a1",
        "blog",
        json!({
            "command": "echo env; env; echo oops >&2; sleep 1",
            "ports": [port],
            "env": {"GREETING": "hello"},
        }),
    );
    let status = wait_state(&server, &agent, "blog", "Finished");
    assert_eq!(status["exitCode"], 0);
    assert_eq!(status["message"], "Command exited with status 0");
    for stamp in ["stagedAt", "startedAt", "finishedAt"] {
        assert!(status[stamp].is_string(), "{stamp} is set: {status:#}");
    }
    assert_eq!(
        status["sandbox"]["url"],
        format!("http://127.0.0.1:{}", agent.port)
    );

    let stdout = strata_logs(&server, &["blog"]);
    for line in [
        "GREETING=hello".to_string(),
        format!("PORT0={port}"),
        format!("PORT={port}"),
        "MESOS_TASK_ID=blog".to_string(),
        "STRATA_AGENT=a1".to_string(),
        "STRATA_TASK_NAMESPACE=default".to_string(),
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "stdout has {line}:\n{stdout}"
        );
    }
    assert!(stdout.contains("MESOS_SANDBOX=/"), "{stdout}");
    assert!(
        !stdout.contains("STRATA_AGENT_ONLY"),
        "the agent's own environment does not leak into the task:\n{stdout}"
    );
    assert_eq!(strata_logs(&server, &["blog", "--stderr"]), "oops\n");
    let finalizers = task_json(&server, "blog").unwrap()["metadata"]["finalizers"].clone();
    assert!(
        finalizers.is_null() || finalizers == json!([]),
        "the agent released the task: {finalizers}"
    );

    // Following a task's output prints lines as they come, and ends with the task.
    apply_task(
        &server,
        "a1",
        "ticker",
        json!({"command": "for i in 1 2 3; do echo tick $i; sleep 0.5; done"}),
    );
    wait_state(&server, &agent, "ticker", "Running");
    let followed = strata_logs(&server, &["ticker", "-f"]);
    assert_eq!(followed, "tick 1\ntick 2\ntick 3\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docker_task_serves_http_turns_healthy_and_is_killed_within_its_grace_period() {
    let image = busybox_image();
    let server = Server::start();
    let agent = Agent::start(&server, "d1", &agent_token(&server, "d1"), &[]);
    let port = agent.task_port;
    apply_task(
        &server,
        "d1",
        "web",
        json!({
            "command": "echo serving; exec httpd -f -p 8080 -h /www",
            "ports": [port],
            "container": {"image": image, "portMappings": [{"containerPort": 8080, "name": "http"}]},
            "healthChecks": [{
                "protocol": "HTTP", "path": "/index.html", "portIndex": 0,
                "gracePeriodSeconds": 30, "intervalSeconds": 1, "timeoutSeconds": 1, "delaySeconds": 0
            }],
        }),
    );
    let healthy = eventually(WAIT, || {
        let status = task_json(&server, "web")?["status"].clone();
        assert!(status["finishedAt"].is_null(), "web ended: {status:#}");
        (status["healthy"] == true).then_some(status)
    });
    let status = healthy.unwrap_or_else(|| panic!("web never turned healthy:\n{}", agent.log()));
    assert_eq!(status["state"], "Running");
    let (code, body) = http_get(port, "/index.html", None);
    assert_eq!((code, body.as_str()), (200, "hello from busybox\n"));
    assert_eq!(agent.containers().len(), 1);
    assert_eq!(strata_logs(&server, &["web"]), "serving\n");

    // Delete = kill: watch the task pass through Killing to Killed before it goes away.
    let api: Api<Task> = Api::default_namespaced(kube_client(&server).await);
    let mut events =
        watcher::watcher(api, watcher::Config::default().fields("metadata.name=web")).boxed();
    let killed_at = Instant::now();
    server.kubectl_ok(&["delete", "task", "web", "--wait=false"]);
    let mut states = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.next()).await {
        match event {
            Ok(Event::Apply(t)) | Ok(Event::InitApply(t)) => {
                let state = t.status.and_then(|s| s.state).map(|s| format!("{s:?}"));
                if let Some(state) = state
                    && states.last() != Some(&state)
                {
                    states.push(state);
                }
            }
            Ok(Event::Delete(_)) => break,
            _ => {}
        }
    }
    let took = killed_at.elapsed();
    assert_eq!(
        states.last().map(String::as_str),
        Some("Killed"),
        "states seen: {states:?}\n{}",
        agent.log()
    );
    assert!(
        states.contains(&"Killing".to_string()),
        "states seen: {states:?}"
    );
    // httpd as pid 1 ignores SIGTERM: the kill escalates after the 2 s grace period.
    assert!(took < Duration::from_secs(12), "killing took {took:?}");
    let removed = eventually(Duration::from_secs(10), || {
        agent.containers().is_empty().then_some(())
    });
    assert!(
        removed.is_some(),
        "the container is removed after the task ended"
    );
}

#[test]
fn docker_failures_say_why() {
    let image = busybox_image();
    let server = Server::start();
    let agent = Agent::start(&server, "d2", &agent_token(&server, "d2"), &[]);
    apply_task(
        &server,
        "d2",
        "exit3",
        json!({"command": "echo bye; exit 3", "container": {"image": image}}),
    );
    apply_task(
        &server,
        "d2",
        "absent",
        json!({"command": "true", "container": {"image": "strata-test/absent:0"}}),
    );
    let failed = wait_state(&server, &agent, "exit3", "Failed");
    assert_eq!(failed["exitCode"], 3);
    assert_eq!(failed["message"], "Command exited with status 3");
    let missing = wait_state(&server, &agent, "absent", "Failed");
    let message = missing["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("\"strata-test/absent:0\""),
        "the message names the image: {message}"
    );
    let removed = eventually(Duration::from_secs(10), || {
        agent.containers().is_empty().then_some(())
    });
    assert!(
        removed.is_some(),
        "exited containers are removed: {:?}",
        agent.containers()
    );
}

#[test]
fn tasks_past_their_memory_limit_are_killed_and_say_so() {
    let image = busybox_image();
    let server = Server::start();
    let agent = Agent::start(&server, "m1", &agent_token(&server, "m1"), &[]);
    let isolation =
        server.kubectl_ok(&["get", "agent", "m1", "-o", "jsonpath={.status.isolation}"]);
    assert_eq!(
        isolation, "cgroups/cpu,cgroups/mem",
        "this machine lets the agent enforce limits"
    );
    // 256 MB in a 32 MB task: a process under the process executor, and a container.
    apply_task(
        &server,
        "m1",
        "hog",
        json!({
            "command": "python3 -c 'b = bytearray(256 * 1024 * 1024); import time; time.sleep(30)'",
            "resources": {"cpus": 0.1, "mem": 32},
        }),
    );
    apply_task(
        &server,
        "m1",
        "boxed-hog",
        json!({
            "command": "head -c 268435456 /dev/zero | tail",
            "resources": {"cpus": 0.1, "mem": 32},
            "container": {"image": image},
        }),
    );
    for name in ["hog", "boxed-hog"] {
        let status = wait_state(&server, &agent, name, "Failed");
        assert_eq!(
            status["reason"], "ContainerLimitationMemory",
            "{name}: {status:#}"
        );
        let message = status["message"].as_str().unwrap_or_default();
        assert!(message.contains("Memory limit"), "{name}: {message}");
    }
}

#[test]
fn a_restarted_agent_adopts_what_runs_and_reports_what_ended_while_it_was_away() {
    let image = busybox_image();
    let server = Server::start();
    let token = agent_token(&server, "r1");
    let mut agent = Agent::start(&server, "r1", &token, &[]);
    apply_task(&server, "r1", "long", json!({"command": "sleep 300"}));
    apply_task(
        &server,
        "r1",
        "boxed",
        json!({"command": "sleep 300", "container": {"image": image}}),
    );
    apply_task(&server, "r1", "short", json!({"command": "sleep 3"}));
    apply_task(&server, "r1", "doomed", json!({"command": "sleep 300"}));
    apply_task(&server, "r1", "forsaken", json!({"command": "sleep 300"}));
    let started: Vec<Value> = ["long", "boxed", "short", "doomed", "forsaken"]
        .iter()
        .map(|name| wait_state(&server, &agent, name, "Running")["startedAt"].clone())
        .collect();
    let started_sandbox = |name: &str| -> String {
        task_json(&server, name).unwrap()["status"]["sandbox"]["path"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let pids: BTreeSet<u32> = agent.task_pids().into_iter().collect();
    let (long_sandbox, doomed_sandbox) = (started_sandbox("long"), started_sandbox("doomed"));
    let forsaken_sandbox = started_sandbox("forsaken");
    let long_before = agent.sandbox_pids(&long_sandbox);
    let containers = agent.containers();
    assert_eq!(containers.len(), 1);

    agent.kill();
    server.kubectl_ok(&["delete", "task", "doomed", "--wait=false"]);
    // The master gives up on a task while the agent is away.
    write_status(
        &server,
        "forsaken",
        json!({"state": "Lost", "reason": "AgentRemoved"}),
    );
    std::thread::sleep(Duration::from_secs(4));
    agent.restart(&server);

    let short = wait_state(&server, &agent, "short", "Finished");
    assert_eq!(
        short["exitCode"], 0,
        "the end while the agent was away is reported"
    );
    let doomed_gone = eventually(WAIT, || {
        task_json(&server, "doomed").is_none().then_some(())
    });
    assert!(
        doomed_gone.is_some(),
        "the task deleted while the agent was away is killed:\n{}",
        agent.log()
    );
    for (name, before) in [("long", &started[0]), ("boxed", &started[1])] {
        let status = task_json(&server, name).unwrap()["status"].clone();
        assert_eq!(status["state"], "Running", "{name}: {status:#}");
        assert_eq!(&status["startedAt"], before, "{name} was not started again");
    }
    assert_eq!(
        agent.containers(),
        containers,
        "the same container runs, and only it"
    );
    let now: BTreeSet<u32> = agent.task_pids().into_iter().collect();
    assert!(
        !now.is_empty() && now.is_subset(&pids),
        "no process was launched again: before {pids:?}, now {now:?}"
    );
    let long = agent.sandbox_pids(&long_sandbox);
    assert!(!long.is_empty(), "the long task still runs");
    assert_eq!(
        long, long_before,
        "the long task's processes are the ones launched before the restart"
    );
    assert!(
        agent.sandbox_pids(&doomed_sandbox).is_empty(),
        "the deleted task was killed"
    );
    let forsaken = eventually(WAIT, || {
        let task = task_json(&server, "forsaken")?;
        let done = agent.sandbox_pids(&forsaken_sandbox).is_empty()
            && task["metadata"]["finalizers"].is_null();
        done.then_some(task)
    })
    .unwrap_or_else(|| panic!("the lost task is still held:\n{}", agent.log()));
    assert_eq!(
        forsaken["status"]["state"], "Lost",
        "the task the master gave up stays Lost, and is killed"
    );

    // The adopted tasks are still under control: deleting kills them.
    server.kubectl_ok(&["delete", "task", "long", "boxed", "--timeout=60s"]);
    assert!(
        agent.task_pids().is_empty(),
        "the adopted process was killed"
    );
    let removed = eventually(Duration::from_secs(10), || {
        agent.containers().is_empty().then_some(())
    });
    assert!(removed.is_some(), "the adopted container was removed");
}

#[test]
fn the_sandbox_service_serves_only_the_sandbox_and_only_to_those_who_may_read_the_task() {
    let server = Server::start();
    let agent = Agent::start(&server, "s1", &agent_token(&server, "s1"), &[]);
    apply_task(
        &server,
        "s1",
        "quiet",
        json!({"command": "echo secretless; sleep 300"}),
    );
    wait_state(&server, &agent, "quiet", "Running");
    let admin = server.admin_token();
    let base = "/tasks/default/quiet";

    let (code, body) = http_get(
        agent.port,
        &format!("{base}/read?path=stdout&offset=0&length=100"),
        Some(&admin),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"data": "secretless\n", "offset": 0})
    );
    let (_, size) = http_get(
        agent.port,
        &format!("{base}/read?path=stdout&offset=-1"),
        Some(&admin),
    );
    assert_eq!(
        serde_json::from_str::<Value>(&size).unwrap()["offset"],
        11,
        "offset -1 gives the size"
    );
    let (code, listing) = http_get(agent.port, &format!("{base}/browse?path=."), Some(&admin));
    assert_eq!(code, 200);
    assert!(
        listing.contains("/stdout\"") && listing.contains("/stderr\""),
        "{listing}"
    );

    for path in ["../../etc/passwd", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd"] {
        let (code, body) = http_get(
            agent.port,
            &format!("{base}/read?path={path}"),
            Some(&admin),
        );
        assert_eq!(code, 403, "{path}: {body}");
        assert!(body.contains("outside the task's sandbox"), "{body}");
        assert!(!body.contains("root:"), "{body}");
    }
    let (code, _) = http_get(agent.port, &format!("{base}/read?path=stdout"), None);
    assert_eq!(code, 401, "reading needs a token");
    let (code, body) = http_get(
        agent.port,
        &format!("{base}/read?path=stdout"),
        Some("not-a-token"),
    );
    assert_eq!(code, 401, "{body}");
    // Another agent may not read this agent's task in the store, so not its sandbox either.
    let other = agent_token(&server, "s2");
    let (code, body) = http_get(
        agent.port,
        &format!("{base}/read?path=stdout"),
        Some(&other),
    );
    assert_eq!(code, 403, "{body}");
}

#[test]
fn failing_health_checks_kill_the_task_and_oversized_tasks_are_dropped() {
    let server = Server::start();
    let agent = Agent::start(&server, "h1", &agent_token(&server, "h1"), &[]);
    // Nothing listens on the task's port: every TCP check fails.
    apply_task(
        &server,
        "h1",
        "deaf",
        json!({
            "command": "sleep 300",
            "ports": [agent.task_port],
            "healthChecks": [{
                "protocol": "TCP", "portIndex": 0, "gracePeriodSeconds": 0, "intervalSeconds": 1,
                "timeoutSeconds": 1, "maxConsecutiveFailures": 2, "delaySeconds": 0
            }],
        }),
    );
    let killed = wait_state(&server, &agent, "deaf", "Killed");
    assert_eq!(killed["reason"], "HealthCheckFailed", "{killed:#}");
    assert_eq!(killed["healthy"], false);
    let message = killed["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("2 consecutive failed health checks"),
        "{message}"
    );
    assert!(message.contains("TCP connect"), "{message}");
    assert!(
        agent.task_pids().is_empty(),
        "the unhealthy task's processes are gone"
    );

    // The agent offers 4096 MB: a task asking for more than is left is dropped, not run.
    apply_task(
        &server,
        "h1",
        "huge",
        json!({"command": "true", "resources": {"cpus": 0.1, "mem": 5000}}),
    );
    let dropped = wait_state(&server, &agent, "huge", "Dropped");
    assert_eq!(dropped["reason"], "ResourcesInsufficient");
    let message = dropped["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("mem 5000 requested, 4096 available"),
        "{message}"
    );
}

#[test]
fn a_task_runs_only_once_the_master_staged_it() {
    let server = Server::start();
    let agent = Agent::start(&server, "st1", &agent_token(&server, "st1"), &[]);
    create_task(
        &server,
        "st1",
        "waiting",
        json!({"command": "echo ran; sleep 300"}),
    );
    create_task(
        &server,
        "st1",
        "withdrawn",
        json!({"command": "echo ran; sleep 300"}),
    );
    std::thread::sleep(Duration::from_secs(3));
    for name in ["waiting", "withdrawn"] {
        let task = task_json(&server, name).unwrap();
        assert!(
            task["status"]["state"].is_null() && task["metadata"]["finalizers"].is_null(),
            "{name} is left alone until the master stages it: {task:#}\n{}",
            agent.log()
        );
    }
    assert!(agent.task_pids().is_empty(), "nothing runs before staging");
    let sandboxes = std::fs::read_dir(agent.work_dir().join("sandboxes")).unwrap();
    assert_eq!(sandboxes.count(), 0, "no sandbox before staging");
    // Withdrawn before it was staged: nothing to kill, and no finalizer holds it.
    server.kubectl_ok(&["delete", "task", "withdrawn", "--timeout=10s"]);

    let staged_at = stage_task(&server, "waiting");
    let running = wait_state(&server, &agent, "waiting", "Running");
    assert_eq!(
        running["stagedAt"], staged_at,
        "stagedAt is the master's: {running:#}"
    );
    let sandbox = running["sandbox"]["path"].as_str().unwrap();
    assert!(
        !agent.sandbox_pids(sandbox).is_empty(),
        "it runs once staged"
    );
    assert_eq!(strata_logs(&server, &["waiting"]), "ran\n");

    // As the master stages a burst of launches: the task's uid in the Agent's status.
    create_task(
        &server,
        "st1",
        "listed",
        json!({"command": "echo listed; sleep 300"}),
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(task_json(&server, "listed").unwrap()["status"]["state"].is_null());
    let uid = task_json(&server, "listed").unwrap()["metadata"]["uid"].clone();
    let staged = json!({"status": {"staged": [uid]}});
    server.kubectl_ok(&[
        "patch",
        "agent",
        "st1",
        "--subresource=status",
        "--type=merge",
        "-p",
        &staged.to_string(),
    ]);
    wait_state(&server, &agent, "listed", "Running");
    assert_eq!(strata_logs(&server, &["listed"]), "listed\n");
}

#[test]
fn a_running_task_the_master_declared_lost_is_killed_and_stays_lost() {
    let server = Server::start();
    let agent = Agent::start(&server, "l1", &agent_token(&server, "l1"), &[]);
    apply_task(
        &server,
        "l1",
        "stray",
        json!({"command": "echo ran; sleep 300"}),
    );
    let running = wait_state(&server, &agent, "stray", "Running");
    let sandbox = running["sandbox"]["path"].as_str().unwrap().to_string();
    assert!(!agent.sandbox_pids(&sandbox).is_empty());

    // The master gave the task up while the agent was unreachable; its framework moved on.
    let lost = json!({
        "state": "Lost",
        "reason": "AgentRemoved",
        "message": "agent l1 stopped heartbeating",
        "finishedAt": strata_agent::report::now(),
    });
    write_status(&server, "stray", lost.clone());
    let killed = eventually(Duration::from_secs(20), || {
        agent.sandbox_pids(&sandbox).is_empty().then_some(())
    });
    assert!(
        killed.is_some(),
        "the lost task's processes are killed:\n{}",
        agent.log()
    );
    // Done with it, the agent releases its finalizer; the state is still the master's.
    let released = eventually(WAIT, || {
        let task = task_json(&server, "stray")?;
        task["metadata"]["finalizers"].is_null().then_some(task)
    })
    .unwrap_or_else(|| panic!("the agent keeps its finalizer:\n{}", agent.log()));
    let status = &released["status"];
    for field in ["state", "reason", "message", "finishedAt"] {
        assert_eq!(status[field], lost[field], "{field}: {status:#}");
    }
    assert!(
        agent
            .log()
            .contains("the task was ended in the store while it ran here"),
        "{}",
        agent.log()
    );
    let stdout = std::fs::read_to_string(std::path::Path::new(&sandbox).join("stdout")).unwrap();
    assert_eq!(stdout, "ran\n", "nothing ran twice");
}

#[test]
fn a_running_task_marked_unreachable_is_reported_running_again() {
    let server = Server::start();
    let agent = Agent::start(&server, "u1", &agent_token(&server, "u1"), &[]);
    apply_task(
        &server,
        "u1",
        "steady",
        json!({
            "command": "echo ran; sleep 300",
            "healthChecks": [{
                "protocol": "COMMAND", "command": {"value": "true"}, "gracePeriodSeconds": 0,
                "intervalSeconds": 1, "timeoutSeconds": 1, "delaySeconds": 0
            }],
        }),
    );
    let healthy = eventually(WAIT, || {
        let status = task_json(&server, "steady")?["status"].clone();
        (status["state"] == "Running" && status["healthy"] == true).then_some(status)
    })
    .unwrap_or_else(|| panic!("steady never turned healthy:\n{}", agent.log()));

    // The master missed the agent's heartbeats; it knows nothing of the task's health.
    write_status(
        &server,
        "steady",
        json!({
            "state": "Unreachable",
            "reason": "AgentUnreachable",
            "message": "agent u1 missed its heartbeats",
            "healthy": null,
        }),
    );
    let back = wait_state(&server, &agent, "steady", "Running");
    assert_eq!(back["reason"], "AgentReregistered", "{back:#}");
    assert_eq!(
        back["healthy"], true,
        "health as the agent knows it: {back:#}"
    );
    assert_eq!(back["startedAt"], healthy["startedAt"], "not started again");
    assert_eq!(
        strata_logs(&server, &["steady"]),
        "ran\n",
        "nothing ran twice"
    );
}

#[test]
fn sandboxes_of_finished_tasks_are_collected_after_the_delay() {
    let server = Server::start();
    let agent = Agent::start(
        &server,
        "g1",
        &agent_token(&server, "g1"),
        &["--sandbox-gc-delay", "2s"],
    );
    apply_task(&server, "g1", "brief", json!({"command": "echo brief"}));
    apply_task(
        &server,
        "g1",
        "lasting",
        json!({"command": "echo lasting; sleep 300"}),
    );
    let brief = wait_state(&server, &agent, "brief", "Finished");
    let lasting = wait_state(&server, &agent, "lasting", "Running");
    let (brief_dir, lasting_dir) = (
        std::path::PathBuf::from(brief["sandbox"]["path"].as_str().unwrap()),
        std::path::PathBuf::from(lasting["sandbox"]["path"].as_str().unwrap()),
    );
    assert_eq!(
        strata_logs(&server, &["brief"]),
        "brief\n",
        "readable until collected"
    );
    let collected = eventually(Duration::from_secs(20), || {
        (!brief_dir.exists()).then_some(())
    });
    assert!(
        collected.is_some(),
        "the finished task's sandbox is removed after the delay"
    );
    assert!(lasting_dir.exists(), "a running task's sandbox stays");

    let out = Command::new(strata_bin())
        .args(["logs", "brief", "--kubeconfig"])
        .arg(server.kubeconfig())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("has no sandbox on agent \"g1\""),
        "{stderr}"
    );
}

#[test]
fn simulated_agents_register_heartbeat_and_pass_tasks_through_their_states() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let _simulated = simulated_agents(
        &server,
        "sim",
        3,
        &["--simulated-start", "200ms", "--simulated-run", "1s"],
        work.path(),
    );
    let registered = eventually(WAIT, || {
        let names = server.kubectl_ok(&["get", "agents", "-o", "name"]);
        (names.lines().count() == 3).then_some(names)
    });
    assert_eq!(
        registered.expect("3 simulated agents register"),
        "agent.strata.io/sim-0\nagent.strata.io/sim-1\nagent.strata.io/sim-2\n"
    );
    let leases = server.kubectl_ok(&["get", "leases", "-n", "strata-node-lease", "-o", "name"]);
    assert_eq!(leases.lines().count(), 3, "{leases}");
    let containerizers = server.kubectl_ok(&[
        "get",
        "agent",
        "sim-1",
        "-o",
        "jsonpath={.status.containerizers}",
    ]);
    assert_eq!(containerizers, r#"["simulated"]"#);

    apply_task(
        &server,
        "sim-1",
        "pretend",
        json!({"command": "this never runs"}),
    );
    let seen = eventually(WAIT, || {
        let status = task_json(&server, "pretend")?["status"].clone();
        (status["state"] == "Finished").then_some(status)
    })
    .expect("the simulated task finishes");
    assert!(
        seen["startedAt"].is_string() && seen["finishedAt"].is_string(),
        "{seen:#}"
    );
    assert_eq!(seen["exitCode"], 0);
}
