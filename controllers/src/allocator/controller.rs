//! The allocator controller: watches feed the [`Model`], a loop runs allocation passes, and
//! writers put its decisions in the store (Offers, the tasks it ends, status accounting, and the
//! tasks it staged, listed in their Agent's status with its allocation).
//!
//! Why it exists: the model is pure; this is the one place that knows about the API. One
//! actor owns the model (no locks): every watch event and every tick is handled in turn, and
//! writes run concurrently beside it (bounded), their results coming back through the
//! watches like anyone else's. After a restart the model is rebuilt from the store before the
//! first pass: agents, frameworks, roles and heartbeats first, then the live offers, then the
//! tasks — so nothing is counted twice and no task is judged against an offer not yet seen, nor
//! judged again once staged (the Agents' status says which were).
//!
//! Liveness: an agent heartbeats by renewing its Lease in `strata-node-lease`, a framework by
//! renewing a Lease labelled `strata.io/framework` named like it in its namespace (see
//! [`Heartbeats`]). Status is written only for what changed: the model says whose holdings
//! moved, and liveness flips are the rest.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::{BoxStream, SelectAll};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, ObjectMeta};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use strata_api::agent::Agent;
use strata_api::conditions::{Condition, ConditionStatus, find_condition, reasons, types};
use strata_api::framework::Framework;
use strata_api::labels;
use strata_api::offer::{Offer, OfferPhase, OfferSpec};
use strata_api::role::{ResourceRole, object_name, role_of};
use strata_api::task::{Task, TaskState};

use super::model::{
    AgentInfo, Allocation, Config, FrameworkInfo, Model, RoleInfo, Settlement, Verdict, key,
};
use crate::heartbeats::Heartbeats;
use crate::metrics::Metrics;
use crate::watches::{Master, framework_beat, instant_of, object, take_ready, watch};
use crate::writer::{Writer, create, merge_status, unread};

/// Field manager of everything the allocator writes.
pub const MANAGER: &str = "strata-allocator";
/// Namespace of the agents' heartbeat Leases.
pub const AGENT_LEASE_NAMESPACE: &str = "strata-node-lease";
/// How many writes may be in flight at once.
const MAX_WRITES: usize = 64;
/// Shortest time between two passes triggered by changes (the interval still runs).
const MIN_PASS_GAP: Duration = Duration::from_millis(20);
/// How long a settled offer stays in the store, for `kubectl get offers` to show.
const SETTLED_RETENTION: Duration = Duration::from_secs(30);

/// How the allocator runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub model: Config,
    /// Time between allocation passes (Mesos' --allocation_interval, 1 s).
    pub interval: Duration,
    /// An agent whose heartbeat was not seen for this long is Unreachable and not offered
    /// (Mesos: 75 s).
    pub agent_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            model: Config::default(),
            interval: Duration::from_secs(1),
            agent_timeout: Duration::from_secs(75),
        }
    }
}

/// One thing that happened, for the actor.
enum Input {
    Agent(Event<Agent>),
    AgentLease(Event<Lease>),
    Framework(Event<Framework>),
    FrameworkLease(Event<Lease>),
    Role(Box<Event<ResourceRole>>),
    Offer(Event<Offer>),
    Task(Box<Event<Task>>),
}

/// How long tasks staged on an agent may go unreported before its status is written again.
const RESTAGE_AFTER: Duration = Duration::from_secs(5);

/// The watches whose first listing must be complete before offers are adopted and tasks
/// judged.
const SYNC_FIRST: [&str; 6] = [
    "agents",
    "agent-leases",
    "frameworks",
    "framework-leases",
    "roles",
    "offers",
];

/// Runs the allocator until the process stops, keeping `metrics` up to date, on the watches it
/// shares with the lifecycle controller ([`crate::watches::master`]) and its own.
pub async fn run(client: Client, watches: Master, settings: Settings, metrics: Arc<Metrics>) {
    let mut inputs: SelectAll<BoxStream<'static, Input>> = SelectAll::new();
    let all = watcher::Config::default();
    inputs.push(watches.agents.map(Input::Agent).boxed());
    inputs.push(watches.agent_leases.map(Input::AgentLease).boxed());
    inputs.push(watches.frameworks.map(Input::Framework).boxed());
    inputs.push(watches.framework_leases.map(Input::FrameworkLease).boxed());
    inputs.push(watch(Api::all(client.clone()), all.clone(), |e| {
        Input::Role(Box::new(e))
    }));
    inputs.push(watch(Api::all(client.clone()), all, Input::Offer));
    inputs.push(watches.tasks.map(|e| Input::Task(Box::new(e))).boxed());

    let mut allocator = Allocator::new(client, settings.clone(), metrics);
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let soon = allocator.next_pass();
        tokio::select! {
            input = inputs.next() => match input {
                Some(input) => {
                    if !take_ready(input, &mut inputs, |input| allocator.handle(input)) {
                        return;
                    }
                    allocator.write_staged();
                }
                None => return,
            },
            _ = ticker.tick() => allocator.tick(),
            _ = tokio::time::sleep_until(soon.into()), if allocator.pass_wanted => allocator.pass(),
        }
    }
}

/// What the allocator keeps beside the model: the objects it acts on, and its bookkeeping.
struct Allocator {
    client: Client,
    settings: Settings,
    model: Model,
    writer: Writer,
    /// Sources whose first listing is complete.
    synced: HashSet<&'static str>,
    /// Offer and task events held until the first listings are complete.
    held: Vec<Input>,
    agents: HashMap<String, Agent>,
    agent_beats: Heartbeats,
    /// Frameworks by `namespace/name`.
    frameworks: HashMap<String, Framework>,
    framework_beats: Heartbeats,
    /// Roles that have a ResourceRole (whose status is written).
    configured_roles: HashSet<String>,
    /// Tasks already judged (staged or ended by the master), by uid.
    judged: HashSet<String>,
    /// By agent, the uids of the tasks staged on it that have not reported a state: written to
    /// the agent's status (`staged`), where its agent learns it may run them. Read back from
    /// the agents' status on the first listing, so that a restart re-judges none of them.
    staged: HashMap<String, BTreeSet<String>>,
    /// Agents with tasks staged since their status was last written: written once the waiting
    /// events are handled, so that a burst of launches costs one write per agent.
    newly_staged: BTreeSet<String>,
    /// When each agent's staged tasks were last written, so that tasks its agent has not
    /// reported for a while (a write that failed) are written again.
    staged_written: HashMap<String, Instant>,
    /// The uids of the tasks in the first listing: staged uids read back from the agents'
    /// status whose task is not among them are forgotten.
    listed_tasks: HashSet<String>,
    /// Settled offers to delete, oldest first, and the same as a set.
    settled: VecDeque<(Instant, String)>,
    settled_keys: HashSet<String>,
    pass_wanted: bool,
    last_pass: Instant,
    /// Whether "ready" was logged.
    announced: bool,
    metrics: Arc<Metrics>,
    /// Each staged task's state, for the tasks-by-state metric.
    task_states: HashMap<String, TaskState>,
}

impl Allocator {
    fn new(client: Client, settings: Settings, metrics: Arc<Metrics>) -> Allocator {
        Allocator {
            client,
            model: Model::new(settings.model.clone()),
            settings,
            writer: Writer::new(MAX_WRITES, MANAGER),
            synced: HashSet::new(),
            held: Vec::new(),
            agents: Default::default(),
            agent_beats: Heartbeats::default(),
            frameworks: Default::default(),
            framework_beats: Heartbeats::default(),
            configured_roles: HashSet::new(),
            judged: HashSet::new(),
            staged: HashMap::new(),
            newly_staged: BTreeSet::new(),
            staged_written: HashMap::new(),
            listed_tasks: HashSet::new(),
            settled: VecDeque::new(),
            settled_keys: HashSet::new(),
            pass_wanted: false,
            last_pass: Instant::now(),
            announced: false,
            metrics,
            task_states: HashMap::new(),
        }
    }

    fn ready(&self) -> bool {
        SYNC_FIRST.iter().all(|s| self.synced.contains(s))
    }

    fn next_pass(&self) -> Instant {
        (self.last_pass + MIN_PASS_GAP).max(Instant::now())
    }

    fn want_pass(&mut self) {
        self.pass_wanted = self.ready();
    }

    fn handle(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Agent(event) => {
                let listing = !self.synced.contains("agents");
                if let Some((agent, deleted)) = object(event, &mut self.synced, "agents") {
                    let name = agent.name_any();
                    if listing && let Some(status) = &agent.status {
                        // What the master staged before it restarted.
                        self.staged
                            .entry(name.clone())
                            .or_default()
                            .extend(status.staged.iter().cloned());
                    }
                    if deleted {
                        self.agents.remove(&name);
                        // Nothing more to tell it; no status to write again.
                        self.staged.remove(&name);
                        self.newly_staged.remove(&name);
                        self.staged_written.remove(&name);
                        let offers = self.model.remove_agent(&name);
                        self.report_rescinded(offers, "its agent was removed");
                    } else {
                        // The lifecycle controller declaring it gone is a status change.
                        let gone_flipped = self
                            .agents
                            .get(&name)
                            .is_some_and(|old| old.is_gone() != agent.is_gone());
                        if let Some(agent) = spec_changed(&mut self.agents, &name, agent) {
                            self.agents.insert(name.clone(), agent);
                            self.refresh_agent(&name);
                        } else if gone_flipped {
                            self.refresh_agent(&name);
                        }
                    }
                }
            }
            Input::AgentLease(event) => {
                if let Some((lease, deleted)) = object(event, &mut self.synced, "agent-leases") {
                    let name = lease.name_any();
                    let flipped = if deleted {
                        self.agent_beats.remove(&name)
                    } else {
                        let lasts = self.settings.agent_timeout;
                        self.agent_beats.observe(&name, &lease, lasts, now)
                    };
                    if flipped {
                        self.refresh_agent(&name);
                    }
                }
            }
            Input::Framework(event) => {
                if let Some((fw, deleted)) = object(event, &mut self.synced, "frameworks") {
                    let k = key(&fw.namespace().unwrap_or_default(), &fw.name_any());
                    if deleted {
                        self.frameworks.remove(&k);
                        let offers = self.model.remove_framework(&k);
                        self.report_rescinded(offers, "its framework was removed");
                    } else if let Some(fw) = spec_changed(&mut self.frameworks, &k, fw) {
                        self.frameworks.insert(k.clone(), fw);
                        self.refresh_framework(&k);
                    }
                }
            }
            Input::FrameworkLease(event) => {
                if let Some((lease, deleted)) = object(event, &mut self.synced, "framework-leases")
                {
                    let (k, flipped) =
                        framework_beat(&mut self.framework_beats, &lease, deleted, now);
                    if flipped {
                        self.refresh_framework(&k);
                    }
                }
            }
            Input::Role(event) => {
                if let Some((role, deleted)) = object(*event, &mut self.synced, "roles") {
                    let name = role_of(&role.name_any()).to_string();
                    if deleted {
                        self.configured_roles.remove(&name);
                        self.model.remove_role(&name);
                    } else {
                        self.configured_roles.insert(name.clone());
                        let info = RoleInfo {
                            weight: role.spec.weight,
                            limits: role.spec.quota.limits.clone(),
                        };
                        let offers = self.model.upsert_role(&name, info);
                        self.report_rescinded(offers, "its role is over its quota limit");
                    }
                    self.want_pass();
                }
            }
            Input::Offer(Event::InitDone) => {
                self.synced.insert("offers");
            }
            Input::Offer(event) if self.ready() => self.on_offer(event, now),
            Input::Task(event) if self.ready() => self.on_task(*event, now),
            held @ (Input::Offer(_) | Input::Task(_)) => self.held.push(held),
        }
        if !self.held.is_empty() && self.ready() {
            // The first listings are complete: the held offers first, then the tasks.
            let held = std::mem::take(&mut self.held);
            let (offers, tasks): (Vec<Input>, Vec<Input>) =
                held.into_iter().partition(|i| matches!(i, Input::Offer(_)));
            for input in offers.into_iter().chain(tasks) {
                match input {
                    Input::Offer(event) => self.on_offer(event, now),
                    Input::Task(event) => self.on_task(*event, now),
                    _ => {}
                }
            }
            self.want_pass();
        }
        if !self.announced && self.ready() {
            self.announced = true;
            let (agents, frameworks, offers, tasks) = self.model.counts();
            tracing::info!(
                agents,
                frameworks,
                offers,
                tasks,
                "allocator ready: the store is listed"
            );
        }
    }

    // --- agents and frameworks ---

    /// Tells the model what it needs of agent `name` (after its object or its liveness
    /// changed).
    fn refresh_agent(&mut self, name: &str) {
        let Some(agent) = self.agents.get(name) else {
            return;
        };
        let info = AgentInfo {
            hostname: agent.spec.hostname.clone(),
            attributes: agent.spec.attributes.clone(),
            total: agent.spec.resources.clone(),
            schedulable: agent.spec.is_schedulable()
                && !agent.is_gone()
                && self.agent_beats.alive(name),
        };
        let why = if agent.is_gone() {
            "its agent is gone"
        } else if agent.spec.is_schedulable() {
            "its agent stopped heartbeating"
        } else {
            "its agent is cordoned or draining"
        };
        let offers = self.model.upsert_agent(name, info);
        self.report_rescinded(offers, why);
        self.want_pass();
    }

    /// Tells the model what it needs of framework `k` (after its object or its liveness
    /// changed).
    fn refresh_framework(&mut self, k: &str) {
        let Some(fw) = self.frameworks.get(k) else {
            return;
        };
        let info = FrameworkInfo {
            role: fw.spec.role.clone(),
            weight: fw.spec.weight,
            active: self.framework_beats.alive(k),
            suppressed: fw.spec.suppressed,
            revive: fw.spec.revive,
        };
        let offers = self.model.upsert_framework(k, info);
        self.report_rescinded(offers, "its framework is no longer active");
        self.want_pass();
    }

    // --- offers ---

    fn on_offer(&mut self, event: Event<Offer>, now: Instant) {
        let Some((offer, deleted)) = object(event, &mut self.synced, "offers") else {
            return;
        };
        let namespace = offer.namespace().unwrap_or_default();
        let k = key(&namespace, &offer.name_any());
        if deleted {
            self.model.offer_deleted(&k);
            return;
        }
        let status = offer.status.clone().unwrap_or_default();
        let settlement = match status.phase {
            OfferPhase::Pending => {
                let expires = offer.spec.expires_at.as_ref().map(|t| instant_of(t, now));
                let spec = &offer.spec;
                if !self.model.adopt_offer(
                    &k,
                    &spec.framework,
                    &spec.agent,
                    &spec.resources,
                    expires,
                ) {
                    self.report_rescinded(vec![k], "its agent or framework is gone");
                }
                return;
            }
            OfferPhase::Accepted => Settlement::Accepted {
                tasks: status.tasks.clone(),
                refuse: status.refuse(),
            },
            OfferPhase::Declined => Settlement::Declined {
                refuse: status.refuse(),
            },
            OfferPhase::Rescinded => Settlement::Rescinded,
            OfferPhase::Expired => Settlement::Expired,
        };
        if self.model.is_live(&k) {
            tracing::debug!(offer = %k, phase = ?status.phase, "offer settled");
            self.metrics.offer(settlement.outcome(), 1);
            self.model.settle(&k, settlement, now);
            self.want_pass();
        }
        if self.settled_keys.insert(k.clone()) {
            self.settled.push_back((now, k));
        }
    }

    /// Says in their status that the model took these offers back, and why.
    fn report_rescinded(&self, offers: Vec<String>, why: &str) {
        self.metrics.offer("rescinded", offers.len() as u64);
        for k in offers {
            tracing::info!(offer = %k, why, "offer rescinded");
            self.end_offer(&k, OfferPhase::Rescinded, format!("rescinded: {why}"));
        }
    }

    fn end_offer(&self, k: &str, phase: OfferPhase, message: String) {
        let (namespace, name) = k.split_once('/').expect("offer keys are namespace/name");
        let api: Api<Offer> = Api::namespaced(self.client.clone(), namespace);
        let reason = match phase {
            OfferPhase::Expired => reasons::EXPIRED,
            _ => reasons::RESCINDED,
        };
        let condition = Condition::new(
            types::SETTLED,
            ConditionStatus::True,
            reason,
            &message,
            Time(jiff::Timestamp::now()),
        );
        let patch =
            json!({"status": {"phase": phase, "message": message, "conditions": [condition]}});
        let name = name.to_string();
        self.writer.write(name.clone(), async move {
            merge_status(&api, &name, &patch).await
        });
    }

    fn create_offer(&self, allocation: Allocation) {
        let api: Api<Offer> = Api::namespaced(self.client.clone(), &allocation.namespace);
        let expires_at = self
            .settings
            .model
            .offer_timeout
            .map(|t| Time(jiff::Timestamp::now() + t));
        let offer = Offer {
            metadata: ObjectMeta {
                name: Some(allocation.name.clone()),
                namespace: Some(allocation.namespace.clone()),
                labels: Some(
                    [
                        (labels::FRAMEWORK.to_string(), allocation.framework.clone()),
                        (labels::AGENT.to_string(), allocation.agent.clone()),
                    ]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            spec: OfferSpec {
                framework: allocation.framework,
                agent: allocation.agent,
                hostname: Some(allocation.hostname),
                attributes: allocation.attributes,
                resources: allocation.resources,
                expires_at,
                revocable: false,
            },
            status: None,
        };
        self.writer
            .write(allocation.name, async move { create(&api, &offer).await });
    }

    // --- tasks ---

    fn on_task(&mut self, event: Event<Task>, now: Instant) {
        let listing = !self.synced.contains("tasks");
        let Some((task, deleted)) = object(event, &mut self.synced, "tasks") else {
            if listing && self.synced.contains("tasks") {
                // Staged before a restart, deleted since: nobody will report them.
                let listed = std::mem::take(&mut self.listed_tasks);
                for uids in self.staged.values_mut() {
                    uids.retain(|uid| listed.contains(uid));
                }
            }
            return;
        };
        let uid = task.uid().unwrap_or_default();
        if listing {
            self.listed_tasks.insert(uid.clone());
        }
        let state = task.status.as_ref().and_then(|s| s.state);
        let was = match state.filter(|_| !deleted) {
            Some(s) => self.task_states.insert(uid.clone(), s),
            None => self.task_states.remove(&uid),
        };
        self.metrics.task_moved(was, state.filter(|_| !deleted));
        // Whether it waits, staged, for its agent; once its agent reported it (or it is gone),
        // the next write of the agent's status no longer lists it.
        let staged = match self.staged.get_mut(&task.spec.agent) {
            Some(uids) if deleted || state.is_some() => {
                uids.remove(&uid);
                false
            }
            Some(uids) => uids.contains(&uid),
            None => false,
        };
        if deleted || state.is_some_and(TaskState::is_terminal) {
            self.model.task_ended(&uid);
            self.judged.remove(&uid);
            self.want_pass();
            return;
        }
        let namespace = task.namespace().unwrap_or_default();
        let name = task.name_any();
        if state.is_some() || staged {
            self.model
                .observe_staged(&uid, &namespace, &name, &task.spec, now);
            self.judged.insert(uid);
            return;
        }
        if task.metadata.deletion_timestamp.is_some() || !self.judged.insert(uid.clone()) {
            return;
        }
        let verdict = self.model.launch(&uid, &namespace, &name, &task.spec, now);
        tracing::debug!(task = %key(&namespace, &name), ?verdict, "launch");
        let stamp = Time(jiff::Timestamp::now());
        let status = match verdict {
            Verdict::Stage => {
                // One write of the agent's status tells it of every task staged meanwhile.
                self.staged
                    .entry(task.spec.agent.clone())
                    .or_default()
                    .insert(uid);
                self.newly_staged.insert(task.spec.agent.clone());
                return;
            }
            Verdict::Error(message) => json!({
                "state": TaskState::Error, "reason": "TaskInvalid",
                "message": message, "finishedAt": stamp,
            }),
            Verdict::Dropped(message) => json!({
                "state": TaskState::Dropped, "reason": "InvalidOffers",
                "message": message, "finishedAt": stamp,
            }),
        };
        let api: Api<Task> = Api::namespaced(self.client.clone(), &namespace);
        let patch = json!({ "status": status });
        self.writer.write(name.clone(), async move {
            merge_status(&api, &name, &patch).await
        });
    }

    // --- the loop's periodic work ---

    fn tick(&mut self) {
        if !self.ready() {
            return;
        }
        let now = Instant::now();
        for name in self.agent_beats.lapsed(now) {
            self.refresh_agent(&name);
        }
        for k in self.framework_beats.lapsed(now) {
            self.refresh_framework(&k);
        }
        let expired = self.model.due(now);
        self.metrics.offer("expired", expired.len() as u64);
        for k in expired {
            self.end_offer(&k, OfferPhase::Expired, "expired unused".to_string());
        }
        while let Some((at, _)) = self.settled.front() {
            if now.duration_since(*at) < SETTLED_RETENTION {
                break;
            }
            let (_, k) = self.settled.pop_front().expect("front");
            self.settled_keys.remove(&k);
            let (namespace, name) = k.split_once('/').expect("offer keys are namespace/name");
            let api: Api<Offer> = Api::namespaced(self.client.clone(), namespace);
            let name = name.to_string();
            self.writer.write(name.clone(), async move {
                unread(&api, |r| r.delete(&name, &DeleteParams::default())).await
            });
        }
        self.pass();
        self.write_status();
        self.restage_unreported(now);
    }

    fn pass(&mut self) {
        self.pass_wanted = false;
        if !self.ready() {
            return;
        }
        let now = Instant::now();
        self.last_pass = now;
        let (agents, frameworks, offers, tasks) = self.model.counts();
        let span = tracing::debug_span!("allocation_pass", agents, frameworks, offers, tasks);
        let _entered = span.enter();
        let allocations = self.model.allocate(now);
        let took = now.elapsed();
        self.metrics.pass_seconds.observe(took.as_secs_f64());
        self.metrics.agents.set(agents as i64);
        self.metrics.frameworks.set(frameworks as i64);
        self.metrics
            .live_offers
            .set((offers + allocations.len()) as i64);
        if !allocations.is_empty() {
            self.metrics.offer("made", allocations.len() as u64);
            tracing::debug!(
                made = allocations.len(),
                took_us = took.as_micros() as u64,
                "allocation pass"
            );
        }
        for allocation in allocations {
            tracing::debug!(
                offer = %allocation.name,
                framework = %key(&allocation.namespace, &allocation.framework),
                agent = %allocation.agent,
                resources = %allocation.resources,
                "offer made"
            );
            self.create_offer(allocation);
        }
    }

    /// Tells the agents of the tasks staged on them since the last time.
    fn write_staged(&mut self) {
        let now = Instant::now();
        for name in std::mem::take(&mut self.newly_staged) {
            self.staged_written.insert(name.clone(), now);
            self.write_agent(name);
        }
    }

    /// Marks for writing again the agents whose staged tasks have gone unreported since
    /// [`RESTAGE_AFTER`] (the write may have failed; the agent would wait for ever).
    fn restage_unreported(&mut self, now: Instant) {
        for (name, uids) in &self.staged {
            let written = self.staged_written.get(name);
            if !uids.is_empty() && written.is_none_or(|at| now.duration_since(*at) >= RESTAGE_AFTER)
            {
                self.newly_staged.insert(name.clone());
            }
        }
        self.write_staged();
    }

    /// Writes agent `name`'s allocation and the tasks staged on it.
    fn write_agent(&self, name: String) {
        let allocated = self.model.agent_allocated(&name).unwrap_or_default();
        let free = self.model.agent_free(&name).unwrap_or_default();
        let staged: Vec<&String> = self.staged.get(&name).into_iter().flatten().collect();
        let status = json!({"allocated": allocated, "free": free, "staged": staged});
        let api: Api<Agent> = Api::all(self.client.clone());
        self.writer.apply_status(api, "Agent", name, status);
    }

    /// Writes the accounting the model says changed: agents' allocation; frameworks'
    /// activity, allocation and dominant share; roles' allocation and share.
    fn write_status(&mut self) {
        let changed = self.model.take_changed();
        for name in changed.agents {
            self.write_agent(name);
        }
        for k in changed.frameworks {
            let Some(fw) = self.frameworks.get(&k) else {
                continue;
            };
            let holdings = self.model.framework_holdings(&k).unwrap_or_default();
            let active = self.framework_beats.alive(&k);
            let condition = active_condition(fw, active);
            let (namespace, name) = k
                .split_once('/')
                .expect("framework keys are namespace/name");
            let api: Api<Framework> = Api::namespaced(self.client.clone(), namespace);
            let status = json!({
                "active": active, "allocated": holdings.allocated,
                "offered": holdings.offered, "dominantShare": holdings.dominant_share,
                "conditions": [condition],
            });
            self.writer
                .apply_status(api, "Framework", name.to_string(), status);
        }
        for role in changed.roles {
            if !self.configured_roles.contains(&role) {
                continue;
            }
            let (allocated, share) = self.model.role_share(&role).unwrap_or_default();
            let api: Api<ResourceRole> = Api::all(self.client.clone());
            let name = object_name(&role).to_string();
            let status = json!({"allocated": allocated, "dominantShare": share});
            self.writer.apply_status(api, "ResourceRole", name, status);
        }
    }
}

/// A framework's Active condition, keeping the transition time of the stored one when the
/// status is the same.
fn active_condition(fw: &Framework, active: bool) -> Condition {
    let status = ConditionStatus::from_bool(active);
    let since = fw
        .status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, types::ACTIVE))
        .filter(|c| c.status == status)
        .map_or_else(
            || Time(jiff::Timestamp::now()),
            |c| c.last_transition_time.clone(),
        );
    if active {
        Condition::new(
            types::ACTIVE,
            status,
            reasons::SUBSCRIBED,
            "its heartbeat Lease is renewed",
            since,
        )
    } else {
        Condition::new(
            types::ACTIVE,
            status,
            reasons::DISCONNECTED,
            "no fresh heartbeat: renew the Lease named like the framework, labelled strata.io/framework",
            since,
        )
    }
}

/// `object` if its spec changed since the copy in `known` (a new generation), for the caller
/// to act on; otherwise (a status write, often the allocator's own) the copy is updated and
/// None returned.
fn spec_changed<K: Resource>(known: &mut HashMap<String, K>, key: &str, object: K) -> Option<K> {
    let generation = object.meta().generation;
    match known.get_mut(key) {
        Some(old) if generation.is_some() && old.meta().generation == generation => {
            *old = object;
            None
        }
        _ => Some(object),
    }
}
