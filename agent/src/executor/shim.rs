//! The command executor: a small process between the agent and a task's shell command.
//!
//! Why it exists: the agent must be able to die (SIGKILL, upgrade) while tasks keep running, and
//! still learn afterwards how each task ended. A process that is not your child cannot be waited
//! for, so, as Mesos does with its command executor, the agent starts this shim in its own
//! session; the shim joins the task's cgroups, starts `/bin/sh -c COMMAND` in the sandbox in its
//! own process group (so a kill reaches everything the command started), tells the agent the
//! pid on stdout, waits, and writes the exit status into the sandbox. Blocking std code: it
//! must start fast and hold little memory.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::Outcome;

/// Where the shim keeps its bookkeeping inside a sandbox.
pub fn meta_dir(sandbox: &Path) -> PathBuf {
    sandbox.join(".strata")
}

/// The file the shim writes the task's outcome to once it exited.
pub fn exit_file(sandbox: &Path) -> PathBuf {
    meta_dir(sandbox).join("exit.json")
}

/// What the shim is asked to run.
pub struct ShimArgs {
    pub sandbox: PathBuf,
    /// cgroup directories (one per controller) the task is placed in.
    pub cgroups: Vec<PathBuf>,
    /// uid and gid to run the command as.
    pub user: Option<(u32, u32)>,
    pub command: String,
}

/// Runs the shim; returns its process exit status (0 when the task's end was recorded).
pub fn run(args: ShimArgs) -> i32 {
    match start_and_wait(&args) {
        Ok(()) => 0,
        Err(e) => {
            // The agent reads the first stdout line: a pid, or why there is none.
            println!("error {e}");
            1
        }
    }
}

fn start_and_wait(args: &ShimArgs) -> std::io::Result<()> {
    // SAFETY: setsid has no memory-safety preconditions; it detaches the shim from the agent's
    // session and process group so signals to the agent do not reach the task.
    unsafe {
        libc::setsid();
    }
    for cgroup in &args.cgroups {
        fs::write(cgroup.join("cgroup.procs"), std::process::id().to_string()).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("joining cgroup {}: {e}", cgroup.display()),
            )
        })?;
    }
    let open = |name: &str| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(args.sandbox.join(name))
    };
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(&args.command)
        .current_dir(&args.sandbox)
        .stdin(Stdio::null())
        .stdout(open("stdout")?)
        .stderr(open("stderr")?)
        .process_group(0);
    if let Some((uid, gid)) = args.user {
        command.uid(uid).gid(gid);
    }
    let mut child = command.spawn()?;
    println!("pid {}", child.id());
    std::io::stdout().flush()?;
    let status = child.wait()?;
    let outcome = Outcome {
        exit_code: status.code(),
        signal: status.signal(),
        ..Outcome::default()
    };
    write_atomically(&exit_file(&args.sandbox), &serde_json::to_vec(&outcome)?)
}

/// Writes `contents` to `path` by renaming a complete temporary file over it, so a reader never
/// sees half a file (the agent may read it at any moment, or after a crash).
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}
