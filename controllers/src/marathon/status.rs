//! What an App and its Rollout say about themselves: the Marathon columns, the counts, the
//! conditions `kubectl wait` and GitOps tools read, and why a rollout waits.
//!
//! Why it exists: Marathon's second complaint is not knowing why an app waits. Every reason
//! the controller can be held up by — offers that do not fit (by reason and count), the
//! crash-loop backoff, launches stopped by the user, dependencies not yet healthy, new tasks not
//! yet healthy — ends up here, in the app's Progressing condition and its rollout's reason, as
//! a pure function of what the plan decided.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use strata_api::app::{AppPhase, AppSpec, AppStatus, LaunchDelay, LaunchQueue, TaskFailure};
use strata_api::conditions::{Condition, ConditionStatus, reasons, set_condition, types};
use strata_api::rollout::{RolloutPhase, RolloutStatus, StepAction};

use super::plan::Decision;

/// How long instances may wait for offers before the app shows Waiting (Marathon's "overdue").
pub const WAITING_AFTER: Duration = Duration::from_secs(3);

/// Why launches that the plan wants are not happening, most pressing first.
#[derive(Clone, Debug, PartialEq)]
pub enum Hold {
    /// The user stopped launches of this version.
    Stopped,
    /// The crash-loop backoff.
    Backoff(LaunchDelay),
    /// Apps this one depends on are not yet healthy (their names).
    Dependencies(Vec<String>),
    /// Waiting for offers that fit (the queue says why they did not).
    Offers,
}

/// Everything the status is computed from.
pub struct Inputs<'a> {
    pub spec: &'a AppSpec,
    pub generation: Option<i64>,
    pub id: String,
    pub name: &'a str,
    pub version: &'a str,
    pub decision: &'a Decision,
    /// The rollout in progress, if any, and the latest one's name and revision.
    pub rolling: bool,
    pub rollout: Option<String>,
    pub revision: u64,
    pub hold: Option<Hold>,
    pub queue: Option<LaunchQueue>,
    pub delay: Option<LaunchDelay>,
    pub last_failure: Option<TaskFailure>,
    /// The stored status, whose condition transition times are kept.
    pub previous: Option<&'a AppStatus>,
    pub now: Timestamp,
}

/// The App's status.
pub fn app_status(i: Inputs<'_>) -> AppStatus {
    let d = i.decision;
    let n = i.spec.instances;
    let mut status = AppStatus {
        observed_generation: i.generation,
        selector: Some(strata_api::labels::app_selector(i.name)),
        id: Some(i.id),
        version: Some(i.version.to_string()),
        rollout: i.rollout,
        revision: i.revision,
        launch_delay: i.delay,
        last_task_failure: i.last_failure,
        conditions: i.previous.map(|p| p.conditions.clone()).unwrap_or_default(),
        ..AppStatus::default()
    };
    status.set_counts(d.counts, n, !i.spec.health_checks.is_empty());
    let waiting_long = i.queue.as_ref().is_some_and(|q| {
        q.since
            .as_ref()
            .is_some_and(|s| i.now.duration_since(s.0).as_secs_f64() >= WAITING_AFTER.as_secs_f64())
    });
    let phase = match &i.hold {
        Some(Hold::Stopped) => AppPhase::Stopped,
        _ => AppPhase::derive(
            i.rolling,
            matches!(i.hold, Some(Hold::Backoff(_))),
            matches!(i.hold, Some(Hold::Dependencies(_)))
                || (matches!(i.hold, Some(Hold::Offers)) && waiting_long),
            n,
            d.counts.running,
        ),
    };
    status.phase = Some(phase);
    status.queue = i.queue;
    let stamp = Time(i.now);

    let needed = d.minimum_healthy.max(if d.old == 0 { n } else { 0 });
    let available = d.healthy >= needed.min(n);
    let (reason, message) = if available {
        (
            reasons::MINIMUM_INSTANCES_AVAILABLE,
            format!("{} of {n} instances healthy", d.healthy),
        )
    } else {
        (
            reasons::INSUFFICIENT_INSTANCES,
            format!(
                "{} of {n} instances healthy; {} needed",
                d.healthy,
                needed.min(n)
            ),
        )
    };
    set_condition(
        &mut status.conditions,
        Condition::new(
            types::AVAILABLE,
            ConditionStatus::from_bool(available),
            reason,
            message,
            stamp.clone(),
        )
        .observed(i.generation),
    );
    let (progressing, reason, message) = progressing(&i.hold, i.rolling, &status, d, n, i.now);
    set_condition(
        &mut status.conditions,
        Condition::new(
            types::PROGRESSING,
            ConditionStatus::from_bool(progressing),
            reason,
            message,
            stamp,
        )
        .observed(i.generation),
    );
    status
}

/// The Progressing condition: (status, reason, message).
fn progressing(
    hold: &Option<Hold>,
    rolling: bool,
    status: &AppStatus,
    d: &Decision,
    n: u32,
    now: Timestamp,
) -> (bool, &'static str, String) {
    match hold {
        Some(h) if rolling || d.launch > 0 => {
            let (reason, message) = hold_reason(h, status.queue.as_ref(), d.launch, now);
            (false, reason, message)
        }
        _ if rolling => (
            true,
            reasons::DEPLOYING,
            format!(
                "rollout {}: {}/{n} new instances healthy, {} old left",
                status.rollout.as_deref().unwrap_or("-"),
                d.new_healthy,
                d.old
            ),
        ),
        _ if n == 0 => (
            true,
            reasons::SUSPENDED,
            "scaled to 0 instances".to_string(),
        ),
        _ => (
            true,
            reasons::DEPLOYMENT_COMPLETE,
            format!(
                "rollout {} complete",
                status.rollout.as_deref().unwrap_or("-")
            ),
        ),
    }
}

/// The reason and words of a hold, e.g. "2 instances wait for offers: 3 offers with
/// insufficient memory".
pub fn hold_reason(
    hold: &Hold,
    queue: Option<&LaunchQueue>,
    launches: u32,
    now: Timestamp,
) -> (&'static str, String) {
    match hold {
        Hold::Stopped => (
            LAUNCHES_STOPPED,
            "launches of this version were stopped (strata app resume, or a new version, starts them again)".to_string(),
        ),
        Hold::Backoff(delay) => {
            let left = delay.launch_after.0.duration_since(now).as_secs().max(0);
            (
                reasons::BACKOFF,
                format!(
                    "next launch in {left}s: {} failure(s) in a row, delay {}s",
                    delay.failures, delay.seconds
                ),
            )
        }
        Hold::Dependencies(names) => (
            WAITING_FOR_DEPENDENCIES,
            format!("waiting for {} to be healthy", names.join(", ")),
        ),
        Hold::Offers => {
            let why = match queue {
                Some(q) if !q.rejections.is_empty() => {
                    let parts: Vec<String> = q
                        .rejections
                        .iter()
                        .map(|r| format!("{} {}", r.count, reason_words(&r.reason)))
                        .collect();
                    format!(
                        "{} offer(s) did not fit: {}",
                        q.offers_processed,
                        parts.join(", ")
                    )
                }
                Some(q) if q.offers_processed > 0 => {
                    format!("{} offer(s) seen", q.offers_processed)
                }
                _ => "no offers received".to_string(),
            };
            (
                reasons::WAITING_FOR_OFFERS,
                format!("{launches} instance(s) wait for offers; {why}"),
            )
        }
    }
}

/// Rollout reason: launches of the version were stopped by the user.
pub const LAUNCHES_STOPPED: &str = "LaunchesStopped";
/// Rollout reason: apps it depends on are not healthy yet.
pub const WAITING_FOR_DEPENDENCIES: &str = "WaitingForDependencies";
/// Rollout reason: new instances run but are not yet healthy.
pub const WAITING_FOR_HEALTH: &str = "WaitingForHealth";

fn reason_words(reason: &str) -> String {
    let mut out = String::new();
    for (i, c) in reason.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// A rollout's status as the plan sees it now; `previous` keeps its start and lowest count.
pub fn rollout_status(
    previous: &RolloutStatus,
    d: &Decision,
    instances: u32,
    hold: Option<(&'static str, String)>,
    now: Timestamp,
) -> RolloutStatus {
    let mut status = previous.clone();
    let stamp = Time(now);
    status.started_at.get_or_insert(stamp.clone());
    let moved = status.new_instances != d.new
        || status.new_healthy != d.new_healthy
        || status.old_instances != d.old;
    if moved || status.last_progress_at.is_none() {
        status.last_progress_at = Some(stamp.clone());
    }
    status.new_instances = d.new;
    status.new_healthy = d.new_healthy;
    status.old_instances = d.old;
    status.minimum_healthy = d.minimum_healthy;
    if d.old > 0 {
        status.lowest_healthy = Some(
            status
                .lowest_healthy
                .map_or(d.healthy, |l| l.min(d.healthy)),
        );
    }
    status.progress = Some(format!("{}/{instances}", d.new_healthy));
    for step in &mut status.steps {
        step.done = match step.action {
            StepAction::StartApplication => d.new > 0 || instances == 0,
            StepAction::ScaleApplication | StepAction::RestartApplication => {
                d.new_healthy >= step.instances && d.new <= step.instances
            }
            StepAction::KillAllOldTasksOf => d.old == 0 && d.new_healthy >= step.instances,
        };
    }
    if d.done {
        status.phase = RolloutPhase::Succeeded;
        status.finished_at = Some(stamp.clone());
        status.reason = None;
        status.message = Some("the app runs the new spec".to_string());
    } else {
        let (reason, message) = hold.unwrap_or_else(|| {
            if d.launch == 0 && d.new > d.new_healthy {
                (
                    WAITING_FOR_HEALTH,
                    format!("{} of {} new instance(s) healthy", d.new_healthy, d.new),
                )
            } else {
                (
                    reasons::DEPLOYING,
                    format!(
                        "{}/{instances} new healthy, {} old left",
                        d.new_healthy, d.old
                    ),
                )
            }
        });
        status.reason = Some(reason.to_string());
        status.message = Some(message);
    }
    // Stuck: no instance launched, became healthy or went for PROGRESS_DEADLINE. Visible, and
    // never a lock: a newer change still takes over.
    let stalled_for = status
        .last_progress_at
        .as_ref()
        .map_or(0, |t| now.duration_since(t.0).as_secs());
    let (progressing, reason, message) = if d.done {
        (true, reasons::DEPLOYMENT_COMPLETE, "done".to_string())
    } else if stalled_for >= PROGRESS_DEADLINE.as_secs() as i64 {
        (
            false,
            PROGRESS_DEADLINE_EXCEEDED,
            format!(
                "no progress for {stalled_for}s: {}",
                status.message.as_deref().unwrap_or("-")
            ),
        )
    } else {
        (true, reasons::DEPLOYING, "progressing".to_string())
    };
    set_condition(
        &mut status.conditions,
        Condition::new(
            types::PROGRESSING,
            ConditionStatus::from_bool(progressing),
            reason,
            message,
            stamp,
        ),
    );
    status
}

/// How long a rollout may go without progress before it shows as stuck (Kubernetes'
/// progressDeadlineSeconds default).
pub const PROGRESS_DEADLINE: Duration = Duration::from_secs(600);
/// Rollout Progressing=False: no progress for [`PROGRESS_DEADLINE`].
pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";

#[cfg(test)]
mod tests {
    use super::*;
    use strata_api::app::{OfferRejection, TaskCounts};
    use strata_api::conditions::find_condition;
    use strata_api::rollout::{Change, plan};

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn inputs<'a>(spec: &'a AppSpec, d: &'a Decision, hold: Option<Hold>) -> Inputs<'a> {
        Inputs {
            spec,
            generation: Some(3),
            id: "/web".into(),
            name: "web",
            version: "v2",
            decision: d,
            rolling: !d.done,
            rollout: Some("web-3".into()),
            revision: 3,
            hold,
            queue: None,
            delay: None,
            last_failure: None,
            previous: None,
            now: at(100),
        }
    }

    #[test]
    fn a_healthy_app_is_running_available_and_complete() {
        let spec = AppSpec {
            instances: 2,
            ..AppSpec::default()
        };
        let d = Decision {
            new: 2,
            new_healthy: 2,
            healthy: 2,
            minimum_healthy: 2,
            done: true,
            counts: TaskCounts {
                running: 2,
                ..TaskCounts::default()
            },
            ..Decision::default()
        };
        let s = app_status(inputs(&spec, &d, None));
        assert_eq!(s.phase, Some(AppPhase::Running));
        assert_eq!(s.tasks.as_deref(), Some("2 / 2"));
        assert!(
            find_condition(&s.conditions, types::AVAILABLE)
                .unwrap()
                .is_true()
        );
        let p = find_condition(&s.conditions, types::PROGRESSING).unwrap();
        assert_eq!(
            (p.reason.as_str(), p.observed_generation),
            ("DeploymentComplete", Some(3))
        );
        assert_eq!(s.selector.as_deref(), Some("strata.io/app=web"));
    }

    #[test]
    fn waiting_says_why_by_reason_and_count() {
        let spec = AppSpec {
            instances: 3,
            ..AppSpec::default()
        };
        let d = Decision {
            launch: 3,
            minimum_healthy: 3,
            ..Decision::default()
        };
        let mut i = inputs(&spec, &d, Some(Hold::Offers));
        i.queue = Some(LaunchQueue {
            count: 3,
            since: Some(Time(at(90))),
            offers_processed: 5,
            rejections: vec![
                OfferRejection {
                    reason: "UnfulfilledConstraint".into(),
                    count: 4,
                },
                OfferRejection {
                    reason: "InsufficientMemory".into(),
                    count: 1,
                },
            ],
        });
        let s = app_status(i);
        assert_eq!(s.phase, Some(AppPhase::Waiting));
        let p = find_condition(&s.conditions, types::PROGRESSING).unwrap();
        assert_eq!(p.reason, "WaitingForOffers");
        assert_eq!(
            p.message,
            "3 instance(s) wait for offers; 5 offer(s) did not fit: 4 unfulfilled constraint, 1 insufficient memory"
        );
        assert!(
            !find_condition(&s.conditions, types::AVAILABLE)
                .unwrap()
                .is_true()
        );
    }

    #[test]
    fn backoff_shows_delayed_with_the_time_left() {
        let spec = AppSpec::default();
        let d = Decision {
            launch: 1,
            minimum_healthy: 1,
            ..Decision::default()
        };
        let delay = LaunchDelay {
            failures: 3,
            seconds: 8,
            launch_after: Time(at(105)),
        };
        let s = app_status(inputs(&spec, &d, Some(Hold::Backoff(delay))));
        assert_eq!(s.phase, Some(AppPhase::Delayed));
        let p = find_condition(&s.conditions, types::PROGRESSING).unwrap();
        assert_eq!(
            p.message,
            "next launch in 5s: 3 failure(s) in a row, delay 8s"
        );
        let stopped = app_status(inputs(&spec, &d, Some(Hold::Stopped)));
        assert_eq!(stopped.phase, Some(AppPhase::Stopped));
    }

    #[test]
    fn a_rollout_tracks_progress_and_the_lowest_healthy_count() {
        let mut status = RolloutStatus {
            steps: plan(Change::Upgrade, 2),
            ..RolloutStatus::default()
        };
        let mid = Decision {
            new: 1,
            new_healthy: 0,
            old: 2,
            healthy: 2,
            minimum_healthy: 2,
            ..Decision::default()
        };
        status = rollout_status(&status, &mid, 2, None, at(1));
        assert_eq!(status.reason.as_deref(), Some(WAITING_FOR_HEALTH));
        assert_eq!(status.lowest_healthy, Some(2));
        let stuck = rollout_status(&status, &mid, 2, None, at(1 + 601));
        let p = find_condition(&stuck.conditions, types::PROGRESSING).unwrap();
        assert_eq!(
            (p.is_true(), p.reason.as_str()),
            (false, PROGRESS_DEADLINE_EXCEEDED)
        );
        assert!(p.message.contains("no progress for 601s"), "{}", p.message);
        assert_eq!(
            stuck.phase,
            RolloutPhase::InProgress,
            "stuck, not failed: a change takes over"
        );
        let done = Decision {
            new: 2,
            new_healthy: 2,
            healthy: 2,
            minimum_healthy: 2,
            done: true,
            ..Decision::default()
        };
        status = rollout_status(&status, &done, 2, None, at(9));
        assert_eq!(status.phase, RolloutPhase::Succeeded);
        assert!(status.steps.iter().all(|s| s.done));
        assert_eq!(status.progress.as_deref(), Some("2/2"));
        assert_eq!(status.started_at, Some(Time(at(1))));
    }
}
