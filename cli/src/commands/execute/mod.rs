//! `strata execute`: runs one command (or container) on the cluster and follows it to its
//! end, as Mesos' `mesos-execute` does.
//!
//! Why it exists: the quickest way to run something on strata, and a worked example of a
//! framework. It registers a one-shot Framework (`execute-NAME-xxxxx`, with its heartbeat
//! Lease), takes the first offer that fits `--resources`, launches the Task `NAME-xxxxx`
//! against it, prints each state change on stderr and copies the task's stdout to its own,
//! then exits with the task's exit code (1 for an end other than Finished or Failed, 130
//! when interrupted). Framework and Lease are deleted on the way out, Ctrl-C included; the
//! Task is kept, as Mesos keeps completed tasks visible: `kubectl get task NAME-xxxxx`,
//! `strata logs NAME-xxxxx`.

mod follow;
mod framework;
mod launch;
mod signals;

use std::io::Write;
use std::time::Duration;

use kube::Api;
use strata_api::resources::Resources;

use super::store_client::StoreArgs;
use follow::Follow;
use launch::{Launch, What};
use signals::Interrupts;

#[derive(clap::Args)]
pub struct Args {
    /// Name of the task; the Task is named NAME-xxxxx and its framework execute-NAME-xxxxx,
    /// so that runs do not collide.
    #[arg(long)]
    name: String,
    /// What to run: a shell command line (see --shell). With --docker-image and no command,
    /// the image's own command runs.
    #[arg(long)]
    command: Option<String>,
    /// Run --command with `sh -c`. With --shell=false its words (split at spaces, no quoting)
    /// are a program and its arguments: run as they are, nothing expanded (a process task
    /// `exec`s them); with --docker-image they become the container's command, given to the
    /// image's entrypoint.
    #[arg(
        long,
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    shell: bool,
    /// Environment of the task: a JSON object as mesos-execute takes it ('{"K":"V"}'), or
    /// K=V; may be repeated.
    #[arg(long)]
    env: Vec<String>,
    /// Resources of the task, in Mesos' form; ports given here are the task's ports
    /// (PORT0, ...).
    #[arg(long, default_value = "cpus:1;mem:128")]
    resources: Resources,
    /// Run the task as a Docker container of this image; --command becomes its command.
    #[arg(long)]
    docker_image: Option<String>,
    /// Role whose resources the framework is offered.
    #[arg(long, default_value = "*")]
    role: String,
    /// Kill the task this long after it started running, e.g. 30s or 10m.
    #[arg(long, value_parser = super::duration::parse)]
    kill_after: Option<Duration>,
    /// Register the framework as partition-aware: tasks on an unreachable agent are reported
    /// Unreachable (and followed further) rather than Lost.
    #[arg(long)]
    partition_aware: bool,
    /// How long to wait for an offer that fits.
    #[arg(long, default_value = "60s", value_parser = super::duration::parse)]
    timeout: Duration,
    /// Namespace of the framework and the task.
    #[arg(short, long, default_value = "default")]
    namespace: String,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let code = rt.block_on(execute(args))?;
    drop(rt);
    std::io::stdout().flush()?;
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

/// Registers, runs the task, deregisters; the exit code.
async fn execute(args: Args) -> anyhow::Result<i32> {
    framework::check_name(&args.name)?;
    let launch = Launch::new(
        args.resources.clone(),
        &What {
            command: args.command.as_deref(),
            shell: args.shell,
            docker_image: args.docker_image.as_deref(),
            env: &args.env,
        },
    )?;
    let mut interrupts = Interrupts::listen()?;
    let client = kube::Client::try_from(args.store.config().await?)?;
    let registered = framework::register(
        client.clone(),
        &args.namespace,
        &args.name,
        &args.role,
        args.partition_aware,
    )
    .await?;
    eprintln!(
        "Subscribed with framework {}/{} (role {})",
        args.namespace, registered.name, args.role
    );
    let ran = async {
        eprintln!("Waiting for an offer that fits {}...", args.resources);
        let offer = registered
            .first_fitting_offer(&launch.resources, args.timeout, &mut interrupts)
            .await?;
        let Some(offer) = offer else {
            eprintln!("Interrupted before the task was launched");
            return Ok(follow::INTERRUPTED);
        };
        // The framework's generated name without its prefix: NAME-xxxxx.
        let task = registered
            .name
            .strip_prefix("execute-")
            .unwrap_or(&registered.name)
            .to_string();
        let follow = Follow {
            tasks: Api::namespaced(client, &args.namespace),
            namespace: args.namespace.clone(),
            name: task.clone(),
            token: args.store.token()?,
            kill_after: args.kill_after,
        };
        let events = follow.watch().await?;
        registered.launch(&launch, &task, &offer).await?;
        eprintln!("Submitted task '{task}' to agent '{}'", offer.spec.agent);
        anyhow::Ok(follow.run(events, &mut interrupts).await)
    }
    .await;
    registered.deregister().await;
    ran
}
