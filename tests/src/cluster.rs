//! A strata cluster for the master's end-to-end tests: a real server, `strata controllers`
//! (which can be restarted mid-test), and simulated agents in child processes.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::agent::http_get;
use crate::framework::{controllers, simulated_agents};
use crate::{Process, Server, eventually};

const WAIT: Duration = Duration::from_secs(60);

pub struct Cluster {
    pub server: Server,
    controllers: Process,
    controller_flags: Vec<String>,
    /// Each `add_agents` call's process of simulated agents, in order.
    pub agents: Vec<Process>,
    registered: usize,
    work: tempfile::TempDir,
}

impl Cluster {
    /// A server, the controllers (with `flags`) and `n` simulated agents of `resources` each.
    pub fn start(n: usize, resources: &str, flags: &[&str]) -> Cluster {
        let mut cluster = Cluster::without_agents(flags);
        cluster.add_agents("sim", n, resources);
        cluster
    }

    /// A server and the controllers; agents come later, once the frameworks are registered,
    /// so that no framework is offered the whole cluster before the others exist.
    pub fn without_agents(flags: &[&str]) -> Cluster {
        let server = Server::start();
        let work = tempfile::tempdir().unwrap();
        let mut controller_flags = vec!["--allocation-interval".to_string(), "200ms".into()];
        controller_flags.extend(flags.iter().map(|f| f.to_string()));
        let controllers = start_controllers(&server, &controller_flags, work.path());
        Cluster {
            server,
            controllers,
            controller_flags,
            agents: Vec::new(),
            registered: 0,
            work,
        }
    }

    /// Starts `n` simulated agents `<name>-0..` of `resources` each (heartbeating every
    /// second) in one process, and waits until they registered.
    pub fn add_agents(&mut self, name: &str, n: usize, resources: &str) {
        let work = self.work.path().join(name);
        let flags = [
            "--resources",
            resources,
            "--simulated-start",
            "10ms",
            "--simulated-run",
            "1h",
            "--heartbeat-interval",
            "1s",
        ];
        self.agents
            .push(simulated_agents(&self.server, name, n, &flags, &work));
        self.registered += n;
        let registered = eventually(WAIT, || {
            let names = self.server.kubectl_ok(&["get", "agents", "-o", "name"]);
            (names.lines().count() == self.registered).then_some(())
        });
        assert!(registered.is_some(), "{n} simulated agents register");
    }

    /// Waits until the allocator sees each of `frameworks` (in `default`) active, so that the
    /// agents added next are shared among them all.
    pub fn wait_active(&self, frameworks: &[&str]) {
        for name in frameworks {
            let active = eventually(WAIT, || {
                let fw = self.json(&["get", "framework", name]);
                (fw["status"]["active"] == true).then_some(())
            });
            assert!(active.is_some(), "framework {name} active\n{}", self.log());
        }
    }

    /// Kills the controllers and starts them again (with the same flags).
    pub fn restart_controllers(&mut self) {
        self.controllers.kill();
        self.controllers =
            start_controllers(&self.server, &self.controller_flags, self.work.path());
    }

    /// The controllers' log (every run's).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.work.path().join("controllers.log")).unwrap_or_default()
    }

    /// The controllers' metrics in Prometheus' text format, from the address the latest run
    /// logged.
    pub fn metrics(&self) -> String {
        let logged = eventually(WAIT, || {
            let log = self.log();
            let line = log
                .lines()
                .rev()
                .find(|l| l.contains("serving metrics at"))?;
            let port = line.split("http://127.0.0.1:").nth(1)?.split('/').next()?;
            port.parse::<u16>().ok()
        });
        let port = logged.unwrap_or_else(|| panic!("no metrics address logged\n{}", self.log()));
        let (status, body) = http_get(port, "/metrics", None);
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `kubectl <args> -o json`, parsed.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.server.kubectl_ok(&all)).unwrap()
    }
}

fn start_controllers(server: &Server, flags: &[String], work: &Path) -> Process {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    controllers(server, &flags, &work.join("controllers.log"))
}
