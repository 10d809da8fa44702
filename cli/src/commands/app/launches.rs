//! `strata app stop NAME` and `strata app resume NAME`: stop relaunching a crash-looping
//! version, and start again.
//!
//! Why it exists: a version that fails at once is relaunched after a growing delay, forever;
//! Marathon lets the user stop that. Here it is the App's `strata.io/launches-stopped`
//! annotation, holding the version whose launches stop (so a new version launches again by
//! itself), written by [`Actions::stop_launches`] and removed by
//! [`Actions::resume_launches`]; the Marathon controller reads it.
//!
//! [`Actions::stop_launches`]: strata_controllers::marathon::actions::Actions::stop_launches
//! [`Actions::resume_launches`]: strata_controllers::marathon::actions::Actions::resume_launches

use strata_controllers::marathon::actions::Launches;

use super::scope::{AppArgs, explain_action};

pub async fn stop(args: AppArgs) -> anyhow::Result<()> {
    let actions = args.target.connect().await?;
    let name = &args.name;
    match actions.stop_launches(name).await.map_err(explain_action)? {
        Launches::AlreadyStopped { version } => {
            println!("app/{name}: launches of version {version} are already stopped");
        }
        Launches::Stopped { version } => println!(
            "app/{name}: launches of version {version} stopped (strata app resume {name} starts \
             them again)"
        ),
        Launches::Resumed | Launches::NotStopped => {}
    }
    Ok(())
}

pub async fn resume(args: AppArgs) -> anyhow::Result<()> {
    let actions = args.target.connect().await?;
    let name = &args.name;
    match actions
        .resume_launches(name)
        .await
        .map_err(explain_action)?
    {
        Launches::NotStopped => {
            println!("app/{name}: launches were not stopped; nothing to resume");
        }
        _ => println!("app/{name}: launches resumed"),
    }
    Ok(())
}
