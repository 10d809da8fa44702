//! `strata bench master`: tasks launched and Running per second, end to end through the store —
//! a real `strata server`, `strata controllers` (the allocator staging every launch) and
//! simulated agents (`strata agent --simulate`), each its own process, with a framework in
//! this one taking the offers as fast as it can.
//!
//! With `--in-process` they all run in this process instead, their clients reaching the store
//! without TLS or sockets, as `strata up` will.
//!
//! Every task costs the store what it costs in production: the framework's create (with the
//! agent's finalizer, as Marathon and `strata execute` make them) and the offer's accept, the
//! allocator's staging write, the agent's Running (its launch is immediate, so no Starting).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use strata_api::agent::Agent;
use strata_api::lean::Lean;
use strata_api::offer::Offer;
use strata_api::resources::Resources;
use strata_api::task::{AGENT_FINALIZER, Task, TaskState};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use strata_agent::daemon::{self, SimulatedConfig};
use strata_agent::executor::simulated::Timings;
use strata_agent::registration::RENEW_INTERVAL;
use strata_controllers::allocator::{self, controller::Settings};
use strata_controllers::lifecycle;
use strata_controllers::metrics::Metrics;
use strata_controllers::watches;
use strata_store::server::{ApiServer, Config};

use super::{
    Process, ServerProcess, cores, cpu_time, rss_kib, spawn_controllers, spawn_simulated,
    start_server, wait_for_agents,
};
use strata_agent::connect::Connect;

#[derive(clap::Args)]
pub struct MasterArgs {
    /// Simulated agents (in one `strata agent --simulate` process).
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Tasks to launch.
    #[arg(long, default_value_t = 10_000)]
    tasks: usize,
    /// At most this many tasks on each offer, so that they spread over the agents.
    #[arg(long, default_value_t = 10)]
    tasks_per_offer: usize,
    /// Run the store, controllers and agents in this process, their clients reaching the store
    /// in-process (as `strata up` does), instead of as separate processes over HTTPS.
    #[arg(long)]
    in_process: bool,
}

const NAMESPACE: &str = "default";
const FRAMEWORK: &str = "bench-launcher";
const TASK: &str = "cpus:0.1;mem:64";
/// What each simulated agent offers.
const AGENT_RESOURCES: &str = "cpus:8;mem:32768;ports:[31000-32000]";
/// Writes the framework keeps in flight at once.
const IN_FLIGHT: usize = 64;

/// The cluster under test, kept alive while it is measured.
enum Cluster {
    /// Server, controllers and agents, each its own process, talking over HTTPS. (Dropped in
    /// this order: the server last, so that its clients do not complain of it going away.)
    Processes {
        agents: Process,
        controllers: Process,
        server: ServerProcess,
        _work: tempfile::TempDir,
    },
    /// All in this process, its clients reaching the store without TLS or sockets. The
    /// controllers and agents stop (are aborted) when it is dropped, before the store goes,
    /// so that they do not complain of it going away.
    InProcess {
        _running: JoinSet<()>,
        _dir: tempfile::TempDir,
    },
}

impl Cluster {
    fn describe(&self) -> &'static str {
        match self {
            Cluster::Processes { .. } => {
                "server, controllers and agents each their own process, over HTTPS"
            }
            Cluster::InProcess { .. } => {
                "server, controllers and agents in one process, their clients in-process"
            }
        }
    }

    /// CPU time used so far by each process of the cluster and this one (the framework).
    fn cpu(&self) -> anyhow::Result<Vec<(&'static str, Duration)>> {
        let this = cpu_time(std::process::id())?;
        Ok(match self {
            Cluster::Processes {
                server,
                controllers,
                agents,
                ..
            } => vec![
                ("store", cpu_time(server.child.id())?),
                ("controllers", cpu_time(controllers.0.id())?),
                ("simulated agents", cpu_time(agents.0.id())?),
                ("framework", this),
            ],
            Cluster::InProcess { .. } => vec![("the one process", this)],
        })
    }

    fn memory(&self, agents: usize) -> anyhow::Result<String> {
        Ok(match self {
            Cluster::Processes {
                server,
                controllers,
                agents: simulated,
                ..
            } => format!(
                "store {} MiB, controllers {} MiB, {agents} simulated agents {} MiB",
                rss_kib(server.child.id())? / 1024,
                rss_kib(controllers.0.id())? / 1024,
                rss_kib(simulated.0.id())? / 1024
            ),
            Cluster::InProcess { .. } => format!(
                "the one process (store, controllers, {agents} simulated agents, framework) {} MiB",
                rss_kib(std::process::id())? / 1024
            ),
        })
    }
}

pub async fn run(a: MasterArgs) -> anyhow::Result<()> {
    eprintln!(
        "starting a store, strata controllers and {} simulated agents...",
        a.agents
    );
    let (cluster, client) = if a.in_process {
        in_process(a.agents).await?
    } else {
        processes(a.agents).await?
    };
    wait_for_agents(&Api::<Agent>::all(client.clone()), a.agents).await?;

    let running = tokio::spawn(count_running(client.clone(), a.tasks));
    eprintln!("launching {} tasks...", a.tasks);
    let started = Instant::now();
    let cpu_before = cluster.cpu()?;
    register(&client).await?;
    let launcher = tokio::spawn(launch(client.clone(), a.tasks, a.tasks_per_offer));
    let (first, all) = tokio::time::timeout(Duration::from_secs(600), running)
        .await
        .context("the tasks were not all Running within 10 minutes")???;
    let cpu: Vec<(&str, Duration)> = cluster
        .cpu()?
        .into_iter()
        .zip(cpu_before)
        .map(|((part, after), (_, before))| (part, after - before))
        .collect();
    let total: Duration = cpu.iter().map(|(_, t)| *t).sum();
    launcher.abort();
    let _ = launcher.await;
    let took = all.duration_since(started);
    let rate = a.tasks as f64 / took.as_secs_f64();
    println!(
        "strata bench master (this machine: {} cores; {}; the framework in the benchmark's process)",
        cores(),
        cluster.describe()
    );
    println!(
        "{} tasks on {} simulated agents, created against offers -> Running in the store: first after {} ms, all after {:.2} s: {:.0} tasks/s   (kube-scheduler CI minimum: 810 pods/s at 5,000 nodes; Nomad C1M: 3,750/s on 5 servers; Marathon: ~555/s; aim: 5,000/s)",
        a.tasks,
        a.agents,
        first.duration_since(started).as_millis(),
        took.as_secs_f64(),
        rate
    );
    let per_task = |t: Duration| t.as_secs_f64() * 1e6 / a.tasks as f64;
    let parts: Vec<String> = cpu
        .iter()
        .map(|(part, t)| format!("{part} {:.0}", per_task(*t)))
        .collect();
    println!(
        "CPU time while they launched: {:.1} s on {} cores, {:.0} µs per task ({})",
        total.as_secs_f64(),
        cores(),
        per_task(total),
        parts.join(", ")
    );
    println!(
        "resident memory with them running: {}",
        cluster.memory(a.agents)?
    );
    Ok(())
}

/// `strata server`, `strata controllers` and `strata agent --simulate`, each a child process.
async fn processes(agents: usize) -> anyhow::Result<(Cluster, Client)> {
    let (server, client) = start_server().await?;
    let work = tempfile::tempdir()?;
    let controllers = spawn_controllers(&server, None)?;
    let simulated = spawn_simulated(
        &server,
        work.path(),
        agents,
        &["--resources", AGENT_RESOURCES, "--simulated-start", "0s"],
    )?;
    let cluster = Cluster::Processes {
        agents: simulated,
        controllers,
        server,
        _work: work,
    };
    Ok((cluster, client))
}

/// The store, the controllers and the simulated agents on this process's runtime, every client
/// reaching the store in-process with the admin's token.
async fn in_process(agents: usize) -> anyhow::Result<(Cluster, Client)> {
    let dir = tempfile::tempdir()?;
    let server = ApiServer::open(Config::new(dir.path().join("data"))).await?;
    let client = Connect::over_router(strata_store::http::router(server.clone()))
        .client(server.auth.admin_token())?;
    let (metrics, _) = Metrics::registered();
    let settings = Settings::default();
    let lifecycle_config = lifecycle::Config {
        unreachable_after: settings.agent_timeout,
        gone_after: Duration::from_secs(600),
    };
    let [for_allocator, for_lifecycle] = watches::master(&client);
    let mut running = JoinSet::new();
    running.spawn(allocator::controller::run(
        client.clone(),
        for_allocator,
        settings,
        metrics.clone(),
    ));
    running.spawn(lifecycle::controller::run(
        client.clone(),
        for_lifecycle,
        lifecycle_config,
        metrics,
    ));
    let simulated = SimulatedConfig {
        client: client.clone(),
        prefix: "sim".into(),
        count: agents,
        resources: AGENT_RESOURCES.parse()?,
        timings: Timings {
            start: Duration::ZERO,
            run: None,
        },
        work_dir: dir.path().join("simulated"),
        heartbeat_interval: RENEW_INTERVAL,
    };
    running.spawn(async move {
        if let Err(e) = daemon::run_simulated(simulated).await {
            eprintln!("the simulated agents stopped: {e:#}");
        }
    });
    Ok((
        Cluster::InProcess {
            _running: running,
            _dir: dir,
        },
        client,
    ))
}

/// Registers the framework and its heartbeat Lease (an hour long: the run is shorter).
async fn register(client: &Client) -> anyhow::Result<()> {
    let params = PatchParams::apply("strata-bench");
    let framework = json!({
        "apiVersion": "strata.io/v1alpha1", "kind": "Framework",
        "metadata": {"name": FRAMEWORK}, "spec": {},
    });
    Api::<strata_api::Framework>::namespaced(client.clone(), NAMESPACE)
        .patch(FRAMEWORK, &params, &Patch::Apply(&framework))
        .await?;
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": FRAMEWORK, "labels": {"strata.io/framework": FRAMEWORK}},
        "spec": {"holderIdentity": FRAMEWORK, "leaseDurationSeconds": 3600,
                 "renewTime": strata_agent::report::now()},
    });
    Api::<Lease>::namespaced(client.clone(), NAMESPACE)
        .patch(FRAMEWORK, &params, &Patch::Apply(&lease))
        .await?;
    Ok(())
}

/// Takes every offer made to the framework: up to `per_offer` tasks on each until `total` are
/// launched, then declines for an hour.
async fn launch(client: Client, total: usize, per_offer: usize) -> anyhow::Result<()> {
    let offers: Api<Offer> = Api::namespaced(client.clone(), NAMESPACE);
    let config = watcher::Config::default().labels(&format!("strata.io/framework={FRAMEWORK}"));
    let mut events = watcher::watcher(offers.clone(), config).boxed();
    let launched = Arc::new(AtomicUsize::new(0));
    let writes = Arc::new(Semaphore::new(IN_FLIGHT));
    let size: Resources = TASK.parse().expect("task size");
    // Aborted with the launcher.
    let mut accepting = JoinSet::new();
    while let Some(event) = events.try_next().await? {
        while accepting.try_join_next().is_some() {}
        let (Event::Apply(offer) | Event::InitApply(offer)) = event else {
            continue;
        };
        if offer.status.as_ref().is_some_and(|s| s.phase.is_settled()) {
            continue;
        }
        let fit = (0..per_offer)
            .scan(offer.spec.resources.clone(), |left, _| {
                size.fits(left).then(|| *left = left.saturating_sub(&size))
            })
            .count();
        let first = launched.fetch_add(fit, Ordering::Relaxed);
        let take = fit.min(total.saturating_sub(first));
        let (client, writes) = (client.clone(), writes.clone());
        accepting.spawn(async move {
            if let Err(e) = accept(client, offer, first, take, writes).await {
                eprintln!("an offer could not be taken: {e}");
            }
        });
    }
    Ok(())
}

/// Launches tasks `first..first + n` on `offer` and accepts it (declines it when `n` is 0).
async fn accept(
    client: Client,
    offer: Offer,
    first: usize,
    n: usize,
    writes: Arc<Semaphore>,
) -> anyhow::Result<()> {
    let tasks: Api<Task> = Api::namespaced(client.clone(), NAMESPACE);
    let offer_name = offer.name_any();
    let names: Vec<String> = (first..first + n).map(|i| format!("task-{i}")).collect();
    let creates: Vec<_> = names
        .iter()
        .map(|name| {
            let (tasks, writes) = (tasks.clone(), writes.clone());
            let task = json!({
                "apiVersion": "strata.io/v1alpha1", "kind": "Task",
                "metadata": {"name": name, "labels": {"strata.io/agent": offer.spec.agent},
                             "finalizers": [AGENT_FINALIZER]},
                "spec": {"framework": FRAMEWORK, "agent": offer.spec.agent, "offer": offer_name,
                         "resources": TASK.parse::<Resources>().expect("task size"),
                         "command": "sleep 3600"},
            });
            async move {
                let _permit = writes.acquire().await;
                let task: Task = serde_json::from_value(task)?;
                tasks.create(&PostParams::default(), &task).await?;
                anyhow::Ok(())
            }
        })
        .collect();
    futures::future::try_join_all(creates).await?;
    let status = if names.is_empty() {
        json!({"phase": "Declined", "refuseSeconds": 3600})
    } else {
        json!({"phase": "Accepted", "tasks": names, "refuseSeconds": 0})
    };
    let _permit = writes.acquire().await;
    Api::<Offer>::namespaced(client, NAMESPACE)
        .patch_status(
            &offer_name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await?;
    Ok(())
}

/// When the first task, and when the `n`th, was seen Running.
async fn count_running(client: Client, n: usize) -> anyhow::Result<(Instant, Instant)> {
    let api: Api<Lean<Task>> = Api::namespaced(client, NAMESPACE);
    let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
    let mut running = std::collections::HashSet::new();
    let mut first = None;
    while let Some(event) = events.try_next().await? {
        let (Event::Apply(task) | Event::InitApply(task)) = event else {
            continue;
        };
        match task.status.as_ref().and_then(|s| s.state) {
            Some(TaskState::Running) => {
                running.insert(task.name_any());
                let now = Instant::now();
                first.get_or_insert(now);
                if running.len() >= n {
                    return Ok((first.unwrap_or(now), now));
                }
            }
            Some(state) if state.is_terminal() => {
                let message = task.status.as_ref().and_then(|s| s.message.clone());
                bail!(
                    "task {} ended {state:?}: {}",
                    task.name_any(),
                    message.unwrap_or_default()
                )
            }
            _ => {}
        }
    }
    bail!("the task watch ended")
}
