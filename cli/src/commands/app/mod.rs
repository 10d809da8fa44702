//! `strata app`: the day-two verbs of a Marathon app that a spec edit cannot say — restart,
//! roll back, stop and resume crash-looping launches, kill a task (and scale down with it), and
//! show the version history.
//!
//! Why it exists: Marathon users have these as buttons and REST calls (`/restart`, deploying an
//! earlier version, killing tasks with `scale=true`); on strata each is one small write to the
//! App or its Task that the Marathon controller then acts on, as `kubectl rollout restart` and
//! `kubectl rollout undo` are for Deployments. Every verb here is a thin client of the API: it
//! reads, writes one object (with a resourceVersion precondition where a concurrent change
//! could be lost) and says what it did. It never does the controller's work — no task is
//! launched, and none is killed except the one `strata app kill` names. The actions themselves
//! are `strata_controllers::marathon::actions`, shared with the web console; these modules
//! parse the flags and word the outcome.

mod kill;
mod launches;
mod restart;
mod rollback;
mod scope;
mod versions;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Restart every instance of app NAME, within its upgrade strategy (a rolling restart).
    Restart(scope::AppArgs),
    /// Bring app NAME back to the spec of an earlier revision, keeping its instances.
    Rollback(rollback::Args),
    /// Stop relaunching the app's current version (e.g. while it crash-loops).
    Stop(scope::AppArgs),
    /// Relaunch the app's instances again after `strata app stop`.
    Resume(scope::AppArgs),
    /// Kill task TASK: its app replaces it, or with --scale runs one instance fewer.
    Kill(kill::Args),
    /// List the revisions of app NAME (its rollouts), marking the current one with `*`.
    Versions(scope::AppArgs),
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match args.command {
            Command::Restart(a) => restart::run(a).await,
            Command::Rollback(a) => rollback::run(a).await,
            Command::Stop(a) => launches::stop(a).await,
            Command::Resume(a) => launches::resume(a).await,
            Command::Kill(a) => kill::run(a).await,
            Command::Versions(a) => versions::run(a).await,
        }
    })
}
