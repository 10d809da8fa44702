//! What the controllers' watch loops share: a watch as a stream of one actor's inputs, one watch
//! read by several controllers ([`shared`]), the events' objects, the duration of a framework's
//! Lease, and store times on the loop's clock.
//!
//! Why it exists: the allocator, the lifecycle controller and Marathon each own their state in
//! one actor fed by several watches; they read the same events the same way.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};

use strata_api::agent::Agent;
use strata_api::framework::Framework;
use strata_api::labels;
use strata_api::lean::Lean;
use strata_api::task::Task;

use crate::allocator::controller::AGENT_LEASE_NAMESPACE;
use crate::allocator::model::key;
use crate::heartbeats::Heartbeats;

/// The most inputs [`take_ready`] takes in behind the first.
const MAX_BATCH: usize = 10_000;

/// Events a reader of a [`shared`] watch may have waiting before the others wait for it.
const SHARED_QUEUE: usize = 1024;

/// A framework Lease without leaseDurationSeconds lasts this long.
const DEFAULT_FRAMEWORK_LEASE: Duration = Duration::from_secs(15);

/// Hands `first`, then every input already waiting behind it (up to [`MAX_BATCH`]), to `handle`,
/// so that the pass which follows sees everything that has happened instead of one event of a
/// backlog: a pass on a backlog half taken in acts on stale objects (with 1,000 apps, Marathon
/// rewrote rollouts it had already finished, and passed back to back). False once the inputs
/// have ended.
pub fn take_ready<I>(
    first: I,
    inputs: &mut (impl Stream<Item = I> + Unpin),
    mut handle: impl FnMut(I),
) -> bool {
    handle(first);
    for _ in 0..MAX_BATCH {
        match inputs.next().now_or_never() {
            Some(Some(input)) => handle(input),
            Some(None) => return false,
            None => break,
        }
    }
    true
}

/// The events of a watch (retried with backoff, failures logged), each wrapped as an input.
/// The objects are read without their managedFields, which no controller reads.
pub fn watch<K, I, F>(api: Api<Lean<K>>, config: watcher::Config, wrap: F) -> BoxStream<'static, I>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    F: Fn(Event<K>) -> I + Send + 'static,
    I: Send + 'static,
{
    let stream = watcher::watcher(api, config).default_backoff();
    logged(stream).map(move |e| wrap(unlean(e))).boxed()
}

/// The events of one watch, for `N` readers in this process: each event is read off the wire
/// and decoded once, then cloned for every reader but the last — the allocator and the
/// lifecycle controller both follow every Task (in `strata bench master`, sharing their watch
/// took the Task events decoded from 12 to 9 per task; client-go's shared informers exist for
/// the same reason: see [`master`]). A reader
/// that falls behind holds the others back, as a slow reader of one watch connection would;
/// one that has gone is left out.
pub fn shared<K, const N: usize>(
    api: Api<Lean<K>>,
    config: watcher::Config,
) -> [BoxStream<'static, Event<K>>; N]
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let events = watch(api, config, |e| e);
    fan_out(events)
}

/// `events` for `N` readers, each getting every event in order.
fn fan_out<T: Clone + Send + 'static, const N: usize>(
    mut events: BoxStream<'static, T>,
) -> [BoxStream<'static, T>; N] {
    let (senders, readers): (Vec<_>, Vec<_>) = (0..N)
        .map(|_| tokio::sync::mpsc::channel::<T>(SHARED_QUEUE))
        .unzip();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let Some((last, rest)) = senders.split_last() {
                for sender in rest {
                    let _ = sender.send(event.clone()).await;
                }
                let _ = last.send(event).await;
            }
            if senders.iter().all(|s| s.is_closed()) {
                return;
            }
        }
    });
    readers
        .into_iter()
        .map(|r| tokio_stream::wrappers::ReceiverStream::new(r).boxed())
        .collect::<Vec<_>>()
        .try_into()
        .unwrap_or_else(|_| unreachable!("N readers were made"))
}

/// What the allocator and the lifecycle controller both follow: agents and their heartbeat
/// Leases, frameworks and theirs, and every Task.
pub struct Master {
    pub agents: BoxStream<'static, Event<Agent>>,
    pub agent_leases: BoxStream<'static, Event<Lease>>,
    pub frameworks: BoxStream<'static, Event<Framework>>,
    pub framework_leases: BoxStream<'static, Event<Lease>>,
    pub tasks: BoxStream<'static, Event<Task>>,
}

/// The [`Master`] watches, each opened once and [`shared`] by the allocator and the lifecycle
/// controller (in that order).
pub fn master(client: &Client) -> [Master; 2] {
    let all = watcher::Config::default();
    let [agents, agents_too] = shared(Api::all(client.clone()), all.clone());
    let [agent_leases, agent_leases_too] = shared(
        Api::namespaced(client.clone(), AGENT_LEASE_NAMESPACE),
        all.clone(),
    );
    let [frameworks, frameworks_too] = shared(Api::all(client.clone()), all.clone());
    let [framework_leases, framework_leases_too] = shared(
        Api::all(client.clone()),
        all.clone().labels(labels::FRAMEWORK),
    );
    let [tasks, tasks_too] = shared(Api::all(client.clone()), all);
    [
        Master {
            agents,
            agent_leases,
            frameworks,
            framework_leases,
            tasks,
        },
        Master {
            agents: agents_too,
            agent_leases: agent_leases_too,
            frameworks: frameworks_too,
            framework_leases: framework_leases_too,
            tasks: tasks_too,
        },
    ]
}

/// A watch event of lean objects as one of the objects themselves.
fn unlean<K>(event: Event<Lean<K>>) -> Event<K> {
    match event {
        Event::Apply(k) => Event::Apply(k.0),
        Event::Delete(k) => Event::Delete(k.0),
        Event::Init => Event::Init,
        Event::InitApply(k) => Event::InitApply(k.0),
        Event::InitDone => Event::InitDone,
    }
}

fn logged<K: Send + 'static>(
    stream: impl Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
) -> impl Stream<Item = Event<K>> + Send + 'static {
    stream.filter_map(|event| async move {
        event
            .inspect_err(|e| tracing::warn!(error = %e, "a watch failed; retrying"))
            .ok()
    })
}

/// The object of a watch event and whether it was deleted; records when a source's listing
/// completed.
pub fn object<K>(
    event: Event<K>,
    synced: &mut HashSet<&'static str>,
    source: &'static str,
) -> Option<(K, bool)> {
    match event {
        Event::Apply(k) | Event::InitApply(k) => Some((k, false)),
        Event::Delete(k) => Some((k, true)),
        Event::Init => None,
        Event::InitDone => {
            synced.insert(source);
            None
        }
    }
}

/// Records a framework's Lease (or its deletion) in `beats`; returns the framework's key
/// (`namespace/name`) and whether its liveness changed.
pub fn framework_beat(
    beats: &mut Heartbeats,
    lease: &Lease,
    deleted: bool,
    now: Instant,
) -> (String, bool) {
    let k = key(&lease.namespace().unwrap_or_default(), &lease.name_any());
    let flipped = if deleted {
        beats.remove(&k)
    } else {
        beats.observe(&k, lease, framework_lease_duration(lease), now)
    };
    (k, flipped)
}

/// How long a framework's Lease lasts after each renewal.
fn framework_lease_duration(lease: &Lease) -> Duration {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.lease_duration_seconds)
        .map_or(DEFAULT_FRAMEWORK_LEASE, |s| {
            Duration::from_secs(s.max(1) as u64)
        })
}

/// The instant corresponding to wall-clock time `t` (past or future), given that now is `now`.
pub fn instant_of(t: &Time, now: Instant) -> Instant {
    let delta = t.0.duration_since(jiff::Timestamp::now());
    let magnitude = delta.unsigned_abs();
    if delta.is_negative() {
        now.checked_sub(magnitude).unwrap_or(now)
    } else {
        now + magnitude
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_reader_of_a_shared_watch_sees_every_event_in_order() {
        let events = futures::stream::iter(0..3000).boxed();
        let [a, b, c] = fan_out::<i32, 3>(events);
        let seen = tokio::join!(
            a.collect::<Vec<_>>(),
            b.collect::<Vec<_>>(),
            c.collect::<Vec<_>>()
        );
        let expected: Vec<i32> = (0..3000).collect();
        assert_eq!(seen, (expected.clone(), expected.clone(), expected));
    }

    #[tokio::test]
    async fn a_reader_that_has_gone_does_not_stop_the_others() {
        let events = futures::stream::iter(0..3000).boxed();
        let [a, b] = fan_out::<i32, 2>(events);
        drop(a);
        assert_eq!(b.collect::<Vec<_>>().await.len(), 3000);
    }
}
