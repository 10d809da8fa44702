//! The process executor (Mesos' command executor): runs a task's shell command in its sandbox,
//! through the shim, inside the task's cgroups.
//!
//! Why it exists: most tasks are plain commands. The shim (see [`super::shim`]) is the process
//! the agent starts; it outlives an agent restart and records the exit status, so the handle
//! works the same for a task launched now and for one adopted after a restart.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use strata_api::task::TaskSpec;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

use super::{Executor, Handle, Launch, LaunchError, Outcome, Record, shim};
use crate::cgroups::{Cgroups, CpuLimit, TaskCgroup};

/// How often an adopted task (not the agent's child) is checked for its end.
const POLL: Duration = Duration::from_millis(100);

/// Runs tasks that have a command and no container.
pub struct ProcessExecutor {
    /// The program and arguments that start the shim, e.g. `[strata, agent-exec]`.
    pub shim: Vec<OsString>,
    pub cgroups: Cgroups,
    pub cpu_limit: CpuLimit,
}

/// What identifies a running shim and its task across agent restarts.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProcessData {
    /// The shim's pid, and its start time in clock ticks since boot (so a recycled pid is not
    /// taken for it).
    shim_pid: u32,
    shim_start: u64,
    /// The command's pid, which is also its process group.
    pgid: u32,
    cgroup: TaskCgroup,
}

impl Executor for ProcessExecutor {
    fn name(&self) -> &'static str {
        "mesos"
    }

    fn runs(&self, spec: &TaskSpec) -> bool {
        spec.container.is_none()
    }

    fn launch<'a>(
        &'a self,
        launch: &'a Launch,
    ) -> BoxFuture<'a, Result<Box<dyn Handle>, LaunchError>> {
        async move {
            let command = launch.spec.command.as_deref().ok_or_else(|| {
                LaunchError::invalid(
                    "TaskInvalid",
                    "the task has neither a command nor a container",
                )
            })?;
            let user = match &launch.spec.user {
                Some(name) => Some(lookup_user(name).ok_or_else(|| {
                    LaunchError::invalid(
                        "TaskInvalid",
                        format!("user {name:?} does not exist on this agent"),
                    )
                })?),
                None => None,
            };
            let cgroup = self
                .cgroups
                .create(&launch.uid, &launch.spec.resources, self.cpu_limit)
                .map_err(|e| {
                    LaunchError::failed(
                        "ContainerLaunchFailed",
                        format!("creating the task's cgroup: {e}"),
                    )
                })?;
            std::fs::create_dir_all(shim::meta_dir(&launch.sandbox)).map_err(|e| {
                LaunchError::failed(
                    "ContainerLaunchFailed",
                    format!("creating the sandbox: {e}"),
                )
            })?;
            let (program, prefix) = self.shim.split_first().expect("shim program configured");
            let mut cmd = Command::new(program);
            cmd.args(prefix).arg("--sandbox").arg(&launch.sandbox);
            for dir in &cgroup.dirs {
                cmd.arg("--cgroup").arg(dir);
            }
            if let Some((uid, gid)) = user {
                cmd.arg("--uid")
                    .arg(uid.to_string())
                    .arg("--gid")
                    .arg(gid.to_string());
            }
            cmd.arg("--")
                .arg(command)
                .env_clear()
                .envs(&launch.env)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::inherit())
                .kill_on_drop(false);
            let failed = |e: String| {
                cgroup.remove();
                LaunchError::failed("ExecutorRegistrationFailed", e)
            };
            let mut child = cmd
                .spawn()
                .map_err(|e| failed(format!("starting the executor: {e}")))?;
            let shim_pid = child.id().expect("a just-spawned child has a pid");
            let mut line = String::new();
            let stdout = child.stdout.take().expect("stdout is piped");
            BufReader::new(stdout)
                .read_line(&mut line)
                .await
                .map_err(|e| failed(format!("reading from the executor: {e}")))?;
            let pgid = match line.trim().split_once(' ') {
                Some(("pid", pid)) => pid.parse::<u32>().map_err(|e| failed(e.to_string()))?,
                Some(("error", why)) => return Err(failed(why.to_string())),
                _ => {
                    return Err(failed(format!(
                        "the executor exited before starting the command ({line:?})"
                    )));
                }
            };
            let data = ProcessData {
                shim_pid,
                shim_start: start_time(shim_pid).unwrap_or_default(),
                pgid,
                cgroup,
            };
            // Reap the shim when it exits; the handle learns of it through the channel.
            let (exited_tx, exited) = watch::channel(false);
            tokio::spawn(async move {
                let _ = child.wait().await;
                let _ = exited_tx.send(true);
            });
            Ok(Box::new(ProcessHandle::new(
                launch.sandbox.clone(),
                data,
                Some(exited),
            )) as Box<dyn Handle>)
        }
        .boxed()
    }

    fn adopt<'a>(&'a self, record: &'a Record) -> BoxFuture<'a, Box<dyn Handle>> {
        async move {
            let data: ProcessData =
                serde_json::from_value(record.data.clone()).unwrap_or(ProcessData {
                    shim_pid: 0,
                    shim_start: 0,
                    pgid: 0,
                    cgroup: TaskCgroup::default(),
                });
            Box::new(ProcessHandle::new(record.sandbox.clone(), data, None)) as Box<dyn Handle>
        }
        .boxed()
    }
}

struct ProcessHandle {
    sandbox: PathBuf,
    data: Arc<ProcessData>,
    /// Set when the shim is the agent's child: flips to true when it has been reaped.
    exited: Option<watch::Receiver<bool>>,
}

impl ProcessHandle {
    fn new(
        sandbox: PathBuf,
        data: ProcessData,
        exited: Option<watch::Receiver<bool>>,
    ) -> ProcessHandle {
        ProcessHandle {
            sandbox,
            data: Arc::new(data),
            exited,
        }
    }

    fn shim_alive(&self) -> bool {
        self.data.shim_pid != 0
            && start_time(self.data.shim_pid).is_some_and(|t| t == self.data.shim_start)
    }

    fn outcome(&self) -> Outcome {
        let recorded = std::fs::read(shim::exit_file(&self.sandbox))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Outcome>(&bytes).ok());
        let mut outcome = recorded.unwrap_or_else(|| Outcome {
            message: Some("the executor ended without recording the task's exit status".into()),
            ..Outcome::default()
        });
        if self.data.cgroup.oom_killed() {
            outcome.limitation =
                Some("Memory limit exceeded: the task was killed by the kernel".to_string());
        }
        outcome
    }
}

impl Handle for ProcessHandle {
    fn record_data(&self) -> serde_json::Value {
        serde_json::to_value(&*self.data).expect("process data serializes")
    }

    fn wait(&self) -> BoxFuture<'_, Outcome> {
        async move {
            match &self.exited {
                Some(exited) => {
                    let mut exited = exited.clone();
                    let _ = exited.wait_for(|done| *done).await;
                }
                None => {
                    while self.shim_alive() && !shim::exit_file(&self.sandbox).exists() {
                        tokio::time::sleep(POLL).await;
                    }
                }
            }
            self.outcome()
        }
        .boxed()
    }

    fn kill(&self, grace: Duration) {
        let pgid = self.data.pgid as i32;
        if pgid <= 1 {
            return;
        }
        signal_group(pgid, libc::SIGTERM);
        let sandbox = self.sandbox.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            if !shim::exit_file(&sandbox).exists() {
                signal_group(pgid, libc::SIGKILL);
            }
        });
    }

    fn exec<'a>(&'a self, command: &'a str) -> BoxFuture<'a, anyhow::Result<i32>> {
        async move {
            let status = Command::new("/bin/sh")
                .arg("-c")
                .arg(command)
                .current_dir(&self.sandbox)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .status()
                .await?;
            Ok(status.code().unwrap_or(-1))
        }
        .boxed()
    }

    fn cleanup(&self) -> BoxFuture<'_, ()> {
        async move {
            // Whatever the command left behind in its group goes with it, as in Mesos.
            if self.data.pgid > 1 {
                signal_group(self.data.pgid as i32, libc::SIGKILL);
            }
            self.data.cgroup.remove();
        }
        .boxed()
    }
}

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions; a negative pid addresses the group.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// A process's start time in clock ticks since boot (field 22 of /proc/PID/stat); None when it
/// does not exist or is a zombie.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// The uid and gid of a local user.
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&name) && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    })
}
