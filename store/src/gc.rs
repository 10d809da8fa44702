//! What kube-controller-manager does in a real cluster, for the embedded store: garbage collection
//! by ownerReferences (background, foreground, orphan), namespace deletion, and the removal of a
//! deleted CRD's objects. It acts only through the API server's own verbs, as a client would.
//!
//! Runs after every batch of changes that could need it (deletions, objects marked for deletion),
//! scanning the stored objects; it never runs when nothing is being deleted.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::admission;
use crate::crd::CLEANUP_FINALIZER;
use crate::registry::Resource;
use crate::request::Query;
use crate::server::Shared;
use crate::storage::{EventKind, Interest, Missed, StoredObject};
use crate::write::{DeleteOptions, PatchType};

const MANAGER: &str = "strata-garbage-collector";

pub fn start(server: Shared) {
    tokio::spawn(async move {
        let Ok(sub) = server
            .storage
            .subscribe(server.storage.revision(), Interest::everything())
        else {
            return;
        };
        let mut live = sub.live;
        // One pass at start: deletions may have been interrupted by a restart.
        let mut dirty = true;
        loop {
            if dirty {
                tokio::time::sleep(Duration::from_millis(50)).await;
                while live.try_recv().is_some() {}
                if let Err(e) = pass(&server).await {
                    tracing::warn!(error = %e, "garbage collection pass failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
            match live.recv().await {
                Ok(e) => {
                    dirty = e.kind == EventKind::Deleted
                        || e.object.json.windows(17).any(|w| w == b"deletionTimestamp");
                }
                Err(Missed::Lagged) => dirty = true,
                Err(Missed::Closed) => return,
            }
        }
    });
}

struct Obj {
    res: Arc<Resource>,
    stored: Arc<StoredObject>,
    value: Value,
}

impl Obj {
    fn ns(&self) -> Option<&str> {
        Some(self.stored.key.namespace.as_str()).filter(|s| !s.is_empty())
    }
    fn name(&self) -> &str {
        &self.stored.key.name
    }
    fn uid(&self) -> &str {
        admission::meta_str(&self.value, "uid").unwrap_or("")
    }
    fn owners(&self) -> Vec<String> {
        self.value
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|o| o.get("uid").and_then(Value::as_str).map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
    fn deleting(&self) -> bool {
        self.value.pointer("/metadata/deletionTimestamp").is_some()
    }
}

/// One full pass; repeats while it still made progress.
async fn pass(server: &Shared) -> Result<(), crate::errors::ApiError> {
    for _ in 0..100 {
        if !step(server).await? {
            return Ok(());
        }
    }
    Ok(())
}

async fn step(server: &Shared) -> Result<bool, crate::errors::ApiError> {
    let mut objects = Vec::new();
    for res in server.registry.storage_resources() {
        let (items, _, _) = server
            .storage
            .list(&res.storage, None, None, |_| true, None);
        for stored in items {
            let value = stored.value();
            objects.push(Obj {
                res: res.clone(),
                stored,
                value,
            });
        }
    }
    let uids: HashSet<String> = objects.iter().map(|o| o.uid().to_string()).collect();
    let mut dependents: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, o) in objects.iter().enumerate() {
        for owner in o.owners() {
            dependents.entry(owner).or_default().push(i);
        }
    }
    let background = DeleteOptions {
        propagation: Some("Background".into()),
        ..Default::default()
    };
    let mut progress = false;
    for o in &objects {
        let owners = o.owners();
        // Dependents whose owners are all gone go too (background deletion).
        if !owners.is_empty() && !o.deleting() && owners.iter().all(|u| !uids.contains(u)) {
            ignore_gone(server.delete(&o.res, o.ns(), o.name(), &background).await)?;
            progress = true;
            continue;
        }
        if !o.deleting() {
            continue;
        }
        let finalizers = admission::finalizers(&o.value);
        let deps: &[usize] = dependents.get(o.uid()).map(Vec::as_slice).unwrap_or(&[]);
        if finalizers.iter().any(|f| f == "orphan") {
            for &d in deps {
                let dep = &objects[d];
                let kept: Vec<Value> = dep
                    .value
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter(|r| r.get("uid").and_then(Value::as_str) != Some(o.uid()))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                let patch = json!({"metadata": {"ownerReferences": if kept.is_empty() { Value::Null } else { json!(kept) }}});
                ignore_gone(merge(server, dep, patch).await)?;
            }
            remove_finalizer(server, o, "orphan").await?;
            progress = true;
        } else if finalizers.iter().any(|f| f == "foregroundDeletion") {
            if deps.is_empty() {
                remove_finalizer(server, o, "foregroundDeletion").await?;
            } else {
                let fg = DeleteOptions {
                    propagation: Some("Foreground".into()),
                    ..Default::default()
                };
                for &d in deps {
                    let dep = &objects[d];
                    if !dep.deleting() {
                        ignore_gone(server.delete(&dep.res, dep.ns(), dep.name(), &fg).await)?;
                    }
                }
            }
            progress = true;
        } else if finalizers.iter().any(|f| f == CLEANUP_FINALIZER)
            && o.res.plural == "customresourcedefinitions"
        {
            let group = o
                .value
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or("");
            let plural = o
                .value
                .pointer("/spec/names/plural")
                .and_then(Value::as_str)
                .unwrap_or("");
            let storage = format!("{group}/{plural}");
            let members: Vec<&Obj> = objects
                .iter()
                .filter(|x| *x.stored.key.resource == *storage)
                .collect();
            if members.is_empty() {
                remove_finalizer(server, o, CLEANUP_FINALIZER).await?;
            } else {
                for m in members {
                    if !m.deleting() {
                        ignore_gone(server.delete(&m.res, m.ns(), m.name(), &background).await)?;
                    }
                }
            }
            progress = true;
        } else if o.res.group.is_empty() && o.res.plural == "namespaces" {
            let members: Vec<&Obj> = objects
                .iter()
                .filter(|x| x.res.namespaced && x.stored.key.namespace == o.name())
                .collect();
            if members.is_empty() {
                let opts = DeleteOptions::default();
                let key = server.key(&o.res, None, o.name());
                let _ = server
                    .storage
                    .commit_one(crate::storage::Op::Delete {
                        key,
                        expect: crate::storage::Expect::Revision(o.stored.revision),
                    })
                    .await;
                let _ = opts;
            } else {
                for m in members {
                    if !m.deleting() {
                        ignore_gone(server.delete(&m.res, m.ns(), m.name(), &background).await)?;
                    }
                }
            }
            progress = true;
        }
    }
    Ok(progress)
}

fn ignore_gone<T>(r: Result<T, crate::errors::ApiError>) -> Result<(), crate::errors::ApiError> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code == http::StatusCode::NOT_FOUND || e.code == http::StatusCode::CONFLICT => {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

async fn merge(server: &Shared, o: &Obj, patch: Value) -> Result<(), crate::errors::ApiError> {
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

async fn remove_finalizer(
    server: &Shared,
    o: &Obj,
    finalizer: &str,
) -> Result<(), crate::errors::ApiError> {
    let kept: Vec<String> = admission::finalizers(&o.value)
        .into_iter()
        .filter(|f| f != finalizer)
        .collect();
    ignore_gone(merge(server, o, json!({"metadata": {"finalizers": kept}})).await)
}
