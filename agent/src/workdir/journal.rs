//! A simulated agent's task records: one append-only file instead of a file per task.
//!
//! Why it exists: a thousand simulated agents launching thousands of tasks a second would spend
//! the machine creating and renaming small files (an inode each), measuring the disk instead of
//! strata. Appending a line to one open file costs a write call; the records still survive a
//! restart of the simulated agents, which is what their recovery tests rely on. A real agent
//! keeps a synced file per task (see [`super::WorkDir`]).
//!
//! Each line is `{"saved": <record>}` or `{"finished": "<uid>"}`; replaying them in order gives
//! the records of tasks launched and not finished. Opening the journal rewrites it with just
//! those, so it does not grow without bound across restarts.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::executor::{Record, shim};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Line<'a> {
    Saved(Cow<'a, Record>),
    Finished(Cow<'a, str>),
}

#[derive(Debug)]
pub(super) struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

impl Journal {
    /// Opens the journal at `path`, compacted to the records it holds.
    pub(super) fn open(path: &Path) -> io::Result<Journal> {
        let live = replay(path)?;
        let mut compacted = Vec::new();
        for record in live {
            append_line(&mut compacted, &Line::Saved(Cow::Owned(record)))?;
        }
        shim::write_atomically(path, &compacted)?;
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    pub(super) fn save(&self, record: &Record) -> io::Result<()> {
        self.append(&Line::Saved(Cow::Borrowed(record)))
    }

    pub(super) fn finish(&self, uid: &str) -> io::Result<()> {
        self.append(&Line::Finished(Cow::Borrowed(uid)))
    }

    /// The records of tasks saved and not finished, in the order they were saved.
    pub(super) fn records(&self) -> Vec<Record> {
        replay(&self.path).unwrap_or_else(|e| {
            tracing::warn!(path = %self.path.display(), error = %e, "could not read the task journal");
            Vec::new()
        })
    }

    /// One write call per line, so lines from concurrent tasks never interleave.
    fn append(&self, line: &Line) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(256);
        append_line(&mut bytes, line)?;
        self.file.lock().expect("journal").write_all(&bytes)
    }
}

fn append_line(out: &mut Vec<u8>, line: &Line) -> io::Result<()> {
    serde_json::to_writer(&mut *out, line).map_err(io::Error::other)?;
    out.push(b'\n');
    Ok(())
}

fn replay(path: &Path) -> io::Result<Vec<Record>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut order = Vec::new();
    let mut live: HashMap<String, Record> = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        match serde_json::from_str(line) {
            Ok(Line::Saved(record)) => {
                order.push(record.uid.clone());
                live.insert(record.uid.clone(), record.into_owned());
            }
            Ok(Line::Finished(uid)) => {
                live.remove(uid.as_ref());
            }
            // A line cut short by a crash mid-write: what it said is lost, the rest stands.
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable journal line")
            }
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|uid| live.remove(&uid))
        .collect())
}
