//! The in-memory copy of every object and of the recent event history (kube-apiserver's "watch
//! cache"), with the [`Ownership`] index of the objects' owners. Reads are served from here; only
//! the committer changes it, after a durable commit.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::ownership::Ownership;
use super::{Expired, ObjectKey};

/// An object as stored: its serialized JSON (with `metadata.resourceVersion` set) and what
/// selectors and the garbage collector need without parsing it.
#[derive(Debug)]
pub struct StoredObject {
    pub key: ObjectKey,
    /// The revision that last wrote it (its resourceVersion).
    pub revision: u64,
    pub json: Bytes,
    pub labels: Vec<(String, String)>,
    /// `metadata.uid` (empty if it has none).
    pub uid: String,
    /// The uids in `metadata.ownerReferences`, in order.
    pub owners: Vec<String>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
}

/// What the cache indexes of an object's metadata, read off it once.
#[derive(Debug)]
pub(super) struct Meta {
    labels: Vec<(String, String)>,
    uid: String,
    owners: Vec<String>,
    deleting: bool,
}

impl Meta {
    pub(super) fn of(object: &Value) -> Meta {
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let meta = object.get("metadata");
        let uid = meta
            .and_then(|m| m.get("uid"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let owners = meta
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
            .map(|refs| {
                refs.iter()
                    .filter_map(|r| r.get("uid").and_then(Value::as_str).map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let deleting = meta.is_some_and(|m| m.get("deletionTimestamp").is_some());
        Meta {
            labels,
            uid,
            owners,
            deleting,
        }
    }
}

impl StoredObject {
    pub(crate) fn new(key: ObjectKey, revision: u64, json: Bytes, object: &Value) -> Self {
        StoredObject::with_meta(key, revision, json, Meta::of(object))
    }

    pub(super) fn with_meta(key: ObjectKey, revision: u64, json: Bytes, meta: Meta) -> Self {
        StoredObject {
            key,
            revision,
            json,
            labels: meta.labels,
            uid: meta.uid,
            owners: meta.owners,
            deleting: meta.deleting,
        }
    }

    /// The object as JSON.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).expect("stored objects are valid JSON")
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// One change, as watches deliver it.
#[derive(Debug)]
pub struct Event {
    pub revision: u64,
    pub kind: EventKind,
    /// The object after the change (for a delete: its last state, stamped with the delete's revision).
    pub object: Arc<StoredObject>,
    /// The object before the change, so selector watches can tell an object leaving their set.
    pub prev: Option<Arc<StoredObject>>,
}

type Table = BTreeMap<(String, String), Arc<StoredObject>>;

pub struct Cache {
    pub revision: u64,
    /// Watches may start from this revision or later.
    pub oldest: u64,
    tables: HashMap<Arc<str>, Table>,
    /// Kept in step with `tables`: every change to one is made to the other at once.
    ownership: Ownership,
    history: VecDeque<Arc<Event>>,
    capacity: usize,
}

impl Cache {
    pub fn new(revision: u64, capacity: usize) -> Cache {
        Cache {
            revision,
            oldest: revision,
            tables: HashMap::new(),
            ownership: Ownership::default(),
            history: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn get(&self, key: &ObjectKey) -> Option<Arc<StoredObject>> {
        self.tables
            .get(&key.resource)?
            .get(&(key.namespace.clone(), key.name.clone()))
            .cloned()
    }

    pub fn count(&self, resource: &str) -> usize {
        self.tables.get(resource).map_or(0, BTreeMap::len)
    }

    /// Objects of a resource in key order, optionally within one namespace and after a key.
    pub fn range<'a>(
        &'a self,
        resource: &str,
        namespace: Option<&'a str>,
        after: Option<(&str, &str)>,
    ) -> impl Iterator<Item = Arc<StoredObject>> + 'a {
        let start = match (after, namespace) {
            (Some((ns, name)), _) => Bound::Excluded((ns.to_string(), name.to_string())),
            (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        self.tables
            .get(resource)
            .into_iter()
            .flat_map(move |t| t.range((start.clone(), Bound::Unbounded)))
            .take_while(move |((ns, _), _)| namespace.is_none_or(|want| ns == want))
            .map(|(_, o)| o.clone())
    }

    /// The object whose `metadata.uid` is `uid`.
    pub fn by_uid(&self, uid: &str) -> Option<Arc<StoredObject>> {
        self.get(self.ownership.object(uid)?)
    }

    /// The objects naming `uid` in their `metadata.ownerReferences`, whether or not it exists.
    pub fn dependents(&self, uid: &str) -> Vec<Arc<StoredObject>> {
        self.ownership
            .dependents(uid)
            .filter_map(|k| self.get(k))
            .collect()
    }

    /// Inserts an object while loading from disk (no event).
    pub fn load(&mut self, object: Arc<StoredObject>) {
        let k = &object.key;
        let old = self
            .tables
            .entry(k.resource.clone())
            .or_default()
            .insert((k.namespace.clone(), k.name.clone()), object.clone());
        self.ownership.replace(old.as_deref(), Some(&object));
    }

    /// Appends a historical event while loading from disk.
    pub fn load_event(&mut self, event: Arc<Event>) {
        if self.history.is_empty() {
            self.oldest = event.revision - 1;
        }
        self.history.push_back(event);
        self.trim();
    }

    /// Applies a committed event: updates the objects and the history.
    pub fn apply(&mut self, event: Arc<Event>) {
        let k = &event.object.key;
        let table = self.tables.entry(k.resource.clone()).or_default();
        let id = (k.namespace.clone(), k.name.clone());
        match event.kind {
            EventKind::Deleted => {
                let old = table.remove(&id);
                self.ownership.replace(old.as_deref(), None);
            }
            _ => {
                let old = table.insert(id, event.object.clone());
                self.ownership.replace(old.as_deref(), Some(&event.object));
            }
        }
        self.revision = event.revision;
        if self.history.is_empty() && self.oldest + 1 != event.revision {
            self.oldest = event.revision - 1;
        }
        self.history.push_back(event);
        self.trim();
    }

    fn trim(&mut self) {
        while self.history.len() > self.capacity {
            if let Some(e) = self.history.pop_front() {
                self.oldest = e.revision;
            }
        }
    }

    /// Every event after revision `from`, or `Expired` if some of them are no longer kept.
    pub fn since(&self, from: u64) -> Result<Vec<Arc<Event>>, Expired> {
        if from < self.oldest {
            return Err(Expired {
                requested: from,
                oldest: self.oldest,
            });
        }
        // Revisions in the history are consecutive, so the start is found by arithmetic.
        let skip = match self.history.front() {
            Some(first) if from >= first.revision => (from - first.revision + 1) as usize,
            _ => 0,
        };
        Ok(self.history.iter().skip(skip).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(rev: u64, name: &str, kind: EventKind) -> Arc<Event> {
        let key = ObjectKey::new(&Arc::from("g/things"), "ns", name);
        let v = serde_json::json!({"metadata": {"name": name, "labels": {"a": "b"}}});
        Arc::new(Event {
            revision: rev,
            kind,
            object: Arc::new(StoredObject::new(key, rev, Bytes::from(v.to_string()), &v)),
            prev: None,
        })
    }

    #[test]
    fn history_replays_after_revision_and_expires_when_trimmed() {
        let mut c = Cache::new(0, 3);
        for (rev, name) in [(1, "a"), (2, "b"), (3, "c"), (4, "d")] {
            c.apply(event(rev, name, EventKind::Added));
        }
        assert_eq!(c.oldest, 1);
        let revs: Vec<u64> = c.since(2).unwrap().iter().map(|e| e.revision).collect();
        assert_eq!(revs, vec![3, 4]);
        assert!(c.since(4).unwrap().is_empty());
        assert!(c.since(0).is_err());
        assert_eq!(c.count("g/things"), 4);
        c.apply(event(5, "a", EventKind::Deleted));
        assert_eq!(c.count("g/things"), 3);
        let names: Vec<String> = c
            .range("g/things", Some("ns"), Some(("ns", "b")))
            .map(|o| o.key.name.clone())
            .collect();
        assert_eq!(names, vec!["c", "d"]);
        assert_eq!(c.range("g/things", Some("other"), None).count(), 0);
    }
}
