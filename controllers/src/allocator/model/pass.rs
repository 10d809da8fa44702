//! The allocation pass: which framework is offered each agent's free resources, in weighted-DRF
//! order, within refuse filters, quota limits and the minimum allocatable resources.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use strata_api::resources::Resources;

use super::{Allocation, Model, OfferEntry, key, name_of, namespace_of};
use crate::allocator::drf::{Sorted, weighted_share};
use crate::allocator::filters::FrameworkSet;

impl Model {
    /// One allocation pass: offers each schedulable agent's free resources to the eligible
    /// framework that is furthest below its fair share (roles first, then frameworks within
    /// the role), honouring refuse filters, quota limits and the minimum allocatable
    /// resources. At most one offer per framework and agent per pass.
    pub fn allocate(&mut self, now: Instant) -> Vec<Allocation> {
        self.filters.expire(now);
        self.passes += 1;
        let total = self.total.clone();

        let mut eligible = FrameworkSet::default();
        let mut by_role: HashMap<&str, Vec<(f64, usize)>> = HashMap::new();
        for (slot, f) in self.frameworks.iter() {
            if f.info.active && !f.info.suppressed {
                eligible.insert(slot);
                let share = weighted_share(&f.held, &total, f.info.weight);
                by_role
                    .entry(f.info.role.as_str())
                    .or_default()
                    .push((share, slot));
            }
        }
        if eligible.is_empty() {
            return Vec::new();
        }
        let mut order = Order {
            role_names: by_role.keys().map(|r| r.to_string()).collect(),
            members: Vec::new(),
            roles: Sorted::default(),
        };
        order.members = order
            .role_names
            .iter()
            .map(|r| Sorted::new(by_role.remove(r.as_str()).unwrap_or_default()))
            .collect();
        order.roles = Sorted::new(
            order
                .role_names
                .iter()
                .enumerate()
                .map(|(i, r)| (self.weighted_role_share(r, &total), i))
                .collect(),
        );

        let mut out = Vec::new();
        let n = self.agents.capacity();
        let start = if n == 0 {
            0
        } else {
            (self.passes as usize) % n
        };
        let mut offered_here: Vec<usize> = Vec::new();
        for step in 0..n {
            let slot = (start + step) % n;
            let Some(agent) = self.agents.get(slot) else {
                continue;
            };
            if !agent.info.schedulable {
                continue;
            }
            let mut free = agent.free();
            if !self.allocatable(&free) || self.filters.all_filtered(slot, &eligible) {
                continue;
            }
            offered_here.clear();
            while let Some((role_index, fw, offer)) =
                self.choose(slot, &free, &order, &offered_here)
            {
                out.push(self.make_offer(slot, fw, offer.clone(), now));
                offered_here.push(fw);
                free = free.saturating_sub(&offer);
                let f = self.frameworks.get(fw).expect("framework slot");
                let share = weighted_share(&f.held, &total, f.info.weight);
                order.members[role_index].update(fw, share);
                let role_share = self.weighted_role_share(&order.role_names[role_index], &total);
                order.roles.update(role_index, role_share);
                if !self.allocatable(&free) {
                    break;
                }
            }
        }
        out
    }

    /// The next offer of `free` on agent `slot`: the first role (fairest first) with quota
    /// headroom for an allocatable offer, its fairest framework that was not offered this
    /// agent in this pass and has not refused it; as (role index, framework, resources).
    fn choose(
        &self,
        slot: usize,
        free: &Resources,
        order: &Order,
        offered_here: &[usize],
    ) -> Option<(usize, usize, Resources)> {
        order.roles.iter().find_map(|role_index| {
            let role = &self.roles[&order.role_names[role_index]];
            let offer = role.info.limits.headroom(&role.held, free);
            if !self.allocatable(&offer) {
                return None;
            }
            order.members[role_index]
                .iter()
                .find(|fw| !offered_here.contains(fw) && !self.filters.is_filtered(slot, *fw))
                .map(|fw| (role_index, fw, offer))
        })
    }

    fn weighted_role_share(&self, role: &str, total: &Resources) -> f64 {
        let r = &self.roles[role];
        weighted_share(&r.held, total, r.info.weight)
    }

    fn allocatable(&self, resources: &Resources) -> bool {
        !resources.is_empty()
            && self
                .config
                .min_allocatable
                .iter()
                .any(|min| min.fits(resources))
    }

    fn make_offer(
        &mut self,
        agent_slot: usize,
        fw_slot: usize,
        resources: Resources,
        now: Instant,
    ) -> Allocation {
        self.offers_made += 1;
        self.grant(fw_slot, &resources);
        self.on_offer(fw_slot, &resources, true);
        self.changed_agents.insert(agent_slot);
        let agent = self.agents.get_mut(agent_slot).expect("agent slot");
        agent.offered += &resources;
        let framework_key = &self.frameworks.get(fw_slot).expect("framework slot").key;
        let namespace = namespace_of(framework_key);
        let name = format!(
            "{}-{}-{:x}",
            agent.name, self.config.epoch, self.offers_made
        );
        self.offers.insert(
            key(namespace, &name),
            OfferEntry {
                agent: agent_slot,
                framework: fw_slot,
                remaining: resources.clone(),
                expires: self.config.offer_timeout.map(|t| now + t),
                launched: HashSet::new(),
                accepted: None,
            },
        );
        Allocation {
            namespace: namespace.to_string(),
            name,
            framework: name_of(framework_key).to_string(),
            agent: agent.name.clone(),
            hostname: agent.info.hostname.clone(),
            attributes: agent.info.attributes.clone(),
            resources,
        }
    }
}

/// The fair order of one pass: roles by weighted share, and each role's frameworks.
struct Order {
    role_names: Vec<String>,
    /// Per role (by index into `role_names`), its eligible frameworks.
    members: Vec<Sorted>,
    roles: Sorted,
}
