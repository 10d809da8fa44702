//! What the controllers' watch loops share: a watch as a stream of one actor's inputs, the
//! events' objects, the duration of a framework's Lease, and store times on the loop's clock.
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
use kube::{Api, Resource, ResourceExt};

use strata_api::lean::Lean;

use crate::allocator::model::key;
use crate::heartbeats::Heartbeats;

/// The most inputs [`take_ready`] takes in behind the first.
const MAX_BATCH: usize = 10_000;

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
