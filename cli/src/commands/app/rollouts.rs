//! An app's version history: its Rollouts (`<app>-<revision>`), oldest revision first.
//!
//! Why it exists: `rollback` picks a revision from it and `versions` prints it; both must see
//! the same list in the same order.

use kube::api::ListParams;
use strata_api::Rollout;

use super::scope::{Scope, explain, is_status};

/// The rollouts of app `app`, by revision.
pub async fn of_app(scope: &Scope, app: &str) -> anyhow::Result<Vec<Rollout>> {
    let what = || format!("list the rollouts of app {}/{app}", scope.namespace);
    let by_field = ListParams::default().fields(&format!("spec.app={app}"));
    let listed = match scope.rollouts.list(&by_field).await {
        Ok(list) => list.items,
        // spec.app is a declared selectable field, which API servers before Kubernetes 1.31
        // refuse to select on: list the namespace's rollouts instead.
        Err(e) if is_status(&e, 400) => {
            scope
                .rollouts
                .list(&ListParams::default())
                .await
                .map_err(|e| explain(&what(), e))?
                .items
        }
        Err(e) => return Err(explain(&what(), e)),
    };
    Ok(sorted(listed, app))
}

/// The rollouts of `app` among `rollouts`, by revision.
fn sorted(rollouts: Vec<Rollout>, app: &str) -> Vec<Rollout> {
    let mut mine: Vec<Rollout> = rollouts.into_iter().filter(|r| r.spec.app == app).collect();
    mine.sort_by_key(|r| r.spec.revision);
    mine
}

/// The revisions of `history` as a person reads them: "1, 2, 3".
pub fn revisions(history: &[Rollout]) -> String {
    history
        .iter()
        .map(|r| r.spec.revision.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
pub mod fixtures {
    use strata_api::rollout::{Change, RolloutSpec, rollout_name};
    use strata_api::{AppSpec, Rollout};

    /// A rollout of app `app` bringing `revision` with version `version`, whose target runs
    /// `cmd`.
    pub fn rollout(app: &str, revision: u64, version: &str, cmd: &str) -> Rollout {
        Rollout::new(
            &rollout_name(app, revision),
            RolloutSpec {
                app: app.into(),
                revision,
                change: if revision == 1 {
                    Change::Start
                } else {
                    Change::Upgrade
                },
                generation: revision as i64,
                version: version.into(),
                restart: None,
                from_version: None,
                target: AppSpec {
                    cmd: Some(cmd.into()),
                    ..AppSpec::default()
                },
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::rollout;
    use super::*;

    #[test]
    fn history_is_the_apps_rollouts_by_revision() {
        let history = sorted(
            vec![
                rollout("web", 10, "c", "c"),
                rollout("api", 1, "x", "x"),
                rollout("web", 2, "b", "b"),
                rollout("web", 1, "a", "a"),
            ],
            "web",
        );
        assert_eq!(revisions(&history), "1, 2, 10");
    }
}
