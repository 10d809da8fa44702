//! `strata`: one binary whose subcommands wire the libraries. Logic lives in the libraries.

mod commands;

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
    /// Run the embedded Kubernetes-compatible API server.
    Server(commands::server::Args),
    /// Print strata's CustomResourceDefinitions as YAML (or write one file per CRD).
    Crds(commands::crds::Args),
    /// Measure the store: durable writes, watch fan-out, large lists, memory.
    Bench(commands::bench::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Server(args) => commands::server::run(args),
        Command::Crds(args) => commands::crds::run(args),
        Command::Bench(args) => commands::bench::run(args),
    }
}
