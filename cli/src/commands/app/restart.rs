//! `strata app restart NAME`: a rolling restart, as `kubectl rollout restart` does it.
//!
//! Why it exists: restarting every instance of an unchanged app (to pick up a new image behind
//! the same tag, or to clear bad state) is Marathon's `/restart`. Here it is a new token in the
//! App's `strata.io/restart` annotation, which the Marathon controller treats as a new version
//! and rolls out within the upgrade strategy. This writes the annotation, nothing else.

use serde_json::json;
use strata_api::labels;

use super::scope::AppArgs;

pub async fn run(args: AppArgs) -> anyhow::Result<()> {
    let scope = args.target.connect().await?;
    let name = &args.name;
    let token = jiff::Timestamp::now().to_string();
    scope
        .annotate(name, labels::RESTART, json!(token), "restart")
        .await?;
    println!(
        "app/{name} restarting (follow the rollout: strata app versions {name} -n {ns}, or \
         kubectl get rollouts -n {ns} --field-selector spec.app={name})",
        ns = scope.namespace
    );
    Ok(())
}
