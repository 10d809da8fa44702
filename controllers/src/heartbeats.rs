//! Heartbeats seen on Leases: who is alive, and who just stopped or started being so.
//!
//! Why it exists: agents and frameworks prove they are alive by renewing a Lease. What counts
//! is when this controller saw a renewal (a change of `renewTime`), not the time written in it,
//! so clock skew between machines does not matter — as Kubernetes' node lifecycle controller
//! does. Only changes of liveness are news to the allocator: a renewal of a live Lease is not,
//! so thousands of agents heartbeating cost a map update each, not an allocation pass. The
//! Lease a framework creates and the patch that renews it are here too, for every framework
//! strata runs (Marathon, `strata execute`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::ObjectMeta;
use strata_api::labels;

struct Beat {
    renew: Option<String>,
    seen: Instant,
    lasts: Duration,
    /// Liveness as last reported by [`Heartbeats::observe`] or [`Heartbeats::lapsed`].
    alive: bool,
    /// A renewal was seen after the first sight of the Lease.
    renewed: bool,
}

/// The heartbeats of one kind of Lease holder, by key.
#[derive(Default)]
pub struct Heartbeats {
    beats: HashMap<String, Beat>,
}

impl Heartbeats {
    /// Records `lease` for `key`, alive for `lasts` after each renewal seen at `now`; returns
    /// whether `key`'s liveness changed.
    pub fn observe(&mut self, key: &str, lease: &Lease, lasts: Duration, now: Instant) -> bool {
        let renew = lease
            .spec
            .as_ref()
            .and_then(|s| s.renew_time.as_ref().or(s.acquire_time.as_ref()))
            .map(|t| t.0.to_string());
        let beat = self.beats.entry(key.to_string()).or_insert(Beat {
            renew: None,
            seen: now,
            lasts,
            alive: false,
            renewed: false,
        });
        if beat.renew != renew {
            beat.renewed |= beat.renew.is_some();
            beat.renew = renew;
            beat.seen = now;
        }
        beat.lasts = lasts;
        let alive = now.duration_since(beat.seen) < lasts;
        std::mem::replace(&mut beat.alive, alive) != alive
    }

    /// Forgets `key`'s Lease (deleted); returns whether it was alive.
    pub fn remove(&mut self, key: &str) -> bool {
        self.beats.remove(key).is_some_and(|b| b.alive)
    }

    /// Whether `key`'s Lease was renewed since this controller first saw it: proof of life
    /// that a Lease found stale at startup does not give.
    pub fn renewed(&self, key: &str) -> bool {
        self.beats.get(key).is_some_and(|b| b.renewed)
    }

    /// Whether `key` heartbeats.
    pub fn alive(&self, key: &str) -> bool {
        self.beats.get(key).is_some_and(|b| b.alive)
    }

    /// The keys whose heartbeat lapsed by `now` since last asked.
    pub fn lapsed(&mut self, now: Instant) -> Vec<String> {
        self.beats
            .iter_mut()
            .filter(|(_, b)| b.alive && now.duration_since(b.seen) >= b.lasts)
            .map(|(k, b)| {
                b.alive = false;
                k.clone()
            })
            .collect()
    }
}

/// The heartbeat Lease of framework `name` (in its namespace, labelled `strata.io/framework`),
/// lasting `seconds` after each renewal, renewed now.
pub fn framework_lease(name: &str, seconds: i32) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some([(labels::FRAMEWORK.to_string(), name.to_string())].into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(name.to_string()),
            lease_duration_seconds: Some(seconds),
            renew_time: Some(MicroTime(jiff::Timestamp::now())),
            ..LeaseSpec::default()
        }),
    }
}

/// The merge patch that renews a heartbeat Lease now.
pub fn renewal() -> serde_json::Value {
    serde_json::json!({"spec": {"renewTime": MicroTime(jiff::Timestamp::now())}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(renew: &str) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                renew_time: Some(MicroTime(renew.parse().unwrap())),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn only_changes_of_liveness_are_news() {
        let t0 = Instant::now();
        let lasts = Duration::from_secs(10);
        let mut beats = Heartbeats::default();
        assert!(
            beats.observe("a", &lease("2026-01-01T00:00:00Z"), lasts, t0),
            "new and alive"
        );
        assert!(beats.alive("a"));
        assert!(!beats.renewed("a"), "first sight is no renewal");
        let t1 = t0 + Duration::from_secs(5);
        assert!(
            !beats.observe("a", &lease("2026-01-01T00:00:05Z"), lasts, t1),
            "a renewal"
        );
        assert!(beats.renewed("a"));
        assert!(beats.lapsed(t1 + Duration::from_secs(9)).is_empty());
        assert_eq!(beats.lapsed(t1 + Duration::from_secs(10)), ["a"]);
        assert!(!beats.alive("a"));
        assert!(
            beats.lapsed(t1 + Duration::from_secs(20)).is_empty(),
            "reported once"
        );
        // The same renew time again is not a renewal; a new one brings it back.
        let t2 = t1 + Duration::from_secs(30);
        assert!(!beats.observe("a", &lease("2026-01-01T00:00:05Z"), lasts, t2));
        assert!(beats.observe("a", &lease("2026-01-01T00:00:35Z"), lasts, t2));
        assert!(beats.remove("a"));
        assert!(!beats.alive("a"));
    }
}
