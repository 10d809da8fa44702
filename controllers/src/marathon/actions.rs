//! The day-two actions on a Marathon app that a spec edit does not say: scale, suspend and
//! resume, restart, roll back, kill a task (and scale down with it), stop and resume launches.
//!
//! Why it exists: the CLI (`strata app ...`) and the web console both offer these, and they
//! must mean the same thing. Each is one small write to the App or one of its Tasks that the
//! Marathon controller then acts on (as `kubectl rollout restart` and `kubectl rollout undo` are
//! for Deployments); writes that could lose a concurrent change carry the resourceVersion they
//! read. These are client-side helpers run with the caller's own client: they never do the
//! controller's work (no task is launched, none is killed except the one named), and they
//! leave wording to their callers — errors say what failed, not how to phrase it.

use std::time::Duration;

use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use strata_api::labels::{self, KILL_FIRST};
use strata_api::{App, AppSpec, AppStatus, Rollout, Task};

/// Annotation on an App suspended by [`Actions::suspend`]: the instances it had, which
/// [`Actions::resume`] restores (Marathon's UI remembers them the same way).
pub const SUSPENDED_INSTANCES: &str = "strata.io/suspended-instances";

/// How often a write conditional on the App's resourceVersion is tried when the App keeps
/// changing.
const ATTEMPTS: u32 = 5;
/// The pause between two attempts.
const RETRY: Duration = Duration::from_millis(200);

/// Why an action did nothing (or not all of it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// An API call failed; `doing` says which ("scale down app default/web").
    #[error("cannot {doing}: {source}")]
    Api {
        doing: String,
        #[source]
        source: kube::Error,
    },
    /// The App does not exist.
    #[error("app {namespace}/{name} does not exist")]
    NoApp { namespace: String, name: String },
    /// The Task does not exist.
    #[error("task {namespace}/{name} does not exist")]
    NoTask { namespace: String, name: String },
    /// The App changed (someone else wrote it) every time the action tried; nothing changed.
    #[error("app {namespace}/{name} changed while {doing}")]
    AppChanged {
        namespace: String,
        name: String,
        doing: String,
    },
    /// Scaling down with a kill: the task belongs to no app (it has no strata.io/app label).
    #[error("task {namespace}/{task} belongs to no app")]
    TaskWithoutApp { namespace: String, task: String },
    /// Scaling down with a kill: the app already runs no instances.
    #[error("app {namespace}/{app} already runs 0 instances")]
    NoInstances { namespace: String, app: String },
    /// Killing with scale-down: the app could not be scaled down (`source` says why), so the
    /// task was left running, unmarked.
    #[error("task {namespace}/{task} was not killed: {source}")]
    NotKilled {
        namespace: String,
        task: String,
        #[source]
        source: Box<ActionError>,
    },
    /// Stopping launches of an app the Marathon controller has given no version yet.
    #[error("app {namespace}/{app} has no version yet")]
    NoVersion { namespace: String, app: String },
}

impl ActionError {
    /// The API server's Status when the error is its answer.
    pub fn status(&self) -> Option<&kube::core::Status> {
        match self {
            ActionError::Api {
                source: kube::Error::Api(status),
                ..
            } => Some(status),
            _ => None,
        }
    }
}

/// Whether `e` is the API server's answer `code` (404, 409, ...).
pub fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// What [`Actions::kill`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Killed {
    /// The task was already being killed; nothing was done.
    AlreadyKilling,
    /// The task was deleted; its app (if any) replaces it.
    Replaced { app: Option<String> },
    /// The task was deleted and its app scaled down to `instances`.
    ScaledDown { app: String, instances: u32 },
}

/// What [`Actions::rollback`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolledBack {
    /// The app already has that revision's spec; nothing was written.
    Unchanged,
    /// The spec was written back, keeping `instances`.
    Restored { instances: u32 },
}

/// What [`Actions::stop_launches`] and [`Actions::resume_launches`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launches {
    /// Launches of `version` are now stopped.
    Stopped { version: String },
    /// They already were.
    AlreadyStopped { version: String },
    /// Launches resumed.
    Resumed,
    /// They were not stopped.
    NotStopped,
}

/// The Apps, Rollouts and Tasks of one namespace, written as one field manager.
pub struct Actions {
    /// The namespace acted in.
    pub namespace: String,
    /// Its Apps.
    pub apps: Api<App>,
    /// Its Rollouts.
    pub rollouts: Api<Rollout>,
    /// Its Tasks.
    pub tasks: Api<Task>,
    manager: String,
}

impl Actions {
    /// Actions in `namespace` with `client`, writing as field manager `manager`
    /// ("strata-app" for the CLI, "strata-console" for the console).
    pub fn new(client: Client, namespace: &str, manager: &str) -> Actions {
        Actions {
            namespace: namespace.to_string(),
            apps: Api::namespaced(client.clone(), namespace),
            rollouts: Api::namespaced(client.clone(), namespace),
            tasks: Api::namespaced(client, namespace),
            manager: manager.to_string(),
        }
    }

    /// How the actions patch: as their field manager.
    pub fn patch_params(&self) -> PatchParams {
        PatchParams {
            field_manager: Some(self.manager.clone()),
            ..PatchParams::default()
        }
    }

    /// How the actions replace: as their field manager.
    pub fn post_params(&self) -> PostParams {
        PostParams {
            field_manager: Some(self.manager.clone()),
            ..PostParams::default()
        }
    }

    fn api_error(&self, doing: impl std::fmt::Display, source: kube::Error) -> ActionError {
        ActionError::Api {
            doing: doing.to_string(),
            source,
        }
    }

    fn no_app(&self, name: &str) -> ActionError {
        ActionError::NoApp {
            namespace: self.namespace.clone(),
            name: name.to_string(),
        }
    }

    fn app_changed(&self, name: &str, doing: &str) -> ActionError {
        ActionError::AppChanged {
            namespace: self.namespace.clone(),
            name: name.to_string(),
            doing: doing.to_string(),
        }
    }

    /// The App `name`.
    pub async fn app(&self, name: &str) -> Result<App, ActionError> {
        self.apps
            .get_opt(name)
            .await
            .map_err(|e| self.api_error(format_args!("read app {}/{name}", self.namespace), e))?
            .ok_or_else(|| self.no_app(name))
    }

    /// The Task `name`.
    pub async fn task(&self, name: &str) -> Result<Task, ActionError> {
        self.tasks
            .get_opt(name)
            .await
            .map_err(|e| self.api_error(format_args!("read task {}/{name}", self.namespace), e))?
            .ok_or_else(|| ActionError::NoTask {
                namespace: self.namespace.clone(),
                name: name.to_string(),
            })
    }

    /// Sets the annotation `key` of the App `name` to `value` (null removes it); `doing` says
    /// what for in an error ("restart").
    pub async fn annotate(
        &self,
        name: &str,
        key: &str,
        value: Value,
        doing: &str,
    ) -> Result<(), ActionError> {
        let patch = json!({"metadata": {"annotations": {key: value}}});
        self.apps
            .patch(name, &self.patch_params(), &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                if is_status(&e, 404) {
                    self.no_app(name)
                } else {
                    self.api_error(format_args!("{doing} app {}/{name}", self.namespace), e)
                }
            })?;
        Ok(())
    }

    /// Restarts every instance of app `name` within its upgrade strategy: a new token in its
    /// `strata.io/restart` annotation, which the Marathon controller rolls out as a new
    /// version. Returns the token.
    pub async fn restart(&self, name: &str) -> Result<String, ActionError> {
        let token = jiff::Timestamp::now().to_string();
        self.annotate(name, labels::RESTART, json!(token), "restart")
            .await?;
        Ok(token)
    }

    /// Sets app `name`'s instances (a merge patch of `spec.instances`, what the scale
    /// subresource does).
    pub async fn scale(&self, name: &str, instances: u32) -> Result<(), ActionError> {
        let patch = json!({"spec": {"instances": instances}});
        self.apps
            .patch(name, &self.patch_params(), &Patch::Merge(&patch))
            .await
            .map_err(|e| match e {
                e if is_status(&e, 404) => self.no_app(name),
                e => self.api_error(format_args!("scale app {}/{name}", self.namespace), e),
            })?;
        Ok(())
    }

    /// Suspends app `name` as Marathon's UI does: instances to 0, remembering the count in
    /// the [`SUSPENDED_INSTANCES`] annotation for [`Actions::resume`]. Returns the count
    /// remembered. An app already at 0 keeps what it remembered.
    pub async fn suspend(&self, name: &str) -> Result<u32, ActionError> {
        self.conditional_app_patch(name, "suspend", |app| {
            let instances = app.spec.instances;
            if instances == 0 {
                return Ok(None);
            }
            Ok(Some((
                json!({
                    "metadata": {"annotations": {SUSPENDED_INSTANCES: instances.to_string()}},
                    "spec": {"instances": 0},
                }),
                instances,
            )))
        })
        .await
        .map(|remembered| remembered.unwrap_or(0))
    }

    /// Resumes app `name` suspended by [`Actions::suspend`]: instances back to the count
    /// remembered, or 1 when none is. Returns the instances it now runs. An app that is not
    /// suspended (instances above 0) is left as it is.
    pub async fn resume(&self, name: &str) -> Result<u32, ActionError> {
        self.conditional_app_patch(name, "resume", |app| {
            if app.spec.instances > 0 {
                return Ok(None);
            }
            let instances = app
                .annotations()
                .get(SUSPENDED_INSTANCES)
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(1);
            Ok(Some((
                json!({
                    "metadata": {"annotations": {SUSPENDED_INSTANCES: null}},
                    "spec": {"instances": instances},
                }),
                instances,
            )))
        })
        .await
        .map(|instances| instances.unwrap_or(0))
    }

    /// Reads app `name`, asks `build` for a merge patch (None: nothing to do) and applies it
    /// conditional on the resourceVersion read; retried when the app changed in between.
    /// `verb` names the write in errors ("scale down").
    async fn conditional_app_patch<T>(
        &self,
        name: &str,
        verb: &str,
        build: impl Fn(&App) -> Result<Option<(Value, T)>, ActionError>,
    ) -> Result<Option<T>, ActionError> {
        let mut attempt = 1;
        loop {
            let current = self.app(name).await?;
            let Some((mut patch, result)) = build(&current)? else {
                return Ok(None);
            };
            patch["metadata"]["resourceVersion"] = json!(current.resource_version());
            match self
                .apps
                .patch(name, &self.patch_params(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(Some(result)),
                Err(e) if is_status(&e, 409) && attempt < ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(RETRY).await;
                }
                Err(e) if is_status(&e, 409) => {
                    let doing = format!("it was being {} ({ATTEMPTS} tries)", participle(verb));
                    return Err(self.app_changed(name, &doing));
                }
                Err(e) if is_status(&e, 404) => return Err(self.no_app(name)),
                Err(e) => {
                    return Err(
                        self.api_error(format_args!("{verb} app {}/{name}", self.namespace), e)
                    );
                }
            }
        }
    }

    /// The rollouts of app `app` (its version history), by revision.
    pub async fn history(&self, app: &str) -> Result<Vec<Rollout>, ActionError> {
        let doing = || format!("list the rollouts of app {}/{app}", self.namespace);
        let by_field = ListParams::default().fields(&format!("spec.app={app}"));
        let listed = match self.rollouts.list(&by_field).await {
            Ok(list) => list.items,
            // spec.app is a declared selectable field, which API servers before Kubernetes
            // 1.31 refuse to select on: list the namespace's rollouts instead.
            Err(e) if is_status(&e, 400) => {
                self.rollouts
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| self.api_error(doing(), e))?
                    .items
            }
            Err(e) => return Err(self.api_error(doing(), e)),
        };
        Ok(history_of(listed, app))
    }

    /// Writes back the spec `rollout` rolled out to `app` (read just before), keeping its
    /// instances, conditional on the resourceVersion read.
    pub async fn rollback(&self, app: &App, rollout: &Rollout) -> Result<RolledBack, ActionError> {
        let name = app.name_any();
        let spec = restored(app, rollout);
        if spec == app.spec {
            return Ok(RolledBack::Unchanged);
        }
        let instances = spec.instances;
        let mut updated = App {
            metadata: app.metadata.clone(),
            spec,
            status: None,
        };
        // Unset managedFields keep the stored ones; the resourceVersion read is the
        // precondition.
        updated.metadata.managed_fields = None;
        self.apps
            .replace(&name, &self.post_params(), &updated)
            .await
            .map_err(|e| match e {
                e if is_status(&e, 409) => self.app_changed(&name, "it was being rolled back"),
                e if is_status(&e, 404) => self.no_app(&name),
                e => self.api_error(format_args!("roll back app {}/{name}", self.namespace), e),
            })?;
        Ok(RolledBack::Restored { instances })
    }

    /// Kills task `name`: its app replaces it, or with `scale_down` the task is first marked
    /// kill-first (so the Marathon controller picks this one and no other), the app's
    /// instances drop by one (conditional on its resourceVersion), then the task is deleted.
    pub async fn kill(&self, name: &str, scale_down: bool) -> Result<Killed, ActionError> {
        let task = self.task(name).await?;
        let app = task.labels().get(labels::APP).cloned();
        if !scale_down {
            if task.metadata.deletion_timestamp.is_some() {
                return Ok(Killed::AlreadyKilling);
            }
            self.delete_task(name).await?;
            return Ok(Killed::Replaced { app });
        }
        let Some(app) = app else {
            return Err(ActionError::TaskWithoutApp {
                namespace: self.namespace.clone(),
                task: name.to_string(),
            });
        };
        self.mark_kill_first(name, json!("true")).await?;
        let scaled = self
            .conditional_app_patch(&app, "scale down", |current| {
                let instances = current.spec.instances;
                if instances == 0 {
                    return Err(ActionError::NoInstances {
                        namespace: self.namespace.clone(),
                        app: app.clone(),
                    });
                }
                Ok(Some((
                    json!({"spec": {"instances": instances - 1}}),
                    instances - 1,
                )))
            })
            .await;
        let instances = match scaled {
            Ok(instances) => instances.unwrap_or(0),
            Err(e) => {
                // Leave the task as it was: unmarked and running.
                let _ = self.mark_kill_first(name, Value::Null).await;
                return Err(ActionError::NotKilled {
                    namespace: self.namespace.clone(),
                    task: name.to_string(),
                    source: Box::new(e),
                });
            }
        };
        self.delete_task(name).await?;
        Ok(Killed::ScaledDown { app, instances })
    }

    /// Sets (or with null removes) the kill-first annotation of task `name`.
    async fn mark_kill_first(&self, name: &str, value: Value) -> Result<(), ActionError> {
        let patch = json!({"metadata": {"annotations": {KILL_FIRST: value}}});
        self.tasks
            .patch(name, &self.patch_params(), &Patch::Merge(&patch))
            .await
            .map_err(|e| self.api_error(format_args!("mark task {}/{name}", self.namespace), e))?;
        Ok(())
    }

    /// Deletes task `name`; one already gone counts as killed.
    async fn delete_task(&self, name: &str) -> Result<(), ActionError> {
        match self.tasks.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(self.api_error(format_args!("kill task {}/{name}", self.namespace), e)),
        }
    }

    /// Stops relaunching app `name`'s current version (its `strata.io/launches-stopped`
    /// annotation, read by the Marathon controller).
    pub async fn stop_launches(&self, name: &str) -> Result<Launches, ActionError> {
        let app = self.app(name).await?;
        let Some(version) = app.status.as_ref().and_then(|s| s.version.clone()) else {
            return Err(ActionError::NoVersion {
                namespace: self.namespace.clone(),
                app: name.to_string(),
            });
        };
        if app.annotations().get(labels::LAUNCHES_STOPPED) == Some(&version) {
            return Ok(Launches::AlreadyStopped { version });
        }
        self.annotate(
            name,
            labels::LAUNCHES_STOPPED,
            json!(version),
            "stop the launches of",
        )
        .await?;
        Ok(Launches::Stopped { version })
    }

    /// Relaunches app `name`'s instances after [`Actions::stop_launches`].
    pub async fn resume_launches(&self, name: &str) -> Result<Launches, ActionError> {
        let app = self.app(name).await?;
        if !app.annotations().contains_key(labels::LAUNCHES_STOPPED) {
            return Ok(Launches::NotStopped);
        }
        // A merge patch with null removes the annotation.
        self.annotate(
            name,
            labels::LAUNCHES_STOPPED,
            Value::Null,
            "resume the launches of",
        )
        .await?;
        Ok(Launches::Resumed)
    }
}

/// "scaled down" for "scale down": what the app "was being" when it changed under a write.
fn participle(verb: &str) -> String {
    match verb.split_once(' ') {
        Some((first, rest)) => format!("{} {rest}", participle(first)),
        None if verb.ends_with('e') => format!("{verb}d"),
        None => format!("{verb}ed"),
    }
}

/// The rollouts of `app` among `rollouts`, by revision.
pub fn history_of(rollouts: Vec<Rollout>, app: &str) -> Vec<Rollout> {
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

/// The spec a rollback to `rollout` gives `app`: the rollout's target with the app's current
/// instances (a rollback changes what runs, not how many).
pub fn restored(app: &App, rollout: &Rollout) -> AppSpec {
    let mut spec = rollout.spec.target.clone();
    spec.instances = app.spec.instances;
    spec
}

/// Why no revision can be rolled back to.
#[derive(Debug, PartialEq, Eq)]
pub enum NoRevision {
    /// The app has no rollouts at all.
    NoHistory,
    /// The revision asked for is not among the app's rollouts.
    Missing(u64),
    /// The Marathon controller has not reported the app's current version.
    NoCurrentVersion,
    /// No revision before the current one has another version.
    NoPreviousVersion { revision: u64, version: String },
}

/// The rollout to go back to: revision `to_revision`, or by default the newest one older than
/// the app's current revision whose version differs from the current version.
pub fn choose_rollback<'a>(
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

/// Rollouts made up for tests (of this module and of its callers).
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
                generation: i64::try_from(revision).unwrap_or(i64::MAX),
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
    fn history_is_the_apps_rollouts_by_revision() {
        let history = history_of(
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

    #[test]
    fn default_rollback_is_the_newest_earlier_revision_of_another_version() {
        let h = history();
        let chosen = choose_rollback(&h, Some(&status(4, "b")), None).unwrap();
        assert_eq!(chosen.spec.revision, 1);
        // After rolling back to a (revision 5), the previous version is b again, at 4.
        let mut h = h;
        h.push(rollout("web", 5, "a", "one"));
        let chosen = choose_rollback(&h, Some(&status(5, "a")), None).unwrap();
        assert_eq!(chosen.spec.revision, 4);
    }

    #[test]
    fn explicit_revision_or_missing() {
        let h = history();
        assert_eq!(choose_rollback(&h, None, Some(2)).unwrap().spec.revision, 2);
        assert_eq!(
            choose_rollback(&h, None, Some(9)).unwrap_err(),
            NoRevision::Missing(9)
        );
    }

    #[test]
    fn no_previous_version_no_status_no_history() {
        let one = vec![rollout("web", 1, "a", "one")];
        assert_eq!(
            choose_rollback(&one, Some(&status(1, "a")), None).unwrap_err(),
            NoRevision::NoPreviousVersion {
                revision: 1,
                version: "a".into()
            }
        );
        assert_eq!(
            choose_rollback(&one, None, None).unwrap_err(),
            NoRevision::NoCurrentVersion
        );
        assert_eq!(
            choose_rollback(&[], None, Some(1)).unwrap_err(),
            NoRevision::NoHistory
        );
    }

    #[test]
    fn participles() {
        assert_eq!(participle("scale down"), "scaled down");
        assert_eq!(participle("suspend"), "suspended");
        assert_eq!(participle("resume"), "resumed");
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
