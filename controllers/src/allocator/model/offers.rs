//! Offers and the tasks launched against them: adopting, settling and expiring offers;
//! checking each launch against its offer; counting staged tasks until they end.

use std::collections::HashSet;
use std::time::Instant;

use strata_api::offer::OfferPhase;
use strata_api::resources::Resources;
use strata_api::task::TaskSpec;

use super::{
    ACCEPT_WAIT, Accepted, Model, OfferEntry, Settled, Settlement, TaskEntry, Verdict,
    accepted_without, key, name_of, namespace_of,
};

impl Model {
    /// Takes in an offer found in the store that this run of the allocator did not make (after
    /// a restart): its resources stay offered until it is settled. False when its agent or
    /// framework is unknown (the caller rescinds it).
    pub fn adopt_offer(
        &mut self,
        offer_key: &str,
        framework: &str,
        agent: &str,
        resources: &Resources,
        expires: Option<Instant>,
    ) -> bool {
        if self.offers.contains_key(offer_key) {
            return true;
        }
        let fw_key = key(namespace_of(offer_key), framework);
        let (Some(agent_slot), Some(fw_slot)) =
            (self.agents.slot(agent), self.frameworks.slot(&fw_key))
        else {
            return false;
        };
        self.agents.get_mut(agent_slot).expect("agent slot").offered += resources;
        self.changed_agents.insert(agent_slot);
        self.grant(fw_slot, resources);
        self.on_offer(fw_slot, resources, true);
        self.offers.insert(
            offer_key.to_string(),
            OfferEntry {
                agent: agent_slot,
                framework: fw_slot,
                remaining: resources.clone(),
                expires,
                launched: HashSet::new(),
                accepted: None,
            },
        );
        true
    }

    /// Whether the offer is live (pending, or accepted and waiting for its tasks).
    pub fn is_live(&self, offer_key: &str) -> bool {
        self.offers.contains_key(offer_key)
    }

    /// Ends an offer. Declined and accepted offers return what they hold to the agent with a
    /// refuse filter for this framework; an accepted offer first waits for the tasks it lists.
    /// Returns how many listed tasks are still awaited.
    pub fn settle(&mut self, offer_key: &str, how: Settlement, now: Instant) -> usize {
        let Some(offer) = self.offers.get_mut(offer_key) else {
            return 0;
        };
        if offer.accepted.is_some() {
            return 0;
        }
        let phase = how.phase();
        let refuse = match how {
            Settlement::Accepted { tasks, refuse } => {
                let awaiting: HashSet<String> = tasks
                    .iter()
                    .filter(|t| !offer.launched.contains(*t))
                    .cloned()
                    .collect();
                let count = awaiting.len();
                self.settled.insert(
                    offer_key.to_string(),
                    Settled {
                        phase: OfferPhase::Accepted,
                        listed: tasks.into_iter().collect(),
                    },
                );
                if count > 0 {
                    offer.accepted = Some(Accepted {
                        awaiting,
                        refuse,
                        deadline: now + ACCEPT_WAIT,
                    });
                    return count;
                }
                Some(now + refuse)
            }
            Settlement::Declined { refuse } => Some(now + refuse),
            Settlement::Rescinded | Settlement::Expired => None,
        };
        self.close(offer_key, phase, refuse);
        0
    }

    /// Returns what is left of a live offer to its agent, refused to its framework until
    /// `refuse_until`, and remembers how it ended.
    pub(super) fn close(
        &mut self,
        offer_key: &str,
        phase: OfferPhase,
        refuse_until: Option<Instant>,
    ) {
        let Some(offer) = self.offers.remove(offer_key) else {
            return;
        };
        self.settled
            .entry(offer_key.to_string())
            .or_insert(Settled {
                phase,
                listed: HashSet::new(),
            });
        let remaining = offer.remaining;
        self.revoke(offer.framework, &remaining);
        self.on_offer(offer.framework, &remaining, false);
        let Some(agent) = self.agents.get_mut(offer.agent) else {
            return;
        };
        agent.offered = agent.offered.saturating_sub(&remaining);
        let free = agent.free();
        self.changed_agents.insert(offer.agent);
        self.filters.free_grew(offer.agent, &free);
        if let Some(until) = refuse_until
            && !remaining.is_empty()
        {
            self.filters
                .add(offer.agent, offer.framework, until, remaining);
        }
    }

    /// Settles as Expired the live offers past their expiry (their keys are returned), and
    /// closes accepted offers done waiting for missing tasks.
    pub fn due(&mut self, now: Instant) -> Vec<String> {
        let mut expired = Vec::new();
        let mut done = Vec::new();
        for (k, o) in &self.offers {
            match &o.accepted {
                None if o.expires.is_some_and(|e| e <= now) => expired.push(k.clone()),
                Some(a) if a.deadline <= now => done.push((k.clone(), a.refuse)),
                _ => {}
            }
        }
        for (k, refuse) in done {
            self.close(&k, OfferPhase::Accepted, Some(now + refuse));
        }
        for k in &expired {
            self.close(k, OfferPhase::Expired, None);
        }
        expired
    }

    /// The offer object was deleted: forget how it ended.
    pub fn offer_deleted(&mut self, offer_key: &str) {
        self.settled.remove(offer_key);
    }

    // --- tasks ---

    /// Checks a task a framework launched (not yet staged) against its offer: on Stage its
    /// resources move from the offer to the task.
    pub fn launch(
        &mut self,
        uid: &str,
        namespace: &str,
        name: &str,
        spec: &TaskSpec,
        now: Instant,
    ) -> Verdict {
        if self.tasks.contains_key(uid) {
            return Verdict::Stage;
        }
        let Some(offer_name) = spec.offer.as_deref() else {
            return Verdict::Error(
                "a task is launched against an offer: set spec.offer to the name of an Offer made to its framework".into(),
            );
        };
        let offer_key = key(namespace, offer_name);
        let Some(offer) = self.offers.get(&offer_key) else {
            return Verdict::Dropped(match self.settled.get(&offer_key) {
                Some(s) if s.phase == OfferPhase::Accepted && !s.listed.contains(name) => {
                    accepted_without(offer_name)
                }
                Some(s) => format!(
                    "offer {offer_name} is no longer valid: it was {:?}",
                    s.phase
                ),
                None => format!("offer {offer_name} does not exist or is no longer valid"),
            });
        };
        let framework = self
            .frameworks
            .get(offer.framework)
            .expect("framework of a live offer");
        let agent = self.agents.get(offer.agent).expect("agent of a live offer");
        let framework_name = name_of(&framework.key);
        if framework_name != spec.framework {
            return Verdict::Error(format!(
                "offer {offer_name} was made to framework {framework_name:?}, not {:?}",
                spec.framework
            ));
        }
        if agent.name != spec.agent {
            return Verdict::Error(format!(
                "offer {offer_name} is for agent {:?}, but spec.agent is {:?}",
                agent.name, spec.agent
            ));
        }
        if offer
            .accepted
            .as_ref()
            .is_some_and(|a| !a.awaiting.contains(name))
        {
            return Verdict::Dropped(accepted_without(offer_name));
        }
        if let Err(e) = spec.validate() {
            return Verdict::Error(e.to_string());
        }
        let short = spec.resources.shortfalls(&offer.remaining);
        if !short.is_empty() {
            let short: Vec<String> = short.iter().map(ToString::to_string).collect();
            return Verdict::Error(format!(
                "the task does not fit in what is left of offer {offer_name}: {}",
                short.join("; ")
            ));
        }
        let task_framework = offer.framework;
        let task = TaskEntry {
            agent: offer.agent,
            framework: framework.key.clone(),
            resources: spec.resources.clone(),
        };
        self.on_offer(task_framework, &spec.resources, false);
        let offer = self.offers.get_mut(&offer_key).expect("live offer");
        offer.remaining = offer.remaining.saturating_sub(&spec.resources);
        offer.launched.insert(name.to_string());
        let all_arrived = offer.accepted.as_mut().and_then(|a| {
            a.awaiting.remove(name);
            a.awaiting.is_empty().then_some(a.refuse)
        });
        let agent = self.agents.get_mut(task.agent).expect("agent slot");
        agent.offered = agent.offered.saturating_sub(&spec.resources);
        agent.allocated += &spec.resources;
        self.tasks.insert(uid.to_string(), task);
        if let Some(refuse) = all_arrived {
            self.close(&offer_key, OfferPhase::Accepted, Some(now + refuse));
        }
        Verdict::Stage
    }

    /// Counts a task that was staged before (seen after a restart, or its staging write came
    /// back): nothing if already counted. Its resources come out of its offer if that is live.
    pub fn observe_staged(
        &mut self,
        uid: &str,
        namespace: &str,
        name: &str,
        spec: &TaskSpec,
        now: Instant,
    ) {
        if self.tasks.contains_key(uid) {
            return;
        }
        if let Some(offer) = spec.offer.as_deref()
            && self.offers.contains_key(&key(namespace, offer))
            && self.launch(uid, namespace, name, spec, now) == Verdict::Stage
        {
            return;
        }
        let Some(agent_slot) = self.agents.slot(&spec.agent) else {
            return;
        };
        let fw_key = key(namespace, &spec.framework);
        // A task of a framework that is gone holds its agent's resources, and nobody's share.
        if let Some(fw) = self.frameworks.slot(&fw_key) {
            self.grant(fw, &spec.resources);
        }
        self.agents
            .get_mut(agent_slot)
            .expect("agent slot")
            .allocated += &spec.resources;
        self.changed_agents.insert(agent_slot);
        self.tasks.insert(
            uid.to_string(),
            TaskEntry {
                agent: agent_slot,
                framework: fw_key,
                resources: spec.resources.clone(),
            },
        );
    }

    /// A staged task ended (terminal, or deleted): its resources go back to its agent.
    pub fn task_ended(&mut self, uid: &str) {
        let Some(task) = self.tasks.remove(uid) else {
            return;
        };
        if let Some(fw) = self.frameworks.slot(&task.framework) {
            self.revoke(fw, &task.resources);
        }
        if let Some(agent) = self.agents.get_mut(task.agent) {
            agent.allocated = agent.allocated.saturating_sub(&task.resources);
            let free = agent.free();
            self.changed_agents.insert(task.agent);
            self.filters.free_grew(task.agent, &free);
        }
    }
}
