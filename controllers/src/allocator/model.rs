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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use strata_api::offer::OfferPhase;
use strata_api::resources::Resources;
use strata_api::role::QuotaLimits;
use strata_api::task::TaskSpec;

use super::drf::{Sorted, weighted_share};
use super::filters::{Filters, FrameworkSet};
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
    held: Resources,
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
    /// It fits its offer: report Staging, and the agent runs it.
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
                    },
                );
                self.filters.clear_framework(slot);
                self.roles.entry(info.role.clone()).or_default().frameworks += 1;
                self.changed_frameworks.insert(slot);
                slot
            }
        };
        let framework = self.frameworks.get_mut(slot).expect("framework slot");
        let revived = framework.info.suppressed && !info.suppressed;
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

    // --- the allocation pass ---

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

    // --- offers ---

    /// Takes in an offer found in the store that this run of the allocator did not make (after
    /// a restart): its resources stay offered until it is settled. False when its agent or
    /// framework is unknown (the caller rescinds it).
    pub fn adopt_offer(
        &mut self,
        offer_key: &str,
        framework: &str,
        agent: &str,
        resources: &Resources,
        expires: Option<Instant>,
    ) -> bool {
        if self.offers.contains_key(offer_key) {
            return true;
        }
        let fw_key = key(namespace_of(offer_key), framework);
        let (Some(agent_slot), Some(fw_slot)) =
            (self.agents.slot(agent), self.frameworks.slot(&fw_key))
        else {
            return false;
        };
        self.agents.get_mut(agent_slot).expect("agent slot").offered += resources;
        self.changed_agents.insert(agent_slot);
        self.grant(fw_slot, resources);
        self.offers.insert(
            offer_key.to_string(),
            OfferEntry {
                agent: agent_slot,
                framework: fw_slot,
                remaining: resources.clone(),
                expires,
                launched: HashSet::new(),
                accepted: None,
            },
        );
        true
    }

    /// Whether the offer is live (pending, or accepted and waiting for its tasks).
    pub fn is_live(&self, offer_key: &str) -> bool {
        self.offers.contains_key(offer_key)
    }

    /// Ends an offer. Declined and accepted offers return what they hold to the agent with a
    /// refuse filter for this framework; an accepted offer first waits for the tasks it lists.
    /// Returns how many listed tasks are still awaited.
    pub fn settle(&mut self, offer_key: &str, how: Settlement, now: Instant) -> usize {
        let Some(offer) = self.offers.get_mut(offer_key) else {
            return 0;
        };
        if offer.accepted.is_some() {
            return 0;
        }
        let phase = how.phase();
        let refuse = match how {
            Settlement::Accepted { tasks, refuse } => {
                let awaiting: HashSet<String> = tasks
                    .iter()
                    .filter(|t| !offer.launched.contains(*t))
                    .cloned()
                    .collect();
                let count = awaiting.len();
                self.settled.insert(
                    offer_key.to_string(),
                    Settled {
                        phase: OfferPhase::Accepted,
                        listed: tasks.into_iter().collect(),
                    },
                );
                if count > 0 {
                    offer.accepted = Some(Accepted {
                        awaiting,
                        refuse,
                        deadline: now + ACCEPT_WAIT,
                    });
                    return count;
                }
                Some(now + refuse)
            }
            Settlement::Declined { refuse } => Some(now + refuse),
            Settlement::Rescinded | Settlement::Expired => None,
        };
        self.close(offer_key, phase, refuse);
        0
    }

    /// Returns what is left of a live offer to its agent, refused to its framework until
    /// `refuse_until`, and remembers how it ended.
    fn close(&mut self, offer_key: &str, phase: OfferPhase, refuse_until: Option<Instant>) {
        let Some(offer) = self.offers.remove(offer_key) else {
            return;
        };
        self.settled
            .entry(offer_key.to_string())
            .or_insert(Settled {
                phase,
                listed: HashSet::new(),
            });
        let remaining = offer.remaining;
        self.revoke(offer.framework, &remaining);
        let Some(agent) = self.agents.get_mut(offer.agent) else {
            return;
        };
        agent.offered = agent.offered.saturating_sub(&remaining);
        let free = agent.free();
        self.changed_agents.insert(offer.agent);
        self.filters.free_grew(offer.agent, &free);
        if let Some(until) = refuse_until
            && !remaining.is_empty()
        {
            self.filters
                .add(offer.agent, offer.framework, until, remaining);
        }
    }

    /// Settles as Expired the live offers past their expiry (their keys are returned), and
    /// closes accepted offers done waiting for missing tasks.
    pub fn due(&mut self, now: Instant) -> Vec<String> {
        let mut expired = Vec::new();
        let mut done = Vec::new();
        for (k, o) in &self.offers {
            match &o.accepted {
                None if o.expires.is_some_and(|e| e <= now) => expired.push(k.clone()),
                Some(a) if a.deadline <= now => done.push((k.clone(), a.refuse)),
                _ => {}
            }
        }
        for (k, refuse) in done {
            self.close(&k, OfferPhase::Accepted, Some(now + refuse));
        }
        for k in &expired {
            self.close(k, OfferPhase::Expired, None);
        }
        expired
    }

    /// The offer object was deleted: forget how it ended.
    pub fn offer_deleted(&mut self, offer_key: &str) {
        self.settled.remove(offer_key);
    }

    // --- tasks ---

    /// Checks a task a framework launched (not yet staged) against its offer: on Stage its
    /// resources move from the offer to the task.
    pub fn launch(
        &mut self,
        uid: &str,
        namespace: &str,
        name: &str,
        spec: &TaskSpec,
        now: Instant,
    ) -> Verdict {
        if self.tasks.contains_key(uid) {
            return Verdict::Stage;
        }
        let Some(offer_name) = spec.offer.as_deref() else {
            return Verdict::Error(
                "a task is launched against an offer: set spec.offer to the name of an Offer made to its framework".into(),
            );
        };
        let offer_key = key(namespace, offer_name);
        let Some(offer) = self.offers.get(&offer_key) else {
            return Verdict::Dropped(match self.settled.get(&offer_key) {
                Some(s) if s.phase == OfferPhase::Accepted && !s.listed.contains(name) => {
                    accepted_without(offer_name)
                }
                Some(s) => format!(
                    "offer {offer_name} is no longer valid: it was {:?}",
                    s.phase
                ),
                None => format!("offer {offer_name} does not exist or is no longer valid"),
            });
        };
        let framework = self
            .frameworks
            .get(offer.framework)
            .expect("framework of a live offer");
        let agent = self.agents.get(offer.agent).expect("agent of a live offer");
        let framework_name = name_of(&framework.key);
        if framework_name != spec.framework {
            return Verdict::Error(format!(
                "offer {offer_name} was made to framework {framework_name:?}, not {:?}",
                spec.framework
            ));
        }
        if agent.name != spec.agent {
            return Verdict::Error(format!(
                "offer {offer_name} is for agent {:?}, but spec.agent is {:?}",
                agent.name, spec.agent
            ));
        }
        if offer
            .accepted
            .as_ref()
            .is_some_and(|a| !a.awaiting.contains(name))
        {
            return Verdict::Dropped(accepted_without(offer_name));
        }
        if let Err(e) = spec.validate() {
            return Verdict::Error(e.to_string());
        }
        let short = spec.resources.shortfalls(&offer.remaining);
        if !short.is_empty() {
            let short: Vec<String> = short.iter().map(ToString::to_string).collect();
            return Verdict::Error(format!(
                "the task does not fit in what is left of offer {offer_name}: {}",
                short.join("; ")
            ));
        }
        let task = TaskEntry {
            agent: offer.agent,
            framework: framework.key.clone(),
            resources: spec.resources.clone(),
        };
        let offer = self.offers.get_mut(&offer_key).expect("live offer");
        offer.remaining = offer.remaining.saturating_sub(&spec.resources);
        offer.launched.insert(name.to_string());
        let all_arrived = offer.accepted.as_mut().and_then(|a| {
            a.awaiting.remove(name);
            a.awaiting.is_empty().then_some(a.refuse)
        });
        let agent = self.agents.get_mut(task.agent).expect("agent slot");
        agent.offered = agent.offered.saturating_sub(&spec.resources);
        agent.allocated += &spec.resources;
        self.tasks.insert(uid.to_string(), task);
        if let Some(refuse) = all_arrived {
            self.close(&offer_key, OfferPhase::Accepted, Some(now + refuse));
        }
        Verdict::Stage
    }

    /// Counts a task that was staged before (seen after a restart, or its staging write came
    /// back): nothing if already counted. Its resources come out of its offer if that is live.
    pub fn observe_staged(
        &mut self,
        uid: &str,
        namespace: &str,
        name: &str,
        spec: &TaskSpec,
        now: Instant,
    ) {
        if self.tasks.contains_key(uid) {
            return;
        }
        if let Some(offer) = spec.offer.as_deref()
            && self.offers.contains_key(&key(namespace, offer))
            && self.launch(uid, namespace, name, spec, now) == Verdict::Stage
        {
            return;
        }
        let Some(agent_slot) = self.agents.slot(&spec.agent) else {
            return;
        };
        let fw_key = key(namespace, &spec.framework);
        // A task of a framework that is gone holds its agent's resources, and nobody's share.
        if let Some(fw) = self.frameworks.slot(&fw_key) {
            self.grant(fw, &spec.resources);
        }
        self.agents
            .get_mut(agent_slot)
            .expect("agent slot")
            .allocated += &spec.resources;
        self.changed_agents.insert(agent_slot);
        self.tasks.insert(
            uid.to_string(),
            TaskEntry {
                agent: agent_slot,
                framework: fw_key,
                resources: spec.resources.clone(),
            },
        );
    }

    /// A staged task ended (terminal, or deleted): its resources go back to its agent.
    pub fn task_ended(&mut self, uid: &str) {
        let Some(task) = self.tasks.remove(uid) else {
            return;
        };
        if let Some(fw) = self.frameworks.slot(&task.framework) {
            self.revoke(fw, &task.resources);
        }
        if let Some(agent) = self.agents.get_mut(task.agent) {
            agent.allocated = agent.allocated.saturating_sub(&task.resources);
            let free = agent.free();
            self.changed_agents.insert(task.agent);
            self.filters.free_grew(task.agent, &free);
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

    /// A framework's holdings and dominant share.
    pub fn framework_share(&self, key: &str) -> Option<(Resources, f64)> {
        let f = self.frameworks.get(self.frameworks.slot(key)?)?;
        Some((f.held.clone(), f.held.dominant_share(&self.total)))
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

/// The fair order of one pass: roles by weighted share, and each role's frameworks.
struct Order {
    role_names: Vec<String>,
    /// Per role (by index into `role_names`), its eligible frameworks.
    members: Vec<Sorted>,
    roles: Sorted,
}

#[cfg(test)]
mod tests;
