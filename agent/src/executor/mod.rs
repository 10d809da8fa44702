//! Executors: how a task's process or container is started, watched, killed and adopted.
//!
//! Why it exists: the supervisor drives every task through the same lifecycle (Staging,
//! Starting, Running, then a terminal state) whatever runs it. What differs — a shell command
//! under a small supervisor process (Mesos' command executor), a Docker container, or nothing at
//! all (simulated agents for scale tests) — sits behind [`Executor`] and [`Handle`]. A handle
//! can be rebuilt from the [`Record`] the agent keeps on disk, which is how a restarted agent
//! adopts what it launched instead of launching it twice.

pub mod docker;
pub mod process;
pub mod shim;
pub mod simulated;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use strata_api::task::TaskSpec;

/// Everything an executor needs to start one task.
#[derive(Clone, Debug)]
pub struct Launch {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub spec: TaskSpec,
    /// The task's complete environment (ids, agent, ports, its own env).
    pub env: BTreeMap<String, String>,
    /// The task's sandbox directory; stdout and stderr are files in it.
    pub sandbox: PathBuf,
}

/// Why a task could not be started; the supervisor reports it as the given terminal state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchError {
    /// Failed (the executor tried and could not), or Error (the task cannot run here).
    pub invalid: bool,
    /// CamelCase reason, as in Mesos' status reasons.
    pub reason: &'static str,
    pub message: String,
}

impl LaunchError {
    pub fn failed(reason: &'static str, message: impl Into<String>) -> LaunchError {
        LaunchError {
            invalid: false,
            reason,
            message: message.into(),
        }
    }

    pub fn invalid(reason: &'static str, message: impl Into<String>) -> LaunchError {
        LaunchError {
            invalid: true,
            reason,
            message: message.into(),
        }
    }
}

/// How a task's process or container ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Exit status, when the process exited on its own.
    pub exit_code: Option<i32>,
    /// Signal that terminated the process.
    pub signal: Option<i32>,
    /// A resource limit the task broke (it was killed for it), e.g. "memory limit of 64 MB
    /// exceeded".
    pub limitation: Option<String>,
    /// What else is known, e.g. "the executor disappeared while the agent was away".
    pub message: Option<String>,
}

/// What the agent keeps on disk about a launched task, to adopt it after a restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// The executor that launched it: process, docker or simulated.
    pub executor: String,
    pub sandbox: PathBuf,
    /// Executor-specific identity of what runs (pids, container id).
    pub data: serde_json::Value,
}

/// A launched task.
pub trait Handle: Send + Sync {
    /// What to persist so that [`Executor::adopt`] can find this task again.
    fn record_data(&self) -> serde_json::Value;
    /// Completes when the task has ended. Cancel-safe: may be polled again after a select.
    fn wait(&self) -> BoxFuture<'_, Outcome>;
    /// Asks the task to stop: SIGTERM (or `docker stop`), then SIGKILL after `grace`.
    /// Returns at once; [`Handle::wait`] reports the end.
    fn kill(&self, grace: Duration);
    /// Runs `command` with the shell where the task runs (its sandbox, or inside its
    /// container), for COMMAND health checks; returns the exit status.
    fn exec<'a>(&'a self, command: &'a str) -> BoxFuture<'a, anyhow::Result<i32>>;
    /// Frees what is left once the task ended (cgroups, the stopped container).
    fn cleanup(&self) -> BoxFuture<'_, ()>;
}

/// Something that can run tasks.
pub trait Executor: Send + Sync {
    /// The containerizer name reported in the Agent's status (`mesos`, `docker`).
    fn name(&self) -> &'static str;
    /// Whether this executor runs `spec` (docker runs tasks with a container).
    fn runs(&self, spec: &TaskSpec) -> bool;
    /// Starts the task; returns once it runs.
    fn launch<'a>(
        &'a self,
        launch: &'a Launch,
    ) -> BoxFuture<'a, Result<Box<dyn Handle>, LaunchError>>;
    /// Rebuilds the handle of a task launched before a restart, from its record. The handle of
    /// a task that ended meanwhile reports its outcome at once.
    fn adopt<'a>(&'a self, record: &'a Record) -> BoxFuture<'a, Box<dyn Handle>>;
    /// Removes what this executor started before `started` (an earlier run of the agent) and
    /// no record names: it leaked when the agent died between launching and recording.
    fn remove_orphans<'a>(
        &'a self,
        _recorded: &'a HashSet<String>,
        _started: jiff::Timestamp,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// Mesos' message for an outcome, e.g. "Command exited with status 3".
pub fn describe(outcome: &Outcome) -> String {
    if let Some(limit) = &outcome.limitation {
        return limit.clone();
    }
    let mut text = match (outcome.exit_code, outcome.signal) {
        (Some(code), _) => format!("Command exited with status {code}"),
        (None, Some(signal)) => format!("Command terminated with signal {}", signal_name(signal)),
        (None, None) => "Command ended with an unknown status".to_string(),
    };
    if let Some(message) = &outcome.message {
        text.push_str(": ");
        text.push_str(message);
    }
    text
}

fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGKILL => "Killed".to_string(),
        libc::SIGTERM => "Terminated".to_string(),
        libc::SIGINT => "Interrupt".to_string(),
        libc::SIGSEGV => "Segmentation fault".to_string(),
        libc::SIGABRT => "Aborted".to_string(),
        other => format!("{other}"),
    }
}
