//! Watches: a chunked stream of `{"type": ..., "object": ...}` lines.
//!
//! A watch starts from a revision (replaying the history after it), or from the current state
//! (synthetic ADDED events; with `sendInitialEvents` ended by a bookmark). Selector watches turn an
//! object leaving the selected set into DELETED and one entering it into ADDED. A start revision
//! older than the history is answered inside the 200 stream with an ERROR event carrying a 410
//! Status, which is what clients expect (kube-rs retries forever on an HTTP 410).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::errors::{ApiError, ApiResult};
use crate::read::Filter;
use crate::registry::Resource;
use crate::request::Query;
use crate::server::Shared;
use crate::storage::{Event, EventKind, Interest, Missed, StoredObject};
use crate::table::{self, Column, IncludeObject};

/// How events are rendered: plain objects, or Table rows.
#[derive(Clone)]
pub enum Render {
    Object,
    Table { include_object: IncludeObject },
}

/// Starts a watch; the returned channel yields the body's chunks until the watch ends.
pub fn start(
    server: Shared,
    res: Arc<Resource>,
    namespace: Option<String>,
    q: &Query,
    render: Render,
) -> ApiResult<mpsc::Receiver<Bytes>> {
    let filter = Filter::parse(&res, q)?;
    let (tx, rx) = mpsc::channel(256);
    let initial = match q.resource_version.as_deref() {
        None | Some("0") => true,
        Some(_) => q.send_initial_events == Some(true),
    };
    let from: Option<u64> = match q.resource_version.as_deref() {
        None | Some("0") => None,
        Some(rv) => Some(rv.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid resourceVersion {rv:?}: must be a number"))
        })?),
    };
    let timeout = Duration::from_secs(q.timeout_seconds.unwrap_or(1800).max(1));
    let mut w = Watcher {
        server,
        res,
        namespace,
        filter,
        render,
        tx,
        bookmarks: q.allow_watch_bookmarks,
        initial_end_bookmark: q.send_initial_events == Some(true),
        columns_sent: false,
        sent: 0,
    };
    tokio::spawn(async move {
        let _ = tokio::time::timeout(timeout, w.run(initial, from)).await;
    });
    Ok(rx)
}

struct Watcher {
    server: Shared,
    res: Arc<Resource>,
    namespace: Option<String>,
    filter: Filter,
    render: Render,
    tx: mpsc::Sender<Bytes>,
    bookmarks: bool,
    initial_end_bookmark: bool,
    columns_sent: bool,
    /// The highest revision this watch has accounted for (sent or filtered out).
    sent: u64,
}

/// The watch's client went away.
struct Closed;

impl Watcher {
    async fn run(&mut self, initial: bool, from: Option<u64>) -> Result<(), Closed> {
        let storage = self.server.storage.clone();
        let start = if initial {
            let ns = if self.res.namespaced {
                self.namespace.as_deref()
            } else {
                None
            };
            let (items, revision, _) = storage.list(
                &self.res.storage,
                ns,
                None,
                |o| self.filter.matches(o),
                None,
            );
            for item in items {
                self.emit(EventKind::Added.as_str(), &item).await?;
            }
            if self.initial_end_bookmark {
                self.bookmark(revision, true).await?;
            }
            revision
        } else {
            from.unwrap_or(0)
        };
        self.sent = start;
        let interest = Interest {
            resource: Some(self.res.storage.clone()),
            label: self
                .filter
                .labels
                .as_ref()
                .and_then(|l| l.exact_match().map(|(k, v)| (k.to_string(), v.to_string()))),
            name: self
                .filter
                .fields
                .as_ref()
                .and_then(|f| f.exact_match("metadata.name"))
                .map(str::to_string),
        };
        let sub = match storage.subscribe(start, interest) {
            Ok(s) => s,
            Err(expired) => return self.expired(&expired.to_string()).await,
        };
        let mut live = sub.live;
        for e in sub.backlog {
            self.deliver(&e).await?;
        }
        let interval = Duration::from_secs(self.server.config.bookmark_interval_secs.max(1));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            tokio::select! {
                msg = live.recv() => match msg {
                    Ok(e) => self.deliver(&e).await?,
                    Err(Missed::Lagged) => {
                        match storage.since(self.sent) {
                            Ok(events) => for e in events { self.deliver(&e).await? },
                            Err(expired) => return self.expired(&expired.to_string()).await,
                        }
                    }
                    Err(Missed::Closed) => return Ok(()),
                },
                _ = ticker.tick(), if self.bookmarks => {
                    self.bookmark(self.sent, false).await?;
                }
                _ = self.tx.closed() => return Err(Closed),
            }
        }
    }

    async fn deliver(&mut self, e: &Event) -> Result<(), Closed> {
        if e.revision <= self.sent {
            return Ok(());
        }
        self.sent = e.revision;
        let obj = &e.object;
        if *obj.key.resource != *self.res.storage {
            return Ok(());
        }
        if self.res.namespaced
            && let Some(ns) = &self.namespace
            && &obj.key.namespace != ns
        {
            return Ok(());
        }
        let now = self.filter.matches(obj);
        let before = e.prev.as_ref().is_some_and(|p| self.filter.matches(p));
        let kind = match e.kind {
            EventKind::Added if now => "ADDED",
            EventKind::Modified if now && before => "MODIFIED",
            EventKind::Modified if now => "ADDED",
            EventKind::Modified if before => "DELETED",
            EventKind::Deleted if now || before => "DELETED",
            _ => return Ok(()),
        };
        self.emit(kind, obj).await
    }

    async fn emit(&mut self, kind: &str, obj: &StoredObject) -> Result<(), Closed> {
        let line = match &self.render {
            Render::Object => {
                let mut line = Vec::with_capacity(obj.json.len() + 32);
                line.extend_from_slice(b"{\"type\":\"");
                line.extend_from_slice(kind.as_bytes());
                line.extend_from_slice(b"\",\"object\":");
                if self.res.version_differs(obj) {
                    let mut v = obj.value();
                    v["apiVersion"] = json!(self.res.api_version());
                    line.extend_from_slice(v.to_string().as_bytes());
                } else {
                    line.extend_from_slice(&obj.json);
                }
                line.extend_from_slice(b"}\n");
                line
            }
            Render::Table { include_object } => {
                let value = obj.value();
                let t = table_of(
                    &self.res.columns,
                    &value,
                    *include_object,
                    !self.columns_sent,
                );
                self.columns_sent = true;
                let mut s = json!({"type": kind, "object": t}).to_string();
                s.push('\n');
                s.into_bytes()
            }
        };
        self.send(line).await
    }

    async fn bookmark(&mut self, revision: u64, initial_end: bool) -> Result<(), Closed> {
        let mut meta = json!({"resourceVersion": revision.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object =
            json!({"kind": self.res.kind, "apiVersion": self.res.api_version(), "metadata": meta});
        let mut s = json!({"type": "BOOKMARK", "object": object}).to_string();
        s.push('\n');
        self.send(s.into_bytes()).await
    }

    async fn expired(&mut self, message: &str) -> Result<(), Closed> {
        let status = ApiError::expired(message.to_string()).status();
        let mut s = json!({"type": "ERROR", "object": status}).to_string();
        s.push('\n');
        self.send(s.into_bytes()).await
    }

    async fn send(&self, line: Vec<u8>) -> Result<(), Closed> {
        self.tx.send(Bytes::from(line)).await.map_err(|_| Closed)
    }
}

/// A one-row Table for a watch event.
pub fn table_of(
    columns: &[Column],
    object: &Value,
    include_object: IncludeObject,
    with_columns: bool,
) -> Value {
    let now = jiff::Timestamp::now();
    let cells = table::row(columns, object, now);
    let row_object = table::row_object(object, include_object);
    table::table(
        columns,
        vec![(cells, row_object)],
        object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or(""),
        None,
        with_columns,
    )
}

impl Resource {
    /// The stored object was written at another version of this resource.
    pub fn version_differs(&self, obj: &StoredObject) -> bool {
        // Built-in kinds are served at one version; a CRD's objects may be stored at another.
        if self.builtin {
            return false;
        }
        const KEY: &[u8] = br#""apiVersion":""#;
        // The object's own apiVersion is the first one in its JSON (clients and the store put
        // it first); it must start in the first 256 bytes and be `<group>/<version>`. Told
        // without building the text to look for: this runs for every event of every watch. When
        // in doubt it differs, which costs a conversion, never a wrong apiVersion.
        let head = &obj.json[..obj.json.len().min(255 + KEY.len())];
        let Some(at) = memchr::memmem::find(head, KEY) else {
            return true;
        };
        let value = &obj.json[at + KEY.len()..];
        let at_version = match self.group.as_bytes() {
            [] => Some(value),
            group => value.strip_prefix(group).and_then(|v| v.strip_prefix(b"/")),
        };
        !at_version
            .and_then(|v| v.strip_prefix(self.version.as_bytes()))
            .is_some_and(|rest| rest.starts_with(b"\""))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::json;

    use crate::storage::{ObjectKey, StoredObject};

    #[test]
    fn an_object_stored_at_another_version_is_told_apart() {
        let crd = json!({"spec": {
            "group": "example.com",
            "names": {"plural": "things", "kind": "Thing"},
            "scope": "Namespaced",
            "versions": [
                {"name": "v1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": {"type": "object"}}},
                {"name": "v1beta1", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object"}}},
            ],
        }});
        let resources = crate::crd::resources(&crd).unwrap();
        let at = |version: &str| resources.iter().find(|r| r.version == version).unwrap();
        let key = ObjectKey::new(&std::sync::Arc::from("example.com/things"), "ns", "t");
        let stored = |json: &str| {
            let object: serde_json::Value = serde_json::from_str(json).unwrap();
            StoredObject::new(key.clone(), 1, Bytes::from(json.to_string()), &object)
        };
        let v1 =
            stored(r#"{"apiVersion":"example.com/v1","kind":"Thing","metadata":{"name":"t"}}"#);
        assert!(!at("v1").version_differs(&v1));
        assert!(at("v1beta1").version_differs(&v1));
        // The apiVersion of something the object holds is not the object's.
        let nested = stored(
            r#"{"apiVersion":"example.com/v1beta1","spec":{"ref":{"apiVersion":"example.com/v1"}}}"#,
        );
        assert!(!at("v1beta1").version_differs(&nested));
        assert!(at("v1").version_differs(&nested));
        // A prefix of the version is not the version.
        let v1beta = stored(r#"{"apiVersion":"example.com/v1beta","kind":"Thing"}"#);
        assert!(at("v1beta1").version_differs(&v1beta));
        assert!(at("v1").version_differs(&v1beta));
    }
}
