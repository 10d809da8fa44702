//! The agent's task loop: watches the Tasks bound to this agent and gives each its own
//! [`lifecycle`](crate::lifecycle) actor; on start, adopts what an earlier run launched.
//!
//! Why it exists: the store is the only channel between the master and the agent. The watch
//! (label `strata.io/agent=<name>`, which real Kubernetes can select on) delivers every task
//! bound here — from its creation, before the master staged it — and every change the master
//! makes to it (Unreachable, Lost, Gone; the tasks it stages it lists in this agent's Agent,
//! which [`watch_staged`] follows); the supervisor routes each object to its actor
//! and notices deletions, including those that happened while the watch was down (a re-list
//! that no longer holds a task).
//!
//! Recovery: records left in the work directory are matched with the listed tasks and adopted;
//! a record whose task no longer exists is killed and cleaned up once the first list is
//! complete; containers this agent started before it (re)started and has no record of are
//! removed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use strata_api::agent::Agent;
use strata_api::labels::agent_selector;
use strata_api::lean::Lean;
use strata_api::resources::{ResourceError, Resources, Shortfall};
use strata_api::task::Task;
use tokio::sync::watch;

use crate::executor::{Executor, Record};
use crate::lifecycle::{self, FINALIZER};
use crate::workdir::WorkDir;

/// What every task actor of one agent shares.
pub struct Context {
    pub agent: String,
    pub hostname: String,
    pub client: Client,
    pub work: WorkDir,
    pub executors: Vec<Arc<dyn Executor>>,
    /// Base URL of the sandbox service, reported in each task's status.
    pub endpoint: Option<String>,
    tasks: Mutex<HashMap<String, Entry>>,
    /// The uids of the tasks the master staged here, as its Agent's `status.staged` lists them
    /// (see [`watch_staged`]).
    staged: Mutex<HashSet<String>>,
    /// What the agent offers and no task holds yet: a task that does not fit is dropped, so
    /// that a framework which launched more than was offered cannot oversubscribe the agent.
    free: Mutex<Resources>,
}

/// What the supervisor knows of one task uid.
enum Entry {
    /// An actor drives it; the sender carries the latest object (None once deleted).
    Active(watch::Sender<Option<Arc<Task>>>),
    /// Its end is reported; later events only tidy up.
    Done,
}

impl Context {
    pub fn new(
        agent: &str,
        hostname: &str,
        client: Client,
        work: WorkDir,
        executors: Vec<Arc<dyn Executor>>,
        endpoint: Option<String>,
        resources: Resources,
    ) -> Context {
        Context {
            agent: agent.to_string(),
            hostname: hostname.to_string(),
            client,
            work,
            executors,
            endpoint,
            tasks: Mutex::new(HashMap::new()),
            staged: Mutex::new(HashSet::new()),
            free: Mutex::new(resources),
        }
    }

    /// Whether the master has staged task `uid` on this agent (its Agent's status lists it).
    pub(crate) fn is_staged(&self, uid: &str) -> bool {
        self.staged.lock().expect("staged tasks").contains(uid)
    }

    /// Takes the Agent's `status.staged`, and wakes the actors of the tasks newly listed.
    fn set_staged(&self, uids: Vec<String>) {
        let uids: HashSet<String> = uids.into_iter().collect();
        let new: Vec<String> = {
            let mut staged = self.staged.lock().expect("staged tasks");
            let new = uids.difference(&staged).cloned().collect();
            *staged = uids;
            new
        };
        let tasks = self.tasks.lock().expect("task table");
        for uid in new {
            if let Some(Entry::Active(sender)) = tasks.get(&uid) {
                sender.send_modify(|_| {});
            }
        }
    }

    /// Sets `resources` aside for a task; what falls short when they do not fit.
    pub(crate) fn reserve(&self, resources: &Resources) -> Result<(), Vec<Shortfall>> {
        let mut free = self.free.lock().expect("free resources");
        match free.checked_sub(resources) {
            Ok(rest) => {
                *free = rest;
                Ok(())
            }
            Err(ResourceError::Insufficient(short)) => Err(short),
            Err(other) => {
                tracing::warn!(error = %other, "resource accounting");
                Err(Vec::new())
            }
        }
    }

    /// Gives back what a finished task held.
    pub(crate) fn release(&self, resources: &Resources) {
        let mut free = self.free.lock().expect("free resources");
        *free = &*free + resources;
    }

    /// Called by an actor once its task's end is reported.
    pub(crate) fn finished(&self, uid: &str) {
        self.tasks
            .lock()
            .expect("task table")
            .insert(uid.to_string(), Entry::Done);
    }

    /// How many tasks have a live actor.
    pub fn active(&self) -> usize {
        let tasks = self.tasks.lock().expect("task table");
        tasks
            .values()
            .filter(|e| matches!(e, Entry::Active(_)))
            .count()
    }
}

/// Runs the task loop until the watch stream ends (it retries with backoff on errors, so in
/// practice until the process stops).
pub async fn run(ctx: Arc<Context>) {
    tokio::spawn(watch_staged(ctx.clone()));
    let started = jiff::Timestamp::now();
    let mut pending: HashMap<String, Record> = ctx
        .work
        .records()
        .into_iter()
        .map(|r| (r.uid.clone(), r))
        .collect();
    if !pending.is_empty() {
        tracing::info!(
            count = pending.len(),
            "found tasks launched before this agent started"
        );
    }
    let api: Api<Lean<Task>> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().labels(&agent_selector(&ctx.agent));
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    let mut listed: HashSet<String> = HashSet::new();
    let mut recovered = false;
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Init) => listed.clear(),
            Ok(Event::InitApply(task)) => {
                listed.insert(uid(&task));
                dispatch(&ctx, task.0, &mut pending);
            }
            Ok(Event::Apply(task)) => dispatch(&ctx, task.0, &mut pending),
            Ok(Event::Delete(task)) => deleted(&ctx, &uid(&task)),
            Ok(Event::InitDone) => {
                let gone: Vec<String> = {
                    let tasks = ctx.tasks.lock().expect("task table");
                    tasks
                        .keys()
                        .filter(|u| !listed.contains(*u))
                        .cloned()
                        .collect()
                };
                for uid in gone {
                    deleted(&ctx, &uid);
                }
                if !recovered {
                    recovered = true;
                    recover(&ctx, std::mem::take(&mut pending), started).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "watching tasks failed; retrying"),
        }
    }
}

/// Follows this agent's Agent object for the tasks the master staged here: the master lists
/// them in the Agent's `status.staged` with the allocation (one write for a burst of launches)
/// rather than writing a Staging state on each task.
async fn watch_staged(ctx: Arc<Context>) {
    let api: Api<Agent> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields(&format!("metadata.name={}", ctx.agent));
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Apply(agent) | Event::InitApply(agent)) => {
                ctx.set_staged(agent.status.map(|s| s.staged).unwrap_or_default());
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "watching this agent's Agent failed; retrying"),
        }
    }
}

fn uid(task: &Task) -> String {
    task.metadata.uid.clone().unwrap_or_default()
}

/// Routes one task object to its actor, starting one for a task seen for the first time.
fn dispatch(ctx: &Arc<Context>, task: Task, pending: &mut HashMap<String, Record>) {
    let uid = uid(&task);
    let terminal = task
        .status
        .as_ref()
        .and_then(|s| s.state)
        .is_some_and(|s| s.is_terminal());
    let task = Arc::new(task);
    let mut tasks = ctx.tasks.lock().expect("task table");
    match tasks.get(&uid) {
        Some(Entry::Active(sender)) => {
            sender.send_replace(Some(task));
        }
        Some(Entry::Done) => {
            // The end is reported; a finalizer left behind (a failed write) is released again.
            if has_finalizer(&task) && terminal {
                spawn_release(ctx, task);
            }
        }
        None if terminal => {
            tasks.insert(uid.clone(), Entry::Done);
            if let Some(record) = pending.remove(&uid) {
                // Reported before a crash that left the record, or ended by the master (Lost,
                // Gone) while this agent was away: kill and free what is left.
                let span =
                    tracing::info_span!("task", namespace = %record.namespace, name = %record.name);
                span.in_scope(|| {
                    lifecycle::log_ended_elsewhere(
                        &task.status.clone().unwrap_or_default(),
                        "while the agent was away; stopping what is left of it",
                    )
                });
                let grace = lifecycle::grace_period(task.spec.kill_grace_period_seconds);
                spawn_cleanup(ctx, record, grace);
            }
            if has_finalizer(&task) {
                spawn_release(ctx, task);
            }
        }
        None => {
            let (sender, receiver) = watch::channel(Some(task));
            tasks.insert(uid.clone(), Entry::Active(sender));
            let adopted = pending.remove(&uid);
            tokio::spawn(lifecycle::supervise(ctx.clone(), receiver, adopted));
        }
    }
}

/// A task is gone from the store: its actor kills it (if it still runs) without reporting.
fn deleted(ctx: &Context, uid: &str) {
    let entry = ctx.tasks.lock().expect("task table").remove(uid);
    if let Some(Entry::Active(sender)) = entry {
        sender.send_replace(None);
    }
}

fn has_finalizer(task: &Task) -> bool {
    task.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == FINALIZER)
}

fn spawn_release(ctx: &Arc<Context>, task: Arc<Task>) {
    let api: Api<Lean<Task>> = Api::namespaced(
        ctx.client.clone(),
        task.metadata.namespace.as_deref().unwrap_or_default(),
    );
    tokio::spawn(async move { lifecycle::release(&api, &task).await });
}

/// Kills (with `grace`) and frees a task launched before the restart whose Task no longer
/// exists or has ended.
fn spawn_cleanup(ctx: &Arc<Context>, record: Record, grace: Duration) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        lifecycle::stop_unowned(&ctx, &record, grace).await;
        ctx.work.finish(&record.uid);
    });
}

/// After the first complete list: what was recorded but has no Task any more is killed;
/// what an executor started before `started` and has no record of is removed.
async fn recover(ctx: &Arc<Context>, unowned: HashMap<String, Record>, started: jiff::Timestamp) {
    for (_, record) in unowned {
        tracing::info!(task = %format!("{}/{}", record.namespace, record.name), "killing a task that no longer exists");
        spawn_cleanup(ctx, record, lifecycle::grace_period(None));
    }
    let recorded: HashSet<String> = ctx.work.records().into_iter().map(|r| r.uid).collect();
    for executor in &ctx.executors {
        executor.remove_orphans(&recorded, started).await;
    }
}
