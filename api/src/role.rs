//! ResourceRole: a Mesos role's weight and quota, set by the operator.
//!
//! Why it exists: weighted DRF shares resources first across roles, then across the frameworks
//! of a role; the operator tunes a role's weight and caps what it may hold (Mesos'
//! UPDATE_WEIGHTS and UPDATE_QUOTA). A role needs no object to be used: frameworks name it in
//! `spec.role`, and a role without a ResourceRole has weight 1 and no limit. Named
//! ResourceRole, not Role, because `role` is rbac.authorization.k8s.io's and kubectl resolves
//! names across groups. Cluster-scoped, like the roles it configures.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::Condition;
use crate::resources::{Cpus, Resources};

/// A role's weight and quota limit.
// kube's repeated printcolumn(...) arguments trip clippy's duplicated_attributes (a false
// positive: each column is a separate argument, not a repeated attribute).
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "strata.io",
    version = "v1alpha1",
    kind = "ResourceRole",
    status = "ResourceRoleStatus",
    shortname = "rrole",
    category = "strata",
    derive = "PartialEq",
    doc = "A Mesos role's weight in weighted DRF and its quota limit. The object is named like the role; '*' (the default role) is spelled 'default'.",
    printcolumn(
        name = "Weight",
        type_ = "number",
        json_path = ".spec.weight",
        description = "Weight of the role's fair share"
    ),
    printcolumn(
        name = "CPU Limit",
        type_ = "number",
        json_path = ".spec.quota.limits.cpus",
        description = "Most cpus the role may hold"
    ),
    printcolumn(
        name = "Mem Limit",
        type_ = "integer",
        json_path = ".spec.quota.limits.mem",
        description = "Most memory the role may hold, in MB"
    ),
    printcolumn(
        name = "Dominant Share",
        type_ = "number",
        json_path = ".status.dominantShare",
        description = "Largest fraction of any cluster resource the role holds"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRoleSpec {
    /// Weight of the role in weighted DRF: a role with weight 2 is offered twice the share of
    /// a role with weight 1.
    #[serde(default = "default_weight")]
    #[schemars(extend("minimum" = 0, "exclusiveMinimum" = true))]
    pub weight: f64,
    /// The most the role may hold; offers are capped and rescinded to keep it there.
    #[serde(default)]
    pub quota: Quota,
}

fn default_weight() -> f64 {
    1.0
}

impl Default for ResourceRoleSpec {
    fn default() -> ResourceRoleSpec {
        ResourceRoleSpec {
            weight: default_weight(),
            quota: Quota::default(),
        }
    }
}

/// A role's quota.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// Upper bounds on what the role holds (its tasks and outstanding offers together); a
    /// resource left out is not limited.
    #[serde(default)]
    pub limits: QuotaLimits,
}

/// Per-resource upper bounds; unset means unlimited.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaLimits {
    /// Most cpus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
    /// Most memory, in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<u64>,
    /// Most disk, in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<u64>,
    /// Most GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
}

impl QuotaLimits {
    /// The part of `wanted` that `held` may still grow by: each limited scalar capped at
    /// `limit - held` (zero once reached); ports are not limited.
    pub fn headroom(&self, held: &Resources, wanted: &Resources) -> Resources {
        let cap = |limit: Option<u64>, held: u64, wanted: u64| match limit {
            Some(limit) => wanted.min(limit.saturating_sub(held)),
            None => wanted,
        };
        Resources {
            cpus: Cpus::from_millis(cap(
                self.cpus.map(Cpus::millis),
                held.cpus.millis(),
                wanted.cpus.millis(),
            )),
            mem: cap(self.mem, held.mem, wanted.mem),
            disk: cap(self.disk, held.disk, wanted.disk),
            gpus: cap(
                self.gpus.map(u64::from),
                u64::from(held.gpus),
                u64::from(wanted.gpus),
            ) as u32,
            ports: wanted.ports.clone(),
        }
    }

    /// Whether `held` exceeds any limit.
    pub fn exceeded_by(&self, held: &Resources) -> bool {
        self.cpus.is_some_and(|l| held.cpus > l)
            || self.mem.is_some_and(|l| held.mem > l)
            || self.disk.is_some_and(|l| held.disk > l)
            || self.gpus.is_some_and(|l| held.gpus > l)
    }
}

/// What the master observes about a role.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRoleStatus {
    /// Resources held by the role's tasks and outstanding offers.
    #[serde(default)]
    pub allocated: Resources,
    /// The largest fraction of any cluster resource the role holds (0 to 1).
    #[serde(default)]
    pub dominant_share: f64,
    /// Conditions, keyed by type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// The ResourceRole object that configures `role`: Mesos' default role `*` is not a valid
/// object name, so it is configured by the object named `default`.
pub fn object_name(role: &str) -> &str {
    if role == "*" { "default" } else { role }
}

/// The role an object named `name` configures (the inverse of [`object_name`]).
pub fn role_of(name: &str) -> &str {
    if name == "default" { "*" } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_caps_limited_scalars_only() {
        let limits = QuotaLimits {
            cpus: Some(Cpus::from_millis(4000)),
            mem: Some(1024),
            ..QuotaLimits::default()
        };
        let held: Resources = "cpus:3;mem:1024".parse().unwrap();
        let wanted: Resources = "cpus:2;mem:512;disk:100;ports:[31000-31001]"
            .parse()
            .unwrap();
        assert_eq!(
            limits.headroom(&held, &wanted).to_string(),
            "cpus:1;disk:100;ports:[31000-31001]"
        );
        assert!(!limits.exceeded_by(&held));
        assert!(limits.exceeded_by(&"mem:1025".parse().unwrap()));
    }

    #[test]
    fn the_default_role_has_an_object_name() {
        assert_eq!(object_name("*"), "default");
        assert_eq!(role_of("default"), "*");
        assert_eq!(role_of(object_name("analytics")), "analytics");
    }
}
