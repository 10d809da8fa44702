//! `strata up`: all of strata in one process on one machine — the store, the controllers, a
//! local agent and the web console — as the seed's four containers (ZooKeeper, a Mesos master,
//! Marathon, a Mesos agent) were.
//!
//! Why it exists: one command on a fresh machine. Every component is the same code the
//! separate subcommands run; here their clients reach the store through its router in this
//! process (no TLS, no socket), with the same authentication and authorization. Stopping
//! (Ctrl-C, SIGTERM) leaves tasks running as the agent's recovery expects — process tasks run
//! under their own shims, containers in the Docker engine — so the next `strata up` on the same
//! data directory adopts them instead of launching them again.

use std::net::SocketAddr;

use anyhow::Context;
use strata_agent::cgroups::CpuLimit;
use strata_agent::connect::Connect;
use strata_agent::daemon::{self, AgentConfig};
use strata_api::resources::Resources;

use super::{agent, controllers, server};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    api: server::ApiFlags,
    /// Address of the web console (HTTP; the seed's Marathon was at localhost:8080).
    #[arg(long, default_value = "127.0.0.1:8080")]
    console_listen: SocketAddr,
    /// The local agent's name (default: this machine's hostname).
    #[arg(long)]
    agent_name: Option<String>,
    /// Resources the local agent offers, in Mesos' form `cpus:4;mem:8192;ports:[31000-32000]`
    /// (default: detected from the machine, minus a reserve).
    #[arg(long)]
    resources: Option<Resources>,
    /// The local agent's attributes for placement constraints: `rack:r1,zone:eu-1a`.
    #[arg(long, default_value = "")]
    attributes: String,
    /// Address of the local agent's sandbox service (task stdout/stderr).
    #[arg(long, default_value = "127.0.0.1:5051")]
    sandbox_listen: SocketAddr,
    /// Run no local agent (agents join with `strata agent`).
    #[arg(long)]
    no_agent: bool,
    #[command(flatten)]
    controllers: controllers::Flags,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(up(args))
}

async fn up(args: Args) -> anyhow::Result<()> {
    let settings = args.controllers.settings()?;
    let api = server::listen(&args.api).await?;
    let connect = Connect::over_router(strata_store::http::router(api.server.clone()));
    let admin = connect.client(api.server.auth.admin_token())?;
    let console = tokio::net::TcpListener::bind(args.console_listen)
        .await
        .with_context(|| {
            format!(
                "cannot serve the console on {}: is another strata (or Marathon) running there? \
                 (choose another address with --console-listen)",
                args.console_listen
            )
        })?;
    let console_url = format!("http://{}", console.local_addr()?);
    let agent = if args.no_agent {
        None
    } else {
        let hostname = agent::hostname();
        let name = args.agent_name.clone().unwrap_or_else(|| hostname.clone());
        Some(
            daemon::start(AgentConfig {
                name,
                hostname,
                client: admin.clone(),
                connect: connect.clone(),
                work_dir: args.api.data_dir.join("agent"),
                resources: args.resources.clone(),
                attributes: agent::parse_attributes(&args.attributes)?,
                docker_host: None,
                listen: args.sandbox_listen,
                advertise: None,
                gc_delay: std::time::Duration::from_secs(7 * 24 * 3600),
                shim: agent::shim_command()?,
                cpu_limit: CpuLimit::Shares,
                heartbeat_interval: std::time::Duration::from_secs(10),
            })
            .await?,
        )
    };
    print_next_steps(&args, &api, &console_url, agent.as_ref());
    let agent_runs = async {
        match agent {
            Some(agent) => agent.run().await,
            None => std::future::pending().await,
        }
    };
    let console_serves = axum::serve(console, strata_console::router(connect));
    tokio::select! {
        () = api.serve(server::shutdown()) => {}
        ran = controllers::run_with(admin, args.controllers, settings) => ran?,
        () = agent_runs => {}
        served = console_serves => served.context("serving the console")?,
    }
    tracing::info!("stopped; the next `strata up` on this data directory resumes everything");
    Ok(())
}

fn print_next_steps(
    args: &Args,
    api: &server::Listening,
    console_url: &str,
    agent: Option<&daemon::Started>,
) {
    let data_dir = args.api.data_dir.display();
    println!("strata is up (data in {data_dir})");
    println!("  API       {}", api.url);
    println!("  console   {console_url}  (sign in with the admin token in {data_dir}/admin.token)");
    match agent {
        Some(agent) => {
            println!(
                "  agent     offers {} at {}",
                agent.resources, agent.endpoint
            );
            match &agent.docker_unavailable {
                None => println!("  docker    available: apps with a container run in Docker"),
                Some(why) => println!(
                    "  docker    NOT available ({why}): only apps without a container run \
                     (start Docker and run strata up again)"
                ),
            }
        }
        None => println!("  agent     none (--no-agent): join agents with `strata agent`"),
    }
    println!();
    println!("Next:");
    println!("  export KUBECONFIG={}", api.kubeconfig.display());
    println!("  kubectl apply -f manifests/examples/   # the seed's Marathon apps");
    println!("  kubectl get apps                       # or open {console_url}");
    println!("Ctrl-C stops strata; tasks keep running and the next `strata up` adopts them.");
}
