//! The master end to end: `strata controllers` (the allocator) against a real store, with
//! simulated agents and frameworks written against the CRDs as a third party would.

use std::time::Duration;

use serde_json::{Value, json};
use strata_e2e::cluster::Cluster;
use strata_e2e::framework::{Behaviour, run_framework};
use strata_e2e::{eventually, kube_client};

const WAIT: Duration = Duration::from_secs(60);

fn behaviour(task: &str, max_tasks: usize) -> Behaviour {
    Behaviour {
        task: Some(task.to_string()),
        refuse_seconds: 1.0,
        max_tasks,
        hold: false,
    }
}

/// A framework that leaves its offers unanswered.
fn hold() -> Behaviour {
    Behaviour {
        task: None,
        refuse_seconds: 0.0,
        max_tasks: 0,
        hold: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frameworks_with_different_dominant_resources_converge_to_equal_shares() {
    // 8 agents of 4 cpus and 8 GB. A memory-heavy framework fits 8 tasks on an agent (all its
    // memory), a cpu-heavy one 4 (all its cpus): DRF gives each 4 agents, a share of 0.5.
    // What neither framework can use (an agent's memory without cpus, or cpus without memory)
    // is not offered: held in a leftover offer, it would count in a framework's share and turn
    // the next agent away from it, which makes the outcome depend on the order agents appear.
    let mut cluster =
        Cluster::without_agents(&["--min-allocatable-resources", "cpus:0.25;mem:256"]);
    let client = kube_client(&cluster.server).await;
    let (mem, mem_seen) = run_framework(
        client.clone(),
        "default",
        "mem-heavy",
        json!({}),
        behaviour("cpus:0.25;mem:1024", 1000),
    )
    .await;
    let (cpu, cpu_seen) = run_framework(
        client,
        "default",
        "cpu-heavy",
        json!({}),
        behaviour("cpus:1;mem:256", 1000),
    )
    .await;
    cluster.wait_active(&["mem-heavy", "cpu-heavy"]);
    cluster.add_agents("sim", 8, "cpus:4;mem:8192;ports:[31000-31100]");
    let converged = eventually(WAIT, || {
        let (m, c) = (
            mem_seen.lock().unwrap().tasks,
            cpu_seen.lock().unwrap().tasks,
        );
        (m + c >= 48).then_some((m, c))
    });
    let (m, c) = converged.unwrap_or_else(|| panic!("no convergence\n{}", cluster.log()));
    // Dominant shares from the tasks alone: memory for one, cpus for the other.
    let (mem_share, cpu_share) = (m as f64 * 1024.0 / 65536.0, c as f64 / 32.0);
    assert!(
        (mem_share - cpu_share).abs() <= 0.13,
        "{m} memory-heavy and {c} cpu-heavy tasks: shares {mem_share} and {cpu_share}"
    );
    // The frameworks' status says the same: what they hold minus what is on offer is what
    // their tasks use (leftover offers come and go as they are declined).
    let used = |name: &str| {
        let status = &cluster.json(&["get", "framework", name])["status"];
        let of = |field: &str, r: &str| status[field][r].as_f64().unwrap_or(0.0);
        (
            of("allocated", "cpus") - of("offered", "cpus"),
            of("allocated", "mem") - of("offered", "mem"),
        )
    };
    let agreed = eventually(WAIT, || {
        let (m, c) = (
            mem_seen.lock().unwrap().tasks as f64,
            cpu_seen.lock().unwrap().tasks as f64,
        );
        let (mem_used, cpu_used) = (used("mem-heavy"), used("cpu-heavy"));
        let expected = ((m * 0.25, m * 1024.0), (c, c * 256.0));
        let close = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 1e-6 && a.1 == b.1;
        (close(mem_used, expected.0) && close(cpu_used, expected.1)).then_some(())
    });
    assert!(
        agreed.is_some(),
        "framework status agrees with the tasks: {:?} {:?}",
        used("mem-heavy"),
        used("cpu-heavy")
    );
    let table = cluster.server.kubectl_ok(&["get", "frameworks"]);
    assert!(
        table.contains("DOMINANT SHARE") && table.contains("CPUS") && table.contains("mem-heavy"),
        "{table}"
    );
    // Prometheus metrics count the passes, the offers and the tasks by state.
    let metrics = cluster.metrics();
    let value = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    let tasks = (mem_seen.lock().unwrap().tasks + cpu_seen.lock().unwrap().tasks) as f64;
    assert_eq!(value("strata_tasks{state=\"Running\"}"), tasks, "{metrics}");
    // Every agent was offered and taken at least once.
    assert!(value("strata_allocator_offers_total{outcome=\"made\"}") >= 8.0);
    assert!(value("strata_allocator_offers_total{outcome=\"accepted\"}") >= 8.0);
    assert!(value("strata_allocator_pass_duration_seconds_count") >= 1.0);
    let agents = cluster.server.kubectl_ok(&["get", "agents", "-o", "wide"]);
    assert!(
        agents.contains("FREE CPUS") && agents.contains("ALLOC MEM"),
        "{agents}"
    );
    mem.abort();
    cpu.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_shift_the_shares_and_quota_limits_hold() {
    // 12 agents of 4 cpus; every task takes 1 cpu. Weight 2 against weight 1 gets twice the
    // agents; a third framework's role is capped at 3 cpus.
    // Leftovers too small for a task (memory without cpus) are not offered (see above).
    let mut cluster = Cluster::without_agents(&["--min-allocatable-resources", "cpus:1;mem:256"]);
    cluster.server.kubectl_ok_stdin(
        &["apply", "-f", "-"],
        Some(
            r#"{"apiVersion": "strata.io/v1alpha1", "kind": "ResourceRole",
                "metadata": {"name": "capped"}, "spec": {"quota": {"limits": {"cpus": 3}}}}"#,
        ),
    );
    let client = kube_client(&cluster.server).await;
    let mut handles = Vec::new();
    let mut seen = Vec::new();
    for (name, spec) in [
        ("heavy", json!({"weight": 2})),
        ("light", json!({"weight": 1})),
        ("capped", json!({"role": "capped"})),
    ] {
        let (h, s) = run_framework(
            client.clone(),
            "default",
            name,
            spec,
            behaviour("cpus:1;mem:256", 1000),
        )
        .await;
        handles.push(h);
        seen.push(s);
    }
    cluster.wait_active(&["heavy", "light", "capped"]);
    cluster.add_agents("sim", 12, "cpus:4;mem:4096;ports:[31000-31100]");
    let tasks = || -> Vec<usize> { seen.iter().map(|s| s.lock().unwrap().tasks).collect() };
    let mut most_capped = 0;
    let all = eventually(WAIT, || {
        let allocated =
            cluster.json(&["get", "framework", "capped"])["status"]["allocated"]["cpus"]
                .as_f64()
                .unwrap_or(0.0);
        most_capped = most_capped.max((allocated * 1000.0) as u64);
        let t = tasks();
        (t.iter().sum::<usize>() >= 48).then_some(t)
    })
    .unwrap_or_else(|| {
        panic!(
            "not all 48 cpus were used: {:?}\n{}",
            tasks(),
            cluster.log()
        )
    });
    let (heavy, light, capped) = (all[0], all[1], all[2]);
    assert_eq!(capped, 3, "the capped role got its limit: {all:?}");
    assert!(
        most_capped <= 3000,
        "the capped role held {most_capped} milli-cpus"
    );
    let ratio = heavy as f64 / light as f64;
    assert!(
        (1.5..=2.6).contains(&ratio),
        "weight 2 against 1: {heavy} and {light} tasks\n{}\n{}\n{}",
        cluster
            .server
            .kubectl_ok(&["get", "frameworks", "-o", "wide"]),
        cluster
            .server
            .kubectl_ok(&["get", "tasks", "-o", "wide", "--sort-by=.spec.agent"]),
        cluster.log()
    );
    let role = cluster.json(&["get", "resourcerole", "capped"]);
    assert_eq!(role["spec"]["quota"]["limits"]["cpus"], 3);
    // The role's status says what it holds (kubectl's Dominant Share column reads it).
    let held = eventually(WAIT, || {
        let status = cluster.json(&["get", "resourcerole", "capped"])["status"].clone();
        (status["allocated"]["cpus"] == 3).then_some(status)
    });
    assert!(
        held.is_some(),
        "{}",
        cluster.json(&["get", "resourcerole", "capped"])
    );
    for h in handles {
        h.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_offer_goes_to_others_and_not_back_within_refuse_seconds() {
    let cluster = Cluster::start(1, "cpus:2;mem:2048", &[]);
    let client = kube_client(&cluster.server).await;
    let decline = |refuse_seconds| Behaviour {
        task: None,
        refuse_seconds,
        max_tasks: 0,
        hold: false,
    };
    let (a, picky) =
        run_framework(client.clone(), "default", "picky", json!({}), decline(30.0)).await;
    let (b, other) = run_framework(client, "default", "other", json!({}), decline(0.5)).await;
    std::thread::sleep(Duration::from_secs(6));
    let (p, o) = (
        picky.lock().unwrap().offers.len(),
        other.lock().unwrap().offers.len(),
    );
    assert_eq!(p, 1, "picky refused for 30 s and was offered {p} times");
    assert!(
        o >= 3,
        "the other framework, refusing for 0.5 s, got only {o} offers"
    );
    a.abort();
    b.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_expire_and_are_rescinded_when_their_agent_stops() {
    let mut cluster = Cluster::start(
        1,
        "cpus:2;mem:2048",
        &["--offer-timeout", "2s", "--agent-unreachable-timeout", "3s"],
    );
    // A framework that never answers its offers.
    let client = kube_client(&cluster.server).await;
    let (idle, _) = run_framework(client, "default", "idle", json!({}), hold()).await;
    let phases = |cluster: &Cluster| -> Vec<(String, String)> {
        cluster.json(&["get", "offers"])["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["metadata"]["name"].as_str().unwrap().to_string(),
                    o["status"]["phase"]
                        .as_str()
                        .unwrap_or("Pending")
                        .to_string(),
                )
            })
            .collect()
    };
    let expired = eventually(WAIT, || {
        let p = phases(&cluster);
        let expired = p.iter().any(|(_, ph)| ph == "Expired");
        let pending = p.iter().filter(|(_, ph)| ph == "Pending").count();
        (expired && pending == 1).then_some(p)
    });
    assert!(
        expired.is_some(),
        "an offer expired and its resources were offered again: {:?}\n{}",
        phases(&cluster),
        cluster.log()
    );
    let message = cluster.json(&["get", "offers"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["status"]["phase"] == "Expired")
        .map(|o| o["status"]["message"].clone());
    assert_eq!(message, Some(json!("expired unused")));

    // The agent stops heartbeating: its pending offer is rescinded, and no new one is made.
    cluster.agents[0].kill();
    let rescinded = eventually(WAIT, || {
        let p = phases(&cluster);
        let rescinded = p.iter().any(|(_, ph)| ph == "Rescinded");
        let pending = p.iter().filter(|(_, ph)| ph == "Pending").count();
        (rescinded && pending == 0).then_some(())
    });
    assert!(
        rescinded.is_some(),
        "{:?}\n{}",
        phases(&cluster),
        cluster.log()
    );
    let offer = cluster.json(&["get", "offers"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["status"]["phase"] == "Rescinded")
        .cloned()
        .unwrap();
    assert_eq!(
        offer["status"]["message"],
        "rescinded: its agent stopped heartbeating"
    );
    idle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launches_that_do_not_fit_their_offer_or_are_not_theirs_end_with_the_reason() {
    let cluster = Cluster::start(1, "cpus:2;mem:2048", &[]);
    let client = kube_client(&cluster.server).await;
    // "holder" keeps the offer it gets; the test launches against it.
    let (h, seen) = run_framework(client, "default", "holder", json!({}), hold()).await;
    let offer = eventually(WAIT, || seen.lock().unwrap().offers.first().cloned())
        .expect("holder is offered the agent")
        .0;
    h.abort();
    let launch = |name: &str, spec: Value| {
        let task = json!({
            "apiVersion": "strata.io/v1alpha1", "kind": "Task",
            "metadata": {"name": name, "labels": {"strata.io/agent": "sim-0"}},
            "spec": spec,
        });
        cluster
            .server
            .kubectl_ok_stdin(&["apply", "-f", "-"], Some(&task.to_string()));
    };
    let ended = |name: &str| -> Value {
        eventually(WAIT, || {
            let status = cluster.json(&["get", "task", name])["status"].clone();
            status["state"].is_string().then_some(status)
        })
        .unwrap_or_else(|| panic!("task {name} was not judged\n{}", cluster.log()))
    };
    launch(
        "no-offer",
        json!({"framework": "holder", "agent": "sim-0", "command": "true"}),
    );
    launch(
        "too-big",
        json!({"framework": "holder", "agent": "sim-0", "offer": offer, "command": "true",
               "resources": {"cpus": 3}}),
    );
    launch(
        "not-mine",
        json!({"framework": "thief", "agent": "sim-0", "offer": offer, "command": "true"}),
    );
    launch(
        "no-such-offer",
        json!({"framework": "holder", "agent": "sim-0", "offer": "sim-0-gone", "command": "true"}),
    );
    let s = ended("no-offer");
    assert_eq!(
        (s["state"].as_str(), s["reason"].as_str()),
        (Some("Error"), Some("TaskInvalid"))
    );
    assert!(s["message"].as_str().unwrap().contains("spec.offer"), "{s}");
    let s = ended("too-big");
    assert_eq!(s["state"], "Error");
    assert!(s["message"].as_str().unwrap().contains("cpus"), "{s}");
    let s = ended("not-mine");
    assert_eq!(s["state"], "Error");
    assert!(s["message"].as_str().unwrap().contains("holder"), "{s}");
    let s = ended("no-such-offer");
    assert_eq!(s["state"], "Dropped");

    // A task that fits is staged, and the simulated agent runs it.
    launch(
        "fits",
        json!({"framework": "holder", "agent": "sim-0", "offer": offer, "command": "true",
               "resources": {"cpus": 1, "mem": 64}}),
    );
    let running = eventually(WAIT, || {
        let s = cluster.json(&["get", "task", "fits"])["status"].clone();
        (s["state"] == "Running").then_some(s)
    });
    assert!(running.is_some(), "{}", cluster.log());
}

#[test]
fn zero_intervals_are_refused_with_what_to_write() {
    for flag in [
        "--allocation-interval",
        "--agent-unreachable-timeout",
        "--agent-reregister-timeout",
    ] {
        let out = std::process::Command::new(strata_e2e::strata_bin())
            .args(["controllers", flag, "0s"])
            .output()
            .expect("strata runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag} 0s is refused");
        assert!(
            stderr.contains(&format!("{flag} must be longer than 0s")),
            "{stderr}"
        );
    }
}
