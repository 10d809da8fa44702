//! The on-disk half of storage: three redb tables.
//!
//! - `objects`: `"<resource>|<namespace>|<name>"` -> revision (8 bytes, big endian) + object JSON.
//! - `log`: revision -> one event record (kind, key, object JSON), the append log that watches replay
//!   after a restart; trimmed to the configured history (compaction).
//! - `meta`: `"revision"` -> the last committed revision.
//!
//! redb commits are crash-safe (copy-on-write B-trees with checksummed commit slots); with
//! `Durability::Immediate` a commit has reached the disk when it returns.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::ObjectKey;
use super::cache::{Cache, Event, EventKind, StoredObject};

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

pub struct Disk {
    db: Database,
}

/// One write, as the committer hands it to [`Disk::write`].
pub struct Record<'a> {
    pub revision: u64,
    pub kind: EventKind,
    pub object: &'a StoredObject,
}

fn object_key(key: &ObjectKey) -> String {
    format!("{}|{}|{}", key.resource, key.namespace, key.name)
}

fn parse_object_key(s: &str) -> Option<ObjectKey> {
    let mut parts = s.rsplitn(3, '|');
    let name = parts.next()?;
    let namespace = parts.next()?;
    let resource = parts.next()?;
    Some(ObjectKey {
        resource: Arc::from(resource),
        namespace: namespace.to_string(),
        name: name.to_string(),
    })
}

fn encode_event(kind: EventKind, key: &str, json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 4 + key.len() + json.len());
    out.push(match kind {
        EventKind::Added => b'A',
        EventKind::Modified => b'M',
        EventKind::Deleted => b'D',
    });
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(json);
    out
}

fn decode_event(bytes: &[u8]) -> Option<(EventKind, &str, &[u8])> {
    let kind = match bytes.first()? {
        b'A' => EventKind::Added,
        b'M' => EventKind::Modified,
        b'D' => EventKind::Deleted,
        _ => return None,
    };
    let len = u32::from_be_bytes(bytes.get(1..5)?.try_into().ok()?) as usize;
    let key = std::str::from_utf8(bytes.get(5..5 + len)?).ok()?;
    Some((kind, key, bytes.get(5 + len..)?))
}

fn stored(key: ObjectKey, revision: u64, json: &[u8]) -> Result<StoredObject, redb::Error> {
    let value: serde_json::Value = serde_json::from_slice(json)
        .map_err(|e| redb::Error::Corrupted(format!("object {key:?} is not JSON: {e}")))?;
    Ok(StoredObject::new(
        key,
        revision,
        Bytes::copy_from_slice(json),
        &value,
    ))
}

impl Disk {
    pub fn open(path: &Path) -> Result<Disk, redb::Error> {
        // Reads are served from the cache above, so redb's own page cache only needs to hold what
        // writes touch; a small one keeps the server's memory proportional to its data.
        let db = Database::builder()
            .set_cache_size(32 * 1024 * 1024)
            .create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(OBJECTS)?;
        txn.open_table(LOG)?;
        txn.open_table(META)?;
        txn.commit()?;
        Ok(Disk { db })
    }

    /// Reads every object and the last `history` events into a fresh cache.
    pub fn load(&self, history: usize) -> Result<Cache, redb::Error> {
        let txn = self.db.begin_read()?;
        let revision = txn
            .open_table(META)?
            .get("revision")?
            .map_or(0, |v| v.value());
        let mut cache = Cache::new(revision, history);
        for entry in txn.open_table(OBJECTS)?.iter()? {
            let (k, v) = entry?;
            let key = parse_object_key(k.value())
                .ok_or_else(|| redb::Error::Corrupted(format!("bad object key {:?}", k.value())))?;
            let bytes = v.value();
            let rev = u64::from_be_bytes(bytes[..8].try_into().expect("8-byte revision prefix"));
            cache.load(Arc::new(stored(key, rev, &bytes[8..])?));
        }
        let log = txn.open_table(LOG)?;
        let total = log.len()? as usize;
        let mut last: HashMap<ObjectKey, Arc<StoredObject>> = HashMap::new();
        for entry in log.iter()?.skip(total.saturating_sub(history)) {
            let (rev, v) = entry?;
            let rev = rev.value();
            let (kind, key, json) = decode_event(v.value())
                .ok_or_else(|| redb::Error::Corrupted(format!("bad log record {rev}")))?;
            let key = parse_object_key(key)
                .ok_or_else(|| redb::Error::Corrupted(format!("bad log key {key:?}")))?;
            let object = Arc::new(stored(key.clone(), rev, json)?);
            let prev = if kind == EventKind::Deleted {
                last.remove(&key)
            } else {
                last.insert(key, object.clone())
            };
            cache.load_event(Arc::new(Event {
                revision: rev,
                kind,
                object,
                prev,
            }));
        }
        Ok(cache)
    }

    /// Writes a batch of records and the new revision in one durable commit, trimming the log to
    /// the newest `history` revisions.
    pub fn write(&self, records: &[Record<'_>], history: usize) -> Result<(), redb::Error> {
        let Some(last) = records.last() else {
            return Ok(());
        };
        let txn = self.db.begin_write()?;
        {
            let mut objects = txn.open_table(OBJECTS)?;
            let mut log = txn.open_table(LOG)?;
            for r in records {
                let key = object_key(&r.object.key);
                match r.kind {
                    EventKind::Deleted => {
                        objects.remove(key.as_str())?;
                    }
                    _ => {
                        let mut v = Vec::with_capacity(8 + r.object.json.len());
                        v.extend_from_slice(&r.revision.to_be_bytes());
                        v.extend_from_slice(&r.object.json);
                        objects.insert(key.as_str(), v.as_slice())?;
                    }
                }
                log.insert(
                    r.revision,
                    encode_event(r.kind, &key, &r.object.json).as_slice(),
                )?;
            }
            // Compaction: drop log records older than the history. Done in steps so one commit
            // never carries a huge deletion.
            let cut = last.revision.saturating_sub(history as u64);
            let first = log.first()?.map(|(k, _)| k.value());
            if let Some(first) = first
                && first < cut
            {
                let upto = cut.min(first + 4096);
                log.retain_in(first..upto, |_, _| false)?;
            }
            txn.open_table(META)?.insert("revision", last.revision)?;
        }
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_records_round_trip() {
        let key = ObjectKey::new(&Arc::from("strata.io/apps"), "team-a", "web");
        assert_eq!(parse_object_key(&object_key(&key)), Some(key));
        let cluster = ObjectKey::new(&Arc::from("/namespaces"), "", "default");
        assert_eq!(parse_object_key(&object_key(&cluster)), Some(cluster));
        let rec = encode_event(EventKind::Deleted, "a|b|c", b"{}");
        assert_eq!(
            decode_event(&rec),
            Some((EventKind::Deleted, "a|b|c", &b"{}"[..]))
        );
        assert_eq!(decode_event(b"Z"), None);
    }
}
