//! Following a launched task to its end: its state changes on stderr as they happen, its
//! stdout copied to ours (through its agent's sandbox service, as `strata logs -f` reads it),
//! and the kill `--kill-after` or an interruption asks for.
//!
//! Why it exists: this is what a person watching `strata execute` sees, and what decides its
//! exit code. It reads the Task and deletes it to kill it; it never writes anything else.

use std::time::Duration;

use anyhow::bail;
use futures::StreamExt;
use futures::stream::BoxStream;
use kube::Api;
use kube::api::DeleteParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use strata_agent::sandbox_client::SandboxFile;
use strata_api::task::{Task, TaskState, TaskStatus};

use super::launch::exit_code;
use super::signals::Interrupts;

/// The exit code after an interruption, as shells report SIGINT.
pub const INTERRUPTED: i32 = 130;
/// How long the rest of the task's stdout may take to arrive once it ended.
const DRAIN: Duration = Duration::from_secs(15);
/// How soon a kill that could not be asked for is asked again.
const KILL_RETRY: Duration = Duration::from_secs(1);

/// The watch of one task.
pub type Events = BoxStream<'static, Result<Event<Task>, watcher::Error>>;

/// Where the task is, and what to do to it.
pub struct Follow {
    pub tasks: Api<Task>,
    pub namespace: String,
    pub name: String,
    /// The caller's token, for the sandbox service.
    pub token: Option<String>,
    /// Kill the task this long after it started running.
    pub kill_after: Option<Duration>,
}

impl Follow {
    /// Starts watching the task, before it is created so that no state goes unseen: the
    /// watch has listed (nothing yet) when this returns.
    pub async fn watch(&self) -> anyhow::Result<Events> {
        let config = watcher::Config::default().fields(&format!("metadata.name={}", self.name));
        let mut events = watcher::watcher(self.tasks.clone(), config)
            .default_backoff()
            .boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::InitDone) => return Ok(events),
                Ok(_) => {}
                Err(e) => bail!("cannot watch tasks in namespace {}: {e}", self.namespace),
            }
        }
        bail!("the watch of tasks ended before it started")
    }

    /// Follows the task through `events` (from [`Follow::watch`]) until it ends (or a second
    /// interruption gives up on it), and returns the exit code `strata execute` ends with.
    pub async fn run(self, mut events: Events, interrupts: &mut Interrupts) -> i32 {
        let kill_timer = tokio::time::sleep(Duration::MAX);
        tokio::pin!(kill_timer);
        let mut seen = Seen::default();
        let mut killing = false;
        let mut interrupted = false;
        let mut last_error = None;
        let end = loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(Event::Init)) => seen.listed = false,
                    Some(Ok(Event::Apply(task) | Event::InitApply(task))) => {
                        seen.listed = true;
                        if let Some(end) = self.observe(task, &mut seen, kill_timer.as_mut()) {
                            break End::Ended(Box::new(end));
                        }
                    }
                    Some(Ok(Event::Delete(task))) => {
                        if let Some(end) = self.observe(task, &mut seen, kill_timer.as_mut()) {
                            break End::Ended(Box::new(end));
                        }
                        break End::Deleted;
                    }
                    // Listed again after the watch broke, and the task was not there.
                    Some(Ok(Event::InitDone)) if !seen.listed => break End::Deleted,
                    Some(Ok(Event::InitDone)) => {}
                    Some(Err(e)) => {
                        let e = e.to_string();
                        if last_error.as_ref() != Some(&e) {
                            eprintln!("warning: watching task '{}' failed (retrying): {e}", self.name);
                        }
                        last_error = Some(e);
                    }
                    None => unreachable!("a watcher stream does not end"),
                },
                () = &mut kill_timer, if !killing => {
                    let after = self.kill_after.unwrap_or_default();
                    eprintln!("Killing task '{}': it ran for --kill-after {after:?}", self.name);
                    killing = self.kill().await;
                    if !killing {
                        kill_timer.as_mut().reset(tokio::time::Instant::now() + KILL_RETRY);
                    }
                }
                () = interrupts.recv() => {
                    if interrupted {
                        eprintln!(
                            "Not waiting for task '{}' to end; its agent is killing it",
                            self.name
                        );
                        break End::GaveUp;
                    }
                    interrupted = true;
                    eprintln!("Interrupted: killing task '{}' (interrupt again to stop waiting)", self.name);
                    killing = self.kill().await || killing;
                }
            }
        };
        let code = match end {
            End::Ended(status) => {
                self.drain(&mut seen, &status).await;
                print_update(&self.name, &status);
                exit_code(&status)
            }
            End::Deleted => {
                seen.abort_output();
                let state = seen
                    .state
                    .map_or("no state".to_string(), |s| format!("{s:?}"));
                if killing {
                    eprintln!("Task '{}' was killed (it was last seen {state})", self.name);
                } else {
                    eprintln!(
                        "Task '{}' was deleted by someone else (it was last seen {state})",
                        self.name
                    );
                }
                1
            }
            End::GaveUp => {
                seen.abort_output();
                INTERRUPTED
            }
        };
        if interrupted { INTERRUPTED } else { code }
    }

    /// Prints a state change of `task`, arms the kill timer once it runs, starts copying its
    /// stdout once there is some; returns its status when it ended.
    fn observe(
        &self,
        task: Task,
        seen: &mut Seen,
        kill_timer: std::pin::Pin<&mut tokio::time::Sleep>,
    ) -> Option<TaskStatus> {
        let status = task.status.unwrap_or_default();
        let state = status.state?;
        if state.is_terminal() {
            return Some(status);
        }
        if seen.state != Some(state) {
            print_update(&self.name, &status);
            seen.state = Some(state);
        }
        if state == TaskState::Running
            && !seen.kill_armed
            && let Some(after) = self.kill_after
        {
            seen.kill_armed = true;
            kill_timer.reset(tokio::time::Instant::now() + after);
        }
        if matches!(state, TaskState::Running | TaskState::Killing) {
            self.copy_output(seen, &status);
        }
        None
    }

    /// Starts copying the task's stdout to ours, once its sandbox is known.
    fn copy_output(&self, seen: &mut Seen, status: &TaskStatus) {
        let Some(sandbox) = status.sandbox.as_ref().filter(|_| seen.output.is_none()) else {
            return;
        };
        let file = SandboxFile {
            base: sandbox.url.clone(),
            namespace: self.namespace.clone(),
            task: self.name.clone(),
            path: "stdout".to_string(),
            token: self.token.clone(),
        };
        seen.output = Some(tokio::spawn(async move {
            if let Err(e) = file.follow_to(&mut std::io::stdout()).await {
                eprintln!("warning: cannot copy the task's stdout: {e:#}");
            }
        }));
    }

    /// Waits for the rest of an ended task's stdout (all of it, if it ended before it was
    /// seen running).
    async fn drain(&self, seen: &mut Seen, status: &TaskStatus) {
        self.copy_output(seen, status);
        let Some(output) = seen.output.take() else {
            return;
        };
        if tokio::time::timeout(DRAIN, output).await.is_err() {
            eprintln!(
                "warning: the task's stdout did not all arrive from its agent within {}s; \
                 `strata logs -n {} {}` reads it",
                DRAIN.as_secs(),
                self.namespace,
                self.name
            );
        }
    }

    /// Deletes the Task, which its agent answers by killing it; whether the kill was asked.
    async fn kill(&self) -> bool {
        match self
            .tasks
            .delete(&self.name, &DeleteParams::default())
            .await
        {
            Ok(_) => true,
            Err(kube::Error::Api(s)) if s.code == 404 => true,
            Err(e) => {
                eprintln!("warning: could not kill task '{}': {e}", self.name);
                false
            }
        }
    }
}

/// What has been seen of the task so far.
#[derive(Default)]
struct Seen {
    /// The last state printed.
    state: Option<TaskState>,
    /// Whether the task was in the last listing of the watch.
    listed: bool,
    kill_armed: bool,
    /// Copying its stdout.
    output: Option<tokio::task::JoinHandle<()>>,
}

impl Seen {
    fn abort_output(&mut self) {
        if let Some(output) = self.output.take() {
            output.abort();
        }
    }
}

/// How following the task ended.
enum End {
    /// It reached a terminal state.
    Ended(Box<TaskStatus>),
    /// The Task was deleted before a terminal state was seen.
    Deleted,
    /// Interrupted twice: given up on.
    GaveUp,
}

/// Prints a status update as mesos-execute does, with its reason and message.
fn print_update(task: &str, status: &TaskStatus) {
    let state = status
        .state
        .map_or("(none)".to_string(), |s| format!("{s:?}"));
    eprintln!("Received status update {state} for task '{task}'");
    if let Some(reason) = &status.reason {
        eprintln!("  reason: {reason}");
    }
    if let Some(message) = &status.message {
        eprintln!("  message: {message}");
    }
}
