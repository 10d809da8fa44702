//! An object serialized before it reaches the committer, with a hole where its revision goes.
//!
//! Why it exists: every write passes through the one committer thread, and an object's
//! `metadata.resourceVersion` is its commit's revision, known only there. Serializing each
//! object on that thread (and cloning it to stamp the revision in) made the committer the
//! store's bottleneck. Instead the writer's own task serializes the object with a marker in
//! place of the revision and reads off the metadata the cache indexes; the committer only
//! splices the revision's digits into the bytes.
//!
//! The marker holds a random token made once per process, so no object a client sends can
//! contain it: the only `"resourceVersion":"<marker>"` in the bytes is the one put there.

use std::sync::LazyLock;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;

use super::ObjectKey;
use super::cache::{Meta, StoredObject};

static MARKER: LazyLock<String> =
    LazyLock::new(|| format!("strata-revision-{:016x}", rand::random::<u64>()));
/// What is searched for in the serialized object: the marker as the resourceVersion's value.
static NEEDLE: LazyLock<String> = LazyLock::new(|| format!(r#""resourceVersion":"{}""#, *MARKER));

/// An object's JSON, less its revision.
#[derive(Debug)]
pub struct Template {
    json: Vec<u8>,
    /// Where the marker sits in `json`, if the object has metadata to stamp.
    hole: Option<(usize, usize)>,
    meta: Meta,
}

impl Template {
    pub fn new(mut object: Value) -> Template {
        let stamped = match object.get_mut("metadata").and_then(Value::as_object_mut) {
            Some(meta) => {
                meta.insert("resourceVersion".into(), Value::String(MARKER.clone()));
                true
            }
            None => false,
        };
        let json = serde_json::to_vec(&object).expect("a serde_json::Value always serializes");
        let hole = stamped
            .then(|| {
                let at = memchr::memmem::find(&json, NEEDLE.as_bytes())?;
                let start = at + NEEDLE.len() - MARKER.len() - 1;
                Some((start, start + MARKER.len()))
            })
            .flatten();
        Template {
            meta: Meta::of(&object),
            json,
            hole,
        }
    }

    /// The object's size in bytes of JSON, less its revision's digits.
    pub fn size(&self) -> usize {
        self.json.len() - self.hole.map_or(0, |(start, end)| end - start)
    }

    /// The object as stored under `key` at `revision`.
    pub fn fill(self, key: ObjectKey, revision: u64) -> StoredObject {
        let json = match self.hole {
            Some((start, end)) => {
                let digits = revision.to_string();
                let mut out = BytesMut::with_capacity(self.json.len() - (end - start) + 20);
                out.put_slice(&self.json[..start]);
                out.put_slice(digits.as_bytes());
                out.put_slice(&self.json[end..]);
                out.freeze()
            }
            None => Bytes::from(self.json),
        };
        StoredObject::with_meta(key, revision, json, self.meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_revision_lands_in_the_metadata_and_nowhere_else() {
        let key = ObjectKey::new(&std::sync::Arc::from("/configmaps"), "ns", "c");
        let object = json!({
            "data": {"resourceVersion": "keep me"},
            "metadata": {"name": "c", "resourceVersion": "7", "labels": {"a": "b"}, "uid": "u1"},
        });
        let template = Template::new(object.clone());
        let mut unstamped = object.clone();
        unstamped["metadata"]["resourceVersion"] = json!("");
        assert_eq!(template.size(), unstamped.to_string().len());
        let stored = template.fill(key, 1234);
        let mut expected = object;
        expected["metadata"]["resourceVersion"] = json!("1234");
        assert_eq!(stored.value(), expected);
        assert_eq!(stored.revision, 1234);
        assert_eq!(stored.labels, [("a".to_string(), "b".to_string())]);
        assert_eq!(stored.uid, "u1");

        let bare = Template::new(json!({"kind": "x"})).fill(stored.key.clone(), 5);
        assert_eq!(
            bare.value(),
            json!({"kind": "x"}),
            "no metadata, nothing stamped"
        );
    }
}
