//! `strata`: one binary whose subcommands wire the libraries. Logic lives in the libraries.

mod commands;

/// The store, the controllers and the agent allocate and free many small objects per request
/// (JSON values, managed fields); mimalloc does that with less work than glibc's malloc
/// (`strata bench master`: see the README's figures). Built without its transparent huge pages:
/// each first touch of a huge page zeroed 2 MiB, and every process held 20-45 MiB more for the
/// same work (a quarter more CPU in the simulated agents, the same elsewhere within the noise).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "Mesos' two-level scheduling and Marathon's PaaS, the Kubernetes way"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run all of strata on this machine: the store, the controllers, a local agent and the
    /// web console (the API at https://127.0.0.1:6443, the console at http://127.0.0.1:8080).
    Up(commands::up::Args),
    /// Run the embedded Kubernetes-compatible API server.
    Server(commands::server::Args),
    /// Serve the web console for a strata API elsewhere (`strata up` serves its own).
    Console(commands::console::Args),
    /// Print strata's CustomResourceDefinitions as YAML (or write one file per CRD).
    Crds(commands::crds::Args),
    /// Measure strata: the store, the agent, the allocator, task launches and Marathon end to
    /// end.
    Bench(commands::bench::Args),
    /// Create agent NAME's ServiceAccount and role binding, and print a token for it.
    AgentToken(commands::agent_token::Args),
    /// Run the node agent: register, heartbeat, run the Tasks bound to this agent.
    Agent(Box<commands::agent::Args>),
    /// The process executor's shim, started by the agent for each process task.
    #[command(hide = true)]
    AgentExec(commands::agent::ExecArgs),
    /// Run the controllers (Mesos' master): the allocator, which offers agents' resources to
    /// frameworks and checks the tasks they launch, and the lifecycle of agents and frameworks.
    Controllers(commands::controllers::Args),
    /// Print a task's stdout (or stderr) from its agent's sandbox.
    Logs(commands::logs::Args),
    /// Run one command or container on the cluster and follow it to its end, as Mesos'
    /// mesos-execute does: a one-shot framework that launches it on the first offer that fits.
    Execute(commands::execute::Args),
    /// Act on a Marathon app: restart it, roll it back, stop or resume its launches, kill one
    /// of its tasks, list its versions.
    App(commands::app::Args),
    /// List the Marathon apps: ID, memory, cpus, tasks / instances, health and status.
    Apps(commands::apps::Args),
    /// Apply manifests (server-side apply) and, with --wait, follow each app's rollout to its
    /// end.
    Deploy(commands::deploy::Args),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    Completions(commands::completions::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The benchmarks run their store, controllers and agents at `warn`, in one process as in
    // their own, so that the operators' log of every task launched does not bury the figures.
    let default_filter = match cli.command {
        Command::Bench(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Up(args) => commands::up::run(args),
        Command::Server(args) => commands::server::run(args),
        Command::Console(args) => commands::console::run(args),
        Command::Crds(args) => commands::crds::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::AgentToken(args) => commands::agent_token::run(args),
        Command::Agent(args) => commands::agent::run(*args),
        Command::AgentExec(args) => commands::agent::exec(args),
        Command::Controllers(args) => commands::controllers::run(args),
        Command::Logs(args) => commands::logs::run(args),
        Command::Execute(args) => commands::execute::run(args),
        Command::App(args) => commands::app::run(args),
        Command::Apps(args) => commands::apps::run(args),
        Command::Deploy(args) => commands::deploy::run(args),
        Command::Completions(args) => commands::completions::run(args),
    }
}
