//! Writing a task's status to the store, forward only.
//!
//! Why it exists: frameworks act on task states (Marathon replaces a Failed task, counts a
//! Running one), so a state the agent reports must never be taken back: Finished must not
//! become Running because an old write arrived late. The writer keeps the status it last
//! stored, refuses transitions [`TaskState::can_transition_to`] forbids, and retries a write
//! until the store has it — a lost terminal update would leave a framework waiting forever.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Map, Value};
use strata_api::task::{Task, TaskState, TaskStatus};

/// The task is no longer in the store: nothing to report to.
#[derive(Debug, thiserror::Error)]
#[error("task {0} is gone from the store")]
pub struct Gone(pub String);

/// Writes one task's status.
pub struct StatusWriter {
    api: Api<Task>,
    name: String,
    /// The status as last stored.
    pub current: TaskStatus,
}

/// Now, as a Kubernetes timestamp.
pub fn now() -> Time {
    Time(jiff::Timestamp::now())
}

impl StatusWriter {
    pub fn new(api: Api<Task>, name: &str, current: TaskStatus) -> StatusWriter {
        StatusWriter {
            api,
            name: name.to_string(),
            current,
        }
    }

    /// The state last stored (Staging for a task nobody reported on yet).
    pub fn state(&self) -> Option<TaskState> {
        self.current.state
    }

    /// Moves the task to `state`, applying `change` to the status; returns false (and writes
    /// nothing) when the move would go backwards.
    pub async fn transition(
        &mut self,
        state: TaskState,
        change: impl FnOnce(&mut TaskStatus),
    ) -> Result<bool, Gone> {
        if let Some(current) = self.current.state
            && (current == state || !current.can_transition_to(state))
        {
            return Ok(false);
        }
        let mut next = self.current.clone();
        next.state = Some(state);
        if state.is_terminal() {
            next.finished_at = Some(now());
        }
        change(&mut next);
        self.write(next).await?;
        Ok(true)
    }

    /// Changes the status without changing the state (health).
    pub async fn update(&mut self, change: impl FnOnce(&mut TaskStatus)) -> Result<(), Gone> {
        let mut next = self.current.clone();
        change(&mut next);
        if next == self.current {
            return Ok(());
        }
        self.write(next).await
    }

    async fn write(&mut self, next: TaskStatus) -> Result<(), Gone> {
        let patch = serde_json::json!({ "status": merge_patch(&self.current, &next) });
        let mut backoff = Duration::from_millis(100);
        loop {
            let result = self
                .api
                .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await;
            match result {
                Ok(_) => {
                    self.current = next;
                    return Ok(());
                }
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    return Err(Gone(self.name.clone()));
                }
                Err(e) => {
                    tracing::warn!(task = %self.name, error = %e, "could not write the task's status; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
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
