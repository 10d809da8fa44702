//! Acknowledged writes survive SIGKILL: writers stream creates at the server, the server is killed
//! at a random moment, and after a restart every acknowledged object is there.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use strata_e2e::{Server, kube_client};

const ROUNDS: usize = 8;
const WRITERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let mut s = Server::start();
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut last_revision = 0u64;
    for round in 0..ROUNDS {
        let client = kube_client(&s).await;
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let api = api.clone();
                let acked = acknowledged.clone();
                tokio::spawn(async move {
                    for i in 0.. {
                        let mut cm = ConfigMap::default();
                        cm.metadata.name = Some(format!("r{round}-w{w}-{i}"));
                        cm.data = Some([("round".to_string(), round.to_string())].into());
                        match api.create(&PostParams::default(), &cm).await {
                            Ok(created) => {
                                acked.lock().unwrap().push(created.metadata.name.unwrap())
                            }
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        // Kill at a varying moment, mid-stream.
        tokio::time::sleep(Duration::from_millis(300 + (round as u64 * 137) % 500)).await;
        s.kill();
        for w in writers {
            let _ = w.await;
        }
        s.restart();
        let client = kube_client(&s).await;
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        let list = api
            .list(&ListParams::default())
            .await
            .expect("list after restart");
        let present: std::collections::HashSet<String> = list
            .items
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        let acked = acknowledged.lock().unwrap().clone();
        let missing: Vec<&String> = acked.iter().filter(|n| !present.contains(*n)).collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} acknowledged writes lost, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        let revision: u64 = list.metadata.resource_version.unwrap().parse().unwrap();
        assert!(
            revision >= last_revision,
            "the revision went backwards: {revision} < {last_revision}"
        );
        last_revision = revision;
    }
    let total = acknowledged.lock().unwrap().len();
    assert!(
        total > ROUNDS * 10,
        "too few writes to mean anything: {total}"
    );
    eprintln!("{total} acknowledged writes over {ROUNDS} kills, none lost");
}
