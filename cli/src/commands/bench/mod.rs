//! `strata bench`: measurements of real strata processes, printed beside the peers' published
//! figures. Client and server share this machine's cores, so the figures are a floor.

mod agent;
mod allocator;
mod marathon;
mod master;
mod store;
mod up;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use kube::Api;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, Event};
use strata_api::agent::Agent;
use strata_api::task::{Task, TaskState};
use tokio::sync::Notify;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// The embedded store: durable writes, watch fan-out, large lists, memory.
    Store(store::StoreArgs),
    /// The node agent: task launch latency (process, docker), simulated agents at scale.
    Agent(agent::AgentArgs),
    /// The allocator's pass alone, at Mesos' DeclineOffers benchmark sizes.
    Allocator(allocator::AllocatorArgs),
    /// Tasks launched and Running per second end to end: store, controllers, simulated agents.
    Master(master::MasterArgs),
    /// Marathon end to end: an App applied to Running, one scaled to thousands of instances,
    /// a rolling upgrade within its upgrade strategy.
    Marathon(marathon::MarathonArgs),
    /// `strata up`: time to ready (fresh and existing data directory), idle memory, the
    /// console's Apps page with many apps.
    Up(up::UpArgs),
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.what {
        What::Store(a) => rt.block_on(store::run(a)),
        What::Agent(a) => rt.block_on(agent::run(a)),
        What::Allocator(a) => allocator::run(a),
        What::Master(a) => rt.block_on(master::run(a)),
        What::Marathon(a) => rt.block_on(marathon::run(a)),
        What::Up(a) => rt.block_on(up::run(a)),
    }
}

/// A `strata server` child process on a temporary data directory.
struct ServerProcess {
    child: Child,
    port: u16,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn kubeconfig(&self) -> PathBuf {
        self.data.join("kubeconfig")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `strata agent` against `server` with `token` and `args`.
fn spawn_agent(server: &ServerProcess, token: &str, args: &[&str]) -> anyhow::Result<Process> {
    let child = Command::new(std::env::current_exe()?)
        .args([
            "agent",
            "--server",
            &server.url(),
            // `--token=` form: a token may start with '-'.
            &format!("--token={token}"),
            "--certificate-authority",
        ])
        .arg(server.data.join("pki/ca.crt"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("STRATA_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("starting strata agent")?;
    Ok(Process(child))
}

/// Creates agent `name`'s ServiceAccount with `strata agent-token`, as an operator does, and
/// returns its token.
fn agent_token(server: &ServerProcess, name: &str) -> anyhow::Result<String> {
    let out = Command::new(std::env::current_exe()?)
        .args(["agent-token", name, "--kubeconfig"])
        .arg(server.kubeconfig())
        .output()?;
    if !out.status.success() {
        bail!(
            "strata agent-token failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// Starts `strata controllers` against `server` (metrics on a free port). Its warnings go to
/// this process's stderr; with `log`, its whole log (`STRATA_LOG`, else `info`) goes to that
/// file instead.
fn spawn_controllers(server: &ServerProcess, log: Option<&Path>) -> anyhow::Result<Process> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("controllers")
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .args(["--metrics-listen", "127.0.0.1:0"])
        .stdout(Stdio::null());
    match log {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating the controllers' log {}", path.display()))?;
            let filter = std::env::var("STRATA_LOG").unwrap_or_else(|_| "info".to_string());
            command.env("STRATA_LOG", filter).stderr(file);
        }
        None => {
            command.env("STRATA_LOG", "warn");
        }
    }
    Ok(Process(
        command.spawn().context("starting strata controllers")?,
    ))
}

/// Starts `count` simulated agents `sim-0..` in one `strata agent --simulate` process working in
/// `work`, as the server's admin, with `extra` flags.
fn spawn_simulated(
    server: &ServerProcess,
    work: &Path,
    count: usize,
    extra: &[&str],
) -> anyhow::Result<Process> {
    let admin = std::fs::read_to_string(server.data.join("admin.token"))?;
    let work = work.join("simulated").display().to_string();
    let count = count.to_string();
    let mut args = vec!["--name", "sim", "--work-dir", &work, "--simulate", &count];
    args.extend(extra);
    spawn_agent(server, admin.trim(), &args)
}

/// Waits until `n` agents registered.
async fn wait_for_agents(api: &Api<Agent>, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while api.list(&ListParams::default()).await?.items.len() < n {
        if Instant::now() > deadline {
            bail!("{n} agents did not register within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// When each task, by a key of it (its name, its app), was first seen Running.
#[derive(Clone, Default)]
struct Running {
    at: Arc<Mutex<HashMap<String, Instant>>>,
    changed: Arc<Notify>,
}

impl Running {
    /// Watches the tasks of `api`, noting each Running one under `key` (tasks without one are
    /// skipped).
    fn watch(
        &self,
        api: Api<Task>,
        key: fn(&Task) -> Option<String>,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = events.next().await {
                if let Ok(Event::Apply(task) | Event::InitApply(task)) = event
                    && task.status.as_ref().and_then(|s| s.state) == Some(TaskState::Running)
                    && let Some(key) = key(&task)
                {
                    me.at
                        .lock()
                        .expect("running")
                        .entry(key)
                        .or_insert_with(Instant::now);
                    me.changed.notify_waiters();
                }
            }
        })
    }

    /// When a task keyed `key` was first seen Running (waiting for one).
    async fn wait(&self, key: &str) -> Instant {
        loop {
            let notified = self.changed.notified();
            if let Some(at) = self.at.lock().expect("running").get(key) {
                return *at;
            }
            notified.await;
        }
    }
}

/// A task of this process, aborted when dropped.
struct Background(tokio::task::JoinHandle<()>);

impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// This machine's cores, for the figures' heading.
fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// CPU time a process has used so far (user and system).
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    /// The unit of /proc's times (USER_HZ, 100 on every Linux ABI).
    const TICKS_PER_SECOND: u64 = 100;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name in parentheses (which may hold spaces): utime and
    // stime are the 14th and 15th fields of the line, the 12th and 13th after it.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("no command name in /proc/<pid>/stat")?;
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|v| v.parse::<u64>())
        .sum::<Result<u64, _>>()
        .context("no utime and stime in /proc/<pid>/stat")?;
    Ok(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}

async fn start_server() -> anyhow::Result<(ServerProcess, kube::Client)> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let data = dir.path().join("data");
    let child = Command::new(std::env::current_exe()?)
        .args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data)
        .env("STRATA_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("starting strata server")?;
    let proc = ServerProcess {
        child,
        port,
        data,
        _dir: dir,
    };
    let kubeconfig = proc.kubeconfig();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(kubeconfig.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()) {
        if Instant::now() > deadline {
            bail!("strata server did not start within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = client_for(&kubeconfig).await?;
    Ok((proc, client))
}

async fn client_for(path: &Path) -> anyhow::Result<kube::Client> {
    let kc = Kubeconfig::read_from(path)?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    config.read_timeout = Some(Duration::from_secs(300));
    Ok(kube::Client::try_from(config)?)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
