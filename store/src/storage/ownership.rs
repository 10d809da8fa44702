//! Who owns whom: every stored object by its `metadata.uid`, and by each uid the objects that name
//! it in their `metadata.ownerReferences` (kube-controller-manager's garbage collector keeps the
//! same dependency graph, fed by its informers).
//!
//! Why it exists: the garbage collector used to list every stored object to find the dependents of
//! what was deleted, so each deletion cost in proportion to everything stored. The cache keeps this
//! index in step with its objects, under the same lock and in the same order as the commits it
//! applies, so a reader never sees an object the index does not know of, nor the reverse. It holds
//! keys, not objects: look them up in the cache.

use std::collections::{HashMap, HashSet};

use super::ObjectKey;
use super::cache::StoredObject;

#[derive(Default)]
pub struct Ownership {
    /// uid -> the object that has it.
    by_uid: HashMap<String, ObjectKey>,
    /// Owner uid -> the objects naming it among their owners (whether or not it exists).
    dependents: HashMap<String, HashSet<ObjectKey>>,
}

impl Ownership {
    /// Takes in an object as stored now, given what was stored under its key before.
    pub fn replace(&mut self, old: Option<&StoredObject>, new: Option<&StoredObject>) {
        if let (Some(old), Some(new)) = (old, new)
            && old.uid == new.uid
            && old.owners == new.owners
        {
            // Most writes (status, labels, finalizers) change neither.
            return;
        }
        if let Some(old) = old {
            self.remove(old);
        }
        if let Some(new) = new {
            self.add(new);
        }
    }

    fn add(&mut self, o: &StoredObject) {
        if !o.uid.is_empty() {
            self.by_uid.insert(o.uid.clone(), o.key.clone());
        }
        for owner in &o.owners {
            self.dependents
                .entry(owner.clone())
                .or_default()
                .insert(o.key.clone());
        }
    }

    fn remove(&mut self, o: &StoredObject) {
        // Only if the uid is indexed as this object's (uids are unique; were two objects to share
        // one, removing the one not indexed must not unlink the other).
        if self.by_uid.get(&o.uid) == Some(&o.key) {
            self.by_uid.remove(&o.uid);
        }
        for owner in &o.owners {
            if let Some(deps) = self.dependents.get_mut(owner) {
                deps.remove(&o.key);
                if deps.is_empty() {
                    self.dependents.remove(owner);
                }
            }
        }
    }

    /// The key of the object whose uid is `uid`.
    pub fn object(&self, uid: &str) -> Option<&ObjectKey> {
        self.by_uid.get(uid)
    }

    /// The keys of the objects naming `uid` among their owners.
    pub fn dependents(&self, uid: &str) -> impl Iterator<Item = &ObjectKey> {
        self.dependents.get(uid).into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use serde_json::{Value, json};

    use super::*;

    fn object(name: &str, uid: &str, owners: &[&str]) -> StoredObject {
        let refs: Vec<Value> = owners.iter().map(|u| json!({"uid": u})).collect();
        let v = json!({"metadata": {"name": name, "uid": uid, "ownerReferences": refs}});
        let key = ObjectKey::new(&Arc::from("/configmaps"), "ns", name);
        StoredObject::new(key, 1, Bytes::from(v.to_string()), &v)
    }

    fn dependents(o: &Ownership, uid: &str) -> Vec<String> {
        let mut names: Vec<String> = o.dependents(uid).map(|k| k.name.clone()).collect();
        names.sort();
        names
    }

    #[test]
    fn follows_objects_through_changes_of_owners_and_deletion() {
        let mut o = Ownership::default();
        let a = object("a", "ua", &[]);
        let b = object("b", "ub", &["ua"]);
        let c = object("c", "uc", &["ua", "ub"]);
        for x in [&a, &b, &c] {
            o.replace(None, Some(x));
        }
        assert_eq!(o.object("ub").map(|k| k.name.as_str()), Some("b"));
        assert_eq!(dependents(&o, "ua"), ["b", "c"]);
        assert_eq!(dependents(&o, "ub"), ["c"]);

        // c released by a: still b's.
        let c2 = object("c", "uc", &["ub"]);
        o.replace(Some(&c), Some(&c2));
        assert_eq!(dependents(&o, "ua"), ["b"]);
        assert_eq!(dependents(&o, "ub"), ["c"]);

        // a deleted: b still names it, so it is still found as a's dependent.
        o.replace(Some(&a), None);
        assert_eq!(o.object("ua"), None);
        assert_eq!(dependents(&o, "ua"), ["b"]);

        o.replace(Some(&b), None);
        o.replace(Some(&c2), None);
        assert!(
            o.by_uid.is_empty() && o.dependents.is_empty(),
            "nothing left"
        );
    }

    #[test]
    fn a_duplicate_uid_does_not_unlink_the_other_object() {
        let mut o = Ownership::default();
        let a = object("a", "u", &[]);
        let b = object("b", "u", &[]);
        o.replace(None, Some(&a));
        o.replace(None, Some(&b));
        o.replace(Some(&a), None);
        assert_eq!(o.object("u").map(|k| k.name.as_str()), Some("b"));
    }
}
