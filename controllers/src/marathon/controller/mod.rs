//! The Marathon controller: watches feed what it knows of Apps, their Tasks and Rollouts, the
//! offers made to it and the agents; a pass decides, per app, what to kill and launch (see
//! [`plan`](super::plan)), places launches on offers (see [`placement`](super::placement)),
//! and writes the apps' and rollouts' status.
//!
//! Why it exists: Marathon is a framework like any other. In every namespace that has Apps it
//! registers a Framework (`marathon` unless one is configured) with its heartbeat Lease, and it
//! receives offers, accepts them by launching Tasks, declines what it cannot use, suppresses
//! when nothing waits and revives when something does. One actor owns the state (no locks);
//! writes run beside it and their effects come back through the watches. Everything it decides
//! is derived from the objects (tasks' labels and states, rollouts, the App's status), so a
//! restarted controller picks up where the last one stopped: the first pass waits until every
//! watch has listed.
//!
//! An App carries the finalizer `strata.io/marathon` so that deleting it stops its tasks in
//! reverse dependency order: an app others depend on (and that are being deleted too) keeps
//! running until they have stopped.
//!
//! Here: the watches, the state and the pass. Beside it: `rollouts` (one per change),
//! `offers` (launches placed on offers), `registration` (the Framework, its Lease, suppress
//! and revive) and `deletion` (stopping apps in reverse dependency order).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::{BoxStream, SelectAll};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::DeleteParams;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use strata_api::agent::Agent;
use strata_api::app::{App, AppStatus, LaunchDelay, LaunchQueue, OfferRejection, TaskFailure};
use strata_api::framework::Framework;
use strata_api::labels;
use strata_api::offer::Offer;
use strata_api::rollout::{Rollout, RolloutPhase, RolloutStatus};
use strata_api::task::{Task, TaskState};
use tokio::sync::mpsc;

use super::backoff;
use super::ids;
use super::placement::{Place, Rejection};
use super::plan::{self, Decision, Instance};
use super::status::{self, Hold};
mod deletion;
mod offers;
mod registration;
mod rollouts;

use crate::allocator::model::key;
use crate::watches::{object, take_ready, watch};
use crate::writer::Writer;

/// Field manager of everything the Marathon controller writes.
pub const MANAGER: &str = "strata-marathon";
/// Finalizer on Apps: their tasks are stopped (in reverse dependency order) before they go.
pub const FINALIZER: &str = "strata.io/marathon";
/// How many writes may be in flight at once.
const MAX_WRITES: usize = 64;
/// Shortest time between two passes triggered by changes.
const MIN_PASS_GAP: Duration = Duration::from_millis(50);
/// How often the frameworks' Leases are renewed, and how long they last.
const RENEW_EVERY: Duration = Duration::from_secs(4);
const LEASE_SECONDS: i32 = 15;
/// How often the statuses written are checked against the stored ones.
const RESYNC_EVERY: Duration = Duration::from_secs(10);
/// How long every instance must have been healthy for the crash-loop backoff to end.
const BACKOFF_RESET: Duration = Duration::from_secs(30);
/// How long an offer no app could use is refused to us. The master offers an agent again anyway
/// when more of it becomes free than was refused, and the controller revives when launches
/// starve, so this can be long (Marathon declines for 120 s) and spares the store the churn.
const DECLINE_REFUSE_SECONDS: f64 = 30.0;
/// A namespace that wants no offers for this long is suppressed.
const SUPPRESS_AFTER: Duration = Duration::from_secs(5);
/// Launches that saw no offer for this long revive the framework (drop its refuse filters).
const REVIVE_AFTER: Duration = Duration::from_secs(2);

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Name of the Framework it registers in each namespace with Apps.
    pub framework: String,
    /// Role of the Frameworks it creates (an existing Framework keeps its own).
    pub role: String,
    /// Rollouts kept per app (the version history a rollback can go back to).
    pub history: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            framework: "marathon".to_string(),
            role: "*".to_string(),
            history: 10,
        }
    }
}

enum Input {
    App(Box<Event<App>>),
    Task(Box<Event<Task>>),
    Offer(Box<Event<Offer>>),
    Rollout(Box<Event<Rollout>>),
    Agent(Box<Event<Agent>>),
    Framework(Box<Event<Framework>>),
    /// A task the controller meant to create was not created.
    NotCreated {
        app: String,
        task: String,
    },
}

const SYNC_FIRST: [&str; 6] = [
    "apps",
    "tasks",
    "offers",
    "rollouts",
    "agents",
    "frameworks",
];

/// Runs the Marathon controller until the process stops.
pub async fn run(client: Client, settings: Settings) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut inputs: SelectAll<BoxStream<'static, Input>> = SelectAll::new();
    let all = watcher::Config::default();
    inputs.push(watch(Api::all(client.clone()), all.clone(), |e| {
        Input::App(Box::new(e))
    }));
    inputs.push(watch(
        Api::all(client.clone()),
        all.clone().labels(labels::APP),
        |e| Input::Task(Box::new(e)),
    ));
    inputs.push(watch(
        Api::all(client.clone()),
        all.clone()
            .labels(&format!("{}={}", labels::FRAMEWORK, settings.framework)),
        |e| Input::Offer(Box::new(e)),
    ));
    inputs.push(watch(Api::all(client.clone()), all.clone(), |e| {
        Input::Rollout(Box::new(e))
    }));
    inputs.push(watch(Api::all(client.clone()), all.clone(), |e| {
        Input::Agent(Box::new(e))
    }));
    inputs.push(watch(
        Api::all(client.clone()),
        all.fields(&format!("metadata.name={}", settings.framework)),
        |e| Input::Framework(Box::new(e)),
    ));
    inputs.push(tokio_stream::wrappers::UnboundedReceiverStream::new(rx).boxed());

    let mut marathon = Marathon::new(client, settings, tx);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut renew = tokio::time::interval(RENEW_EVERY);
    loop {
        let soon = marathon.last_pass + MIN_PASS_GAP;
        tokio::select! {
            input = inputs.next() => match input {
                Some(input) => {
                    if !take_ready(input, &mut inputs, |input| marathon.handle(input)) {
                        return;
                    }
                }
                None => return,
            },
            _ = ticker.tick() => marathon.pass_wanted = true,
            _ = renew.tick() => marathon.renew_leases(),
            _ = tokio::time::sleep_until(soon), if marathon.pass_wanted && marathon.ready() => marathon.pass(),
        }
    }
}

/// One task of an app, as tracked.
struct Tracked {
    instance: Instance,
    agent: String,
}

/// Offers seen and refused for an app since it began to wait.
#[derive(Default)]
struct Queue {
    since: Option<Timestamp>,
    processed: u64,
    rejections: HashMap<Rejection, u64>,
}

/// What the controller keeps of one app.
#[derive(Default)]
struct Entry {
    /// Shared, not cloned, by each pass's outcome: a pass looks at every app.
    app: Option<Arc<App>>,
    tasks: HashMap<String, Tracked>,
    /// Copied on write: a pass reads the latest of every app's rollouts.
    rollouts: BTreeMap<u64, Arc<Rollout>>,
    /// The backoff of `delay_version`.
    delay: Option<LaunchDelay>,
    delay_version: Option<String>,
    last_failure: Option<TaskFailure>,
    queue: Queue,
    /// Whether the last pass found it done (every instance healthy): its dependents may start.
    done: bool,
    /// Since when every instance has been healthy, without a break.
    healthy_since: Option<Timestamp>,
    /// The app's version, and the generation and restart token it was computed for.
    version: Option<(VersionStamp, String)>,
    /// The app's resourceVersion when its finalizer was last added or released.
    metadata_sent_for: Option<String>,
    /// The status last sent for the app, and for each of its rollouts: compared each pass with
    /// what the pass computed (and serialized only when they differ).
    written: Option<AppStatus>,
    rollouts_written: HashMap<u64, RolloutStatus>,
}

/// What an app's version is computed from besides its spec: its generation (which moves with
/// the spec) and restart token.
type VersionStamp = (Option<i64>, Option<String>);

impl Entry {
    /// The app's current version (its spec and restart token), computed again only when its
    /// generation or restart token changed: it digests the whole spec.
    fn version_of(&mut self, app: &App) -> String {
        let restart = app.annotations().get(labels::RESTART);
        let stamp = (app.metadata.generation, restart.cloned());
        match &self.version {
            Some((seen, version)) if *seen == stamp => version.clone(),
            _ => {
                let version = app.spec.version(restart.map(String::as_str));
                self.version = Some((stamp, version.clone()));
                version
            }
        }
    }
}

/// What a pass decided for one app, kept until its status is written.
struct Outcome {
    /// The app as the pass saw it.
    app: Arc<App>,
    decision: Decision,
    hold: Option<Hold>,
    version: String,
    rolling: bool,
    wanted: u32,
}

struct Marathon {
    client: Client,
    settings: Settings,
    writer: Writer,
    inputs: mpsc::UnboundedSender<Input>,
    synced: HashSet<&'static str>,
    /// Apps by `namespace/name`.
    apps: BTreeMap<String, Entry>,
    /// Pending offers made to our frameworks, by `namespace/name`, and those already answered.
    offers: BTreeMap<String, Offer>,
    answered: HashSet<String>,
    agents: HashMap<String, Place>,
    /// Our Frameworks by namespace, and the namespaces where we registered one.
    frameworks: HashMap<String, Framework>,
    registering: HashSet<String>,
    /// Namespaces whose launches see no offers, and since when (or the last revive).
    starving: HashMap<String, Timestamp>,
    /// Namespaces with nothing to launch, and since when.
    idle: HashMap<String, Timestamp>,
    /// Tasks whose end was already handled, by uid.
    ended: HashSet<String>,
    pass_wanted: bool,
    last_pass: tokio::time::Instant,
    /// Whether this pass compares the statuses it computes with the stored ones (every
    /// [`RESYNC_EVERY`]), and when it last did.
    resync: bool,
    last_resync: tokio::time::Instant,
}

fn split(k: &str) -> (&str, &str) {
    k.split_once('/').expect("keys are namespace/name")
}

impl Marathon {
    fn new(client: Client, settings: Settings, inputs: mpsc::UnboundedSender<Input>) -> Marathon {
        Marathon {
            client,
            settings,
            writer: Writer::new(MAX_WRITES, MANAGER),
            inputs,
            synced: HashSet::new(),
            apps: BTreeMap::new(),
            offers: BTreeMap::new(),
            answered: HashSet::new(),
            agents: HashMap::new(),
            frameworks: HashMap::new(),
            registering: HashSet::new(),
            starving: HashMap::new(),
            idle: HashMap::new(),
            ended: HashSet::new(),
            pass_wanted: true,
            last_pass: tokio::time::Instant::now(),
            resync: false,
            last_resync: tokio::time::Instant::now(),
        }
    }

    fn ready(&self) -> bool {
        SYNC_FIRST.iter().all(|s| self.synced.contains(s))
    }

    fn handle(&mut self, input: Input) {
        self.pass_wanted = true;
        match input {
            Input::App(e) => {
                if let Some((app, deleted)) = object(*e, &mut self.synced, "apps") {
                    let k = key(&app.namespace().unwrap_or_default(), &app.name_any());
                    if deleted {
                        self.apps.remove(&k);
                    } else {
                        let entry = self.apps.entry(k).or_default();
                        if entry.app.is_none() {
                            restore(entry, &app);
                        }
                        entry.app = Some(Arc::new(app));
                    }
                }
            }
            Input::Task(e) => {
                if let Some((task, deleted)) = object(*e, &mut self.synced, "tasks") {
                    self.on_task(task, deleted);
                }
            }
            Input::Offer(e) => {
                if let Some((offer, deleted)) = object(*e, &mut self.synced, "offers") {
                    let k = key(&offer.namespace().unwrap_or_default(), &offer.name_any());
                    let settled = offer.status.as_ref().is_some_and(|s| s.phase.is_settled());
                    if deleted || settled {
                        self.offers.remove(&k);
                        self.answered.remove(&k);
                    } else {
                        self.offers.insert(k, offer);
                    }
                }
            }
            Input::Rollout(e) => {
                if let Some((rollout, deleted)) = object(*e, &mut self.synced, "rollouts") {
                    let k = key(&rollout.namespace().unwrap_or_default(), &rollout.spec.app);
                    let revision = rollout.spec.revision;
                    if deleted {
                        if let Some(entry) = self.apps.get_mut(&k) {
                            entry.rollouts.remove(&revision);
                            entry.rollouts_written.remove(&revision);
                        }
                    } else {
                        self.apps
                            .entry(k)
                            .or_default()
                            .rollouts
                            .insert(revision, Arc::new(rollout));
                    }
                }
            }
            Input::Agent(e) => {
                if let Some((agent, deleted)) = object(*e, &mut self.synced, "agents") {
                    let name = agent.name_any();
                    if deleted {
                        self.agents.remove(&name);
                    } else {
                        let hostname = agent.spec.hostname.clone();
                        let attributes = agent.spec.attributes.clone();
                        self.agents.insert(
                            name,
                            Place {
                                hostname,
                                attributes,
                            },
                        );
                    }
                }
            }
            Input::Framework(e) => {
                if let Some((fw, deleted)) = object(*e, &mut self.synced, "frameworks") {
                    let ns = fw.namespace().unwrap_or_default();
                    if deleted {
                        self.frameworks.remove(&ns);
                        self.registering.remove(&ns);
                    } else {
                        self.frameworks.insert(ns, fw);
                    }
                }
            }
            Input::NotCreated { app, task } => {
                if let Some(entry) = self.apps.get_mut(&app) {
                    entry.tasks.remove(&task);
                }
            }
        }
    }

    fn on_task(&mut self, task: Task, deleted: bool) {
        let Some(app) = task.labels().get(labels::APP).cloned() else {
            return;
        };
        let namespace = task.namespace().unwrap_or_default();
        let name = task.name_any();
        let k = key(&namespace, &app);
        let state = task.status.as_ref().and_then(|s| s.state);
        let entry = self.apps.entry(k.clone()).or_default();
        if deleted {
            entry.tasks.remove(&name);
            self.ended.remove(&task.uid().unwrap_or_default());
            return;
        }
        if state.is_some_and(TaskState::is_terminal) {
            entry.tasks.remove(&name);
            let uid = task.uid().unwrap_or_default();
            if self.ended.insert(uid) {
                self.task_ended(&k, &task);
            }
            return;
        }
        let status = task.status.as_ref();
        let instance = Instance {
            name: name.clone(),
            version: task
                .labels()
                .get(labels::APP_VERSION)
                .cloned()
                .unwrap_or_default(),
            state,
            healthy: status.and_then(|s| s.healthy),
            ready: status.and_then(|s| s.ready),
            created: task
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or_else(Timestamp::now, |t| t.0),
            kill_first: task.annotations().contains_key(labels::KILL_FIRST),
            deleting: task.metadata.deletion_timestamp.is_some(),
            unreachable_since: status.and_then(|s| s.unreachable_since.as_ref().map(|t| t.0)),
        };
        entry.tasks.insert(
            name,
            Tracked {
                instance,
                agent: task.spec.agent.clone(),
            },
        );
    }

    /// A task of the app `k` ended: count a failure of the current version for the backoff,
    /// keep it as the last failure, and delete the Task (its story is told in the App's status).
    fn task_ended(&mut self, k: &str, task: &Task) {
        let status = task.status.clone().unwrap_or_default();
        let state = status.state.unwrap_or_default();
        let version = task.labels().get(labels::APP_VERSION).cloned();
        let entry = self.apps.get_mut(k).expect("the entry was just made");
        let killed_by_us = task.metadata.deletion_timestamp.is_some();
        let failed = matches!(
            state,
            TaskState::Failed | TaskState::Finished | TaskState::Error
        ) && !killed_by_us;
        if failed
            || matches!(
                state,
                TaskState::Lost | TaskState::Gone | TaskState::Dropped
            )
        {
            entry.last_failure = Some(TaskFailure {
                task: task.name_any(),
                state: format!("{state:?}"),
                message: status.message.clone(),
                version: version.clone(),
                agent: Some(task.spec.agent.clone()),
                at: status
                    .finished_at
                    .clone()
                    .unwrap_or_else(|| Time(Timestamp::now())),
            });
        }
        if failed
            && let Some(app) = entry.app.clone()
            && version.as_deref() == Some(entry.version_of(&app).as_str())
        {
            let spec = &app.spec;
            let failures = entry
                .delay
                .as_ref()
                .filter(|_| entry.delay_version == version)
                .map_or(0, |d| d.failures)
                + 1;
            let delay = backoff::delay(spec, failures);
            tracing::info!(app = %k, task = %task.name_any(), ?state, failures, delay_seconds = delay.as_secs(), "task failed; backing off");
            entry.delay = Some(LaunchDelay {
                failures,
                seconds: delay.as_secs(),
                launch_after: Time(Timestamp::now() + delay),
            });
            entry.delay_version = version;
        }
        let (namespace, _) = split(k);
        let api: Api<Task> = Api::namespaced(self.client.clone(), namespace);
        let name = task.name_any();
        self.writer
            .write(format!("delete ended task {name}"), async move {
                match api.delete(&name, &DeleteParams::default()).await {
                    Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                    other => other.map(drop),
                }
            });
    }

    // --- the pass ---

    fn pass(&mut self) {
        self.pass_wanted = false;
        self.last_pass = tokio::time::Instant::now();
        self.resync = self.last_resync.elapsed() >= RESYNC_EVERY;
        if self.resync {
            self.last_resync = self.last_pass;
        }
        let now = Timestamp::now();
        // What is left of deleted apps once their tasks and rollouts are gone.
        self.apps
            .retain(|_, e| e.app.is_some() || !e.tasks.is_empty() || !e.rollouts.is_empty());
        let keys: Vec<String> = self.apps.keys().cloned().collect();
        let mut outcomes: HashMap<String, Outcome> = HashMap::new();
        for k in &keys {
            if let Some(outcome) = self.reconcile(k, now) {
                outcomes.insert(k.clone(), outcome);
            }
        }
        self.place(&mut outcomes, now);
        for (k, outcome) in outcomes {
            self.write_status(&k, outcome, now);
        }
        tracing::debug!(apps = keys.len(), took = ?self.last_pass.elapsed(), "pass");
    }

    /// Decides for one app: its rollout, its kills, how many to launch and what holds them.
    fn reconcile(&mut self, k: &str, now: Timestamp) -> Option<Outcome> {
        let (namespace, _) = split(k);
        let entry = self.apps.get(k)?;
        let app = entry.app.clone()?;
        if app.metadata.deletion_timestamp.is_some() {
            self.stop_deleted(k);
            return None;
        }
        if !app.finalizers().iter().any(|f| f == FINALIZER) && self.once_per_version(k, &app) {
            self.add_finalizer(&app);
        }
        if let Err(invalid) = app.spec.validate() {
            self.write_invalid(k, &app, &invalid.to_string(), now);
            return None;
        }
        self.ensure_framework(namespace);
        let version = self.apps.get_mut(k)?.version_of(&app);
        let rolling = self.roll(k, &app, &version, now);
        let entry = self.apps.get_mut(k)?;
        if entry.delay_version.as_deref() != Some(version.as_str()) {
            entry.delay = None;
            entry.delay_version = Some(version.clone());
        }
        let instances = entry.tasks.values().map(|t| &t.instance);
        let decision = plan::decide(&app.spec, &version, instances, now);
        // The backoff ends once every instance has been healthy for a while.
        entry.healthy_since = match (decision.done, entry.healthy_since) {
            (false, _) => None,
            (true, since) => Some(since.unwrap_or(now)),
        };
        if entry.healthy_since.is_some_and(|since| {
            now.duration_since(since).as_secs() >= BACKOFF_RESET.as_secs() as i64
        }) {
            entry.delay = None;
        }
        entry.done = decision.done;
        for victim in &decision.kill {
            if let Some(t) = entry.tasks.get_mut(victim) {
                t.instance.deleting = true;
            }
            tracing::info!(app = %k, task = %victim, "killing a task");
            let api: Api<Task> = Api::namespaced(self.client.clone(), namespace);
            let victim = victim.clone();
            self.writer
                .write(format!("kill task {victim}"), async move {
                    api.delete(&victim, &DeleteParams::default())
                        .await
                        .map(drop)
                });
        }
        let stopped = app
            .annotations()
            .get(labels::LAUNCHES_STOPPED)
            .is_some_and(|v| *v == version);
        let entry = self.apps.get(k)?;
        let delayed = entry.delay.clone().filter(|d| d.launch_after.0 > now);
        let waiting_on: Vec<String> = app
            .spec
            .dependencies
            .iter()
            .filter(|dep| {
                !self
                    .apps
                    .get(&key(namespace, dep))
                    .is_some_and(|e| e.done && e.app.is_some())
            })
            .cloned()
            .collect();
        let hold = if decision.launch == 0 {
            None
        } else if stopped {
            Some(Hold::Stopped)
        } else if let Some(d) = delayed {
            Some(Hold::Backoff(d))
        } else if !waiting_on.is_empty() {
            Some(Hold::Dependencies(waiting_on))
        } else {
            None
        };
        let wanted = if hold.is_none() { decision.launch } else { 0 };
        Some(Outcome {
            app,
            decision,
            hold,
            version,
            rolling,
            wanted,
        })
    }

    fn write_status(&mut self, k: &str, outcome: Outcome, now: Timestamp) {
        let (namespace, name) = split(k);
        let Some(entry) = self.apps.get_mut(k) else {
            return;
        };
        let app = &outcome.app;
        let queue = (outcome.decision.launch > 0 && entry.queue.since.is_some()).then(|| {
            let mut rejections: Vec<OfferRejection> = entry
                .queue
                .rejections
                .iter()
                .map(|(r, n)| OfferRejection {
                    reason: r.as_str().to_string(),
                    count: *n,
                })
                .collect();
            rejections.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
            LaunchQueue {
                count: outcome.decision.launch,
                since: entry.queue.since.map(Time),
                offers_processed: entry.queue.processed,
                rejections,
            }
        });
        let latest = entry.rollouts.values().next_back().cloned();
        let hold_words = outcome
            .hold
            .as_ref()
            .map(|h| status::hold_reason(h, queue.as_ref(), outcome.decision.launch, now));
        // A rollout only just created gets its status when it is seen (see roll).
        let seen = |r: &&Arc<Rollout>| r.metadata.resource_version.is_some();
        if let Some(rollout) = latest.as_ref().filter(seen).filter(|_| outcome.rolling) {
            let previous = rollout.status.clone().unwrap_or_default();
            let updated = status::rollout_status(
                &previous,
                &outcome.decision,
                app.spec.instances,
                hold_words.clone(),
                now,
            );
            let revision = rollout.spec.revision;
            let stale = self.resync && rollout.status.as_ref() != Some(&updated);
            if entry.rollouts_written.get(&revision) != Some(&updated) || stale {
                if updated.phase == RolloutPhase::Succeeded {
                    tracing::info!(app = %k, rollout = %rollout.name_any(), "rollout succeeded");
                }
                let value = serde_json::to_value(&updated).expect("status serializes");
                entry.rollouts_written.insert(revision, updated.clone());
                if let Some(r) = entry.rollouts.get_mut(&revision) {
                    Arc::make_mut(r).status = Some(updated);
                }
                let api: Api<Rollout> = Api::namespaced(self.client.clone(), namespace);
                self.writer
                    .apply_status(api, "Rollout", rollout.name_any(), value);
            }
        }
        let rolling = entry
            .rollouts
            .values()
            .next_back()
            .is_some_and(|r| !r.status.as_ref().is_some_and(|s| s.phase.is_finished()));
        let app_status = status::app_status(status::Inputs {
            spec: &app.spec,
            generation: app.metadata.generation,
            id: marathon_id(app),
            name,
            version: &outcome.version,
            decision: &outcome.decision,
            rolling,
            rollout: latest.as_ref().map(|r| r.name_any()),
            revision: latest.as_ref().map_or(0, |r| r.spec.revision),
            hold: outcome.hold,
            queue,
            delay: entry.delay.clone(),
            last_failure: entry.last_failure.clone(),
            previous: app.status.as_ref(),
            now,
        });
        // Now and then the stored status is checked too: a write that failed is made again.
        let stale = self.resync && app.status.as_ref() != Some(&app_status);
        if entry.written.as_ref() != Some(&app_status) || stale {
            let value = serde_json::to_value(&app_status).expect("status serializes");
            entry.written = Some(app_status);
            let api: Api<App> = Api::namespaced(self.client.clone(), namespace);
            self.writer
                .apply_status(api, "App", name.to_string(), value);
        }
    }

    fn write_invalid(&mut self, k: &str, app: &App, why: &str, now: Timestamp) {
        let (namespace, name) = split(k);
        let mut conditions = app
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        strata_api::conditions::set_condition(
            &mut conditions,
            strata_api::conditions::Condition::new(
                strata_api::conditions::types::PROGRESSING,
                strata_api::conditions::ConditionStatus::False,
                strata_api::conditions::reasons::INVALID_SPEC,
                why,
                Time(now),
            )
            .observed(app.metadata.generation),
        );
        let invalid = AppStatus {
            observed_generation: app.metadata.generation,
            conditions,
            id: Some(marathon_id(app)),
            ..AppStatus::default()
        };
        let entry = self.apps.get_mut(k).expect("reconciled apps have entries");
        if entry.written.as_ref() != Some(&invalid) {
            // Only what an invalid spec says; the rest of the status stays as it was.
            let value = json!({
                "observedGeneration": invalid.observed_generation,
                "conditions": invalid.conditions,
                "id": invalid.id,
            });
            entry.written = Some(invalid);
            let api: Api<App> = Api::namespaced(self.client.clone(), namespace);
            self.writer
                .apply_status(api, "App", name.to_string(), value);
        }
    }
}

/// Restores what the App's stored status remembers: the backoff and the last failure.
fn restore(entry: &mut Entry, app: &App) {
    if let Some(status) = &app.status {
        entry.delay = status.launch_delay.clone();
        entry.delay_version = status.version.clone();
        entry.last_failure = status.last_task_failure.clone();
    }
}

fn marathon_id(app: &App) -> String {
    ids::to_path(
        &app.namespace().unwrap_or_default(),
        &app.name_any(),
        app.annotations().get(ids::MARATHON_ID).map(String::as_str),
    )
}

fn owner_reference(app: &App) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        api_version: strata_api::API_VERSION.to_string(),
        kind: "App".to_string(),
        name: app.name_any(),
        uid: app.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A task name for the app not used by any of its tasks: `<app>-<5 random characters>`.
fn fresh_name(app: &str, taken: &HashMap<String, Tracked>) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    loop {
        let suffix: String = (0..5)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        let name = format!("{app}-{suffix}");
        if !taken.contains_key(&name) {
            return name;
        }
    }
}
