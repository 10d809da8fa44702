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
//! equalizes. Nothing is ever offered twice: an offer takes resources out of `free`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use strata_api::resources::Resources;
use strata_api::role::QuotaLimits;
use strata_api::task::TaskSpec;

use super::drf::{Sorted, weighted_share};
use super::filters::{Filters, FrameworkSet};

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
    configured: bool,
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
#[derive(Clone, Debug)]
struct Settled {
    phase: &'static str,
    listed: HashSet<String>,
}

/// A staged task's hold on resources.
struct TaskEntry {
    agent: usize,
    framework: String,
    role: String,
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
    fn phase(&self) -> &'static str {
        match self {
            Settlement::Accepted { .. } => "Accepted",
            Settlement::Declined { .. } => "Declined",
            Settlement::Rescinded => "Rescinded",
            Settlement::Expired => "Expired",
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

/// The allocator's state. Agents and frameworks are kept in slots (indices into vectors) so
/// the pass and the refuse filters work on integers; names map to slots.
pub struct Model {
    config: Config,
    agents: Vec<Option<AgentEntry>>,
    agent_slots: HashMap<String, usize>,
    frameworks: Vec<Option<FrameworkEntry>>,
    framework_slots: HashMap<String, usize>,
    roles: HashMap<String, RoleEntry>,
    offers: HashMap<String, OfferEntry>,
    settled: HashMap<String, Settled>,
    tasks: HashMap<String, TaskEntry>,
    filters: Filters,
    /// Sum of every agent's total.
    total: Resources,
    passes: u64,
    offers_made: u64,
}

/// `namespace/name`, the key of namespaced objects.
pub fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

fn namespace_of(key: &str) -> &str {
    key.split_once('/').map_or("", |(ns, _)| ns)
}

impl Model {
    pub fn new(config: Config) -> Model {
        Model {
            config,
            agents: Vec::new(),
            agent_slots: HashMap::new(),
            frameworks: Vec::new(),
            framework_slots: HashMap::new(),
            roles: HashMap::new(),
            offers: HashMap::new(),
            settled: HashMap::new(),
            tasks: HashMap::new(),
            filters: Filters::default(),
            total: Resources::new(),
            passes: 0,
            offers_made: 0,
        }
    }

    // --- agents ---

    /// Adds or updates an agent; returns the live offers on it to rescind when it may no
    /// longer be offered.
    pub fn upsert_agent(&mut self, name: &str, info: AgentInfo) -> Vec<String> {
        let slot = match self.agent_slots.get(name) {
            Some(slot) => *slot,
            None => {
                let slot = free_slot(&mut self.agents);
                self.filters.clear_agent(slot);
                self.agents[slot] = Some(AgentEntry {
                    name: name.to_string(),
                    info: AgentInfo::default(),
                    offered: Resources::new(),
                    allocated: Resources::new(),
                });
                self.agent_slots.insert(name.to_string(), slot);
                slot
            }
        };
        let agent = self.agents[slot].as_mut().expect("agent slot");
        self.total = &self.total.saturating_sub(&agent.info.total) + &info.total;
        let grew = !info.total.fits(&agent.info.total);
        agent.info = info;
        let schedulable = agent.info.schedulable;
        if grew {
            let free = agent.free();
            self.filters.free_grew(slot, &free);
        }
        if schedulable {
            Vec::new()
        } else {
            self.offers_on(slot)
        }
    }

    /// Forgets an agent; returns its live offers to rescind. Its tasks stop counting.
    pub fn remove_agent(&mut self, name: &str) -> Vec<String> {
        let Some(slot) = self.agent_slots.get(name).copied() else {
            return Vec::new();
        };
        let offers = self.offers_on(slot);
        let now = Instant::now();
        for offer in &offers {
            self.settle(offer, Settlement::Rescinded, now);
        }
        let tasks: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.agent == slot)
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in tasks {
            self.task_ended(&uid);
        }
        let agent = self.agents[slot].take().expect("agent slot");
        self.total = self.total.saturating_sub(&agent.info.total);
        self.agent_slots.remove(name);
        self.filters.clear_agent(slot);
        offers
    }

    fn offers_on(&self, slot: usize) -> Vec<String> {
        self.offers
            .iter()
            .filter(|(_, o)| o.agent == slot && o.accepted.is_none())
            .map(|(k, _)| k.clone())
            .collect()
    }

    // --- frameworks and roles ---

    /// Adds or updates a framework (`namespace/name`); returns its live offers to rescind when
    /// it went inactive. Reviving (suppressed to not) clears its refuse filters, as in Mesos.
    pub fn upsert_framework(&mut self, key: &str, info: FrameworkInfo) -> Vec<String> {
        let slot = match self.framework_slots.get(key) {
            Some(slot) => *slot,
            None => {
                let slot = free_slot(&mut self.frameworks);
                self.filters.clear_framework(slot);
                self.frameworks[slot] = Some(FrameworkEntry {
                    key: key.to_string(),
                    info: info.clone(),
                    held: Resources::new(),
                });
                self.framework_slots.insert(key.to_string(), slot);
                self.roles.entry(info.role.clone()).or_default();
                slot
            }
        };
        let framework = self.frameworks[slot].as_mut().expect("framework slot");
        let revived = framework.info.suppressed && !info.suppressed;
        if framework.info.role != info.role {
            // Its holdings move to the new role.
            let held = framework.held.clone();
            let old = framework.info.role.clone();
            if let Some(role) = self.roles.get_mut(&old) {
                role.held = role.held.saturating_sub(&held);
            }
            let role = self.roles.entry(info.role.clone()).or_default();
            role.held += &held;
        }
        let active = info.active;
        framework.info = info;
        if revived {
            self.filters.clear_framework(slot);
        }
        self.forget_unused_roles();
        if active {
            Vec::new()
        } else {
            self.live_offers_of(slot)
        }
    }

    /// Forgets a framework (torn down); returns its live offers to rescind.
    pub fn remove_framework(&mut self, key: &str) -> Vec<String> {
        let Some(slot) = self.framework_slots.get(key).copied() else {
            return Vec::new();
        };
        let offers = self.live_offers_of(slot);
        let now = Instant::now();
        for offer in &offers {
            self.settle(offer, Settlement::Rescinded, now);
        }
        self.frameworks[slot] = None;
        self.framework_slots.remove(key);
        self.filters.clear_framework(slot);
        self.forget_unused_roles();
        offers
    }

    fn live_offers_of(&self, slot: usize) -> Vec<String> {
        self.offers
            .iter()
            .filter(|(_, o)| o.framework == slot && o.accepted.is_none())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Sets a role's weight and quota (a ResourceRole); returns live offers of the role to
    /// rescind when it now holds more than its limit.
    pub fn upsert_role(&mut self, role: &str, info: RoleInfo) -> Vec<String> {
        let entry = self.roles.entry(role.to_string()).or_default();
        entry.info = info;
        entry.configured = true;
        self.over_quota(role)
    }

    /// Back to the defaults for `role` (its ResourceRole was deleted).
    pub fn remove_role(&mut self, role: &str) {
        if let Some(entry) = self.roles.get_mut(role) {
            entry.info = RoleInfo::default();
            entry.configured = false;
        }
        self.forget_unused_roles();
    }

    fn over_quota(&self, role: &str) -> Vec<String> {
        let Some(entry) = self.roles.get(role) else {
            return Vec::new();
        };
        if !entry.info.limits.exceeded_by(&entry.held) {
            return Vec::new();
        }
        self.offers
            .iter()
            .filter(|(_, o)| {
                o.accepted.is_none()
                    && self.frameworks[o.framework]
                        .as_ref()
                        .is_some_and(|f| f.info.role == role)
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn forget_unused_roles(&mut self) {
        let used: HashSet<&str> = self
            .frameworks
            .iter()
            .flatten()
            .map(|f| f.info.role.as_str())
            .chain(self.tasks.values().map(|t| t.role.as_str()))
            .collect();
        let unused: Vec<String> = self
            .roles
            .iter()
            .filter(|(name, r)| !r.configured && !used.contains(name.as_str()))
            .map(|(name, _)| name.clone())
            .collect();
        for name in unused {
            self.roles.remove(&name);
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
        for (slot, framework) in self.frameworks.iter().enumerate() {
            let Some(f) = framework else { continue };
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
        let role_names: Vec<String> = by_role.keys().map(|r| r.to_string()).collect();
        let mut members: Vec<Sorted> = role_names
            .iter()
            .map(|r| Sorted::new(by_role.remove(r.as_str()).unwrap_or_default()))
            .collect();
        let role_share = |roles: &HashMap<String, RoleEntry>, name: &str| {
            let r = &roles[name];
            weighted_share(&r.held, &total, r.info.weight)
        };
        let mut role_order = Sorted::new(
            role_names
                .iter()
                .enumerate()
                .map(|(i, r)| (role_share(&self.roles, r), i))
                .collect(),
        );

        let mut out = Vec::new();
        let n = self.agents.len();
        let start = if n == 0 {
            0
        } else {
            (self.passes as usize) % n
        };
        let mut offered_here: Vec<usize> = Vec::new();
        for step in 0..n {
            let slot = (start + step) % n;
            let Some(agent) = &self.agents[slot] else {
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
            'offer: loop {
                for ri in 0..role_order.len() {
                    let role_index = role_order.get(ri).expect("role position");
                    let role_name = &role_names[role_index];
                    let role = &self.roles[role_name];
                    let offer = role.info.limits.headroom(&role.held, &free);
                    if !self.allocatable(&offer) {
                        continue;
                    }
                    let sorted = &members[role_index];
                    let chosen = sorted.iter().find(|fw| {
                        !offered_here.contains(fw) && !self.filters.is_filtered(slot, *fw)
                    });
                    let Some(fw) = chosen else { continue };
                    let allocation = self.make_offer(slot, fw, offer.clone(), now);
                    out.push(allocation);
                    offered_here.push(fw);
                    free = free.saturating_sub(&offer);
                    let f = self.frameworks[fw].as_ref().expect("framework slot");
                    members[role_index].update(fw, weighted_share(&f.held, &total, f.info.weight));
                    role_order.update(role_index, role_share(&self.roles, role_name));
                    if self.allocatable(&free) {
                        continue 'offer;
                    }
                    break 'offer;
                }
                break;
            }
        }
        out
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
        let agent = self.agents[agent_slot].as_mut().expect("agent slot");
        agent.offered += &resources;
        let framework = self.frameworks[fw_slot].as_mut().expect("framework slot");
        framework.held += &resources;
        let role = self
            .roles
            .get_mut(&framework.info.role)
            .expect("role of a framework");
        role.held += &resources;
        let (namespace, framework_name) = framework
            .key
            .split_once('/')
            .expect("framework keys are namespace/name");
        let name = format!(
            "{}-{}-{:x}",
            agent.name, self.config.epoch, self.offers_made
        );
        let allocation = Allocation {
            namespace: namespace.to_string(),
            name: name.clone(),
            framework: framework_name.to_string(),
            agent: agent.name.clone(),
            hostname: agent.info.hostname.clone(),
            attributes: agent.info.attributes.clone(),
            resources: resources.clone(),
        };
        self.offers.insert(
            key(namespace, &name),
            OfferEntry {
                agent: agent_slot,
                framework: fw_slot,
                remaining: resources,
                expires: self.config.offer_timeout.map(|t| now + t),
                launched: HashSet::new(),
                accepted: None,
            },
        );
        allocation
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
        let (Some(&agent_slot), Some(&fw_slot)) = (
            self.agent_slots.get(agent),
            self.framework_slots.get(&fw_key),
        ) else {
            return false;
        };
        let a = self.agents[agent_slot].as_mut().expect("agent slot");
        a.offered += resources;
        let f = self.frameworks[fw_slot].as_mut().expect("framework slot");
        f.held += resources;
        let role = self.roles.entry(f.info.role.clone()).or_default();
        role.held += resources;
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
    /// Returns the names of listed tasks still awaited.
    pub fn settle(&mut self, offer_key: &str, how: Settlement, now: Instant) -> usize {
        let Some(offer) = self.offers.get_mut(offer_key) else {
            return 0;
        };
        if offer.accepted.is_some() {
            return 0;
        }
        let phase = how.phase();
        let refuse = match &how {
            Settlement::Accepted { tasks, refuse } => {
                let awaiting: HashSet<String> = tasks
                    .iter()
                    .filter(|t| !offer.launched.contains(*t))
                    .cloned()
                    .collect();
                let listed: HashSet<String> = tasks.iter().cloned().collect();
                self.settled.insert(
                    offer_key.to_string(),
                    Settled {
                        phase,
                        listed: listed.clone(),
                    },
                );
                if !awaiting.is_empty() {
                    let count = awaiting.len();
                    offer.accepted = Some(Accepted {
                        awaiting,
                        refuse: *refuse,
                        deadline: now + ACCEPT_WAIT,
                    });
                    return count;
                }
                Some(*refuse)
            }
            Settlement::Declined { refuse } => Some(*refuse),
            Settlement::Rescinded | Settlement::Expired => None,
        };
        self.settled
            .entry(offer_key.to_string())
            .or_insert(Settled {
                phase,
                listed: HashSet::new(),
            });
        self.close(offer_key, refuse, now);
        0
    }

    /// Returns what is left of a live offer to its agent.
    fn close(&mut self, offer_key: &str, refuse: Option<Duration>, now: Instant) {
        let Some(offer) = self.offers.remove(offer_key) else {
            return;
        };
        let remaining = offer.remaining;
        if let Some(f) = self.frameworks[offer.framework].as_mut() {
            f.held = f.held.saturating_sub(&remaining);
            if let Some(role) = self.roles.get_mut(&f.info.role) {
                role.held = role.held.saturating_sub(&remaining);
            }
        }
        if let Some(agent) = self.agents[offer.agent].as_mut() {
            agent.offered = agent.offered.saturating_sub(&remaining);
            let free = agent.free();
            self.filters.free_grew(offer.agent, &free);
            if let Some(refuse) = refuse
                && !remaining.is_empty()
                && !refuse.is_zero()
            {
                self.filters
                    .add(offer.agent, offer.framework, now + refuse, remaining);
            }
        }
    }

    /// Live offers past their expiry, and accepted offers done waiting for missing tasks
    /// (closed here). The expired ones are for the caller to settle as Expired.
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
            self.close(&k, Some(refuse), now);
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
    pub fn launch(&mut self, uid: &str, namespace: &str, name: &str, spec: &TaskSpec) -> Verdict {
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
                Some(s) if s.phase == "Accepted" && !s.listed.contains(name) => format!(
                    "offer {offer_name} was accepted without this task (list it in the offer's status.tasks)"
                ),
                Some(s) => format!("offer {offer_name} is no longer valid: it was {}", s.phase),
                None => format!("offer {offer_name} does not exist or is no longer valid"),
            });
        };
        let framework = self.frameworks[offer.framework]
            .as_ref()
            .expect("framework of a live offer");
        let agent = self.agents[offer.agent]
            .as_ref()
            .expect("agent of a live offer");
        let framework_name = framework.key.split_once('/').map_or("", |(_, n)| n);
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
        if let Some(accepted) = &offer.accepted
            && !accepted.awaiting.contains(name)
        {
            return Verdict::Dropped(format!(
                "offer {offer_name} was accepted without this task (list it in the offer's status.tasks)"
            ));
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
        let role = framework.info.role.clone();
        let framework_key = framework.key.clone();
        let (agent_slot, offer_done) = {
            let offer = self.offers.get_mut(&offer_key).expect("live offer");
            offer.remaining = offer.remaining.saturating_sub(&spec.resources);
            offer.launched.insert(name.to_string());
            let done = offer.accepted.as_mut().and_then(|a| {
                a.awaiting.remove(name);
                a.awaiting.is_empty().then_some(a.refuse)
            });
            (offer.agent, done)
        };
        let agent = self.agents[agent_slot].as_mut().expect("agent slot");
        agent.offered = agent.offered.saturating_sub(&spec.resources);
        agent.allocated += &spec.resources;
        self.tasks.insert(
            uid.to_string(),
            TaskEntry {
                agent: agent_slot,
                framework: framework_key,
                role,
                resources: spec.resources.clone(),
            },
        );
        if let Some(refuse) = offer_done {
            self.close(&offer_key, Some(refuse), Instant::now());
        }
        Verdict::Stage
    }

    /// Counts a task that was staged before (seen after a restart, or its staging write came
    /// back): nothing if already counted. Its resources come out of its offer if that is live.
    pub fn observe_staged(&mut self, uid: &str, namespace: &str, name: &str, spec: &TaskSpec) {
        if self.tasks.contains_key(uid) {
            return;
        }
        if let Some(offer) = spec.offer.as_deref()
            && self.offers.contains_key(&key(namespace, offer))
            && self.launch(uid, namespace, name, spec) == Verdict::Stage
        {
            return;
        }
        let Some(&agent_slot) = self.agent_slots.get(&spec.agent) else {
            return;
        };
        let fw_key = key(namespace, &spec.framework);
        let role = match self.framework_slots.get(&fw_key) {
            Some(&slot) => {
                let f = self.frameworks[slot].as_mut().expect("framework slot");
                f.held += &spec.resources;
                f.info.role.clone()
            }
            None => "*".to_string(),
        };
        self.roles.entry(role.clone()).or_default().held += &spec.resources;
        let agent = self.agents[agent_slot].as_mut().expect("agent slot");
        agent.allocated += &spec.resources;
        self.tasks.insert(
            uid.to_string(),
            TaskEntry {
                agent: agent_slot,
                framework: fw_key,
                role,
                resources: spec.resources.clone(),
            },
        );
    }

    /// A staged task ended (terminal, or deleted): its resources go back to its agent.
    pub fn task_ended(&mut self, uid: &str) {
        let Some(task) = self.tasks.remove(uid) else {
            return;
        };
        if let Some(&slot) = self.framework_slots.get(&task.framework)
            && let Some(f) = self.frameworks[slot].as_mut()
        {
            f.held = f.held.saturating_sub(&task.resources);
        }
        if let Some(role) = self.roles.get_mut(&task.role) {
            role.held = role.held.saturating_sub(&task.resources);
        }
        if let Some(agent) = self.agents[task.agent].as_mut() {
            agent.allocated = agent.allocated.saturating_sub(&task.resources);
            let free = agent.free();
            self.filters.free_grew(task.agent, &free);
        }
    }

    // --- what the status writers report ---

    /// An agent's allocated resources (tasks and offers), as its status reports them.
    pub fn agent_allocated(&self, name: &str) -> Option<Resources> {
        let slot = *self.agent_slots.get(name)?;
        let a = self.agents[slot].as_ref()?;
        Some(&a.allocated + &a.offered)
    }

    /// A framework's holdings and dominant share.
    pub fn framework_share(&self, key: &str) -> Option<(Resources, f64)> {
        let slot = *self.framework_slots.get(key)?;
        let f = self.frameworks[slot].as_ref()?;
        Some((f.held.clone(), f.held.dominant_share(&self.total)))
    }

    /// A role's holdings and dominant share.
    pub fn role_share(&self, role: &str) -> Option<(Resources, f64)> {
        let r = self.roles.get(role)?;
        Some((r.held.clone(), r.held.dominant_share(&self.total)))
    }

    /// The frameworks known, by key.
    pub fn framework_keys(&self) -> impl Iterator<Item = &str> {
        self.frameworks.iter().flatten().map(|f| f.key.as_str())
    }

    /// The agents known, by name.
    pub fn agent_names(&self) -> impl Iterator<Item = &str> {
        self.agents.iter().flatten().map(|a| a.name.as_str())
    }

    /// Counts for metrics and logs: (agents, frameworks, live offers, staged tasks).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.agent_slots.len(),
            self.framework_slots.len(),
            self.offers.len(),
            self.tasks.len(),
        )
    }
}

/// The first empty slot of `slots`, appending one if none.
fn free_slot<T>(slots: &mut Vec<Option<T>>) -> usize {
    match slots.iter().position(Option::is_none) {
        Some(slot) => slot,
        None => {
            slots.push(None);
            slots.len() - 1
        }
    }
}

#[cfg(test)]
mod tests;
