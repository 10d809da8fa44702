//! A framework for tests, written against the CRDs as a third party would (docs/frameworks.md):
//! it registers a Framework with a heartbeat Lease, takes the Offers made to it, launches as
//! many tasks of one size as fit in each, and accepts the offer listing them — or declines it
//! with a refuse filter. Also the controllers and simulated agents as child processes.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::{Process, Server, strata_bin};

/// Starts `strata controllers` against `server` with `extra` flags, serving metrics on a free
/// port; its log is appended to `log`.
pub fn controllers(server: &Server, extra: &[&str], log: &std::path::Path) -> Process {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("controllers log");
    Process(
        Command::new(strata_bin())
            .arg("controllers")
            .arg("--kubeconfig")
            .arg(server.kubeconfig())
            .args(["--metrics-listen", "127.0.0.1:0"])
            .args(extra)
            .env("STRATA_LOG", "info,strata_controllers=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("strata controllers starts"),
    )
}

/// Starts `n` simulated agents named `<name>-0..` (`strata agent --simulate`) with `flags`
/// (e.g. their `--resources` and timings), working in `work`.
pub fn simulated_agents(
    server: &Server,
    name: &str,
    n: usize,
    flags: &[&str],
    work: &std::path::Path,
) -> Process {
    Process(
        Command::new(strata_bin())
            .args(["agent", "--server", &server.url()])
            // `--token=` form: a token may start with '-'.
            .arg(format!("--token={}", server.admin_token()))
            .arg("--certificate-authority")
            .arg(server.data_dir().join("pki/ca.crt"))
            .args(["--name", name, "--simulate", &n.to_string()])
            .args(flags)
            .arg("--work-dir")
            .arg(work)
            .stderr(Stdio::null())
            .spawn()
            .expect("simulated agents start"),
    )
}

/// What a test framework does with each offer.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// Resources of each task, e.g. `cpus:1;mem:128`; None declines every offer.
    pub task: Option<String>,
    /// refuseSeconds written with each accept or decline.
    pub refuse_seconds: f64,
    /// Stop launching after this many tasks (then decline).
    pub max_tasks: usize,
    /// Leave offers unanswered (they expire, or are rescinded).
    pub hold: bool,
}

/// What a running test framework has seen.
#[derive(Default)]
pub struct Seen {
    /// Every offer received, as (name, agent), in order.
    pub offers: Vec<(String, String)>,
    /// Tasks launched.
    pub tasks: usize,
}

/// Registers framework `name` in `namespace` (with `role` and `weight`) and runs it until the
/// returned handle is aborted.
pub async fn run_framework(
    client: Client,
    namespace: &str,
    name: &str,
    spec: serde_json::Value,
    behaviour: Behaviour,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Seen>>) {
    let frameworks: Api<strata_api::Framework> = Api::namespaced(client.clone(), namespace);
    let fw = json!({
        "apiVersion": "strata.io/v1alpha1", "kind": "Framework",
        "metadata": {"name": name}, "spec": spec,
    });
    frameworks
        .patch(
            name,
            &PatchParams::apply("e2e-framework"),
            &Patch::Apply(&fw),
        )
        .await
        .expect("framework registers");
    let leases: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "labels": {"strata.io/framework": name}},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 3600,
                 "renewTime": strata_agent::report::now()},
    });
    leases
        .patch(
            name,
            &PatchParams::apply("e2e-framework"),
            &Patch::Apply(&lease),
        )
        .await
        .expect("framework heartbeat");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let handle = tokio::spawn(take_offers(
        client,
        namespace.to_string(),
        name.to_string(),
        behaviour,
        seen.clone(),
    ));
    (handle, seen)
}

async fn take_offers(
    client: Client,
    namespace: String,
    name: String,
    behaviour: Behaviour,
    seen: Arc<Mutex<Seen>>,
) {
    let offers: Api<strata_api::Offer> = Api::namespaced(client.clone(), &namespace);
    let tasks: Api<strata_api::Task> = Api::namespaced(client.clone(), &namespace);
    let mut handled: HashSet<String> = HashSet::new();
    let size: Option<strata_api::Resources> = behaviour
        .task
        .as_ref()
        .map(|t| t.parse().expect("task resources"));
    let mut launched = 0;
    loop {
        let list = offers
            .list(&ListParams::default().labels(&format!("strata.io/framework={name}")))
            .await;
        for offer in list.map(|l| l.items).unwrap_or_default() {
            let offer_name = offer.name_any();
            let pending = offer.status.as_ref().is_none_or(|s| !s.phase.is_settled());
            if !pending || !handled.insert(offer_name.clone()) {
                continue;
            }
            seen.lock()
                .unwrap()
                .offers
                .push((offer_name.clone(), offer.spec.agent.clone()));
            if behaviour.hold {
                continue;
            }
            let mut left = offer.spec.resources.clone();
            let mut names = Vec::new();
            while let Some(size) = &size {
                if launched >= behaviour.max_tasks || !size.fits(&left) {
                    break;
                }
                launched += 1;
                let task_name = format!("{name}-{launched}");
                let task = json!({
                    "apiVersion": "strata.io/v1alpha1", "kind": "Task",
                    "metadata": {"name": task_name, "labels": {"strata.io/agent": offer.spec.agent}},
                    "spec": {"framework": name, "agent": offer.spec.agent, "offer": offer_name,
                             "resources": size, "command": "sleep 3600"},
                });
                let task: strata_api::Task = serde_json::from_value(task).unwrap();
                if tasks.create(&PostParams::default(), &task).await.is_ok() {
                    left = left.saturating_sub(size);
                    names.push(task_name);
                }
            }
            seen.lock().unwrap().tasks += names.len();
            let status = if names.is_empty() {
                json!({"phase": "Declined", "refuseSeconds": behaviour.refuse_seconds})
            } else {
                json!({"phase": "Accepted", "tasks": names, "refuseSeconds": behaviour.refuse_seconds})
            };
            let _ = offers
                .patch_status(
                    &offer_name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "status": status })),
                )
                .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
