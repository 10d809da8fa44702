//! What one app needs now: which of its tasks to kill and how many new ones to launch, so that
//! it reaches `instances` tasks of its current version within its upgrade strategy.
//!
//! Why it exists: this is Marathon's TaskReplaceActor and scaling logic as one pure function
//! of what is observed — the app's spec and version, its tasks with their states, health and
//! age — with no memory of its own. So a controller restart, a superseding change or a task
//! lost mid-rollout all land in the same code, and the rules are unit-tested:
//!
//! - A task is healthy when it runs, passes its health checks (if the app has any) and passed
//!   its readiness checks (if any).
//! - Tasks of another version are "old". While there are old tasks, the app never has fewer
//!   than ceil(instances × minimumHealthCapacity) healthy tasks (of any version) on purpose,
//!   nor more than instances + floor(instances × maximumOverCapacity) tasks — counting those
//!   being killed until they have ended, as Marathon does. When the two bounds meet (capacity 1
//!   and over-capacity 0), one task over capacity is allowed so that one can be replaced at a
//!   time, as Marathon allows for apps without reserved resources.
//! - Without old tasks: missing instances are launched, extra ones killed — marked ones
//!   (`strata.io/kill-first`) first, then those not running, the unhealthy, and then by
//!   killSelection.
//! - Unreachable tasks count until unreachableStrategy's inactiveAfterSeconds, are replaced
//!   after it, and are expunged (killed, for good) after expungeAfterSeconds.

use jiff::Timestamp;
use strata_api::app::{AppSpec, KillSelection, TaskCounts};
use strata_api::task::TaskState;

/// One task of the app as the plan sees it.
#[derive(Clone, Debug)]
pub struct Instance {
    pub name: String,
    /// The app version it runs (its `strata.io/app-version` label).
    pub version: String,
    /// None until the master staged it.
    pub state: Option<TaskState>,
    pub healthy: Option<bool>,
    /// Passed its readiness checks.
    pub ready: Option<bool>,
    /// When it was created: the age killSelection goes by.
    pub created: Timestamp,
    /// Marked to go first when scaling down.
    pub kill_first: bool,
    /// Being killed already (deleted, its agent finishing the kill).
    pub deleting: bool,
    pub unreachable_since: Option<Timestamp>,
}

impl Instance {
    fn is_running(&self) -> bool {
        self.state == Some(TaskState::Running)
    }
}

/// What the plan decided, and the counts it decided from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Tasks to kill, in order.
    pub kill: Vec<String>,
    /// New tasks of the current version to launch.
    pub launch: u32,
    /// Tasks of the current version counted as instances.
    pub new: u32,
    /// Those that are healthy (running, and passing health checks if any).
    pub new_healthy: u32,
    /// Tasks of other versions still counted.
    pub old: u32,
    /// Healthy tasks of any version.
    pub healthy: u32,
    /// The fewest healthy tasks the upgrade strategy keeps while replacing.
    pub minimum_healthy: u32,
    /// The app runs `instances` healthy tasks of its version and nothing else.
    pub done: bool,
    /// Counts for the status columns.
    pub counts: TaskCounts,
}

/// Decides for the app `spec` at `version` with `tasks` (its every task not yet terminal),
/// at `now`.
pub fn decide<'a>(
    spec: &AppSpec,
    version: &str,
    tasks: impl IntoIterator<Item = &'a Instance>,
    now: Timestamp,
) -> Decision {
    let has_checks = !spec.health_checks.is_empty();
    let has_readiness = !spec.readiness_checks.is_empty();
    let healthy = |t: &Instance| {
        t.is_running()
            && (!has_checks || t.healthy == Some(true))
            && (!has_readiness || t.ready == Some(true))
    };
    let mut kill: Vec<String> = Vec::new();
    let mut counted: Vec<&Instance> = Vec::new();
    let mut counts = TaskCounts::default();
    // Being killed: they serve nobody, but take room until they have ended.
    let (mut killing, mut killing_old) = (0, 0);
    let strategy = &spec.unreachable_strategy;
    for t in tasks {
        if t.deleting {
            killing += 1;
            killing_old += usize::from(t.version != version);
            continue;
        }
        match t.state {
            Some(TaskState::Unreachable) if !strategy.disabled => {
                let since = t.unreachable_since.unwrap_or(now);
                let gone_for = now.duration_since(since).as_secs().max(0) as u64;
                if gone_for >= strategy.expunge_after_seconds {
                    kill.push(t.name.clone());
                    continue;
                }
                if gone_for >= strategy.inactive_after_seconds {
                    continue;
                }
            }
            Some(TaskState::Running) => {
                counts.running += 1;
                match t.healthy {
                    Some(true) => counts.healthy += 1,
                    Some(false) => counts.unhealthy += 1,
                    None => {}
                }
            }
            None | Some(TaskState::Staging | TaskState::Starting) => counts.staged += 1,
            _ => {}
        }
        counted.push(t);
    }
    let (new, old): (Vec<&Instance>, Vec<&Instance>) =
        counted.into_iter().partition(|t| t.version == version);
    let n = spec.instances as usize;
    let new_healthy = new.iter().filter(|t| healthy(t)).count();
    let old_healthy = old.iter().filter(|t| healthy(t)).count();
    let upgrade = &spec.upgrade_strategy;
    // Marathon's rounding: capacity up, over-capacity down (with a little slack for floats).
    let minimum_healthy = ((n as f64 * upgrade.minimum_health_capacity) - 1e-9).ceil() as usize;
    let mut max_total = n + (n as f64 * upgrade.maximum_over_capacity + 1e-9).floor() as usize;
    // Every task that takes room: live ones of either version, and those being killed.
    let taking_room = old.len() + new.len() + killing;
    if minimum_healthy == max_total && taking_room >= max_total {
        // Nothing could move within the strategy: one over, for one replacement at a time.
        max_total += 1;
    }
    let mut launch = 0;

    if old.is_empty() && killing_old == 0 {
        if new.len() > n {
            kill.extend(
                victims(new.clone(), spec.kill_selection, &healthy)
                    .take(new.len() - n)
                    .map(|t| t.name.clone()),
            );
        } else {
            launch = n - new.len();
        }
    } else {
        // Old tasks not running yet serve nobody: they go at once. Running ones go within the
        // capacity the healthy tasks leave, the unhealthy first (an unhealthy task may only be
        // between two probes; one that keeps failing is killed by its agent anyway).
        let (old_up, old_down): (Vec<&Instance>, Vec<&Instance>) =
            old.iter().partition(|t| t.is_running());
        kill.extend(old_down.iter().map(|t| t.name.clone()));
        let spare = (new_healthy + old_healthy).saturating_sub(minimum_healthy);
        for t in victims(old_up, spec.kill_selection, &healthy).take(spare) {
            kill.push(t.name.clone());
        }
        // The old ones killed now still take room until their kill is done.
        let room = max_total.saturating_sub(taking_room);
        launch = n.saturating_sub(new.len()).min(room);
    }
    let done = old.is_empty() && new.len() == n && new_healthy == n;
    Decision {
        kill,
        launch: launch as u32,
        new: new.len() as u32,
        new_healthy: new_healthy as u32,
        old: old.len() as u32,
        healthy: (new_healthy + old_healthy) as u32,
        minimum_healthy: minimum_healthy as u32,
        done,
        counts,
    }
}

/// Tasks in the order they go when some must: marked ones first, then those not running,
/// the unhealthy, and then by `selection` (youngest or oldest first).
fn victims<'a>(
    mut tasks: Vec<&'a Instance>,
    selection: KillSelection,
    healthy: &dyn Fn(&Instance) -> bool,
) -> impl Iterator<Item = &'a Instance> {
    tasks.sort_by(|a, b| {
        let rank = |t: &Instance| (!t.kill_first, t.is_running(), healthy(t));
        rank(a).cmp(&rank(b)).then_with(|| match selection {
            KillSelection::YoungestFirst => b.created.cmp(&a.created),
            KillSelection::OldestFirst => a.created.cmp(&b.created),
        })
    });
    tasks.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_api::app::{UnreachableStrategy, UpgradeStrategy};
    use strata_api::health::HealthCheck;

    const V1: &str = "v1";
    const V2: &str = "v2";

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn app(instances: u32, min_health: f64, max_over: f64) -> AppSpec {
        AppSpec {
            cmd: Some("sleep 1000".into()),
            instances,
            upgrade_strategy: UpgradeStrategy {
                minimum_health_capacity: min_health,
                maximum_over_capacity: max_over,
            },
            ..AppSpec::default()
        }
    }

    fn task(name: &str, version: &str, state: Option<TaskState>, created: i64) -> Instance {
        Instance {
            name: name.into(),
            version: version.into(),
            state,
            healthy: None,
            ready: None,
            created: at(created),
            kill_first: false,
            deleting: false,
            unreachable_since: None,
        }
    }

    fn running(name: &str, version: &str, created: i64) -> Instance {
        task(name, version, Some(TaskState::Running), created)
    }

    #[test]
    fn a_new_app_launches_every_instance() {
        let d = decide(&app(3, 1.0, 1.0), V1, &[], at(0));
        assert_eq!((d.launch, d.kill.len(), d.done), (3, 0, false));
        let d = decide(&app(0, 1.0, 1.0), V1, &[], at(0));
        assert!(
            d.done && d.launch == 0,
            "nothing wanted, nothing running: done"
        );
    }

    #[test]
    fn scaling_down_kills_marked_then_starting_then_youngest() {
        let mut tasks = vec![
            running("old", V1, 0),
            running("young", V1, 10),
            running("middle", V1, 5),
            task("staging", V1, Some(TaskState::Staging), 1),
        ];
        let d = decide(&app(2, 1.0, 1.0), V1, &tasks, at(20));
        assert_eq!(d.kill, ["staging", "young"]);
        let oldest_first = AppSpec {
            kill_selection: KillSelection::OldestFirst,
            ..app(2, 1.0, 1.0)
        };
        assert_eq!(
            decide(&oldest_first, V1, &tasks, at(20)).kill,
            ["staging", "old"]
        );
        tasks[0].kill_first = true;
        assert_eq!(decide(&app(3, 1.0, 1.0), V1, &tasks, at(20)).kill, ["old"]);
    }

    #[test]
    fn a_rolling_upgrade_keeps_every_old_instance_until_new_ones_are_healthy() {
        let spec = app(3, 1.0, 1.0);
        let olds = || {
            (0..3)
                .map(|i| running(&format!("o{i}"), V1, i))
                .collect::<Vec<_>>()
        };
        let d = decide(&spec, V2, &olds(), at(10));
        assert_eq!((d.launch, d.kill.len(), d.minimum_healthy), (3, 0, 3));
        // Two new tasks are up, one still starting: exactly two old ones may go.
        let mut tasks = olds();
        tasks.push(running("n0", V2, 11));
        tasks.push(running("n1", V2, 12));
        tasks.push(task("n2", V2, Some(TaskState::Starting), 13));
        let d = decide(&spec, V2, &tasks, at(20));
        assert_eq!(d.kill, ["o2", "o1"], "youngest old ones first");
        assert_eq!(d.launch, 0);
        assert!(d.healthy - d.kill.len() as u32 >= d.minimum_healthy);
        // All new healthy: the rest of the old go, and it is done once they have.
        tasks[2].deleting = true;
        tasks[1].deleting = true;
        tasks[5].state = Some(TaskState::Running);
        let d = decide(&spec, V2, &tasks, at(30));
        assert_eq!(d.kill, ["o0"]);
        assert!(!d.done);
        let d = decide(&spec, V2, &tasks[3..], at(31));
        assert!(d.done && d.kill.is_empty() && d.launch == 0);
    }

    #[test]
    fn health_checks_decide_what_counts_as_healthy() {
        let spec = AppSpec {
            health_checks: vec![HealthCheck::default()],
            ..app(2, 1.0, 1.0)
        };
        let mut tasks = vec![running("o0", V1, 0), running("o1", V1, 1)];
        for t in &mut tasks {
            t.healthy = Some(true);
        }
        tasks.push(running("n0", V2, 5));
        tasks.push(running("n1", V2, 6));
        let d = decide(&spec, V2, &tasks, at(10));
        assert!(
            d.kill.is_empty(),
            "new tasks are running but not yet healthy: {d:?}"
        );
        tasks[0].healthy = Some(false);
        let d = decide(&spec, V2, &tasks, at(10));
        assert!(
            d.kill.is_empty(),
            "an old task failing a probe is not killed for it while no capacity is spare: {d:?}"
        );
        tasks[0].healthy = Some(true);
        tasks[2].healthy = Some(true);
        let d = decide(&spec, V2, &tasks, at(11));
        assert_eq!(d.kill, ["o1"]);
        assert_eq!(d.counts.unknown(), 1);
    }

    #[test]
    fn new_tasks_count_only_once_ready_when_the_app_has_readiness_checks() {
        let spec = AppSpec {
            readiness_checks: vec![strata_api::app::ReadinessCheck::default()],
            ..app(1, 1.0, 1.0)
        };
        let mut tasks = vec![running("o0", V1, 0), running("n0", V2, 5)];
        tasks[0].ready = Some(true);
        assert!(
            decide(&spec, V2, &tasks, at(10)).kill.is_empty(),
            "running, not ready"
        );
        tasks[1].ready = Some(true);
        assert_eq!(decide(&spec, V2, &tasks, at(11)).kill, ["o0"]);
    }

    #[test]
    fn a_broken_new_version_never_takes_the_old_one_down() {
        let spec = app(2, 1.0, 0.5);
        let mut tasks = vec![running("o0", V1, 0), running("o1", V1, 1)];
        let d = decide(&spec, V2, &tasks, at(5));
        assert_eq!(
            (d.launch, d.kill.len()),
            (1, 0),
            "over-capacity 0.5 of 2: one at a time"
        );
        tasks.push(task("n0", V2, Some(TaskState::Starting), 6));
        for _ in 0..5 {
            let d = decide(&spec, V2, &tasks, at(10));
            assert!(d.kill.is_empty() && d.launch == 0);
        }
    }

    #[test]
    fn capacity_one_over_capacity_zero_goes_one_over_and_never_below() {
        let spec = app(2, 1.0, 0.0);
        let mut tasks = vec![running("o0", V1, 0), running("o1", V1, 1)];
        let d = decide(&spec, V2, &tasks, at(5));
        assert_eq!((d.launch, d.kill.len()), (1, 0), "one over, nothing killed");
        tasks.push(running("n0", V2, 6));
        let d = decide(&spec, V2, &tasks, at(7));
        assert_eq!((d.launch, d.kill.clone()), (0, vec!["o1".to_string()]));
        tasks[1].deleting = true;
        let d = decide(&spec, V2, &tasks, at(8));
        assert_eq!(
            (d.launch, d.kill.len()),
            (0, 0),
            "the old one takes room until its kill is done"
        );
        tasks.remove(1);
        let d = decide(&spec, V2, &tasks, at(9));
        assert_eq!((d.launch, d.kill.len()), (1, 0));
    }

    #[test]
    fn capacity_zero_stops_the_old_version_at_once_and_starts_the_new_as_it_ends() {
        let spec = app(2, 0.0, 0.0);
        let mut tasks = vec![running("o0", V1, 0), running("o1", V1, 1)];
        let d = decide(&spec, V2, &tasks, at(5));
        assert_eq!((d.kill.len(), d.launch), (2, 0));
        tasks[0].deleting = true;
        tasks[1].deleting = true;
        assert_eq!(
            decide(&spec, V2, &tasks, at(6)).launch,
            0,
            "still being killed"
        );
        assert_eq!(decide(&spec, V2, &tasks[1..], at(7)).launch, 1);
        assert_eq!(decide(&spec, V2, &[], at(8)).launch, 2);
    }

    #[test]
    fn over_capacity_counts_tasks_being_killed_until_they_end() {
        // 10 instances, 20% over: never more than 12 tasks, killed ones included.
        let spec = app(10, 1.0, 0.2);
        let mut tasks: Vec<Instance> = (0..10).map(|i| running(&format!("o{i}"), V1, i)).collect();
        let d = decide(&spec, V2, &tasks, at(20));
        assert_eq!((d.launch, d.kill.len()), (2, 0));
        tasks.push(running("n0", V2, 21));
        tasks.push(running("n1", V2, 22));
        let d = decide(&spec, V2, &tasks, at(23));
        assert_eq!((d.launch, d.kill.len()), (0, 2));
        for name in &d.kill {
            tasks.iter_mut().find(|t| &t.name == name).unwrap().deleting = true;
        }
        let d = decide(&spec, V2, &tasks, at(24));
        assert_eq!(
            d.launch, 0,
            "12 tasks, two of them being killed: no room yet"
        );
        tasks.retain(|t| !t.deleting);
        assert_eq!(decide(&spec, V2, &tasks, at(25)).launch, 2);
    }

    #[test]
    fn unreachable_tasks_are_replaced_then_expunged() {
        let spec = AppSpec {
            unreachable_strategy: UnreachableStrategy {
                disabled: false,
                inactive_after_seconds: 60,
                expunge_after_seconds: 600,
            },
            ..app(2, 1.0, 1.0)
        };
        let mut lost = task("u", V1, Some(TaskState::Unreachable), 0);
        lost.unreachable_since = Some(at(100));
        let tasks = vec![running("r", V1, 1), lost];
        assert_eq!(
            decide(&spec, V1, &tasks, at(130)).launch,
            0,
            "not yet inactive"
        );
        let d = decide(&spec, V1, &tasks, at(161));
        assert_eq!((d.launch, d.kill.len()), (1, 0), "replaced, kept");
        let d = decide(&spec, V1, &tasks, at(701));
        assert_eq!(
            (d.launch, d.kill.clone()),
            (1, vec!["u".to_string()]),
            "expunged"
        );
        let disabled = AppSpec {
            unreachable_strategy: UnreachableStrategy {
                disabled: true,
                ..UnreachableStrategy::default()
            },
            ..spec
        };
        assert_eq!(decide(&disabled, V1, &tasks, at(10_000)).launch, 0);
    }
}
