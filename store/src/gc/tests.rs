//! The collector on the real store, in-process: each propagation policy, owners that never
//! existed, namespaces, CRDs, a restart in the middle of a deletion, and a collector that lost
//! track of the changes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::request::Query;
use crate::server::{ApiServer, Config, Shared};
use crate::storage::{Expect, ObjectKey, Op, Storage};
use crate::write::{DeleteOptions, PatchType};

/// How long the collector may take before a test gives up: a deadline, not a measurement.
const DEADLINE: Duration = Duration::from_secs(30);

async fn open(dir: &tempfile::TempDir) -> Shared {
    open_with(Config::new(dir.path().to_path_buf())).await
}

async fn open_with(config: Config) -> Shared {
    ApiServer::open(config).await.expect("the store opens")
}

fn owner_ref(name: &str, uid: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": uid,
           "blockOwnerDeletion": true})
}

/// Creates ConfigMap `name` in `ns` owned by `owners` (name, uid), holding `finalizers`; its uid.
async fn create(
    s: &Shared,
    ns: &str,
    name: &str,
    owners: &[(&str, &str)],
    finalizers: &[&str],
) -> String {
    let cms = s.registry.get("", "v1", "configmaps").unwrap();
    let refs: Vec<Value> = owners.iter().map(|(n, u)| owner_ref(n, u)).collect();
    let mut meta = json!({"name": name, "finalizers": finalizers});
    if !refs.is_empty() {
        meta["ownerReferences"] = json!(refs);
    }
    let created = s
        .create(
            &cms,
            Some(ns),
            json!({"metadata": meta}),
            &Query::default(),
            "test",
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("creating {ns}/{name}: {}", e.message))
        .object
        .into_value();
    created["metadata"]["uid"].as_str().unwrap().to_string()
}

async fn create_namespace(s: &Shared, name: &str) {
    let namespaces = s.registry.get("", "v1", "namespaces").unwrap();
    s.create(
        &namespaces,
        None,
        json!({"metadata": {"name": name}}),
        &Query::default(),
        "test",
        None,
    )
    .await
    .unwrap();
}

async fn delete(s: &Shared, ns: &str, name: &str, policy: &str) {
    let cms = s.registry.get("", "v1", "configmaps").unwrap();
    let opts = DeleteOptions {
        propagation: Some(policy.into()),
        ..Default::default()
    };
    s.delete(&cms, Some(ns), name, &opts).await.unwrap();
}

async fn patch(s: &Shared, ns: &str, name: &str, patch: Value) {
    let cms = s.registry.get("", "v1", "configmaps").unwrap();
    let body = bytes::Bytes::from(patch.to_string());
    s.patch(
        &cms,
        Some(ns),
        name,
        None,
        PatchType::Merge,
        &body,
        &Query::default(),
        Some("test"),
        None,
    )
    .await
    .unwrap();
}

fn get(s: &Shared, ns: &str, name: &str) -> Option<Value> {
    let cms = s.registry.get("", "v1", "configmaps").unwrap();
    s.current(&cms, Some(ns), name).map(|(_, v)| v)
}

fn count(s: &Shared, ns: &str) -> usize {
    let (items, _, _) = s
        .storage
        .list("/configmaps", Some(ns), None, |_| true, None);
    items.len()
}

/// Waits until `done` holds, failing the test after [`DEADLINE`].
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < DEADLINE,
            "not so after {DEADLINE:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Gives the collector time to act wrongly, for the checks that something did not happen.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_deletion_takes_the_dependents_with_no_owner_left() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    let a = create(&s, "default", "a", &[], &[]).await;
    let b = create(&s, "default", "b", &[], &[]).await;
    create(&s, "default", "only-a", &[("a", &a)], &[]).await;
    create(&s, "default", "a-and-b", &[("a", &a), ("b", &b)], &[]).await;
    // A dependent of a dependent goes too, once its owner has.
    let only_a = get(&s, "default", "only-a").unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    create(&s, "default", "grandchild", &[("only-a", &only_a)], &[]).await;
    settle().await;
    assert_eq!(
        count(&s, "default"),
        5,
        "nothing goes while its owners are there"
    );

    delete(&s, "default", "a", "Background").await;
    eventually("a's own dependents gone", || {
        get(&s, "default", "only-a").is_none() && get(&s, "default", "grandchild").is_none()
    })
    .await;
    settle().await;
    assert!(
        get(&s, "default", "a-and-b").is_some(),
        "a dependent with an owner left stays"
    );
    delete(&s, "default", "b", "Background").await;
    eventually("the last dependent gone with its last owner", || {
        count(&s, "default") == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_deletion_waits_for_every_dependent_and_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    let owner = create(&s, "default", "owner", &[], &[]).await;
    let child = create(&s, "default", "child", &[("owner", &owner)], &[]).await;
    create(
        &s,
        "default",
        "grandchild",
        &[("child", &child)],
        &["test.strata.io/hold"],
    )
    .await;
    create(&s, "default", "other-child", &[("owner", &owner)], &[]).await;

    delete(&s, "default", "owner", "Foreground").await;
    eventually("the dependents without dependents gone", || {
        get(&s, "default", "other-child").is_none()
    })
    .await;
    settle().await;
    for name in ["owner", "child", "grandchild"] {
        let o = get(&s, "default", name).unwrap_or_else(|| panic!("{name} went too early"));
        assert!(
            o["metadata"]["deletionTimestamp"].is_string(),
            "{name} is marked for deletion: {o}"
        );
    }
    // A dependent added meanwhile is deleted too.
    create(&s, "default", "late", &[("owner", &owner)], &[]).await;
    eventually("a late dependent gone", || {
        get(&s, "default", "late").is_none()
    })
    .await;
    assert!(get(&s, "default", "owner").is_some(), "the owner waits");

    patch(
        &s,
        "default",
        "grandchild",
        json!({"metadata": {"finalizers": null}}),
    )
    .await;
    eventually("everything gone, the owner last", || {
        count(&s, "default") == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_deletion_releases_the_dependents_then_deletes_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    let a = create(&s, "default", "a", &[], &[]).await;
    let b = create(&s, "default", "b", &[], &[]).await;
    create(&s, "default", "only-a", &[("a", &a)], &[]).await;
    create(&s, "default", "a-and-b", &[("a", &a), ("b", &b)], &[]).await;

    delete(&s, "default", "a", "Orphan").await;
    eventually("the owner gone", || get(&s, "default", "a").is_none()).await;
    settle().await;
    let only_a = get(&s, "default", "only-a").expect("an orphan stays");
    assert!(
        only_a["metadata"].get("ownerReferences").is_none(),
        "{only_a}"
    );
    let both = get(&s, "default", "a-and-b").expect("an orphan stays");
    assert_eq!(
        both["metadata"]["ownerReferences"],
        json!([owner_ref("b", &b)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependents_whose_owner_never_existed_go() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    create(&s, "default", "real", &[], &[]).await;
    create(&s, "default", "made-up", &[("nobody", "no-such-uid")], &[]).await;
    // Named after an existing object, but with another uid: it is not that object's.
    create(
        &s,
        "default",
        "wrong-uid",
        &[("real", "not-real's-uid")],
        &[],
    )
    .await;
    eventually("both gone", || {
        get(&s, "default", "made-up").is_none() && get(&s, "default", "wrong-uid").is_none()
    })
    .await;
    assert!(get(&s, "default", "real").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_namespace_goes_once_what_it_held_has() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    create_namespace(&s, "team").await;
    create(&s, "team", "plain", &[], &[]).await;
    create(&s, "team", "held", &[], &["test.strata.io/hold"]).await;
    create(&s, "default", "elsewhere", &[], &[]).await;
    let namespaces = s.registry.get("", "v1", "namespaces").unwrap();
    s.delete(&namespaces, None, "team", &DeleteOptions::default())
        .await
        .unwrap();
    eventually("the plain one gone", || get(&s, "team", "plain").is_none()).await;
    settle().await;
    assert!(
        s.current(&namespaces, None, "team").is_some(),
        "waits for held"
    );
    patch(
        &s,
        "team",
        "held",
        json!({"metadata": {"finalizers": null}}),
    )
    .await;
    eventually("the namespace gone", || {
        s.current(&namespaces, None, "team").is_none()
    })
    .await;
    assert_eq!(count(&s, "team"), 0);
    assert!(get(&s, "default", "elsewhere").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_crd_goes_once_its_objects_have() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    let crds = s
        .registry
        .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .unwrap();
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object",
                                          "x-kubernetes-preserve-unknown-fields": true}}}]},
    });
    s.create(&crds, None, crd, &Query::default(), "test", None)
        .await
        .unwrap();
    let widgets = s.registry.get("example.com", "v1", "widgets").unwrap();
    for name in ["w1", "w2"] {
        s.create(
            &widgets,
            Some("default"),
            json!({"metadata": {"name": name}}),
            &Query::default(),
            "test",
            None,
        )
        .await
        .unwrap();
    }
    s.delete(
        &crds,
        None,
        "widgets.example.com",
        &DeleteOptions::default(),
    )
    .await
    .unwrap();
    eventually("the CRD gone", || {
        s.current(&crds, None, "widgets.example.com").is_none()
    })
    .await;
    assert_eq!(s.storage.count("example.com/widgets"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_interrupted_by_a_restart_is_finished_at_start() {
    let dir = tempfile::tempdir().unwrap();
    // Stored before any collector ran: an owner deleted, and its dependent, as if the store
    // stopped right after the deletion.
    {
        let storage = Storage::open(&dir.path().join("store.redb"), Default::default()).unwrap();
        let cm = |name: &str, uid: &str, owner: Option<&str>| {
            let mut meta = json!({"name": name, "namespace": "default", "uid": uid});
            if let Some(owner) = owner {
                meta["ownerReferences"] = json!([owner_ref("owner", owner)]);
            }
            Op::Put {
                key: ObjectKey::new(&"/configmaps".into(), "default", name),
                object: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}),
                expect: Expect::Absent,
            }
        };
        let done = storage
            .commit(vec![
                cm("owner", "owner-uid", None),
                cm("child", "child-uid", Some("owner-uid")),
                cm("bystander", "bystander-uid", None),
            ])
            .await
            .unwrap();
        storage
            .commit_one(Op::Delete {
                key: done[0].object.key.clone(),
                expect: Expect::Revision(done[0].revision),
            })
            .await
            .unwrap();
    }
    let s = reopen_server(&dir).await;
    eventually("the dependent gone", || {
        get(&s, "default", "child").is_none()
    })
    .await;
    assert!(get(&s, "default", "bystander").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_lost_track_of_the_changes_looks_at_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path().to_path_buf());
    // Far fewer than the changes a deletion makes, and than the collector's live queue.
    config.watch_history = 100;
    let s = open_with(config).await;
    for policy in ["Background", "Foreground"] {
        let owner = create(&s, "default", "owner", &[], &[]).await;
        let children = (0..1500).map(|i| {
            let (s, owner) = (s.clone(), owner.clone());
            tokio::spawn(async move {
                create(&s, "default", &format!("c{i}"), &[("owner", &owner)], &[]).await
            })
        });
        for c in futures::future::join_all(children).await {
            c.unwrap();
        }
        delete(&s, "default", "owner", policy).await;
        eventually(&format!("{policy}: every dependent gone"), || {
            count(&s, "default") == 0
        })
        .await;
    }
}

/// Opens the server once the storage's previous holder (a committer thread) has let go of it.
async fn reopen_server(dir: &tempfile::TempDir) -> Shared {
    let start = Instant::now();
    loop {
        match ApiServer::open(Config::new(dir.path().to_path_buf())).await {
            Ok(s) => return s,
            Err(_) if start.elapsed() < DEADLINE => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("the store does not open: {e}"),
        }
    }
}
