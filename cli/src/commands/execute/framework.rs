//! The one-shot framework behind `strata execute`: registers a Framework with its heartbeat
//! Lease, takes the first offer that fits, launches the task against it, and deregisters.
//!
//! Why it exists: `strata execute` is a framework like any other and speaks only the object
//! protocol of docs/frameworks.md; this module is that protocol, kept apart from printing and
//! following the task. It must never touch objects of other frameworks.

use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use strata_api::agent::Agent;
use strata_api::framework::{Capabilities, Framework, FrameworkSpec};
use strata_api::labels::FRAMEWORK as FRAMEWORK_LABEL;
use strata_api::offer::{Offer, OfferPhase};
use strata_api::resources::{Resources, Shortfall};
use strata_api::task::Task;
use strata_controllers::heartbeats::{framework_lease, renewal};

use super::launch::Launch;
use super::signals::Interrupts;

/// How long the master counts the framework active after a renewal it saw.
const LEASE_DURATION_SECONDS: i32 = 15;
/// How often the Lease is renewed: a few times within its duration.
const RENEW_EVERY: Duration = Duration::from_secs(4);
/// How long an agent whose offer did not fit is not offered to us again (unless more of it
/// becomes free meanwhile, which the master offers at once).
const DECLINE_REFUSE_SECONDS: f64 = 1.0;
/// How often a wait for an offer says it is still waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// A registered framework: its name, and the heartbeat that keeps it active.
pub struct Registered {
    pub name: String,
    namespace: String,
    role: String,
    client: Client,
    heartbeat: tokio::task::JoinHandle<()>,
}

/// Registers a Framework named `execute-<task>-<random>` in `namespace` with its heartbeat
/// Lease, and renews the Lease until [`Registered::deregister`].
pub async fn register(
    client: Client,
    namespace: &str,
    task: &str,
    role: &str,
    partition_aware: bool,
) -> anyhow::Result<Registered> {
    let frameworks: Api<Framework> = Api::namespaced(client.clone(), namespace);
    let framework = Framework {
        metadata: ObjectMeta {
            generate_name: Some(format!("execute-{task}-")),
            ..ObjectMeta::default()
        },
        spec: FrameworkSpec {
            role: role.to_string(),
            capabilities: Capabilities {
                partition_aware,
                ..Capabilities::default()
            },
            // mesos-execute's: nothing of a one-shot run is worth keeping once it is gone.
            failover_timeout_seconds: 0,
            ..FrameworkSpec::default()
        },
        status: None,
    };
    let created = frameworks
        .create(&PostParams::default(), &framework)
        .await
        .with_context(|| format!("registering a Framework in namespace {namespace}"))?;
    let name = created.name_any();
    let leases: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let lease = framework_lease(&name, LEASE_DURATION_SECONDS);
    if let Err(e) = leases.create(&PostParams::default(), &lease).await {
        remove(&client, namespace, &name).await;
        return Err(e).context("creating the framework's heartbeat Lease");
    }
    Ok(Registered {
        heartbeat: tokio::spawn(heartbeat(leases, name.clone())),
        name,
        namespace: namespace.to_string(),
        role: role.to_string(),
        client,
    })
}

/// Renews the Lease every few seconds, forever.
async fn heartbeat(leases: Api<Lease>, name: String) {
    let mut every = tokio::time::interval(RENEW_EVERY);
    every.tick().await;
    loop {
        every.tick().await;
        let renew = renewal();
        if let Err(e) = leases
            .patch(&name, &PatchParams::default(), &Patch::Merge(&renew))
            .await
        {
            eprintln!("warning: could not renew the framework's heartbeat Lease: {e}");
        }
    }
}

impl Registered {
    fn offers(&self) -> Api<Offer> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Waits up to `timeout` for a pending offer that fits `resources`, declining those that
    /// do not, and saying every few seconds that it still waits; None when interrupted.
    pub async fn first_fitting_offer(
        &self,
        resources: &Resources,
        timeout: Duration,
        interrupts: &mut Interrupts,
    ) -> anyhow::Result<Option<Offer>> {
        let offers = self.offers();
        let selector = format!("{FRAMEWORK_LABEL}={}", self.name);
        let mut stream = watcher(offers.clone(), watcher::Config::default().labels(&selector))
            .default_backoff()
            .applied_objects()
            .boxed();
        let started = tokio::time::Instant::now();
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut progress = tokio::time::interval_at(started + PROGRESS_EVERY, PROGRESS_EVERY);
        let mut misfit: Option<(String, Vec<Shortfall>)> = None;
        let mut last_error: Option<String> = None;
        loop {
            tokio::select! {
                next = stream.next() => match next {
                    Some(Ok(offer)) => {
                        let pending = offer.status.as_ref().is_none_or(|s| s.phase == OfferPhase::Pending);
                        if !pending {
                            continue;
                        }
                        let shortfalls = resources.shortfalls(&offer.spec.resources);
                        if shortfalls.is_empty() {
                            return Ok(Some(offer));
                        }
                        self.settle(&offer.name_any(), json!({"phase": "Declined", "refuseSeconds": DECLINE_REFUSE_SECONDS})).await;
                        misfit = Some((offer.spec.agent, shortfalls));
                    }
                    Some(Err(e)) => {
                        let e = e.to_string();
                        if last_error.as_ref() != Some(&e) {
                            eprintln!("warning: watching offers failed (retrying): {e}");
                        }
                        last_error = Some(e);
                    }
                    None => unreachable!("a watcher stream does not end"),
                },
                _ = progress.tick() => {
                    eprintln!("Still waiting for an offer ({}s)", started.elapsed().as_secs());
                }
                () = &mut deadline => {
                    bail!(self.why_no_offer(resources, timeout, misfit, last_error).await);
                }
                () = interrupts.recv() => return Ok(None),
            }
        }
    }

    /// A message for people: what to check when no offer fit within `timeout`.
    async fn why_no_offer(
        &self,
        resources: &Resources,
        timeout: Duration,
        misfit: Option<(String, Vec<Shortfall>)>,
        error: Option<String>,
    ) -> String {
        let head = format!(
            "no offer that fits {resources} came within {}s",
            timeout.as_secs()
        );
        if let Some(error) = error {
            return format!("{head}: watching offers failed: {error}");
        }
        if let Some((agent, shortfalls)) = misfit {
            let short: Vec<String> = shortfalls.iter().map(ToString::to_string).collect();
            return format!(
                "{head}: offers came but none fit; the last, from agent {agent}, has too little: {}. \
                 Ask for less with --resources, or free resources on the agents",
                short.join("; ")
            );
        }
        let agents: Api<Agent> = Api::all(self.client.clone());
        let no_agents = agents
            .list(&ListParams::default().limit(1))
            .await
            .is_ok_and(|l| l.items.is_empty());
        if no_agents {
            return format!(
                "{head}: no agents are registered. Start one with `strata agent`, then check \
                 `kubectl get agents`"
            );
        }
        format!(
            "{head}: no offer came at all. Is `strata controllers` (the master) running? Are \
             agents Ready with free resources (`kubectl get agents`)? Is role {:?} within its \
             quota? Or raise --timeout",
            self.role
        )
    }

    /// Creates the Task for `launch` on `offer`'s agent and accepts the offer listing it; then
    /// suppresses offers (a one-shot framework wants no more) and declines any still pending.
    pub async fn launch(&self, launch: &Launch, task: &str, offer: &Offer) -> anyhow::Result<()> {
        let offer_name = offer.name_any();
        let tasks: Api<Task> = Api::namespaced(self.client.clone(), &self.namespace);
        let created = tasks
            .create(
                &PostParams::default(),
                &launch.task(task, &self.name, offer),
            )
            .await;
        if let Err(e) = created {
            self.settle(&offer_name, json!({"phase": "Declined"})).await;
            return Err(e).with_context(|| format!("creating Task {}/{task}", self.namespace));
        }
        let accepted = json!({"phase": "Accepted", "tasks": [task]});
        self.offers()
            .patch_status(
                &offer_name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": accepted })),
            )
            .await
            .with_context(|| format!("accepting offer {offer_name}"))?;
        self.suppress().await;
        Ok(())
    }

    /// Stops offers coming (Mesos' SUPPRESS) and declines those already made.
    async fn suppress(&self) {
        let frameworks: Api<Framework> = Api::namespaced(self.client.clone(), &self.namespace);
        let suppress = json!({"spec": {"suppressed": true}});
        if let Err(e) = frameworks
            .patch(
                &self.name,
                &PatchParams::default(),
                &Patch::Merge(&suppress),
            )
            .await
        {
            eprintln!("warning: could not suppress offers: {e}");
        }
        let selector = format!("{FRAMEWORK_LABEL}={}", self.name);
        let pending = self
            .offers()
            .list(&ListParams::default().labels(&selector))
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        for offer in pending {
            if offer
                .status
                .as_ref()
                .is_none_or(|s| s.phase == OfferPhase::Pending)
            {
                self.settle(&offer.name_any(), json!({"phase": "Declined"}))
                    .await;
            }
        }
    }

    /// Writes `status` to offer `name`; a failure only means the master takes it back later.
    async fn settle(&self, name: &str, status: serde_json::Value) {
        let patch = Patch::Merge(json!({ "status": status }));
        if let Err(e) = self
            .offers()
            .patch_status(name, &PatchParams::default(), &patch)
            .await
        {
            eprintln!("warning: could not answer offer {name}: {e}");
        }
    }

    /// Stops the heartbeat and deletes the Lease and the Framework (the master rescinds what
    /// is still offered to it). The Tasks stay.
    pub async fn deregister(self) {
        self.heartbeat.abort();
        remove(&self.client, &self.namespace, &self.name).await;
    }
}

/// Deletes framework `name`'s Lease and Framework, saying how to finish the job if it fails.
async fn remove(client: &Client, namespace: &str, name: &str) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let frameworks: Api<Framework> = Api::namespaced(client.clone(), namespace);
    let deleted = [
        leases.delete(name, &DeleteParams::default()).await.err(),
        frameworks
            .delete(name, &DeleteParams::default())
            .await
            .err(),
    ];
    for e in deleted.into_iter().flatten() {
        if !matches!(&e, kube::Error::Api(s) if s.code == 404) {
            eprintln!(
                "warning: could not remove framework {namespace}/{name}: {e}; delete it with \
                 `kubectl delete framework,lease -n {namespace} {name}`"
            );
        }
    }
}

/// Fails unless `name` can name a task and its framework: lowercase letters, digits and `-`,
/// starting and ending with a letter or digit, short enough for the generated names.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !valid {
        bail!(
            "--name {name:?}: use up to 40 lowercase letters, digits and '-', starting and \
             ending with a letter or digit"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_fit_in_the_generated_object_names() {
        for good in ["envie", "a", "web-1", &"x".repeat(40)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Envie", "-a", "a-", "a_b", "a.b", &"x".repeat(41)] {
            let error = check_name(bad).unwrap_err().to_string();
            assert!(error.contains("lowercase letters"), "{bad}: {error}");
        }
    }
}
