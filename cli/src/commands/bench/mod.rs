//! `strata bench`: measurements of real strata processes, printed beside the peers' published
//! figures. Client and server share this machine's cores, so the figures are a floor.

mod agent;
mod allocator;
mod master;
mod store;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kube::Api;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use strata_api::agent::Agent;

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
