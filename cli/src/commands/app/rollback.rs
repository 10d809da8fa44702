//! `strata app rollback NAME [--to-revision N]`: the App's spec back to what an earlier rollout
//! rolled out, as `kubectl rollout undo` does for Deployments.
//!
//! Why it exists: every rollout holds the full spec it rolled out (`spec.target`), so the app's
//! rollouts are its version history, and going back is writing one of those specs again. The
//! current `instances` are kept (a rollback changes what runs, not how many), and the write is
//! conditional on the App's resourceVersion, so a change someone made meanwhile is never
//! silently overwritten. The Marathon controller then rolls the restored spec out as a new
//! revision.

use anyhow::anyhow;
use strata_api::{App, AppStatus, Rollout};

use super::rollouts;
use super::scope::{AppArgs, explain, is_status, post_params};

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
    let scope = args.app.target.connect().await?;
    let name = &args.app.name;
    let app = scope.app(name).await?;
    let history = rollouts::of_app(&scope, name).await?;
    let chosen = choose(&history, app.status.as_ref(), args.to_revision).map_err(|why| {
        anyhow!(
            "app {}/{name} {}",
            scope.namespace,
            why.explain(&history, name)
        )
    })?;
    let revision = chosen.spec.revision;
    let version = &chosen.spec.version;
    let spec = restored(&app, chosen);
    if spec == app.spec {
        println!(
            "app/{name} already has the spec of revision {revision} (version {version}); \
             nothing to change"
        );
        return Ok(());
    }
    let instances = spec.instances;
    let mut updated = App {
        metadata: app.metadata,
        spec,
        status: None,
    };
    // Unset managedFields keep the stored ones; the resourceVersion read is the precondition.
    updated.metadata.managed_fields = None;
    scope
        .apps
        .replace(name, &post_params(), &updated)
        .await
        .map_err(|e| match &e {
            e if is_status(e, 409) => scope.app_changed(name, "it was being rolled back"),
            e if is_status(e, 404) => scope.no_app(name),
            _ => explain(&format!("roll back app {}/{name}", scope.namespace), e),
        })?;
    println!(
        "app/{name} rolled back to revision {revision} (version {version}), keeping {instances} \
         instances"
    );
    Ok(())
}

/// The spec a rollback to `rollout` gives `app`: the rollout's target with the app's current
/// instances.
fn restored(app: &App, rollout: &Rollout) -> strata_api::AppSpec {
    let mut spec = rollout.spec.target.clone();
    spec.instances = app.spec.instances;
    spec
}

/// Why no revision can be rolled back to.
#[derive(Debug, PartialEq, Eq)]
enum NoRevision {
    /// The app has no rollouts at all.
    NoHistory,
    /// `--to-revision` names a revision the app has no rollout of.
    Missing(u64),
    /// The Marathon controller has not reported the app's current version.
    NoCurrentVersion,
    /// No revision before the current one has another version.
    NoPreviousVersion { revision: u64, version: String },
}

impl NoRevision {
    /// The rest of the sentence "app NS/NAME ...", with what to do about it.
    fn explain(&self, history: &[Rollout], name: &str) -> String {
        let available = rollouts::revisions(history);
        match self {
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
}

/// The rollout to go back to: revision `to_revision`, or by default the newest one older than
/// the app's current revision whose version differs from the current version.
fn choose<'a>(
    history: &'a [Rollout],
    status: Option<&AppStatus>,
    to_revision: Option<u64>,
) -> Result<&'a Rollout, NoRevision> {
    if history.is_empty() {
        return Err(NoRevision::NoHistory);
    }
    if let Some(wanted) = to_revision {
        return history
            .iter()
            .find(|r| r.spec.revision == wanted)
            .ok_or(NoRevision::Missing(wanted));
    }
    let Some((revision, version)) =
        status.and_then(|s| s.version.as_ref().map(|v| (s.revision, v)))
    else {
        return Err(NoRevision::NoCurrentVersion);
    };
    history
        .iter()
        .filter(|r| r.spec.revision < revision && r.spec.version != *version)
        .max_by_key(|r| r.spec.revision)
        .ok_or_else(|| NoRevision::NoPreviousVersion {
            revision,
            version: version.clone(),
        })
}

#[cfg(test)]
mod tests {
    use strata_api::AppSpec;

    use super::super::rollouts::fixtures::rollout;
    use super::*;

    fn status(revision: u64, version: &str) -> AppStatus {
        AppStatus {
            revision,
            version: Some(version.into()),
            ..AppStatus::default()
        }
    }

    fn history() -> Vec<Rollout> {
        // Revision 3 scaled version b (same version as 2); 4 restarted it.
        vec![
            rollout("web", 1, "a", "one"),
            rollout("web", 2, "b", "two"),
            rollout("web", 3, "b", "two"),
            rollout("web", 4, "b", "two"),
        ]
    }

    #[test]
    fn default_is_the_newest_earlier_revision_of_another_version() {
        let h = history();
        let chosen = choose(&h, Some(&status(4, "b")), None).unwrap();
        assert_eq!(chosen.spec.revision, 1);
        // After rolling back to a (revision 5), the previous version is b again, at 4.
        let mut h = h;
        h.push(rollout("web", 5, "a", "one"));
        let chosen = choose(&h, Some(&status(5, "a")), None).unwrap();
        assert_eq!(chosen.spec.revision, 4);
    }

    #[test]
    fn explicit_revision_or_the_list_of_revisions() {
        let h = history();
        assert_eq!(choose(&h, None, Some(2)).unwrap().spec.revision, 2);
        let err = choose(&h, None, Some(9)).unwrap_err();
        assert_eq!(err, NoRevision::Missing(9));
        let text = err.explain(&h, "web");
        assert!(text.contains("1, 2, 3, 4"), "{text}");
    }

    #[test]
    fn no_previous_version_no_status_no_history() {
        let one = vec![rollout("web", 1, "a", "one")];
        assert_eq!(
            choose(&one, Some(&status(1, "a")), None).unwrap_err(),
            NoRevision::NoPreviousVersion {
                revision: 1,
                version: "a".into()
            }
        );
        assert_eq!(
            choose(&one, None, None).unwrap_err(),
            NoRevision::NoCurrentVersion
        );
        assert_eq!(
            choose(&[], None, Some(1)).unwrap_err(),
            NoRevision::NoHistory
        );
    }

    #[test]
    fn restored_spec_keeps_the_current_instances() {
        let app = App::new(
            "web",
            AppSpec {
                cmd: Some("two".into()),
                instances: 7,
                ..AppSpec::default()
            },
        );
        let spec = restored(&app, &rollout("web", 1, "a", "one"));
        assert_eq!(spec.cmd.as_deref(), Some("one"));
        assert_eq!(spec.instances, 7);
    }
}
