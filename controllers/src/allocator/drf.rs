//! Weighted Dominant Resource Fairness: who is offered next.
//!
//! Why it exists: the allocator offers each agent to the role, and within it the framework,
//! whose dominant share (the largest fraction of any cluster resource it holds) divided by its
//! weight is the smallest (Ghodsi et al., and Mesos' HierarchicalDRF sorter). Holding what was
//! just offered raises a client's share, so after each offer that one client moves to its new
//! place — a shift within a sorted vector rather than a re-sort, since an allocation pass makes
//! up to one offer per agent.

use strata_api::resources::Resources;

/// A client's weighted share: dominant share of `held` in `total`, divided by `weight`.
pub fn weighted_share(held: &Resources, total: &Resources, weight: f64) -> f64 {
    held.dominant_share(total) / weight
}

/// Clients (roles or frameworks, by index) in ascending order of weighted share; ties go to the
/// lower index, so the order is deterministic.
#[derive(Debug, Default)]
pub struct Sorted {
    entries: Vec<(f64, usize)>,
}

impl Sorted {
    /// Sorts `clients` given as (share, index).
    pub fn new(mut entries: Vec<(f64, usize)>) -> Sorted {
        entries.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        Sorted { entries }
    }

    /// The clients, fairest first.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.entries.iter().map(|(_, i)| *i)
    }

    /// Gives `index` its new `share` and moves it to its place.
    pub fn update(&mut self, index: usize, share: f64) {
        let Some(at) = self.entries.iter().position(|(_, i)| *i == index) else {
            return;
        };
        self.entries.remove(at);
        let to = self
            .entries
            .partition_point(|e| e.0.total_cmp(&share).then(e.1.cmp(&index)).is_lt());
        self.entries.insert(to, (share, index));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_weighted_share_comes_first() {
        let total: Resources = "cpus:10;mem:1000".parse().unwrap();
        // Dominant shares: a holds 40% of cpus, b 50% of mem; b has weight 2, so 25%.
        let a = weighted_share(&"cpus:4;mem:100".parse().unwrap(), &total, 1.0);
        let b = weighted_share(&"cpus:1;mem:500".parse().unwrap(), &total, 2.0);
        assert!((a - 0.4).abs() < 1e-9 && (b - 0.25).abs() < 1e-9);
        let mut sorted = Sorted::new(vec![(a, 0), (b, 1), (0.0, 2)]);
        assert_eq!(sorted.iter().collect::<Vec<_>>(), [2, 1, 0]);
        sorted.update(2, 0.3);
        assert_eq!(sorted.iter().collect::<Vec<_>>(), [1, 2, 0]);
        sorted.update(1, 0.3);
        assert_eq!(
            sorted.iter().collect::<Vec<_>>(),
            [1, 2, 0],
            "ties go to the lower index"
        );
        sorted.update(9, 0.0);
        assert_eq!(
            sorted.iter().collect::<Vec<_>>(),
            [1, 2, 0],
            "unknown clients are ignored"
        );
    }
}
