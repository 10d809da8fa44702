//! Durable object storage with a global revision, a replayable event history and group commit.
//!
//! The in-memory [`cache`] is authoritative for reads (it is the "watch cache" of kube-apiserver):
//! every object and the recent events live there, while [`disk`] keeps them crash-safe in redb. All
//! writes go through one [`committer`] thread, which checks each transaction's preconditions against
//! the cache, writes a whole batch of transactions in one durable redb commit (so concurrent writers
//! share an fsync), and only then updates the cache, publishes the events and acknowledges. A write
//! is never acknowledged before it is on disk.
//!
//! This layer knows nothing of HTTP or Kubernetes semantics beyond stamping
//! `metadata.resourceVersion` and indexing the metadata objects are looked up by (labels, uid,
//! ownerReferences: see [`ownership`]); validation and admission happen before a transaction
//! reaches it.

mod cache;
mod committer;
mod disk;
mod fanout;
mod ownership;
mod template;

use std::path::Path;
use std::sync::{Arc, RwLock};

use serde_json::Value;
use tokio::sync::oneshot;

pub use cache::{Event, EventKind, StoredObject};
pub use fanout::{Interest, Live, Missed};

use fanout::Fanout;

/// Identifies one object: its resource (`"<group>/<plural>"`, group empty for the core group), its
/// namespace (empty for cluster-scoped objects) and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub resource: Arc<str>,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(resource: &Arc<str>, namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            resource: resource.clone(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

/// What a write expects of the object's current state (compare-and-swap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The object must not exist (create).
    Absent,
    /// The object must exist at exactly this revision.
    Revision(u64),
    /// The object must exist, at any revision.
    Present,
}

/// One change within a transaction.
#[derive(Debug, Clone)]
pub enum Op {
    /// Store `object` under `key`; its `metadata.resourceVersion` is set to the commit's revision.
    Put {
        key: ObjectKey,
        object: Value,
        expect: Expect,
    },
    /// Remove the object at `key`.
    Delete { key: ObjectKey, expect: Expect },
}

/// The result of one committed operation: the new revision and the object as stored (for a delete,
/// the object as it was, stamped with the deletion's revision).
#[derive(Debug, Clone)]
pub struct Committed {
    pub revision: u64,
    pub object: Arc<StoredObject>,
}

/// Why the storage could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (or an earlier open in this one) holds the database.
    #[error("the database is in use by another process")]
    InUse,
    #[error("storage failure: {0}")]
    Storage(String),
}

/// The largest object stored, in bytes of JSON (etcd's default request limit).
pub const MAX_OBJECT: usize = 1536 * 1024;

/// Why a transaction was not committed. Nothing of it was written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    #[error("{0:?} already exists")]
    AlreadyExists(ObjectKey),
    #[error("{0:?} not found")]
    NotFound(ObjectKey),
    #[error("{key:?} is at revision {actual}, not {expected}")]
    Conflict {
        key: ObjectKey,
        expected: u64,
        actual: u64,
    },
    #[error("{key:?} would be {size} bytes, over the limit of {MAX_OBJECT}")]
    TooLarge { key: ObjectKey, size: usize },
    #[error("storage failure: {0}")]
    Storage(String),
}

/// A watch starting point that is no longer in the history.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("too old resource version: {requested} ({oldest})")]
pub struct Expired {
    pub requested: u64,
    /// The oldest revision a watch can still start from.
    pub oldest: u64,
}

/// Tuning of the storage layer.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many events are kept for watches to replay (in memory and in the on-disk log); a watch
    /// from an older revision gets 410 Expired.
    pub history: usize,
    /// At most this many transactions share one durable commit.
    pub max_batch: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            history: 20_000,
            max_batch: 1024,
        }
    }
}

/// The store's storage: cheap to clone, shared by every request handler.
#[derive(Clone)]
pub struct Storage {
    cache: Arc<RwLock<cache::Cache>>,
    fanout: Arc<Fanout>,
    commits: std::sync::mpsc::SyncSender<committer::Pending>,
}

/// A live subscription: the events already in history after the requested revision, then the
/// receiver for everything newer that may concern the subscriber. Events may repeat across the
/// two; skip revisions already seen.
pub struct Subscription {
    pub backlog: Vec<Arc<Event>>,
    pub live: Live,
}

impl Storage {
    /// Opens (or creates) the database at `path`, loading every object and the event history.
    pub fn open(path: &Path, options: Options) -> Result<Storage, OpenError> {
        let disk = disk::Disk::open(path).map_err(|e| match e {
            redb::Error::DatabaseAlreadyOpen => OpenError::InUse,
            other => OpenError::Storage(other.to_string()),
        })?;
        let cache = disk
            .load(options.history)
            .map_err(|e| OpenError::Storage(e.to_string()))?;
        let cache = Arc::new(RwLock::new(cache));
        let fanout = Arc::new(Fanout::default());
        let commits = committer::start(disk, cache.clone(), fanout.clone(), options);
        Ok(Storage {
            cache,
            fanout,
            commits,
        })
    }

    /// Commits `ops` atomically and durably: either all preconditions hold and every op is written,
    /// or nothing is.
    pub async fn commit(&self, ops: Vec<Op>) -> Result<Vec<Committed>, CommitError> {
        let (reply, done) = oneshot::channel();
        // Serialized here, on the writer's task, not on the one committer thread.
        let ops = ops
            .into_iter()
            .map(committer::Staged::new)
            .collect::<Result<_, _>>()?;
        self.commits
            .send(committer::Pending { ops, reply })
            .map_err(|_| CommitError::Storage("the committer has stopped".into()))?;
        done.await
            .map_err(|_| CommitError::Storage("the committer has stopped".into()))?
    }

    /// Commits one op and returns its result.
    pub async fn commit_one(&self, op: Op) -> Result<Committed, CommitError> {
        let mut done = self.commit(vec![op]).await?;
        Ok(done.remove(0))
    }

    /// The latest committed revision.
    pub fn revision(&self) -> u64 {
        self.read().revision
    }

    /// The object at `key`, if any.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<StoredObject>> {
        self.read().get(key)
    }

    /// Objects of `resource` (in `namespace`, or all when `None`) in key order, starting after
    /// `after` (namespace, name), with the revision the listing reflects.
    pub fn list(
        &self,
        resource: &str,
        namespace: Option<&str>,
        after: Option<(&str, &str)>,
        mut keep: impl FnMut(&StoredObject) -> bool,
        limit: Option<usize>,
    ) -> (Vec<Arc<StoredObject>>, u64, bool) {
        let cache = self.read();
        let mut out = Vec::new();
        let mut more = false;
        for obj in cache.range(resource, namespace, after) {
            if !keep(&obj) {
                continue;
            }
            if limit.is_some_and(|l| out.len() >= l) {
                more = true;
                break;
            }
            out.push(obj);
        }
        (out, cache.revision, more)
    }

    /// The object whose `metadata.uid` is `uid`, if any.
    pub fn by_uid(&self, uid: &str) -> Option<Arc<StoredObject>> {
        self.read().by_uid(uid)
    }

    /// The objects naming `uid` in their `metadata.ownerReferences` (whether or not an object with
    /// that uid exists), in no particular order.
    pub fn dependents(&self, uid: &str) -> Vec<Arc<StoredObject>> {
        self.read().dependents(uid)
    }

    /// Number of objects of `resource` (all namespaces).
    pub fn count(&self, resource: &str) -> usize {
        self.read().count(resource)
    }

    /// Subscribes to the events after revision `from` that `interest` may concern.
    pub fn subscribe(&self, from: u64, interest: Interest) -> Result<Subscription, Expired> {
        let cache = self.read();
        // Subscribing under the read lock means no event is published between the backlog copy and
        // the subscription: the committer publishes while holding the write lock.
        let live = self.fanout.subscribe(interest);
        let backlog = cache.since(from)?;
        Ok(Subscription { backlog, live })
    }

    /// Events after `from`, for a subscriber that fell behind the live channel.
    pub fn since(&self, from: u64) -> Result<Vec<Arc<Event>>, Expired> {
        self.read().since(from)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, cache::Cache> {
        self.cache.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new(&Arc::from("/configmaps"), "default", name)
    }

    fn put(name: &str, expect: Expect) -> Op {
        Op::Put {
            key: key(name),
            object: json!({"metadata": {"name": name, "labels": {"a": "b"}}}),
            expect,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_get_consecutive_revisions_that_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let storage = Storage::open(&path, Options::default()).unwrap();
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let s = storage.clone();
                tokio::spawn(
                    async move { s.commit_one(put(&format!("cm-{i}"), Expect::Absent)).await },
                )
            })
            .collect();
        let mut revisions = Vec::new();
        for t in tasks {
            revisions.push(t.await.unwrap().unwrap().revision);
        }
        revisions.sort();
        assert_eq!(revisions, (1..=100).collect::<Vec<u64>>());
        let stored = storage.get(&key("cm-7")).unwrap();
        assert_eq!(
            stored.value()["metadata"]["resourceVersion"],
            json!(stored.revision.to_string())
        );
        drop(storage);
        // The committer thread holds the database until its channel closes.
        let reopened = loop {
            match Storage::open(&path, Options::default()) {
                Ok(s) => break s,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        };
        assert_eq!(reopened.revision(), 100);
        assert_eq!(reopened.count("/configmaps"), 100);
        assert_eq!(reopened.since(50).unwrap().len(), 50);
    }

    #[tokio::test]
    async fn a_database_another_storage_holds_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let _first = Storage::open(&path, Options::default()).unwrap();
        assert!(matches!(
            Storage::open(&path, Options::default()),
            Err(OpenError::InUse)
        ));
    }

    #[tokio::test]
    async fn preconditions_are_checked_and_failed_transactions_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&dir.path().join("s.redb"), Options::default()).unwrap();
        let first = storage.commit_one(put("a", Expect::Absent)).await.unwrap();
        assert!(matches!(
            storage.commit_one(put("a", Expect::Absent)).await,
            Err(CommitError::AlreadyExists(_))
        ));
        assert!(matches!(
            storage
                .commit_one(put("a", Expect::Revision(first.revision + 5)))
                .await,
            Err(CommitError::Conflict { .. })
        ));
        // All or nothing: the second op's failure leaves the first unwritten.
        let err = storage
            .commit(vec![put("b", Expect::Absent), put("a", Expect::Absent)])
            .await;
        assert!(err.is_err());
        assert!(storage.get(&key("b")).is_none());
        assert_eq!(storage.revision(), first.revision);
        storage
            .commit_one(Op::Delete {
                key: key("a"),
                expect: Expect::Revision(first.revision),
            })
            .await
            .unwrap();
        assert!(storage.get(&key("a")).is_none());
        let sub = storage.subscribe(0, Interest::everything()).unwrap();
        let kinds: Vec<EventKind> = sub.backlog.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventKind::Added, EventKind::Deleted]);
    }

    #[tokio::test]
    async fn an_object_over_the_limit_is_refused_and_nothing_of_its_transaction_written() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&dir.path().join("s.redb"), Options::default()).unwrap();
        let big = Op::Put {
            key: key("big"),
            object: json!({"metadata": {"name": "big"}, "data": "x".repeat(MAX_OBJECT)}),
            expect: Expect::Absent,
        };
        let refused = storage
            .commit(vec![put("small", Expect::Absent), big])
            .await;
        assert!(
            matches!(refused, Err(CommitError::TooLarge { size, .. }) if size > MAX_OBJECT),
            "{refused:?}"
        );
        assert!(storage.get(&key("small")).is_none());
        assert_eq!(storage.revision(), 0);
    }

    #[tokio::test]
    async fn the_ownership_index_follows_commits_and_is_rebuilt_on_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let owned = |name: &str, uid: &str, owners: &[&str]| {
            let refs: Vec<Value> = owners.iter().map(|u| json!({"uid": u})).collect();
            json!({"metadata": {"name": name, "uid": uid, "ownerReferences": refs}})
        };
        let names = |objects: Vec<Arc<StoredObject>>| {
            let mut n: Vec<String> = objects.iter().map(|o| o.key.name.clone()).collect();
            n.sort();
            n
        };
        let storage = Storage::open(&path, Options::default()).unwrap();
        let mut ops = vec![Op::Put {
            key: key("owner"),
            object: owned("owner", "u-owner", &[]),
            expect: Expect::Absent,
        }];
        for (name, owners) in [("a", &["u-owner"][..]), ("b", &["u-owner", "u-a"])] {
            ops.push(Op::Put {
                key: key(name),
                object: owned(name, &format!("u-{name}"), owners),
                expect: Expect::Absent,
            });
        }
        storage.commit(ops).await.unwrap();
        assert_eq!(storage.by_uid("u-a").unwrap().key, key("a"));
        assert_eq!(names(storage.dependents("u-owner")), ["a", "b"]);
        // b released by the owner; the owner deleted: its remaining dependent is still found.
        storage
            .commit(vec![
                Op::Put {
                    key: key("b"),
                    object: owned("b", "u-b", &["u-a"]),
                    expect: Expect::Present,
                },
                Op::Delete {
                    key: key("owner"),
                    expect: Expect::Present,
                },
            ])
            .await
            .unwrap();
        assert!(storage.by_uid("u-owner").is_none());
        assert_eq!(names(storage.dependents("u-owner")), ["a"]);
        assert_eq!(names(storage.dependents("u-a")), ["b"]);
        drop(storage);
        let reopened = loop {
            match Storage::open(&path, Options::default()) {
                Ok(s) => break s,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        };
        assert_eq!(names(reopened.dependents("u-owner")), ["a"]);
        assert_eq!(names(reopened.dependents("u-a")), ["b"]);
        assert_eq!(reopened.by_uid("u-b").unwrap().key, key("b"));
        assert!(reopened.by_uid("u-owner").is_none());
    }

    #[tokio::test]
    async fn watches_older_than_the_history_expire() {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            history: 3,
            ..Options::default()
        };
        let storage = Storage::open(&dir.path().join("s.redb"), options).unwrap();
        for i in 0..6 {
            storage
                .commit_one(put(&format!("x{i}"), Expect::Absent))
                .await
                .unwrap();
        }
        assert!(storage.subscribe(1, Interest::everything()).is_err());
        let sub = storage.subscribe(3, Interest::everything()).unwrap();
        assert_eq!(sub.backlog.len(), 3);
    }
}
