//! What kube-controller-manager does in a real cluster, for the embedded store: garbage collection
//! by ownerReferences (background, foreground, orphan), namespace deletion, and the removal of a
//! deleted CRD's objects. It acts only through the API server's own verbs, as a client would.
//!
//! Like kube-controller-manager's collector, it follows the committed changes and looks only at
//! the objects a change may concern: the changed object, its owners (before and after the change),
//! the dependents of a deleted object (found in the storage's ownership index), and the namespace
//! and CRD the object belongs to. Looking at an object applies the collector's rules (`settle`) to
//! its state now, so a change costs in proportion to what it concerns, not to everything stored.
//! It must never list every object per change: everything is looked at only at start (a deletion
//! may have been interrupted by a restart) and after losing track of the changes (they fell out
//! of the history).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::admission;
use crate::crd::CLEANUP_FINALIZER;
use crate::errors::{ApiError, ApiResult};
use crate::registry::Resource;
use crate::request::Query;
use crate::server::Shared;
use crate::storage::{
    CommitError, Event, EventKind, Expect, Interest, Live, Missed, ObjectKey, Op, StoredObject,
};
use crate::write::{DeleteOptions, PatchType};

const MANAGER: &str = "strata-garbage-collector";
/// Changes are gathered this long before the objects they concern are looked at, so a burst of
/// changes concerning one owner looks at it once.
const GATHER: Duration = Duration::from_millis(50);
/// The wait before looking again at the objects whose handling failed.
const RETRY: Duration = Duration::from_millis(500);
/// Writes (deletions, patches) in flight at once, so that they share the store's commits
/// (kube-controller-manager runs 20 collector workers).
const WRITES: usize = 32;

pub fn start(server: Shared) {
    tokio::spawn(async move {
        let from = server.storage.revision();
        let Ok(sub) = server.storage.subscribe(from, Interest::everything()) else {
            return;
        };
        let mut collector = Collector::new(server, from);
        for e in &sub.backlog {
            collector.take(e);
        }
        collector.run(sub.live).await;
    });
}

struct Collector {
    server: Shared,
    /// Where namespaces and CRDs are stored.
    namespaces: Arc<str>,
    crds: Arc<str>,
    /// The objects to look at: those changed, and those a change may concern.
    dirty: HashSet<ObjectKey>,
    /// Look at every object.
    everything: bool,
    /// Every change up to this revision is taken into `dirty` (or `everything`).
    seen: u64,
    writes: Semaphore,
}

impl Collector {
    fn new(server: Shared, seen: u64) -> Collector {
        let storage_of = |group: &str, plural: &str| {
            server
                .registry
                .get(group, "v1", plural)
                .expect("built-in")
                .storage
                .clone()
        };
        Collector {
            namespaces: storage_of("", "namespaces"),
            crds: storage_of("apiextensions.k8s.io", "customresourcedefinitions"),
            server,
            dirty: HashSet::new(),
            // At start: deletions may have been interrupted by a restart.
            everything: true,
            seen,
            writes: Semaphore::new(WRITES),
        }
    }

    async fn run(mut self, mut live: Live) {
        loop {
            if self.everything || !self.dirty.is_empty() {
                tokio::time::sleep(GATHER).await;
                while let Some(e) = live.try_recv() {
                    self.take(&e);
                }
                if let Err(e) = self.collect().await {
                    tracing::warn!(error = %e, "garbage collection failed; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
            match live.recv().await {
                Ok(e) => self.take(&e),
                Err(Missed::Lagged) => self.catch_up(),
                Err(Missed::Closed) => return,
            }
        }
    }

    /// Takes in one change from the live stream, after any it missed.
    fn take(&mut self, e: &Event) {
        if e.revision > self.seen + 1 {
            // Revisions are consecutive: the ones between were dropped while we were busy.
            self.catch_up();
        }
        if e.revision == self.seen + 1 {
            self.note(e);
            self.seen = e.revision;
        }
    }

    /// Takes in the changes after `seen` from the history, or, if they are no longer all there,
    /// resolves to look at everything.
    fn catch_up(&mut self) {
        match self.server.storage.since(self.seen) {
            Ok(events) => {
                for e in events {
                    if e.revision > self.seen {
                        self.note(&e);
                        self.seen = e.revision;
                    }
                }
            }
            Err(_) => {
                // Everything as stored from now on: later changes are noted as usual.
                self.seen = self.server.storage.revision();
                self.everything = true;
            }
        }
    }

    /// Marks what one change may concern.
    fn note(&mut self, e: &Event) {
        let storage = &self.server.storage;
        let o = &e.object;
        if e.kind != EventKind::Deleted {
            self.dirty.insert(o.key.clone());
        }
        // Its owners: one deleting in the foreground waits for its dependents to go, an orphaning
        // one releases them.
        let owners = o.owners.iter().chain(e.prev.iter().flat_map(|p| &p.owners));
        for uid in owners {
            if let Some(owner) = storage.by_uid(uid) {
                self.dirty.insert(owner.key.clone());
            }
        }
        // Its dependents, when it is gone.
        if e.kind == EventKind::Deleted && !o.uid.is_empty() {
            self.dirty
                .extend(storage.dependents(&o.uid).iter().map(|d| d.key.clone()));
        }
        // The namespace and the CRD it belongs to, which wait for their objects to go.
        if !o.key.namespace.is_empty() {
            self.dirty
                .insert(ObjectKey::new(&self.namespaces, "", &o.key.namespace));
        }
        if let Some((group, plural)) = o.key.resource.split_once('/')
            && !group.is_empty()
        {
            // A CRD is named `<plural>.<group>` (validated).
            let crd = format!("{plural}.{group}");
            self.dirty.insert(ObjectKey::new(&self.crds, "", &crd));
        }
        // A CRD's objects, when it changes: they may just have become served (the collector
        // handles only served resources' objects).
        if o.key.resource == self.crds && e.kind != EventKind::Deleted {
            let value = o.value();
            let s = |p: &str| value.pointer(p).and_then(Value::as_str).unwrap_or("");
            let members = format!("{}/{}", s("/spec/group"), s("/spec/names/plural"));
            let (items, _, _) = storage.list(&members, None, None, |_| true, None);
            self.dirty.extend(items.iter().map(|m| m.key.clone()));
        }
    }

    /// Looks at every object marked (or every object), as they are now; those whose handling
    /// failed stay marked.
    async fn collect(&mut self) -> ApiResult<()> {
        let served = Served::now(&self.server);
        let mut keys: Vec<ObjectKey> = std::mem::take(&mut self.dirty).into_iter().collect();
        if std::mem::take(&mut self.everything) {
            keys.clear();
            for storage in served.0.keys() {
                let (items, _, _) = self
                    .server
                    .storage
                    .list(storage, None, None, |_| true, None);
                keys.extend(items.iter().map(|o| o.key.clone()));
            }
        }
        let this = &*self;
        let failed: Vec<(ObjectKey, ApiError)> = futures::stream::iter(keys)
            .map(|key| {
                let served = &served;
                async move {
                    let r = this.settle(&key, served).await;
                    r.err().map(|e| (key, e))
                }
            })
            .buffer_unordered(WRITES)
            .filter_map(std::future::ready)
            .collect()
            .await;
        let mut first = None;
        for (key, e) in failed {
            self.dirty.insert(key);
            first.get_or_insert(e);
        }
        first.map_or(Ok(()), Err)
    }

    /// Does what one object's state asks of the collector now, if anything.
    async fn settle(&self, key: &ObjectKey, served: &Served) -> ApiResult<()> {
        let storage = &self.server.storage;
        let Some(o) = storage.get(key).and_then(|s| served.obj(s)) else {
            return Ok(());
        };
        // Dependents whose owners are all gone go too (background deletion).
        let stored = &o.stored;
        if !stored.owners.is_empty()
            && !stored.deleting
            && stored
                .owners
                .iter()
                .all(|u| !served.exists(&self.server, u))
        {
            let background = propagation("Background");
            return self
                .write(self.server.delete(&o.res, o.ns(), o.name(), &background))
                .await;
        }
        if !stored.deleting {
            return Ok(());
        }
        let value = stored.value();
        let finalizers = admission::finalizers(&value);
        let has = |f: &str| finalizers.iter().any(|x| x == f);
        if has("orphan") {
            self.orphan(&o, &value, served).await
        } else if has("foregroundDeletion") {
            self.foreground(&o, &value, served).await
        } else if has(CLEANUP_FINALIZER) && o.res.plural == "customresourcedefinitions" {
            self.crd_cleanup(&o, &value, served).await
        } else if o.res.group.is_empty() && o.res.plural == "namespaces" {
            self.namespace_cleanup(&o, served).await
        } else {
            Ok(())
        }
    }

    /// Orphan propagation: its dependents no longer name it, then it goes.
    async fn orphan(&self, o: &Obj, value: &Value, served: &Served) -> ApiResult<()> {
        let uid = &o.stored.uid;
        let releases = served.dependents(&self.server, uid).map(|dep| async move {
            let kept: Vec<Value> = dep
                .stored
                .value()
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter(|r| r.get("uid").and_then(Value::as_str) != Some(uid))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let refs = if kept.is_empty() {
                Value::Null
            } else {
                json!(kept)
            };
            let patch = json!({"metadata": {"ownerReferences": refs}});
            self.write(merge(&self.server, &dep, patch)).await
        });
        all(releases).await?;
        self.remove_finalizer(o, value, "orphan").await
    }

    /// Foreground propagation: its dependents are deleted (in the foreground too), and it goes
    /// once they are all gone.
    async fn foreground(&self, o: &Obj, value: &Value, served: &Served) -> ApiResult<()> {
        let deps: Vec<Obj> = served.dependents(&self.server, &o.stored.uid).collect();
        if deps.is_empty() {
            return self.remove_finalizer(o, value, "foregroundDeletion").await;
        }
        let foreground = propagation("Foreground");
        let foreground = &foreground;
        all(deps
            .into_iter()
            .filter(|d| !d.stored.deleting)
            .map(|d| async move {
                self.write(self.server.delete(&d.res, d.ns(), d.name(), foreground))
                    .await
            }))
        .await
    }

    /// A deleted CRD: its objects are deleted, and it goes once they are all gone.
    async fn crd_cleanup(&self, o: &Obj, value: &Value, served: &Served) -> ApiResult<()> {
        let s = |p: &str| value.pointer(p).and_then(Value::as_str).unwrap_or("");
        let storage = format!("{}/{}", s("/spec/group"), s("/spec/names/plural"));
        let members = served.list(&self.server, &storage, None);
        if members.is_empty() {
            return self.remove_finalizer(o, value, CLEANUP_FINALIZER).await;
        }
        self.delete_all(members).await
    }

    /// A deleted namespace: what is in it is deleted, and it goes once that is all gone.
    async fn namespace_cleanup(&self, o: &Obj, served: &Served) -> ApiResult<()> {
        let mut members = Vec::new();
        for res in served.0.values().filter(|r| r.namespaced) {
            members.extend(served.list(&self.server, &res.storage, Some(o.name())));
        }
        if !members.is_empty() {
            return self.delete_all(members).await;
        }
        let gone = self
            .server
            .storage
            .commit_one(Op::Delete {
                key: o.stored.key.clone(),
                expect: Expect::Revision(o.stored.revision),
            })
            .await;
        match gone {
            // Changed or gone since: the change is looked at in its turn.
            Ok(_) | Err(CommitError::Conflict { .. } | CommitError::NotFound(_)) => Ok(()),
            Err(e) => Err(ApiError::internal("storage failure", e)),
        }
    }

    /// Deletes (in the background) those of `objects` not being deleted yet.
    async fn delete_all(&self, objects: Vec<Obj>) -> ApiResult<()> {
        let background = propagation("Background");
        let background = &background;
        all(objects
            .into_iter()
            .filter(|m| !m.stored.deleting)
            .map(|m| async move {
                self.write(self.server.delete(&m.res, m.ns(), m.name(), background))
                    .await
            }))
        .await
    }

    async fn remove_finalizer(&self, o: &Obj, value: &Value, finalizer: &str) -> ApiResult<()> {
        let kept: Vec<String> = admission::finalizers(value)
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        let patch = json!({"metadata": {"finalizers": kept}});
        self.write(merge(&self.server, o, patch)).await
    }

    /// Makes one write, among at most [`WRITES`] at once. What was deleted or changed meanwhile
    /// is no failure: the change that did it is looked at in its turn.
    async fn write<T>(&self, write: impl Future<Output = ApiResult<T>>) -> ApiResult<()> {
        let _permit = self.writes.acquire().await.expect("never closed");
        match write.await {
            Ok(_) => Ok(()),
            Err(e)
                if e.code == http::StatusCode::NOT_FOUND
                    || e.code == http::StatusCode::CONFLICT =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// Runs `writes` together; the first failure, if any, once they are all done.
async fn all(writes: impl Iterator<Item = impl Future<Output = ApiResult<()>>>) -> ApiResult<()> {
    let done: Vec<ApiResult<()>> = futures::future::join_all(writes).await;
    done.into_iter().collect()
}

fn propagation(policy: &str) -> DeleteOptions {
    DeleteOptions {
        propagation: Some(policy.into()),
        ..Default::default()
    }
}

/// The served resources, by where their objects are stored: the collector handles only their
/// objects (and only they count as existing owners).
struct Served(HashMap<Arc<str>, Arc<Resource>>);

impl Served {
    fn now(server: &Shared) -> Served {
        let resources = server.registry.storage_resources();
        Served(
            resources
                .into_iter()
                .map(|r| (r.storage.clone(), r))
                .collect(),
        )
    }

    fn obj(&self, stored: Arc<StoredObject>) -> Option<Obj> {
        let res = self.0.get(&stored.key.resource)?.clone();
        Some(Obj { res, stored })
    }

    fn exists(&self, server: &Shared, uid: &str) -> bool {
        server
            .storage
            .by_uid(uid)
            .is_some_and(|o| self.0.contains_key(&o.key.resource))
    }

    fn dependents(&self, server: &Shared, uid: &str) -> impl Iterator<Item = Obj> {
        server
            .storage
            .dependents(uid)
            .into_iter()
            .filter_map(|d| self.obj(d))
    }

    fn list(&self, server: &Shared, storage: &str, namespace: Option<&str>) -> Vec<Obj> {
        if !self.0.contains_key(storage) {
            return Vec::new();
        }
        let (items, _, _) = server
            .storage
            .list(storage, namespace, None, |_| true, None);
        items.into_iter().filter_map(|o| self.obj(o)).collect()
    }
}

struct Obj {
    res: Arc<Resource>,
    stored: Arc<StoredObject>,
}

impl Obj {
    fn ns(&self) -> Option<&str> {
        Some(self.stored.key.namespace.as_str()).filter(|s| !s.is_empty())
    }
    fn name(&self) -> &str {
        &self.stored.key.name
    }
}

async fn merge(server: &Shared, o: &Obj, patch: Value) -> ApiResult<()> {
    let body = bytes::Bytes::from(patch.to_string());
    server
        .patch(
            &o.res,
            o.ns(),
            o.name(),
            None,
            PatchType::Merge,
            &body,
            &Query::default(),
            Some(MANAGER),
            None,
        )
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests;
