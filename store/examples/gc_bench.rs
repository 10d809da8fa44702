//! How long garbage collection takes to delete one owner's dependents, on the real store in-process.
//!
//! `cargo run --release -p strata-store --example gc_bench -- [DEPENDENTS] [BYSTANDERS] [POLICY] [agent]`
//!
//! Creates one ConfigMap owner with DEPENDENTS ConfigMaps that name it in `ownerReferences`
//! (`blockOwnerDeletion: true`, as Marathon's Tasks do), plus BYSTANDERS unrelated ConfigMaps in
//! another namespace (what else a store holds), then deletes the owner with POLICY (`Background`,
//! `Foreground` or `Orphan`) and prints the wall and CPU time until the collector is done: every
//! dependent gone (the owner too), or every dependent released (Orphan).
//!
//! With `agent`, each dependent also carries a finalizer that a simulated agent (watching, a few
//! releases at a time) takes off once the dependent is marked for deletion, as Strata's agents do
//! with Tasks: every dependent then goes in a deletion of its own, the case where a collector
//! that rescans everything per deletion costs O(N²).
//!
//! A measurement, not a test.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use strata_store::request::Query;
use strata_store::server::{ApiServer, Config, Shared};
use strata_store::storage::{EventKind, Interest, StoredObject};
use strata_store::write::{DeleteOptions, PatchType};

/// Concurrent creations while setting up (the store batches them into shared commits).
const SETUP_CONCURRENCY: usize = 64;
/// Finalizer releases the simulated agent has in flight.
const AGENT_CONCURRENCY: usize = 8;
const AGENT_FINALIZER: &str = "bench.strata.io/agent";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dependents: usize = args.next().map_or(Ok(5_000), |a| a.parse())?;
    let bystanders: usize = args.next().map_or(Ok(5_000), |a| a.parse())?;
    let policy = args.next().unwrap_or_else(|| "Background".into());
    let agent = args.next().is_some_and(|a| a == "agent");

    let dir = tempfile::tempdir()?;
    let server = ApiServer::open(Config::new(dir.path().to_path_buf())).await?;
    let cms = server
        .registry
        .get("", "v1", "configmaps")
        .expect("built-in");
    let namespaces = server
        .registry
        .get("", "v1", "namespaces")
        .expect("built-in");
    let q = Query::default();
    server
        .create(
            &namespaces,
            None,
            json!({"metadata": {"name": "bystanders"}}),
            &q,
            "bench",
            None,
        )
        .await?;
    let owner = server
        .create(
            &cms,
            Some("default"),
            json!({"metadata": {"name": "owner"}}),
            &q,
            "bench",
            None,
        )
        .await?
        .object
        .into_value();
    let uid = owner["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let t = Instant::now();
    let finalizers: Vec<&str> = if agent { vec![AGENT_FINALIZER] } else { vec![] };
    let objects = (0..dependents)
        .map(|i| {
            let m = json!({"name": format!("dep-{i}"), "finalizers": finalizers, "ownerReferences": [{
                "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid,
                "controller": true, "blockOwnerDeletion": true,
            }]});
            ("default", m)
        })
        .chain((0..bystanders).map(|i| ("bystanders", json!({"name": format!("b-{i}")}))));
    let created: Vec<_> = futures::stream::iter(objects)
        .map(|(ns, metadata)| {
            let (server, cms) = (server.clone(), cms.clone());
            async move {
                let q = Query::default();
                server
                    .create(
                        &cms,
                        Some(ns),
                        json!({"metadata": metadata}),
                        &q,
                        "bench",
                        None,
                    )
                    .await
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    for c in created {
        c?;
    }
    println!(
        "created {dependents} dependents and {bystanders} bystanders in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    // Let the collector see the creations before the clock starts.
    tokio::time::sleep(Duration::from_secs(1)).await;

    if agent {
        tokio::spawn(simulated_agent(server.clone()));
    }
    let t = Instant::now();
    let cpu = cpu_seconds();
    let opts = DeleteOptions {
        propagation: Some(policy.clone()),
        ..Default::default()
    };
    server.delete(&cms, Some("default"), "owner", &opts).await?;
    let timeout = Duration::from_secs(900);
    while !done(&server, &policy) {
        anyhow::ensure!(t.elapsed() < timeout, "not done after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "{policy} deletion of an owner of {dependents} dependents ({bystanders} bystanders{}): \
         {:.2} s, {:.2} s of CPU",
        if agent {
            ", an agent's finalizer on each"
        } else {
            ""
        },
        t.elapsed().as_secs_f64(),
        cpu_seconds() - cpu,
    );
    Ok(())
}

/// Takes the agent's finalizer off every dependent marked for deletion, as it is marked.
async fn simulated_agent(server: Shared) {
    let cms = server
        .registry
        .get("", "v1", "configmaps")
        .expect("built-in");
    let Ok(sub) = server.storage.subscribe(
        server.storage.revision(),
        Interest {
            resource: Some(cms.storage.clone()),
            ..Interest::default()
        },
    ) else {
        return;
    };
    let marked = futures::stream::unfold(sub.live, |mut live| {
        let server = server.clone();
        async move {
            loop {
                match live.recv().await {
                    Ok(e) if e.kind != EventKind::Deleted && marked(&e.object) => {
                        return Some((vec![e.object.key.name.clone()], live));
                    }
                    Ok(_) => {}
                    // Events were dropped: look at everything again, as an agent relists.
                    Err(strata_store::storage::Missed::Lagged) => {
                        let (all, _, _) =
                            server
                                .storage
                                .list("/configmaps", Some("default"), None, marked, None);
                        let names = all.iter().map(|o| o.key.name.clone()).collect();
                        return Some((names, live));
                    }
                    Err(strata_store::storage::Missed::Closed) => return None,
                }
            }
        }
    })
    .flat_map(futures::stream::iter);
    marked
        .map(|name| {
            let (server, cms) = (server.clone(), cms.clone());
            async move {
                let body =
                    bytes::Bytes::from(json!({"metadata": {"finalizers": null}}).to_string());
                let q = Query::default();
                let r = server
                    .patch(
                        &cms,
                        Some("default"),
                        &name,
                        None,
                        PatchType::Merge,
                        &body,
                        &q,
                        Some("bench-agent"),
                        None,
                    )
                    .await;
                // Released twice (after a relist) is gone the second time.
                if let Err(e) = r
                    && e.code != http::StatusCode::NOT_FOUND
                {
                    eprintln!("releasing {name}: {}", e.message);
                }
            }
        })
        .buffer_unordered(AGENT_CONCURRENCY)
        .for_each(|()| async {})
        .await;
}

/// Whether the object is marked for deletion and still holds the agent's finalizer.
fn marked(o: &StoredObject) -> bool {
    let v = o.value();
    let holds = v["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == AGENT_FINALIZER));
    holds && v["metadata"].get("deletionTimestamp").is_some()
}

/// Whether the collector has finished with the owner and its dependents.
fn done(server: &Shared, policy: &str) -> bool {
    let (in_default, _, _) =
        server
            .storage
            .list("/configmaps", Some("default"), None, |_| true, None);
    match policy {
        "Orphan" => in_default.iter().all(|o| {
            o.key.name != "owner" && o.value()["metadata"].get("ownerReferences").is_none()
        }),
        _ => in_default.is_empty(),
    }
}

/// User plus system CPU time of this process so far (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5); 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) / 100.0
}
