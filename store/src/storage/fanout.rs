//! Delivering each committed event only to the subscribers it may concern.
//!
//! Why it exists: when every watch saw every event and filtered for itself, a thousand agents
//! each watching their own tasks woke a thousand times for every task change, and the store
//! spent its time filtering. Like kube-apiserver's watch cache with its indexed triggers (pods
//! by `spec.nodeName`), a subscriber says which resource it watches and, when its field selector
//! names one object (`metadata.name=node-1`, as each agent watches its own Agent) or its label
//! selector requires one value of a label (`strata.io/agent=node-1`), that name or that label
//! and value: an event reaches the subscribers of its resource without such a requirement, those
//! of its object's name, and those whose value the object has before or after the change.
//! Subscribers still filter exactly; this only spares them what cannot match.
//!
//! Each subscriber has its own bounded queue. One that falls behind is told it lagged (and
//! re-reads the history) instead of slowing the committer or anyone else.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;
use tokio::sync::mpsc::{self, error::TrySendError};

use super::cache::{Event, StoredObject};

/// Events queued for one subscriber before it is told it lagged.
const QUEUE: usize = 1024;

/// What a subscriber wants to hear about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    /// Its resource (`"<group>/<plural>"`); None is every resource.
    pub resource: Option<Arc<str>>,
    /// A label and the value its selector requires, if any.
    pub label: Option<(String, String)>,
    /// The one object name its field selector requires, if any (then `label` is not used).
    pub name: Option<String>,
}

impl Interest {
    /// Every event.
    pub fn everything() -> Interest {
        Interest::default()
    }
}

/// Why no event came.
#[derive(Debug, PartialEq, Eq)]
pub enum Missed {
    /// Events were dropped because the subscriber fell behind: read them from the history.
    Lagged,
    /// The store is shutting down.
    Closed,
}

#[derive(Default)]
struct Lag {
    lagged: AtomicBool,
    wake: Notify,
}

struct Sub {
    tx: mpsc::Sender<Arc<Event>>,
    lag: Arc<Lag>,
}

impl Sub {
    fn send(&self, event: &Arc<Event>) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(event.clone()) {
            self.lag.lagged.store(true, Ordering::SeqCst);
            self.lag.wake.notify_one();
        }
    }
}

type Subs = HashMap<u64, Sub>;

#[derive(Default)]
struct ResourceSubs {
    /// Subscribers without a name or label requirement.
    plain: Subs,
    /// By the object name they require.
    named: HashMap<String, Subs>,
    /// By label, then value.
    labelled: HashMap<String, HashMap<String, Subs>>,
}

#[derive(Default)]
struct Index {
    next: u64,
    everything: Subs,
    resources: HashMap<Arc<str>, ResourceSubs>,
}

/// The subscribers, indexed by what they want.
#[derive(Default)]
pub struct Fanout {
    index: Mutex<Index>,
}

impl Fanout {
    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a subscriber; it is removed when the returned [`Live`] is dropped.
    pub fn subscribe(self: &Arc<Self>, interest: Interest) -> Live {
        let (tx, rx) = mpsc::channel(QUEUE);
        let lag = Arc::new(Lag::default());
        let sub = Sub {
            tx,
            lag: lag.clone(),
        };
        let mut index = self.index();
        index.next += 1;
        let id = index.next;
        match &interest.resource {
            None => {
                index.everything.insert(id, sub);
            }
            Some(resource) => {
                let subs = index.resources.entry(resource.clone()).or_default();
                match (&interest.name, &interest.label) {
                    (Some(name), _) => subs.named.entry(name.clone()).or_default().insert(id, sub),
                    (None, None) => subs.plain.insert(id, sub),
                    (None, Some((key, value))) => subs
                        .labelled
                        .entry(key.clone())
                        .or_default()
                        .entry(value.clone())
                        .or_default()
                        .insert(id, sub),
                };
            }
        }
        Live {
            rx,
            lag,
            _registration: Registration {
                fanout: Arc::downgrade(self),
                id,
                interest,
            },
        }
    }

    /// Delivers `event` to the subscribers it may concern.
    pub fn publish(&self, event: &Arc<Event>) {
        let index = self.index();
        for sub in index.everything.values() {
            sub.send(event);
        }
        let Some(subs) = index.resources.get(&event.object.key.resource) else {
            return;
        };
        for sub in subs.plain.values() {
            sub.send(event);
        }
        for sub in subs
            .named
            .get(&event.object.key.name)
            .into_iter()
            .flat_map(HashMap::values)
        {
            sub.send(event);
        }
        for (key, values) in &subs.labelled {
            let now = event.object.label(key);
            let before = event
                .prev
                .as_deref()
                .and_then(|p: &StoredObject| p.label(key));
            for value in [now, before.filter(|b| Some(*b) != now)]
                .into_iter()
                .flatten()
            {
                for sub in values.get(value).into_iter().flat_map(HashMap::values) {
                    sub.send(event);
                }
            }
        }
    }

    fn unsubscribe(&self, id: u64, interest: &Interest) {
        let mut index = self.index();
        let Some(resource) = &interest.resource else {
            index.everything.remove(&id);
            return;
        };
        let Some(subs) = index.resources.get_mut(resource) else {
            return;
        };
        match (&interest.name, &interest.label) {
            (Some(name), _) => {
                if let Some(ids) = subs.named.get_mut(name) {
                    ids.remove(&id);
                    if ids.is_empty() {
                        subs.named.remove(name);
                    }
                }
            }
            (None, None) => {
                subs.plain.remove(&id);
            }
            (None, Some((key, value))) => {
                if let Some(values) = subs.labelled.get_mut(key) {
                    if let Some(ids) = values.get_mut(value) {
                        ids.remove(&id);
                        if ids.is_empty() {
                            values.remove(value);
                        }
                    }
                    if values.is_empty() {
                        subs.labelled.remove(key);
                    }
                }
            }
        }
        if subs.plain.is_empty() && subs.named.is_empty() && subs.labelled.is_empty() {
            index.resources.remove(resource);
        }
    }
}

struct Registration {
    fanout: Weak<Fanout>,
    id: u64,
    interest: Interest,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(fanout) = self.fanout.upgrade() {
            fanout.unsubscribe(self.id, &self.interest);
        }
    }
}

/// One subscriber's stream of events.
pub struct Live {
    rx: mpsc::Receiver<Arc<Event>>,
    lag: Arc<Lag>,
    _registration: Registration,
}

impl Live {
    /// The next event.
    pub async fn recv(&mut self) -> Result<Arc<Event>, Missed> {
        loop {
            if self.lag.lagged.swap(false, Ordering::SeqCst) {
                return Err(Missed::Lagged);
            }
            tokio::select! {
                biased;
                _ = self.lag.wake.notified() => continue,
                event = self.rx.recv() => return event.ok_or(Missed::Closed),
            }
        }
    }

    /// An event already queued, if any.
    pub fn try_recv(&mut self) -> Option<Arc<Event>> {
        self.rx.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::{Value, json};

    use super::*;
    use crate::storage::ObjectKey;
    use crate::storage::cache::EventKind;

    fn event(revision: u64, resource: &str, labels: Value, prev: Option<Value>) -> Arc<Event> {
        let object = |labels: &Value| {
            let value = json!({"metadata": {"name": "t", "labels": labels}});
            let key = ObjectKey {
                resource: resource.into(),
                namespace: "ns".into(),
                name: "t".into(),
            };
            Arc::new(StoredObject::new(
                key,
                revision,
                Bytes::from(value.to_string()),
                &value,
            ))
        };
        Arc::new(Event {
            revision,
            kind: EventKind::Modified,
            object: object(&labels),
            prev: prev.as_ref().map(object),
        })
    }

    fn interest(resource: Option<&str>, label: Option<(&str, &str)>) -> Interest {
        Interest {
            resource: resource.map(Arc::from),
            label: label.map(|(k, v)| (k.to_string(), v.to_string())),
            name: None,
        }
    }

    fn drain(live: &mut Live) -> Vec<u64> {
        std::iter::from_fn(|| live.try_recv().map(|e| e.revision)).collect()
    }

    #[test]
    fn events_reach_only_the_subscribers_they_may_concern() {
        let fanout = Arc::new(Fanout::default());
        let mut all = fanout.subscribe(Interest::everything());
        let mut tasks = fanout.subscribe(interest(Some("strata.io/tasks"), None));
        let mut node1 = fanout.subscribe(interest(
            Some("strata.io/tasks"),
            Some(("strata.io/agent", "node-1")),
        ));
        let mut node2 = fanout.subscribe(interest(
            Some("strata.io/tasks"),
            Some(("strata.io/agent", "node-2")),
        ));
        fanout.publish(&event(
            1,
            "strata.io/tasks",
            json!({"strata.io/agent": "node-1"}),
            None,
        ));
        fanout.publish(&event(
            2,
            "strata.io/offers",
            json!({"strata.io/agent": "node-1"}),
            None,
        ));
        // Moved from node-1 to node-2: both hear of it (one to add it, one to drop it).
        fanout.publish(&event(
            3,
            "strata.io/tasks",
            json!({"strata.io/agent": "node-2"}),
            Some(json!({"strata.io/agent": "node-1"})),
        ));
        assert_eq!(drain(&mut all), [1, 2, 3]);
        assert_eq!(drain(&mut tasks), [1, 3]);
        assert_eq!(drain(&mut node1), [1, 3]);
        assert_eq!(drain(&mut node2), [3]);

        drop(node2);
        fanout.publish(&event(
            4,
            "strata.io/tasks",
            json!({"strata.io/agent": "node-2"}),
            None,
        ));
        assert_eq!(drain(&mut node1), Vec::<u64>::new());
        assert_eq!(drain(&mut tasks), [4]);
        assert!(
            fanout.index().resources["strata.io/tasks"]
                .labelled
                .get("strata.io/agent")
                .is_some_and(|v| !v.contains_key("node-2")),
            "a dropped subscriber is forgotten"
        );
    }

    #[test]
    fn a_subscriber_of_one_name_hears_only_of_that_object() {
        let fanout = Arc::new(Fanout::default());
        let named = |name: &str| Interest {
            name: Some(name.to_string()),
            ..interest(Some("strata.io/tasks"), None)
        };
        let (mut mine, mut other) = (fanout.subscribe(named("t")), fanout.subscribe(named("u")));
        fanout.publish(&event(1, "strata.io/tasks", json!({}), None));
        fanout.publish(&event(2, "strata.io/offers", json!({}), None));
        assert_eq!(drain(&mut mine), [1]);
        assert_eq!(drain(&mut other), Vec::<u64>::new());
        drop(mine);
        assert!(
            !fanout.index().resources["strata.io/tasks"]
                .named
                .contains_key("t"),
            "a dropped subscriber is forgotten"
        );
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_told_it_lagged() {
        let fanout = Arc::new(Fanout::default());
        let mut slow = fanout.subscribe(Interest::everything());
        for r in 1..=(QUEUE as u64 + 5) {
            fanout.publish(&event(r, "v1/pods", json!({}), None));
        }
        assert_eq!(slow.recv().await.err(), Some(Missed::Lagged));
        assert_eq!(slow.recv().await.map(|e| e.revision).ok(), Some(1));
        drop(fanout);
        assert_eq!(drain(&mut slow).len(), QUEUE - 1);
        assert_eq!(slow.recv().await.err(), Some(Missed::Closed));
    }
}
