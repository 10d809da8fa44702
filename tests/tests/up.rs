//! `strata up`, the README's first command: one process with the store, the controllers, a
//! local agent and the console. A user applies the examples with the kubeconfig it printed and
//! sees the seed's table; stopping it with Ctrl-C and starting it again keeps the apps, and the
//! running tasks are adopted, not launched again.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use strata_e2e::agent::{busybox_image, free_port_range, pids_under};
use strata_e2e::apps::{sleeper, tasks_column};
use strata_e2e::examples::{EXPECTED, wait_for_table};
use strata_e2e::{Server, eventually, repo_root};

/// The README's first shell command (the first line of its first code block), without the
/// comment.
fn readme_first_command() -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let block = readme
        .split("```sh\n")
        .nth(1)
        .expect("README.md has a sh code block");
    let line = block.lines().next().expect("a first command");
    line.split('#').next().unwrap_or(line).trim().to_string()
}

/// `strata up` with a local agent large enough for the examples.
fn up(agent: &str) -> Server {
    let ports = free_port_range(8);
    let resources = format!(
        "cpus:16;mem:32768;disk:20000;ports:[{}-{}]",
        ports.start(),
        ports.end()
    );
    Server::up(&["--agent-name", agent, "--resources", &resources])
}

fn json(server: &Server, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["-o", "json"]);
    serde_json::from_str(&server.kubectl_ok(&args)).expect("kubectl prints JSON")
}

#[test]
fn the_readme_first_command_runs_strata_and_the_examples_show_the_seeds_table() {
    let first = readme_first_command();
    assert!(
        first.ends_with("-- up") || first.starts_with("strata up"),
        "the README's first command is `strata up`, got {first:?}"
    );
    busybox_image();
    let server = up("examples-up");

    // What it printed leads the user: the kubeconfig to export, the console, what to apply.
    let printed = server.output();
    let export = format!("export KUBECONFIG={}", server.kubeconfig().display());
    assert!(printed.contains(&export), "{export} in:\n{printed}");
    let console = format!("http://127.0.0.1:{}", server.console_port.unwrap());
    assert!(printed.contains(&console), "{console} in:\n{printed}");
    assert!(
        printed.contains("kubectl apply -f manifests/examples/"),
        "{printed}"
    );
    assert!(printed.contains("docker    available"), "{printed}");

    let examples = repo_root().join("manifests/examples");
    let out = server.kubectl_ok(&["apply", "-f", &examples.display().to_string()]);
    assert_eq!(out.lines().count(), EXPECTED.len(), "{out}");
    if let Err((table, problems)) = wait_for_table(&server) {
        panic!(
            "kubectl get apps did not reach the seed's table:\n{}\n\n{table}\n--- tasks ---\n{}\n\
             --- log ---\n{}",
            problems.join("\n"),
            server.kubectl_ok(&["get", "tasks", "-o", "wide"]),
            server.log()
        );
    }
}

/// Each task of the app: its name and (uid, startedAt).
fn tasks(server: &Server, app: &str) -> BTreeMap<String, (String, String)> {
    let list = json(
        server,
        &["get", "tasks", "-l", &format!("strata.io/app={app}")],
    );
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| {
            (
                t["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                (
                    t["metadata"]["uid"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    t["status"]["startedAt"].to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn ctrl_c_then_strata_up_again_keeps_the_apps_and_adopts_their_tasks() {
    let mut server = up("adopt-up");
    server.kubectl_ok_stdin(&["apply", "-f", "-"], Some(&sleeper("sleepy", 2, "")));
    let running = eventually(Duration::from_secs(60), || {
        let app = json(&server, &["get", "app", "sleepy"]);
        tasks_column("2 / 2")(&app["status"]).then_some(())
    });
    assert!(running.is_some(), "2 / 2 running:\n{}", server.log());
    let before = tasks(&server, "sleepy");
    let sandboxes = server.data_dir().join("agent");
    let pids = pids_under(&sandboxes);
    assert!(pids.len() >= 2, "two sleeping tasks run: {pids:?}");

    let exit = server.stop_with("INT");
    assert!(
        exit.is_some_and(|s| s.success()),
        "Ctrl-C stops strata up cleanly ({exit:?}):\n{}",
        server.log()
    );
    assert_eq!(
        pids_under(&sandboxes),
        pids,
        "the tasks keep running while strata is down"
    );

    server.start_again();
    // Give the controllers time to do anything they would do wrong: relaunch, replace, kill.
    std::thread::sleep(Duration::from_secs(5));
    let adopted = eventually(Duration::from_secs(30), || {
        let app = json(&server, &["get", "app", "sleepy"]);
        tasks_column("2 / 2")(&app["status"]).then_some(())
    });
    assert!(adopted.is_some(), "2 / 2 running again:\n{}", server.log());
    assert_eq!(
        tasks(&server, "sleepy"),
        before,
        "the same tasks, started when they were first started"
    );
    assert_eq!(
        pids_under(&sandboxes),
        pids,
        "the same processes: adopted, not relaunched"
    );
}

#[test]
fn without_a_docker_engine_strata_up_says_so_and_runs_processes() {
    let server = Server::up_with_env(
        &[
            "--agent-name",
            "no-docker-up",
            "--resources",
            "cpus:2;mem:1024",
        ],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    let printed = server.output();
    assert!(
        printed.contains("docker    NOT available") && printed.contains("start Docker"),
        "said plainly, with what to do:\n{printed}"
    );
    server.kubectl_ok_stdin(&["apply", "-f", "-"], Some(&sleeper("plain", 1, "")));
    let running = eventually(Duration::from_secs(60), || {
        let app = json(&server, &["get", "app", "plain"]);
        tasks_column("1 / 1")(&app["status"]).then_some(())
    });
    assert!(
        running.is_some(),
        "an app without a container runs:\n{}",
        server.log()
    );
}
