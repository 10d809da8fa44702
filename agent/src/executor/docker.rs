//! The docker executor: runs a task's container through the Docker engine (bollard).
//!
//! Why it exists: Marathon's users ship their services as images. The container is labelled with
//! its task (so the agent finds it again after a restart and removes what no Task owns), limited
//! to the task's cpus and mem, publishes its port mappings on the task's host ports, gets the
//! sandbox mounted at `/mnt/mesos/sandbox` as Mesos does, and has its stdout and stderr copied
//! into the sandbox files, where the sandbox service and `strata logs` read them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, StopContainerOptions,
};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use strata_api::task::TaskSpec;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use super::{Executor, Handle, Launch, LaunchError, Outcome, Record};
use crate::cgroups::{CpuLimit, cpu_shares};

/// Label holding the uid of the Task a container runs.
pub const TASK_UID_LABEL: &str = "strata.io/task-uid";
/// Label holding the `namespace/name` of the Task a container runs.
pub const TASK_LABEL: &str = "strata.io/task";
/// Label holding the instance id of the agent that started a container (see
/// [`crate::workdir::WorkDir::instance`]): an agent cleans up only its own containers, even
/// where other agents of the same name (another cluster's) share the Docker engine.
pub const INSTANCE_LABEL: &str = "strata.io/agent-instance";
/// Where the sandbox is mounted in the container (Mesos' MESOS_SANDBOX).
pub const SANDBOX_MOUNT: &str = "/mnt/mesos/sandbox";

pub struct DockerExecutor {
    pub docker: Docker,
    /// The agent's name, set as the strata.io/agent label of its containers.
    pub agent: String,
    /// The agent's instance id, set as the [`INSTANCE_LABEL`] of its containers.
    pub instance: String,
    pub cpu_limit: CpuLimit,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerData {
    container_id: String,
}

impl DockerExecutor {
    /// Connects to the engine at `host` (a unix socket path or URL), or the local default.
    pub async fn connect(
        host: Option<&str>,
        agent: &str,
        instance: &str,
        cpu_limit: CpuLimit,
    ) -> anyhow::Result<DockerExecutor> {
        let docker = match host {
            Some(host) => Docker::connect_with_unix(host, 120, bollard::API_DEFAULT_VERSION)?,
            None => Docker::connect_with_local_defaults()?,
        };
        // The engine may be older than bollard's default API version: speak the engine's.
        let docker = docker.negotiate_version().await?;
        docker.ping().await?;
        Ok(DockerExecutor {
            docker,
            agent: agent.to_string(),
            instance: instance.to_string(),
            cpu_limit,
        })
    }

    async fn ensure_image(&self, image: &str, force_pull: bool) -> Result<(), LaunchError> {
        if !force_pull && self.docker.inspect_image(image).await.is_ok() {
            return Ok(());
        }
        let mut pull = self.docker.create_image(
            Some(CreateImageOptions {
                from_image: Some(image.to_string()),
                ..Default::default()
            }),
            None,
            None,
        );
        while let Some(step) = pull.next().await {
            if let Err(e) = step {
                return Err(LaunchError::failed(
                    "ContainerLaunchFailed",
                    format!("image {image:?} is not on this agent and could not be pulled: {e}"),
                ));
            }
        }
        Ok(())
    }

    fn container_config(&self, launch: &Launch) -> ContainerCreateBody {
        let spec = &launch.spec;
        let container = spec
            .container
            .as_ref()
            .expect("docker tasks have a container");
        let mut env = launch.env.clone();
        env.extend(container.env.clone());
        env.insert("MESOS_SANDBOX".into(), SANDBOX_MOUNT.into());
        let mut exposed = Vec::new();
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for (i, mapping) in container.port_mappings.iter().enumerate() {
            let host_port = match mapping.host_port {
                0 => spec.ports.get(i).copied().unwrap_or(0),
                port => port,
            };
            let key = format!(
                "{}/{}",
                mapping.container_port,
                format!("{:?}", mapping.protocol).to_lowercase()
            );
            exposed.push(key.clone());
            bindings.insert(
                key,
                Some(vec![PortBinding {
                    host_ip: None,
                    host_port: Some(host_port.to_string()),
                }]),
            );
        }
        let mut binds = vec![format!("{}:{SANDBOX_MOUNT}", launch.sandbox.display())];
        for volume in &container.volumes {
            if let Some(host) = &volume.host_path {
                let mode = format!("{:?}", volume.mode).to_lowercase();
                binds.push(format!("{host}:{}:{mode}", volume.container_path));
            }
        }
        // A command runs with the shell, replacing the image's entrypoint (Mesos' shell mode);
        // otherwise the image's entrypoint gets the args.
        let (entrypoint, cmd) = match &spec.command {
            Some(command) => (
                Some(vec!["/bin/sh".to_string(), "-c".to_string()]),
                Some(vec![command.clone()]),
            ),
            None if container.args.is_empty() => (None, None),
            None => (None, Some(container.args.clone())),
        };
        let labels = HashMap::from([
            (strata_api::labels::AGENT.to_string(), self.agent.clone()),
            (INSTANCE_LABEL.to_string(), self.instance.clone()),
            (TASK_UID_LABEL.to_string(), launch.uid.clone()),
            (
                TASK_LABEL.to_string(),
                format!("{}/{}", launch.namespace, launch.name),
            ),
        ]);
        let memory = (spec.resources.mem > 0).then(|| (spec.resources.mem * 1024 * 1024) as i64);
        let nano_cpus = (self.cpu_limit == CpuLimit::Quota && spec.resources.cpus.millis() > 0)
            .then(|| spec.resources.cpus.millis() as i64 * 1_000_000);
        let cpu_shares = Some(cpu_shares(&spec.resources) as i64);
        ContainerCreateBody {
            image: Some(container.image.clone()),
            entrypoint,
            cmd,
            env: Some(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            working_dir: None,
            host_config: Some(HostConfig {
                memory,
                // No swap beyond the memory limit, so the limit is the limit.
                memory_swap: memory,
                nano_cpus,
                cpu_shares,
                port_bindings: (!bindings.is_empty()).then_some(bindings),
                binds: Some(binds),
                privileged: Some(container.privileged),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

impl Executor for DockerExecutor {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn runs(&self, spec: &TaskSpec) -> bool {
        spec.container.is_some()
    }

    fn launch<'a>(
        &'a self,
        launch: &'a Launch,
    ) -> BoxFuture<'a, Result<Box<dyn Handle>, LaunchError>> {
        async move {
            let container = launch
                .spec
                .container
                .as_ref()
                .expect("docker tasks have a container");
            if let Some(parameter) = container.parameters.first() {
                return Err(LaunchError::invalid(
                    "TaskInvalid",
                    format!(
                        "docker parameter {:?} is not supported by this agent",
                        parameter.key
                    ),
                ));
            }
            self.ensure_image(&container.image, container.force_pull)
                .await?;
            let failed = |what: &str, e: bollard::errors::Error| {
                LaunchError::failed(
                    "ContainerLaunchFailed",
                    format!("{what} the container: {e}"),
                )
            };
            let name = format!(
                "strata-{}-{}-{}",
                launch.namespace,
                launch.name,
                &launch.uid[..8.min(launch.uid.len())]
            );
            let created = self
                .docker
                .create_container(
                    Some(CreateContainerOptions {
                        name: Some(name),
                        ..Default::default()
                    }),
                    self.container_config(launch),
                )
                .await
                .map_err(|e| failed("creating", e))?;
            if let Err(e) = self.docker.start_container(&created.id, None).await {
                remove(&self.docker, &created.id).await;
                return Err(failed("starting", e));
            }
            // Logs are followed from here: a container that is not started yet has none to
            // follow, and the stream would end at once.
            let handle =
                DockerHandle::new(self.docker.clone(), created.id, launch.sandbox.clone(), 0);
            Ok(Box::new(handle) as Box<dyn Handle>)
        }
        .boxed()
    }

    fn adopt<'a>(&'a self, record: &'a Record) -> BoxFuture<'a, Box<dyn Handle>> {
        async move {
            let id = serde_json::from_value::<DockerData>(record.data.clone())
                .map(|d| d.container_id)
                .unwrap_or_default();
            // Output written while the agent was away is fetched again from now on; what is
            // already in the sandbox files stays.
            let since = jiff::Timestamp::now().as_second() as i32;
            Box::new(DockerHandle::new(
                self.docker.clone(),
                id,
                record.sandbox.clone(),
                since,
            )) as Box<dyn Handle>
        }
        .boxed()
    }

    fn remove_orphans<'a>(
        &'a self,
        recorded: &'a HashSet<String>,
        started: jiff::Timestamp,
    ) -> BoxFuture<'a, ()> {
        async move {
            let filters = HashMap::from([(
                "label".to_string(),
                vec![format!("{INSTANCE_LABEL}={}", self.instance)],
            )]);
            let options = ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            };
            let list = match self.docker.list_containers(Some(options)).await {
                Ok(list) => list,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list this agent's containers");
                    return;
                }
            };
            for container in list {
                let uid = container.labels.as_ref().and_then(|l| l.get(TASK_UID_LABEL));
                let older = container.created.is_some_and(|c| c < started.as_second());
                let (Some(id), Some(uid)) = (&container.id, uid) else {
                    continue;
                };
                if older && !recorded.contains(uid) {
                    tracing::info!(container = %id, "removing a container that no task record owns");
                    remove(&self.docker, id).await;
                }
            }
        }
        .boxed()
    }
}

struct DockerHandle {
    docker: Docker,
    id: String,
    /// Set once the container ended and its output was copied.
    outcome: watch::Receiver<Option<Outcome>>,
}

impl DockerHandle {
    fn new(docker: Docker, id: String, sandbox: PathBuf, since: i32) -> DockerHandle {
        let (tx, outcome) = watch::channel(None);
        let (docker2, id2) = (docker.clone(), id.clone());
        tokio::spawn(async move {
            copy_logs(&docker2, &id2, &sandbox, since).await;
            let _ = tx.send(Some(wait_for_exit(&docker2, &id2).await));
        });
        DockerHandle {
            docker,
            id,
            outcome,
        }
    }
}

/// Follows the container's output into the sandbox's stdout and stderr files until it exits.
async fn copy_logs(docker: &Docker, id: &str, sandbox: &Path, since: i32) {
    let open = |name: &str| {
        let path = sandbox.join(name);
        async move {
            tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .await
        }
    };
    let (Ok(mut stdout), Ok(mut stderr)) = (open("stdout").await, open("stderr").await) else {
        tracing::warn!(
            container = id,
            "cannot open the sandbox's stdout/stderr files"
        );
        return;
    };
    let mut logs = docker.logs(
        id,
        Some(LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            since,
            tail: "all".to_string(),
            ..Default::default()
        }),
    );
    while let Some(Ok(chunk)) = logs.next().await {
        let written = match chunk {
            LogOutput::StdErr { message } => stderr.write_all(&message).await,
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                stdout.write_all(&message).await
            }
            LogOutput::StdIn { .. } => Ok(()),
        };
        if let Err(e) = written {
            tracing::warn!(container = id, error = %e, "writing the container's output to its sandbox");
            return;
        }
    }
}

async fn wait_for_exit(docker: &Docker, id: &str) -> Outcome {
    let mut wait = docker.wait_container(id, None);
    let waited = wait.next().await;
    let inspected = docker.inspect_container(id, None).await;
    let state = match inspected {
        Ok(info) => info.state.unwrap_or_default(),
        Err(e) => {
            return Outcome {
                message: Some(format!("the container is gone: {e}")),
                ..Outcome::default()
            };
        }
    };
    let exit_code = state.exit_code.map(|c| c as i32).or(match waited {
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
            Some(code as i32)
        }
        _ => None,
    });
    let limitation = state
        .oom_killed
        .unwrap_or(false)
        .then(|| "Memory limit exceeded: the container was killed by the kernel".to_string());
    // Docker reports a signal death as 128 + signal.
    let (exit_code, signal) = match exit_code {
        Some(code) if code > 128 && code <= 128 + 64 => (None, Some(code - 128)),
        other => (other, None),
    };
    Outcome {
        exit_code,
        signal,
        limitation,
        message: state.error.filter(|e| !e.is_empty()),
    }
}

impl Handle for DockerHandle {
    fn record_data(&self) -> serde_json::Value {
        serde_json::to_value(DockerData {
            container_id: self.id.clone(),
        })
        .expect("docker data serializes")
    }

    fn wait(&self) -> BoxFuture<'_, Outcome> {
        async move {
            let mut rx = self.outcome.clone();
            let done = rx.wait_for(Option::is_some).await;
            done.map(|o| o.clone().unwrap_or_default())
                .unwrap_or_default()
        }
        .boxed()
    }

    fn kill(&self, grace: Duration) {
        let (docker, id) = (self.docker.clone(), self.id.clone());
        tokio::spawn(async move {
            let stop = StopContainerOptions {
                t: Some(grace.as_secs().max(1) as i32),
                ..Default::default()
            };
            if let Err(e) = docker.stop_container(&id, Some(stop)).await {
                tracing::warn!(container = %id, error = %e, "stopping a container");
            }
        });
    }

    fn exec<'a>(&'a self, command: &'a str) -> BoxFuture<'a, anyhow::Result<i32>> {
        async move {
            let exec = self
                .docker
                .create_exec(
                    &self.id,
                    CreateExecOptions {
                        cmd: Some(vec!["/bin/sh", "-c", command]),
                        attach_stdout: Some(true),
                        attach_stderr: Some(true),
                        ..Default::default()
                    },
                )
                .await?;
            if let StartExecResults::Attached { mut output, .. } =
                self.docker.start_exec(&exec.id, None).await?
            {
                while output.next().await.is_some() {}
            }
            let inspected = self.docker.inspect_exec(&exec.id).await?;
            Ok(inspected.exit_code.unwrap_or(-1) as i32)
        }
        .boxed()
    }

    fn cleanup(&self) -> BoxFuture<'_, ()> {
        remove(&self.docker, &self.id).boxed()
    }
}

/// Removes a container, stopping it first if it still runs.
async fn remove(docker: &Docker, id: &str) {
    let options = RemoveContainerOptions {
        force: true,
        ..Default::default()
    };
    if let Err(e) = docker.remove_container(id, Some(options)).await {
        tracing::warn!(container = %id, error = %e, "removing a container");
    }
}
