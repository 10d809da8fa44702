//! Reading objects without their managedFields.
//!
//! Why it exists: every object the store (or kube-apiserver) sends carries managedFields,
//! server-side apply's record of which manager set which field — for a Task, more than half of
//! its JSON. No controller or agent reads them, yet decoding them into JSON values for every
//! watch event and every write's answer was ~8% of all the CPU in `strata bench master`.
//! [`Lean<K>`] reads a `K` and skips `metadata.managedFields` without building it, so
//! `Api<Lean<Task>>` watches and writes like `Api<Task>` at a fraction of the decoding.
//!
//! A lean object has no Serialize: it is read, not written back whole.

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Deserialize;
use serde::de::value::{BorrowedStrDeserializer, StrDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

/// A `K` read without `metadata.managedFields` (left empty).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lean<K>(pub K);

impl<K> std::ops::Deref for Lean<K> {
    type Target = K;
    fn deref(&self) -> &K {
        &self.0
    }
}

impl<K: Resource> Resource for Lean<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }
    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        self.0.meta()
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.0.meta_mut()
    }
}

impl<'de, K: Deserialize<'de>> Deserialize<'de> for Lean<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        K::deserialize(Filtered {
            inner: d,
            level: Level::Object,
        })
        .map(Lean)
    }
}

/// Where in the object a map is read.
#[derive(Clone, Copy, PartialEq)]
enum Level {
    /// The object itself: its `metadata` is read at [`Level::Metadata`].
    Object,
    /// The metadata: `managedFields` is skipped.
    Metadata,
}

/// A deserializer handing whatever reads it the maps of `inner` filtered for `level`. (The
/// JSON a client reads describes itself, so every request is answered as `deserialize_any`.)
struct Filtered<D> {
    inner: D,
    level: Level,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Filtered<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_any(FilteredVisitor {
            inner: visitor,
            level: self.level,
        })
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_option(FilteredVisitor {
            inner: visitor,
            level: self.level,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

/// The visitor of whatever reads a [`Filtered`]: maps are filtered, everything else passed on.
struct FilteredVisitor<V> {
    inner: V,
    level: Level,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for FilteredVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(Fields {
            map,
            level: self.level,
            metadata_next: false,
        })
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Filtered {
            inner: d,
            level: self.level,
        })
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }
}

/// The entries of a map read at `level`.
struct Fields<A> {
    map: A,
    level: Level,
    /// The key just read was the object's `metadata`.
    metadata_next: bool,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Fields<A> {
    type Error = A::Error;

    fn next_key_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        loop {
            let Some(key) = self.map.next_key::<Key<'de>>()? else {
                return Ok(None);
            };
            if self.level == Level::Metadata && key.as_str() == "managedFields" {
                self.map.next_value::<IgnoredAny>()?;
                continue;
            }
            self.metadata_next = self.level == Level::Object && key.as_str() == "metadata";
            return match key {
                Key::Borrowed(k) => seed.deserialize(BorrowedStrDeserializer::new(k)),
                Key::Owned(k) => seed.deserialize(StrDeserializer::new(&k)),
            }
            .map(Some);
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        if std::mem::take(&mut self.metadata_next) {
            self.map.next_value_seed(MetadataSeed(seed))
        } else {
            self.map.next_value_seed(seed)
        }
    }
}

/// Reads the metadata through a [`Filtered`] at [`Level::Metadata`].
struct MetadataSeed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for MetadataSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Filtered {
            inner: d,
            level: Level::Metadata,
        })
    }
}

/// A map key, borrowed from the input when it can be.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(k) => k,
            Key::Owned(k) => k,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, k: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(k))
            }
            fn visit_str<E: de::Error>(self, k: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(k.to_string()))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{Task, TaskState};
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::core::{ObjectList, WatchEvent};

    const TASK: &str = r#"{
        "apiVersion": "strata.io/v1alpha1", "kind": "Task",
        "metadata": {"name": "t", "namespace": "default", "resourceVersion": "12",
                     "labels": {"strata.io/agent": "a1", "managedFields": "kept"},
                     "managedFields": [{"manager": "agent", "operation": "Update",
                                        "fieldsType": "FieldsV1",
                                        "fieldsV1": {"f:status": {"f:state": {}}}}],
                     "finalizers": ["strata.io/agent"]},
        "spec": {"framework": "f", "agent": "a1", "resources": {"cpus": 0.1, "mem": 64},
                 "command": "sleep 1", "env": {"managedFields": "kept"}},
        "status": {"state": "Running"}
    }"#;

    #[test]
    fn a_lean_object_is_the_object_less_its_managed_fields() {
        let full: Task = serde_json::from_str(TASK).unwrap();
        let lean: Lean<Task> = serde_json::from_str(TASK).unwrap();
        assert!(!full.metadata.managed_fields.as_ref().unwrap().is_empty());
        assert_eq!(lean.metadata.managed_fields, None);
        let mut without = full.clone();
        without.metadata.managed_fields = None;
        assert_eq!(
            lean.0, without,
            "everything else is read, a key named managedFields elsewhere too"
        );
        assert_eq!(
            lean.status.as_ref().unwrap().state,
            Some(TaskState::Running)
        );
    }

    #[test]
    fn a_lean_object_reads_escaped_keys_and_reports_bad_input() {
        let escaped = TASK.replace(r#""name": "t""#, r#""na\u006de": "t""#);
        let lean: Lean<Task> = serde_json::from_str(&escaped).unwrap();
        assert_eq!(lean.metadata.name.as_deref(), Some("t"));
        let bad = TASK.replace(r#""resourceVersion": "12""#, r#""resourceVersion": 12"#);
        let err = serde_json::from_str::<Lean<Task>>(&bad).unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }

    #[test]
    fn watch_events_and_lists_read_lean_whatever_the_order_of_their_fields() {
        for line in [
            format!(r#"{{"type":"MODIFIED","object":{TASK}}}"#),
            format!(r#"{{"object":{TASK},"type":"MODIFIED"}}"#),
        ] {
            let event: WatchEvent<Lean<Task>> = serde_json::from_str(&line).unwrap();
            let WatchEvent::Modified(task) = event else {
                panic!("not a modification: {event:?}")
            };
            assert_eq!(task.metadata.managed_fields, None);
            assert_eq!(task.metadata.name.as_deref(), Some("t"));
        }
        let list = format!(
            r#"{{"apiVersion":"v1","kind":"List","metadata":{{"resourceVersion":"1"}},"items":[{TASK}]}}"#
        );
        let list: ObjectList<Lean<Task>> = serde_json::from_str(&list).unwrap();
        assert_eq!(list.items[0].spec.agent, "a1");
    }

    #[test]
    fn kubernetes_kinds_read_lean_too() {
        let lease = r#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
            "metadata":{"name":"a1","managedFields":[{"manager":"agent"}]},
            "spec":{"holderIdentity":"a1","leaseDurationSeconds":15}}"#;
        let lean: Lean<Lease> = serde_json::from_str(lease).unwrap();
        assert_eq!(lean.metadata.managed_fields, None);
        assert_eq!(lean.metadata.name.as_deref(), Some("a1"));
        assert_eq!(lean.spec.as_ref().unwrap().lease_duration_seconds, Some(15));
    }
}
