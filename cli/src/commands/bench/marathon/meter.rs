//! What a step of `strata bench marathon` cost: each process's CPU time and the offers made
//! meanwhile, so that a figure slower than it should be says where its time went (the store,
//! the controllers, the agents; offers made only to be declined).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use strata_api::offer::{Offer, OfferPhase};

use crate::commands::bench::Background;

/// What the cluster had spent at one moment: each process's CPU time, the offers made.
#[derive(Clone, Copy)]
pub(super) struct Meter {
    pub at: Instant,
    pub store: Duration,
    pub controllers: Duration,
    /// The real agent and the simulated agents' process.
    pub agents: Duration,
    /// This process: kubectl's requests aside, the watches the figures are read from.
    pub bench: Duration,
    pub offers: OfferCounts,
}

impl Meter {
    /// What was spent from `earlier` to this one.
    pub fn since(&self, earlier: &Meter) -> Spent {
        Spent {
            wall: self.at.saturating_duration_since(earlier.at),
            store: self.store.saturating_sub(earlier.store),
            controllers: self.controllers.saturating_sub(earlier.controllers),
            agents: self.agents.saturating_sub(earlier.agents),
            bench: self.bench.saturating_sub(earlier.bench),
            offers: OfferCounts {
                made: self.offers.made - earlier.offers.made,
                accepted: self.offers.accepted - earlier.offers.accepted,
                declined: self.offers.declined - earlier.offers.declined,
            },
        }
    }
}

/// What one step cost: where its time went.
#[derive(Default)]
pub(super) struct Spent {
    pub wall: Duration,
    pub store: Duration,
    pub controllers: Duration,
    pub agents: Duration,
    pub bench: Duration,
    pub offers: OfferCounts,
}

/// Offers made so far, and how many of them were accepted and declined.
#[derive(Clone, Copy, Default)]
pub(super) struct OfferCounts {
    pub made: usize,
    pub accepted: usize,
    pub declined: usize,
}

/// A watch of every Offer, counting them.
pub(super) struct Offers {
    counts: Arc<Mutex<OfferCounts>>,
    _watch: Background,
}

impl Offers {
    pub fn watch(client: &Client) -> Offers {
        let api: Api<Offer> = Api::all(client.clone());
        let counts = Arc::new(Mutex::new(OfferCounts::default()));
        let shared = counts.clone();
        let watch = tokio::spawn(async move {
            // Each offer's phase as last seen (settled offers are deleted later; their names
            // are never reused).
            let mut phases: HashMap<String, OfferPhase> = HashMap::new();
            let mut events = watcher::watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = events.next().await {
                let offer = match event {
                    Ok(Event::Apply(offer) | Event::InitApply(offer)) => offer,
                    Ok(Event::Delete(offer)) => {
                        phases.remove(&offer.name_any());
                        continue;
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        eprintln!("  the offer watch failed (retrying): {e}");
                        continue;
                    }
                };
                let phase = offer.status.as_ref().map(|s| s.phase).unwrap_or_default();
                let before = phases.insert(offer.name_any(), phase);
                if before == Some(phase) {
                    continue;
                }
                let mut c = shared.lock().expect("offer counts");
                if before.is_none() {
                    c.made += 1;
                }
                match phase {
                    OfferPhase::Accepted => c.accepted += 1,
                    OfferPhase::Declined => c.declined += 1,
                    _ => {}
                }
            }
        });
        Offers {
            counts,
            _watch: Background(watch),
        }
    }

    pub fn counts(&self) -> OfferCounts {
        *self.counts.lock().expect("offer counts")
    }
}
