//! `strata app restart NAME`: a rolling restart, as `kubectl rollout restart` does it.
//!
//! Why it exists: restarting every instance of an unchanged app (to pick up a new image behind
//! the same tag, or to clear bad state) is Marathon's `/restart`. Here it is a new token in the
//! App's `strata.io/restart` annotation, which the Marathon controller treats as a new version
//! and rolls out within the upgrade strategy. This writes the annotation, nothing else.

use kube::api::Patch;
use serde_json::json;
use strata_api::labels;

use super::scope::{Target, explain, is_status, patch_params};

#[derive(clap::Args)]
pub struct Args {
    /// The App's name.
    name: String,
    #[command(flatten)]
    target: Target,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let scope = args.target.connect().await?;
    let name = &args.name;
    let token = jiff::Timestamp::now().to_string();
    let patch = json!({"metadata": {"annotations": {labels::RESTART: token}}});
    scope
        .apps
        .patch(name, &patch_params(), &Patch::Merge(&patch))
        .await
        .map_err(|e| {
            if is_status(&e, 404) {
                scope.no_app(name)
            } else {
                explain(&format!("restart app {}/{name}", scope.namespace), e)
            }
        })?;
    println!(
        "app/{name} restarting (follow the rollout: strata app versions {name} -n {ns}, or \
         kubectl get rollouts -n {ns} --field-selector spec.app={name})",
        ns = scope.namespace
    );
    Ok(())
}
