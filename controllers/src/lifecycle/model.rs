//! What the lifecycle controller knows and decides, without a client or a clock of its own.
//!
//! Why it exists: the rules are Mesos' and easy to get subtly wrong (which state a task gets
//! on an unreachable agent, when an agent is gone for good, which tasks a drain or a
//! framework's failover kills), so they live in one pure value the unit tests drive, fed by
//! the controller's watches. Decisions are level-triggered: [`Lifecycle::decide`] compares
//! what the store shows with what should be, and says what to write; an action is not
//! repeated while the store has not had time to show it ([`RETRY`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use strata_api::agent::Drain;
use strata_api::task::{AGENT_FINALIZER, TaskState};

/// An action the store does not show after this long is taken again.
pub const RETRY: Duration = Duration::from_secs(10);

/// How long an agent may be silent.
#[derive(Clone, Debug)]
pub struct Config {
    /// Without a heartbeat for this long an agent is Unreachable (Mesos: 75 s).
    pub unreachable_after: Duration,
    /// An agent Unreachable for this long is Gone (Mesos' agent re-registration timeout).
    pub gone_after: Duration,
}

/// Where an agent stands, as its conditions show it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    #[default]
    Ready,
    Unreachable,
    /// For good: a gone agent is never offered again and its tasks are Gone.
    Gone,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Ready => "Ready",
            Phase::Unreachable => "Unreachable",
            Phase::Gone => "Gone",
        }
    }
}

/// What the store says of an agent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentFacts {
    /// The operator marked it gone (`spec.gone`).
    pub marked_gone: bool,
    pub drain: Option<Drain>,
    /// The phase its conditions show.
    pub shown: Phase,
    /// When it became Unreachable, as its condition says (after a restart of the controller).
    pub unreachable_since: Option<Instant>,
}

/// What the store says of a task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskFacts {
    pub namespace: String,
    pub name: String,
    pub agent: String,
    pub framework: String,
    /// None until the master judged it (staged it, or ended it as Error or Dropped).
    pub state: Option<TaskState>,
    /// Whether the master staged it, so that its agent may have launched it.
    pub staged: bool,
    pub resource_version: String,
    /// Deletion was asked (the agent holds its finalizer until the task is killed).
    pub deleting: bool,
    pub finalizers: Vec<String>,
    pub kill_grace_period_seconds: Option<u32>,
}

impl TaskFacts {
    /// Whether the agent's finalizer is on it.
    pub fn finalized_by_agent(&self) -> bool {
        self.finalizers.iter().any(|f| f == AGENT_FINALIZER)
    }

    fn ended(&self) -> bool {
        self.state.is_some_and(TaskState::is_terminal)
    }

    /// Staged and not ended: it may run on its agent.
    fn live(&self) -> bool {
        self.staged && !self.ended()
    }

    /// Whether the lifecycle has anything to watch for: a live task, an ended one whose agent
    /// has not let go of it, or a deleted one no agent will ever let go of (never staged).
    fn concerns_lifecycle(&self) -> bool {
        self.live() || (self.finalized_by_agent() && (self.ended() || self.deleting))
    }
}

/// What to write.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Show `phase` in the agent's conditions.
    Agent {
        name: String,
        phase: Phase,
        reason: &'static str,
        message: String,
    },
    /// Move a task to `state` (Unreachable, Lost or Gone), if it is still at `resource_version`.
    Task {
        task: TaskFacts,
        state: TaskState,
        reason: &'static str,
        message: String,
    },
    /// Kill a task (delete it; its agent kills it), first lowering its grace period to `grace`.
    Kill {
        task: TaskFacts,
        grace: Option<u32>,
        why: String,
    },
    /// Take the agent's finalizer off a task of a gone agent, or off a deleted task that was
    /// never staged (its framework put the finalizer on at creation; no agent ran it).
    Release { task: TaskFacts },
}

struct AgentEntry {
    facts: AgentFacts,
    /// Heartbeating, as far as this controller has seen.
    alive: bool,
    /// When its heartbeat lapsed.
    lapsed_at: Option<Instant>,
    /// Why it is gone, once it is: it never comes back.
    gone: Option<&'static str>,
}

struct FrameworkEntry {
    partition_aware: bool,
    failover: Duration,
    /// Since when it has not heartbeated (from when this controller first saw it).
    inactive_since: Option<Instant>,
}

/// The agents, frameworks and staged tasks, and what was done about them.
pub struct Lifecycle {
    config: Config,
    agents: HashMap<String, AgentEntry>,
    frameworks: HashMap<String, FrameworkEntry>,
    /// Live tasks, and ended or deleted ones still holding the agent's finalizer, by uid.
    tasks: HashMap<String, TaskFacts>,
    /// What was last done about an object (by key) and when: not repeated within [`RETRY`].
    acted: HashMap<String, (String, Instant)>,
}

impl Lifecycle {
    pub fn new(config: Config) -> Lifecycle {
        Lifecycle {
            config,
            agents: HashMap::new(),
            frameworks: HashMap::new(),
            tasks: HashMap::new(),
            acted: HashMap::new(),
        }
    }

    /// Adds or updates an agent from its object. An agent first seen Unreachable (the
    /// controller restarted) stays so until it heartbeats again (`renewed`: its Lease was
    /// renewed since the controller started).
    pub fn upsert_agent(&mut self, name: &str, facts: AgentFacts, renewed: bool, now: Instant) {
        match self.agents.get_mut(name) {
            Some(entry) => {
                // Gone is for good, whoever said so.
                if facts.shown == Phase::Gone && entry.gone.is_none() {
                    entry.gone = Some(reasons::GONE);
                }
                entry.facts = facts;
            }
            None => {
                let alive = facts.shown == Phase::Ready || renewed;
                let lapsed_at = (!alive).then(|| facts.unreachable_since.unwrap_or(now));
                let gone = (facts.shown == Phase::Gone).then_some(reasons::GONE);
                self.agents.insert(
                    name.to_string(),
                    AgentEntry {
                        facts,
                        alive,
                        lapsed_at,
                        gone,
                    },
                );
            }
        }
    }

    pub fn remove_agent(&mut self, name: &str) {
        self.agents.remove(name);
    }

    /// The agent's heartbeat was seen (`alive`) or lapsed.
    pub fn agent_heartbeat(&mut self, name: &str, alive: bool, now: Instant) {
        if let Some(entry) = self.agents.get_mut(name) {
            if alive {
                entry.lapsed_at = None;
            } else if entry.alive || entry.lapsed_at.is_none() {
                entry.lapsed_at = Some(now);
            }
            entry.alive = alive;
        }
    }

    /// Adds or updates a framework; `alive` says whether it heartbeats now.
    pub fn upsert_framework(
        &mut self,
        key: &str,
        partition_aware: bool,
        failover: Duration,
        alive: bool,
        now: Instant,
    ) {
        let entry = self
            .frameworks
            .entry(key.to_string())
            .or_insert(FrameworkEntry {
                partition_aware,
                failover,
                inactive_since: (!alive).then_some(now),
            });
        entry.partition_aware = partition_aware;
        entry.failover = failover;
    }

    pub fn remove_framework(&mut self, key: &str) {
        self.frameworks.remove(key);
    }

    /// The framework's heartbeat was seen (`alive`) or lapsed.
    pub fn framework_heartbeat(&mut self, key: &str, alive: bool, now: Instant) {
        if let Some(entry) = self.frameworks.get_mut(key) {
            entry.inactive_since = if alive {
                None
            } else {
                entry.inactive_since.or(Some(now))
            };
        }
    }

    /// Records a task (or forgets it, when it no longer concerns the lifecycle: see
    /// `TaskFacts::concerns_lifecycle`).
    pub fn observe_task(&mut self, uid: &str, task: Option<TaskFacts>) {
        match task {
            Some(t) if t.concerns_lifecycle() => {
                self.tasks.insert(uid.to_string(), t);
            }
            _ => {
                self.tasks.remove(uid);
                self.acted.remove(uid);
            }
        }
    }

    /// How many agents the store shows in each phase.
    pub fn agents_by_phase(&self) -> [(Phase, usize); 3] {
        let count = |phase| {
            self.agents
                .values()
                .filter(|a| a.facts.shown == phase)
                .count()
        };
        [Phase::Ready, Phase::Unreachable, Phase::Gone].map(|p| (p, count(p)))
    }

    /// The agent's phase now, by its heartbeats, marks and drain.
    fn phase(&self, entry: &AgentEntry, drained: bool, now: Instant) -> (Phase, &'static str) {
        if let Some(reason) = entry.gone {
            return (Phase::Gone, reason);
        }
        if entry.facts.marked_gone {
            return (Phase::Gone, reasons::MARKED_GONE);
        }
        if drained && entry.facts.drain.as_ref().is_some_and(|d| d.mark_gone) {
            return (Phase::Gone, reasons::DRAINED);
        }
        match entry.lapsed_at {
            Some(at) if !entry.alive => {
                if now.duration_since(at) >= self.config.gone_after {
                    (Phase::Gone, reasons::REREGISTER_TIMEOUT)
                } else {
                    (Phase::Unreachable, reasons::HEARTBEAT_MISSED)
                }
            }
            _ => (Phase::Ready, reasons::HEARTBEATING),
        }
    }

    /// Whether `what` was done about `key` less than [`RETRY`] ago; records it otherwise.
    fn already(&mut self, key: &str, what: String, now: Instant) -> bool {
        match self.acted.get(key) {
            Some((done, at)) if *done == what && now.duration_since(*at) < RETRY => true,
            _ => {
                self.acted.insert(key.to_string(), (what, now));
                false
            }
        }
    }

    /// What to write now so that the store shows what should be.
    pub fn decide(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut busy: HashMap<&str, usize> = HashMap::new();
        for t in self.tasks.values().filter(|t| t.live()) {
            *busy.entry(t.agent.as_str()).or_default() += 1;
        }
        let mut phases: HashMap<String, Phase> = HashMap::new();
        let mut agent_actions = Vec::new();
        for (name, entry) in &self.agents {
            let drained = !busy.contains_key(name.as_str());
            let (phase, reason) = self.phase(entry, drained, now);
            phases.insert(name.clone(), phase);
            if phase != entry.facts.shown {
                agent_actions.push((name.clone(), phase, reason));
            }
        }
        for (name, phase, reason) in agent_actions {
            if phase == Phase::Gone {
                self.agents.get_mut(&name).expect("agent").gone = Some(reason);
            }
            if !self.already(&format!("agent/{name}"), format!("{phase:?}"), now) {
                let message = agent_message(phase, reason, &self.config);
                tracing::info!(agent = %name, ?phase, reason, "agent {message}");
                actions.push(Action::Agent {
                    name,
                    phase,
                    reason,
                    message,
                });
            }
        }

        let mut task_actions = Vec::new();
        for (uid, task) in &self.tasks {
            if let Some(action) = self.task_action(task, phases.get(&task.agent), now) {
                task_actions.push((uid.clone(), action));
            }
        }
        for (uid, action) in task_actions {
            let what = format!("{}:{}", action_kind(&action), rv_of(&action));
            if !self.already(&uid, what, now) {
                actions.push(action);
            }
        }
        actions
    }

    /// What a task needs, given its agent's phase and its framework.
    fn task_action(&self, task: &TaskFacts, agent: Option<&Phase>, now: Instant) -> Option<Action> {
        if !task.staged {
            return (task.deleting && task.finalized_by_agent())
                .then(|| Action::Release { task: task.clone() });
        }
        let framework = self.frameworks.get(&task.framework);
        let partition_aware = framework.is_some_and(|f| f.partition_aware);
        if agent == Some(&Phase::Gone) {
            if !task.ended() {
                let state = if partition_aware {
                    TaskState::Gone
                } else {
                    TaskState::Lost
                };
                return Some(Action::Task {
                    task: task.clone(),
                    state,
                    reason: "AgentGone",
                    message: format!("agent {} is gone", task.agent),
                });
            }
            return task
                .finalized_by_agent()
                .then(|| Action::Release { task: task.clone() });
        }
        if task.ended() {
            return None;
        }
        if agent == Some(&Phase::Unreachable) {
            let state = if partition_aware {
                TaskState::Unreachable
            } else {
                TaskState::Lost
            };
            return (task.state != Some(state)).then(|| Action::Task {
                task: task.clone(),
                state,
                reason: "AgentUnreachable",
                message: format!(
                    "agent {} missed its heartbeats for {}s",
                    task.agent,
                    self.config.unreachable_after.as_secs()
                ),
            });
        }
        if task.deleting {
            return None;
        }
        let drain = self
            .agents
            .get(&task.agent)
            .and_then(|a| a.facts.drain.as_ref());
        if let Some(drain) = drain {
            let grace = drain.max_grace_period_seconds.and_then(|max| {
                let max = u32::try_from(max).unwrap_or(u32::MAX);
                task.kill_grace_period_seconds
                    .is_none_or(|g| g > max)
                    .then_some(max)
            });
            return Some(Action::Kill {
                task: task.clone(),
                grace,
                why: format!("agent {} is draining", task.agent),
            });
        }
        match framework {
            None => Some(Action::Kill {
                task: task.clone(),
                grace: None,
                why: format!("framework {} was removed", task.framework),
            }),
            Some(f)
                if f.inactive_since
                    .is_some_and(|t| now.duration_since(t) >= f.failover) =>
            {
                Some(Action::Kill {
                    task: task.clone(),
                    grace: None,
                    why: format!(
                        "framework {} did not reconnect within its failover timeout of {}s",
                        task.framework,
                        f.failover.as_secs()
                    ),
                })
            }
            Some(_) => None,
        }
    }
}

/// Condition reasons the lifecycle writes.
pub mod reasons {
    pub const HEARTBEATING: &str = "Heartbeating";
    pub const HEARTBEAT_MISSED: &str = "HeartbeatMissed";
    pub const REREGISTER_TIMEOUT: &str = "ReregisterTimeout";
    pub const MARKED_GONE: &str = "MarkedGone";
    pub const DRAINED: &str = "Drained";
    /// Gone before this controller started.
    pub const GONE: &str = "Gone";
}

fn agent_message(phase: Phase, reason: &str, config: &Config) -> String {
    match (phase, reason) {
        (Phase::Ready, _) => "heartbeats again".to_string(),
        (Phase::Unreachable, _) => format!(
            "missed its heartbeats for {}s: its tasks are Unreachable (Lost for frameworks that are not partition aware)",
            config.unreachable_after.as_secs()
        ),
        (Phase::Gone, reasons::REREGISTER_TIMEOUT) => format!(
            "was unreachable for {}s and is gone: its tasks are Gone; register the machine under a new name",
            config.gone_after.as_secs()
        ),
        (Phase::Gone, reasons::DRAINED) => {
            "was drained and marked gone: it is never offered again".to_string()
        }
        (Phase::Gone, _) => {
            "was marked gone: its tasks are Gone and it is never offered again".to_string()
        }
    }
}

fn action_kind(action: &Action) -> String {
    match action {
        Action::Agent { phase, .. } => format!("{phase:?}"),
        Action::Task { state, .. } => format!("{state:?}"),
        Action::Kill { .. } => "kill".to_string(),
        Action::Release { .. } => "release".to_string(),
    }
}

fn rv_of(action: &Action) -> &str {
    match action {
        Action::Task { task, .. } | Action::Kill { task, .. } | Action::Release { task } => {
            &task.resource_version
        }
        Action::Agent { .. } => "",
    }
}

#[cfg(test)]
mod tests;
