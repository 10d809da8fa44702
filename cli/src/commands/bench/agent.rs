//! `strata bench agent`: how fast a real agent launches tasks, measured from the Task's creation
//! to Running as seen in the store (process tasks, Docker tasks beside a plain `docker run` of
//! the same image), and what hundreds of simulated agents cost in one process.
//!
//! The agent runs only the tasks the master staged. No master runs here: the benchmark plays
//! its part, writing each task's `Staging` status right after creating it, so the measure
//! includes that second write (create, stage, then the agent's Starting and Running).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;
use strata_api::agent::Agent;
use strata_api::task::{Task, TaskStatus};

use super::{
    Running, agent_token, cores, percentile, rss_kib, spawn_agent, spawn_simulated, start_server,
    wait_for_agents,
};

#[derive(clap::Args)]
pub struct AgentArgs {
    /// Process tasks launched one at a time (and as many again all at once).
    #[arg(long, default_value_t = 100)]
    tasks: usize,
    /// Docker tasks launched one at a time, and plain `docker run`s to compare with.
    #[arg(long, default_value_t = 20)]
    docker_tasks: usize,
    /// Simulated agents run in one process.
    #[arg(long, default_value_t = 500)]
    simulated_agents: usize,
    /// Seconds during which the simulated agents' heartbeats are counted.
    #[arg(long, default_value_t = 30)]
    heartbeat_seconds: u64,
}

const NAMESPACE: &str = "default";
const AGENT: &str = "bench-agent";

fn task(name: &str, container: Option<&str>) -> anyhow::Result<Task> {
    let mut spec = json!({
        "framework": "bench",
        "agent": AGENT,
        "resources": {"cpus": 0.01, "mem": 16},
        "command": "sleep 600",
        "killGracePeriodSeconds": 1,
    });
    if let Some(image) = container {
        spec["container"] = json!({ "image": image });
    }
    Ok(serde_json::from_value(json!({
        "apiVersion": "strata.io/v1alpha1",
        "kind": "Task",
        "metadata": {"name": name, "labels": {"strata.io/agent": AGENT}},
        "spec": spec,
    }))?)
}

/// Creates task `name` as a framework does, then stages it as the master does.
async fn launch(api: &Api<Task>, name: &str, container: Option<&str>) -> anyhow::Result<()> {
    api.create(&PostParams::default(), &task(name, container)?)
        .await?;
    let staged = json!({"status": TaskStatus::staged(strata_agent::report::now())});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&staged))
        .await?;
    Ok(())
}

/// Creates tasks `prefix-0..n` one at a time, each once the previous one runs; returns the
/// latencies from create (and stage) to Running, sorted.
async fn one_at_a_time(
    api: &Api<Task>,
    running: &Running,
    prefix: &str,
    n: usize,
    container: Option<&str>,
) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("{prefix}-{i}");
        let t0 = Instant::now();
        launch(api, &name, container).await?;
        let at = tokio::time::timeout(Duration::from_secs(60), running.wait(&name))
            .await
            .with_context(|| format!("task {name} did not reach Running within 60 s"))?;
        latencies.push(at - t0);
    }
    latencies.sort();
    Ok(latencies)
}

/// Creates tasks `prefix-0..n` all at once; returns the sorted latencies and the time until
/// the last one ran.
async fn all_at_once(
    api: &Api<Task>,
    running: &Running,
    prefix: &str,
    n: usize,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let t0 = Instant::now();
    let creates = (0..n).map(|i| {
        let name = format!("{prefix}-{i}");
        async move {
            let created = Instant::now();
            launch(api, &name, None).await?;
            let at = tokio::time::timeout(Duration::from_secs(120), running.wait(&name))
                .await
                .with_context(|| format!("task {name} did not reach Running within 120 s"))?;
            Ok::<_, anyhow::Error>(at - created)
        }
    });
    let mut latencies = futures::future::try_join_all(creates).await?;
    let total = t0.elapsed();
    latencies.sort();
    Ok((latencies, total))
}

/// Deletes every task and waits until the agent has killed them all.
async fn delete_all(api: &Api<Task>) -> anyhow::Result<()> {
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !api.list(&ListParams::default()).await?.items.is_empty() {
        if Instant::now() > deadline {
            bail!("tasks were not killed within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Plain `docker run -d` of the image, one at a time: sorted wall times of the command.
fn docker_runs(image: &str, n: usize) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        let out = Command::new("docker")
            .args([
                "run",
                "-d",
                "--memory",
                "16m",
                image,
                "/bin/sh",
                "-c",
                "sleep 600",
            ])
            .output()
            .context("running docker")?;
        times.push(t0.elapsed());
        if !out.status.success() {
            bail!(
                "docker run failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    Command::new("docker")
        .args(["rm", "-f"])
        .args(&ids)
        .stdout(Stdio::null())
        .status()?;
    times.sort();
    Ok(times)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub async fn run(a: AgentArgs) -> anyhow::Result<()> {
    let (server, client) = start_server().await?;
    let token = agent_token(&server, AGENT)?;
    let work = tempfile::tempdir()?;
    let work_dir = work.path().join("work").display().to_string();
    let agent = spawn_agent(&server, &token, &["--name", AGENT, "--work-dir", &work_dir])?;
    let agents: Api<Agent> = Api::all(client.clone());
    wait_for_agents(&agents, 1).await?;
    let tasks: Api<Task> = Api::namespaced(client.clone(), NAMESPACE);
    let running = Running::default();
    let watching = running.watch(tasks.clone(), |t| t.metadata.name.clone());

    eprintln!("launching {} process tasks one at a time...", a.tasks);
    let sequential = one_at_a_time(&tasks, &running, "proc", a.tasks, None).await?;
    eprintln!("launching {} process tasks at once...", a.tasks);
    let (burst, burst_total) = all_at_once(&tasks, &running, "burst", a.tasks).await?;
    let agent_rss = rss_kib(agent.0.id())?;
    eprintln!("killing them...");
    delete_all(&tasks).await?;

    let image = strata_agent::fixtures::busybox_image()?;
    eprintln!(
        "launching {} docker tasks one at a time, then as many plain `docker run`s...",
        a.docker_tasks
    );
    let docker = one_at_a_time(&tasks, &running, "docker", a.docker_tasks, Some(image)).await?;
    delete_all(&tasks).await?;
    let plain = docker_runs(image, a.docker_tasks)?;
    watching.abort();
    drop(agent);

    eprintln!(
        "starting {} simulated agents in one process...",
        a.simulated_agents
    );
    let simulated = spawn_simulated(&server, work.path(), a.simulated_agents, &[])?;
    wait_for_agents(&agents, 1 + a.simulated_agents).await?;
    // Let the first, synchronized renewals spread out with their jitter before counting.
    tokio::time::sleep(Duration::from_secs(12)).await;
    eprintln!("counting heartbeats for {} s...", a.heartbeat_seconds);
    let renewals =
        count_lease_writes(client.clone(), Duration::from_secs(a.heartbeat_seconds)).await?;
    let sim_rss = rss_kib(simulated.0.id())?;
    let server_rss = rss_kib(server.child.id())?;
    let rate = renewals as f64 / a.heartbeat_seconds as f64;
    let ratio = percentile(&docker, 0.5).as_secs_f64() / percentile(&plain, 0.5).as_secs_f64();

    println!("strata bench agent (this machine: {} cores)", cores());
    println!(
        "process task, created (and staged) -> Running in the store, {} one at a time: p50 {}, p99 {}   (Mesos 1.7 agent: ~30 ms per container at 1,000 containers)",
        sequential.len(),
        ms(percentile(&sequential, 0.5)),
        ms(percentile(&sequential, 0.99))
    );
    println!(
        "process task, {} created at once: p50 {}, p99 {}, all Running after {}  (agent RSS {} MiB with them running)",
        burst.len(),
        ms(percentile(&burst, 0.5)),
        ms(percentile(&burst, 0.99)),
        ms(burst_total),
        agent_rss / 1024
    );
    println!(
        "docker task, created (and staged) -> Running, {} one at a time: p50 {}, p99 {}; plain `docker run -d`: p50 {}, p99 {}; ratio {:.2}   (aim: at most 1.1)",
        docker.len(),
        ms(percentile(&docker, 0.5)),
        ms(percentile(&docker, 0.99)),
        ms(percentile(&plain, 0.5)),
        ms(percentile(&plain, 0.99)),
        ratio
    );
    println!(
        "{} simulated agents in one process: RSS {} MiB ({} KiB per agent); heartbeat writes {:.1}/s (one per agent per 10 s = {:.1}/s); store RSS {} MiB",
        a.simulated_agents,
        sim_rss / 1024,
        sim_rss / a.simulated_agents.max(1) as u64,
        rate,
        a.simulated_agents as f64 / 10.0,
        server_rss / 1024
    );
    Ok(())
}

/// Counts Lease modifications in the heartbeat namespace during `window`.
async fn count_lease_writes(client: kube::Client, window: Duration) -> anyhow::Result<usize> {
    use k8s_openapi::api::coordination::v1::Lease;
    let api: Api<Lease> = Api::namespaced(client, strata_agent::registration::LEASE_NAMESPACE);
    let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
    // Skip the initial list.
    while let Some(event) = events.next().await {
        if let Event::InitDone = event? {
            break;
        }
    }
    let deadline = tokio::time::Instant::now() + window;
    let mut count = 0;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.next()).await {
        if let Event::Apply(_) = event? {
            count += 1;
        }
    }
    Ok(count)
}
