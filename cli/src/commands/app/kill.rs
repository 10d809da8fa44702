//! `strata app kill TASK [--scale]`: kill one task of an app, and with `--scale` run one
//! instance fewer instead of replacing it (Marathon's kill with `scale=true`).
//!
//! Why it exists: a single bad instance is killed by name. Without `--scale` that is deleting
//! the Task (the agent kills it; the Marathon controller launches a replacement). With
//! `--scale` the task is first marked `strata.io/kill-first`, so that the Marathon controller
//! picks this task (and no other) when it sees the lower `instances`; then `instances` drops
//! by one, conditional on the App's resourceVersion so a concurrent scale is not lost; then the
//! task is deleted.

use std::time::Duration;

use anyhow::bail;
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch};
use serde_json::{Value, json};
use strata_api::labels;
use strata_api::labels::KILL_FIRST;

use super::scope::{Scope, Target, explain, is_status, patch_params};

/// How often scaling the app down is tried when its resourceVersion keeps changing.
const ATTEMPTS: u32 = 5;
/// The pause between two attempts.
const RETRY: Duration = Duration::from_millis(200);

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
    let scope = args.target.connect().await?;
    let name = &args.task;
    let task = scope.task(name).await?;
    let app = task.labels().get(labels::APP).cloned();
    if !args.scale {
        if task.metadata.deletion_timestamp.is_some() {
            println!("task/{name} is already being killed");
            return Ok(());
        }
        delete(&scope, name).await?;
        match app {
            Some(app) => println!("task/{name} killed; app/{app} replaces it"),
            None => println!("task/{name} killed"),
        }
        return Ok(());
    }
    let Some(app) = app else {
        bail!(
            "task {}/{name} belongs to no app (it has no {} label), so there is no app to \
             scale down: kill it without --scale",
            scope.namespace,
            labels::APP
        );
    };
    mark_kill_first(&scope, name, json!("true")).await?;
    let instances = match scale_down(&scope, &app).await {
        Ok(instances) => instances,
        Err(e) => {
            // Leave the task as it was: unmarked and running.
            let _ = mark_kill_first(&scope, name, Value::Null).await;
            return Err(e.context(format!("task {}/{name} was not killed", scope.namespace)));
        }
    };
    delete(&scope, name).await?;
    println!("task/{name} killed; app/{app} scaled down to {instances} instances");
    Ok(())
}

/// Sets (or with null removes) the kill-first annotation of task `name`.
async fn mark_kill_first(scope: &Scope, name: &str, value: Value) -> anyhow::Result<()> {
    let patch = json!({"metadata": {"annotations": {KILL_FIRST: value}}});
    scope
        .tasks
        .patch(name, &patch_params(), &Patch::Merge(&patch))
        .await
        .map_err(|e| explain(&format!("mark task {}/{name}", scope.namespace), e))?;
    Ok(())
}

/// Lowers app `app`'s instances by one, conditional on the resourceVersion read; retried when
/// the app changed in between. Returns the new number of instances.
async fn scale_down(scope: &Scope, app: &str) -> anyhow::Result<u32> {
    let mut attempt = 1;
    loop {
        let current = scope.app(app).await?;
        let instances = current.spec.instances;
        if instances == 0 {
            bail!(
                "app {}/{app} already runs 0 instances: kill the task without --scale",
                scope.namespace
            );
        }
        let patch = json!({
            "metadata": {"resourceVersion": current.resource_version()},
            "spec": {"instances": instances - 1},
        });
        match scope
            .apps
            .patch(app, &patch_params(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(instances - 1),
            Err(e) if is_status(&e, 409) && attempt < ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(RETRY).await;
            }
            Err(e) if is_status(&e, 409) => {
                let doing = format!("it was being scaled down ({ATTEMPTS} tries)");
                return Err(scope.app_changed(app, &doing));
            }
            Err(e) if is_status(&e, 404) => return Err(scope.no_app(app)),
            Err(e) => {
                let what = format!("scale down app {}/{app}", scope.namespace);
                return Err(explain(&what, e));
            }
        }
    }
}

/// Deletes task `name`; one already gone counts as killed.
async fn delete(scope: &Scope, name: &str) -> anyhow::Result<()> {
    match scope.tasks.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => Ok(()),
        Err(e) => Err(explain(&format!("kill task {}/{name}", scope.namespace), e)),
    }
}
