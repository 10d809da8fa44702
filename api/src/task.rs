//! Task: one process or container on one agent, launched by a framework against an offer.
//!
//! Why it exists: it is the unit the agent runs and reports on. A framework creates it (spec,
//! immutable in spirit: to change a task, kill it and launch another); the agent named in
//! `spec.agent` (and in the `strata.io/agent` label, since real Kubernetes only selects custom
//! resources on metadata or declared fields) launches it and writes its status. The states are
//! Mesos' own, so frameworks can reason about them as Mesos frameworks do.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::Condition;
use crate::container::{DockerParameter, PortMapping, Volume};
use crate::health::HealthCheck;
use crate::resources::Resources;
use crate::validation::{Errors, InvalidSpec};

/// The finalizer the agent keeps on the tasks it runs, so that a deleted task stays in the store
/// until it has been killed and its end reported. A framework should create its tasks with it
/// (it saves the agent a write per task); the agent adds it when it is missing, and the
/// lifecycle controller takes it off a deleted task that was never staged.
pub const AGENT_FINALIZER: &str = "strata.io/agent";

/// One process or container on one agent.
// kube's repeated printcolumn(...) arguments trip clippy's duplicated_attributes (a false
// positive: each column is a separate argument, not a repeated attribute).
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "strata.io",
    version = "v1alpha1",
    kind = "Task",
    namespaced,
    status = "TaskStatus",
    shortname = "tsk",
    category = "strata",
    derive = "PartialEq",
    selectable = ".spec.agent",
    selectable = ".spec.framework",
    doc = "One process or container that a framework runs on one agent, with Mesos' task states.",
    printcolumn(
        name = "Framework",
        type_ = "string",
        json_path = ".spec.framework",
        description = "Framework that launched the task"
    ),
    printcolumn(
        name = "Agent",
        type_ = "string",
        json_path = ".spec.agent",
        description = "Agent the task runs on"
    ),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.state",
        description = "Mesos task state"
    ),
    printcolumn(
        name = "Healthy",
        type_ = "boolean",
        json_path = ".status.healthy",
        description = "Result of the health checks"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.reason",
        description = "Why the task reached its state",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "has(self.command) || has(self.container)",
    "message": "a task needs a command, a container, or both"
}]))]
pub struct TaskSpec {
    /// Name of the Framework (in this namespace) the task belongs to.
    pub framework: String,
    /// Name of the Agent that runs the task; also set as the strata.io/agent label.
    pub agent: String,
    /// Name of the Offer (in this namespace) the task was launched against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<String>,
    /// Resources the task holds; they must fit in the offer.
    #[serde(default)]
    pub resources: Resources,
    /// Host ports assigned to the task, in order: exported as PORT0, PORT1, ... and PORTS, and
    /// used by health checks' portIndex. Each must be in resources.ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// Shell command (run with /bin/sh -c in the sandbox, or inside the container when a
    /// container is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Container to run (Docker); with a command, the command replaces the image's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<TaskContainer>,
    /// Environment variables of the task.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Health checks the agent runs against the task (Marathon semantics).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<HealthCheck>,
    /// Seconds between the polite kill signal (SIGTERM) and SIGKILL; unset is the agent's
    /// default of 3 seconds, as in Mesos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_grace_period_seconds: Option<u32>,
    /// Checks the task must pass once before it counts as ready (status.ready), e.g. for a
    /// rollout to proceed; Marathon's readinessChecks with the port resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readiness_checks: Vec<TaskReadinessCheck>,
    /// User to run the task as; unset runs as the agent's user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A container image to run and how.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskContainer {
    /// Image reference, e.g. `nginx:1.27` or `registry.example.org/team/app@sha256:...`.
    pub image: String,
    /// Arguments passed to the image's entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables set in the container in addition to the task's env (these win).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Container ports published on the agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["containerPort", "protocol"]))]
    pub port_mappings: Vec<PortMapping>,
    /// Host paths mounted into the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["containerPath"]))]
    pub volumes: Vec<Volume>,
    /// Pull the image even when the agent has it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub force_pull: bool,
    /// Run the container privileged.
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    /// Extra `docker run` options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<DockerParameter>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A readiness check of a task: an HTTP GET of `path` on host port `port` every
/// `intervalSeconds` until it answers one of `httpStatusCodesForReady`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskReadinessCheck {
    /// HTTP or HTTPS.
    #[serde(default)]
    pub protocol: crate::app::ReadinessProtocol,
    /// Path to GET.
    pub path: String,
    /// Host port to probe (on the agent's loopback interface).
    pub port: u16,
    /// Seconds between checks.
    pub interval_seconds: u32,
    /// Seconds a check may take.
    pub timeout_seconds: u32,
    /// HTTP statuses that mean ready.
    pub http_status_codes_for_ready: Vec<u16>,
}

/// Mesos' task states.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum TaskState {
    /// Accepted by the agent, not yet started (e.g. pulling the image, fetching URIs).
    #[default]
    Staging,
    /// The executor is starting the task.
    Starting,
    /// The task runs.
    Running,
    /// The task was asked to stop and is within its kill grace period.
    Killing,
    /// Terminal: exited with status 0.
    Finished,
    /// Terminal: exited with a non-zero status, or failed to start.
    Failed,
    /// Terminal: killed on request.
    Killed,
    /// Terminal: the task description was invalid and it never started.
    Error,
    /// Terminal: never launched, e.g. the agent was gone or the offer was no longer valid.
    Dropped,
    /// The agent is unreachable; the task may still run there.
    Unreachable,
    /// Terminal: the agent is gone, and the task with it.
    Gone,
    /// Terminal: the task's fate is unknown, reported to frameworks that are not partition
    /// aware in place of Unreachable and Gone.
    Lost,
}

impl TaskState {
    /// Whether the state is final: the task no longer runs and never will again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished
                | TaskState::Failed
                | TaskState::Killed
                | TaskState::Error
                | TaskState::Dropped
                | TaskState::Gone
                | TaskState::Lost
        )
    }

    /// Whether the task holds its resources on the agent (any state but a terminal one).
    pub fn holds_resources(self) -> bool {
        !self.is_terminal()
    }

    /// Whether a task may move from `self` to `next`. Staying put is allowed (updates are
    /// idempotent); terminal states are final; an Unreachable task may come back (its agent
    /// re-registered) or end; otherwise tasks only move forward through
    /// Staging, Starting, Running, Killing.
    pub fn can_transition_to(self, next: TaskState) -> bool {
        use TaskState::*;
        if self == next {
            return true;
        }
        if self.is_terminal() {
            return false;
        }
        if next.is_terminal() || next == Unreachable {
            return true;
        }
        let rank = |s: TaskState| match s {
            Staging => 0,
            Starting => 1,
            Running => 2,
            Killing => 3,
            _ => 4,
        };
        self == Unreachable || rank(next) > rank(self)
    }
}

/// Where a task's sandbox (working directory with stdout and stderr) is.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sandbox {
    /// Base URL of the agent's sandbox file service (the Agent's status.endpoint).
    pub url: String,
    /// Directory of the task's sandbox on the agent; stdout and stderr are files in it.
    pub path: String,
}

/// What the agent reports about a task.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// Mesos task state: Staging, Starting, Running, Killing, Finished, Failed, Killed, Error,
    /// Dropped, Unreachable, Gone or Lost. Unset while the task is staging: before the master
    /// judged it, and after it staged it (listed it in its Agent's status.staged) until the
    /// agent reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::schema::keep_field_description)]
    pub state: Option<TaskState>,
    /// Exit status of the process, once it has exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Machine-readable CamelCase reason for the state, e.g. CommandExecutorFailed,
    /// HealthCheckFailed, AgentRemoved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable explanation of the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Result of the health checks; unset when the task has none or none has completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// True once every readiness check passed; unset while they have not (or there are none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// When the task became Unreachable (its agent stopped heartbeating), while it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<Time>,
    /// When the task was marked Staging, by those who stage tasks that way (tests, `strata bench
    /// agent`); the master lists the tasks it stages in their Agent's status.staged instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_at: Option<Time>,
    /// When the task started Running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the task reached a terminal state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Where the task's stdout and stderr can be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<Sandbox>,
    /// Healthy, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

impl TaskStatus {
    /// A status that stages a task (Staging, staged `at`): its agent then runs it. The master
    /// stages by listing tasks in their Agent's status instead; tests and `strata bench agent`,
    /// which run no master, stage their tasks with this.
    pub fn staged(at: Time) -> TaskStatus {
        TaskStatus {
            state: Some(TaskState::Staging),
            staged_at: Some(at),
            ..TaskStatus::default()
        }
    }
}

impl TaskSpec {
    /// Checks what the schema cannot: something to run, health checks usable, ports offered.
    pub fn validate(&self) -> Result<(), InvalidSpec> {
        let mut errors = Errors::default();
        if self.command.is_none() && self.container.is_none() {
            errors.push(
                "spec.command",
                "a task needs a command, a container, or both",
            );
        }
        if let Some(container) = &self.container
            && container.image.trim().is_empty()
        {
            errors.push(
                "spec.container.image",
                "set the image to run, e.g. nginx:1.27",
            );
        }
        for (i, port) in self.ports.iter().enumerate() {
            if !self.resources.ports.contains_port(*port) {
                errors.push(
                    format!("spec.ports[{i}]"),
                    format!(
                        "port {port} is not in resources.ports {}",
                        self.resources.ports
                    ),
                );
            }
        }
        for (i, hc) in self.health_checks.iter().enumerate() {
            let path = format!("spec.healthChecks[{i}]");
            hc.validate(&path, &mut errors);
            if let Some(index) = hc.port_index
                && hc.port.is_none()
                && index as usize >= self.ports.len()
                && hc.protocol != crate::health::HealthCheckProtocol::COMMAND
            {
                errors.push(
                    format!("{path}.portIndex"),
                    format!(
                        "portIndex {index} is out of range: the task has {} port(s)",
                        self.ports.len()
                    ),
                );
            }
        }
        errors.into_result()
    }

    /// The environment variables Marathon sets for a task's host ports: PORT (the first one),
    /// PORT0, PORT1, ... and PORTS (all of them, comma-separated).
    pub fn port_env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        if let Some(first) = self.ports.first() {
            env.insert("PORT".to_string(), first.to_string());
        }
        for (i, port) in self.ports.iter().enumerate() {
            env.insert(format!("PORT{i}"), port.to_string());
        }
        if !self.ports.is_empty() {
            let all: Vec<String> = self.ports.iter().map(ToString::to_string).collect();
            env.insert("PORTS".to_string(), all.join(","));
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::HealthCheckProtocol;

    #[test]
    fn terminal_states() {
        let terminal: Vec<_> = [
            TaskState::Staging,
            TaskState::Starting,
            TaskState::Running,
            TaskState::Killing,
            TaskState::Finished,
            TaskState::Failed,
            TaskState::Killed,
            TaskState::Error,
            TaskState::Dropped,
            TaskState::Unreachable,
            TaskState::Gone,
            TaskState::Lost,
        ]
        .into_iter()
        .filter(|s| s.is_terminal())
        .collect();
        assert_eq!(
            terminal,
            [
                TaskState::Finished,
                TaskState::Failed,
                TaskState::Killed,
                TaskState::Error,
                TaskState::Dropped,
                TaskState::Gone,
                TaskState::Lost
            ]
        );
        assert!(TaskState::Unreachable.holds_resources());
    }

    #[test]
    fn transitions() {
        use TaskState::*;
        assert!(Staging.can_transition_to(Running));
        assert!(Running.can_transition_to(Running));
        assert!(Running.can_transition_to(Killing));
        assert!(Killing.can_transition_to(Killed));
        assert!(Running.can_transition_to(Unreachable));
        assert!(
            Unreachable.can_transition_to(Running),
            "the agent came back"
        );
        assert!(Unreachable.can_transition_to(Gone));
        assert!(!Running.can_transition_to(Staging));
        assert!(!Killing.can_transition_to(Running));
        assert!(!Finished.can_transition_to(Running));
        assert!(!Lost.can_transition_to(Gone));
    }

    #[test]
    fn states_serialize_as_mesos_names() {
        assert_eq!(
            serde_json::to_value(TaskState::Unreachable).unwrap(),
            "Unreachable"
        );
        assert_eq!(
            serde_json::from_value::<TaskState>("Killing".into()).unwrap(),
            TaskState::Killing
        );
    }

    #[test]
    fn validate_reports_each_problem_with_its_path() {
        let spec = TaskSpec {
            framework: "marathon".into(),
            agent: "node-1".into(),
            resources: "cpus:1;ports:[31000-31000]".parse().unwrap(),
            ports: vec![31000, 31005],
            health_checks: vec![HealthCheck {
                port_index: Some(2),
                ..HealthCheck::default()
            }],
            ..TaskSpec::default()
        };
        let err = spec.validate().unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.command",
                "spec.ports[1]",
                "spec.healthChecks[0].portIndex"
            ]
        );

        let ok = TaskSpec {
            command: Some("sleep 10".into()),
            health_checks: vec![HealthCheck {
                protocol: HealthCheckProtocol::TCP,
                ..HealthCheck::default()
            }],
            ports: vec![31000],
            ..spec
        };
        assert_eq!(ok.validate(), Ok(()));
    }

    #[test]
    fn staged_is_the_masters_status_patch() {
        let at: Time = serde_json::from_value("2026-12-05T10:00:00Z".into()).unwrap();
        assert_eq!(
            serde_json::to_value(TaskStatus::staged(at)).unwrap(),
            serde_json::json!({"state": "Staging", "stagedAt": "2026-12-05T10:00:00Z"})
        );
    }

    #[test]
    fn port_env_is_marathons() {
        let spec = TaskSpec {
            ports: vec![31000, 31002],
            ..TaskSpec::default()
        };
        let env = spec.port_env();
        assert_eq!(env["PORT"], "31000");
        assert_eq!(env["PORT0"], "31000");
        assert_eq!(env["PORT1"], "31002");
        assert_eq!(env["PORTS"], "31000,31002");
        assert!(TaskSpec::default().port_env().is_empty());
    }
}
