//! Refuse filters: which frameworks declined which agents' resources, until when.
//!
//! Why it exists: a declined offer must not come back to the same framework within its
//! refuseSeconds (Mesos' Filters), and the allocation pass asks "is this agent filtered for
//! this framework?" for every pair it considers — ten million times a pass at 10,000 agents
//! and 1,000 frameworks. So each agent keeps a bitmap over framework slots (one bit test per
//! question, and one popcount to learn that every eligible framework refused an agent), with
//! the filter's details beside it. A filter applies while the agent's free resources are
//! contained in what was refused: when they grow (a task ended), filters that no longer
//! contain them are dropped at once, so the bitmap is always the answer.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use strata_api::resources::Resources;

/// One refusal.
#[derive(Clone, Debug)]
struct Filter {
    until: Instant,
    resources: Resources,
}

/// The refuse filters of every (agent, framework) pair, by slot.
#[derive(Default)]
pub struct Filters {
    /// Per agent slot, a bitmap over framework slots.
    bits: Vec<Vec<u64>>,
    /// Per agent slot, the filters by framework slot.
    details: Vec<HashMap<usize, Filter>>,
    /// Per agent slot, a lower bound of what every one of its filters refused: while the
    /// agent's free resources fit in it, every filter still holds and none need checking.
    floors: Vec<Option<Resources>>,
    /// When filters lapse: (until, agent, framework); stale entries are skipped.
    expiries: BinaryHeap<Reverse<(Instant, usize, usize)>>,
}

/// A set of framework slots as a bitmap, e.g. the frameworks eligible for offers.
#[derive(Clone, Debug, Default)]
pub struct FrameworkSet {
    words: Vec<u64>,
    len: usize,
}

impl FrameworkSet {
    pub fn insert(&mut self, slot: usize) {
        let word = slot / 64;
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        let bit = 1 << (slot % 64);
        if self.words[word] & bit == 0 {
            self.words[word] |= bit;
            self.len += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Filters {
    /// Records that `framework` refused `resources` on `agent` until `until`.
    pub fn add(&mut self, agent: usize, framework: usize, until: Instant, resources: Resources) {
        if self.bits.len() <= agent {
            self.bits.resize_with(agent + 1, Vec::new);
            self.details.resize_with(agent + 1, HashMap::new);
            self.floors.resize(agent + 1, None);
        }
        self.floors[agent] = Some(match self.floors[agent].take() {
            Some(floor) => meet(&floor, &resources),
            None => resources.clone(),
        });
        let bits = &mut self.bits[agent];
        let word = framework / 64;
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        bits[word] |= 1 << (framework % 64);
        self.details[agent].insert(framework, Filter { until, resources });
        self.expiries.push(Reverse((until, agent, framework)));
    }

    /// Whether `framework` refused `agent`'s resources and the refusal holds.
    pub fn is_filtered(&self, agent: usize, framework: usize) -> bool {
        self.bits
            .get(agent)
            .and_then(|bits| bits.get(framework / 64))
            .is_some_and(|word| word & (1 << (framework % 64)) != 0)
    }

    /// Whether every framework of `eligible` refused `agent`.
    pub fn all_filtered(&self, agent: usize, eligible: &FrameworkSet) -> bool {
        let Some(bits) = self.bits.get(agent) else {
            return eligible.is_empty();
        };
        let refused: u32 = eligible
            .words
            .iter()
            .zip(bits)
            .map(|(e, b)| (e & b).count_ones())
            .sum();
        refused as usize == eligible.len()
    }

    /// Drops the filters that lapsed by `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some(Reverse((until, agent, framework))) = self.expiries.peek().copied() {
            if until > now {
                break;
            }
            self.expiries.pop();
            if self.details[agent]
                .get(&framework)
                .is_some_and(|f| f.until == until)
            {
                self.remove(agent, framework);
            }
        }
    }

    /// `agent` now has `free`: drops the filters that do not contain it (Mesos re-offers
    /// resources beyond what was refused).
    pub fn free_grew(&mut self, agent: usize, free: &Resources) {
        let Some(details) = self.details.get(agent) else {
            return;
        };
        if self.floors[agent]
            .as_ref()
            .is_none_or(|floor| free.fits(floor))
        {
            return;
        }
        let lapsed: Vec<usize> = details
            .iter()
            .filter(|(_, f)| !free.fits(&f.resources))
            .map(|(fw, _)| *fw)
            .collect();
        for framework in lapsed {
            self.remove(agent, framework);
        }
        self.floors[agent] = self.details[agent]
            .values()
            .map(|f| f.resources.clone())
            .reduce(|a, b| meet(&a, &b));
    }

    /// Drops every filter of `framework` (it revived, or its slot is reused).
    pub fn clear_framework(&mut self, framework: usize) {
        for agent in 0..self.details.len() {
            if self.details[agent].contains_key(&framework) {
                self.remove(agent, framework);
            }
        }
    }

    /// Drops every filter on `agent` (it left, or its slot is reused).
    pub fn clear_agent(&mut self, agent: usize) {
        if let Some(details) = self.details.get_mut(agent) {
            details.clear();
            self.bits[agent].fill(0);
            self.floors[agent] = None;
        }
    }

    fn remove(&mut self, agent: usize, framework: usize) {
        self.details[agent].remove(&framework);
        self.bits[agent][framework / 64] &= !(1 << (framework % 64));
    }
}

/// The resources both `a` and `b` hold: each amount's minimum, the ports in both.
fn meet(a: &Resources, b: &Resources) -> Resources {
    Resources {
        cpus: a.cpus.min(b.cpus),
        mem: a.mem.min(b.mem),
        disk: a.disk.min(b.disk),
        gpus: a.gpus.min(b.gpus),
        ports: a.ports.difference(&a.ports.difference(&b.ports)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn res(s: &str) -> Resources {
        s.parse().unwrap()
    }

    #[test]
    fn filters_hold_until_they_expire() {
        let now = Instant::now();
        let mut filters = Filters::default();
        filters.add(3, 70, now + Duration::from_secs(5), res("cpus:1"));
        assert!(filters.is_filtered(3, 70));
        assert!(!filters.is_filtered(3, 6));
        assert!(!filters.is_filtered(2, 70));
        filters.expire(now + Duration::from_secs(4));
        assert!(filters.is_filtered(3, 70));
        filters.expire(now + Duration::from_secs(5));
        assert!(!filters.is_filtered(3, 70));
    }

    #[test]
    fn a_renewed_filter_outlives_the_old_expiry() {
        let now = Instant::now();
        let mut filters = Filters::default();
        filters.add(0, 0, now + Duration::from_secs(1), res("cpus:1"));
        filters.add(0, 0, now + Duration::from_secs(9), res("cpus:1"));
        filters.expire(now + Duration::from_secs(2));
        assert!(filters.is_filtered(0, 0));
    }

    #[test]
    fn more_free_resources_than_refused_lift_the_filter() {
        let now = Instant::now() + Duration::from_secs(60);
        let mut filters = Filters::default();
        filters.add(0, 0, now, res("cpus:2;mem:512"));
        filters.add(0, 1, now, res("cpus:4;mem:1024"));
        filters.free_grew(0, &res("cpus:3;mem:512"));
        assert!(
            !filters.is_filtered(0, 0),
            "3 cpus are more than the 2 refused"
        );
        assert!(filters.is_filtered(0, 1));
    }

    #[test]
    fn all_filtered_counts_only_eligible_frameworks() {
        let until = Instant::now() + Duration::from_secs(60);
        let mut filters = Filters::default();
        let mut eligible = FrameworkSet::default();
        for fw in [1, 65, 130] {
            eligible.insert(fw);
        }
        filters.add(0, 1, until, res("cpus:1"));
        filters.add(0, 65, until, res("cpus:1"));
        filters.add(0, 7, until, res("cpus:1"));
        assert!(!filters.all_filtered(0, &eligible));
        filters.add(0, 130, until, res("cpus:1"));
        assert!(filters.all_filtered(0, &eligible));
        filters.clear_framework(65);
        assert!(!filters.all_filtered(0, &eligible));
        filters.clear_agent(0);
        assert!(!filters.is_filtered(0, 1));
        assert!(!filters.all_filtered(5, &eligible), "no filters at all");
    }
}
