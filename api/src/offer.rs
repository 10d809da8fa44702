//! Offer: resources on one agent offered to one framework, until it is used or expires.
//!
//! Why it exists: two-level scheduling. The allocator (the master) creates Offers in the
//! framework's namespace; the framework accepts one by creating Tasks that name it (and fit
//! it), or declines it with a refuse filter. The allocator never offers the same resources
//! twice at once and rescinds offers it must take back. The spec is written by the allocator
//! only; the phase records how the offer ended.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::conditions::Condition;
use crate::resources::Resources;

/// Resources on one agent offered to one framework.
// kube's repeated printcolumn(...) arguments trip clippy's duplicated_attributes (a false
// positive: each column is a separate argument, not a repeated attribute).
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "strata.io",
    version = "v1alpha1",
    kind = "Offer",
    namespaced,
    status = "OfferStatus",
    shortname = "ofr",
    category = "strata",
    derive = "PartialEq",
    selectable = ".spec.framework",
    selectable = ".spec.agent",
    doc = "Resources on one agent offered to one framework until they are used, declined, rescinded or expire, as in Mesos' two-level scheduling.",
    printcolumn(
        name = "Framework",
        type_ = "string",
        json_path = ".spec.framework",
        description = "Framework the offer is made to"
    ),
    printcolumn(
        name = "Agent",
        type_ = "string",
        json_path = ".spec.agent",
        description = "Agent the resources are on"
    ),
    printcolumn(
        name = "CPUs",
        type_ = "number",
        json_path = ".spec.resources.cpus",
        description = "CPUs offered"
    ),
    printcolumn(
        name = "Mem",
        type_ = "integer",
        json_path = ".spec.resources.mem",
        description = "Memory offered, in MB"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Pending, Accepted, Declined, Rescinded or Expired"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct OfferSpec {
    /// Name of the Framework (in this namespace) the offer is made to.
    pub framework: String,
    /// Name of the Agent the resources are on.
    pub agent: String,
    /// Hostname of the agent, copied from the Agent so frameworks can place tasks without
    /// reading it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Attributes of the agent, copied from the Agent for placement constraints.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// The resources offered; tasks launched against the offer must fit in them together.
    pub resources: Resources,
    /// When the offer lapses if unused (RFC 3339); unset never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// Whether the resources are revocable (lent or oversubscribed) and may be taken back,
    /// killing the tasks using them; made only to frameworks with the revocable capability.
    #[serde(default)]
    pub revocable: bool,
}

/// How an offer ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum OfferPhase {
    /// Made and not yet used.
    #[default]
    Pending,
    /// The framework launched tasks against it.
    Accepted,
    /// The framework declined it.
    Declined,
    /// The allocator took it back.
    Rescinded,
    /// It lapsed unused.
    Expired,
}

impl OfferPhase {
    /// Whether the offer is over (anything but Pending).
    pub fn is_settled(self) -> bool {
        self != OfferPhase::Pending
    }
}

/// What became of an offer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfferStatus {
    /// Pending, Accepted, Declined, Rescinded or Expired.
    #[serde(default)]
    pub phase: OfferPhase,
    /// When Declined, or Accepted with resources left unused: seconds during which those
    /// resources on this agent are not offered to this framework again (Mesos' refuse filter;
    /// 5 when unset, at most a year).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub refuse_seconds: Option<f64>,
    /// When Accepted: the names of the Tasks (in this namespace) launched against the offer.
    /// The master holds the offer until it has seen each of them, then returns what they left
    /// unused; a task naming the offer that is not listed here is Dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<String>,
    /// Why the offer ended as it did, e.g. why it was rescinded or what did not fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Settled, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Mesos' default refuse filter for a declined offer, in seconds.
pub const DEFAULT_REFUSE_SECONDS: f64 = 5.0;
/// The longest refuse filter: longer ones are cut to it.
pub const MAX_REFUSE: Duration = Duration::from_secs(365 * 24 * 3600);

impl OfferStatus {
    /// How long a decline holds: `refuseSeconds` (5 s when unset), within zero and a year —
    /// whatever a framework wrote, even a value no clock can add.
    pub fn refuse(&self) -> Duration {
        let seconds = self.refuse_seconds.unwrap_or(DEFAULT_REFUSE_SECONDS);
        Duration::try_from_secs_f64(seconds.max(0.0)).map_or(MAX_REFUSE, |d| d.min(MAX_REFUSE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_serialize_as_written() {
        assert_eq!(
            serde_json::to_value(OfferPhase::Rescinded).unwrap(),
            "Rescinded"
        );
        assert!(!OfferPhase::Pending.is_settled());
        assert!(OfferPhase::Expired.is_settled());
    }

    #[test]
    fn spec_round_trips_with_an_rfc3339_expiry() {
        let json = serde_json::json!({
            "framework": "marathon", "agent": "node-1",
            "resources": {"cpus": 1.5, "mem": 512},
            "expiresAt": "2025-06-01T12:00:00Z", "revocable": false
        });
        let spec: OfferSpec = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(spec.resources.cpus.millis(), 1500);
        assert_eq!(serde_json::to_value(&spec).unwrap(), json);
        assert_eq!(OfferStatus::default().refuse(), Duration::from_secs(5));
        let refusing = |seconds: f64| OfferStatus {
            refuse_seconds: Some(seconds),
            ..OfferStatus::default()
        };
        assert_eq!(refusing(0.5).refuse(), Duration::from_millis(500));
        assert_eq!(refusing(-3.0).refuse(), Duration::ZERO);
        assert_eq!(refusing(1e300).refuse(), MAX_REFUSE);
        assert_eq!(refusing(f64::NAN).refuse(), Duration::ZERO);
    }
}
