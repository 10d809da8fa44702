//! The lifecycle controller's loop: watches feed the [`Lifecycle`], a tick asks it what to do,
//! and writers do it.
//!
//! Why it exists: the rules are pure; this is the one place that knows about the API. Like the
//! allocator, one actor owns the state and nothing is decided before every watch has listed
//! the store, so a restart judges from the whole truth. Writes carry the resourceVersion they
//! were decided on: a task that moved meanwhile (its agent reported it) is judged again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::{BoxStream, SelectAll};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::watcher::Event;
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use strata_api::agent::Agent;
use strata_api::conditions::{Condition, ConditionStatus, find_condition, types};
use strata_api::framework::Framework;
use strata_api::lean::Lean;
use strata_api::task::{AGENT_FINALIZER, Task, TaskState};

use super::model::{Action, AgentFacts, Config, Lifecycle, Phase, TaskFacts};
use crate::allocator::model::key;
use crate::heartbeats::Heartbeats;
use crate::metrics::{Metrics, PhaseLabel};
use crate::watches::{Master, framework_beat, instant_of, object};
use crate::writer::{Writer, merge_status};

/// Field manager of the agent conditions the lifecycle writes.
pub const MANAGER: &str = "strata-lifecycle";
/// How often the lifecycle looks at the clock.
const TICK: Duration = Duration::from_secs(1);
/// How many writes may be in flight at once.
const MAX_WRITES: usize = 32;
/// The watches whose first listing must be complete before anything is decided.
const SOURCES: [&str; 5] = [
    "agents",
    "agent-leases",
    "frameworks",
    "framework-leases",
    "tasks",
];

enum Input {
    Agent(Box<Event<Agent>>),
    AgentLease(Event<Lease>),
    Framework(Box<Event<Framework>>),
    FrameworkLease(Event<Lease>),
    Task(Box<Event<Task>>),
}

/// Runs the lifecycle controller until the process stops, keeping `metrics` up to date, on the
/// watches it shares with the allocator ([`crate::watches::master`]).
pub async fn run(client: Client, watches: Master, config: Config, metrics: Arc<Metrics>) {
    let mut inputs: SelectAll<BoxStream<'static, Input>> = SelectAll::new();
    inputs.push(watches.agents.map(|e| Input::Agent(Box::new(e))).boxed());
    inputs.push(watches.agent_leases.map(Input::AgentLease).boxed());
    inputs.push(
        watches
            .frameworks
            .map(|e| Input::Framework(Box::new(e)))
            .boxed(),
    );
    inputs.push(watches.framework_leases.map(Input::FrameworkLease).boxed());
    inputs.push(watches.tasks.map(|e| Input::Task(Box::new(e))).boxed());
    let mut controller = Controller {
        client,
        unreachable_after: config.unreachable_after,
        model: Lifecycle::new(config),
        agent_beats: Heartbeats::default(),
        framework_beats: Heartbeats::default(),
        synced: HashSet::new(),
        staged_on: HashMap::new(),
        unstaged: HashMap::new(),
        writer: Writer::new(MAX_WRITES, MANAGER),
        metrics,
    };
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            input = inputs.next() => match input {
                Some(input) => controller.handle(input, Instant::now()),
                None => return,
            },
            _ = ticker.tick() => controller.tick(Instant::now()),
        }
    }
}

struct Controller {
    client: Client,
    unreachable_after: Duration,
    model: Lifecycle,
    agent_beats: Heartbeats,
    framework_beats: Heartbeats,
    synced: HashSet<&'static str>,
    /// By agent, the uids its status lists as staged by the master (`status.staged`).
    staged_on: HashMap<String, HashSet<String>>,
    /// Tasks with no state the master has not staged (yet), by uid: staged once their agent's
    /// status lists them.
    unstaged: HashMap<String, Task>,
    writer: Writer,
    metrics: Arc<Metrics>,
}

impl Controller {
    fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Agent(event) => {
                if let Some((agent, deleted)) = object(*event, &mut self.synced, "agents") {
                    let name = agent.name_any();
                    if deleted {
                        self.staged_on.remove(&name);
                        self.model.remove_agent(&name);
                    } else {
                        self.staged_on_agent(&name, &agent);
                        let renewed = self.agent_beats.renewed(&name);
                        self.model
                            .upsert_agent(&name, agent_facts(&agent, now), renewed, now);
                    }
                }
            }
            Input::AgentLease(event) => {
                if let Some((lease, deleted)) = object(event, &mut self.synced, "agent-leases") {
                    let name = lease.name_any();
                    if deleted {
                        self.agent_beats.remove(&name);
                    } else {
                        let lasts = self.unreachable_after;
                        self.agent_beats.observe(&name, &lease, lasts, now);
                        // Only a renewal seen by this run proves an agent found Unreachable
                        // is back.
                        if self.agent_beats.alive(&name) && self.agent_beats.renewed(&name) {
                            self.model.agent_heartbeat(&name, true, now);
                        }
                    }
                }
            }
            Input::Framework(event) => {
                if let Some((fw, deleted)) = object(*event, &mut self.synced, "frameworks") {
                    let k = key(&fw.namespace().unwrap_or_default(), &fw.name_any());
                    if deleted {
                        self.model.remove_framework(&k);
                    } else {
                        let failover = Duration::from_secs(fw.spec.failover_timeout_seconds);
                        let partition_aware = fw.spec.capabilities.partition_aware;
                        let alive = self.framework_beats.alive(&k);
                        self.model
                            .upsert_framework(&k, partition_aware, failover, alive, now);
                    }
                }
            }
            Input::FrameworkLease(event) => {
                if let Some((lease, deleted)) = object(event, &mut self.synced, "framework-leases")
                {
                    let (k, flipped) =
                        framework_beat(&mut self.framework_beats, &lease, deleted, now);
                    if flipped {
                        let alive = self.framework_beats.alive(&k);
                        self.model.framework_heartbeat(&k, alive, now);
                    }
                }
            }
            Input::Task(event) => {
                if let Some((task, deleted)) = object(*event, &mut self.synced, "tasks") {
                    let uid = task.uid().unwrap_or_default();
                    self.observe_task(&uid, (!deleted).then_some(task));
                }
            }
        }
    }

    /// Takes the tasks `agent`'s status lists as staged; those waiting unstaged are staged now.
    fn staged_on_agent(&mut self, name: &str, agent: &Agent) {
        let listed: HashSet<String> = agent
            .status
            .iter()
            .flat_map(|s| s.staged.iter().cloned())
            .collect();
        let newly: Vec<Task> = listed
            .iter()
            .filter_map(|uid| self.unstaged.remove(uid))
            .collect();
        self.staged_on.insert(name.to_string(), listed);
        for task in newly {
            let uid = task.uid().unwrap_or_default();
            self.observe_task(&uid, Some(task));
        }
    }

    /// Tells the model of a task (None: deleted), staged if the master staged it.
    fn observe_task(&mut self, uid: &str, task: Option<Task>) {
        let Some(task) = task else {
            self.unstaged.remove(uid);
            self.model.observe_task(uid, None);
            return;
        };
        let listed = self
            .staged_on
            .get(&task.spec.agent)
            .is_some_and(|uids| uids.contains(uid));
        let facts = task_facts(&task, listed);
        if facts.staged || facts.state.is_some() {
            self.unstaged.remove(uid);
        } else {
            self.unstaged.insert(uid.to_string(), task);
        }
        self.model.observe_task(uid, Some(facts));
    }

    fn tick(&mut self, now: Instant) {
        if !SOURCES.iter().all(|s| self.synced.contains(s)) {
            return;
        }
        for name in self.agent_beats.lapsed(now) {
            self.model.agent_heartbeat(&name, false, now);
        }
        for k in self.framework_beats.lapsed(now) {
            self.model.framework_heartbeat(&k, false, now);
        }
        for action in self.model.decide(now) {
            self.act(action);
        }
        for (phase, count) in self.model.agents_by_phase() {
            let label = PhaseLabel {
                phase: phase.as_str(),
            };
            self.metrics
                .agent_phases
                .get_or_create(&label)
                .set(count as i64);
        }
    }

    fn act(&self, action: Action) {
        let client = self.client.clone();
        self.writer.write(
            describe(&action),
            async move { perform(client, action).await },
        );
    }
}

fn describe(action: &Action) -> String {
    match action {
        Action::Agent { name, phase, .. } => format!("agent {name} {phase:?}"),
        Action::Task { task, state, .. } => {
            format!("task {}/{} {state:?}", task.namespace, task.name)
        }
        Action::Kill { task, .. } => format!("kill {}/{}", task.namespace, task.name),
        Action::Release { task } => format!("release {}/{}", task.namespace, task.name),
    }
}

async fn perform(client: Client, action: Action) -> Result<(), kube::Error> {
    let stamp = Time(jiff::Timestamp::now());
    match action {
        Action::Agent {
            name,
            phase,
            reason,
            message,
        } => {
            let condition = |type_: &str, status: ConditionStatus| {
                Condition::new(type_, status, reason, &message, stamp.clone())
            };
            let (ready, unreachable) = match phase {
                Phase::Ready => (ConditionStatus::True, ConditionStatus::False),
                Phase::Unreachable => (ConditionStatus::Unknown, ConditionStatus::True),
                Phase::Gone => (ConditionStatus::False, ConditionStatus::False),
            };
            let mut conditions = vec![
                condition(types::READY, ready),
                condition(types::UNREACHABLE, unreachable),
            ];
            if phase == Phase::Gone {
                conditions.push(condition(types::GONE, ConditionStatus::True));
            }
            let patch = json!({
                "apiVersion": strata_api::API_VERSION, "kind": "Agent",
                "status": {"conditions": conditions},
            });
            let api: Api<Lean<Agent>> = Api::all(client);
            api.patch_status(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map(drop)
        }
        Action::Task {
            task,
            state,
            reason,
            message,
        } => {
            tracing::info!(task = %task.name, namespace = %task.namespace, ?state, reason, "task {message}");
            let mut status = json!({"state": state, "reason": reason, "message": message});
            if state.is_terminal() {
                status["finishedAt"] = json!(stamp);
            }
            // Marathon's unreachableStrategy counts from here; null clears it on return.
            status["unreachableSince"] = match state {
                TaskState::Unreachable => json!(stamp),
                _ => serde_json::Value::Null,
            };
            let patch = json!({
                "metadata": {"resourceVersion": task.resource_version},
                "status": status,
            });
            let api: Api<Task> = Api::namespaced(client, &task.namespace);
            merge_status(&api, &task.name, &patch).await
        }
        Action::Kill { task, grace, why } => {
            tracing::info!(task = %task.name, namespace = %task.namespace, "killing the task: {why}");
            let api: Api<Lean<Task>> = Api::namespaced(client, &task.namespace);
            if let Some(grace) = grace {
                let patch = json!({"spec": {"killGracePeriodSeconds": grace}});
                api.patch(&task.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
            }
            api.delete(&task.name, &DeleteParams::default())
                .await
                .map(drop)
        }
        Action::Release { task } => {
            let finalizers: Vec<&String> = task
                .finalizers
                .iter()
                .filter(|f| *f != AGENT_FINALIZER)
                .collect();
            let patch = json!({"metadata": {
                "resourceVersion": task.resource_version, "finalizers": finalizers,
            }});
            let api: Api<Lean<Task>> = Api::namespaced(client, &task.namespace);
            api.patch(&task.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(drop)
        }
    }
}

fn agent_facts(agent: &Agent, now: Instant) -> AgentFacts {
    let conditions = agent
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let is_true =
        |type_| find_condition(conditions, type_).filter(|c| c.status == ConditionStatus::True);
    let unreachable = is_true(types::UNREACHABLE);
    let shown = if is_true(types::GONE).is_some() {
        Phase::Gone
    } else if unreachable.is_some() {
        Phase::Unreachable
    } else {
        Phase::Ready
    };
    let unreachable_since = unreachable.map(|c| instant_of(&c.last_transition_time, now));
    AgentFacts {
        marked_gone: agent.spec.gone,
        drain: agent.spec.drain.clone(),
        shown,
        unreachable_since,
    }
}

/// What the lifecycle needs of a task, staged or not: staged when the master wrote it so
/// (`stagedAt`), its agent's status lists it (`listed`), or its agent reported a state.
fn task_facts(task: &Task, listed: bool) -> TaskFacts {
    let status = task.status.as_ref();
    let state = status.and_then(|s| s.state);
    let reported = state.is_some_and(|s| !matches!(s, TaskState::Error | TaskState::Dropped));
    TaskFacts {
        namespace: task.namespace().unwrap_or_default(),
        name: task.name_any(),
        agent: task.spec.agent.clone(),
        framework: key(&task.namespace().unwrap_or_default(), &task.spec.framework),
        state,
        staged: listed || reported || status.is_some_and(|s| s.staged_at.is_some()),
        resource_version: task.resource_version().unwrap_or_default(),
        deleting: task.metadata.deletion_timestamp.is_some(),
        finalizers: task.finalizers().to_vec(),
        kill_grace_period_seconds: task.spec.kill_grace_period_seconds,
    }
}
