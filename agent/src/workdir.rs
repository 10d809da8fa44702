//! The agent's work directory: one sandbox per task, and the records of what it launched.
//!
//! Why it exists: what the agent knows about running tasks must survive the agent. Mesos keeps
//! a "meta" directory of checkpoints beside the sandboxes for the same reason. Layout:
//!
//! ```text
//! <work-dir>/sandboxes/<task uid>/            the task's cwd; stdout, stderr, files it writes
//! <work-dir>/sandboxes/<task uid>/.strata/    the shim's exit status, the finished marker
//! <work-dir>/tasks/<task uid>.json            the executor's record, while the task runs
//! <work-dir>/instance                         the agent's instance id (labels its containers)
//! ```
//!
//! A simulated agent keeps its records in one journal instead (`<work-dir>/tasks.jsonl`, see
//! [`journal`]).
//!
//! A record is written right after launch and removed once the task's terminal state is in the
//! store; the sandbox stays until the garbage collection delay has passed since the task
//! finished.

mod journal;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::executor::{Record, shim};
use journal::Journal;

/// Name of the marker file (in a sandbox's `.strata`) written when its task finished.
const FINISHED: &str = "finished";

/// The agent's work directory.
#[derive(Clone, Debug)]
pub struct WorkDir {
    root: PathBuf,
    /// A simulated agent's record journal; such an agent makes no sandboxes (see
    /// [`WorkDir::open_simulated`]).
    journal: Option<Arc<Journal>>,
}

impl WorkDir {
    /// Opens (creating it if needed) the work directory at `root`.
    pub fn open(root: &Path) -> io::Result<WorkDir> {
        fs::create_dir_all(root.join("sandboxes"))?;
        fs::create_dir_all(root.join("tasks"))?;
        let root = root.canonicalize()?;
        Ok(WorkDir {
            root,
            journal: None,
        })
    }

    /// A simulated agent's work directory: its tasks get no sandbox (they write nothing) and
    /// its records are lines appended to one journal, not synced, since its tasks run nothing
    /// a machine crash could lose (a thousand simulated agents doing file work would measure
    /// the disk, not strata).
    pub fn open_simulated(root: &Path) -> io::Result<WorkDir> {
        fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        let journal = Journal::open(&root.join("tasks.jsonl"))?;
        Ok(WorkDir {
            root,
            journal: Some(Arc::new(journal)),
        })
    }

    /// This work directory's instance id: random, made on first use and kept in `instance`, so
    /// an agent restarted on the same directory is the same instance and another agent is not,
    /// whatever their names.
    pub fn instance(&self) -> io::Result<String> {
        let path = self.root.join("instance");
        match fs::read_to_string(&path) {
            Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => {
                let id = format!("{:016x}", rand::random::<u64>());
                shim::write_atomically(&path, id.as_bytes())?;
                Ok(id)
            }
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The sandbox directory of the task with `uid` (not created).
    pub fn sandbox(&self, uid: &str) -> PathBuf {
        self.root.join("sandboxes").join(uid)
    }

    /// Creates the task's sandbox, with empty stdout and stderr files so they can be read at
    /// once.
    pub fn create_sandbox(&self, uid: &str) -> io::Result<PathBuf> {
        let dir = self.sandbox(uid);
        if self.journal.is_some() {
            return Ok(dir);
        }
        fs::create_dir_all(shim::meta_dir(&dir))?;
        for name in ["stdout", "stderr"] {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))?;
        }
        Ok(dir)
    }

    fn record_path(&self, uid: &str) -> PathBuf {
        self.root.join("tasks").join(format!("{uid}.json"))
    }

    /// Persists what identifies a launched task.
    pub fn save(&self, record: &Record) -> io::Result<()> {
        if let Some(journal) = &self.journal {
            return journal.save(record);
        }
        let bytes = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        // Synced before the agent goes on, so a machine crash loses no record.
        shim::write_atomically(&self.record_path(&record.uid), &bytes)
    }

    /// The records of tasks launched and not yet finished, as left by an earlier run.
    pub fn records(&self) -> Vec<Record> {
        if let Some(journal) = &self.journal {
            return journal.records();
        }
        let Ok(entries) = fs::read_dir(self.root.join("tasks")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| match fs::read(e.path()).map(|b| serde_json::from_slice(&b)) {
                Ok(Ok(record)) => Some(record),
                _ => {
                    tracing::warn!(path = %e.path().display(), "ignoring an unreadable task record");
                    None
                }
            })
            .collect()
    }

    /// Forgets a task whose end is reported: drops its record and starts its sandbox's
    /// garbage-collection clock.
    pub fn finish(&self, uid: &str) {
        if let Some(journal) = &self.journal {
            if let Err(e) = journal.finish(uid) {
                tracing::warn!(task = uid, error = %e, "could not journal a task's end");
            }
            return;
        }
        let sandbox = self.sandbox(uid);
        if sandbox.exists() {
            let _ = fs::write(shim::meta_dir(&sandbox).join(FINISHED), b"");
        }
        if let Err(e) = fs::remove_file(self.record_path(uid))
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(task = uid, error = %e, "could not remove a task record");
        }
    }

    /// Removes the sandboxes of tasks that finished more than `delay` ago; returns how many.
    pub fn collect_garbage(&self, delay: Duration) -> usize {
        let Ok(entries) = fs::read_dir(self.root.join("sandboxes")) else {
            return 0;
        };
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in entries.flatten() {
            let marker = shim::meta_dir(&entry.path()).join(FINISHED);
            let finished = fs::metadata(&marker).and_then(|m| m.modified());
            let expired =
                finished.is_ok_and(|at| now.duration_since(at).unwrap_or_default() >= delay);
            if expired {
                match fs::remove_dir_all(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) => {
                        tracing::warn!(sandbox = %entry.path().display(), error = %e, "could not remove a sandbox")
                    }
                }
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(uid: &str, sandbox: PathBuf) -> Record {
        Record {
            uid: uid.into(),
            namespace: "default".into(),
            name: "t".into(),
            executor: "mesos".into(),
            sandbox,
            data: serde_json::json!({"pid": 1}),
        }
    }

    #[test]
    fn records_survive_reopening_and_finish_forgets_them() {
        let dir = tempfile::tempdir().unwrap();
        let work = WorkDir::open(dir.path()).unwrap();
        let sandbox = work.create_sandbox("u1").unwrap();
        assert!(sandbox.join("stdout").exists());
        work.save(&record("u1", sandbox.clone())).unwrap();
        work.save(&record("u2", work.sandbox("u2"))).unwrap();

        let reopened = WorkDir::open(dir.path()).unwrap();
        let mut uids: Vec<String> = reopened.records().into_iter().map(|r| r.uid).collect();
        uids.sort();
        assert_eq!(uids, ["u1", "u2"]);

        reopened.finish("u1");
        let uids: Vec<String> = reopened.records().into_iter().map(|r| r.uid).collect();
        assert_eq!(uids, ["u2"]);
        assert!(sandbox.exists(), "the sandbox stays until collected");
    }

    #[test]
    fn a_simulated_agents_journal_survives_reopening_and_forgets_finished_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let work = WorkDir::open_simulated(dir.path()).unwrap();
        for uid in ["u1", "u2", "u3"] {
            work.save(&record(uid, work.sandbox(uid))).unwrap();
        }
        work.finish("u2");
        let uids =
            |w: &WorkDir| -> Vec<String> { w.records().into_iter().map(|r| r.uid).collect() };
        assert_eq!(uids(&work), ["u1", "u3"]);
        assert!(!dir.path().join("tasks").exists(), "no file per task");

        let reopened = WorkDir::open_simulated(dir.path()).unwrap();
        assert_eq!(uids(&reopened), ["u1", "u3"]);
        let journal = fs::read_to_string(dir.path().join("tasks.jsonl")).unwrap();
        assert_eq!(
            journal.lines().count(),
            2,
            "compacted on opening: {journal}"
        );
        reopened.finish("u1");
        assert_eq!(uids(&WorkDir::open_simulated(dir.path()).unwrap()), ["u3"]);
    }

    #[test]
    fn an_instance_is_its_work_directory() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let id = WorkDir::open(one.path()).unwrap().instance().unwrap();
        assert_eq!(id.len(), 16);
        assert_eq!(
            WorkDir::open(one.path()).unwrap().instance().unwrap(),
            id,
            "the same after a restart"
        );
        assert_ne!(WorkDir::open(two.path()).unwrap().instance().unwrap(), id);
    }

    #[test]
    fn garbage_collection_removes_only_finished_sandboxes_past_the_delay() {
        let dir = tempfile::tempdir().unwrap();
        let work = WorkDir::open(dir.path()).unwrap();
        let done = work.create_sandbox("done").unwrap();
        let running = work.create_sandbox("running").unwrap();
        work.finish("done");

        assert_eq!(work.collect_garbage(Duration::from_secs(3600)), 0);
        assert!(done.exists());
        assert_eq!(work.collect_garbage(Duration::ZERO), 1);
        assert!(!done.exists());
        assert!(running.exists());
    }
}
