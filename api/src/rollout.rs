//! Rollout: one change of an App (Marathon's "deployment"), with its plan and its progress.
//!
//! Why it exists: Marathon users watch deployments — what is changing, how far it got, why it
//! waits — and roll back to a previous version. Every change of an App's spec (and every
//! restart) gets a Rollout named `<app>-<revision>`, owned by the App, holding the spec it
//! rolls out to. So the rollouts are also the app's bounded version history: a rollback applies
//! an earlier rollout's target (`strata app rollback`). A newer change supersedes the rollout
//! in progress (Marathon's `force=true`; never a lock that only a restart clears), and a
//! rollout that cannot progress says why in its status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::AppSpec;
use crate::conditions::Condition;

/// One change of an App: the spec it rolls out and how far it got.
// kube's repeated printcolumn(...) arguments trip clippy's duplicated_attributes (a false
// positive: each column is a separate argument, not a repeated attribute).
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "strata.io",
    version = "v1alpha1",
    kind = "Rollout",
    namespaced,
    status = "RolloutStatus",
    shortname = "mdep",
    category = "strata",
    derive = "PartialEq",
    selectable = ".spec.app",
    doc = "One change of a Marathon app (a Marathon deployment): the spec it rolls out, its plan of steps and its progress. Named <app>-<revision>; the app's rollouts are its version history.",
    printcolumn(
        name = "App",
        type_ = "string",
        json_path = ".spec.app",
        description = "App the rollout changes"
    ),
    printcolumn(
        name = "Revision",
        type_ = "integer",
        json_path = ".spec.revision",
        description = "Revision of the app this rollout brings"
    ),
    printcolumn(
        name = "Change",
        type_ = "string",
        json_path = ".spec.change",
        description = "Start, Scale, Upgrade, Restart or Stop"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "InProgress, Succeeded, Superseded or Cancelled"
    ),
    printcolumn(
        name = "Progress",
        type_ = "string",
        json_path = ".status.progress",
        description = "Instances of the new version healthy / wanted"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.reason",
        description = "What the rollout waits for, when it waits"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// Name of the App (in this namespace) the rollout changes.
    pub app: String,
    /// The app's revision this rollout brings: 1 for the first spec, then one more per change.
    pub revision: u64,
    /// What kind of change it is.
    pub change: Change,
    /// The app's .metadata.generation rolled out.
    pub generation: i64,
    /// The version rolled out (see the App's status.version).
    pub version: String,
    /// The restart token (`strata.io/restart` annotation) rolled out, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// The version that ran before, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<String>,
    /// The spec rolled out: what a rollback to this revision restores.
    pub target: AppSpec,
}

/// The kind of change a rollout makes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Change {
    /// The app's first instances.
    Start,
    /// More or fewer instances of the same version.
    Scale,
    /// A new version replaces the old one within the upgrade strategy.
    Upgrade,
    /// The same spec restarted: every instance replaced within the upgrade strategy.
    Restart,
    /// Scaled to zero (suspended).
    Stop,
}

/// Where a rollout stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum RolloutPhase {
    /// Under way: its reason says what it waits for, if anything.
    #[default]
    InProgress,
    /// Done: the app runs the target spec.
    Succeeded,
    /// A newer change of the app took over before this one was done.
    Superseded,
    /// Given up on by the user; the app stays as it is.
    Cancelled,
}

impl RolloutPhase {
    /// Whether the rollout is over.
    pub fn is_finished(self) -> bool {
        self != RolloutPhase::InProgress
    }
}

/// One step of a rollout's plan, with Marathon's action names.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStep {
    /// StartApplication, ScaleApplication, RestartApplication or KillAllOldTasksOf.
    pub action: StepAction,
    /// Instances the step brings the app to.
    pub instances: u32,
    /// Whether the step is done.
    #[serde(default)]
    pub done: bool,
}

/// Marathon's deployment step actions.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum StepAction {
    /// Starts a new app.
    StartApplication,
    /// Brings an app to a number of instances.
    ScaleApplication,
    /// Replaces every instance with one of the new version, within the upgrade strategy.
    RestartApplication,
    /// Kills what is left of the old version.
    KillAllOldTasksOf,
}

/// Where a rollout stands and why.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// InProgress, Succeeded, Superseded or Cancelled.
    #[serde(default)]
    #[schemars(transform = crate::schema::keep_field_description)]
    pub phase: RolloutPhase,
    /// The plan, Marathon's steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<RolloutStep>,
    /// Instances of the new version healthy / wanted, e.g. "2/3".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// Instances of the new version running or starting.
    #[serde(default)]
    pub new_instances: u32,
    /// Instances of the new version healthy and ready.
    #[serde(default)]
    pub new_healthy: u32,
    /// Instances of older versions still running.
    #[serde(default)]
    pub old_instances: u32,
    /// Healthy instances (of any version) the upgrade strategy keeps during the rollout.
    #[serde(default)]
    pub minimum_healthy: u32,
    /// The fewest healthy instances seen while the rollout replaced instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowest_healthy: Option<u32>,
    /// What the rollout waits for, when it waits: WaitingForOffers, WaitingForHealth,
    /// WaitingForDependencies, Backoff, LaunchesStopped; or why it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The reason in words, with counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The rollout that took over, when Superseded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// When the rollout began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When it last made progress (an instance launched, became healthy or was killed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_progress_at: Option<Time>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Progressing (False with reason ProgressDeadlineExceeded when stuck).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// The plan of a change to `instances` instances: Marathon's steps.
pub fn plan(change: Change, instances: u32) -> Vec<RolloutStep> {
    let step = |action| RolloutStep {
        action,
        instances,
        done: false,
    };
    match change {
        Change::Start => vec![
            step(StepAction::StartApplication),
            step(StepAction::ScaleApplication),
        ],
        Change::Scale | Change::Stop => vec![step(StepAction::ScaleApplication)],
        Change::Upgrade | Change::Restart => vec![
            step(StepAction::RestartApplication),
            step(StepAction::KillAllOldTasksOf),
        ],
    }
}

/// The name of an app's rollout of `revision`: `<app>-<revision>`.
pub fn rollout_name(app: &str, revision: u64) -> String {
    format!("{app}-{revision}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_use_marathons_actions() {
        let actions = |c| plan(c, 3).into_iter().map(|s| s.action).collect::<Vec<_>>();
        assert_eq!(
            actions(Change::Start),
            [StepAction::StartApplication, StepAction::ScaleApplication]
        );
        assert_eq!(actions(Change::Stop), [StepAction::ScaleApplication]);
        assert_eq!(
            actions(Change::Upgrade),
            [
                StepAction::RestartApplication,
                StepAction::KillAllOldTasksOf
            ]
        );
        assert!(
            plan(Change::Scale, 3)
                .iter()
                .all(|s| s.instances == 3 && !s.done)
        );
        assert_eq!(rollout_name("web", 4), "web-4");
        assert!(RolloutPhase::Superseded.is_finished() && !RolloutPhase::InProgress.is_finished());
    }
}
