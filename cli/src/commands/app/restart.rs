//! `strata app restart NAME`: a rolling restart, as `kubectl rollout restart` does it.
//!
//! Why it exists: restarting every instance of an unchanged app (to pick up a new image behind
//! the same tag, or to clear bad state) is Marathon's `/restart`. Here it is a new token in the
//! App's `strata.io/restart` annotation ([`Actions::restart`]), which the Marathon controller
//! treats as a new version and rolls out within the upgrade strategy.
//!
//! [`Actions::restart`]: strata_controllers::marathon::actions::Actions::restart

use super::scope::{AppArgs, explain_action};

pub async fn run(args: AppArgs) -> anyhow::Result<()> {
    let actions = args.target.connect().await?;
    let name = &args.name;
    actions.restart(name).await.map_err(explain_action)?;
    println!(
        "app/{name} restarting (follow the rollout: strata app versions {name} -n {ns}, or \
         kubectl get rollouts -n {ns} --field-selector spec.app={name})",
        ns = actions.namespace
    );
    Ok(())
}
