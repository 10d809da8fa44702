//! The end-to-end harness: starts the real `strata server` binary on a fresh data directory and a
//! free port, and hands tests its kubeconfig, so kubectl, kube-rs and the Python client talk to it
//! exactly as users would. Each test gets its own server; state is dumped when a test fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub mod agent;
pub mod apps;
pub mod cluster;
pub mod examples;
pub mod framework;
pub mod master;
pub mod python;

/// The `strata` binary built with the tests (cargo builds it for the cli package's tests).
pub fn strata_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/strata
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("strata");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p strata` (the README's test command does)",
        bin.display()
    );
    bin
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A child process (an agent, the controllers) killed when dropped, so a failed test leaves
/// nothing running.
pub struct Process(pub Child);

impl Process {
    /// Kills it now (e.g. to stop an agent mid-test).
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `strata server` (or `strata up`) child process.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// Under `strata up`: the console's port.
    pub console_port: Option<u16>,
    child: Option<Child>,
    /// The subcommand and its arguments, without --data-dir and --listen.
    args: Vec<String>,
    /// Environment variables it is started with, beside the test's.
    env: Vec<(String, String)>,
}

impl Server {
    /// Starts a server on a new data directory.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Server {
        let mut args = vec!["server".to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::spawn_new(args, Vec::new(), None)
    }

    /// Starts `strata up` (store, controllers, a local agent and the console in one process) on
    /// a new data directory, every port free, with `extra` arguments.
    pub fn up(extra: &[&str]) -> Server {
        Server::up_with_env(extra, &[])
    }

    /// [`Server::up`] with environment variables, e.g. a `DOCKER_HOST` where no engine is.
    pub fn up_with_env(extra: &[&str], env: &[(&str, &str)]) -> Server {
        let console = free_port();
        let mut args: Vec<String> = [
            "up",
            "--console-listen",
            &format!("127.0.0.1:{console}"),
            "--sandbox-listen",
            &format!("127.0.0.1:{}", free_port()),
            "--metrics-listen",
            "127.0.0.1:0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Server::spawn_new(args, env, Some(console))
    }

    fn spawn_new(
        args: Vec<String>,
        env: Vec<(String, String)>,
        console_port: Option<u16>,
    ) -> Server {
        let mut s = Server {
            dir: tempfile::tempdir().expect("temp dir"),
            port: free_port(),
            console_port,
            child: None,
            args,
            env,
        };
        s.spawn()
            .unwrap_or_else(|e| panic!("strata {} starts: {e:#}", s.args[0]));
        s
    }

    /// Under `strata up`: waits until it printed its next steps (the agent is registered and
    /// every part runs by then).
    fn wait_up(&self) -> anyhow::Result<()> {
        eventually(Duration::from_secs(30), || {
            self.output().contains("Ctrl-C stops strata").then_some(())
        })
        .with_context(|| format!("strata up printed no next steps:\n{}", self.log()))
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))?;
        // This run's output only: `wait_up` looks for what it printed last.
        let out = std::fs::File::create(self.dir.path().join("server.out"))?;
        let child = Command::new(strata_bin())
            .arg(&self.args[0])
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .args(&self.args[1..])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(out)
            .stderr(log)
            .spawn()
            .context("spawning strata server")?;
        self.child = Some(child);
        self.wait_ready()?;
        if self.console_port.is_some() {
            self.wait_up()?;
        }
        Ok(())
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir().join("kubeconfig")
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("admin.token"))
            .expect("admin token")
            .trim()
            .to_string()
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "strata {} exited with {status}:\n{}",
                    self.args[0],
                    self.log()
                );
            }
            if self.kubeconfig().exists()
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "strata {} did not become ready in 30 s:\n{}",
            self.args[0],
            self.log()
        )
    }

    /// What the server printed on stdout so far (for people: URLs and next steps).
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.out")).unwrap_or_default()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Stops the server with SIGKILL (no chance to flush anything).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the server with SIGTERM and waits for it.
    pub fn stop(&mut self) {
        self.stop_with("TERM");
    }

    /// Stops the server with `signal` (e.g. `INT`, as Ctrl-C sends) and waits for it; returns
    /// how it exited (None if it had to be killed after 10 s).
    pub fn stop_with(&mut self, signal: &str) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Starts the server again on the same data directory and port.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Starts the stopped server again on the same data directory, ports and arguments.
    pub fn start_again(&mut self) {
        self.spawn().expect("strata restarts");
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Runs kubectl against this server.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_stdin(args, None)
    }

    pub fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", self.kubeconfig())
            .env("KUBECACHEDIR", self.dir.path().join("kubecache"))
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl runs");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("piped stdin")
                .write_all(input.as_bytes())
                .expect("writing kubectl's stdin");
        }
        child.wait_with_output().expect("kubectl finishes")
    }

    /// Runs kubectl and returns its stdout, failing the test (with the server's log) if it fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        self.kubectl_ok_stdin(args, None)
    }

    pub fn kubectl_ok_stdin(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl_stdin(args, stdin);
        if !out.status.success() {
            panic!(
                "kubectl {} failed ({}):\nstdout: {}\nstderr: {}\n--- server log ---\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                tail(&self.log(), 40)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn kubectl_err(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {} should have failed but printed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- strata server log ({}) ---\n{}",
                self.url(),
                tail(&self.log(), 80)
            );
        }
        self.kill();
        if self.args[0] == "up" {
            // The local agent's tasks outlive strata up by design (the next one adopts them).
            agent::remove_tasks(&self.data_dir().join("agent"));
        }
    }
}

/// The repository root (for manifests/).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Polls `f` until it returns Some or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A kube-rs client for a server's admin kubeconfig.
pub async fn kube_client(server: &Server) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(server.kubeconfig()).expect("kubeconfig parses");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kubeconfig is usable");
    kube::Client::try_from(config).expect("client")
}
