//! The allocator's in-memory model: what every agent has, holds and has on offer; what every
//! framework and role holds; the live offers; and the allocation pass over them.
//!
//! Why it exists: it is Mesos' master state and HierarchicalDRF allocator in one pure value —
//! no client, no clock of its own (callers pass `now`) — so the controller feeds it from
//! watches and writes what it decides, the tests drive it directly, and the benchmark runs a
//! pass over 10,000 agents and 1,000 frameworks without a server.
//!
//! Accounting: an agent's resources are either free, offered (held by a live offer) or
//! allocated (held by a staged task). A task launched against an offer moves its resources
//! from the offer to the task; settling the offer returns what is left to the agent. A
//! framework's and a role's holdings are their offers plus their tasks, the quantity DRF
//! equalizes. Nothing is ever offered twice: an offer takes resources out of `free`. Every
//! change of an agent's, framework's or role's holdings marks it changed, so the controller
//! writes the status of those alone ([`Model::take_changed`]).
//!
//! Here: the state and the bookkeeping of agents, frameworks and roles; `pass` holds the
//! allocation pass, `offers` the offers and the tasks launched against them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use strata_api::offer::OfferPhase;
use strata_api::resources::Resources;
use strata_api::role::QuotaLimits;

use super::filters::Filters;
use super::slots::Slots;

/// How long an accepted offer waits for the tasks it lists before it gives up on the missing
/// ones and returns what is left.
pub const ACCEPT_WAIT: Duration = Duration::from_secs(10);

/// What the allocator is configured with.
#[derive(Clone, Debug)]
pub struct Config {
    /// An offer is made only when it holds at least one of these in full (Mesos'
    /// --min_allocatable_resources, default `cpus:0.01|mem:32`).
    pub min_allocatable: Vec<Resources>,
    /// How long an offer lasts unused (Mesos' --offer_timeout); None never expires.
    pub offer_timeout: Option<Duration>,
    /// Distinguishes this allocator's offer names from an earlier run's.
    pub epoch: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            min_allocatable: vec![
                "cpus:0.01".parse().expect("cpus"),
                "mem:32".parse().expect("mem"),
            ],
            offer_timeout: Some(Duration::from_secs(60)),
            epoch: "0".to_string(),
        }
    }
}

/// What the allocator needs to know of an agent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentInfo {
    pub hostname: String,
    pub attributes: BTreeMap<String, String>,
    pub total: Resources,
    /// Whether new offers may be made from it: not cordoned, not draining, heartbeating.
    pub schedulable: bool,
}

/// What the allocator needs to know of a framework.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameworkInfo {
    pub role: String,
    pub weight: f64,
    /// Connected (its heartbeat is fresh).
    pub active: bool,
    pub suppressed: bool,
    /// The framework's revive token: a change drops its refuse filters.
    pub revive: u64,
}

/// A role's configuration (a ResourceRole), or the defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct RoleInfo {
    pub weight: f64,
    pub limits: QuotaLimits,
}

impl Default for RoleInfo {
    fn default() -> RoleInfo {
        RoleInfo {
            weight: 1.0,
            limits: QuotaLimits::default(),
        }
    }
}

struct AgentEntry {
    name: String,
    info: AgentInfo,
    offered: Resources,
    allocated: Resources,
}

impl AgentEntry {
    fn free(&self) -> Resources {
        self.info
            .total
            .saturating_sub(&self.allocated)
            .saturating_sub(&self.offered)
    }
}

struct FrameworkEntry {
    /// `namespace/name`.
    key: String,
    info: FrameworkInfo,
    /// Its tasks' and live offers' resources.
    held: Resources,
    /// The part of `held` in live offers.
    offered: Resources,
}

#[derive(Default)]
struct RoleEntry {
    info: RoleInfo,
    /// A ResourceRole configures it.
    configured: bool,
    /// How many frameworks name it.
    frameworks: usize,
    held: Resources,
}

/// What a framework holds, as its status reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Holdings {
    /// Its tasks' and live offers' resources.
    pub allocated: Resources,
    /// The part of `allocated` in live offers.
    pub offered: Resources,
    pub dominant_share: f64,
}

/// A live offer.
struct OfferEntry {
    agent: usize,
    framework: usize,
    /// What is left of the offer for more tasks.
    remaining: Resources,
    expires: Option<Instant>,
    /// Names of the tasks launched against it so far.
    launched: HashSet<String>,
    /// Set once accepted: the listed tasks not seen yet, the refusal of what is left, and
    /// when to stop waiting.
    accepted: Option<Accepted>,
}

struct Accepted {
    awaiting: HashSet<String>,
    refuse: Duration,
    deadline: Instant,
}

/// What became of an offer that is no longer live, for tasks that name it late.
struct Settled {
    phase: OfferPhase,
    listed: HashSet<String>,
}

/// A staged task's hold on resources.
struct TaskEntry {
    agent: usize,
    /// `namespace/name` of its framework (whose slot may be reused once it is gone).
    framework: String,
    resources: Resources,
}

/// A new offer decided by a pass, to be written as an Offer object.
#[derive(Clone, Debug, PartialEq)]
pub struct Allocation {
    pub namespace: String,
    pub name: String,
    pub framework: String,
    pub agent: String,
    pub hostname: String,
    pub attributes: BTreeMap<String, String>,
    pub resources: Resources,
}

/// How a framework or the allocator ended an offer.
#[derive(Clone, Debug, PartialEq)]
pub enum Settlement {
    /// Tasks were launched against it; what they leave is refused for `refuse`.
    Accepted {
        tasks: Vec<String>,
        refuse: Duration,
    },
    Declined {
        refuse: Duration,
    },
    Rescinded,
    Expired,
}

impl Settlement {
    /// How the offer ended, as metrics label it.
    pub fn outcome(&self) -> &'static str {
        match self {
            Settlement::Accepted { .. } => "accepted",
            Settlement::Declined { .. } => "declined",
            Settlement::Rescinded => "rescinded",
            Settlement::Expired => "expired",
        }
    }

    fn phase(&self) -> OfferPhase {
        match self {
            Settlement::Accepted { .. } => OfferPhase::Accepted,
            Settlement::Declined { .. } => OfferPhase::Declined,
            Settlement::Rescinded => OfferPhase::Rescinded,
            Settlement::Expired => OfferPhase::Expired,
        }
    }
}

/// The master's answer to a task launched by a framework.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// It fits its offer: staged (listed in its Agent's status), and the agent runs it.
    Stage,
    /// It can never run as written (Mesos' TASK_ERROR, reason TaskInvalid).
    Error(String),
    /// Its offer is no longer valid (Mesos' TASK_DROPPED).
    Dropped(String),
}

/// What changed since the last [`Model::take_changed`]: the agents (by name), frameworks (by
/// key) and roles whose holdings or shares are to be written.
#[derive(Debug, Default, PartialEq)]
pub struct Changed {
    pub agents: Vec<String>,
    pub frameworks: Vec<String>,
    pub roles: Vec<String>,
}

/// The allocator's state.
pub struct Model {
    config: Config,
    agents: Slots<AgentEntry>,
    frameworks: Slots<FrameworkEntry>,
    roles: HashMap<String, RoleEntry>,
    offers: HashMap<String, OfferEntry>,
    settled: HashMap<String, Settled>,
    tasks: HashMap<String, TaskEntry>,
    filters: Filters,
    /// Sum of every agent's total.
    total: Resources,
    passes: u64,
    offers_made: u64,
    changed_agents: HashSet<usize>,
    changed_frameworks: HashSet<usize>,
    changed_roles: HashSet<String>,
    /// The cluster's total changed, so every share did.
    all_shares_changed: bool,
}

/// `namespace/name`, the key of namespaced objects.
pub fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

fn namespace_of(key: &str) -> &str {
    key.split_once('/').map_or("", |(ns, _)| ns)
}

fn name_of(key: &str) -> &str {
    key.split_once('/').map_or(key, |(_, name)| name)
}

fn accepted_without(offer: &str) -> String {
    format!("offer {offer} was accepted without this task (list it in the offer's status.tasks)")
}

impl Model {
    pub fn new(config: Config) -> Model {
        Model {
            config,
            agents: Slots::default(),
            frameworks: Slots::default(),
            roles: HashMap::new(),
            offers: HashMap::new(),
            settled: HashMap::new(),
            tasks: HashMap::new(),
            filters: Filters::default(),
            total: Resources::new(),
            passes: 0,
            offers_made: 0,
            changed_agents: HashSet::new(),
            changed_frameworks: HashSet::new(),
            changed_roles: HashSet::new(),
            all_shares_changed: false,
        }
    }

    // --- agents ---

    /// Adds or updates an agent. When it may no longer be offered, its live offers are
    /// rescinded; their keys are returned.
    pub fn upsert_agent(&mut self, name: &str, info: AgentInfo) -> Vec<String> {
        let slot = match self.agents.slot(name) {
            Some(slot) => slot,
            None => {
                let slot = self.agents.insert(
                    name,
                    AgentEntry {
                        name: name.to_string(),
                        info: AgentInfo::default(),
                        offered: Resources::new(),
                        allocated: Resources::new(),
                    },
                );
                self.filters.clear_agent(slot);
                self.changed_agents.insert(slot);
                slot
            }
        };
        let agent = self.agents.get_mut(slot).expect("agent slot");
        if agent.info.total != info.total {
            self.total = &self.total.saturating_sub(&agent.info.total) + &info.total;
            self.all_shares_changed = true;
        }
        let grew = !info.total.fits(&agent.info.total);
        agent.info = info;
        let schedulable = agent.info.schedulable;
        if grew {
            let free = agent.free();
            self.filters.free_grew(slot, &free);
        }
        if schedulable {
            return Vec::new();
        }
        self.rescind(|o| o.agent == slot)
    }

    /// Forgets an agent; its live offers are rescinded (their keys returned) and its tasks
    /// stop counting.
    pub fn remove_agent(&mut self, name: &str) -> Vec<String> {
        let Some(slot) = self.agents.slot(name) else {
            return Vec::new();
        };
        let rescinded = self.rescind(|o| o.agent == slot);
        let tasks: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.agent == slot)
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in tasks {
            self.task_ended(&uid);
        }
        let (_, agent) = self.agents.remove(name).expect("agent slot");
        self.total = self.total.saturating_sub(&agent.info.total);
        self.all_shares_changed = true;
        self.filters.clear_agent(slot);
        rescinded
    }

    /// Settles the live, not yet accepted offers that `which` picks as Rescinded.
    fn rescind(&mut self, which: impl Fn(&OfferEntry) -> bool) -> Vec<String> {
        let keys: Vec<String> = self
            .offers
            .iter()
            .filter(|(_, o)| o.accepted.is_none() && which(o))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &keys {
            self.close(k, OfferPhase::Rescinded, None);
        }
        keys
    }

    // --- frameworks and roles ---

    /// Adds or updates a framework (`namespace/name`). When it went inactive, its live offers
    /// are rescinded (their keys returned). Reviving (suppressed to not) clears its refuse
    /// filters, as in Mesos.
    pub fn upsert_framework(&mut self, key: &str, info: FrameworkInfo) -> Vec<String> {
        let slot = match self.frameworks.slot(key) {
            Some(slot) => slot,
            None => {
                let slot = self.frameworks.insert(
                    key,
                    FrameworkEntry {
                        key: key.to_string(),
                        info: info.clone(),
                        held: Resources::new(),
                        offered: Resources::new(),
                    },
                );
                self.filters.clear_framework(slot);
                self.roles.entry(info.role.clone()).or_default().frameworks += 1;
                self.changed_frameworks.insert(slot);
                slot
            }
        };
        let framework = self.frameworks.get_mut(slot).expect("framework slot");
        let revived =
            (framework.info.suppressed && !info.suppressed) || framework.info.revive != info.revive;
        if framework.info != info {
            self.changed_frameworks.insert(slot);
        }
        let old = std::mem::replace(&mut framework.info, info);
        if old.role != framework.info.role {
            // Its holdings move to the new role.
            let held = framework.held.clone();
            let new_role = framework.info.role.clone();
            if let Some(role) = self.roles.get_mut(&old.role) {
                role.frameworks -= 1;
                role.held = role.held.saturating_sub(&held);
            }
            let role = self.roles.entry(new_role.clone()).or_default();
            role.frameworks += 1;
            role.held += &held;
            self.changed_roles.insert(old.role.clone());
            self.changed_roles.insert(new_role);
            self.forget_if_unused(&old.role);
        }
        if revived {
            self.filters.clear_framework(slot);
        }
        if self
            .frameworks
            .get(slot)
            .expect("framework slot")
            .info
            .active
        {
            return Vec::new();
        }
        self.rescind(|o| o.framework == slot)
    }

    /// Forgets a framework (torn down); its live offers are rescinded (their keys returned).
    pub fn remove_framework(&mut self, key: &str) -> Vec<String> {
        let Some(slot) = self.frameworks.slot(key) else {
            return Vec::new();
        };
        let rescinded = self.rescind(|o| o.framework == slot);
        let (_, framework) = self.frameworks.remove(key).expect("framework slot");
        if let Some(role) = self.roles.get_mut(&framework.info.role) {
            // What it held stops counting for its role: its tasks are to be killed.
            role.frameworks -= 1;
            role.held = role.held.saturating_sub(&framework.held);
            self.changed_roles.insert(framework.info.role.clone());
        }
        self.forget_if_unused(&framework.info.role);
        self.filters.clear_framework(slot);
        rescinded
    }

    /// Sets a role's weight and quota (a ResourceRole). When the role now holds more than its
    /// limit, its live offers are rescinded (their keys returned).
    pub fn upsert_role(&mut self, role: &str, info: RoleInfo) -> Vec<String> {
        let entry = self.roles.entry(role.to_string()).or_default();
        entry.info = info;
        entry.configured = true;
        self.changed_roles.insert(role.to_string());
        if !entry.info.limits.exceeded_by(&entry.held) {
            return Vec::new();
        }
        let frameworks: HashSet<usize> = self
            .frameworks
            .iter()
            .filter(|(_, f)| f.info.role == role)
            .map(|(slot, _)| slot)
            .collect();
        self.rescind(|o| frameworks.contains(&o.framework))
    }

    /// Back to the defaults for `role` (its ResourceRole was deleted).
    pub fn remove_role(&mut self, role: &str) {
        if let Some(entry) = self.roles.get_mut(role) {
            entry.info = RoleInfo::default();
            entry.configured = false;
        }
        self.forget_if_unused(role);
    }

    /// Forgets a role that no ResourceRole configures and no framework names.
    fn forget_if_unused(&mut self, role: &str) {
        if self
            .roles
            .get(role)
            .is_some_and(|r| !r.configured && r.frameworks == 0)
        {
            self.roles.remove(role);
        }
    }

    /// Adds `resources` to what framework `fw` and its role hold.
    fn grant(&mut self, fw: usize, resources: &Resources) {
        let Some(f) = self.frameworks.get_mut(fw) else {
            return;
        };
        f.held += resources;
        self.changed_frameworks.insert(fw);
        if let Some(role) = self.roles.get_mut(&f.info.role) {
            role.held += resources;
            if !self.changed_roles.contains(&f.info.role) {
                self.changed_roles.insert(f.info.role.clone());
            }
        }
    }

    /// Takes `resources` off what framework `fw` and its role hold.
    fn revoke(&mut self, fw: usize, resources: &Resources) {
        let Some(f) = self.frameworks.get_mut(fw) else {
            return;
        };
        f.held = f.held.saturating_sub(resources);
        self.changed_frameworks.insert(fw);
        if let Some(role) = self.roles.get_mut(&f.info.role) {
            role.held = role.held.saturating_sub(resources);
            if !self.changed_roles.contains(&f.info.role) {
                self.changed_roles.insert(f.info.role.clone());
            }
        }
    }

    // --- what the status writers report ---

    /// The agents, frameworks and roles whose holdings or shares changed since the last call.
    pub fn take_changed(&mut self) -> Changed {
        let agents = std::mem::take(&mut self.changed_agents);
        let mut frameworks = std::mem::take(&mut self.changed_frameworks);
        let mut roles = std::mem::take(&mut self.changed_roles);
        if std::mem::take(&mut self.all_shares_changed) {
            frameworks.extend(self.frameworks.iter().map(|(slot, _)| slot));
            roles.extend(self.roles.keys().cloned());
        }
        Changed {
            agents: agents
                .into_iter()
                .filter_map(|slot| self.agents.get(slot).map(|a| a.name.clone()))
                .collect(),
            frameworks: frameworks
                .into_iter()
                .filter_map(|slot| self.frameworks.get(slot).map(|f| f.key.clone()))
                .collect(),
            roles: roles
                .into_iter()
                .filter(|r| self.roles.contains_key(r))
                .collect(),
        }
    }

    /// An agent's allocated resources (tasks and offers), as its status reports them.
    pub fn agent_allocated(&self, name: &str) -> Option<Resources> {
        let a = self.agents.get(self.agents.slot(name)?)?;
        Some(&a.allocated + &a.offered)
    }

    /// An agent's resources neither allocated nor offered.
    pub fn agent_free(&self, name: &str) -> Option<Resources> {
        Some(self.agents.get(self.agents.slot(name)?)?.free())
    }

    /// A framework's holdings, the part of them on offer, and its dominant share.
    pub fn framework_holdings(&self, key: &str) -> Option<Holdings> {
        let f = self.frameworks.get(self.frameworks.slot(key)?)?;
        Some(Holdings {
            allocated: f.held.clone(),
            offered: f.offered.clone(),
            dominant_share: f.held.dominant_share(&self.total),
        })
    }

    /// Moves `resources` of framework `fw` into (`true`) or out of its live offers.
    fn on_offer(&mut self, fw: usize, resources: &Resources, into: bool) {
        if let Some(f) = self.frameworks.get_mut(fw) {
            f.offered = if into {
                &f.offered + resources
            } else {
                f.offered.saturating_sub(resources)
            };
            self.changed_frameworks.insert(fw);
        }
    }

    /// A role's holdings and dominant share.
    pub fn role_share(&self, role: &str) -> Option<(Resources, f64)> {
        let r = self.roles.get(role)?;
        Some((r.held.clone(), r.held.dominant_share(&self.total)))
    }

    /// Counts for logs: (agents, frameworks, live offers, staged tasks).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.agents.len(),
            self.frameworks.len(),
            self.offers.len(),
            self.tasks.len(),
        )
    }
}

mod offers;
mod pass;

#[cfg(test)]
mod tests;
