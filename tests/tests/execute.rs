//! `strata execute` end to end, as a user runs it: against a real store, the real allocator
//! (`strata controllers`) and a real `strata agent` running processes and Docker containers.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata_e2e::agent::{Agent, agent_token, busybox_image};
use strata_e2e::framework::controllers;
use strata_e2e::{Process, Server, eventually, strata_bin};

/// Longest a run may take before the test gives up on it; every run here needs far less.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// A store, the master and (unless told otherwise) one agent.
struct Cluster {
    server: Server,
    _controllers: Process,
    agent: Option<Agent>,
    work: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        let mut cluster = Cluster::without_agents();
        let token = agent_token(&cluster.server, "a1");
        cluster.agent = Some(Agent::start(&cluster.server, "a1", &token, &[]));
        cluster
    }

    fn without_agents() -> Cluster {
        let server = Server::start();
        let work = tempfile::tempdir().expect("temp dir");
        let controllers = controllers(
            &server,
            &["--allocation-interval", "200ms"],
            &work.path().join("controllers.log"),
        );
        Cluster {
            server,
            _controllers: controllers,
            agent: None,
            work,
        }
    }

    /// Runs `strata execute ARGS` to its end.
    fn execute(&self, args: &[&str]) -> Run {
        self.start_execute(args).finish(self)
    }

    /// Starts `strata execute ARGS`.
    fn start_execute(&self, args: &[&str]) -> Running {
        let stdout = self.work.path().join("stdout");
        let stderr = self.work.path().join("stderr");
        let child = Command::new(strata_bin())
            .arg("execute")
            .args(args)
            .arg("--kubeconfig")
            .arg(self.server.kubeconfig())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("strata execute starts");
        Running {
            child,
            args: args.iter().map(|a| a.to_string()).collect(),
            stdout,
            stderr,
        }
    }

    /// After a run, no Framework and no framework Lease is left.
    fn assert_deregistered(&self, run: &Run) {
        let left = self.server.kubectl_ok(&[
            "get",
            "frameworks,leases",
            "-A",
            "-l",
            "strata.io/framework",
            "-o",
            "name",
        ]);
        let frameworks = self
            .server
            .kubectl_ok(&["get", "frameworks", "-A", "-o", "name"]);
        assert!(
            left.trim().is_empty() && frameworks.trim().is_empty(),
            "strata execute left its framework behind: {left}{frameworks}\n{run:?}"
        );
    }

    fn logs(&self) -> String {
        let controllers =
            std::fs::read_to_string(self.work.path().join("controllers.log")).unwrap_or_default();
        let agent = self.agent.as_ref().map(Agent::log).unwrap_or_default();
        format!("--- controllers log ---\n{controllers}\n--- agent log ---\n{agent}")
    }
}

/// A `strata execute` still running.
struct Running {
    child: std::process::Child,
    args: Vec<String>,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Running {
    /// What it printed on stderr so far.
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for it to end, and checks it deregistered.
    fn finish(mut self, cluster: &Cluster) -> Run {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for strata execute") {
                break status;
            }
            if started.elapsed() > RUN_LIMIT {
                let _ = self.child.kill();
                panic!(
                    "strata execute {:?} still runs after {RUN_LIMIT:?}:\n{}\n{}",
                    self.args,
                    self.stderr(),
                    cluster.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let run = Run {
            code: status.code(),
            stdout: std::fs::read_to_string(&self.stdout).expect("stdout"),
            stderr: self.stderr(),
        };
        cluster.assert_deregistered(&run);
        run
    }
}

/// What a run printed, and how it ended.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Whether it printed the status update `state` for its task.
    fn reported(&self, state: &str) -> bool {
        self.stderr
            .lines()
            .any(|l| l.starts_with(&format!("Received status update {state} for task '")))
    }
}

#[test]
fn a_command_runs_with_its_environment_and_its_output_and_states_are_printed() {
    let cluster = Cluster::start();
    let run = cluster.execute(&[
        "--name",
        "envie",
        "--command",
        "echo env; env; sleep 1",
        "--env",
        r#"{"GREETING":"hello"}"#,
        "--env",
        "OTHER=x",
    ]);
    assert_eq!(run.code, Some(0), "{run:#?}\n{}", cluster.logs());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"env"), "{run:#?}");
    for line in ["GREETING=hello", "OTHER=x", "STRATA_AGENT=a1"] {
        assert!(lines.contains(&line), "stdout has {line}: {run:#?}");
    }
    assert!(
        lines.iter().any(|l| l.starts_with("MESOS_TASK_ID=envie-")),
        "the task is named after --name: {run:#?}"
    );
    for state in ["Running", "Finished"] {
        assert!(run.reported(state), "{state} is reported: {run:#?}");
    }
    assert!(
        run.stderr
            .contains("Received status update Finished for task 'envie-"),
        "{run:#?}"
    );
    // The finished task stays visible, as Mesos keeps completed tasks.
    let tasks = cluster.server.kubectl_ok(&[
        "get",
        "tasks",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.state}{\"\\n\"}{end}",
    ]);
    assert!(
        tasks
            .lines()
            .any(|l| l.starts_with("envie-") && l.ends_with(" Finished")),
        "{tasks}"
    );
}

#[test]
fn a_failing_command_exits_with_its_exit_code() {
    let cluster = Cluster::start();
    let run = cluster.execute(&["--name", "three", "--command", "echo failing; exit 3"]);
    assert_eq!(run.code, Some(3), "{run:#?}\n{}", cluster.logs());
    assert_eq!(run.stdout, "failing\n");
    assert!(run.reported("Failed"), "{run:#?}");
    assert!(
        run.stderr.contains("Command exited with status 3"),
        "{run:#?}"
    );
}

#[test]
fn a_docker_image_runs_the_command_in_a_container() {
    let image = busybox_image();
    let cluster = Cluster::start();
    let run = cluster.execute(&[
        "--name",
        "boxed",
        "--docker-image",
        image,
        "--command",
        "echo in a container; cat /www/index.html",
    ]);
    assert_eq!(run.code, Some(0), "{run:#?}\n{}", cluster.logs());
    assert_eq!(run.stdout, "in a container\nhello from busybox\n");
    assert!(run.reported("Finished"), "{run:#?}");

    // Without a shell the words are the container's command: nothing is expanded.
    let run = cluster.execute(&[
        "--name",
        "argv",
        "--docker-image",
        image,
        "--shell=false",
        "--command",
        "echo no shell $HOME",
    ]);
    assert_eq!(run.code, Some(0), "{run:#?}\n{}", cluster.logs());
    assert_eq!(run.stdout, "no shell $HOME\n");
}

#[test]
fn kill_after_kills_the_task_and_exits_non_zero() {
    let cluster = Cluster::start();
    // The run limit is far below the task's own 600 s: only the kill can end it in time.
    let run = cluster.execute(&[
        "--name",
        "sleepy",
        "--command",
        "echo started; sleep 600",
        "--kill-after",
        "1s",
    ]);
    assert_eq!(run.code, Some(1), "{run:#?}\n{}", cluster.logs());
    assert_eq!(run.stdout, "started\n");
    for state in ["Running", "Killed"] {
        assert!(run.reported(state), "{state} is reported: {run:#?}");
    }
}

#[test]
fn an_interrupt_kills_the_task_and_deregisters() {
    let cluster = Cluster::start();
    let running = cluster.start_execute(&["--name", "stopped", "--command", "sleep 600"]);
    let started = eventually(RUN_LIMIT, || {
        running
            .stderr()
            .contains("Received status update Running for task 'stopped-")
            .then_some(())
    });
    assert!(
        started.is_some(),
        "the task never ran: {}\n{}",
        running.stderr(),
        cluster.logs()
    );
    let pid = running.child.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status();
    assert!(sent.is_ok_and(|s| s.success()), "SIGINT sent to {pid}");
    let run = running.finish(&cluster);
    assert_eq!(run.code, Some(130), "{run:#?}\n{}", cluster.logs());
    assert!(run.reported("Killed"), "{run:#?}");
}

#[test]
fn without_agents_it_gives_up_saying_what_to_check() {
    let cluster = Cluster::without_agents();
    let run = cluster.execute(&["--name", "lonely", "--command", "true", "--timeout", "3s"]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr
            .contains("no offer that fits cpus:1;mem:128 came within 3s")
            && run.stderr.contains("no agents are registered"),
        "{run:#?}"
    );
    let tasks = cluster.server.kubectl_ok(&["get", "tasks", "-o", "name"]);
    assert!(tasks.trim().is_empty(), "nothing was launched: {tasks}");
}
