//! The master's part, for tests that create Tasks without one: as in Mesos, the master checks a
//! framework's launch against its offer and stages the task; only then does the agent run it.
//! Later it marks the tasks of an agent that stopped heartbeating Unreachable, then Lost or
//! Gone. Tests play that part here with merge patches of the task's status subresource: they
//! stage a task by marking it Staging (`status.state` with `status.stagedAt`), which agents run
//! as they run the tasks the master lists in their Agent's `status.staged`.

use serde_json::{Value, json};
use strata_api::task::TaskStatus;

use crate::Server;

/// Stages task `name` (in the kubeconfig's namespace, `default`) as the master would; returns
/// the `stagedAt` it wrote.
pub fn stage_task(server: &Server, name: &str) -> String {
    let staged =
        serde_json::to_value(TaskStatus::staged(strata_agent::report::now())).expect("a status");
    write_status(server, name, staged.clone());
    staged["stagedAt"]
        .as_str()
        .expect("an RFC 3339 string")
        .to_string()
}

/// Merges `status` into the status of task `name` (in the kubeconfig's namespace), as the
/// master writes it.
pub fn write_status(server: &Server, name: &str, status: Value) {
    let patch = json!({ "status": status });
    server.kubectl_ok(&[
        "patch",
        "task",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch.to_string(),
    ]);
}
