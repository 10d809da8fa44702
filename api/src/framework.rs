//! Framework: a scheduler registered with a cluster, which receives offers and launches tasks.
//!
//! Why it exists: two-level scheduling hands resources to frameworks in weighted-DRF order, so
//! the allocator needs each framework's role, weight, capabilities and whether it wants offers;
//! Marathon is one framework, `strata execute` a one-shot one, and anyone may write another
//! against the CRDs. Offers and Tasks live in the framework's namespace.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::Condition;
use crate::resources::Resources;

/// A framework (scheduler) that receives resource offers.
// kube's repeated printcolumn(...) arguments trip clippy's duplicated_attributes (a false
// positive: each column is a separate argument, not a repeated attribute).
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "strata.io",
    version = "v1alpha1",
    kind = "Framework",
    namespaced,
    status = "FrameworkStatus",
    shortname = "fw",
    category = "strata",
    derive = "PartialEq",
    doc = "A scheduler registered with a strata cluster: it receives resource offers in weighted-DRF order and launches tasks against them, as a Mesos framework does.",
    printcolumn(
        name = "Role",
        type_ = "string",
        json_path = ".spec.role",
        description = "Role the framework receives offers for"
    ),
    printcolumn(
        name = "Weight",
        type_ = "number",
        json_path = ".spec.weight",
        description = "Weight of the framework's fair share"
    ),
    printcolumn(
        name = "Active",
        type_ = "boolean",
        json_path = ".status.active",
        description = "Whether the framework is subscribed"
    ),
    printcolumn(
        name = "CPUs",
        type_ = "number",
        json_path = ".status.allocated.cpus",
        description = "CPUs held by the framework's tasks and offers"
    ),
    printcolumn(
        name = "Mem",
        type_ = "integer",
        json_path = ".status.allocated.mem",
        description = "Memory held by the framework's tasks and offers, in MB"
    ),
    printcolumn(
        name = "Dominant Share",
        type_ = "number",
        json_path = ".status.dominantShare",
        description = "Largest fraction of any cluster resource the framework holds"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct FrameworkSpec {
    /// Name of the Cluster the framework registers with; unset is the root pool. (Reserved for
    /// nested clusters: a per-user Marathon registers with the user's child cluster.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Role whose resources and fair share the framework uses; "*" is the default role.
    #[serde(default = "default_role")]
    pub role: String,
    /// Weight of the framework in weighted Dominant Resource Fairness: a framework with weight
    /// 2 is offered twice the share of one with weight 1.
    #[serde(default = "default_weight")]
    #[schemars(extend("minimum" = 0, "exclusiveMinimum" = true))]
    pub weight: f64,
    /// What the framework can handle; each capability changes what it is offered.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Seconds the framework may stay disconnected before its tasks are killed. Defaults to one
    /// week, what Marathon registers with; Mesos' own default of 0 would kill every task each
    /// time a scheduler restarts.
    #[serde(default = "default_failover_timeout_seconds")]
    pub failover_timeout_seconds: u64,
    /// When true, the framework receives no offers (Mesos' SUPPRESS); set it back to false to
    /// revive.
    #[serde(default)]
    pub suppressed: bool,
    /// Change it (e.g. count up) to revive without suppressing first: your refuse filters are
    /// dropped and declined resources are offered again at once (Mesos' REVIVE).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revive: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn default_role() -> String {
    "*".to_string()
}

fn default_weight() -> f64 {
    1.0
}

fn default_failover_timeout_seconds() -> u64 {
    604_800
}

impl Default for FrameworkSpec {
    fn default() -> FrameworkSpec {
        FrameworkSpec {
            cluster: None,
            role: default_role(),
            weight: default_weight(),
            capabilities: Capabilities::default(),
            failover_timeout_seconds: default_failover_timeout_seconds(),
            suppressed: false,
            revive: 0,
        }
    }
}

/// Framework capabilities, as in Mesos' FrameworkInfo.Capability.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// The framework handles Unreachable and Gone tasks (PARTITION_AWARE); otherwise tasks on an
    /// unreachable agent are reported Lost.
    #[serde(default)]
    pub partition_aware: bool,
    /// The framework accepts revocable resources (REVOCABLE_RESOURCES): capacity that is lent
    /// or oversubscribed and may be taken back, offered in Offers with revocable: true.
    #[serde(default)]
    pub revocable: bool,
}

/// What the master observes about a framework.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FrameworkStatus {
    /// Whether the framework is subscribed (connected) and can receive offers.
    #[serde(default)]
    pub active: bool,
    /// Resources held by the framework's tasks and outstanding offers.
    #[serde(default)]
    pub allocated: Resources,
    /// The part of `allocated` in outstanding offers; the rest is held by its tasks.
    #[serde(default)]
    pub offered: Resources,
    /// The largest fraction of any cluster resource the framework holds (0 to 1), the
    /// quantity weighted DRF equalizes.
    #[serde(default)]
    pub dominant_share: f64,
    /// Active, and why not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_spec_gets_mesos_defaults() {
        let spec: FrameworkSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec, FrameworkSpec::default());
        assert_eq!(spec.role, "*");
        assert_eq!(spec.weight, 1.0);
        assert_eq!(spec.failover_timeout_seconds, 604_800);
        assert!(!spec.capabilities.partition_aware);
    }

    #[test]
    fn camel_case_on_the_wire() {
        let spec = FrameworkSpec {
            capabilities: Capabilities {
                partition_aware: true,
                revocable: false,
            },
            ..FrameworkSpec::default()
        };
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["capabilities"]["partitionAware"], true);
        assert_eq!(json["failoverTimeoutSeconds"], 604_800);
    }
}
