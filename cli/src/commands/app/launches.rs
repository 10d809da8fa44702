//! `strata app stop NAME` and `strata app resume NAME`: stop relaunching a crash-looping
//! version, and start again.
//!
//! Why it exists: a version that fails at once is relaunched after a growing delay, forever;
//! Marathon lets the user stop that. Here it is the App's `strata.io/launches-stopped`
//! annotation, holding the version whose launches stop (so a new version launches again by
//! itself); the Marathon controller reads it. These verbs write the annotation, nothing else.

use anyhow::bail;
use kube::ResourceExt;
use serde_json::{Value, json};
use strata_api::labels;

use super::scope::AppArgs;

pub async fn stop(args: AppArgs) -> anyhow::Result<()> {
    let scope = args.target.connect().await?;
    let name = &args.name;
    let app = scope.app(name).await?;
    let Some(version) = app.status.as_ref().and_then(|s| s.version.clone()) else {
        bail!(
            "app {}/{name} has no version yet: the Marathon controller has not seen the app \
             yet, so there are no launches to stop",
            scope.namespace
        );
    };
    if app.annotations().get(labels::LAUNCHES_STOPPED) == Some(&version) {
        println!("app/{name}: launches of version {version} are already stopped");
        return Ok(());
    }
    scope
        .annotate(
            name,
            labels::LAUNCHES_STOPPED,
            json!(version),
            "stop the launches of",
        )
        .await?;
    println!(
        "app/{name}: launches of version {version} stopped (strata app resume {name} starts \
         them again)"
    );
    Ok(())
}

pub async fn resume(args: AppArgs) -> anyhow::Result<()> {
    let scope = args.target.connect().await?;
    let name = &args.name;
    let app = scope.app(name).await?;
    if !app.annotations().contains_key(labels::LAUNCHES_STOPPED) {
        println!("app/{name}: launches were not stopped; nothing to resume");
        return Ok(());
    }
    // A merge patch with null removes the annotation.
    scope
        .annotate(
            name,
            labels::LAUNCHES_STOPPED,
            Value::Null,
            "resume the launches of",
        )
        .await?;
    println!("app/{name}: launches resumed");
    Ok(())
}
