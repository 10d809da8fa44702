//! Agent: a node that offers its resources to the cluster (Mesos' agent, formerly "slave").
//!
//! Why it exists: the allocator offers what agents have, frameworks place tasks on them, and the
//! node agent process registers one Agent for itself and keeps its status. Heartbeats are not
//! written here but to a coordination.k8s.io Lease named like the Agent (cheap, and what
//! Kubernetes does for Nodes); the status says what the heartbeats imply. Cluster-scoped, like
//! a Node.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::{Condition, ConditionStatus, find_condition, types};
use crate::resources::Resources;

/// An agent: a machine (or a slice of one) whose resources strata offers to frameworks.
// kube's repeated printcolumn(...) arguments trip clippy's duplicated_attributes (a false
// positive: each column is a separate argument, not a repeated attribute).
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "strata.io",
    version = "v1alpha1",
    kind = "Agent",
    status = "AgentStatus",
    shortname = "agt",
    category = "strata",
    derive = "PartialEq",
    doc = "A node offering its resources (cpus, mem, disk, gpus, ports) to strata's frameworks, as a Mesos agent does.",
    printcolumn(
        name = "Hostname",
        type_ = "string",
        json_path = ".spec.hostname",
        description = "Hostname of the agent"
    ),
    printcolumn(
        name = "CPUs",
        type_ = "number",
        json_path = ".spec.resources.cpus",
        description = "CPUs the agent offers"
    ),
    printcolumn(
        name = "Mem",
        type_ = "integer",
        json_path = ".spec.resources.mem",
        description = "Memory the agent offers, in MB"
    ),
    printcolumn(
        name = "Free CPUs",
        type_ = "number",
        json_path = ".status.free.cpus",
        description = "CPUs neither allocated to tasks nor offered"
    ),
    printcolumn(
        name = "Free Mem",
        type_ = "integer",
        json_path = ".status.free.mem",
        description = "Memory neither allocated to tasks nor offered, in MB"
    ),
    printcolumn(
        name = "Alloc CPUs",
        type_ = "number",
        json_path = ".status.allocated.cpus",
        description = "CPUs held by tasks and outstanding offers",
        priority = 1
    ),
    printcolumn(
        name = "Alloc Mem",
        type_ = "integer",
        json_path = ".status.allocated.mem",
        description = "Memory held by tasks and outstanding offers, in MB",
        priority = 1
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the agent heartbeats and can be offered"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AgentSpec {
    /// Name of the Cluster this agent belongs to; unset is the root pool. (Reserved for nested
    /// clusters, where a child cluster's agents are carved out of its parent's resources.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Hostname (or address) of the machine, matched by the @hostname constraint field.
    pub hostname: String,
    /// Total resources the agent offers: cpus, mem and disk in MB, gpus, port ranges.
    #[serde(default)]
    pub resources: Resources,
    /// Attributes for placement constraints, e.g. `rack: r1`, `zone: eu-1a` (Mesos attributes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// When true, no new offers are made from this agent; running tasks keep running.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unschedulable: bool,
    /// When set, the agent is drained: no new offers, and its tasks are killed (frameworks
    /// replace them elsewhere) within the grace period. Mesos' DRAIN_AGENT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<Drain>,
    /// Set by an operator when the machine is gone for good (Mesos' MARK_AGENT_GONE): its
    /// tasks become Gone (Lost for frameworks that are not partition aware) and it is never
    /// offered again. To bring the machine back, delete the Agent and let it register anew.
    #[serde(default, skip_serializing_if = "is_false")]
    pub gone: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// How to drain an agent.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Drain {
    /// Longest time in seconds a task is given to stop, overriding longer kill grace periods;
    /// unset uses each task's own grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_grace_period_seconds: Option<u64>,
    /// When true, once drained the agent is marked Gone and never offered again
    /// (decommissioning).
    #[serde(default, skip_serializing_if = "is_false")]
    pub mark_gone: bool,
}

/// What the agent and the master observe about an agent.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentStatus {
    /// Resources held by tasks (and outstanding offers) on this agent.
    #[serde(default)]
    pub allocated: Resources,
    /// Resources neither held by tasks nor offered: what the next offer can hold.
    #[serde(default)]
    pub free: Resources,
    /// Ready (heartbeating), Unreachable (heartbeats missed), Gone (never coming back).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Base URL of the agent's sandbox file service (browse and read task stdout/stderr).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// How resource limits are enforced, in Mesos' --isolation form, e.g. `cgroups/cpu,cgroups/mem`
    /// or `posix/cpu,posix/mem` (accounted, not enforced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    /// Containerizers the agent can run tasks with, e.g. `[mesos, docker]`; mesos runs plain
    /// processes, docker runs container images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containerizers: Vec<String>,
    /// Time of the last heartbeat the master saw (copied from the agent's Lease).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat: Option<Time>,
    /// The uids of tasks on this agent that the master checked against their offers and
    /// staged: the agent runs a task once it is listed here (Mesos' master forwarding the
    /// launch). Written by the master with the allocation; uids of tasks that have since
    /// reported a state may linger until the next write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub staged: Vec<String>,
}

impl AgentSpec {
    /// An agent on `hostname` offering `resources`.
    pub fn new(hostname: impl Into<String>, resources: Resources) -> AgentSpec {
        AgentSpec {
            hostname: hostname.into(),
            resources,
            ..AgentSpec::default()
        }
    }

    /// Whether new offers may be made from this agent (not unschedulable, draining or marked
    /// gone).
    pub fn is_schedulable(&self) -> bool {
        !self.unschedulable && self.drain.is_none() && !self.gone
    }
}

impl Agent {
    /// Whether the agent is gone for good: marked so, or declared so by the master (its
    /// `Gone` condition).
    pub fn is_gone(&self) -> bool {
        self.spec.gone
            || self.status.as_ref().is_some_and(|s| {
                find_condition(&s.conditions, types::GONE)
                    .is_some_and(|c| c.status == ConditionStatus::True)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedulable_unless_cordoned_or_draining() {
        let mut spec = AgentSpec::new("h", Resources::new());
        assert!(spec.is_schedulable());
        spec.drain = Some(Drain::default());
        assert!(!spec.is_schedulable());
        spec.drain = None;
        spec.unschedulable = true;
        assert!(!spec.is_schedulable());
    }

    #[test]
    fn minimal_yaml_round_trips() {
        let yaml = "hostname: node-1\nresources:\n  cpus: 2\n  mem: 2048\n";
        let spec: AgentSpec = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(serde_saphyr::to_string(&spec).unwrap(), yaml);
    }
}
