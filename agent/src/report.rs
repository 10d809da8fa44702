//! Writing a task's status to the store, forward only.
//!
//! Why it exists: frameworks act on task states (Marathon replaces a Failed task, counts a
//! Running one), so a state the agent reports must never be taken back: Finished must not
//! become Running because an old write arrived late. The writer keeps the status as last
//! stored, refuses transitions [`TaskState::can_transition_to`] forbids, and retries a write
//! until the store has it — a lost terminal update would leave a framework waiting forever.
//!
//! The agent is not the status's only writer: the master marks a task Unreachable, then Lost
//! or Gone, when the agent stops heartbeating (and tests stage tasks by marking them Staging). So every write is
//! conditional on the resourceVersion the writer last saw; when the store has moved on (409
//! Conflict) the writer reads the task again and decides anew, and a task the master ended stays
//! ended. The objects the watch delivers tell it of the master's writes sooner
//! ([`StatusWriter::observe`]).

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::core::Request;
use kube::{Api, ResourceExt};
use serde_json::{Map, Value};
use strata_api::lean::Lean;
use strata_api::task::{Task, TaskState, TaskStatus};

/// The task is no longer in the store: nothing to report to.
#[derive(Debug, thiserror::Error)]
#[error("task {0} is gone from the store")]
pub struct Gone(pub String);

/// Writes one task's status.
pub struct StatusWriter {
    api: Api<Lean<Task>>,
    name: String,
    /// The status as last stored.
    current: TaskStatus,
    /// The resourceVersion of the object `current` came from: the next write's precondition.
    version: Option<String>,
}

/// Now, as a Kubernetes timestamp.
pub fn now() -> Time {
    Time(jiff::Timestamp::now())
}

impl StatusWriter {
    pub fn new(api: Api<Lean<Task>>, task: &Task) -> StatusWriter {
        StatusWriter {
            api,
            name: task.name_any(),
            current: task.status.clone().unwrap_or_default(),
            version: task.metadata.resource_version.clone(),
        }
    }

    /// The state last stored (None until the task reports one, or the master ends it).
    pub fn state(&self) -> Option<TaskState> {
        self.current.state
    }

    /// The status last stored.
    pub fn current(&self) -> &TaskStatus {
        &self.current
    }

    /// Learns from an object the watch delivered: a state someone else moved the task to (the
    /// master marked it Unreachable, Lost or Gone, or a test marked it Staging) replaces what
    /// the writer holds.
    /// The watch may deliver the echo of an earlier write after a later one; a state the writer
    /// has already moved past is such an echo, and is ignored. Returns whether it learned.
    pub fn observe(&mut self, task: &Task) -> bool {
        let news = is_news(
            self.current.state,
            task.status.as_ref().and_then(|s| s.state),
        );
        if news {
            self.stored(task);
        }
        news
    }

    /// Takes the status of an object the store has just returned, newer than anything held.
    pub fn stored(&mut self, task: &Task) {
        self.current = task.status.clone().unwrap_or_default();
        self.version = task.metadata.resource_version.clone();
    }

    /// Whether the task may move from the state last stored to `state` (a change).
    fn may_move_to(&self, state: TaskState) -> bool {
        self.current
            .state
            .is_none_or(|current| current != state && current.can_transition_to(state))
    }

    /// Moves the task to `state`, applying `change` to the status; returns false (and writes
    /// nothing) when the move would go backwards, or the task already ended (Lost, Gone).
    pub async fn transition(
        &mut self,
        state: TaskState,
        change: impl FnOnce(&mut TaskStatus),
    ) -> Result<bool, Gone> {
        if !self.may_move_to(state) {
            return Ok(false);
        }
        let mut next = self.current.clone();
        next.state = Some(state);
        if state.is_terminal() {
            next.finished_at = Some(now());
        }
        change(&mut next);
        let patch = merge_patch(&self.current, &next);
        while !self.write(&patch, &next).await? {
            if !self.may_move_to(state) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Changes the status without changing the state (health); nothing once the task ended.
    pub async fn update(&mut self, change: impl FnOnce(&mut TaskStatus)) -> Result<(), Gone> {
        if self.current.state.is_some_and(TaskState::is_terminal) {
            return Ok(());
        }
        let mut next = self.current.clone();
        change(&mut next);
        let patch = merge_patch(&self.current, &next);
        if patch.as_object().is_some_and(Map::is_empty) {
            return Ok(());
        }
        while !self.write(&patch, &next).await? {
            if self.current.state.is_some_and(TaskState::is_terminal) {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Writes the status `patch` (which turns the status held into `next`) if the task is
    /// still at the version the writer holds: true once written, and the writer then holds
    /// `next`; false when the store had moved on (the writer then holds the fresh status).
    async fn write(&mut self, patch: &Value, next: &TaskStatus) -> Result<bool, Gone> {
        let mut body = serde_json::json!({ "status": patch });
        if let Some(version) = &self.version {
            body["metadata"] = serde_json::json!({ "resourceVersion": version });
        }
        let params = PatchParams::default();
        let written = answered(&self.name, "write", || {
            let request = Request::new(self.api.resource_url()).patch_subresource(
                "status",
                &self.name,
                &params,
                &Patch::Merge(&body),
            );
            let client = self.api.clone().into_client();
            async move {
                client
                    .request::<Version>(request.map_err(kube::Error::BuildRequest)?)
                    .await
            }
        })
        .await?;
        if let Some(written) = written {
            // Written at the version held, so the stored status is the one held, patched.
            self.current = next.clone();
            self.version = written.metadata.resource_version;
            return Ok(true);
        }
        tracing::debug!(task = %self.name, "the task's status changed meanwhile; reading it again");
        // A read has no precondition to fail, so it answers with the task.
        let fresh = answered(&self.name, "read", || self.api.get_status(&self.name)).await?;
        if let Some(task) = fresh {
            self.stored(&task.0);
        }
        Ok(false)
    }
}

/// What the agent reads of the store's answer to its status write: the new resourceVersion,
/// the next write's precondition. The rest of the task it knows (it wrote the status), and
/// decoding it whole was a Task decoded and dropped per state reported.
#[derive(serde::Deserialize)]
struct Version {
    metadata: VersionMeta,
}

#[derive(serde::Deserialize)]
struct VersionMeta {
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
}

/// Runs `request` (`what` is done with task `name`'s status) until the store answers for
/// certain: its answer, None on 409 Conflict, Gone on 404. Other errors (the store
/// unreachable) are retried with backoff, since a lost report would leave a framework waiting
/// forever.
async fn answered<T, F, Fut>(name: &str, what: &str, request: F) -> Result<Option<T>, Gone>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match request().await {
            Ok(answer) => return Ok(Some(answer)),
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Err(Gone(name.to_string()));
            }
            Err(kube::Error::Api(status)) if status.code == 409 => return Ok(None),
            Err(e) => {
                tracing::warn!(task = %name, error = %e, "could not {what} the task's status; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Whether a `stored` state the watch delivered tells a writer holding `held` something new:
/// a state it could move to itself, rather than one it has already moved past.
fn is_news(held: Option<TaskState>, stored: Option<TaskState>) -> bool {
    match (held, stored) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(held), Some(stored)) => held != stored && held.can_transition_to(stored),
    }
}

/// The JSON merge patch that turns `old` into `new`: new fields set, vanished ones null.
fn merge_patch(old: &TaskStatus, new: &TaskStatus) -> Value {
    let to_map = |status: &TaskStatus| match serde_json::to_value(status) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let (old, mut new) = (to_map(old), to_map(new));
    for key in old.keys() {
        if !new.contains_key(key) {
            new.insert(key.clone(), Value::Null);
        }
    }
    new.retain(|key, value| old.get(key) != Some(value));
    Value::Object(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_masters_writes_are_news_and_echoes_of_the_agents_own_are_not() {
        use TaskState::*;
        // The master's writes: staging, Unreachable, Lost and Gone.
        assert!(is_news(None, Some(Staging)));
        assert!(is_news(Some(Running), Some(Unreachable)));
        assert!(is_news(Some(Killing), Some(Unreachable)));
        assert!(is_news(Some(Running), Some(Lost)));
        assert!(is_news(Some(Unreachable), Some(Gone)));
        // Late echoes of the agent's own earlier writes.
        assert!(!is_news(Some(Running), Some(Starting)));
        assert!(!is_news(Some(Killing), Some(Running)));
        assert!(!is_news(Some(Running), Some(Running)));
        assert!(!is_news(Some(Finished), Some(Running)));
        assert!(!is_news(Some(Running), None));
    }

    #[test]
    fn merge_patch_sets_changes_and_nulls_what_vanished() {
        let old = TaskStatus {
            state: Some(TaskState::Running),
            healthy: Some(true),
            message: Some("same".into()),
            ..TaskStatus::default()
        };
        let new = TaskStatus {
            state: Some(TaskState::Finished),
            exit_code: Some(0),
            message: Some("same".into()),
            ..TaskStatus::default()
        };
        assert_eq!(
            merge_patch(&old, &new),
            serde_json::json!({"state": "Finished", "exitCode": 0, "healthy": null})
        );
    }
}
