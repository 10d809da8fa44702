use strata_api::task::TaskSpec;

use super::*;

fn res(s: &str) -> Resources {
    s.parse().unwrap()
}

fn agent(total: &str) -> AgentInfo {
    AgentInfo {
        hostname: "host".into(),
        total: res(total),
        schedulable: true,
        ..AgentInfo::default()
    }
}

/// A model with `n` agents `a0`.. of `total` each.
fn with_agents(n: usize, total: &str) -> Model {
    let mut model = Model::new(Config::default());
    for i in 0..n {
        model.upsert_agent(&format!("a{i}"), agent(total));
    }
    model
}

fn framework(role: &str, weight: f64) -> FrameworkInfo {
    FrameworkInfo {
        role: role.into(),
        weight,
        active: true,
        suppressed: false,
        revive: 0,
    }
}

fn task(framework: &str, agent: &str, offer: &str, resources: &str) -> TaskSpec {
    TaskSpec {
        framework: framework.into(),
        agent: agent.into(),
        offer: Some(offer.into()),
        resources: res(resources),
        command: Some("true".into()),
        ..TaskSpec::default()
    }
}

/// Frameworks that launch as many tasks of their size as fit in each offer, accept it, and
/// keep going until no pass offers anything new. Returns the tasks each launched.
fn run_to_convergence(model: &mut Model, sizes: &[(&str, &str)]) -> HashMap<String, usize> {
    let mut launched: HashMap<String, usize> = HashMap::new();
    let mut now = Instant::now();
    let mut uid = 0;
    for _ in 0..200 {
        let offers = model.allocate(now);
        for o in &offers {
            let size = res(sizes.iter().find(|(f, _)| *f == o.framework).unwrap().1);
            let mut left = o.resources.clone();
            let mut names = Vec::new();
            while size.fits(&left) {
                uid += 1;
                let name = format!("t{uid}");
                let spec = task(&o.framework, &o.agent, &o.name, &size.to_string());
                assert_eq!(
                    model.launch(&name, &o.namespace, &name, &spec, now),
                    Verdict::Stage
                );
                left = left.saturating_sub(&size);
                names.push(name);
            }
            *launched.entry(o.framework.clone()).or_default() += names.len();
            let how = if names.is_empty() {
                Settlement::Declined {
                    refuse: Duration::from_secs(5),
                }
            } else {
                Settlement::Accepted {
                    tasks: names,
                    refuse: Duration::from_secs(5),
                }
            };
            model.settle(&key(&o.namespace, &o.name), how, now);
        }
        now += Duration::from_secs(1);
    }
    launched
}

fn share(model: &Model, fw: &str) -> f64 {
    model.framework_holdings(fw).unwrap().dominant_share
}

#[test]
fn two_frameworks_with_different_dominant_resources_converge_to_equal_shares() {
    // The DRF paper's example, spread over many small agents: A's tasks are memory-heavy,
    // B's cpu-heavy; both end with the same dominant share.
    let mut model = with_agents(30, "cpus:3;mem:6144");
    model.upsert_framework("ns/a", framework("*", 1.0));
    model.upsert_framework("ns/b", framework("*", 1.0));
    let launched = run_to_convergence(
        &mut model,
        &[("a", "cpus:0.1;mem:400"), ("b", "cpus:0.3;mem:100")],
    );
    let (a, b) = (share(&model, "ns/a"), share(&model, "ns/b"));
    assert!(launched["a"] > 10 && launched["b"] > 10, "{launched:?}");
    assert!(
        (a - b).abs() < 0.1,
        "shares {a} and {b} differ: {launched:?}"
    );
    // Whole agents go to one framework at a time, and the other can use little of what is
    // left (A leaves 144 MB, B no cpus), so about half of the cluster is the most either can
    // reach: 15 agents of 15 A tasks, 15 of 10 B tasks.
    assert!(a > 0.45, "the cluster is used: {a}");
}

#[test]
fn weights_shift_the_shares() {
    let mut model = with_agents(40, "cpus:4;mem:4096");
    model.upsert_framework("ns/heavy", framework("*", 2.0));
    model.upsert_framework("ns/light", framework("*", 1.0));
    run_to_convergence(
        &mut model,
        &[("heavy", "cpus:0.5;mem:128"), ("light", "cpus:0.5;mem:128")],
    );
    let ratio = share(&model, "ns/heavy") / share(&model, "ns/light");
    assert!(
        (ratio - 2.0).abs() < 0.25,
        "weight 2 gets twice the share: {ratio}"
    );
}

#[test]
fn role_weights_shift_the_shares_between_roles() {
    let mut model = with_agents(40, "cpus:4;mem:4096");
    model.upsert_role(
        "prod",
        RoleInfo {
            weight: 3.0,
            limits: QuotaLimits::default(),
        },
    );
    model.upsert_framework("ns/p", framework("prod", 1.0));
    model.upsert_framework("ns/d", framework("dev", 1.0));
    run_to_convergence(
        &mut model,
        &[("p", "cpus:0.5;mem:128"), ("d", "cpus:0.5;mem:128")],
    );
    let ratio = model.role_share("prod").unwrap().1 / model.role_share("dev").unwrap().1;
    assert!((ratio - 3.0).abs() < 0.4, "role weight 3: {ratio}");
}

#[test]
fn a_quota_limit_is_never_exceeded() {
    let mut model = with_agents(10, "cpus:4;mem:4096");
    let limits = QuotaLimits {
        cpus: Some("5".parse().unwrap()),
        ..QuotaLimits::default()
    };
    model.upsert_role(
        "capped",
        RoleInfo {
            weight: 1.0,
            limits: limits.clone(),
        },
    );
    model.upsert_framework("ns/c", framework("capped", 1.0));
    let mut now = Instant::now();
    for _ in 0..20 {
        for o in model.allocate(now) {
            assert!(!limits.exceeded_by(&model.role_share("capped").unwrap().0));
            let spec = task("c", &o.agent, &o.name, &o.resources.to_string());
            assert_eq!(
                model.launch(&o.name, "ns", &o.name, &spec, now),
                Verdict::Stage
            );
            model.settle(
                &key("ns", &o.name),
                Settlement::Accepted {
                    tasks: vec![o.name.clone()],
                    refuse: Duration::ZERO,
                },
                now,
            );
        }
        now += Duration::from_secs(1);
    }
    assert_eq!(model.role_share("capped").unwrap().0.cpus.to_string(), "5");

    // Lowering the limit below what is held rescinds the role's live offers.
    model.upsert_framework("ns/c2", framework("capped", 1.0));
    let tight = QuotaLimits {
        cpus: Some("6".parse().unwrap()),
        ..QuotaLimits::default()
    };
    model.upsert_role(
        "capped",
        RoleInfo {
            weight: 1.0,
            limits: tight,
        },
    );
    let offers = model.allocate(now);
    assert_eq!(offers.len(), 1, "1 cpu of headroom: {offers:?}");
    let rescind = model.upsert_role(
        "capped",
        RoleInfo {
            weight: 1.0,
            limits: QuotaLimits {
                cpus: Some("4".parse().unwrap()),
                ..QuotaLimits::default()
            },
        },
    );
    assert_eq!(rescind, [key("ns", &offers[0].name)]);
}

#[test]
fn a_declined_offer_goes_to_others_and_comes_back_after_refuse_seconds() {
    let mut model = with_agents(1, "cpus:2;mem:1024");
    model.upsert_framework("ns/x", framework("*", 1.0));
    model.upsert_framework("ns/y", framework("*", 1.0));
    let t0 = Instant::now();
    let first = model.allocate(t0);
    assert_eq!(first.len(), 1, "the whole agent goes to one framework");
    assert_eq!(first[0].resources, res("cpus:2;mem:1024"));
    let decliner = first[0].framework.clone();
    model.settle(
        &key("ns", &first[0].name),
        Settlement::Declined {
            refuse: Duration::from_secs(5),
        },
        t0,
    );
    for s in 1..5 {
        let offers = model.allocate(t0 + Duration::from_secs(s));
        assert!(
            offers.iter().all(|o| o.framework != decliner),
            "re-offered within refuseSeconds"
        );
        for o in offers {
            model.settle(&key("ns", &o.name), Settlement::Rescinded, t0);
        }
    }
    model.upsert_framework(
        "ns/y",
        FrameworkInfo {
            suppressed: true,
            ..framework("*", 1.0)
        },
    );
    model.upsert_framework(
        "ns/x",
        FrameworkInfo {
            suppressed: true,
            ..framework("*", 1.0)
        },
    );
    assert!(
        model.allocate(t0 + Duration::from_secs(5)).is_empty(),
        "both suppressed"
    );
    model.upsert_framework(&format!("ns/{decliner}"), framework("*", 1.0));
    let offers = model.allocate(t0 + Duration::from_secs(2));
    assert_eq!(offers.len(), 1, "reviving clears the refuse filter");
    assert_eq!(offers[0].framework, decliner);
}

#[test]
fn resources_are_never_in_two_live_offers() {
    let mut model = with_agents(1, "cpus:2;mem:1024;ports:[31000-31009]");
    for f in ["f1", "f2", "f3"] {
        model.upsert_framework(&format!("ns/{f}"), framework("*", 1.0));
    }
    let now = Instant::now();
    assert_eq!(model.allocate(now).len(), 1);
    assert!(model.allocate(now).is_empty(), "nothing left to offer");
    assert_eq!(
        model.agent_allocated("a0").unwrap(),
        res("cpus:2;mem:1024;ports:[31000-31009]")
    );
}

#[test]
fn offers_expire_and_their_resources_are_offered_again() {
    let mut model = Model::new(Config {
        offer_timeout: Some(Duration::from_secs(3)),
        ..Config::default()
    });
    model.upsert_agent("a0", agent("cpus:1;mem:512"));
    model.upsert_framework("ns/f", framework("*", 1.0));
    let t0 = Instant::now();
    let offer = model.allocate(t0).remove(0);
    assert!(model.due(t0 + Duration::from_secs(2)).is_empty());
    let due = model.due(t0 + Duration::from_secs(3));
    assert_eq!(due, [key("ns", &offer.name)]);
    model.settle(&due[0], Settlement::Expired, t0 + Duration::from_secs(3));
    let again = model.allocate(t0 + Duration::from_secs(3));
    assert_eq!(again.len(), 1, "expiry sets no filter");
    assert_ne!(again[0].name, offer.name);
}

#[test]
fn an_unschedulable_agent_is_not_offered_and_its_offers_are_rescinded() {
    let mut model = with_agents(1, "cpus:1;mem:512");
    model.upsert_framework("ns/f", framework("*", 1.0));
    let offer = model.allocate(Instant::now()).remove(0);
    let rescind = model.upsert_agent(
        "a0",
        AgentInfo {
            schedulable: false,
            ..agent("cpus:1;mem:512")
        },
    );
    assert_eq!(rescind, [key("ns", &offer.name)]);
    model.settle(&rescind[0], Settlement::Rescinded, Instant::now());
    assert!(model.allocate(Instant::now()).is_empty());
    assert_eq!(model.remove_agent("a0"), Vec::<String>::new());
    assert_eq!(model.counts().0, 0);
}

#[test]
fn launches_are_checked_against_their_offer() {
    let mut model = with_agents(1, "cpus:2;mem:1024;ports:[31000-31001]");
    model.upsert_framework("ns/f", framework("*", 1.0));
    let now = Instant::now();
    let o = model.allocate(now).remove(0);
    let error = |v: Verdict| match v {
        Verdict::Error(m) => m,
        other => panic!("expected Error, got {other:?}"),
    };
    let no_offer = TaskSpec {
        offer: None,
        ..task("f", "a0", "x", "cpus:1")
    };
    assert!(error(model.launch("u0", "ns", "t0", &no_offer, now)).contains("spec.offer"));
    assert!(
        error(model.launch("u1", "ns", "t1", &task("g", "a0", &o.name, "cpus:1"), now))
            .contains("framework \"f\"")
    );
    assert!(
        error(model.launch("u2", "ns", "t2", &task("f", "a1", &o.name, "cpus:1"), now))
            .contains("agent \"a0\"")
    );
    let too_big = error(model.launch("u3", "ns", "t3", &task("f", "a0", &o.name, "cpus:3"), now));
    assert!(too_big.contains("cpus"), "{too_big}");
    match model.launch("u4", "ns", "t4", &task("f", "a0", "nope", "cpus:1"), now) {
        Verdict::Dropped(m) => assert!(m.contains("does not exist"), "{m}"),
        other => panic!("{other:?}"),
    }

    // Two tasks on one offer; the second only fits what the first left.
    assert_eq!(
        model.launch(
            "u5",
            "ns",
            "t5",
            &task("f", "a0", &o.name, "cpus:1.5;mem:512"),
            now
        ),
        Verdict::Stage
    );
    assert_eq!(
        model.launch(
            "u5",
            "ns",
            "t5",
            &task("f", "a0", &o.name, "cpus:1.5;mem:512"),
            now
        ),
        Verdict::Stage,
        "idempotent"
    );
    let holdings = model.framework_holdings("ns/f").unwrap();
    assert_eq!(
        holdings.allocated, o.resources,
        "the task moved out of the offer"
    );
    assert_eq!(
        holdings.offered,
        o.resources.saturating_sub(&res("cpus:1.5;mem:512"))
    );
    assert!(
        error(model.launch("u6", "ns", "t6", &task("f", "a0", &o.name, "cpus:1"), now))
            .contains("what is left")
    );
    assert_eq!(
        model.launch("u7", "ns", "t7", &task("f", "a0", &o.name, "cpus:0.5"), now),
        Verdict::Stage
    );

    // Accepting listing a task not seen yet holds the offer until it arrives.
    let offer_key = key("ns", &o.name);
    let awaiting = model.settle(
        &offer_key,
        Settlement::Accepted {
            tasks: vec!["t5".into(), "t7".into(), "t8".into()],
            refuse: Duration::ZERO,
        },
        now,
    );
    assert_eq!(awaiting, 1);
    assert!(model.is_live(&offer_key));
    match model.launch("u9", "ns", "t9", &task("f", "a0", &o.name, "mem:10"), now) {
        Verdict::Dropped(m) => assert!(m.contains("without this task"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        model.launch("u8", "ns", "t8", &task("f", "a0", &o.name, "mem:10"), now),
        Verdict::Stage
    );
    assert!(!model.is_live(&offer_key), "every listed task arrived");
    let holdings = model.framework_holdings("ns/f").unwrap();
    assert_eq!(holdings.offered, Resources::new(), "nothing left on offer");
    assert_eq!(holdings.allocated, res("cpus:2;mem:522"));
    assert_eq!(model.agent_allocated("a0").unwrap(), res("cpus:2;mem:522"));
    match model.launch("u10", "ns", "t10", &task("f", "a0", &o.name, "mem:10"), now) {
        Verdict::Dropped(m) => assert!(m.contains("without this task"), "{m}"),
        other => panic!("{other:?}"),
    }

    // Ended tasks give their resources back.
    for uid in ["u5", "u7", "u8"] {
        model.task_ended(uid);
    }
    assert_eq!(model.agent_allocated("a0").unwrap(), Resources::new());
}

#[test]
fn a_restarted_allocator_counts_adopted_offers_and_staged_tasks_once() {
    let now = Instant::now();
    let mut model = with_agents(1, "cpus:4;mem:4096");
    model.upsert_framework("ns/f", framework("*", 1.0));
    assert!(model.adopt_offer("ns/old", "f", "a0", &res("cpus:2;mem:1024"), None));
    assert!(
        !model.adopt_offer("ns/stray", "f", "a9", &res("cpus:1"), None),
        "unknown agent"
    );
    // One task staged against the live offer, one against an offer long gone.
    model.observe_staged(
        "u1",
        "ns",
        "t1",
        &task("f", "a0", "old", "cpus:1;mem:512"),
        now,
    );
    model.observe_staged(
        "u2",
        "ns",
        "t2",
        &task("f", "a0", "gone", "cpus:1;mem:512"),
        now,
    );
    model.observe_staged(
        "u2",
        "ns",
        "t2",
        &task("f", "a0", "gone", "cpus:1;mem:512"),
        now,
    );
    assert_eq!(model.agent_allocated("a0").unwrap(), res("cpus:3;mem:1536"));
    assert_eq!(
        model.framework_holdings("ns/f").unwrap().allocated,
        res("cpus:3;mem:1536")
    );
    let offers = model.allocate(Instant::now());
    assert_eq!(
        offers[0].resources,
        res("cpus:1;mem:2560"),
        "only the rest is offered"
    );
}

#[test]
fn a_new_revive_token_clears_the_refuse_filters_without_a_suppress() {
    let mut model = with_agents(1, "cpus:2;mem:1024");
    model.upsert_framework("ns/f", framework("*", 1.0));
    let t0 = Instant::now();
    let first = model.allocate(t0);
    assert_eq!(first.len(), 1);
    model.settle(
        &key("ns", &first[0].name),
        Settlement::Declined {
            refuse: Duration::from_secs(60),
        },
        t0,
    );
    assert!(
        model.allocate(t0 + Duration::from_secs(1)).is_empty(),
        "refused"
    );
    model.upsert_framework(
        "ns/f",
        FrameworkInfo {
            revive: 1,
            ..framework("*", 1.0)
        },
    );
    let again = model.allocate(t0 + Duration::from_secs(2));
    assert_eq!(again.len(), 1, "revived: offered again within the 60 s");
}
