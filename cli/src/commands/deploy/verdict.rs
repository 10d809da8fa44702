//! What an App and its Rollout say about one deploy: still under way (and how far, and what it
//! waits for), done, or unable to finish — and, when it waits, the sentence a user needs: what
//! is short and what to do about it.
//!
//! Why it exists: `strata deploy --wait` must never take an old, finished rollout for the new
//! one, and must fail with the controller's own reason. This reads only what the Marathon
//! controller wrote (`controllers/src/marathon/status.rs`), as a pure function so every case is
//! unit-tested without a store.

use strata_api::app::{App, AppPhase};
use strata_api::conditions::{find_condition, reasons, types};
use strata_api::rollout::{Rollout, RolloutPhase, StepAction};
use strata_controllers::marathon::status::{
    LAUNCHES_STOPPED, PROGRESS_DEADLINE_EXCEEDED, WAITING_FOR_DEPENDENCIES, WAITING_FOR_HEALTH,
};

/// The reason shown until the controller has seen the applied generation.
pub const WAITING_FOR_CONTROLLER: &str = "WaitingForController";

/// Where one deploy of an App stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Under way.
    Pending(Progress),
    /// The app is available at the applied spec.
    Done(Progress),
    /// It cannot finish: why, and what to do.
    Failed(String),
}

/// How far a deploy got.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// The rollout followed, once known.
    pub rollout: Option<String>,
    /// (current step, number of steps, its action).
    pub step: Option<(usize, usize, StepAction)>,
    /// Instances of the new spec healthy, and wanted.
    pub healthy: u32,
    pub target: u32,
    /// What it waits for (a reason such as WaitingForOffers) and the controller's words.
    pub waiting: Option<(String, String)>,
    /// The sentence for a deploy that gives up now: what is short and what to do.
    pub stuck: String,
}

impl Progress {
    /// What is followed and its step: "rollout web-3, step 1/2 (StartApplication)"; empty
    /// before the rollout is known.
    pub fn head(&self) -> String {
        let mut out = self
            .rollout
            .as_ref()
            .map(|r| format!("rollout {r}"))
            .unwrap_or_default();
        if let Some((i, n, action)) = self.step {
            out.push_str(&format!(", step {i}/{n} ({action:?})"));
        }
        out
    }

    /// What it waits for, in words: "waiting for offers: 2 instance(s) wait for offers; ...".
    pub fn waiting_text(&self) -> String {
        match &self.waiting {
            Some((reason, message)) => format!("{}: {message}", phrase(reason)),
            None => "progressing".to_string(),
        }
    }

    /// The line printed when the terminal shows no bar: the message with the healthy count.
    pub fn line(&self) -> String {
        let healthy = format!("{}/{} healthy", self.healthy, self.target);
        join(self.head(), format!("{healthy}, {}", self.waiting_text()))
    }
}

/// "head: tail", or the tail alone when there is no head.
fn join(head: String, tail: String) -> String {
    if head.is_empty() {
        tail
    } else {
        format!("{head}: {tail}")
    }
}

/// A reason in words: WaitingForOffers -> "waiting for offers".
pub fn phrase(reason: &str) -> String {
    match reason {
        reasons::WAITING_FOR_OFFERS => "waiting for offers".into(),
        WAITING_FOR_HEALTH => "waiting for new instances".into(),
        WAITING_FOR_DEPENDENCIES => "waiting for its dependencies".into(),
        reasons::BACKOFF => "held by the crash-loop backoff".into(),
        LAUNCHES_STOPPED => "stopped".into(),
        reasons::DEPLOYING => "deploying".into(),
        WAITING_FOR_CONTROLLER => "waiting for the Marathon controller".into(),
        other => other.to_string(),
    }
}

/// Where the deploy that applied `generation` of `app` stands, given the rollout the app's
/// status names (None while it is not known or not readable yet).
pub fn assess(app: &App, rollout: Option<&Rollout>, generation: i64) -> Verdict {
    let name = app.metadata.name.as_deref().unwrap_or("");
    let current = app.metadata.generation.unwrap_or(0);
    if app.metadata.deletion_timestamp.is_some() {
        return Verdict::Failed(format!("app {name} is being deleted"));
    }
    if current > generation {
        return Verdict::Failed(format!(
            "app {name} was changed again (generation {current}) after this deploy applied \
             generation {generation}: run the deploy again to follow the newest change"
        ));
    }
    let target = app.spec.instances;
    let status = app.status.clone().unwrap_or_default();
    let observed = status.observed_generation.unwrap_or(0);
    if observed < generation {
        let message = format!("it has not seen generation {generation} yet");
        return Verdict::Pending(Progress {
            target,
            stuck: format!(
                "app {name}: the Marathon controller has not taken up generation {generation} \
                 (it has seen {observed}): is `strata controllers` (or `strata up`) running \
                 against this store?"
            ),
            waiting: Some((WAITING_FOR_CONTROLLER.into(), message)),
            ..Progress::default()
        });
    }
    let progressing = find_condition(&status.conditions, types::PROGRESSING);
    if let Some(p) = progressing
        && p.reason == reasons::INVALID_SPEC
    {
        return Verdict::Failed(format!(
            "app {name}: the Marathon controller cannot run this spec: {} (fix it and deploy \
             again)",
            p.message
        ));
    }
    let available = find_condition(&status.conditions, types::AVAILABLE)
        .is_some_and(|c| c.is_true() && c.observed_generation.unwrap_or(observed) >= generation);
    // No rollout named, or one from before this generation (the controller makes one per
    // generation, so this is only a guard): judge by the app alone.
    let by_app = || {
        let settled = !matches!(
            status.phase,
            Some(AppPhase::Deploying | AppPhase::Waiting | AppPhase::Delayed)
        );
        let mut progress = Progress {
            healthy: status.instances,
            target,
            ..Progress::default()
        };
        if let Some(p) = progressing.filter(|p| !p.is_true()) {
            progress.waiting = Some((p.reason.clone(), p.message.clone()));
        }
        progress.stuck = stuck(app, &progress);
        if available && settled {
            Verdict::Done(progress)
        } else {
            Verdict::Pending(progress)
        }
    };
    let Some(rollout_name) = status.rollout.clone() else {
        return by_app();
    };
    let Some(rollout) = rollout.filter(|r| r.metadata.name.as_deref() == Some(&*rollout_name))
    else {
        let progress = Progress {
            rollout: Some(rollout_name.clone()),
            target,
            waiting: Some((
                WAITING_FOR_CONTROLLER.into(),
                format!("creating rollout {rollout_name}"),
            )),
            stuck: format!(
                "app {name}: rollout {rollout_name} was not created: is `strata controllers` \
                 running against this store?"
            ),
            ..Progress::default()
        };
        return Verdict::Pending(progress);
    };
    if rollout.spec.generation < generation {
        return by_app();
    }
    if rollout.spec.generation > generation {
        return Verdict::Failed(format!(
            "app {name} was changed again (rollout {rollout_name} brings generation {}) after \
             this deploy applied generation {generation}",
            rollout.spec.generation
        ));
    }
    let rs = rollout.status.clone().unwrap_or_default();
    let steps = rs.steps.len();
    let step = rs
        .steps
        .iter()
        .position(|s| !s.done)
        .map_or(steps, |i| i + 1);
    let mut progress = Progress {
        rollout: Some(rollout_name.clone()),
        step: rs
            .steps
            .get(step.saturating_sub(1))
            .map(|s| (step, steps, s.action)),
        healthy: rs.new_healthy,
        target: rollout.spec.target.instances,
        ..Progress::default()
    };
    if let Some(reason) = &rs.reason
        && rs.phase == RolloutPhase::InProgress
    {
        progress.waiting = Some((reason.clone(), rs.message.clone().unwrap_or_default()));
    }
    progress.stuck = stuck(app, &progress);
    match rs.phase {
        RolloutPhase::Succeeded if available => Verdict::Done(progress),
        RolloutPhase::Succeeded => Verdict::Pending(progress),
        RolloutPhase::Superseded => Verdict::Failed(format!(
            "app {name}: rollout {rollout_name} was superseded by {}: the app was changed again \
             while it rolled out",
            rs.superseded_by.as_deref().unwrap_or("a newer rollout")
        )),
        RolloutPhase::Cancelled => Verdict::Failed(format!(
            "app {name}: rollout {rollout_name} was cancelled{}",
            rs.message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        )),
        RolloutPhase::InProgress if rs.reason.as_deref() == Some(LAUNCHES_STOPPED) => {
            Verdict::Failed(format!(
                "app {name}: rollout {rollout_name} is stopped: launches of this version were \
                 stopped (`strata app resume {name}` starts them again)"
            ))
        }
        RolloutPhase::InProgress => {
            let stalled = find_condition(&rs.conditions, types::PROGRESSING)
                .filter(|c| c.reason == PROGRESS_DEADLINE_EXCEEDED);
            match stalled {
                Some(c) => Verdict::Failed(format!(
                    "app {name}: rollout {rollout_name} made no progress: {}",
                    c.message
                )),
                None => Verdict::Pending(progress),
            }
        }
    }
}

/// The sentence for a deploy that gives up with `progress`: the reason in words, the
/// controller's message, and what to do next.
fn stuck(app: &App, progress: &Progress) -> String {
    let name = app.metadata.name.as_deref().unwrap_or("");
    let what = match &progress.rollout {
        Some(r) => format!("app {name}: rollout {r}"),
        None => format!("app {name}"),
    };
    let Some((reason, message)) = &progress.waiting else {
        return format!(
            "{what} is deploying: {}/{} new instances healthy",
            progress.healthy, progress.target
        );
    };
    let status = app.status.clone().unwrap_or_default();
    let hint = match reason.as_str() {
        reasons::WAITING_FOR_OFFERS => {
            let top = status
                .queue
                .as_ref()
                .and_then(|q| q.rejections.first())
                .map(|r| r.reason.as_str());
            let s = &app.spec;
            match top {
                Some("InsufficientCpus") => format!(
                    "no agent offered {} cpus for an instance: add an agent with room for it, or \
                     lower spec.cpus",
                    s.cpus
                ),
                Some("InsufficientMemory") => format!(
                    "no agent offered {} MB of memory for an instance: add an agent with room \
                     for it, or lower spec.mem",
                    s.mem
                ),
                Some("InsufficientDisk") => format!(
                    "no agent offered {} MB of disk for an instance: add an agent with room for \
                     it, or lower spec.disk",
                    s.disk
                ),
                Some("InsufficientGpus") => format!(
                    "no agent offered {} gpus for an instance: add an agent that has them, or \
                     lower spec.gpus",
                    s.gpus
                ),
                Some("InsufficientPorts") => {
                    "no agent offered the host ports an instance needs (spec.portDefinitions)"
                        .into()
                }
                Some("UnfulfilledConstraint") => {
                    "no agent satisfies the app's constraints (spec.constraints)".into()
                }
                Some("UnfulfilledRole") => {
                    "no offer was of a role the app accepts (spec.acceptedResourceRoles)".into()
                }
                _ if status
                    .queue
                    .as_ref()
                    .is_none_or(|q| q.offers_processed == 0) =>
                {
                    "no offers arrive: is an agent running and registered (kubectl get agents)?"
                        .into()
                }
                _ => String::new(),
            }
        }
        reasons::BACKOFF => match &status.last_task_failure {
            Some(f) => format!(
                "its last task, {}, {}{} (`strata logs {} --stderr` shows why)",
                f.task,
                f.state.to_lowercase(),
                f.message
                    .as_ref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default(),
                f.task
            ),
            None => String::new(),
        },
        WAITING_FOR_HEALTH if app.spec.health_checks.is_empty() => format!(
            "new instances are not running and ready yet (`strata logs {name}` shows their \
             output)"
        ),
        WAITING_FOR_HEALTH => format!(
            "new instances do not pass their health checks yet (`strata logs {name}` shows \
             their output)"
        ),
        _ => String::new(),
    };
    let mut out = format!("{what} is {}: {message}", phrase(reason));
    if !hint.is_empty() {
        out.push_str(&format!(" ({hint})"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(extra_status: &str) -> App {
        serde_saphyr::from_str(&format!(
            "apiVersion: strata.io/v1alpha1\nkind: App\nmetadata: {{name: web, namespace: default, \
             generation: 3}}\nspec: {{cmd: sleep 1, cpus: 64, instances: 2}}\nstatus:\n{extra_status}"
        ))
        .unwrap()
    }

    fn rollout(generation: i64, status: &str) -> Rollout {
        serde_saphyr::from_str(&format!(
            "apiVersion: strata.io/v1alpha1\nkind: Rollout\nmetadata: {{name: web-3}}\nspec:\n  \
             app: web\n  revision: 3\n  change: Upgrade\n  generation: {generation}\n  version: v3\n  \
             target: {{cmd: sleep 1, instances: 2}}\nstatus:\n{status}"
        ))
        .unwrap()
    }

    const AVAILABLE: &str = "  - {type: Available, status: 'True', reason: MinimumInstancesAvailable, \
        message: ok, lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 3}\n";
    const STEPS: &str = "  steps:\n  - {action: RestartApplication, instances: 2, done: true}\n  \
        - {action: KillAllOldTasksOf, instances: 2}\n";

    #[test]
    fn an_old_finished_rollout_is_not_the_new_one() {
        // The controller has not seen generation 3; status still names the old rollout.
        let old = app(&format!(
            "  observedGeneration: 2\n  rollout: web-2\n  conditions:\n{AVAILABLE}"
        ));
        match assess(&old, None, 3) {
            Verdict::Pending(p) => {
                assert_eq!(p.waiting.unwrap().0, WAITING_FOR_CONTROLLER);
                assert!(p.stuck.contains("is `strata controllers`"), "{}", p.stuck);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_new_rollout_is_followed_to_success() {
        let a = app(&format!(
            "  observedGeneration: 3\n  rollout: web-3\n  conditions:\n{AVAILABLE}"
        ));
        let going = rollout(
            3,
            &format!(
                "  phase: InProgress\n  newHealthy: 1\n  reason: Deploying\n  message: 1/2 new healthy\n{STEPS}"
            ),
        );
        let Verdict::Pending(p) = assess(&a, Some(&going), 3) else {
            panic!("in progress")
        };
        assert_eq!(p.step, Some((2, 2, StepAction::KillAllOldTasksOf)));
        assert_eq!(
            p.line(),
            "rollout web-3, step 2/2 (KillAllOldTasksOf): 1/2 healthy, deploying: 1/2 new healthy"
        );
        let done = rollout(3, "  phase: Succeeded\n  newHealthy: 2\n");
        assert!(matches!(assess(&a, Some(&done), 3), Verdict::Done(_)));
        // Succeeded but the app's status not yet caught up: keep waiting.
        let catching_up = app("  observedGeneration: 3\n  rollout: web-3\n");
        assert!(matches!(
            assess(&catching_up, Some(&done), 3),
            Verdict::Pending(_)
        ));
    }

    #[test]
    fn without_a_rollout_of_its_generation_the_app_alone_decides() {
        let old_rollout = rollout(2, "  phase: Succeeded\n  newHealthy: 2\n");
        let deploying = app(&format!(
            "  observedGeneration: 3\n  rollout: web-3\n  phase: Deploying\n  conditions:\n{AVAILABLE}"
        ));
        let mut named_old = old_rollout.clone();
        named_old.metadata.name = Some("web-3".into());
        assert!(matches!(
            assess(&deploying, Some(&named_old), 3),
            Verdict::Pending(_)
        ));
        let running = app(&format!(
            "  observedGeneration: 3\n  phase: Running\n  instances: 2\n  conditions:\n{AVAILABLE}"
        ));
        let Verdict::Done(p) = assess(&running, None, 3) else {
            panic!("done")
        };
        assert_eq!((p.healthy, p.target, p.rollout), (2, 2, None));
    }

    #[test]
    fn waiting_for_offers_says_what_is_short_and_what_to_do() {
        let a = app(
            "  observedGeneration: 3\n  rollout: web-3\n  queue:\n    count: 2\n    \
             offersProcessed: 3\n    rejections: [{reason: InsufficientCpus, count: 3}]\n",
        );
        let waiting = rollout(
            3,
            "  phase: InProgress\n  reason: WaitingForOffers\n  message: '2 instance(s) wait for \
             offers; 3 offer(s) did not fit: 3 insufficient cpus'\n",
        );
        let Verdict::Pending(p) = assess(&a, Some(&waiting), 3) else {
            panic!("waiting")
        };
        assert_eq!(
            p.stuck,
            "app web: rollout web-3 is waiting for offers: 2 instance(s) wait for offers; 3 \
             offer(s) did not fit: 3 insufficient cpus (no agent offered 64 cpus for an \
             instance: add an agent with room for it, or lower spec.cpus)"
        );
    }

    #[test]
    fn endings_that_will_not_finish_fail_at_once() {
        let a = app("  observedGeneration: 3\n  rollout: web-3\n");
        let superseded = rollout(3, "  phase: Superseded\n  supersededBy: web-4\n");
        let Verdict::Failed(why) = assess(&a, Some(&superseded), 3) else {
            panic!("superseded")
        };
        assert!(why.contains("superseded by web-4"), "{why}");
        let stopped = rollout(3, "  phase: InProgress\n  reason: LaunchesStopped\n");
        let Verdict::Failed(why) = assess(&a, Some(&stopped), 3) else {
            panic!("stopped")
        };
        assert!(why.contains("strata app resume web"), "{why}");
        let invalid = app(
            "  observedGeneration: 3\n  conditions:\n  - {type: Progressing, status: 'False', \
             reason: InvalidSpec, message: no port named http, lastTransitionTime: \
             '2026-01-01T00:00:00Z'}\n",
        );
        let Verdict::Failed(why) = assess(&invalid, None, 3) else {
            panic!("invalid")
        };
        assert!(why.contains("no port named http"), "{why}");
        let Verdict::Failed(why) = assess(&a, None, 2) else {
            panic!("changed again")
        };
        assert!(why.contains("changed again"), "{why}");
    }
}
