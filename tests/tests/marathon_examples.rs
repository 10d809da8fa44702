//! The examples a user applies first, on a real agent: `kubectl apply -f manifests/examples/`
//! brings up the seed's Marathon screenshot — every app with its memory and cpus, running its
//! instances (the suspended one at 0 / 0) — and a Docker web app that turns healthy, and
//! `kubectl get apps` shows it as the seed's table does.

use std::time::Instant;

use strata_e2e::agent::{Agent, agent_token, busybox_image, http_get};
use strata_e2e::cluster::Cluster;
use strata_e2e::examples::{EXPECTED, WAIT, columns, wait_for_table};
use strata_e2e::repo_root;

#[test]
fn the_examples_show_the_seeds_marathon_table_on_a_real_agent() {
    let started = Instant::now();
    let image = busybox_image();
    let cluster = Cluster::without_agents(&[]);

    let examples = repo_root().join("manifests/examples");
    let out = cluster
        .server
        .kubectl_ok(&["apply", "-f", &examples.display().to_string()]);
    let applied: Vec<&str> = out.lines().collect();
    assert_eq!(
        applied.len(),
        EXPECTED.len(),
        "manifests/examples/ holds exactly the seven apps:\n{out}"
    );
    for want in &EXPECTED {
        let line = format!("app.strata.io/{} created", want[0]);
        assert!(applied.contains(&line.as_str()), "{line} in:\n{out}");
    }
    let docker_image = cluster.server.kubectl_ok(&[
        "get",
        "app",
        "docker-web",
        "-o",
        "jsonpath={.spec.container.docker.image}",
    ]);
    assert_eq!(
        docker_image, image,
        "the web app runs the local busybox image"
    );

    // The Marathon framework registers once there are apps; then one agent big enough for all
    // of them (9.9 cpus, 15760 MB, 3 ports) joins.
    cluster.wait_active(&["marathon"]);
    let token = agent_token(&cluster.server, "examples");
    let agent = Agent::start_with_resources(
        &cluster.server,
        "examples",
        &token,
        "cpus:16;mem:32768;disk:20000",
        8,
        &["--heartbeat-interval", "1s"],
    );

    let table = match wait_for_table(&cluster.server) {
        Ok(table) => table,
        Err((table, problems)) => {
            let tasks = cluster.server.kubectl_ok(&["get", "tasks", "-o", "wide"]);
            panic!(
                "kubectl get apps did not reach the seed's table in {WAIT:?}:\n{}\n\n{table}\n\
                 --- tasks ---\n{tasks}\n--- controllers log ---\n{}",
                problems.join("\n"),
                tail(&cluster.log(), 120)
            );
        }
    };
    let header = table.lines().next().unwrap();
    for column in columns() {
        assert!(header.contains(column), "column {column}:\n{table}");
    }

    // The Docker web app passed its readiness check and serves on the host port it was given.
    let tasks = cluster.json(&["get", "tasks", "-l", "strata.io/app=docker-web"]);
    let task = &tasks["items"][0];
    assert_eq!(
        task["status"]["ready"], true,
        "readiness check passed: {task:#}"
    );
    let port = task["spec"]["ports"][0]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("a host port for docker-web: {task:#}"));
    assert!(
        agent.task_ports.contains(&port),
        "{port} from the agent's range"
    );
    let (status, body) = http_get(port, "/index.html", None);
    assert_eq!((status, body.as_str()), (200, "hello from busybox\n"));
    assert_eq!(agent.containers().len(), 1, "one container: docker-web's");

    eprintln!("{table}\nthe seed's table after {:?}", started.elapsed());
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
