//! `strata agent`: the node agent; and `strata agent-exec`, the process executor's shim that
//! the agent starts for each process task (hidden: not for people).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use strata_agent::cgroups::CpuLimit;
use strata_agent::connect::Connect;
use strata_agent::daemon::{self, AgentConfig, SimulatedConfig};
use strata_agent::executor::shim::{self, ShimArgs};
use strata_agent::executor::simulated::Timings;
use strata_api::resources::Resources;

use super::store_client::StoreArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArgs,
    /// The Agent's name (default: this machine's hostname).
    #[arg(long)]
    name: Option<String>,
    /// Where sandboxes and task records are kept.
    #[arg(long, default_value = "/var/lib/strata/agent")]
    work_dir: PathBuf,
    /// Resources to offer, in Mesos' form `cpus:4;mem:8192;disk:10000;ports:[31000-32000]`
    /// (default: detected from the machine, minus a reserve).
    #[arg(long)]
    resources: Option<Resources>,
    /// Attributes for placement constraints: `rack:r1,zone:eu-1a`.
    #[arg(long, default_value = "")]
    attributes: String,
    /// The Docker engine's socket (default: the local engine).
    #[arg(long)]
    docker_host: Option<String>,
    /// Address of the sandbox service (task stdout/stderr browsing).
    #[arg(long, default_value = "127.0.0.1:5051")]
    listen: SocketAddr,
    /// URL to advertise for the sandbox service (default: http://<listen address>).
    #[arg(long)]
    advertise: Option<String>,
    /// How often the agent renews its heartbeat Lease; the master declares it Unreachable
    /// after `strata controllers --agent-unreachable-timeout` without one.
    #[arg(long, default_value = "10s", value_parser = super::duration::parse)]
    heartbeat_interval: Duration,
    /// How long the sandboxes of finished tasks are kept: e.g. 30s, 10m, 6h, 7d.
    #[arg(long, default_value = "7d", value_parser = super::duration::parse)]
    sandbox_gc_delay: Duration,
    /// Cap each task's cpu with a CFS quota instead of weighting it with cpu shares (Mesos'
    /// --cgroups_enable_cfs).
    #[arg(long)]
    cgroups_enable_cfs: bool,
    /// Run this many simulated agents (named <name>-0..) whose tasks only pass through their
    /// states, for scale tests.
    #[arg(long)]
    simulate: Option<usize>,
    /// Simulated tasks: time from launch to Running.
    #[arg(long, default_value = "0s", value_parser = super::duration::parse)]
    simulated_start: Duration,
    /// Simulated tasks: time from Running to Finished (default: until killed).
    #[arg(long, value_parser = super::duration::parse)]
    simulated_run: Option<Duration>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.heartbeat_interval.is_zero(),
        "--heartbeat-interval must be longer than 0s, e.g. 10s"
    );
    let store = args.store.config().await?;
    let hostname = hostname();
    let name = args.name.clone().unwrap_or_else(|| hostname.clone());
    if let Some(count) = args.simulate {
        let resources = match &args.resources {
            Some(r) => r.clone(),
            None => "cpus:8;mem:32768;disk:100000;ports:[31000-32000]"
                .parse()
                .expect("valid default"),
        };
        return daemon::run_simulated(SimulatedConfig {
            client: kube::Client::try_from(store).context("configuring the store client")?,
            prefix: name,
            count,
            resources,
            timings: Timings {
                start: args.simulated_start,
                run: args.simulated_run,
            },
            work_dir: args.work_dir,
            heartbeat_interval: args.heartbeat_interval,
        })
        .await;
    }
    daemon::run(AgentConfig {
        name,
        hostname,
        client: kube::Client::try_from(store.clone()).context("configuring the store client")?,
        connect: Connect::from_config(store),
        work_dir: args.work_dir,
        resources: args.resources,
        attributes: parse_attributes(&args.attributes)?,
        docker_host: args.docker_host,
        listen: args.listen,
        advertise: args.advertise,
        gc_delay: args.sandbox_gc_delay,
        heartbeat_interval: args.heartbeat_interval,
        shim: shim_command()?,
        cpu_limit: if args.cgroups_enable_cfs {
            CpuLimit::Quota
        } else {
            CpuLimit::Shares
        },
    })
    .await
}

/// The command that starts the process executor's shim: this binary's `agent-exec`.
pub fn shim_command() -> anyhow::Result<Vec<OsString>> {
    let exe =
        std::env::current_exe().context("locating the strata binary for the process executor")?;
    Ok(vec![exe.into_os_string(), OsString::from("agent-exec")])
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

/// `rack:r1,zone:eu-1a` as a map.
pub fn parse_attributes(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut attributes = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once(':') else {
            bail!("--attributes: {pair:?} is not key:value (e.g. rack:r1,zone:eu-1a)");
        };
        attributes.insert(key.trim().to_string(), value.trim().to_string());
    }
    Ok(attributes)
}

#[derive(clap::Args)]
pub struct ExecArgs {
    /// The task's sandbox (its working directory).
    #[arg(long)]
    sandbox: PathBuf,
    /// cgroup directories to join (one per controller).
    #[arg(long = "cgroup")]
    cgroups: Vec<PathBuf>,
    #[arg(long, requires = "gid")]
    uid: Option<u32>,
    #[arg(long, requires = "uid")]
    gid: Option<u32>,
    /// The shell command to run.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

pub fn exec(args: ExecArgs) -> anyhow::Result<()> {
    let code = shim::run(ShimArgs {
        sandbox: args.sandbox,
        cgroups: args.cgroups,
        user: args.uid.zip(args.gid),
        command: args.command.join(" "),
    });
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes() {
        let attributes = parse_attributes("rack:r1, zone:eu-1a").unwrap();
        assert_eq!(attributes["zone"], "eu-1a");
        assert!(
            parse_attributes("rack")
                .unwrap_err()
                .to_string()
                .contains("key:value")
        );
    }
}
