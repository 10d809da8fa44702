//! Registering the Agent and renewing its heartbeat Lease.
//!
//! Why it exists: the master learns of an agent only from the store. The agent server-side
//! applies its Agent's spec (hostname, resources, attributes) and status (sandbox endpoint,
//! isolation, containerizers, Ready), owning only those fields, so an operator's
//! `unschedulable` or `drain` and the master's `allocated` are never overwritten. Liveness is a
//! coordination.k8s.io Lease in `strata-node-lease`, renewed every 10 s with jitter (as the
//! kubelet renews its node Lease) so that many agents do not write in lockstep.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use rand::Rng;
use strata_api::agent::{Agent, AgentSpec};
use strata_api::conditions::{Condition, ConditionStatus};

/// Field manager of what the agent writes.
pub const MANAGER: &str = "strata-agent";
/// Namespace of the agents' heartbeat Leases.
pub const LEASE_NAMESPACE: &str = "strata-node-lease";
/// How often the Lease is renewed by default, before jitter (`strata agent
/// --heartbeat-interval`).
pub const RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// A Lease stays valid for this many missed renewals.
const LEASE_RENEWALS: u32 = 4;

/// What the agent says about itself.
#[derive(Clone, Debug)]
pub struct Registration {
    pub name: String,
    pub spec: AgentSpec,
    pub endpoint: Option<String>,
    pub isolation: String,
    pub containerizers: Vec<String>,
}

/// Applies the Agent's spec and status.
pub async fn register(client: &Client, registration: &Registration) -> Result<(), kube::Error> {
    let api: Api<Agent> = Api::all(client.clone());
    let params = PatchParams::apply(MANAGER).force();
    let name = &registration.name;
    let agent = serde_json::json!({
        "apiVersion": "strata.io/v1alpha1",
        "kind": "Agent",
        "metadata": { "name": name },
        "spec": registration.spec,
    });
    api.patch(name, &params, &Patch::Apply(&agent)).await?;
    let ready = Condition::new(
        "Ready",
        ConditionStatus::True,
        "AgentRegistered",
        "the agent registered and is heartbeating",
        crate::report::now(),
    );
    let status = serde_json::json!({
        "apiVersion": "strata.io/v1alpha1",
        "kind": "Agent",
        "metadata": { "name": name },
        "status": {
            "endpoint": registration.endpoint,
            "isolation": registration.isolation,
            "containerizers": registration.containerizers,
            "conditions": [ready],
        },
    });
    api.patch_status(name, &params, &Patch::Apply(&status))
        .await?;
    Ok(())
}

/// Renews the agent's Lease every `interval` (with jitter) forever, creating it when missing.
pub async fn heartbeat(client: Client, name: String, interval: Duration) {
    let api: Api<Lease> = Api::namespaced(client, LEASE_NAMESPACE);
    loop {
        if let Err(e) = renew(&api, &name, interval).await {
            tracing::warn!(agent = %name, error = %e, "could not renew the heartbeat lease");
        }
        tokio::time::sleep(jittered(interval)).await;
    }
}

/// One renewal: a merge patch of renewTime, or a create when the Lease does not exist.
pub async fn renew(api: &Api<Lease>, name: &str, interval: Duration) -> Result<(), kube::Error> {
    let now = MicroTime(jiff::Timestamp::now());
    let patch = serde_json::json!({ "spec": { "renewTime": now, "holderIdentity": name } });
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Err(kube::Error::Api(s)) if s.code == 404 => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(name.to_string()),
                    lease_duration_seconds: Some(
                        (interval * LEASE_RENEWALS)
                            .as_secs()
                            .clamp(1, i32::MAX as u64) as i32,
                    ),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    ..LeaseSpec::default()
                }),
            };
            api.create(&PostParams::default(), &lease).await.map(drop)
        }
        other => other.map(drop),
    }
}

/// `interval` scaled by a random factor in [0.9, 1.1).
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(rand::rng().random_range(0.9..1.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(10));
            assert!(
                d >= Duration::from_secs(9) && d < Duration::from_secs(11),
                "{d:?}"
            );
        }
    }
}
