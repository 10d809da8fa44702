//! Marathon apps in end-to-end tests: applying them, reading their status, waiting for it, and
//! listing their live tasks.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::cluster::Cluster;
use crate::{Server, eventually, strata_bin};

/// The columns of `kubectl get apps`, the seed's Marathon table, after NAME.
pub const MARATHON_COLUMNS: [&str; 6] = [
    "ID",
    "MEMORY (MB)",
    "CPUS",
    "TASKS / INSTANCES",
    "HEALTH",
    "STATUS",
];

/// How long anything an app does may take in a test.
pub const WAIT: Duration = Duration::from_secs(60);

/// `kubectl apply -f -` of `yaml`.
pub fn apply(cluster: &Cluster, yaml: &str) {
    cluster
        .server
        .kubectl_ok_stdin(&["apply", "-f", "-"], Some(yaml));
}

/// The App `name` as kubectl prints it in JSON.
pub fn app(cluster: &Cluster, name: &str) -> Value {
    cluster.json(&["get", "app", name])
}

/// Waits until the app's status satisfies `ok`; panics with the status and log otherwise.
pub fn wait_app(cluster: &Cluster, name: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let got = eventually(WAIT, || {
        last = app(cluster, name);
        ok(&last["status"]).then(|| last.clone())
    });
    got.unwrap_or_else(|| {
        panic!(
            "app {name}: {what}; status: {:#}\n{}",
            last["status"],
            cluster.log()
        )
    })
}

/// The app's tasks that are not being killed, as (name, agent, state, version).
pub fn live_tasks(cluster: &Cluster, app: &str) -> Vec<(String, String, String, String)> {
    let list = cluster.json(&["get", "tasks", "-l", &format!("strata.io/app={app}")]);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["metadata"]["deletionTimestamp"].is_null())
        .map(|t| {
            (
                t["metadata"]["name"].as_str().unwrap().to_string(),
                t["spec"]["agent"].as_str().unwrap().to_string(),
                t["status"]["state"].as_str().unwrap_or("").to_string(),
                t["metadata"]["labels"]["strata.io/app-version"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

/// An App `name` of `instances` instances of `sleep 1000` (0.5 cpus, 64 MB), with `extra`
/// spec lines (indented two spaces).
pub fn sleeper(name: &str, instances: u32, extra: &str) -> String {
    format!(
        "apiVersion: strata.io/v1alpha1\nkind: App\nmetadata: {{name: {name}}}\nspec:\n  cmd: sleep 1000\n  cpus: 0.5\n  mem: 64\n  instances: {instances}\n{extra}"
    )
}

/// A status test: the Tasks / Instances column reads `expected` and no rollout is under way.
pub fn tasks_column(expected: &'static str) -> impl Fn(&Value) -> bool {
    move |s| s["tasks"] == expected && s["phase"] != "Deploying"
}

/// Runs `strata app ARGS --kubeconfig <the server's>`.
pub fn strata_app(s: &Server, args: &[&str]) -> Output {
    strata_app_with(&s.kubeconfig(), args)
}

/// Runs `strata app ARGS --kubeconfig KUBECONFIG`.
pub fn strata_app_with(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(strata_bin())
        .arg("app")
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env_remove("KUBECONFIG")
        .env_remove("STRATA_SERVER")
        .stdin(Stdio::null())
        .output()
        .expect("strata runs")
}

/// Runs `strata app ARGS`, failing the test if it fails; returns stdout.
pub fn strata_app_ok(s: &Server, args: &[&str]) -> String {
    let out = strata_app(s, args);
    assert!(
        out.status.success(),
        "strata app {} failed ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `strata app ARGS` expecting it to fail; returns stderr.
pub fn strata_app_err(s: &Server, args: &[&str]) -> String {
    let out = strata_app(s, args);
    assert!(
        !out.status.success(),
        "strata app {} should have failed but printed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}
