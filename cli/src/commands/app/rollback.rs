//! `strata app rollback NAME [--to-revision N]`: the App's spec back to what an earlier rollout
//! rolled out, as `kubectl rollout undo` does for Deployments.
//!
//! Why it exists: every rollout holds the full spec it rolled out (`spec.target`), so the app's
//! rollouts are its version history, and going back is writing one of those specs again
//! ([`actions::choose_rollback`] picks the revision, [`Actions::rollback`] writes it, keeping
//! the current instances and conditional on the App's resourceVersion). The Marathon
//! controller then rolls the restored spec out as a new revision.
//!
//! [`Actions::rollback`]: strata_controllers::marathon::actions::Actions::rollback

use anyhow::anyhow;
use strata_api::Rollout;
use strata_controllers::marathon::actions::{self, NoRevision, RolledBack};

use super::scope::{AppArgs, explain_action};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    app: AppArgs,
    /// The revision to go back to (`strata app versions NAME` lists them); by default the
    /// newest earlier revision with a version other than the current one.
    #[arg(long)]
    to_revision: Option<u64>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let actions = args.app.target.connect().await?;
    let name = &args.app.name;
    let app = actions.app(name).await.map_err(explain_action)?;
    let history = actions.history(name).await.map_err(explain_action)?;
    let chosen = actions::choose_rollback(&history, app.status.as_ref(), args.to_revision)
        .map_err(|why| {
            anyhow!(
                "app {}/{name} {}",
                actions.namespace,
                explain(&why, &history, name)
            )
        })?;
    let revision = chosen.spec.revision;
    let version = &chosen.spec.version;
    match actions
        .rollback(&app, chosen)
        .await
        .map_err(explain_action)?
    {
        RolledBack::Unchanged => println!(
            "app/{name} already has the spec of revision {revision} (version {version}); \
             nothing to change"
        ),
        RolledBack::Restored { instances } => println!(
            "app/{name} rolled back to revision {revision} (version {version}), keeping \
             {instances} instances"
        ),
    }
    Ok(())
}

/// The rest of the sentence "app NS/NAME ..." for `why`, with what to do about it.
fn explain(why: &NoRevision, history: &[Rollout], name: &str) -> String {
    let available = actions::revisions(history);
    match why {
        NoRevision::NoHistory => "has no revisions to roll back to: it has no rollouts yet \
             (the Marathon controller makes one for every change)"
            .to_string(),
        NoRevision::Missing(wanted) => format!(
            "has no revision {wanted}: the revisions available are {available} \
             (strata app versions {name} lists them)"
        ),
        NoRevision::NoCurrentVersion => format!(
            "has no current version yet (the Marathon controller has not seen the app yet), \
             so there is no previous one: name a revision with --to-revision (the revisions \
             available are {available})"
        ),
        NoRevision::NoPreviousVersion { revision, version } => format!(
            "has no previous version to roll back to: no revision before the current one \
             ({revision}) has a version other than the current {version} (the revisions \
             available are {available})"
        ),
    }
}

#[cfg(test)]
mod tests {
    use strata_controllers::marathon::actions::fixtures::rollout;

    use super::*;

    #[test]
    fn a_missing_revision_lists_the_available_ones() {
        let history = vec![rollout("web", 1, "a", "one"), rollout("web", 2, "b", "two")];
        let text = explain(&NoRevision::Missing(9), &history, "web");
        assert!(text.contains("has no revision 9"), "{text}");
        assert!(text.contains("1, 2"), "{text}");
    }
}
