//! Agents for end-to-end tests: a real `strata agent` process bound to a test's server, the
//! busybox image Docker tasks run, and a plain HTTP client for the sandbox service.
//!
//! Process tasks outlive their agent by design (that is what adoption relies on), so dropping
//! an [`Agent`] also kills every process whose working directory is in its work directory and
//! removes its containers: a test leaves nothing running behind it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use crate::{Server, eventually, free_port, strata_bin, tail};

/// The local image Docker tasks run (see [`strata_agent::fixtures`]); imported once per
/// machine.
pub fn busybox_image() -> &'static str {
    static IMPORT: Mutex<()> = Mutex::new(());
    let _one_at_a_time = IMPORT.lock().unwrap_or_else(|e| e.into_inner());
    strata_agent::fixtures::busybox_image().expect("the busybox test image")
}

/// A running `strata agent`.
pub struct Agent {
    pub name: String,
    /// Port of the sandbox service.
    pub port: u16,
    /// The first host port the agent offers to tasks, free when it started.
    pub task_port: u16,
    /// Every host port the agent offers to tasks (`ports:[first-last]`), free when it started.
    pub task_ports: RangeInclusive<u16>,
    dir: tempfile::TempDir,
    args: Vec<String>,
    child: Option<Child>,
}

impl Agent {
    /// Starts agent `name` against `server` with `token`, offering 2 cpus, 4 GB and one host
    /// port, and waits until it registered.
    pub fn start(server: &Server, name: &str, token: &str, extra: &[&str]) -> Agent {
        let task_port = free_port();
        let resources = "cpus:2;mem:4096;disk:10000";
        Agent::launch(server, name, token, resources, task_port..=task_port, extra)
    }

    /// Starts agent `name` offering `resources` (Mesos' form without ports, e.g.
    /// `cpus:16;mem:32768;disk:20000`) and `ports` contiguous host ports that were free when it
    /// started, and waits until it registered. The resources are what the agent offers, not
    /// what the machine has: tasks that use little may be packed beyond the machine's size.
    pub fn start_with_resources(
        server: &Server,
        name: &str,
        token: &str,
        resources: &str,
        ports: u16,
        extra: &[&str],
    ) -> Agent {
        assert!(ports > 0, "an agent offers at least one port");
        Agent::launch(
            server,
            name,
            token,
            resources,
            free_port_range(ports),
            extra,
        )
    }

    fn launch(
        server: &Server,
        name: &str,
        token: &str,
        resources: &str,
        task_ports: RangeInclusive<u16>,
        extra: &[&str],
    ) -> Agent {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let resources = format!(
            "{resources};ports:[{}-{}]",
            task_ports.start(),
            task_ports.end()
        );
        let mut args: Vec<String> = [
            "agent",
            "--server",
            &server.url(),
            // `--token=` form: a token may start with '-'.
            &format!("--token={token}"),
            "--certificate-authority",
            &server.data_dir().join("pki/ca.crt").display().to_string(),
            "--name",
            name,
            "--work-dir",
            &dir.path().join("work").display().to_string(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--resources",
            &resources,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut agent = Agent {
            name: name.to_string(),
            port,
            task_port: *task_ports.start(),
            task_ports,
            dir,
            args,
            child: None,
        };
        agent.spawn(server);
        agent
    }

    fn spawn(&mut self, server: &Server) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("agent.log"))
            .expect("agent log");
        let child = Command::new(strata_bin())
            .args(&self.args)
            // Something the agent has and its tasks must not inherit.
            .env("STRATA_AGENT_ONLY", "agent-environment")
            .env("STRATA_LOG", "info,strata_agent=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("strata agent starts");
        self.child = Some(child);
        let endpoint = format!("http://127.0.0.1:{}", self.port);
        let registered = eventually(Duration::from_secs(30), || {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("strata agent exited with {status}:\n{}", self.log());
            }
            let out = server.kubectl(&[
                "get",
                "agent",
                &self.name,
                "-o",
                "jsonpath={.status.endpoint}",
            ]);
            let up = String::from_utf8_lossy(&out.stdout) == endpoint
                && TcpStream::connect(("127.0.0.1", self.port)).is_ok();
            up.then_some(())
        });
        assert!(
            registered.is_some(),
            "agent {} did not register:\n{}",
            self.name,
            self.log()
        );
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// Kills the agent with SIGKILL; its tasks keep running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the agent again with the same name, work directory and port.
    pub fn restart(&mut self, server: &Server) {
        self.kill();
        self.spawn(server);
    }

    /// Pids of the processes running in this agent's sandboxes.
    pub fn task_pids(&self) -> Vec<u32> {
        self.sandbox_pids(self.work_dir())
    }

    /// Pids of the processes whose working directory is `dir` or below it.
    pub fn sandbox_pids(&self, dir: impl AsRef<Path>) -> Vec<u32> {
        pids_under(dir.as_ref())
    }

    /// Ids of the containers this agent started (running or not).
    pub fn containers(&self) -> Vec<String> {
        containers_of(&self.work_dir())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- strata agent {} log ---\n{}",
                self.name,
                tail(&self.log(), 80)
            );
        }
        self.kill();
        remove_tasks(&self.work_dir());
    }
}

/// Pids of the processes whose working directory is `dir` or below it (an agent's tasks, when
/// `dir` is its work directory).
pub fn pids_under(dir: &Path) -> Vec<u32> {
    pids_where(|proc| {
        let cwd = std::fs::read_link(proc.join("cwd")).ok()?;
        Some(cwd.starts_with(dir))
    })
}

/// Pids of the processes for which `test`, given the process's /proc directory, says yes
/// (a process that ended meanwhile, `None`, is left out), in ascending order.
fn pids_where(test: impl Fn(&Path) -> Option<bool>) -> Vec<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = procs
        .flatten()
        .filter_map(|p| {
            let pid: u32 = p.file_name().to_str()?.parse().ok()?;
            test(&p.path())?.then_some(pid)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Pids of the task shims (`strata agent-exec --sandbox DIR`, run from wherever the agent
/// ran) of the sandboxes under `work_dir`.
fn shims_of(work_dir: &Path) -> Vec<u32> {
    pids_where(|proc| {
        let cmdline = std::fs::read(proc.join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        Some(
            args.iter().any(|a| *a == b"agent-exec")
                && args.windows(2).any(|w| {
                    w[0] == b"--sandbox"
                        && Path::new(std::str::from_utf8(w[1]).unwrap_or("")).starts_with(work_dir)
                }),
        )
    })
}

/// Ids of the containers (running or not) of the agent whose work directory is `work_dir`.
pub fn containers_of(work_dir: &Path) -> Vec<String> {
    // By instance, not by name: parallel tests run agents of the same name on this engine.
    let Ok(instance) = std::fs::read_to_string(work_dir.join("instance")) else {
        return Vec::new();
    };
    let Ok(out) = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!(
                "label={}={}",
                strata_agent::executor::docker::INSTANCE_LABEL,
                instance.trim()
            ),
        ])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// Kills (SIGKILL) what a test left running in the sandboxes of the agent whose work directory
/// is `work_dir`, processes and containers: process tasks outlive their agent by design.
pub fn remove_tasks(work_dir: &Path) {
    for pid in pids_under(work_dir).into_iter().chain(shims_of(work_dir)) {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    let containers = containers_of(work_dir);
    if !containers.is_empty() {
        let _ = Command::new("docker")
            .args(["rm", "-f"])
            .args(&containers)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `n` contiguous ports on 127.0.0.1 that are free now, below the kernel's ephemeral range (so
/// that ports the system hands out, like [`free_port`]'s, do not land in them later); the start
/// is drawn from the clock and the process id so that parallel tests look in different places.
pub fn free_port_range(n: u16) -> RangeInclusive<u16> {
    const LOW: u32 = 20000;
    let high = ephemeral_start().saturating_sub(u32::from(n)).max(LOW + 1);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id().wrapping_mul(2_654_435_761);
    let span = high - LOW;
    for attempt in 0..200u32 {
        let start = LOW + seed.wrapping_add(attempt.wrapping_mul(7919)) % span;
        let Ok(first) = u16::try_from(start) else {
            continue;
        };
        let Some(last) = first.checked_add(n - 1) else {
            continue;
        };
        // Holding every listener until the whole range is checked.
        let held: Vec<TcpListener> = (first..=last)
            .map_while(|p| TcpListener::bind(("127.0.0.1", p)).ok())
            .collect();
        if held.len() == usize::from(n) {
            return first..=last;
        }
    }
    panic!("no {n} contiguous free ports between {LOW} and {high}");
}

/// The first port of the kernel's ephemeral range (32768 when it cannot be read).
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// A GET with an optional bearer token over plain HTTP: (status, body).
pub fn http_get(port: u16, path_and_query: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A token for agent `name`, from `strata agent-token` run as the server's admin.
pub fn agent_token(server: &Server, name: &str) -> String {
    let out = Command::new(strata_bin())
        .args(["agent-token", name, "--kubeconfig"])
        .arg(server.kubeconfig())
        .output()
        .expect("strata agent-token runs");
    assert!(
        out.status.success(),
        "strata agent-token {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        token.lines().count(),
        1,
        "only the token on stdout: {token:?}"
    );
    token.trim().to_string()
}
