//! `strata app kill TASK [--scale]`: kill one task of an app, and with `--scale` run one
//! instance fewer instead of replacing it (Marathon's kill with `scale=true`).
//!
//! Why it exists: a single bad instance is killed by name. [`Actions::kill`] does it: without
//! `--scale` it deletes the Task (the agent kills it; the Marathon controller launches a
//! replacement); with `--scale` it marks the task kill-first, lowers the app's `instances` by
//! one (conditional on its resourceVersion), then deletes the task.
//!
//! [`Actions::kill`]: strata_controllers::marathon::actions::Actions::kill

use strata_controllers::marathon::actions::Killed;

use super::scope::{Target, explain_action};

#[derive(clap::Args)]
pub struct Args {
    /// The Task's name.
    task: String,
    /// Run one instance fewer instead of replacing the task: the task's app (its
    /// strata.io/app label) is scaled down by one.
    #[arg(long)]
    scale: bool,
    #[command(flatten)]
    target: Target,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let actions = args.target.connect().await?;
    let name = &args.task;
    match actions
        .kill(name, args.scale)
        .await
        .map_err(explain_action)?
    {
        Killed::AlreadyKilling => println!("task/{name} is already being killed"),
        Killed::Replaced { app: Some(app) } => {
            println!("task/{name} killed; app/{app} replaces it");
        }
        Killed::Replaced { app: None } => println!("task/{name} killed"),
        Killed::ScaledDown { app, instances } => {
            println!("task/{name} killed; app/{app} scaled down to {instances} instances");
        }
    }
    Ok(())
}
