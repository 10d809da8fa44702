//! Conditions: the `status.conditions` every strata kind reports, and their types and reasons.
//!
//! Why it exists: `kubectl wait --for=condition=Available`, GitOps health checks (Argo CD, Flux,
//! kstatus) and humans all read conditions in the shape of Kubernetes' `metav1.Condition`. One
//! type with the type and reason names as constants keeps every controller writing the same
//! words, and [`set_condition`] keeps `lastTransitionTime` honest (it moves only when the status
//! does). Pure: the caller passes the time in.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One aspect of an object's current state, in the shape of Kubernetes' `metav1.Condition`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of condition in CamelCase, e.g. Ready or Available; unique within the list.
    #[serde(rename = "type")]
    pub type_: String,
    /// Status of the condition: True, False or Unknown.
    pub status: ConditionStatus,
    /// Machine-readable CamelCase reason for the last transition, e.g. HeartbeatMissed.
    pub reason: String,
    /// Human-readable details about the last transition; may be empty.
    #[serde(default)]
    pub message: String,
    /// When the condition last changed from one status to another.
    pub last_transition_time: Time,
    /// The .metadata.generation the condition was computed from; older than the object's
    /// generation means the condition is out of date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Whether a condition holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The controller cannot tell (yet).
    #[default]
    Unknown,
}

impl ConditionStatus {
    /// `True` for `true`, `False` for `false`.
    pub fn from_bool(b: bool) -> ConditionStatus {
        if b {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

impl fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        })
    }
}

impl Condition {
    /// A condition of `type_` with `status`, `reason` and `message`, transitioning at `now`.
    pub fn new(
        type_: impl Into<String>,
        status: ConditionStatus,
        reason: impl Into<String>,
        message: impl Into<String>,
        now: Time,
    ) -> Condition {
        Condition {
            type_: type_.into(),
            status,
            reason: reason.into(),
            message: message.into(),
            last_transition_time: now,
            observed_generation: None,
        }
    }

    /// The same condition, stamped as computed from `generation`.
    pub fn observed(mut self, generation: Option<i64>) -> Condition {
        self.observed_generation = generation;
        self
    }

    /// Whether the status is True.
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// The condition of type `type_`, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of type `type_` is present and True.
pub fn is_condition_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(Condition::is_true)
}

/// Adds or updates `new` in `conditions` by type, as apimachinery's `meta.SetStatusCondition`
/// does: when the status is unchanged the existing `lastTransitionTime` is kept and only
/// reason, message and observedGeneration are updated. Returns whether anything changed.
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        None => {
            conditions.push(new);
            true
        }
        Some(existing) => {
            let mut merged = new;
            if existing.status == merged.status {
                merged.last_transition_time = existing.last_transition_time.clone();
            }
            let changed = *existing != merged;
            *existing = merged;
            changed
        }
    }
}

/// Removes the condition of type `type_`; returns whether it was there.
pub fn remove_condition(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    conditions.len() != before
}

/// Condition types.
pub mod types {
    /// Agent: registered and heartbeating, so its resources can be offered.
    pub const READY: &str = "Ready";
    /// Agent: missed heartbeats for longer than the unreachable timeout; its tasks are Unreachable.
    pub const UNREACHABLE: &str = "Unreachable";
    /// Agent: declared gone (by the operator, a drain with markGone, or the reregister timeout);
    /// its tasks are Gone and it will not be offered again.
    pub const GONE: &str = "Gone";
    /// Framework: subscribed and heartbeating, so it receives offers.
    pub const ACTIVE: &str = "Active";
    /// Task: its health checks pass.
    pub const HEALTHY: &str = "Healthy";
    /// App: at least the instances the upgrade strategy requires are running (and healthy).
    pub const AVAILABLE: &str = "Available";
    /// App: a deployment (rollout, scale, restart) is in progress or just finished.
    pub const PROGRESSING: &str = "Progressing";
    /// Offer: accepted, declined, rescinded or expired, so it can no longer be used.
    pub const SETTLED: &str = "Settled";
}

/// Condition reasons, CamelCase as Kubernetes wants them.
pub mod reasons {
    /// Agent Ready=True: heartbeats arrive.
    pub const HEARTBEATING: &str = "Heartbeating";
    /// Agent Ready=False / Unreachable=True: heartbeats stopped.
    pub const HEARTBEAT_MISSED: &str = "HeartbeatMissed";
    /// Agent Ready=False: being drained.
    pub const DRAINING: &str = "Draining";
    /// Agent Ready=False: marked unschedulable.
    pub const UNSCHEDULABLE: &str = "Unschedulable";
    /// Agent Gone=True: marked gone by the operator or a drain.
    pub const MARKED_GONE: &str = "MarkedGone";
    /// Agent Gone=True: unreachable for longer than the reregister timeout.
    pub const REREGISTER_TIMEOUT: &str = "ReregisterTimeout";
    /// Framework Active=True: subscribed.
    pub const SUBSCRIBED: &str = "Subscribed";
    /// Framework Active=False: disconnected, within its failover timeout.
    pub const DISCONNECTED: &str = "Disconnected";
    /// Framework Active=False: failover timeout passed; its tasks are killed.
    pub const FAILOVER_TIMEOUT: &str = "FailoverTimeout";
    /// Task Healthy: the health checks pass.
    pub const HEALTH_CHECKS_PASSING: &str = "HealthChecksPassing";
    /// Task Healthy=False: too many consecutive health check failures.
    pub const HEALTH_CHECKS_FAILING: &str = "HealthChecksFailing";
    /// App Available=True: enough instances run.
    pub const MINIMUM_INSTANCES_AVAILABLE: &str = "MinimumInstancesAvailable";
    /// App Available=False: fewer instances run than the upgrade strategy requires.
    pub const INSUFFICIENT_INSTANCES: &str = "InsufficientInstances";
    /// App Progressing=True: a deployment is under way.
    pub const DEPLOYING: &str = "Deploying";
    /// App Progressing=True: the last deployment finished.
    pub const DEPLOYMENT_COMPLETE: &str = "DeploymentComplete";
    /// App Progressing=False: waiting for offers that fit (the message says which resources or
    /// constraints fall short).
    pub const WAITING_FOR_OFFERS: &str = "WaitingForOffers";
    /// App Progressing=False: launches are delayed by the crash-loop backoff.
    pub const BACKOFF: &str = "Backoff";
    /// App Available=True, Progressing=True: scaled to zero instances.
    pub const SUSPENDED: &str = "Suspended";
    /// Any kind: the spec cannot be acted upon (the message says what to fix).
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Offer Settled=True: accepted by launching tasks.
    pub const ACCEPTED: &str = "Accepted";
    /// Offer Settled=True: declined by the framework.
    pub const DECLINED: &str = "Declined";
    /// Offer Settled=True: taken back by the allocator.
    pub const RESCINDED: &str = "Rescinded";
    /// Offer Settled=True: not used before it expired.
    pub const EXPIRED: &str = "Expired";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    fn ready(status: ConditionStatus, reason: &str, when: &str) -> Condition {
        Condition::new(types::READY, status, reason, "", at(when))
    }

    #[test]
    fn set_keeps_the_transition_time_while_the_status_holds() {
        let mut conds = Vec::new();
        assert!(set_condition(
            &mut conds,
            ready(
                ConditionStatus::True,
                reasons::HEARTBEATING,
                "2025-01-01T00:00:00Z"
            )
        ));
        assert!(!set_condition(
            &mut conds,
            ready(
                ConditionStatus::True,
                reasons::HEARTBEATING,
                "2025-01-01T00:05:00Z"
            )
        ));
        assert_eq!(conds[0].last_transition_time, at("2025-01-01T00:00:00Z"));

        let update = Condition::new(
            types::READY,
            ConditionStatus::True,
            reasons::HEARTBEATING,
            "ok",
            at("2025-01-01T00:06:00Z"),
        );
        assert!(set_condition(&mut conds, update.observed(Some(3))));
        assert_eq!(conds[0].message, "ok");
        assert_eq!(conds[0].observed_generation, Some(3));
        assert_eq!(conds[0].last_transition_time, at("2025-01-01T00:00:00Z"));

        assert!(set_condition(
            &mut conds,
            ready(
                ConditionStatus::False,
                reasons::HEARTBEAT_MISSED,
                "2025-01-01T00:07:00Z"
            )
        ));
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].last_transition_time, at("2025-01-01T00:07:00Z"));
        assert!(!is_condition_true(&conds, types::READY));
    }

    #[test]
    fn find_and_remove_by_type() {
        let mut conds = vec![ready(
            ConditionStatus::True,
            reasons::HEARTBEATING,
            "2025-01-01T00:00:00Z",
        )];
        set_condition(
            &mut conds,
            Condition::new(
                types::GONE,
                ConditionStatus::False,
                reasons::HEARTBEATING,
                "",
                at("2025-01-01T00:00:00Z"),
            ),
        );
        assert!(is_condition_true(&conds, types::READY));
        assert!(find_condition(&conds, types::GONE).is_some());
        assert!(find_condition(&conds, types::UNREACHABLE).is_none());
        assert!(remove_condition(&mut conds, types::GONE));
        assert!(!remove_condition(&mut conds, types::GONE));
        assert_eq!(conds.len(), 1);
    }

    #[test]
    fn wire_form_matches_metav1_condition() {
        let c = Condition::new(
            types::AVAILABLE,
            ConditionStatus::from_bool(true),
            reasons::MINIMUM_INSTANCES_AVAILABLE,
            "2 of 2",
            at("2025-03-04T05:06:07Z"),
        )
        .observed(Some(2));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "Available", "status": "True", "reason": "MinimumInstancesAvailable",
                "message": "2 of 2", "lastTransitionTime": "2025-03-04T05:06:07Z", "observedGeneration": 2
            })
        );
        assert_eq!(serde_json::from_value::<Condition>(json).unwrap(), c);
        assert_eq!(ConditionStatus::Unknown.to_string(), "Unknown");
    }
}
