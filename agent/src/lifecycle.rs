//! One task's life on the agent, from the first sight of it to its terminal state.
//!
//! Why it exists: each task is driven by its own small state machine, so a slow image pull or
//! a long kill grace period holds up nobody else. The machine is explicit:
//!
//! ```text
//! (created) -> the master stages it -> Staging [-> Starting] -> Running [-> Killing]
//!                                                  -> Finished | Failed | Killed
//!     \-> nothing to do (ended or deleted by the master before it was staged)
//! Staging -> Error (invalid task) | Dropped (does not fit) | Killed (deleted before launch)
//! Starting -> Failed (launch failed)
//! Running | Killing -> Unreachable (the master) -> Running | Killing again (reported by the agent)
//! Starting | Running | Killing | Unreachable -> Lost | Gone (the master) -> killed, state kept
//! (adopted after an agent restart) -> whatever was stored -> ...
//! ```
//!
//! The agent launches only what the master staged (it checked the task against its offer, as
//! Mesos' master does before TASK_STAGING), and never writes a state over the master's terminal
//! one: a task the master declared Lost or Gone while the agent was unreachable has been given
//! up by its framework, so the agent kills it and leaves the state alone — nothing runs twice.
//!
//! The task's latest object arrives on a watch channel from the supervisor (None once it is
//! gone from the store). The agent's finalizer keeps a deleted task in the store until it has
//! been killed and its end reported, which is how `kubectl delete task` waits for the kill.

use std::sync::Arc;
use std::time::Duration;

use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::Lookup;
use strata_api::conditions::{Condition, ConditionStatus, set_condition};
use strata_api::lean::Lean;
use strata_api::task::{Sandbox, Task, TaskState, TaskStatus};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::env::{TaskIdentity, task_env};
use crate::executor::{Handle, Launch, Outcome, Record, describe};
use crate::health::{self, Verdict};
use crate::readiness;
use crate::report::{Gone, StatusWriter, now};
use crate::supervisor::Context;

pub use strata_api::task::AGENT_FINALIZER as FINALIZER;
/// Mesos' default kill grace period.
const DEFAULT_GRACE: Duration = Duration::from_secs(3);
/// A launch still under way after this long is reported Starting (as Mesos' TASK_STARTING);
/// one done sooner is reported Running directly, as Mesos allows.
const STARTING_AFTER: Duration = Duration::from_millis(100);

/// Drives one task to its end. `adopted` is the record of a task launched before a restart.
pub async fn supervise(
    ctx: Arc<Context>,
    mut latest: watch::Receiver<Option<Arc<Task>>>,
    adopted: Option<Record>,
) {
    let Some(first) = latest.borrow_and_update().clone() else {
        return;
    };
    let namespace = first.metadata.namespace.clone().unwrap_or_default();
    let name = first.metadata.name.clone().unwrap_or_default();
    let uid = first.metadata.uid.clone().unwrap_or_default();
    let api: Api<Lean<Task>> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut status = StatusWriter::new(api.clone(), &first);
    let span = tracing::info_span!("task", %namespace, %name);

    // Whether the task's resources are set aside in the agent's accounting.
    let mut held = false;
    let run = async {
        let (task, handle) = match adopted {
            Some(record) => {
                held = ctx.reserve(&first.spec.resources).is_ok();
                (first.clone(), adopt(&ctx, &record).await)
            }
            None => {
                let Some(task) = staged(&ctx, &uid, &mut latest, &mut status).await else {
                    return Ok(());
                };
                match launch(&ctx, &api, &task, &uid, &mut status, &mut held).await? {
                    Some(handle) => (task, handle),
                    None => return Ok(()),
                }
            }
        };
        let handle: Arc<dyn Handle> = Arc::from(handle);
        let outcome = watch_until_end(&task, &handle, &mut latest, &mut status).await?;
        handle.cleanup().await;
        report_end(&mut status, outcome).await
    };
    let result: Result<(), Gone> = tracing::Instrument::instrument(run, span.clone()).await;
    if let Err(gone) = result {
        tracing::info!(parent: &span, "{gone}");
    }
    if held {
        ctx.release(&first.spec.resources);
    }
    let current = latest.borrow().clone();
    if let Some(current) = current {
        release(&api, &current).await;
    }
    ctx.work.finish(&uid);
    ctx.finished(&uid);
}

/// Waits until the master has staged the task — listed it in this agent's `status.staged`, or
/// the store says it has gone further (an earlier run of the agent launched it) — None when
/// there is nothing to do because the task was deleted, or ended by the master (Error,
/// Dropped), before it was staged.
async fn staged(
    ctx: &Context,
    uid: &str,
    latest: &mut watch::Receiver<Option<Arc<Task>>>,
    status: &mut StatusWriter,
) -> Option<Arc<Task>> {
    loop {
        let task = latest.borrow_and_update().clone()?;
        status.observe(&task);
        match status.state() {
            Some(state) if state.is_terminal() => {
                log_ended_elsewhere(status.current(), "before it was staged; nothing to do");
                return None;
            }
            Some(_) => return Some(task),
            None if task.metadata.deletion_timestamp.is_some() => {
                tracing::info!("the task was deleted before it was staged; nothing to do");
                return None;
            }
            None if ctx.is_staged(uid) => return Some(task),
            None => tracing::debug!("waiting for the master to stage the task"),
        }
        if latest.changed().await.is_err() {
            // The supervisor forgot the task: it is gone from the store.
            return None;
        }
    }
}

/// Logs, at info, that someone else (the master) ended the task, as `stored` says, `when`.
pub(crate) fn log_ended_elsewhere(stored: &TaskStatus, when: &str) {
    tracing::info!(
        state = stored.state.map(|s| format!("{s:?}")).unwrap_or_default(),
        reason = stored.reason.as_deref().unwrap_or_default(),
        message = stored.message.as_deref().unwrap_or_default(),
        "the task was ended in the store {when}"
    );
}

/// Checks the staged task, launches it (reporting Starting, with its sandbox, if that takes a
/// while) and reports Running; None when it ended before running (invalid, does not fit, killed
/// before launch, the launch failed — all reported — or ended by the master meanwhile).
async fn launch(
    ctx: &Context,
    api: &Api<Lean<Task>>,
    task: &Task,
    uid: &str,
    status: &mut StatusWriter,
    held: &mut bool,
) -> Result<Option<Box<dyn Handle>>, Gone> {
    if task.metadata.deletion_timestamp.is_some() {
        status
            .transition(TaskState::Killed, |s| {
                s.reason = Some("TaskKilledBeforeLaunch".into());
                s.message = Some("the task was deleted before it was launched".into());
            })
            .await?;
        return Ok(None);
    }
    if matches!(
        status.state(),
        Some(
            TaskState::Starting | TaskState::Running | TaskState::Killing | TaskState::Unreachable
        )
    ) {
        // Launched by an earlier run of the agent that left no record (its work directory
        // was lost): whatever ran is not ours to find any more.
        status
            .transition(TaskState::Failed, |s| {
                s.reason = Some("ExecutorTerminated".into());
                s.message = Some(
                    "the agent restarted without a record of this task; it no longer runs".into(),
                );
            })
            .await?;
        return Ok(None);
    }
    let spec = &task.spec;
    let invalid = |message: String| {
        tracing::info!(%message, "the task is invalid");
        move |s: &mut strata_api::task::TaskStatus| {
            s.reason = Some("TaskInvalid".into());
            s.message = Some(message);
        }
    };
    if spec.agent != ctx.agent {
        let message = format!(
            "the task is labelled for agent {:?} but its spec.agent is {:?}",
            ctx.agent, spec.agent
        );
        status
            .transition(TaskState::Error, invalid(message))
            .await?;
        return Ok(None);
    }
    if let Err(e) = spec.validate() {
        status
            .transition(TaskState::Error, invalid(e.to_string()))
            .await?;
        return Ok(None);
    }
    let Some(executor) = ctx.executors.iter().find(|e| e.runs(spec)).cloned() else {
        let message = if spec.container.is_some() {
            "the task runs a container, but this agent has no Docker engine".to_string()
        } else {
            "no executor on this agent runs this task".to_string()
        };
        status
            .transition(TaskState::Error, invalid(message))
            .await?;
        return Ok(None);
    };
    if let Err(short) = ctx.reserve(&spec.resources) {
        let short: Vec<String> = short.iter().map(ToString::to_string).collect();
        let message = format!(
            "the task does not fit in what agent {:?} has left: {}",
            ctx.agent,
            short.join("; ")
        );
        tracing::info!(%message, "task dropped");
        status
            .transition(TaskState::Dropped, |s| {
                s.reason = Some("ResourcesInsufficient".into());
                s.message = Some(message);
            })
            .await?;
        return Ok(None);
    }
    *held = true;
    if let Some(fresh) = add_finalizer(api, task).await? {
        status.stored(&fresh);
    }

    let sandbox = ctx.work.sandbox(uid);
    if let Err(e) = ctx.work.create_sandbox(uid) {
        status
            .transition(TaskState::Failed, |s| {
                s.reason = Some("SandboxCreationFailed".into());
                s.message = Some(format!(
                    "could not create the sandbox {}: {e}",
                    sandbox.display()
                ));
            })
            .await?;
        return Ok(None);
    }
    let namespace = task.metadata.namespace.as_deref().unwrap_or_default();
    let name = task.metadata.name.as_deref().unwrap_or_default();
    let identity = TaskIdentity {
        namespace,
        name,
        uid,
        agent: &ctx.agent,
        hostname: &ctx.hostname,
    };
    let env = task_env(&identity, spec, &sandbox);
    let launch = Launch {
        uid: uid.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
        spec: spec.clone(),
        env,
        sandbox: sandbox.clone(),
    };
    let where_to_read = ctx.endpoint.as_ref().map(|url| Sandbox {
        url: url.clone(),
        path: sandbox.display().to_string(),
    });
    let grace = grace_period(spec.kill_grace_period_seconds);
    let launching = executor.launch(&launch);
    tokio::pin!(launching);
    // A launch that completes at once (a process) goes straight to Running, saving the store a
    // write; one that takes longer (an image to pull) is reported Starting meanwhile.
    let launched = match tokio::time::timeout(STARTING_AFTER, &mut launching).await {
        Ok(launched) => launched,
        Err(_) => {
            let starting = status
                .transition(TaskState::Starting, |s| s.sandbox = where_to_read.clone())
                .await;
            let launched = launching.await;
            match starting {
                Ok(true) => {}
                // Ended in the store meanwhile: what launched is killed once seen running.
                Ok(false) => log_ended_elsewhere(status.current(), "while it was being launched"),
                Err(gone) => {
                    if let Ok(handle) = launched {
                        stop(handle.as_ref(), grace).await;
                    }
                    return Err(gone);
                }
            }
            launched
        }
    };
    let handle = match launched {
        Ok(handle) => handle,
        Err(e) => {
            let state = if e.invalid {
                TaskState::Error
            } else {
                TaskState::Failed
            };
            tracing::info!(reason = e.reason, message = %e.message, "launch failed");
            status
                .transition(state, |s| {
                    s.reason = Some(e.reason.to_string());
                    s.message = Some(e.message.clone());
                })
                .await?;
            return Ok(None);
        }
    };
    let record = Record {
        uid: uid.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
        executor: executor.name().to_string(),
        sandbox,
        data: handle.record_data(),
    };
    if let Err(e) = ctx.work.save(&record) {
        tracing::error!(error = %e, "could not record the launched task; it will not be adopted after a restart");
    }
    let running = status
        .transition(TaskState::Running, |s| {
            s.started_at = Some(now());
            s.sandbox = where_to_read;
        })
        .await;
    if let Err(gone) = running {
        // Gone from the store: nothing may keep running that nobody can see or kill.
        stop(handle.as_ref(), grace).await;
        return Err(gone);
    }
    tracing::info!(executor = executor.name(), "task running");
    Ok(Some(handle))
}

/// Rebuilds the handle of a task launched before the agent restarted.
async fn adopt(ctx: &Context, record: &Record) -> Box<dyn Handle> {
    let executor = ctx.executors.iter().find(|e| e.name() == record.executor);
    match executor {
        Some(executor) => {
            tracing::info!(executor = %record.executor, "adopting a task launched before the restart");
            executor.adopt(record).await
        }
        None => {
            tracing::warn!(executor = %record.executor, "the executor of an adopted task is not available");
            Box::new(Vanished(format!(
                "the {} executor is not available on this agent any more",
                record.executor
            )))
        }
    }
}

/// Why the task is being stopped.
struct KillRequest {
    reason: &'static str,
    message: String,
}

/// Waits for the task to end, killing it when it is deleted, fails its health checks or was
/// ended in the store by the master (Lost, Gone), reporting health meanwhile, and reporting the
/// task's actual state again over the master's Unreachable.
async fn watch_until_end(
    task: &Task,
    handle: &Arc<dyn Handle>,
    latest: &mut watch::Receiver<Option<Arc<Task>>>,
    status: &mut StatusWriter,
) -> Result<(Outcome, Option<KillRequest>), Gone> {
    let grace = grace_period(task.spec.kill_grace_period_seconds);
    let (verdict_tx, mut verdicts) = mpsc::channel::<Verdict>(8);
    let checks = if matches!(
        status.state(),
        Some(TaskState::Running | TaskState::Unreachable)
    ) {
        health::spawn_checks(
            &task.spec.health_checks,
            &task.spec.ports,
            handle.clone(),
            Instant::now(),
            verdict_tx,
        )
    } else {
        Vec::new()
    };
    let (ready_tx, mut readiness) = mpsc::channel::<usize>(8);
    let mut unready = task.spec.readiness_checks.len();
    let readiness_checks = if unready > 0
        && status.state() == Some(TaskState::Running)
        && status.current().ready != Some(true)
    {
        readiness::spawn_checks(&task.spec.readiness_checks, ready_tx)
    } else {
        Vec::new()
    };
    let mut results: Vec<Option<bool>> = vec![None; task.spec.health_checks.len()];
    let mut kill: Option<KillRequest> = None;
    let mut kill_sent = false;
    let mut watching = true;
    // Whether the latest object is yet to be looked at: at first (a task adopted while being
    // killed, deleted or ended while the agent was away), then after every change.
    let mut look = true;
    let outcome = loop {
        if look {
            look = false;
            let current = latest.borrow_and_update().clone();
            if let Some(current) = &current {
                status.observe(current);
            }
            if kill.is_none() {
                kill = if status.state().is_some_and(TaskState::is_terminal) {
                    log_ended_elsewhere(status.current(), "while it ran here; killing it");
                    Some(KillRequest {
                        reason: "TaskKilled",
                        message: "the task was ended in the store".to_string(),
                    })
                } else if current.is_none_or(|t| t.metadata.deletion_timestamp.is_some()) {
                    Some(kill_for_deletion())
                } else {
                    None
                };
            }
        }
        if let Some(request) = &kill
            && !kill_sent
        {
            kill_sent = true;
            handle.kill(grace);
            let message = request.message.clone();
            // Refused (nothing written) when the task's state is already final.
            status
                .transition(TaskState::Killing, |s| {
                    s.message = Some(message);
                })
                .await?;
        }
        if status.state() == Some(TaskState::Unreachable) {
            report_reachable(status, kill.as_ref(), &results).await?;
        }
        tokio::select! {
            outcome = handle.wait() => break outcome,
            changed = latest.changed(), if watching => {
                if changed.is_err() {
                    watching = false;
                }
                look = true;
            }
            Some(_) = readiness.recv() => {
                unready -= 1;
                if unready == 0 {
                    tracing::info!("the task passed its readiness checks");
                    status.update(|s| s.ready = Some(true)).await?;
                }
            }
            Some(verdict) = verdicts.recv() => {
                results[verdict.check] = Some(verdict.healthy);
                let healthy = aggregate(&results);
                let message = verdict.message.clone();
                status.update(|s| {
                    s.healthy = healthy;
                    let (condition, reason) = if verdict.healthy {
                        (ConditionStatus::True, "HealthCheckPassed")
                    } else {
                        (ConditionStatus::False, "HealthCheckFailed")
                    };
                    let changed = s.conditions.iter().all(|c| c.type_ != "Healthy" || c.status != condition);
                    if changed {
                        set_condition(&mut s.conditions, Condition::new("Healthy", condition, reason, message, now()));
                    }
                }).await?;
                if verdict.kill && kill.is_none() {
                    let check = &task.spec.health_checks[verdict.check];
                    kill = Some(KillRequest {
                        reason: "HealthCheckFailed",
                        message: format!(
                            "killed after {} consecutive failed health checks: {}",
                            check.max_consecutive_failures, verdict.message
                        ),
                    });
                }
            }
        }
    };
    for check in checks.into_iter().chain(readiness_checks) {
        check.abort();
    }
    Ok((outcome, kill))
}

/// The master marked the task Unreachable (the agent missed its heartbeats), but the agent is
/// back and the task still runs here: reports its actual state again — Running with its health
/// as the agent knows it, or Killing when `kill` is under way — as Mesos' REASON_AGENT_REREGISTERED.
async fn report_reachable(
    status: &mut StatusWriter,
    kill: Option<&KillRequest>,
    results: &[Option<bool>],
) -> Result<(), Gone> {
    let (state, message) = match kill {
        Some(request) => (TaskState::Killing, request.message.clone()),
        None => (
            TaskState::Running,
            "the agent is reachable again and the task still runs".to_string(),
        ),
    };
    let healthy = aggregate(results);
    tracing::info!(
        ?state,
        "the task was marked Unreachable; reporting it again"
    );
    status
        .transition(state, |s| {
            s.reason = Some("AgentReregistered".into());
            s.message = Some(message);
            s.healthy = healthy;
        })
        .await?;
    Ok(())
}

/// A task's kill grace period: its own, or Mesos' default.
pub(crate) fn grace_period(seconds: Option<u32>) -> Duration {
    seconds
        .map(|s| Duration::from_secs(s.into()))
        .unwrap_or(DEFAULT_GRACE)
}

fn kill_for_deletion() -> KillRequest {
    KillRequest {
        reason: "TaskKilled",
        message: "the task was deleted".to_string(),
    }
}

/// The task is healthy when every check is; unhealthy when one is not; unknown until then, and
/// without checks.
fn aggregate(results: &[Option<bool>]) -> Option<bool> {
    if results.contains(&Some(false)) {
        Some(false)
    } else if !results.is_empty() && results.iter().all(|r| *r == Some(true)) {
        Some(true)
    } else {
        None
    }
}

/// Reports how the task ended, in Mesos' terms — unless its state is final already (the master
/// ended it), which stays as it is.
async fn report_end(
    status: &mut StatusWriter,
    (outcome, kill): (Outcome, Option<KillRequest>),
) -> Result<(), Gone> {
    let message = describe(&outcome);
    if let Some(state) = status.state().filter(|s| s.is_terminal()) {
        tracing::info!(?state, %message, "the task's process ended; its state stays as stored");
        return Ok(());
    }
    let (state, reason) = match (&kill, &outcome) {
        (Some(request), _) => (TaskState::Killed, request.reason),
        (None, o) if o.limitation.is_some() => (TaskState::Failed, "ContainerLimitationMemory"),
        (None, o) if o.exit_code == Some(0) => (TaskState::Finished, "CommandExited"),
        (None, o) if o.exit_code.is_none() && o.signal.is_none() => {
            (TaskState::Failed, "ExecutorTerminated")
        }
        (None, _) => (TaskState::Failed, "CommandExecutorFailed"),
    };
    let message = match &kill {
        Some(request) if request.reason != "TaskKilled" => {
            format!("{}; {message}", request.message)
        }
        _ => message,
    };
    tracing::info!(state = ?state, %message, "task ended");
    status
        .transition(state, |s| {
            s.exit_code = outcome.exit_code;
            s.reason = Some(reason.to_string());
            s.message = Some(message);
        })
        .await?;
    Ok(())
}

/// Adds the agent's finalizer, so the task outlives its deletion until it has been killed; the
/// task as stored then, when it wrote.
async fn add_finalizer(api: &Api<Lean<Task>>, task: &Task) -> Result<Option<Task>, Gone> {
    edit_finalizers(api, task, |finalizers| {
        if finalizers.iter().any(|f| f == FINALIZER) {
            return false;
        }
        finalizers.push(FINALIZER.to_string());
        true
    })
    .await
}

/// Removes the agent's finalizer once the task's end is reported.
pub async fn release(api: &Api<Lean<Task>>, task: &Task) {
    let result = edit_finalizers(api, task, |finalizers| {
        let before = finalizers.len();
        finalizers.retain(|f| f != FINALIZER);
        finalizers.len() != before
    })
    .await;
    if let Err(e) = result {
        tracing::debug!("{e}");
    }
}

/// Changes the task's finalizers with `edit` (which says whether it changed anything), by a
/// JSON patch that tests the uid (a task re-created under the same name is another task) and
/// the list it edited (another controller's finalizer added meanwhile is not lost); a failed
/// test is retried on the fresh object. Returns the task as stored after the edit, when it
/// wrote one.
async fn edit_finalizers(
    api: &Api<Lean<Task>>,
    task: &Task,
    edit: impl Fn(&mut Vec<String>) -> bool,
) -> Result<Option<Task>, Gone> {
    let name = task.name().unwrap_or_default().to_string();
    let gone = || Gone(name.clone());
    let mut current = task.clone();
    let mut backoff = Duration::from_millis(50);
    loop {
        if current.metadata.uid != task.metadata.uid {
            return Err(gone());
        }
        let old = current.metadata.finalizers.clone();
        let mut finalizers = old.clone().unwrap_or_default();
        if !edit(&mut finalizers) {
            return Ok(None);
        }
        let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
            { "op": "test", "path": "/metadata/uid", "value": task.metadata.uid },
            { "op": "test", "path": "/metadata/finalizers", "value": old },
            { "op": "add", "path": "/metadata/finalizers", "value": finalizers },
        ]))
        .expect("a well-formed JSON patch");
        match api
            .patch(&name, &PatchParams::default(), &Patch::<()>::Json(patch))
            .await
        {
            Ok(stored) => return Ok(Some(stored.0)),
            Err(kube::Error::Api(s)) if s.code == 404 => return Err(gone()),
            Err(e) => tracing::debug!(error = %e, "finalizer update lost a race; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
        current = match api.get_opt(&name).await {
            Ok(Some(fresh)) => fresh.0,
            Ok(None) => return Err(gone()),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the task; retrying");
                current
            }
        };
    }
}

/// The handle of a task whose executor is gone: it ended while nobody watched.
struct Vanished(String);

impl Handle for Vanished {
    fn record_data(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    fn wait(&self) -> futures::future::BoxFuture<'_, Outcome> {
        let outcome = Outcome {
            message: Some(self.0.clone()),
            ..Outcome::default()
        };
        Box::pin(async move { outcome })
    }
    fn kill(&self, _grace: Duration) {}
    fn exec<'a>(
        &'a self,
        _command: &'a str,
    ) -> futures::future::BoxFuture<'a, anyhow::Result<i32>> {
        Box::pin(async { anyhow::bail!("the task's executor is gone") })
    }
    fn cleanup(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Kills what runs of a task launched before a restart whose Task no longer exists or has
/// ended (the master declared it Lost or Gone meanwhile), with `grace`, and frees what it
/// leaves.
pub async fn stop_unowned(ctx: &Context, record: &Record, grace: Duration) {
    stop(adopt(ctx, record).await.as_ref(), grace).await;
}

/// Kills what `handle` runs, with `grace`, waits for its end and frees what it leaves.
async fn stop(handle: &dyn Handle, grace: Duration) {
    handle.kill(grace);
    let _ = handle.wait().await;
    handle.cleanup().await;
}
