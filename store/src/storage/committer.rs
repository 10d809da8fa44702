//! The single writer: group commit.
//!
//! Request handlers send transactions over a channel; this thread takes everything queued (up to
//! `max_batch`), checks each transaction's preconditions in order against the cache plus the
//! transactions before it in the batch, assigns consecutive revisions, writes the whole batch in one
//! durable redb commit and only then applies it to the cache, publishes the events and answers. So
//! a hundred concurrent writers pay for a handful of fsyncs, and no reader ever sees a write that a
//! crash could take back.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, RwLock};

use tokio::sync::oneshot;

use super::cache::{Cache, Event, EventKind, StoredObject};
use super::disk::{Disk, Record};
use super::fanout::Fanout;
use super::template::Template;
use super::{CommitError, Committed, Expect, MAX_OBJECT, ObjectKey, Op, Options};

pub struct Pending {
    pub ops: Vec<Staged>,
    pub reply: oneshot::Sender<Result<Vec<Committed>, CommitError>>,
}

/// An [`Op`] as the committer takes it: a put's object already serialized by the writer (see
/// [`Template`]).
pub enum Staged {
    Put {
        key: ObjectKey,
        object: Template,
        expect: Expect,
    },
    Delete {
        key: ObjectKey,
        expect: Expect,
    },
}

impl Staged {
    /// Serializes a put's object, refusing one larger than [`MAX_OBJECT`] (as etcd refuses a
    /// request over its limit): the size is read off the bytes the commit needs anyway.
    pub fn new(op: Op) -> Result<Staged, CommitError> {
        Ok(match op {
            Op::Put {
                key,
                object,
                expect,
            } => {
                let object = Template::new(object);
                let size = object.size();
                if size > MAX_OBJECT {
                    return Err(CommitError::TooLarge { key, size });
                }
                Staged::Put {
                    key,
                    object,
                    expect,
                }
            }
            Op::Delete { key, expect } => Staged::Delete { key, expect },
        })
    }

    fn key(&self) -> &ObjectKey {
        match self {
            Staged::Put { key, .. } | Staged::Delete { key, .. } => key,
        }
    }

    fn expect(&self) -> Expect {
        match self {
            Staged::Put { expect, .. } | Staged::Delete { expect, .. } => *expect,
        }
    }
}

pub fn start(
    disk: Disk,
    cache: Arc<RwLock<Cache>>,
    fanout: Arc<Fanout>,
    options: Options,
) -> SyncSender<Pending> {
    let (tx, rx) = sync_channel(options.max_batch * 4);
    std::thread::Builder::new()
        .name("strata-committer".into())
        .spawn(move || run(rx, disk, cache, fanout, options))
        .expect("spawning the committer thread");
    tx
}

fn run(
    rx: Receiver<Pending>,
    disk: Disk,
    cache: Arc<RwLock<Cache>>,
    fanout: Arc<Fanout>,
    options: Options,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < options.max_batch {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        commit_batch(batch, &disk, &cache, &fanout, &options);
    }
}

/// The state of one key as seen by the batch so far: `None` = deleted in this batch.
type Overlay = HashMap<ObjectKey, Option<Arc<StoredObject>>>;

fn commit_batch(
    batch: Vec<Pending>,
    disk: &Disk,
    cache: &RwLock<Cache>,
    fanout: &Fanout,
    options: &Options,
) {
    let mut overlay = Overlay::new();
    let mut accepted: Vec<(oneshot::Sender<_>, Vec<Arc<Event>>)> = Vec::new();
    let mut revision = cache.read().unwrap_or_else(|e| e.into_inner()).revision;
    {
        let cache = cache.read().unwrap_or_else(|e| e.into_inner());
        for pending in batch {
            match prepare(pending.ops, &cache, &overlay, revision) {
                Ok(txn_events) => {
                    revision += txn_events.len() as u64;
                    for e in &txn_events {
                        let state = (e.kind != EventKind::Deleted).then(|| e.object.clone());
                        overlay.insert(e.object.key.clone(), state);
                    }
                    accepted.push((pending.reply, txn_events));
                }
                Err(e) => {
                    let _ = pending.reply.send(Err(e));
                }
            }
        }
    }
    let records: Vec<Record<'_>> = accepted
        .iter()
        .flat_map(|(_, evs)| evs.iter())
        .map(|e| Record {
            revision: e.revision,
            kind: e.kind,
            object: &e.object,
        })
        .collect();
    if let Err(e) = disk.write(&records, options.history) {
        tracing::error!(error = %e, "durable commit failed; the batch is rejected");
        for (reply, _) in accepted {
            let _ = reply.send(Err(CommitError::Storage(e.to_string())));
        }
        return;
    }
    drop(records);
    {
        let mut cache = cache.write().unwrap_or_else(|e| e.into_inner());
        for (_, evs) in &accepted {
            for e in evs {
                cache.apply(e.clone());
                // No receivers is fine: nobody is watching.
                fanout.publish(e);
            }
        }
    }
    for (reply, evs) in accepted {
        let done = evs
            .into_iter()
            .map(|e| Committed {
                revision: e.revision,
                object: e.object.clone(),
            })
            .collect();
        let _ = reply.send(Ok(done));
    }
}

/// Checks one transaction's preconditions and builds its events, or says why it cannot commit.
fn prepare(
    ops: Vec<Staged>,
    cache: &Cache,
    batch: &Overlay,
    mut revision: u64,
) -> Result<Vec<Arc<Event>>, CommitError> {
    let mut local = Overlay::new();
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        let key = op.key().clone();
        let current = match local.get(&key).or_else(|| batch.get(&key)) {
            Some(state) => state.clone(),
            None => cache.get(&key),
        };
        check(&key, op.expect(), current.as_deref())?;
        revision += 1;
        let event = match op {
            Staged::Put { object, .. } => {
                let stored = object.fill(key.clone(), revision);
                Event {
                    revision,
                    kind: if current.is_some() {
                        EventKind::Modified
                    } else {
                        EventKind::Added
                    },
                    object: Arc::new(stored),
                    prev: current,
                }
            }
            Staged::Delete { .. } => {
                let prev = current.expect("checked to exist");
                let stored = Template::new(prev.value()).fill(key.clone(), revision);
                Event {
                    revision,
                    kind: EventKind::Deleted,
                    object: Arc::new(stored),
                    prev: Some(prev),
                }
            }
        };
        let event = Arc::new(event);
        let state = (event.kind != EventKind::Deleted).then(|| event.object.clone());
        local.insert(key, state);
        out.push(event);
    }
    Ok(out)
}

fn check(
    key: &ObjectKey,
    expect: Expect,
    current: Option<&StoredObject>,
) -> Result<(), CommitError> {
    match (expect, current) {
        (Expect::Absent, Some(_)) => Err(CommitError::AlreadyExists(key.clone())),
        (Expect::Absent, None) => Ok(()),
        (Expect::Present | Expect::Revision(_), None) => Err(CommitError::NotFound(key.clone())),
        (Expect::Revision(want), Some(cur)) if cur.revision != want => Err(CommitError::Conflict {
            key: key.clone(),
            expected: want,
            actual: cur.revision,
        }),
        _ => Ok(()),
    }
}
