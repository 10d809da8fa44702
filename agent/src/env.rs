//! The environment a task starts with.
//!
//! Why it exists: a task learns who and where it is only from its environment, as under Mesos
//! and Marathon: its ids, the agent, its host ports (PORT, PORT0.., PORTS, and PORT_<NAME> for
//! named port mappings), HOST, MESOS_SANDBOX, then the task's own env (which wins). Nothing of
//! the agent's own environment leaks in except a default PATH.

use std::collections::BTreeMap;
use std::path::Path;

use strata_api::task::TaskSpec;

/// PATH for tasks, as Mesos' command executor sets it when the agent gives none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Who and where a task is.
pub struct TaskIdentity<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    pub agent: &'a str,
    pub hostname: &'a str,
}

/// The complete environment of a task.
pub fn task_env(
    id: &TaskIdentity<'_>,
    spec: &TaskSpec,
    sandbox: &Path,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([
        ("PATH".to_string(), DEFAULT_PATH.to_string()),
        ("HOST".to_string(), id.hostname.to_string()),
        ("STRATA_TASK_NAME".to_string(), id.name.to_string()),
        (
            "STRATA_TASK_NAMESPACE".to_string(),
            id.namespace.to_string(),
        ),
        ("STRATA_TASK_UID".to_string(), id.uid.to_string()),
        ("STRATA_AGENT".to_string(), id.agent.to_string()),
        ("STRATA_FRAMEWORK".to_string(), spec.framework.clone()),
        ("MESOS_TASK_ID".to_string(), id.name.to_string()),
        ("MESOS_AGENT_ID".to_string(), id.agent.to_string()),
        ("MESOS_FRAMEWORK_ID".to_string(), spec.framework.clone()),
        ("MESOS_SANDBOX".to_string(), sandbox.display().to_string()),
        ("MESOS_DIRECTORY".to_string(), sandbox.display().to_string()),
    ]);
    env.extend(spec.port_env());
    if let Some(container) = &spec.container {
        for (i, mapping) in container.port_mappings.iter().enumerate() {
            let (Some(name), Some(port)) = (&mapping.name, spec.ports.get(i)) else {
                continue;
            };
            env.insert(format!("PORT_{}", env_name(name)), port.to_string());
        }
    }
    env.extend(spec.env.clone());
    env
}

/// A port name as an environment variable suffix: upper case, anything else than letters and
/// digits as `_` (Marathon: `http-api` gives PORT_HTTP_API).
fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_api::container::PortMapping;
    use strata_api::task::TaskContainer;

    #[test]
    fn ids_ports_and_own_env() {
        let spec = TaskSpec {
            framework: "marathon".into(),
            agent: "a1".into(),
            ports: vec![31000, 31001],
            command: Some("true".into()),
            env: BTreeMap::from([
                ("HOST".into(), "overridden".into()),
                ("A".into(), "1".into()),
            ]),
            container: Some(TaskContainer {
                image: "web".into(),
                port_mappings: serde_json::from_value::<Vec<PortMapping>>(serde_json::json!([
                    {"containerPort": 80, "name": "http-api"},
                    {"containerPort": 81},
                ]))
                .unwrap(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = TaskIdentity {
            namespace: "ns",
            name: "web.1",
            uid: "u",
            agent: "a1",
            hostname: "h",
        };
        let env = task_env(&id, &spec, Path::new("/sb"));
        assert_eq!(env["PORT0"], "31000");
        assert_eq!(env["PORT1"], "31001");
        assert_eq!(env["PORTS"], "31000,31001");
        assert_eq!(env["PORT_HTTP_API"], "31000");
        assert_eq!(env["MESOS_TASK_ID"], "web.1");
        assert_eq!(env["MESOS_SANDBOX"], "/sb");
        assert_eq!(env["HOST"], "overridden", "the task's env wins");
        assert_eq!(env["A"], "1");
        assert!(env["PATH"].contains("/bin"));
    }
}
