//! The Task that runs one instance of an app: the app's command or container, resources,
//! ports, health checks and environment, placed on an offer, owned by the App.
//!
//! Why it exists: everything an instance is comes from its App at one version; this is the one
//! place that translates Marathon's app fields into a Task, so the agent needs to know nothing
//! of Marathon. The App owns its Tasks (ownerReferences), so deleting the App kills them — on
//! the embedded store and on a real cluster alike.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ObjectMeta;
use strata_api::app::AppSpec;
use strata_api::labels;
use strata_api::task::{AGENT_FINALIZER, Task, TaskContainer, TaskReadinessCheck, TaskSpec};

use super::placement::Fit;

/// The App a task is launched for.
pub struct Owner<'a> {
    pub name: &'a str,
    pub uid: &'a str,
    /// Its Marathon path id.
    pub id: &'a str,
}

/// Where the task goes: the framework, the offer and its agent.
pub struct Target<'a> {
    pub framework: &'a str,
    pub offer: &'a str,
    pub agent: &'a str,
}

/// The Task named `name` running `spec` at `version` on `target` with what `fit` took.
pub fn task(
    owner: &Owner<'_>,
    spec: &AppSpec,
    version: &str,
    target: &Target<'_>,
    fit: Fit,
    name: String,
) -> Task {
    let task_labels = BTreeMap::from([
        (labels::APP.to_string(), owner.name.to_string()),
        (labels::APP_VERSION.to_string(), version.to_string()),
        (labels::FRAMEWORK.to_string(), target.framework.to_string()),
        (labels::AGENT.to_string(), target.agent.to_string()),
    ]);
    let container = spec
        .container
        .as_ref()
        .and_then(|c| c.docker.as_ref().map(|d| (c, d)))
        .map(|(c, docker)| TaskContainer {
            image: docker.image.clone(),
            args: spec.args.clone(),
            env: BTreeMap::new(),
            port_mappings: c.port_mappings.clone(),
            volumes: c.volumes.clone(),
            force_pull: docker.force_pull_image,
            privileged: docker.privileged,
            parameters: docker.parameters.clone(),
        });
    let command = match (&spec.cmd, &container) {
        (Some(cmd), _) => Some(cmd.clone()),
        (None, None) if !spec.args.is_empty() => Some(shell_words(&spec.args)),
        _ => None,
    };
    Task {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(task_labels),
            owner_references: Some(vec![OwnerReference {
                api_version: strata_api::API_VERSION.to_string(),
                kind: "App".to_string(),
                name: owner.name.to_string(),
                uid: owner.uid.to_string(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            finalizers: Some(vec![AGENT_FINALIZER.to_string()]),
            ..ObjectMeta::default()
        },
        spec: TaskSpec {
            framework: target.framework.to_string(),
            agent: target.agent.to_string(),
            offer: Some(target.offer.to_string()),
            resources: fit.resources.clone(),
            ports: fit.ports.clone(),
            command,
            container,
            env: env(owner, spec, version, &name),
            health_checks: spec.health_checks.clone(),
            readiness_checks: readiness_checks(spec, &fit.ports),
            kill_grace_period_seconds: spec.task_kill_grace_period_seconds,
            user: spec.user.clone(),
        },
        status: None,
    }
}

/// Marathon's task environment (MARATHON_APP_ID, MARATHON_APP_VERSION, MESOS_TASK_ID, the
/// app's resources and labels), then the app's own env, which wins.
fn env(owner: &Owner<'_>, spec: &AppSpec, version: &str, task: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([
        ("MARATHON_APP_ID".to_string(), owner.id.to_string()),
        ("MARATHON_APP_VERSION".to_string(), version.to_string()),
        ("MESOS_TASK_ID".to_string(), task.to_string()),
        (
            "MARATHON_APP_RESOURCE_CPUS".to_string(),
            spec.cpus.to_string(),
        ),
        (
            "MARATHON_APP_RESOURCE_MEM".to_string(),
            spec.mem.to_string(),
        ),
        (
            "MARATHON_APP_RESOURCE_DISK".to_string(),
            spec.disk.to_string(),
        ),
        (
            "MARATHON_APP_RESOURCE_GPUS".to_string(),
            spec.gpus.to_string(),
        ),
    ]);
    if !spec.labels.is_empty() {
        let keys: Vec<&str> = spec.labels.keys().map(String::as_str).collect();
        env.insert("MARATHON_APP_LABELS".to_string(), keys.join(" "));
        for (k, v) in &spec.labels {
            let key: String = k
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            env.insert(format!("MARATHON_APP_LABEL_{key}"), v.clone());
        }
    }
    env.extend(spec.env.clone());
    env
}

/// The app's readiness checks with their ports resolved: `portName` names a port mapping (or
/// port definition), whose host port is the one at the same index in `ports`.
fn readiness_checks(spec: &AppSpec, ports: &[u16]) -> Vec<TaskReadinessCheck> {
    let names: Vec<Option<&str>> = match &spec.container {
        Some(c) if !c.port_mappings.is_empty() => {
            c.port_mappings.iter().map(|m| m.name.as_deref()).collect()
        }
        _ => spec
            .port_definitions
            .iter()
            .map(|p| p.name.as_deref())
            .collect(),
    };
    spec.readiness_checks
        .iter()
        .filter_map(|rc| {
            let index = names
                .iter()
                .position(|n| *n == Some(rc.port_name.as_str()))?;
            Some(TaskReadinessCheck {
                protocol: rc.protocol,
                path: rc.path.clone(),
                port: *ports.get(index)?,
                interval_seconds: rc.interval_seconds,
                timeout_seconds: rc.timeout_seconds,
                http_status_codes_for_ready: rc.http_status_codes_for_ready.clone(),
            })
        })
        .collect()
}

/// `args` as one /bin/sh command line that runs them without interpretation.
fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_api::app::{AppContainer, DockerContainer, PortDefinition, ReadinessCheck};

    fn launch(spec: &AppSpec) -> Task {
        let fit = Fit {
            resources: "cpus:0.5;mem:64;ports:[31000-31000]".parse().unwrap(),
            ports: vec![31000],
        };
        let owner = Owner {
            name: "web",
            uid: "u-1",
            id: "/web",
        };
        let target = Target {
            framework: "marathon",
            offer: "marathon-node-1-7",
            agent: "node-1",
        };
        task(&owner, spec, "abc", &target, fit, "web-x1".into())
    }

    #[test]
    fn a_process_instance_carries_marathons_environment_and_its_owner() {
        let spec = AppSpec {
            cmd: Some("python3 -m http.server $PORT0".into()),
            env: [("MARATHON_APP_ID".to_string(), "mine".to_string())].into(),
            labels: [("team.name".to_string(), "web".to_string())].into(),
            ..AppSpec::default()
        };
        let t = launch(&spec);
        assert_eq!(
            t.spec.command.as_deref(),
            Some("python3 -m http.server $PORT0")
        );
        assert_eq!(t.spec.ports, [31000]);
        assert_eq!(t.spec.env["MARATHON_APP_ID"], "mine", "the app's env wins");
        assert_eq!(t.spec.env["MARATHON_APP_VERSION"], "abc");
        assert_eq!(t.spec.env["MARATHON_APP_LABEL_TEAM_NAME"], "web");
        let labels = t.metadata.labels.unwrap();
        assert_eq!(labels["strata.io/app"], "web");
        assert_eq!(labels["strata.io/app-version"], "abc");
        assert_eq!(labels["strata.io/agent"], "node-1");
        let owner = &t.metadata.owner_references.unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.controller), ("App", Some(true)));
        assert!(t.spec.validate().is_ok());
    }

    #[test]
    fn readiness_checks_probe_the_host_port_of_their_named_port() {
        let spec = AppSpec {
            cmd: Some("serve".into()),
            port_definitions: vec![
                PortDefinition {
                    name: Some("admin".into()),
                    ..PortDefinition::default()
                },
                PortDefinition {
                    name: Some("http-api".into()),
                    ..PortDefinition::default()
                },
            ],
            readiness_checks: vec![ReadinessCheck {
                path: "/ready".into(),
                ..ReadinessCheck::default()
            }],
            ..AppSpec::default()
        };
        let checks = readiness_checks(&spec, &[31000, 31001]);
        assert_eq!(checks.len(), 1);
        assert_eq!((checks[0].port, checks[0].path.as_str()), (31001, "/ready"));
        assert_eq!(checks[0].http_status_codes_for_ready, [200]);
    }

    #[test]
    fn args_run_without_a_shell_and_containers_get_the_image() {
        let spec = AppSpec {
            args: vec!["echo".into(), "it's $HOME".into()],
            ..AppSpec::default()
        };
        assert_eq!(
            launch(&spec).spec.command.as_deref(),
            Some(r#"'echo' 'it'\''s $HOME'"#)
        );
        let docker = AppSpec {
            args: vec!["httpd".into(), "-f".into()],
            container: Some(AppContainer {
                docker: Some(DockerContainer {
                    image: "strata-test/busybox:1".into(),
                    ..DockerContainer::default()
                }),
                ..AppContainer::default()
            }),
            ..AppSpec::default()
        };
        let t = launch(&docker);
        assert_eq!(t.spec.command, None);
        let c = t.spec.container.unwrap();
        assert_eq!(
            (c.image.as_str(), c.args.len()),
            ("strata-test/busybox:1", 2)
        );
    }
}
