//! App: a long-running Marathon app, kept at `instances` copies by the Marathon controller.
//!
//! Why it exists: Marathon is the PaaS users of Mesos know; its app definition is what they
//! write. The spec keeps Marathon's field names, units and defaults (in the schema, so the API
//! server fills them and `kubectl explain` shows them), so a Marathon app JSON maps without
//! conversion surprises. The status feeds the seed's Marathon table (ID, Memory (MB), CPUs,
//! Tasks / Instances, Health, Status) as printer columns, the scale subresource
//! (`kubectl scale`, autoscalers), and conditions that `kubectl wait` and GitOps tools read.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::Condition;
use crate::container::{DockerParameter, PortMapping, Protocol, Volume};
use crate::health::{HealthCheck, HealthCheckProtocol};
use crate::resources::{Cpus, Resources};
use crate::validation::{Errors, InvalidSpec};

/// A Marathon app: a command or container kept running as `instances` tasks.
// kube's repeated printcolumn(...) arguments trip clippy's duplicated_attributes (a false
// positive: each column is a separate argument, not a repeated attribute).
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "strata.io",
    version = "v1alpha1",
    kind = "App",
    namespaced,
    status = "AppStatus",
    shortname = "mapp",
    category = "strata",
    derive = "PartialEq",
    scale(
        spec_replicas_path = ".spec.instances",
        status_replicas_path = ".status.instances",
        label_selector_path = ".status.selector"
    ),
    doc = "A Marathon app: a command or container that strata keeps running as the requested number of instances, rolled out by Marathon's upgrade strategy.",
    printcolumn(
        name = "ID",
        type_ = "string",
        json_path = ".status.id",
        description = "Marathon path id of the app (see docs/marathon.md)"
    ),
    printcolumn(
        name = "Memory (MB)",
        type_ = "integer",
        json_path = ".spec.mem",
        description = "Memory per instance, in MB"
    ),
    printcolumn(
        name = "CPUs",
        type_ = "number",
        json_path = ".spec.cpus",
        description = "CPUs per instance"
    ),
    printcolumn(
        name = "Tasks / Instances",
        type_ = "string",
        json_path = ".status.tasks",
        description = "Running tasks / requested instances"
    ),
    printcolumn(
        name = "Health",
        type_ = "string",
        json_path = ".status.health",
        description = "Health of the running tasks"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.phase",
        description = "Running, Deploying, Suspended, Waiting or Delayed"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.cmd) || !has(self.args) || size(self.args) == 0",
    "message": "set cmd or args, not both"
}]))]
pub struct AppSpec {
    /// Shell command to run (with /bin/sh -c); inside the container when one is set. Exclusive
    /// with args.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// Command and arguments run without a shell (for a container: arguments to the image's
    /// entrypoint). Exclusive with cmd.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Container to run the app in; unset runs cmd or args as a process in a sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<AppContainer>,
    /// CPU shares per instance, a decimal with up to three places.
    #[serde(default = "default_cpus")]
    pub cpus: Cpus,
    /// Memory per instance in MB.
    #[serde(default = "default_mem")]
    pub mem: u64,
    /// Disk per instance in MB.
    #[serde(default)]
    pub disk: u64,
    /// Whole GPUs per instance.
    #[serde(default)]
    pub gpus: u32,
    /// Number of instances to keep running; 0 suspends the app. The scale subresource sets it.
    #[serde(default = "default_instances")]
    pub instances: u32,
    /// Environment variables of every instance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Placement constraints on agent fields (@hostname, @region, @zone) or attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// Host ports each instance needs (without a container, or with host networking); each
    /// becomes PORT0, PORT1, ... in order. Unlike Marathon, no port is added when this is
    /// empty: list `{port: 0}` to get one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_definitions: Vec<PortDefinition>,
    /// When true, the port numbers in portDefinitions are used as host ports as written,
    /// instead of any offered port.
    #[serde(default)]
    pub require_ports: bool,
    /// Health checks run against every instance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<HealthCheck>,
    /// Checks an instance must pass during a deployment before it counts as ready and the
    /// next step proceeds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readiness_checks: Vec<ReadinessCheck>,
    /// How a new version replaces the old one.
    #[serde(default)]
    pub upgrade_strategy: UpgradeStrategy,
    /// Seconds to wait before relaunching a task that failed; multiplied by backoffFactor at
    /// every further failure.
    #[serde(default = "default_backoff_seconds")]
    pub backoff_seconds: u64,
    /// Factor by which the launch delay grows after each failure.
    #[serde(default = "default_backoff_factor")]
    #[schemars(range(min = 1.0))]
    pub backoff_factor: f64,
    /// Longest launch delay in seconds, however often the app failed. 300 is the default of
    /// Marathon's REST API (its RAML, from which Marathon 1.5+ builds app definitions), so it
    /// is what a Marathon user posting an app gets; the 3600 of Marathon's storage protobuf is
    /// only a fallback for old stored apps.
    #[serde(default = "default_max_launch_delay_seconds")]
    pub max_launch_delay_seconds: u64,
    /// What to do with instances on unreachable agents.
    #[serde(default)]
    pub unreachable_strategy: UnreachableStrategy,
    /// Which instances to kill first when scaling down: YOUNGEST_FIRST or OLDEST_FIRST.
    #[serde(default)]
    pub kill_selection: KillSelection,
    /// Marathon app labels (served by the Marathon API, e.g. for load balancers); use
    /// metadata.labels to select apps with kubectl.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Names of Apps in this namespace that must be deployed (and healthy) before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
    /// URIs downloaded into the sandbox before the task starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetch: Vec<FetchUri>,
    /// Resource roles whose offers the app accepts, e.g. ["*"] for unreserved resources only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_resource_roles: Vec<String>,
    /// Role the app's resources are taken from; unset uses the Marathon framework's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Seconds between SIGTERM and SIGKILL when an instance is killed; unset uses the agent's
    /// default (3 seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_kill_grace_period_seconds: Option<u32>,
    /// User to run the instances as; unset uses the agent's user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

fn default_cpus() -> Cpus {
    Cpus::whole(1)
}
fn default_mem() -> u64 {
    128
}
fn default_instances() -> u32 {
    1
}
fn default_backoff_seconds() -> u64 {
    1
}
fn default_backoff_factor() -> f64 {
    1.15
}
fn default_max_launch_delay_seconds() -> u64 {
    300
}

impl Default for AppSpec {
    /// Marathon's defaults: 1 cpu, 128 MB, one instance, nothing to run yet.
    fn default() -> AppSpec {
        AppSpec {
            cmd: None,
            args: Vec::new(),
            container: None,
            cpus: default_cpus(),
            mem: default_mem(),
            disk: 0,
            gpus: 0,
            instances: default_instances(),
            env: BTreeMap::new(),
            constraints: Vec::new(),
            port_definitions: Vec::new(),
            require_ports: false,
            health_checks: Vec::new(),
            readiness_checks: Vec::new(),
            upgrade_strategy: UpgradeStrategy::default(),
            backoff_seconds: default_backoff_seconds(),
            backoff_factor: default_backoff_factor(),
            max_launch_delay_seconds: default_max_launch_delay_seconds(),
            unreachable_strategy: UnreachableStrategy::default(),
            kill_selection: KillSelection::default(),
            labels: BTreeMap::new(),
            dependencies: Vec::new(),
            fetch: Vec::new(),
            accepted_resource_roles: Vec::new(),
            role: None,
            task_kill_grace_period_seconds: None,
            user: None,
        }
    }
}

/// The container an app runs in.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppContainer {
    /// Containerizer: DOCKER (the Docker engine, the default) or MESOS (the agent's own).
    #[serde(rename = "type", default)]
    pub type_: ContainerType,
    /// The image and Docker options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerContainer>,
    /// Container ports published on the agent (bridge networking); each host port becomes
    /// PORT0, PORT1, ... in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["containerPort", "protocol"]))]
    pub port_mappings: Vec<PortMapping>,
    /// Host paths mounted into the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["containerPath"]))]
    pub volumes: Vec<Volume>,
}

/// Which containerizer runs an app's container.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ContainerType {
    /// The Docker engine on the agent.
    #[default]
    DOCKER,
    /// The agent's own containerizer (Mesos' universal containerizer).
    MESOS,
}

/// A Docker image and how to run it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DockerContainer {
    /// Image reference, e.g. `nginx:1.27`.
    pub image: String,
    /// Pull the image even when the agent already has it.
    #[serde(default)]
    pub force_pull_image: bool,
    /// Run the container privileged.
    #[serde(default)]
    pub privileged: bool,
    /// Extra `docker run` options, e.g. `{key: label, value: "team=web"}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<DockerParameter>,
}

/// A placement constraint, Marathon's `[field, operator, value]` written as an object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Constraint {
    /// Agent field to constrain: @hostname, @region, @zone, or an attribute name.
    pub field: String,
    /// UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER or IS.
    pub operator: ConstraintOperator,
    /// Operand: a value (CLUSTER, IS), a regular expression (LIKE, UNLIKE), a count (MAX_PER,
    /// GROUP_BY).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Marathon's constraint operators.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConstraintOperator {
    /// Every instance on a different value of the field.
    Unique,
    /// Every instance on the same value (the given one, or the first one used).
    Cluster,
    /// Spread evenly over the values of the field (value: the expected number of values).
    GroupBy,
    /// Only where the field matches the regular expression in value.
    Like,
    /// Only where the field does not match the regular expression in value.
    Unlike,
    /// At most value instances per value of the field.
    MaxPer,
    /// Only where the field equals value.
    Is,
}

impl ConstraintOperator {
    /// The operator as Marathon writes it: UNIQUE, GROUP_BY, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ConstraintOperator::Unique => "UNIQUE",
            ConstraintOperator::Cluster => "CLUSTER",
            ConstraintOperator::GroupBy => "GROUP_BY",
            ConstraintOperator::Like => "LIKE",
            ConstraintOperator::Unlike => "UNLIKE",
            ConstraintOperator::MaxPer => "MAX_PER",
            ConstraintOperator::Is => "IS",
        }
    }
}

/// A host port an app needs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortDefinition {
    /// Port number; 0 takes any offered port (or, with requirePorts, the number is the host
    /// port itself).
    #[serde(default)]
    pub port: u16,
    /// tcp (default), udp or "udp,tcp".
    #[serde(default)]
    pub protocol: Protocol,
    /// Name of the port, used by readiness checks (portName) and service discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free-form labels of the port.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A readiness check, run during deployments only.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessCheck {
    /// Name of the check.
    #[serde(default = "default_readiness_name")]
    pub name: String,
    /// HTTP (default) or HTTPS.
    #[serde(default)]
    pub protocol: ReadinessProtocol,
    /// Path to GET.
    #[serde(default = "default_readiness_path")]
    pub path: String,
    /// Name of the port (in portDefinitions or portMappings) to probe.
    #[serde(default = "default_readiness_port_name")]
    pub port_name: String,
    /// Seconds between checks.
    #[serde(default = "default_readiness_interval_seconds")]
    pub interval_seconds: u32,
    /// Seconds a check may take.
    #[serde(default = "default_readiness_timeout_seconds")]
    pub timeout_seconds: u32,
    /// HTTP statuses that mean ready.
    #[serde(default = "default_http_status_codes_for_ready")]
    pub http_status_codes_for_ready: Vec<u16>,
    /// Keep the last response in the deployment's status for debugging.
    #[serde(default)]
    pub preserve_last_response: bool,
}

fn default_readiness_name() -> String {
    "readinessCheck".to_string()
}
fn default_readiness_path() -> String {
    "/".to_string()
}
fn default_readiness_port_name() -> String {
    "http-api".to_string()
}
fn default_readiness_interval_seconds() -> u32 {
    30
}
fn default_readiness_timeout_seconds() -> u32 {
    10
}
fn default_http_status_codes_for_ready() -> Vec<u16> {
    vec![200]
}

impl Default for ReadinessCheck {
    fn default() -> ReadinessCheck {
        ReadinessCheck {
            name: default_readiness_name(),
            protocol: ReadinessProtocol::default(),
            path: default_readiness_path(),
            port_name: default_readiness_port_name(),
            interval_seconds: default_readiness_interval_seconds(),
            timeout_seconds: default_readiness_timeout_seconds(),
            http_status_codes_for_ready: default_http_status_codes_for_ready(),
            preserve_last_response: false,
        }
    }
}

/// Protocol of a readiness check.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ReadinessProtocol {
    /// Plain HTTP.
    #[default]
    HTTP,
    /// HTTPS (the certificate is not verified).
    HTTPS,
}

/// How a deployment replaces old instances with new ones.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    /// Fraction of instances (0 to 1) that must stay healthy during a deployment: 1 starts new
    /// instances before stopping old ones, 0 stops all old ones first.
    #[serde(default = "one")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub minimum_health_capacity: f64,
    /// Fraction of instances (0 to 1) that may run above `instances` during a deployment.
    #[serde(default = "one")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub maximum_over_capacity: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for UpgradeStrategy {
    fn default() -> UpgradeStrategy {
        UpgradeStrategy {
            minimum_health_capacity: 1.0,
            maximum_over_capacity: 1.0,
        }
    }
}

/// What happens to instances on an unreachable agent. Marathon's `"disabled"` form is written
/// `disabled: true`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnreachableStrategy {
    /// When true, unreachable instances are neither replaced nor expunged: the app waits for the
    /// agent to come back.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
    /// Seconds an instance may be unreachable before a replacement is launched.
    #[serde(default)]
    pub inactive_after_seconds: u64,
    /// Seconds an instance may be unreachable before it is given up for good (killed if it
    /// comes back); at least inactiveAfterSeconds.
    #[serde(default)]
    pub expunge_after_seconds: u64,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Which instances go first when an app scales down.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KillSelection {
    /// The most recently started instances first.
    #[default]
    YoungestFirst,
    /// The longest-running instances first.
    OldestFirst,
}

/// A URI fetched into the sandbox before a task starts (Mesos fetcher).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FetchUri {
    /// URI to download (http, https, or a file path on the agent).
    pub uri: String,
    /// Unpack archives (.tar.gz, .zip, ...) after downloading.
    #[serde(default = "default_true")]
    pub extract: bool,
    /// Mark the downloaded file executable.
    #[serde(default)]
    pub executable: bool,
    /// Keep the download in the agent's cache for later tasks.
    #[serde(default)]
    pub cache: bool,
    /// File name in the sandbox; defaults to the last segment of the URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_path: Option<String>,
}

fn default_true() -> bool {
    true
}

/// The Marathon UI's status of an app.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum AppPhase {
    /// No deployment in progress and instances are requested.
    Running,
    /// A deployment (start, scale, restart, new version) is in progress.
    Deploying,
    /// Scaled to zero and nothing runs.
    Suspended,
    /// A deployment waits for offers that fit (the Progressing condition says what is short).
    Waiting,
    /// A deployment's launches are delayed by the crash-loop backoff.
    Delayed,
    /// Launches were stopped by the user (`strata app stop`) until a new version or
    /// `strata app resume`: the crash loop is over, what runs keeps running.
    Stopped,
}

impl AppPhase {
    /// Every phase, in the order the Marathon UI's status filter lists them.
    pub const ALL: [AppPhase; 6] = [
        AppPhase::Running,
        AppPhase::Deploying,
        AppPhase::Suspended,
        AppPhase::Waiting,
        AppPhase::Delayed,
        AppPhase::Stopped,
    ];

    /// The phase as the Status column writes it: Running, Deploying, ...
    pub fn as_str(self) -> &'static str {
        match self {
            AppPhase::Running => "Running",
            AppPhase::Deploying => "Deploying",
            AppPhase::Suspended => "Suspended",
            AppPhase::Waiting => "Waiting",
            AppPhase::Delayed => "Delayed",
            AppPhase::Stopped => "Stopped",
        }
    }

    /// The Marathon UI's rule: an app whose launches are held by the crash-loop backoff is
    /// Delayed, one whose launches have waited too long for offers (or for its dependencies)
    /// is Waiting — whether or not a deployment is under way; otherwise a deployment in
    /// progress is Deploying, an app asked for and running nothing is Suspended, anything
    /// else Running.
    pub fn derive(
        deploying: bool,
        delayed: bool,
        waiting: bool,
        instances: u32,
        running: u32,
    ) -> AppPhase {
        if delayed {
            AppPhase::Delayed
        } else if waiting {
            AppPhase::Waiting
        } else if deploying {
            AppPhase::Deploying
        } else if instances == 0 && running == 0 {
            AppPhase::Suspended
        } else {
            AppPhase::Running
        }
    }
}

/// What the Marathon controller observes about an app.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    /// The .metadata.generation this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Running instances (the scale subresource's status replicas).
    #[serde(default)]
    pub instances: u32,
    /// Tasks accepted by agents and not yet running.
    #[serde(default)]
    pub tasks_staged: u32,
    /// Tasks running.
    #[serde(default)]
    pub tasks_running: u32,
    /// Running tasks whose health checks pass.
    #[serde(default)]
    pub tasks_healthy: u32,
    /// Running tasks whose health checks fail.
    #[serde(default)]
    pub tasks_unhealthy: u32,
    /// The "Tasks / Instances" column: running tasks / requested instances, e.g. "2 / 3".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<String>,
    /// The "Health" column, e.g. "2 healthy, 1 unhealthy".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// The "Status" column: Running, Deploying, Suspended, Waiting or Delayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::schema::keep_field_description)]
    pub phase: Option<AppPhase>,
    /// Label selector of the app's tasks (`strata.io/app=<app name>`), for the scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// The app's Marathon path id, e.g. `/prod/kibana` (the ID column; see docs/marathon.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The current version: a digest of the spec without `instances` (tasks carry it in the
    /// `strata.io/app-version` label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The rollout that brings (or brought) the app to its current spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<String>,
    /// Number of the latest rollout: rollouts are named `<app>-<revision>`.
    #[serde(default)]
    pub revision: u64,
    /// The crash-loop backoff: when the next launch may happen and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_delay: Option<LaunchDelay>,
    /// The last task of the app that failed, as Marathon's lastTaskFailure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_task_failure: Option<TaskFailure>,
    /// Instances waiting for an offer, and why the offers seen did not fit (Marathon's
    /// /v2/queue processedOffersSummary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<LaunchQueue>,
    /// Available (enough instances run) and Progressing (a deployment's progress or why it
    /// waits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// The crash-loop backoff of an app's current version.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LaunchDelay {
    /// Failures (Failed or Finished tasks) of this version in a row.
    pub failures: u32,
    /// The delay in seconds: backoffSeconds × backoffFactor^(failures-1), at most
    /// maxLaunchDelaySeconds.
    pub seconds: u64,
    /// No task of the app is launched before this time.
    pub launch_after: Time,
}

/// A task of the app that ended badly.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskFailure {
    /// Name of the Task.
    pub task: String,
    /// Its final state, e.g. Failed.
    pub state: String,
    /// What the agent said, e.g. "exited with status 1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The app version the task ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Agent the task ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// When it ended.
    pub at: Time,
}

/// Instances of an app waiting to be placed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LaunchQueue {
    /// Instances still to launch.
    pub count: u32,
    /// Since when instances have been waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
    /// Offers looked at for the app since it began to wait.
    #[serde(default)]
    pub offers_processed: u64,
    /// Why offers were not used, by reason, most frequent first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejections: Vec<OfferRejection>,
}

/// How many offers were not used for one reason.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfferRejection {
    /// InsufficientCpus, InsufficientMemory, InsufficientDisk, InsufficientGpus,
    /// InsufficientPorts, UnfulfilledConstraint, UnfulfilledRole or DeclinedForOthers.
    pub reason: String,
    /// Offers not used for this reason.
    pub count: u64,
}

/// Counts of an app's tasks by state and health, from which the status columns are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskCounts {
    /// Staging or Starting.
    pub staged: u32,
    /// Running (healthy, unhealthy or not yet known).
    pub running: u32,
    /// Running and passing health checks.
    pub healthy: u32,
    /// Running and failing health checks.
    pub unhealthy: u32,
}

impl TaskCounts {
    /// Running tasks whose health is not known (no checks, or none completed yet).
    pub fn unknown(&self) -> u32 {
        self.running.saturating_sub(self.healthy + self.unhealthy)
    }

    /// "running / instances", the Marathon table's Tasks / Instances column.
    pub fn tasks_column(&self, instances: u32) -> String {
        format!("{} / {}", self.running, instances)
    }

    /// The Health column: the non-zero counts of healthy, unhealthy, unknown and staged tasks
    /// ("2 healthy, 1 staged"); running tasks of an app without health checks count as
    /// "running"; "-" when there are no tasks.
    pub fn health_column(&self, has_health_checks: bool) -> String {
        let unknown_label = if has_health_checks {
            "unknown"
        } else {
            "running"
        };
        let parts: Vec<String> = [
            (self.healthy, "healthy"),
            (self.unhealthy, "unhealthy"),
            (self.unknown(), unknown_label),
            (self.staged, "staged"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, label)| format!("{n} {label}"))
        .collect();
        if parts.is_empty() {
            "-".to_string()
        } else {
            parts.join(", ")
        }
    }
}

impl AppStatus {
    /// Sets the counts and the Tasks / Instances and Health columns from `counts`.
    pub fn set_counts(&mut self, counts: TaskCounts, instances: u32, has_health_checks: bool) {
        self.instances = counts.running;
        self.tasks_staged = counts.staged;
        self.tasks_running = counts.running;
        self.tasks_healthy = counts.healthy;
        self.tasks_unhealthy = counts.unhealthy;
        self.tasks = Some(counts.tasks_column(instances));
        self.health = Some(counts.health_column(has_health_checks));
    }
}

impl AppSpec {
    /// The app's version: a digest of what every instance runs, i.e. the spec without
    /// `instances`, and the restart token (`strata.io/restart` annotation) that makes a
    /// restart a new version of the same spec. Ten hex digits (FNV-1a of the canonical JSON),
    /// stable across controller restarts and releases, short enough for a label value.
    pub fn version(&self, restart: Option<&str>) -> String {
        let mut hashed = self.clone();
        hashed.instances = 0;
        let mut bytes = serde_json::to_vec(&hashed).expect("an AppSpec serializes to JSON");
        if let Some(token) = restart {
            bytes.push(0);
            bytes.extend_from_slice(token.as_bytes());
        }
        let digest = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("{:010x}", digest >> 24)
    }

    /// Resources one instance takes, without ports (see [`AppSpec::port_count`]).
    pub fn instance_resources(&self) -> Resources {
        Resources {
            cpus: self.cpus,
            mem: self.mem,
            disk: self.disk,
            gpus: self.gpus,
            ..Resources::default()
        }
    }

    /// Host ports one instance needs: one per port mapping of a container, else one per port
    /// definition.
    pub fn port_count(&self) -> usize {
        match &self.container {
            Some(c) if !c.port_mappings.is_empty() => c.port_mappings.len(),
            _ => self.port_definitions.len(),
        }
    }

    /// Names of the ports, from the container's port mappings or else the port definitions.
    fn port_names(&self) -> Vec<&str> {
        match &self.container {
            Some(c) if !c.port_mappings.is_empty() => c
                .port_mappings
                .iter()
                .filter_map(|p| p.name.as_deref())
                .collect(),
            _ => self
                .port_definitions
                .iter()
                .filter_map(|p| p.name.as_deref())
                .collect(),
        }
    }

    /// Checks Marathon's rules that the schema cannot express.
    pub fn validate(&self) -> Result<(), InvalidSpec> {
        let mut errors = Errors::default();
        if self.cmd.is_some() && !self.args.is_empty() {
            errors.push("spec.args", "set cmd or args, not both");
        }
        if self.cmd.is_none() && self.args.is_empty() && self.container.is_none() {
            errors.push("spec.cmd", "set cmd, args or a container to run");
        }
        if let Some(container) = &self.container {
            match &container.docker {
                Some(docker) if docker.image.trim().is_empty() => {
                    errors.push(
                        "spec.container.docker.image",
                        "set the image to run, e.g. nginx:1.27",
                    );
                }
                None if container.type_ == ContainerType::DOCKER => {
                    errors.push(
                        "spec.container.docker",
                        "a DOCKER container needs docker.image",
                    );
                }
                _ => {}
            }
        }
        for (i, c) in self.constraints.iter().enumerate() {
            let path = format!("spec.constraints[{i}]");
            use ConstraintOperator::*;
            match (c.operator, c.value.as_deref()) {
                (Like | Unlike | MaxPer | Is, None) => {
                    errors.push(
                        format!("{path}.value"),
                        format!("{} needs a value", c.operator.as_str()),
                    );
                }
                (Unique, Some(_)) => {
                    errors.push(format!("{path}.value"), "UNIQUE takes no value; remove it")
                }
                (MaxPer | GroupBy, Some(v)) if v.parse::<u32>().is_err() => {
                    errors.push(
                        format!("{path}.value"),
                        format!("{} needs a whole number, got {v:?}", c.operator.as_str()),
                    );
                }
                _ => {}
            }
        }
        let ports = self.port_count();
        for (i, hc) in self.health_checks.iter().enumerate() {
            let path = format!("spec.healthChecks[{i}]");
            hc.validate(&path, &mut errors);
            let needs_port = hc.protocol != HealthCheckProtocol::COMMAND && hc.port.is_none();
            let index = hc.port_index.unwrap_or(0) as usize;
            if needs_port && index >= ports {
                errors.push(
                    format!("{path}.portIndex"),
                    format!(
                        "portIndex {index} is out of range: the app has {ports} port(s); add portDefinitions \
                         (or container.portMappings) or set port"
                    ),
                );
            }
        }
        let names = self.port_names();
        for (i, rc) in self.readiness_checks.iter().enumerate() {
            if !names.contains(&rc.port_name.as_str()) {
                errors.push(
                    format!("spec.readinessChecks[{i}].portName"),
                    format!("no port is named {:?}; name one in portDefinitions or container.portMappings", rc.port_name),
                );
            }
        }
        let u = &self.unreachable_strategy;
        if !u.disabled && u.expunge_after_seconds < u.inactive_after_seconds {
            errors.push(
                "spec.unreachableStrategy.expungeAfterSeconds",
                format!(
                    "expungeAfterSeconds ({}) must be at least inactiveAfterSeconds ({})",
                    u.expunge_after_seconds, u.inactive_after_seconds
                ),
            );
        }
        errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_with_only_cmd_gets_marathons_defaults() {
        let spec: AppSpec =
            serde_json::from_value(serde_json::json!({"cmd": "sleep 100"})).unwrap();
        assert_eq!(
            spec,
            AppSpec {
                cmd: Some("sleep 100".into()),
                ..AppSpec::default()
            }
        );
        assert_eq!(spec.cpus, Cpus::whole(1));
        assert_eq!(spec.mem, 128);
        assert_eq!(spec.instances, 1);
        assert_eq!(spec.backoff_factor, 1.15);
        assert_eq!(spec.max_launch_delay_seconds, 300);
        assert_eq!(
            spec.upgrade_strategy,
            UpgradeStrategy {
                minimum_health_capacity: 1.0,
                maximum_over_capacity: 1.0
            }
        );
        assert_eq!(spec.kill_selection, KillSelection::YoungestFirst);
        assert_eq!(spec.instance_resources().to_string(), "cpus:1;mem:128");
    }

    #[test]
    fn the_version_ignores_instances_and_follows_everything_else() {
        let spec = AppSpec {
            cmd: Some("sleep 100".into()),
            ..AppSpec::default()
        };
        let v = spec.version(None);
        assert_eq!(v.len(), 10);
        assert!(v.chars().all(|c| c.is_ascii_hexdigit()));
        let scaled = AppSpec {
            instances: 7,
            ..spec.clone()
        };
        assert_eq!(scaled.version(None), v, "scaling is not a new version");
        let changed = AppSpec {
            mem: 256,
            ..spec.clone()
        };
        assert_ne!(changed.version(None), v);
        assert_ne!(
            spec.version(Some("2026-12-05T22:00:00Z")),
            v,
            "a restart is"
        );
        assert_eq!(spec.version(None), v, "stable");
    }

    #[test]
    fn enums_serialize_as_marathon_writes_them() {
        assert_eq!(
            serde_json::to_value(KillSelection::OldestFirst).unwrap(),
            "OLDEST_FIRST"
        );
        assert_eq!(
            serde_json::to_value(ConstraintOperator::GroupBy).unwrap(),
            "GROUP_BY"
        );
        assert_eq!(
            serde_json::to_value(ConstraintOperator::MaxPer).unwrap(),
            "MAX_PER"
        );
        assert_eq!(serde_json::to_value(ContainerType::MESOS).unwrap(), "MESOS");
        assert_eq!(
            serde_json::to_value(AppPhase::Suspended).unwrap(),
            "Suspended"
        );
    }

    #[test]
    fn readiness_check_defaults() {
        let rc: ReadinessCheck = serde_json::from_str("{}").unwrap();
        assert_eq!(rc, ReadinessCheck::default());
        assert_eq!(rc.http_status_codes_for_ready, [200]);
        assert_eq!((rc.interval_seconds, rc.timeout_seconds), (30, 10));
        let f: FetchUri =
            serde_json::from_value(serde_json::json!({"uri": "https://example.org/a.tgz"}))
                .unwrap();
        assert!(f.extract && !f.executable && !f.cache);
    }

    #[test]
    fn phase_follows_the_marathon_ui() {
        assert_eq!(AppPhase::derive(true, true, true, 3, 1), AppPhase::Delayed);
        assert_eq!(
            AppPhase::derive(false, true, false, 1, 0),
            AppPhase::Delayed,
            "a crash loop after its rollout succeeded is still Delayed"
        );
        assert_eq!(
            AppPhase::derive(false, false, true, 2, 1),
            AppPhase::Waiting
        );
        assert_eq!(AppPhase::derive(true, false, true, 3, 1), AppPhase::Waiting);
        assert_eq!(
            AppPhase::derive(true, false, false, 3, 1),
            AppPhase::Deploying
        );
        assert_eq!(
            AppPhase::derive(false, false, false, 0, 0),
            AppPhase::Suspended
        );
        assert_eq!(
            AppPhase::derive(false, false, false, 0, 1),
            AppPhase::Running
        );
        assert_eq!(
            AppPhase::derive(false, false, false, 2, 2),
            AppPhase::Running
        );
    }

    #[test]
    fn status_columns() {
        let counts = TaskCounts {
            staged: 1,
            running: 2,
            healthy: 1,
            unhealthy: 0,
        };
        assert_eq!(counts.tasks_column(3), "2 / 3");
        assert_eq!(counts.health_column(true), "1 healthy, 1 unknown, 1 staged");
        assert_eq!(
            TaskCounts {
                running: 2,
                ..TaskCounts::default()
            }
            .health_column(false),
            "2 running"
        );
        assert_eq!(TaskCounts::default().health_column(true), "-");
        let mut status = AppStatus::default();
        status.set_counts(counts, 3, true);
        assert_eq!(
            (status.instances, status.tasks.as_deref()),
            (2, Some("2 / 3"))
        );
        assert_eq!(status.tasks_healthy, 1);
    }

    #[test]
    fn validate_reports_marathons_rules() {
        let spec = AppSpec {
            cmd: Some("run".into()),
            args: vec!["run".into()],
            constraints: vec![
                Constraint {
                    field: "@hostname".into(),
                    operator: ConstraintOperator::Unique,
                    value: Some("x".into()),
                },
                Constraint {
                    field: "rack".into(),
                    operator: ConstraintOperator::Like,
                    value: None,
                },
                Constraint {
                    field: "rack".into(),
                    operator: ConstraintOperator::MaxPer,
                    value: Some("two".into()),
                },
            ],
            health_checks: vec![HealthCheck::default()],
            readiness_checks: vec![ReadinessCheck::default()],
            unreachable_strategy: UnreachableStrategy {
                disabled: false,
                inactive_after_seconds: 60,
                expunge_after_seconds: 30,
            },
            ..AppSpec::default()
        };
        let fields: Vec<String> = spec
            .validate()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "spec.args",
                "spec.constraints[0].value",
                "spec.constraints[1].value",
                "spec.constraints[2].value",
                "spec.healthChecks[0].portIndex",
                "spec.readinessChecks[0].portName",
                "spec.unreachableStrategy.expungeAfterSeconds",
            ]
        );
    }

    #[test]
    fn validate_accepts_a_docker_app_with_named_ports() {
        let spec = AppSpec {
            container: Some(AppContainer {
                type_: ContainerType::DOCKER,
                docker: Some(DockerContainer {
                    image: "nginx:1.27".into(),
                    ..DockerContainer::default()
                }),
                port_mappings: vec![PortMapping {
                    container_port: 80,
                    host_port: 0,
                    service_port: 0,
                    protocol: Protocol::Tcp,
                    name: Some("http-api".into()),
                    labels: BTreeMap::new(),
                }],
                volumes: vec![],
            }),
            health_checks: vec![HealthCheck::default()],
            readiness_checks: vec![ReadinessCheck::default()],
            ..AppSpec::default()
        };
        assert_eq!(spec.validate(), Ok(()));
        assert_eq!(spec.port_count(), 1);
        let no_image = AppSpec {
            container: Some(AppContainer::default()),
            ..AppSpec::default()
        };
        assert_eq!(
            no_image.validate().unwrap_err().0[0].field,
            "spec.container.docker"
        );
    }
}
