//! `strata agent`: wires registration, the heartbeat, the sandbox service, sandbox garbage
//! collection and the task loop into one running agent — or hundreds of simulated ones.
//!
//! Why it exists: each part is its own module; this is the one place that decides what runs
//! beside what, and what a failure at start means (a store that refuses the agent's token is a
//! message for the operator, not a retry loop).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kube::Client;
use strata_api::agent::AgentSpec;
use strata_api::resources::Resources;

use crate::cgroups::{Cgroups, CpuLimit};
use crate::connect::Connect;
use crate::executor::Executor;
use crate::executor::docker::DockerExecutor;
use crate::executor::process::ProcessExecutor;
use crate::executor::simulated::{SimulatedExecutor, Timings};
use crate::files::Files;
use crate::registration::{self, Registration};
use crate::supervisor::{self, Context};
use crate::workdir::WorkDir;

/// How one real agent runs.
pub struct AgentConfig {
    pub name: String,
    pub hostname: String,
    /// The agent's client of the store (acting with the agent's own credentials).
    pub client: Client,
    /// How the sandbox service reaches the store with each caller's token.
    pub connect: Connect,
    pub work_dir: PathBuf,
    /// What to offer; None detects it from the machine.
    pub resources: Option<Resources>,
    pub attributes: BTreeMap<String, String>,
    /// Docker engine socket; None uses the default. Docker is optional: without an engine,
    /// container tasks end in Error.
    pub docker_host: Option<String>,
    /// Where the sandbox service listens, and the URL to advertise for it (default: the
    /// listening address).
    pub listen: SocketAddr,
    pub advertise: Option<String>,
    /// How long sandboxes of finished tasks are kept.
    pub gc_delay: Duration,
    /// The command that runs the process executor's shim (`strata agent-exec`).
    pub shim: Vec<OsString>,
    /// Whether cpus are a weight (Mesos' default) or a hard CFS quota.
    pub cpu_limit: CpuLimit,
    /// How often the heartbeat Lease is renewed.
    pub heartbeat_interval: Duration,
}

/// Runs the agent until the process is stopped.
pub async fn run(config: AgentConfig) -> anyhow::Result<()> {
    start(config).await?.run().await;
    Ok(())
}

/// A registered agent, heartbeating and serving its sandboxes, about to run its tasks.
pub struct Started {
    /// What it registered with: its resources and containerizers.
    pub resources: Resources,
    pub containerizers: Vec<String>,
    /// Why Docker is not available, when it is not (container tasks then end in Error).
    pub docker_unavailable: Option<String>,
    /// The sandbox service's URL.
    pub endpoint: String,
    ctx: Arc<Context>,
}

impl Started {
    /// Runs the tasks bound to the agent until the process is stopped.
    pub async fn run(self) {
        supervisor::run(self.ctx).await;
    }
}

/// Registers the agent, starts its heartbeat, sandbox service and sandbox collection, and
/// adopts what it ran before; running its tasks is [`Started::run`].
pub async fn start(config: AgentConfig) -> anyhow::Result<Started> {
    let client = config.client.clone();
    let work = WorkDir::open(&config.work_dir)
        .with_context(|| format!("opening the work directory {}", config.work_dir.display()))?;
    let cgroups = Cgroups::detect(&config.name);
    let isolation = cgroups.isolation().to_string();
    let mut executors: Vec<Arc<dyn Executor>> = Vec::new();
    let mut docker_unavailable = None;
    let instance = work.instance().context("reading the agent's instance id")?;
    match DockerExecutor::connect(
        config.docker_host.as_deref(),
        &config.name,
        &instance,
        config.cpu_limit,
    )
    .await
    {
        Ok(docker) => executors.push(Arc::new(docker)),
        Err(e) => {
            tracing::warn!(error = %e, "no Docker engine: tasks with a container will end in Error");
            docker_unavailable = Some(e.to_string());
        }
    }
    executors.push(Arc::new(ProcessExecutor {
        shim: config.shim.clone(),
        cgroups,
        cpu_limit: config.cpu_limit,
    }));

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening for the sandbox service on {}", config.listen))?;
    let endpoint = match &config.advertise {
        Some(url) => url.clone(),
        None => format!("http://{}", listener.local_addr()?),
    };
    let files = Files::new(&config.name, work.clone(), config.connect.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, files.router()).await {
            tracing::error!(error = %e, "the sandbox service stopped");
        }
    });

    let resources = config
        .resources
        .clone()
        .unwrap_or_else(|| crate::machine::detect(work.root()));
    let registration = Registration {
        name: config.name.clone(),
        spec: AgentSpec {
            attributes: config.attributes.clone(),
            ..AgentSpec::new(&config.hostname, resources.clone())
        },
        endpoint: Some(endpoint.clone()),
        isolation: isolation.clone(),
        containerizers: executors.iter().map(|e| e.name().to_string()).collect(),
    };
    registration::register(&client, &registration)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "agent {:?} could not register with the store at {}: {}",
                config.name,
                config.connect.describe,
                explain(&e)
            )
        })?;
    tracing::info!(agent = %config.name, %resources, %isolation, %endpoint, "registered");
    tokio::spawn(registration::heartbeat(
        client.clone(),
        config.name.clone(),
        config.heartbeat_interval,
    ));
    tokio::spawn(collect_garbage(work.clone(), config.gc_delay));

    let ctx = Arc::new(Context::new(
        &config.name,
        &config.hostname,
        client,
        work,
        executors,
        Some(endpoint.clone()),
        resources.clone(),
    ));
    Ok(Started {
        resources,
        containerizers: registration.containerizers,
        docker_unavailable,
        endpoint,
        ctx,
    })
}

/// A store error in words an operator can act on.
fn explain(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 401 => {
            "the token was not accepted (401): issue one with `strata agent-token NAME`".into()
        }
        kube::Error::Api(s) if s.code == 403 => {
            format!("the token may not do this (403): {}", s.message)
        }
        other => other.to_string(),
    }
}

/// Removes finished sandboxes past the delay, checking as often as a tenth of it (at least
/// every second, at most every minute).
async fn collect_garbage(work: WorkDir, delay: Duration) {
    let period = (delay / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        let work = work.clone();
        let removed = tokio::task::spawn_blocking(move || work.collect_garbage(delay))
            .await
            .unwrap_or(0);
        if removed > 0 {
            tracing::info!(removed, "collected the sandboxes of finished tasks");
        }
        tokio::time::sleep(period).await;
    }
}

/// How a set of simulated agents runs.
pub struct SimulatedConfig {
    /// Their client of the store, shared.
    pub client: Client,
    /// Agents are named `<prefix>-0` .. `<prefix>-<count-1>`.
    pub prefix: String,
    pub count: usize,
    pub resources: Resources,
    pub timings: Timings,
    /// Parent of the simulated agents' (nearly empty) work directories.
    pub work_dir: PathBuf,
    /// How often each heartbeat Lease is renewed.
    pub heartbeat_interval: Duration,
}

/// Runs `count` simulated agents in this process, sharing one store client.
pub async fn run_simulated(config: SimulatedConfig) -> anyhow::Result<()> {
    let client = config.client.clone();
    let executor: Arc<dyn Executor> = Arc::new(SimulatedExecutor {
        timings: config.timings,
    });
    let mut loops = tokio::task::JoinSet::new();
    for i in 0..config.count {
        let name = format!("{}-{i}", config.prefix);
        let work = WorkDir::open_simulated(&config.work_dir.join(&name))?;
        let registration = Registration {
            name: name.clone(),
            spec: AgentSpec::new(&name, config.resources.clone()),
            endpoint: None,
            isolation: "simulated".into(),
            containerizers: vec![executor.name().to_string()],
        };
        registration::register(&client, &registration)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "simulated agent {name:?} could not register: {}",
                    explain(&e)
                )
            })?;
        tokio::spawn(registration::heartbeat(
            client.clone(),
            name.clone(),
            config.heartbeat_interval,
        ));
        let ctx = Arc::new(Context::new(
            &name,
            &name,
            client.clone(),
            work,
            vec![executor.clone()],
            None,
            config.resources.clone(),
        ));
        loops.spawn(supervisor::run(ctx));
    }
    tracing::info!(count = config.count, "simulated agents registered");
    while loops.join_next().await.is_some() {}
    Ok(())
}
