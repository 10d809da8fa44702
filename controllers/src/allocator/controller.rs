//! The allocator controller: watches feed the [`Model`], a loop runs allocation passes, and
//! writers put its decisions in the store (Offers, task states, status accounting).
//!
//! Why it exists: the model is pure; this is the one place that knows about the API. One
//! actor owns the model (no locks): every watch event and every tick is handled in turn, and
//! writes run concurrently beside it (bounded), their results coming back through the
//! watches like anyone else's. After a restart the model is rebuilt from the store before the
//! first pass: agents, frameworks, roles and heartbeats first, then the live offers, then the
//! tasks — so nothing is counted twice and no task is judged against an offer not yet seen.
//!
//! Liveness is observed, not trusted: an agent heartbeats by renewing its Lease in
//! `strata-node-lease`, a framework by renewing a Lease labelled `strata.io/framework` named
//! like it in its namespace; what counts is when this controller saw the renewal (as
//! Kubernetes' node lifecycle controller does), so clock skew between machines does not
//! matter.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{BoxStream, SelectAll};
use futures::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use strata_api::agent::Agent;
use strata_api::conditions::{Condition, ConditionStatus, reasons, types};
use strata_api::framework::Framework;
use strata_api::labels;
use strata_api::offer::{Offer, OfferPhase, OfferSpec};
use strata_api::role::{ResourceRole, role_of};
use strata_api::task::{Task, TaskState};
use tokio::sync::Semaphore;

use super::model::{
    AgentInfo, Allocation, Config, FrameworkInfo, Model, RoleInfo, Settlement, Verdict, key,
};

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
/// A framework Lease without leaseDurationSeconds lasts this long.
const DEFAULT_FRAMEWORK_LEASE: Duration = Duration::from_secs(15);

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

fn watch<K, F>(api: Api<K>, config: watcher::Config, wrap: F) -> BoxStream<'static, Input>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    F: Fn(Event<K>) -> Input + Send + 'static,
{
    let stream = watcher::watcher(api, config).default_backoff();
    logged(stream).map(wrap).boxed()
}

fn logged<K: Send + 'static>(
    stream: impl Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
) -> impl Stream<Item = Event<K>> + Send + 'static {
    stream.filter_map(|event| async move {
        event
            .inspect_err(|e| tracing::warn!(error = %e, "a watch failed; retrying"))
            .ok()
    })
}

/// Runs the allocator until the process stops.
pub async fn run(client: Client, settings: Settings) {
    let mut inputs: SelectAll<BoxStream<'static, Input>> = SelectAll::new();
    let all = watcher::Config::default();
    inputs.push(watch(Api::all(client.clone()), all.clone(), Input::Agent));
    inputs.push(watch(
        Api::namespaced(client.clone(), AGENT_LEASE_NAMESPACE),
        all.clone(),
        Input::AgentLease,
    ));
    inputs.push(watch(
        Api::all(client.clone()),
        all.clone(),
        Input::Framework,
    ));
    inputs.push(watch(
        Api::all(client.clone()),
        all.clone().labels(labels::FRAMEWORK),
        Input::FrameworkLease,
    ));
    inputs.push(watch(Api::all(client.clone()), all.clone(), |e| {
        Input::Role(Box::new(e))
    }));
    inputs.push(watch(Api::all(client.clone()), all.clone(), Input::Offer));
    inputs.push(watch(Api::all(client.clone()), all, |e| {
        Input::Task(Box::new(e))
    }));

    let mut allocator = Allocator::new(client, settings.clone());
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let soon = allocator.next_pass();
        tokio::select! {
            input = inputs.next() => match input {
                Some(input) => allocator.handle(input),
                None => return,
            },
            _ = ticker.tick() => allocator.tick(),
            _ = tokio::time::sleep_until(soon.into()), if allocator.pass_wanted => allocator.pass(),
        }
    }
}

/// What the allocator keeps beside the model.
struct Allocator {
    client: Client,
    settings: Settings,
    model: Model,
    writes: Arc<Semaphore>,
    /// Sources whose first listing is complete.
    synced: HashSet<&'static str>,
    /// Offer and task events held until the first listings are complete.
    held: Vec<Input>,
    agents: HashMap<String, Agent>,
    /// When each agent's heartbeat was last seen to change.
    agent_beats: HashMap<String, (Option<String>, Instant)>,
    frameworks: HashMap<String, Framework>,
    /// Per framework key: the renew time last seen, when, and for how long it holds.
    framework_beats: HashMap<String, (Option<String>, Instant, Duration)>,
    /// Tasks already judged (staged or ended by the master), by uid.
    judged: HashSet<String>,
    /// Settled offers to delete, oldest first.
    settled: VecDeque<(Instant, String, String)>,
    /// Per framework key: whether it was active, and since when.
    active_since: HashMap<String, (bool, Time)>,
    /// The status last written per object, to write only changes.
    written: HashMap<String, serde_json::Value>,
    pass_wanted: bool,
    last_pass: Instant,
}

impl Allocator {
    fn new(client: Client, settings: Settings) -> Allocator {
        Allocator {
            client,
            model: Model::new(settings.model.clone()),
            settings,
            writes: Arc::new(Semaphore::new(MAX_WRITES)),
            synced: HashSet::new(),
            held: Vec::new(),
            agents: HashMap::new(),
            agent_beats: HashMap::new(),
            frameworks: HashMap::new(),
            framework_beats: HashMap::new(),
            judged: HashSet::new(),
            settled: VecDeque::new(),
            active_since: HashMap::new(),
            written: HashMap::new(),
            pass_wanted: false,
            last_pass: Instant::now(),
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
            Input::Agent(event) => self.on_agents(event, now),
            Input::AgentLease(event) => {
                for (lease, deleted) in flatten(event, &mut self.synced, "agent-leases") {
                    let name = lease.name_any();
                    if deleted {
                        self.agent_beats.remove(&name);
                    } else {
                        let renew = renew_time(&lease);
                        let entry = self.agent_beats.entry(name.clone()).or_insert((None, now));
                        if entry.0 != renew {
                            *entry = (renew, now);
                        }
                    }
                    self.refresh_agent(&name, now);
                }
            }
            Input::Framework(event) => {
                for (fw, deleted) in flatten(event, &mut self.synced, "frameworks") {
                    let k = key(&fw.namespace().unwrap_or_default(), &fw.name_any());
                    if deleted {
                        self.frameworks.remove(&k);
                        let offers = self.model.remove_framework(&k);
                        self.rescind(offers, "its framework was removed", now);
                    } else {
                        self.frameworks.insert(k.clone(), fw);
                        self.refresh_framework(&k, now);
                    }
                }
            }
            Input::FrameworkLease(event) => {
                for (lease, deleted) in flatten(event, &mut self.synced, "framework-leases") {
                    let k = key(&lease.namespace().unwrap_or_default(), &lease.name_any());
                    if deleted {
                        self.framework_beats.remove(&k);
                    } else {
                        let renew = renew_time(&lease);
                        let duration = lease
                            .spec
                            .as_ref()
                            .and_then(|s| s.lease_duration_seconds)
                            .map_or(DEFAULT_FRAMEWORK_LEASE, |s| {
                                Duration::from_secs(s.max(1) as u64)
                            });
                        let entry = self
                            .framework_beats
                            .entry(k.clone())
                            .or_insert((None, now, duration));
                        if entry.0 != renew {
                            *entry = (renew, now, duration);
                        }
                        entry.2 = duration;
                    }
                    self.refresh_framework(&k, now);
                }
            }
            Input::Role(event) => {
                for (role, deleted) in flatten(*event, &mut self.synced, "roles") {
                    let name = role_of(&role.name_any()).to_string();
                    if deleted {
                        self.model.remove_role(&name);
                    } else {
                        let offers = self.model.upsert_role(
                            &name,
                            RoleInfo {
                                weight: role.spec.weight,
                                limits: role.spec.quota.limits.clone(),
                            },
                        );
                        self.rescind(offers, "its role is over its quota limit", now);
                    }
                }
                self.want_pass();
            }
            Input::Offer(Event::InitDone) => {
                self.synced.insert("offers");
            }
            Input::Offer(event) if self.ready() => self.on_offers(event, now),
            Input::Task(event) if self.ready() => self.on_tasks(*event),
            held @ (Input::Offer(_) | Input::Task(_)) => self.held.push(held),
        }
        if !self.held.is_empty() && self.ready() {
            self.release_held(now);
        }
    }

    /// Once every listing is complete: offers first, then tasks.
    fn release_held(&mut self, now: Instant) {
        if !self.ready() {
            return;
        }
        let held = std::mem::take(&mut self.held);
        let (offers, tasks): (Vec<Input>, Vec<Input>) =
            held.into_iter().partition(|i| matches!(i, Input::Offer(_)));
        for input in offers.into_iter().chain(tasks) {
            match input {
                Input::Offer(event) => self.on_offers(event, now),
                Input::Task(event) => self.on_tasks(*event),
                _ => {}
            }
        }
        self.want_pass();
    }

    // --- agents ---

    fn on_agents(&mut self, event: Event<Agent>, now: Instant) {
        for (agent, deleted) in flatten(event, &mut self.synced, "agents") {
            let name = agent.name_any();
            if deleted {
                self.agents.remove(&name);
                let offers = self.model.remove_agent(&name);
                self.rescind(offers, "its agent was removed", now);
            } else {
                self.agents.insert(name.clone(), agent);
                self.refresh_agent(&name, now);
            }
        }
    }

    /// Whether the agent's heartbeat was seen within the timeout.
    fn heartbeating(&self, name: &str, now: Instant) -> bool {
        self.agent_beats
            .get(name)
            .is_some_and(|(_, seen)| now.duration_since(*seen) < self.settings.agent_timeout)
    }

    fn refresh_agent(&mut self, name: &str, now: Instant) {
        let Some(agent) = self.agents.get(name) else {
            return;
        };
        let info = AgentInfo {
            hostname: agent.spec.hostname.clone(),
            attributes: agent.spec.attributes.clone(),
            total: agent.spec.resources.clone(),
            schedulable: agent.spec.is_schedulable() && self.heartbeating(name, now),
        };
        let why = if !agent.spec.is_schedulable() {
            "its agent is cordoned or draining"
        } else {
            "its agent stopped heartbeating"
        };
        let offers = self.model.upsert_agent(name, info);
        self.rescind(offers, why, now);
        self.want_pass();
    }

    // --- frameworks ---

    fn refresh_framework(&mut self, k: &str, now: Instant) {
        let Some(fw) = self.frameworks.get(k) else {
            return;
        };
        let active = self
            .framework_beats
            .get(k)
            .is_some_and(|(_, seen, duration)| now.duration_since(*seen) < *duration);
        let info = FrameworkInfo {
            role: fw.spec.role.clone(),
            weight: fw.spec.weight,
            active,
            suppressed: fw.spec.suppressed,
        };
        let offers = self.model.upsert_framework(k, info);
        self.rescind(offers, "its framework is no longer active", now);
        self.want_pass();
    }

    // --- offers ---

    fn on_offers(&mut self, event: Event<Offer>, now: Instant) {
        for (offer, deleted) in flatten(event, &mut self.synced, "offers") {
            let namespace = offer.namespace().unwrap_or_default();
            let name = offer.name_any();
            let k = key(&namespace, &name);
            if deleted {
                self.model.offer_deleted(&k);
                continue;
            }
            let status = offer.status.clone().unwrap_or_default();
            let refuse = Duration::from_secs_f64(status.refuse_seconds_or_default().max(0.0));
            let settlement = match status.phase {
                OfferPhase::Pending => {
                    let expires = offer.spec.expires_at.as_ref().map(|t| instant_of(t, now));
                    if !self.model.adopt_offer(
                        &k,
                        &offer.spec.framework,
                        &offer.spec.agent,
                        &offer.spec.resources,
                        expires,
                    ) {
                        self.rescind(vec![k], "its agent or framework is gone", now);
                    }
                    continue;
                }
                OfferPhase::Accepted => Settlement::Accepted {
                    tasks: status.tasks.clone(),
                    refuse,
                },
                OfferPhase::Declined => Settlement::Declined { refuse },
                OfferPhase::Rescinded => Settlement::Rescinded,
                OfferPhase::Expired => Settlement::Expired,
            };
            if self.model.is_live(&k) {
                tracing::debug!(offer = %k, phase = ?status.phase, "offer settled");
                self.model.settle(&k, settlement, now);
                self.want_pass();
            }
            if !self
                .settled
                .iter()
                .any(|(_, ns, n)| *ns == namespace && *n == name)
            {
                self.settled.push_back((now, namespace, name));
            }
        }
    }

    /// Takes back live offers: settles them in the model and says so in their status.
    fn rescind(&mut self, offers: Vec<String>, why: &str, now: Instant) {
        for k in offers {
            self.model.settle(&k, Settlement::Rescinded, now);
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
        self.write(name.clone(), async move {
            api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(drop)
        });
    }

    fn create_offer(&self, allocation: Allocation) {
        let api: Api<Offer> = Api::namespaced(self.client.clone(), &allocation.namespace);
        let expires_at = self
            .settings
            .model
            .offer_timeout
            .map(|t| Time(jiff::Timestamp::now() + t));
        let mut offer = Offer::new(
            &allocation.name,
            OfferSpec {
                framework: allocation.framework.clone(),
                agent: allocation.agent.clone(),
                hostname: Some(allocation.hostname),
                attributes: allocation.attributes,
                resources: allocation.resources,
                expires_at,
                revocable: false,
            },
        );
        offer.metadata = ObjectMeta {
            name: Some(allocation.name.clone()),
            namespace: Some(allocation.namespace.clone()),
            labels: Some(
                [
                    (labels::FRAMEWORK.to_string(), allocation.framework),
                    (labels::AGENT.to_string(), allocation.agent),
                ]
                .into(),
            ),
            ..ObjectMeta::default()
        };
        self.write(allocation.name, async move {
            api.create(&PostParams::default(), &offer).await.map(drop)
        });
    }

    // --- tasks ---

    fn on_tasks(&mut self, event: Event<Task>) {
        for (task, deleted) in flatten(event, &mut self.synced, "tasks") {
            let uid = task.uid().unwrap_or_default();
            let state = task.status.as_ref().and_then(|s| s.state);
            if deleted || state.is_some_and(TaskState::is_terminal) {
                self.model.task_ended(&uid);
                self.judged.remove(&uid);
                self.want_pass();
                continue;
            }
            let namespace = task.namespace().unwrap_or_default();
            let name = task.name_any();
            if state.is_some() {
                self.model
                    .observe_staged(&uid, &namespace, &name, &task.spec);
                continue;
            }
            if task.metadata.deletion_timestamp.is_some() || !self.judged.insert(uid.clone()) {
                continue;
            }
            let verdict = self.model.launch(&uid, &namespace, &name, &task.spec);
            tracing::debug!(task = %key(&namespace, &name), ?verdict, "launch");
            let stamp = Time(jiff::Timestamp::now());
            let status = match verdict {
                Verdict::Stage => json!({"state": TaskState::Staging, "stagedAt": stamp}),
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
            self.write(name.clone(), async move {
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(drop)
            });
        }
    }

    // --- the loop's periodic work ---

    fn tick(&mut self) {
        if !self.ready() {
            return;
        }
        let now = Instant::now();
        let names: Vec<String> = self.agents.keys().cloned().collect();
        for name in names {
            self.refresh_agent(&name, now);
        }
        let keys: Vec<String> = self.frameworks.keys().cloned().collect();
        for k in keys {
            self.refresh_framework(&k, now);
        }
        for k in self.model.due(now) {
            self.model.settle(&k, Settlement::Expired, now);
            self.end_offer(&k, OfferPhase::Expired, "expired unused".to_string());
        }
        while let Some((at, _, _)) = self.settled.front() {
            if now.duration_since(*at) < SETTLED_RETENTION {
                break;
            }
            let (_, namespace, name) = self.settled.pop_front().expect("front");
            let api: Api<Offer> = Api::namespaced(self.client.clone(), &namespace);
            self.write(name.clone(), async move {
                api.delete(&name, &DeleteParams::default()).await.map(drop)
            });
        }
        self.pass();
        self.write_status();
    }

    fn pass(&mut self) {
        self.pass_wanted = false;
        if !self.ready() {
            return;
        }
        let now = Instant::now();
        self.last_pass = now;
        let started = Instant::now();
        let allocations = self.model.allocate(now);
        let (agents, frameworks, offers, tasks) = self.model.counts();
        if !allocations.is_empty() {
            tracing::debug!(
                made = allocations.len(),
                agents,
                frameworks,
                offers,
                tasks,
                took_us = started.elapsed().as_micros() as u64,
                "allocation pass"
            );
        }
        for allocation in allocations {
            self.create_offer(allocation);
        }
    }

    /// Writes the accounting that changed: agents' allocation, frameworks' activity,
    /// allocation and dominant share, roles' allocation and share.
    fn write_status(&mut self) {
        let now = Instant::now();
        let mut agent_writes = Vec::new();
        for name in self.model.agent_names() {
            let allocated = self.model.agent_allocated(name).unwrap_or_default();
            agent_writes.push((name.to_string(), json!({"allocated": allocated})));
        }
        for (name, status) in agent_writes {
            if self.changed(format!("agent/{name}"), &status) {
                let api: Api<Agent> = Api::all(self.client.clone());
                let patch = json!({"apiVersion": strata_api::API_VERSION, "kind": "Agent", "status": status});
                self.write(name.clone(), async move {
                    api.patch_status(
                        &name,
                        &PatchParams::apply(MANAGER).force(),
                        &Patch::Apply(&patch),
                    )
                    .await
                    .map(drop)
                });
            }
        }
        let mut framework_writes = Vec::new();
        for k in self.model.framework_keys() {
            let (allocated, share) = self.model.framework_share(k).unwrap_or_default();
            let active = self
                .framework_beats
                .get(k)
                .is_some_and(|(_, seen, d)| now.duration_since(*seen) < *d);
            let since = match self.active_since.get(k) {
                Some((was, since)) if *was == active => since.clone(),
                _ => Time(jiff::Timestamp::now()),
            };
            let condition = if active {
                Condition::new(
                    types::ACTIVE,
                    ConditionStatus::True,
                    reasons::SUBSCRIBED,
                    "its heartbeat Lease is renewed",
                    since,
                )
            } else {
                Condition::new(
                    types::ACTIVE,
                    ConditionStatus::False,
                    reasons::DISCONNECTED,
                    "no fresh heartbeat: renew the Lease named like the framework, labelled strata.io/framework",
                    since,
                )
            };
            framework_writes.push((k.to_string(), active, allocated, round(share), condition));
        }
        for (k, active, allocated, share, condition) in framework_writes {
            self.active_since
                .insert(k.clone(), (active, condition.last_transition_time.clone()));
            let compare = json!({"active": active, "allocated": allocated, "dominantShare": share, "reason": condition.reason});
            if self.changed(format!("framework/{k}"), &compare) {
                let (namespace, name) = k.split_once('/').expect("framework key");
                let api: Api<Framework> = Api::namespaced(self.client.clone(), namespace);
                let name = name.to_string();
                let patch = json!({"status": {"active": active, "allocated": allocated, "dominantShare": share, "conditions": [condition]}});
                self.write(name.clone(), async move {
                    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .map(drop)
                });
            }
        }
    }

    /// Whether `value` differs from what was last written for `id` (and remembers it).
    fn changed(&mut self, id: String, value: &serde_json::Value) -> bool {
        if self.written.get(&id) == Some(value) {
            return false;
        }
        self.written.insert(id, value.clone());
        true
    }

    /// Runs a write beside the loop; failures are logged (the watches bring the truth back).
    fn write(
        &self,
        what: String,
        write: impl std::future::Future<Output = Result<(), kube::Error>> + Send + 'static,
    ) {
        let writes = self.writes.clone();
        tokio::spawn(async move {
            let _permit = writes.acquire_owned().await;
            if let Err(e) = write.await {
                tracing::warn!(%what, error = %e, "a write failed");
            }
        });
    }
}

/// Dominant shares are written with four decimals, so tiny changes do not cause writes.
fn round(share: f64) -> f64 {
    (share * 10_000.0).round() / 10_000.0
}

/// A watch event as (object, deleted) pairs; records when a source's listing completed.
fn flatten<K>(
    event: Event<K>,
    synced: &mut HashSet<&'static str>,
    source: &'static str,
) -> Vec<(K, bool)> {
    match event {
        Event::Apply(k) | Event::InitApply(k) => vec![(k, false)],
        Event::Delete(k) => vec![(k, true)],
        Event::Init => Vec::new(),
        Event::InitDone => {
            synced.insert(source);
            Vec::new()
        }
    }
}

fn renew_time(lease: &Lease) -> Option<String> {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.renew_time.as_ref().or(s.acquire_time.as_ref()))
        .map(|t| t.0.to_string())
}

/// The instant corresponding to wall-clock time `t`, given that now is `now`.
fn instant_of(t: &Time, now: Instant) -> Instant {
    let left = t.0.duration_since(jiff::Timestamp::now());
    match Duration::try_from(left) {
        Ok(d) => now + d,
        Err(_) => now,
    }
}
