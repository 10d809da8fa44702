//! `strata bench marathon`: Marathon end to end, as its users meet it — a real `strata server`,
//! `strata controllers` (the allocator and the Marathon controller) and agents, each its own
//! process — measured for the three figures Marathon is judged by:
//!
//! 1. an App of one instance, from `kubectl apply` to its task Running on a real agent (the
//!    process executor running `sleep 600`), one app after another;
//! 2. one App scaled to thousands of instances on simulated agents, until all of them run;
//! 3. a rolling upgrade (a new env) within minimumHealthCapacity 1 and maximumOverCapacity
//!    0.2: how long until the new version runs everywhere, and the fewest healthy instances
//!    seen meanwhile, which that strategy says must never drop below the instances asked for.
//!
//! Why it exists: `bench master` takes the offers with a framework of its own; this one goes
//! through the Marathon controller, so what Marathon costs (its passes, its status and rollout
//! writes, its finalizer) is in the figures. It only writes what a user writes — the App by
//! `kubectl apply`, the scale subresource, a spec patch, a delete — and watches the rest; it
//! must never do the controller's work for it.
//!
//! Each step also says where its time went ([`meter`]: every process's CPU time, the offers
//! made), so that a slow figure points at its cause; [`census`] counts an app's tasks from a
//! watch.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use strata_api::agent::Agent;
use strata_api::app::{App, AppPhase, AppStatus};
use strata_api::labels;
use strata_api::offer::Offer;
use strata_api::resources::{Cpus, Resources};
use strata_api::rollout::{Rollout, RolloutPhase};
use tokio::io::AsyncWriteExt;

use super::{
    Background, Process, Running, ServerProcess, agent_token, cores, cpu_time, percentile, rss_kib,
    spawn_agent, spawn_controllers, spawn_simulated, start_server, wait_for_agents,
};

mod census;
mod meter;

use census::{Census, until};
use meter::{Meter, Offers, Spent};

#[derive(clap::Args)]
pub struct MarathonArgs {
    /// Apps of one instance applied one after another on the real agent, each deleted before
    /// the next (after one more, not counted, that registers the Marathon framework).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    starts: u32,
    /// Simulated agents (in one `strata agent --simulate` process) for the scale and the
    /// upgrade, each with room for its share of the instances and no more.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    agents: u32,
    /// Instances the one App is scaled to.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    instances: u32,
    /// Instances of the App given a rolling upgrade.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    upgrade_instances: u32,
    /// Write the controllers' log to this file (at `STRATA_LOG`, else info), to see where the
    /// time goes; without it only their warnings show, on stderr.
    #[arg(long)]
    controllers_log: Option<PathBuf>,
}

const NAMESPACE: &str = "default";
/// The real agent of the first figure.
const REAL_AGENT: &str = "bench-agent";
/// What every instance runs.
const CMD: &str = "sleep 600";
/// Every instance's size: thousandths of a cpu, MB of memory.
const INSTANCE_MILLICPUS: u64 = 100;
const INSTANCE_MEM: u64 = 32;
/// The upgrade strategy of the upgraded App.
const MINIMUM_HEALTH_CAPACITY: f64 = 1.0;
const MAXIMUM_OVER_CAPACITY: f64 = 0.2;
/// How often a long step says how far it got.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// How long one app of one instance may take to start, or to go.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long a step at scale may take before the benchmark gives up.
const SCALE_LIMIT: Duration = Duration::from_secs(600);

/// The cluster under test, and a watch of the offers made in it. (Dropped in this order: the
/// server last, so that its clients do not complain of it going away.)
struct Cluster {
    offers: Offers,
    simulated: Option<Process>,
    agent: Process,
    controllers: Process,
    server: ServerProcess,
    work: tempfile::TempDir,
}

impl Cluster {
    /// What the cluster has spent so far.
    fn meter(&self) -> anyhow::Result<Meter> {
        let simulated = match &self.simulated {
            Some(p) => cpu_time(p.0.id())?,
            None => Duration::ZERO,
        };
        Ok(Meter {
            at: Instant::now(),
            store: cpu_time(self.server.child.id())?,
            controllers: cpu_time(self.controllers.0.id())?,
            agents: cpu_time(self.agent.0.id())? + simulated,
            bench: cpu_time(std::process::id())?,
            offers: self.offers.counts(),
        })
    }
}

pub async fn run(a: MarathonArgs) -> anyhow::Result<()> {
    let per_agent = per_agent(&a);
    let agent_resources = agent_resources(per_agent);
    eprintln!("starting a store, strata controllers and a real agent...");
    let (server, client) = start_server().await?;
    let work = tempfile::tempdir()?;
    let controllers = spawn_controllers(&server, a.controllers_log.as_deref())?;
    let token = agent_token(&server, REAL_AGENT)?;
    let agent_work = work.path().join("agent").display().to_string();
    let agent = spawn_agent(
        &server,
        &token,
        &["--name", REAL_AGENT, "--work-dir", &agent_work],
    )?;
    let mut cluster = Cluster {
        offers: Offers::watch(&client),
        simulated: None,
        agent,
        controllers,
        server,
        work,
    };
    let agents: Api<Agent> = Api::all(client.clone());
    wait_for_agents(&agents, 1).await?;

    eprintln!(
        "1/3: {} apps of 1 instance, each `kubectl apply`ed, waited for Running and deleted...",
        a.starts + 1
    );
    let starts = starts(&cluster, &client, a.starts as usize).await?;

    eprintln!(
        "2/3: cordoning the real agent; starting {} simulated agents of {agent_resources}...",
        a.agents
    );
    cordon(&client, REAL_AGENT).await?;
    cluster.simulated = Some(spawn_simulated(
        &cluster.server,
        cluster.work.path(),
        a.agents as usize,
        &[
            "--resources",
            &agent_resources.to_string(),
            "--simulated-start",
            "0s",
        ],
    )?);
    wait_for_agents(&agents, 1 + a.agents as usize).await?;
    eprintln!("2/3: one app scaled from 1 to {} instances...", a.instances);
    let scale = scale(&cluster, &client, a.instances).await?;

    eprintln!(
        "3/3: a rolling upgrade of {} instances...",
        a.upgrade_instances
    );
    let upgrade = upgrade(&cluster, &client, a.upgrade_instances).await?;

    print(&a, per_agent, &agent_resources, &starts, &scale, &upgrade);
    if let Some(log) = &a.controllers_log {
        println!("the controllers' log: {}", log.display());
    }
    Ok(())
}

/// Instances each simulated agent has room for: enough for the scaled App spread evenly, and
/// for the upgraded App at its most (instances plus the over-capacity).
fn per_agent(a: &MarathonArgs) -> u64 {
    let upgrade_most = a.upgrade_instances + over_capacity(a.upgrade_instances);
    u64::from(a.instances.max(upgrade_most)).div_ceil(u64::from(a.agents))
}

/// Instances the upgrade strategy lets run above `instances` (Marathon rounds down).
fn over_capacity(instances: u32) -> u32 {
    (f64::from(instances) * MAXIMUM_OVER_CAPACITY).floor() as u32
}

/// Healthy instances the upgrade strategy keeps (Marathon rounds up).
fn minimum_healthy(instances: u32) -> u32 {
    (f64::from(instances) * MINIMUM_HEALTH_CAPACITY).ceil() as u32
}

fn instance_cpus() -> Cpus {
    Cpus::from_millis(INSTANCE_MILLICPUS)
}

/// What each simulated agent offers: room for `n` instances exactly.
fn agent_resources(n: u64) -> Resources {
    Resources {
        cpus: Cpus::from_millis(INSTANCE_MILLICPUS * n),
        mem: INSTANCE_MEM * n,
        ..Resources::default()
    }
}

/// The App `name` of `instances` instances of [`CMD`], as a user writes it; `env` sets
/// `VERSION` with the upgrade strategy of the third figure.
fn app(name: &str, instances: u32, version: Option<&str>) -> Value {
    let mut spec = json!({
        "cmd": CMD,
        "cpus": instance_cpus(),
        "mem": INSTANCE_MEM,
        "instances": instances,
    });
    if let Some(version) = version {
        spec["env"] = json!({ "VERSION": version });
        spec["upgradeStrategy"] = json!({
            "minimumHealthCapacity": MINIMUM_HEALTH_CAPACITY,
            "maximumOverCapacity": MAXIMUM_OVER_CAPACITY,
        });
    }
    json!({
        "apiVersion": "strata.io/v1alpha1",
        "kind": "App",
        "metadata": {"name": name},
        "spec": spec,
    })
}

// --- 1: kubectl apply -> Running ---

/// The first figure: latencies of apps of one instance started one after another.
struct Starts {
    /// The first app's, not counted: it registers the Marathon framework, and kubectl fills
    /// its discovery cache.
    first: Duration,
    /// `kubectl apply` spawned -> the task Running in the store, sorted.
    running: Vec<Duration>,
    /// `kubectl apply`'s own wall time (process, discovery, the request), sorted.
    applied: Vec<Duration>,
    /// Delete -> the App gone (its task killed, the finalizer released), sorted.
    deleted: Vec<Duration>,
    /// What the counted ones cost.
    spent: Spent,
}

async fn starts(cluster: &Cluster, client: &Client, n: usize) -> anyhow::Result<Starts> {
    let apps: Api<App> = Api::namespaced(client.clone(), NAMESPACE);
    let running = Running::default();
    let _watch = Background(
        running.watch(Api::namespaced(client.clone(), NAMESPACE), |t| {
            t.labels().get(labels::APP).cloned()
        }),
    );
    let kubeconfig = cluster.server.kubeconfig();
    let cache = cluster.work.path().join("kube-cache");
    let mut s = Starts {
        first: Duration::ZERO,
        running: Vec::with_capacity(n),
        applied: Vec::with_capacity(n),
        deleted: Vec::with_capacity(n),
        spent: Spent::default(),
    };
    let mut m0 = cluster.meter()?;
    for i in 0..=n {
        if i == 1 {
            m0 = cluster.meter()?;
        }
        let name = format!("start-{i}");
        let manifest = app(&name, 1, None).to_string();
        let t0 = Instant::now();
        kubectl_apply(&kubeconfig, &cache, &manifest).await?;
        let applied = t0.elapsed();
        let at = tokio::time::timeout(START_LIMIT, running.wait(&name))
            .await
            .with_context(|| {
                format!(
                    "app {name}: its task was not Running within {} s",
                    START_LIMIT.as_secs()
                )
            })?;
        let ran = at.saturating_duration_since(t0);
        let t1 = Instant::now();
        delete_app(&apps, &name, START_LIMIT).await?;
        let deleted = t1.elapsed();
        eprintln!(
            "  {name}: Running after {} (kubectl apply {}), deleted in {}{}",
            ms(ran),
            ms(applied),
            ms(deleted),
            if i == 0 { " (not counted)" } else { "" }
        );
        if i == 0 {
            s.first = ran;
        } else {
            s.running.push(ran);
            s.applied.push(applied);
            s.deleted.push(deleted);
        }
    }
    s.spent = cluster.meter()?.since(&m0);
    s.running.sort();
    s.applied.sort();
    s.deleted.sort();
    Ok(s)
}

/// `kubectl apply -f -` of `manifest`, as a user runs it, with its own discovery cache.
async fn kubectl_apply(kubeconfig: &Path, cache: &Path, manifest: &str) -> anyhow::Result<()> {
    let mut child = tokio::process::Command::new("kubectl")
        .args(["apply", "-f", "-", "--kubeconfig"])
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("running kubectl (is it on the PATH?)")?;
    let mut stdin = child.stdin.take().context("kubectl's stdin")?;
    stdin.write_all(manifest.as_bytes()).await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        bail!(
            "kubectl apply failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Deletes the App `name` and waits until it is gone: the Marathon controller stopped its
/// tasks and released its finalizer.
async fn delete_app(apps: &Api<App>, name: &str, limit: Duration) -> anyhow::Result<()> {
    apps.delete(name, &DeleteParams::default()).await?;
    let deadline = Instant::now() + limit;
    while let Some(app) = apps.get_opt(name).await? {
        if Instant::now() > deadline {
            bail!(
                "app {name} was not gone {} s after its deletion; its status: {}",
                limit.as_secs(),
                serde_json::to_string(&app.status)?
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Makes the Agent `name` unschedulable (`kubectl cordon`'s counterpart) and waits until no
/// offer of it is pending, so that the next apps land on the simulated agents only.
async fn cordon(client: &Client, name: &str) -> anyhow::Result<()> {
    Api::<Agent>::all(client.clone())
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": true}})),
        )
        .await?;
    let offers: Api<Offer> = Api::all(client.clone());
    let deadline = Instant::now() + START_LIMIT;
    loop {
        let pending = offers
            .list(&ListParams::default().labels(&labels::agent_selector(name)))
            .await?
            .items
            .into_iter()
            .filter(|o| !o.status.as_ref().is_some_and(|s| s.phase.is_settled()))
            .count();
        if pending == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("agent {name} still had {pending} offers pending after it was cordoned");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// --- 2: one App scaled to thousands ---

/// The second figure.
struct Scale {
    /// Scale patch -> the last instance Running in the store.
    all_running: Duration,
    /// Scale patch -> the App's status reading `n / n`, Running.
    status: Duration,
    /// Resident memory of the store and the controllers with them running, in KiB.
    memory: (u64, u64),
    /// Delete -> the App gone, its tasks all killed.
    deleted: Duration,
    /// What scaling up, and deleting, cost.
    spent: Spent,
    deleting: Spent,
}

async fn scale(cluster: &Cluster, client: &Client, n: u32) -> anyhow::Result<Scale> {
    const NAME: &str = "scaled";
    let apps: Api<App> = Api::namespaced(client.clone(), NAMESPACE);
    let census = Census::watch(client, NAME);
    start(&apps, NAME, 1, None, START_LIMIT).await?;

    let m0 = cluster.meter()?;
    let t0 = Instant::now();
    apps.patch_scale(
        NAME,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": n}})),
    )
    .await?;
    let progress = census
        .progress(move |c| format!("{} / {n} Running, {} tasks in all", c.healthy(), c.tasks()));
    let reached = census
        .until("all instances Running", SCALE_LIMIT, |c| {
            c.healthy() >= n as usize
        })
        .await?;
    let all_running = reached.saturating_duration_since(t0);
    wait_status(
        &apps,
        NAME,
        &format!("{n} / {n} Running"),
        SCALE_LIMIT,
        |s| running_all(s, n),
    )
    .await?;
    let status = t0.elapsed();
    let spent = cluster.meter()?.since(&m0);
    drop(progress);
    let memory = (
        rss_kib(cluster.server.child.id())?,
        rss_kib(cluster.controllers.0.id())?,
    );
    eprintln!(
        "  all Running after {:.2} s, the App's status after {:.2} s; deleting the app...",
        all_running.as_secs_f64(),
        status.as_secs_f64()
    );

    let m1 = cluster.meter()?;
    let progress = census.progress(|c| format!("{} tasks left", c.tasks()));
    delete_app(&apps, NAME, SCALE_LIMIT).await?;
    let deleting = cluster.meter()?.since(&m1);
    drop(progress);
    Ok(Scale {
        all_running,
        status,
        memory,
        deleted: deleting.wall,
        spent,
        deleting,
    })
}

/// Whether the App's status reads `n / n` and Running (no rollout under way).
fn running_all(s: &AppStatus, n: u32) -> bool {
    s.tasks.as_deref() == Some(format!("{n} / {n}").as_str()) && s.phase == Some(AppPhase::Running)
}

/// Waits until the App's status satisfies `ok` (polled every 100 ms); returns it.
/// Creates the App `name` of `instances` (at `version`) and waits until they all run.
async fn start(
    apps: &Api<App>,
    name: &str,
    instances: u32,
    version: Option<&str>,
    limit: Duration,
) -> anyhow::Result<AppStatus> {
    let object = serde_json::from_value(app(name, instances, version))?;
    apps.create(&PostParams::default(), &object).await?;
    let what = format!("{instances} / {instances} Running");
    wait_status(apps, name, &what, limit, |s| running_all(s, instances)).await
}

async fn wait_status(
    apps: &Api<App>,
    name: &str,
    what: &str,
    limit: Duration,
    ok: impl Fn(&AppStatus) -> bool,
) -> anyhow::Result<AppStatus> {
    let deadline = Instant::now() + limit;
    loop {
        let app = apps.get(name).await?;
        if let Some(status) = app.status.as_ref().filter(|s| ok(s)) {
            return Ok(status.clone());
        }
        if Instant::now() > deadline {
            bail!(
                "app {name}: not {what} within {} s; its status: {}",
                limit.as_secs(),
                serde_json::to_string(&app.status)?
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// --- 3: a rolling upgrade ---

/// The third figure.
struct Upgrade {
    /// Spec patch -> the App on the new version, `n / n` Running, its rollout Succeeded.
    took: Duration,
    /// Spec patch -> every running task of the new version and none of the old left running.
    replaced: Duration,
    /// The fewest tasks Running and not being killed, over every change the watch showed.
    lowest_seen: usize,
    /// The rollout's own `status.lowestHealthy` and `status.minimumHealthy`.
    lowest_reported: Option<u32>,
    minimum_reported: u32,
    rollout: String,
    spent: Spent,
}

async fn upgrade(cluster: &Cluster, client: &Client, n: u32) -> anyhow::Result<Upgrade> {
    const NAME: &str = "upgraded";
    let apps: Api<App> = Api::namespaced(client.clone(), NAMESPACE);
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), NAMESPACE);
    let census = Census::watch(client, NAME);
    let progress = census.progress(move |c| format!("{} / {n} Running", c.healthy()));
    let before = start(&apps, NAME, n, Some("1"), SCALE_LIMIT).await?;
    drop(progress);
    let old = before
        .version
        .clone()
        .context("the App's status has no version")?;
    census.track_lowest();

    eprintln!(
        "  {n} instances of version {old} Running; upgrading them (a new env) within minimumHealthCapacity {MINIMUM_HEALTH_CAPACITY}, maximumOverCapacity {MAXIMUM_OVER_CAPACITY}..."
    );
    let m0 = cluster.meter()?;
    let t0 = Instant::now();
    apps.patch(
        NAME,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"env": {"VERSION": "2"}}})),
    )
    .await?;
    let old_p = old.clone();
    let progress = census.progress(move |c| {
        let old_up = c.healthy_of(&old_p);
        format!(
            "{} new and {old_up} old Running, {} tasks in all; fewest Running seen {}",
            c.healthy() - old_up,
            c.tasks(),
            c.lowest()
        )
    });
    let old_c = old.clone();
    let replaced = tokio::spawn({
        let census = census.shared();
        async move {
            until(&census, "every instance replaced", SCALE_LIMIT, |c| {
                c.healthy_of(&old_c) == 0 && c.healthy() >= n as usize
            })
            .await
        }
    });
    let deadline = Instant::now() + SCALE_LIMIT;
    let rollout = loop {
        let app = apps.get(NAME).await?;
        if let Some(s) = app.status.as_ref()
            && s.version.as_ref().is_some_and(|v| *v != old)
            && running_all(s, n)
            && let Some(name) = &s.rollout
            && let Some(r) = rollouts.get_opt(name).await?
            && Some(&r.spec.version) == s.version.as_ref()
            && r.status.as_ref().map(|s| s.phase) == Some(RolloutPhase::Succeeded)
        {
            break r;
        }
        if Instant::now() > deadline {
            bail!(
                "app {NAME}: the upgrade did not finish within {} s; its status: {}",
                SCALE_LIMIT.as_secs(),
                serde_json::to_string(&app.status)?
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = t0.elapsed();
    let spent = cluster.meter()?.since(&m0);
    drop(progress);
    let replaced = replaced.await??.saturating_duration_since(t0);
    let status = rollout.status.clone().unwrap_or_default();
    Ok(Upgrade {
        took,
        replaced,
        lowest_seen: census.read(|c| c.lowest()),
        lowest_reported: status.lowest_healthy,
        minimum_reported: status.minimum_healthy,
        rollout: rollout.name_any(),
        spent,
    })
}

// --- the figures ---

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn print(
    a: &MarathonArgs,
    per_agent: u64,
    agent_resources: &Resources,
    starts: &Starts,
    scale: &Scale,
    upgrade: &Upgrade,
) {
    let n = a.instances;
    let u = a.upgrade_instances;
    println!(
        "strata bench marathon (this machine: {} cores; server, controllers and agents each their own process, over HTTPS; Marathon is the controller in `strata controllers`)",
        cores()
    );
    println!(
        "every instance runs `{CMD}` with cpus {}, mem {INSTANCE_MEM} MB; figure 1 on a real agent (the process executor), the others on {} simulated agents of {agent_resources} each (room for {per_agent} instances)",
        instance_cpus(),
        a.agents
    );
    println!();
    println!("| measure | strata | peers |");
    println!("|---|---|---|");
    println!(
        "| `kubectl apply` of an App of 1 instance -> its task Running, {} apps one after another | p50 {}, p99 {} (`kubectl apply` itself p50 {}; delete -> App gone p50 {}; the first app, registering the framework, not counted: {}) | Kubernetes SLO: pod startup p99 <= 5 s |",
        starts.running.len(),
        ms(percentile(&starts.running, 0.5)),
        ms(percentile(&starts.running, 0.99)),
        ms(percentile(&starts.applied, 0.5)),
        ms(percentile(&starts.deleted, 0.5)),
        ms(starts.first),
    );
    println!(
        "| one App scaled from 1 to {n} instances on {} simulated agents: scale patch -> all Running | {}: {:.0} instances/s (the App's status read {n} / {n} Running after {}) | Marathon: 50,000 instances in under 90 s on 24,000 cores (~555/s); an OpenStack test: 500 in 14 s (~36/s) |",
        a.agents,
        secs(scale.all_running),
        f64::from(n.saturating_sub(1)) / scale.all_running.as_secs_f64(),
        secs(scale.status),
    );
    println!(
        "| resident memory with {n} instances running | store {} MiB, controllers {} MiB | — |",
        scale.memory.0 / 1024,
        scale.memory.1 / 1024
    );
    println!(
        "| deleting that App: its {n} tasks killed, the App gone | {} | — |",
        secs(scale.deleted)
    );
    println!(
        "| rolling upgrade of {u} instances (a new env; minimumHealthCapacity {MINIMUM_HEALTH_CAPACITY}, maximumOverCapacity {MAXIMUM_OVER_CAPACITY}): spec patch -> the App on the new version, {u} / {u} Running, rollout {} Succeeded | {} (every instance replaced after {}); fewest healthy seen {}, the rollout's lowestHealthy {} (minimumHealthy {}) | Marathon keeps at least minimumHealthCapacity x instances = {} healthy, at most {} running |",
        upgrade.rollout,
        secs(upgrade.took),
        secs(upgrade.replaced),
        upgrade.lowest_seen,
        upgrade
            .lowest_reported
            .map_or_else(|| "unset".to_string(), |l| l.to_string()),
        upgrade.minimum_reported,
        minimum_healthy(u),
        u + over_capacity(u),
    );
    println!();
    println!(
        "where the time went: CPU seconds of each process during the step ({} cores: at most {} CPU seconds per second), and the offers made",
        cores(),
        cores()
    );
    println!();
    println!(
        "| step | wall | store | controllers | agents | this benchmark | offers made / accepted / declined |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (step, spent) in [
        (
            format!(
                "{} apps of 1 instance, one after another",
                starts.running.len()
            ),
            &starts.spent,
        ),
        (format!("scale from 1 to {n}"), &scale.spent),
        (format!("delete the App of {n}"), &scale.deleting),
        (format!("rolling upgrade of {u}"), &upgrade.spent),
    ] {
        println!(
            "| {step} | {} | {} | {} | {} | {} | {} / {} / {} |",
            secs(spent.wall),
            secs(spent.store),
            secs(spent.controllers),
            secs(spent.agents),
            secs(spent.bench),
            spent.offers.made,
            spent.offers.accepted,
            spent.offers.declined
        );
    }
}
