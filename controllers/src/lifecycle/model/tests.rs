use super::*;

const MINUTE: Duration = Duration::from_secs(60);

fn lifecycle() -> Lifecycle {
    Lifecycle::new(Config {
        unreachable_after: Duration::from_secs(75),
        gone_after: 10 * MINUTE,
    })
}

fn task(name: &str, agent: &str, framework: &str, state: TaskState) -> TaskFacts {
    TaskFacts {
        namespace: "ns".into(),
        name: name.into(),
        agent: agent.into(),
        framework: format!("ns/{framework}"),
        state: Some(state),
        staged: true,
        resource_version: "1".into(),
        deleting: false,
        finalizers: vec![AGENT_FINALIZER.to_string()],
        kill_grace_period_seconds: None,
    }
}

/// The task states and agent phases `actions` write, as (name, what).
fn summary(actions: &[Action]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = actions
        .iter()
        .map(|a| match a {
            Action::Agent { name, phase, .. } => (name.clone(), format!("{phase:?}")),
            Action::Task { task, state, .. } => (task.name.clone(), format!("{state:?}")),
            Action::Kill { task, grace, .. } => (task.name.clone(), format!("kill {grace:?}")),
            Action::Release { task } => (task.name.clone(), "release".into()),
        })
        .collect();
    out.sort();
    out
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// An agent `a0` with a running task of a partition-aware framework and one of a framework
/// that is not.
fn cluster(now: Instant) -> Lifecycle {
    let mut l = lifecycle();
    l.upsert_agent("a0", AgentFacts::default(), false, now);
    l.upsert_framework("ns/aware", true, 7 * 24 * 60 * MINUTE, true, now);
    l.upsert_framework("ns/plain", false, 7 * 24 * 60 * MINUTE, true, now);
    l.observe_task(
        "u1",
        Some(task("t-aware", "a0", "aware", TaskState::Running)),
    );
    l.observe_task(
        "u2",
        Some(task("t-plain", "a0", "plain", TaskState::Running)),
    );
    l
}

#[test]
fn an_agent_that_stops_heartbeating_is_unreachable_then_gone() {
    let t0 = Instant::now();
    let mut l = cluster(t0);
    assert!(
        l.decide(t0).is_empty(),
        "a heartbeating agent needs nothing"
    );

    l.agent_heartbeat("a0", false, t0);
    let actions = l.decide(t0);
    assert_eq!(
        summary(&actions),
        pairs(&[
            ("a0", "Unreachable"),
            ("t-aware", "Unreachable"),
            ("t-plain", "Lost")
        ])
    );
    assert!(
        l.decide(t0).is_empty(),
        "not repeated while the store catches up"
    );

    // The store shows it; the aware framework's task is Unreachable, the other's Lost.
    l.upsert_agent(
        "a0",
        AgentFacts {
            shown: Phase::Unreachable,
            ..AgentFacts::default()
        },
        false,
        t0,
    );
    l.observe_task(
        "u1",
        Some(task("t-aware", "a0", "aware", TaskState::Unreachable)),
    );
    l.observe_task("u2", Some(task("t-plain", "a0", "plain", TaskState::Lost)));
    assert!(l.decide(t0 + 9 * MINUTE).is_empty());

    // Past the re-registration timeout: Gone, for good, and its finalizers released.
    let t1 = t0 + 10 * MINUTE;
    let actions = l.decide(t1);
    assert_eq!(
        summary(&actions),
        pairs(&[("a0", "Gone"), ("t-aware", "Gone"), ("t-plain", "release")])
    );
    l.upsert_agent(
        "a0",
        AgentFacts {
            shown: Phase::Gone,
            ..AgentFacts::default()
        },
        false,
        t1,
    );
    l.agent_heartbeat("a0", true, t1);
    assert!(
        !summary(&l.decide(t1)).contains(&("a0".into(), "Ready".into())),
        "a gone agent that heartbeats again stays gone"
    );
}

#[test]
fn an_agent_back_in_time_is_ready_again_and_its_tasks_left_to_it() {
    let t0 = Instant::now();
    let mut l = cluster(t0);
    l.agent_heartbeat("a0", false, t0);
    l.decide(t0);
    l.upsert_agent(
        "a0",
        AgentFacts {
            shown: Phase::Unreachable,
            ..AgentFacts::default()
        },
        false,
        t0,
    );
    l.observe_task(
        "u1",
        Some(task("t-aware", "a0", "aware", TaskState::Unreachable)),
    );
    l.observe_task("u2", Some(task("t-plain", "a0", "plain", TaskState::Lost)));
    l.agent_heartbeat("a0", true, t0 + MINUTE);
    // Ready again; the agent itself reports the Unreachable task Running, and kills the Lost.
    assert_eq!(summary(&l.decide(t0 + MINUTE)), pairs(&[("a0", "Ready")]));
}

#[test]
fn a_restarted_controller_keeps_an_unreachable_agent_unreachable_and_its_clock() {
    let t0 = Instant::now();
    let mut l = lifecycle();
    // Found Unreachable for 9 minutes already; the Lease looks alive only because it is
    // seen for the first time.
    l.upsert_agent(
        "a0",
        AgentFacts {
            shown: Phase::Unreachable,
            unreachable_since: Some(t0 - 9 * MINUTE),
            ..AgentFacts::default()
        },
        false,
        t0,
    );
    assert!(l.decide(t0).is_empty());
    assert_eq!(summary(&l.decide(t0 + MINUTE)), pairs(&[("a0", "Gone")]));
}

#[test]
fn an_operator_marks_an_agent_gone() {
    let t0 = Instant::now();
    let mut l = cluster(t0);
    l.upsert_agent(
        "a0",
        AgentFacts {
            marked_gone: true,
            ..AgentFacts::default()
        },
        true,
        t0,
    );
    assert_eq!(
        summary(&l.decide(t0)),
        pairs(&[("a0", "Gone"), ("t-aware", "Gone"), ("t-plain", "Lost")])
    );
}

#[test]
fn a_drain_kills_the_tasks_within_its_grace_then_marks_the_agent_gone_if_asked() {
    let t0 = Instant::now();
    let mut l = cluster(t0);
    let mut slow = task("t-slow", "a0", "plain", TaskState::Running);
    slow.kill_grace_period_seconds = Some(2);
    l.observe_task("u3", Some(slow));
    let draining = AgentFacts {
        drain: Some(Drain {
            max_grace_period_seconds: Some(5),
            mark_gone: true,
        }),
        ..AgentFacts::default()
    };
    l.upsert_agent("a0", draining.clone(), true, t0);
    assert_eq!(
        summary(&l.decide(t0)),
        pairs(&[
            ("t-aware", "kill Some(5)"),
            ("t-plain", "kill Some(5)"),
            ("t-slow", "kill None"),
        ]),
        "a shorter grace period of the task's own is kept"
    );
    for (uid, name) in [("u1", "t-aware"), ("u2", "t-plain"), ("u3", "t-slow")] {
        let mut t = task(name, "a0", "plain", TaskState::Killing);
        t.deleting = true;
        l.observe_task(uid, Some(t));
    }
    assert!(l.decide(t0).is_empty(), "killing, not drained yet");
    for uid in ["u1", "u2", "u3"] {
        l.observe_task(uid, None);
    }
    assert_eq!(summary(&l.decide(t0)), pairs(&[("a0", "Gone")]));
}

#[test]
fn tasks_of_a_framework_past_its_failover_timeout_or_removed_are_killed() {
    let t0 = Instant::now();
    let mut l = lifecycle();
    l.upsert_agent("a0", AgentFacts::default(), false, t0);
    l.upsert_framework("ns/f", false, MINUTE, true, t0);
    l.observe_task("u1", Some(task("t1", "a0", "f", TaskState::Running)));
    l.framework_heartbeat("ns/f", false, t0);
    assert!(l.decide(t0 + Duration::from_secs(59)).is_empty());
    // Back within the timeout: nothing happens.
    l.framework_heartbeat("ns/f", true, t0 + Duration::from_secs(59));
    assert!(l.decide(t0 + 2 * MINUTE).is_empty());
    l.framework_heartbeat("ns/f", false, t0 + 2 * MINUTE);
    assert_eq!(
        summary(&l.decide(t0 + 3 * MINUTE)),
        pairs(&[("t1", "kill None")])
    );

    l.upsert_framework("ns/g", false, MINUTE, true, t0);
    l.observe_task("u2", Some(task("t2", "a0", "g", TaskState::Staging)));
    l.remove_framework("ns/g");
    let actions = summary(&l.decide(t0 + 3 * MINUTE));
    assert!(
        actions.contains(&("t2".into(), "kill None".into())),
        "{actions:?}"
    );
}

#[test]
fn a_deleted_task_never_staged_loses_the_agent_finalizer_its_framework_gave_it() {
    let t0 = Instant::now();
    let mut l = cluster(t0);
    let unstaged = |state: Option<TaskState>, deleting: bool| TaskFacts {
        state,
        staged: false,
        deleting,
        ..task("t-new", "nowhere", "plain", TaskState::Staging)
    };
    l.observe_task("u3", Some(unstaged(None, false)));
    assert!(
        l.decide(t0).is_empty(),
        "waiting for the master: nothing to do"
    );
    l.observe_task("u3", Some(unstaged(None, true)));
    assert_eq!(summary(&l.decide(t0)), pairs(&[("t-new", "release")]));

    // Ended by the master (it named an agent that does not exist), then deleted: released too.
    let mut l = cluster(t0);
    l.observe_task("u4", Some(unstaged(Some(TaskState::Error), false)));
    assert!(
        l.decide(t0).is_empty(),
        "not deleted: the finalizer is harmless"
    );
    l.observe_task("u4", Some(unstaged(Some(TaskState::Error), true)));
    assert_eq!(summary(&l.decide(t0)), pairs(&[("t-new", "release")]));

    // Staged: its agent lets go after the kill; the lifecycle does not.
    let staged = TaskFacts {
        deleting: true,
        ..task("t-staged", "a0", "plain", TaskState::Staging)
    };
    l.observe_task("u5", Some(staged));
    assert!(!summary(&l.decide(t0)).contains(&("t-staged".into(), "release".into())));
}
