//! What `strata execute` launches, worked out from its flags before anything is sent: the
//! task's resources, command or container, and environment; and what its end means as an exit
//! code.
//!
//! Why it exists: these are the decisions a user can get wrong (a bad `--env`, an empty
//! command with `--shell=false`), so they are made up front, pure, and tested without a
//! server. Never talks to the store.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use kube::api::ObjectMeta;
use strata_api::labels;
use strata_api::offer::Offer;
use strata_api::resources::Resources;
use strata_api::task::{AGENT_FINALIZER, Task, TaskContainer, TaskSpec, TaskState, TaskStatus};

/// The task `strata execute` runs, minus where (agent, offer) and under which names.
#[derive(Debug, PartialEq)]
pub struct Launch {
    /// What the task holds; an offer must fit it.
    pub resources: Resources,
    spec: TaskSpec,
}

/// What the flags say to run.
pub struct What<'a> {
    pub command: Option<&'a str>,
    pub shell: bool,
    pub docker_image: Option<&'a str>,
    pub env: &'a [String],
}

impl Launch {
    /// Works out the task from the flags, or says which flag is wrong.
    pub fn new(resources: Resources, what: &What<'_>) -> anyhow::Result<Launch> {
        let command = match (what.command, what.shell) {
            (None, _) if what.docker_image.is_none() => {
                bail!("give the task a --command (or a --docker-image to run its default command)")
            }
            (None, _) => None,
            (Some(command), true) => Some(Command::Shell(command.to_string())),
            (Some(command), false) => {
                let argv: Vec<String> = command.split_whitespace().map(String::from).collect();
                if argv.is_empty() {
                    bail!("--command is empty: with --shell=false it must name a program to run");
                }
                Some(Command::Argv(argv))
            }
        };
        let (command, container) = match (command, what.docker_image) {
            (command, None) => (command.map(Command::into_shell), None),
            (Some(Command::Argv(args)), Some(image)) => (None, Some(container(image, args))),
            (Some(Command::Shell(command)), Some(image)) => {
                (Some(command), Some(container(image, Vec::new())))
            }
            (None, Some(image)) => (None, Some(container(image, Vec::new()))),
        };
        let ports = match resources.ports.count() {
            0 => Vec::new(),
            n => resources
                .ports
                .pick(usize::try_from(n).context("--resources asks for too many ports")?)
                .context("--resources: unreadable ports")?,
        };
        let spec = TaskSpec {
            resources: resources.clone(),
            ports,
            command,
            container,
            env: parse_env(what.env)?,
            ..TaskSpec::default()
        };
        spec.validate()?;
        Ok(Launch { resources, spec })
    }

    /// The Task `name` of `framework`, launched against `offer`.
    pub fn task(&self, name: &str, framework: &str, offer: &Offer) -> Task {
        let agent = offer.spec.agent.clone();
        Task {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                labels: Some(
                    [
                        (labels::AGENT.to_string(), agent.clone()),
                        (labels::FRAMEWORK.to_string(), framework.to_string()),
                    ]
                    .into(),
                ),
                finalizers: Some(vec![AGENT_FINALIZER.to_string()]),
                ..ObjectMeta::default()
            },
            spec: TaskSpec {
                framework: framework.to_string(),
                agent,
                offer: offer.metadata.name.clone(),
                ..self.spec.clone()
            },
            status: None,
        }
    }
}

/// A command as given: for a shell, or as the words of a program and its arguments.
enum Command {
    Shell(String),
    Argv(Vec<String>),
}

impl Command {
    /// The command for `sh -c`, which is how the agent runs a process task: an argv is run
    /// with `exec` and every word quoted, so the shell expands nothing and the program
    /// replaces it.
    fn into_shell(self) -> String {
        match self {
            Command::Shell(command) => command,
            Command::Argv(argv) => {
                let words: Vec<String> = argv.iter().map(|w| shell_quote(w)).collect();
                format!("exec {}", words.join(" "))
            }
        }
    }
}

fn container(image: &str, args: Vec<String>) -> TaskContainer {
    TaskContainer {
        image: image.to_string(),
        args,
        ..TaskContainer::default()
    }
}

/// `word` in single quotes, for `sh`.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The task's environment from `--env` values: each a JSON object (`'{"K":"V"}'`, as
/// mesos-execute takes it) or one `K=V`; later values win.
fn parse_env(values: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for value in values {
        if value.trim_start().starts_with('{') {
            let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(value)
                .with_context(|| {
                    format!("--env {value:?} is not a JSON object like {{\"K\":\"V\"}}")
                })?;
            for (k, v) in object {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    other => bail!("--env: the value of {k} must be a string, not {other}"),
                };
                env.insert(k, v);
            }
        } else {
            let Some((k, v)) = value.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                bail!("--env {value:?} is neither K=V nor a JSON object like {{\"K\":\"V\"}}");
            };
            env.insert(k.to_string(), v.to_string());
        }
    }
    Ok(env)
}

/// The exit code for a task that ended with `status`, as a shell sees a command's: 0 when it
/// finished, its own exit code when it failed with one, 1 for every other end.
pub fn exit_code(status: &TaskStatus) -> i32 {
    match status.state {
        Some(TaskState::Finished) => 0,
        Some(TaskState::Failed) => status
            .exit_code
            .filter(|code| (1..=255).contains(code))
            .unwrap_or(1),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn what<'a>(command: Option<&'a str>, shell: bool, image: Option<&'a str>) -> What<'a> {
        What {
            command,
            shell,
            docker_image: image,
            env: &[],
        }
    }

    fn launch(what: &What<'_>) -> anyhow::Result<TaskSpec> {
        Launch::new("cpus:1;mem:128".parse().unwrap(), what).map(|l| l.spec)
    }

    #[test]
    fn a_shell_command_runs_as_given_in_a_process_or_a_container() {
        let spec = launch(&what(Some("echo $HOME; sleep 1"), true, None)).unwrap();
        assert_eq!(spec.command.as_deref(), Some("echo $HOME; sleep 1"));
        assert_eq!(spec.container, None);
        let spec = launch(&what(Some("echo hi"), true, Some("busybox"))).unwrap();
        assert_eq!(spec.command.as_deref(), Some("echo hi"));
        assert_eq!(spec.container.unwrap().image, "busybox");
    }

    #[test]
    fn without_a_shell_the_words_are_the_argv() {
        let spec = launch(&what(Some("echo it's $HOME"), false, None)).unwrap();
        assert_eq!(
            spec.command.as_deref(),
            Some(r"exec 'echo' 'it'\''s' '$HOME'")
        );
        let spec = launch(&what(Some("echo  hi"), false, Some("busybox"))).unwrap();
        assert_eq!(spec.command, None);
        assert_eq!(spec.container.unwrap().args, ["echo", "hi"]);
        let error = launch(&what(Some("  "), false, None)).unwrap_err();
        assert!(error.to_string().contains("--command is empty"), "{error}");
    }

    #[test]
    fn a_command_is_needed_unless_an_image_has_one() {
        let error = launch(&what(None, true, None)).unwrap_err();
        assert!(error.to_string().contains("--command"), "{error}");
        let spec = launch(&what(None, true, Some("busybox"))).unwrap();
        assert_eq!(spec.command, None);
        assert!(spec.container.unwrap().args.is_empty());
    }

    #[test]
    fn env_is_json_objects_or_k_equals_v() {
        let values = [
            r#"{"A":"1","B":2,"C":true}"#.to_string(),
            "D=x=y".to_string(),
            "A=again".to_string(),
        ];
        let env = parse_env(&values).unwrap();
        let expected: BTreeMap<String, String> =
            [("A", "again"), ("B", "2"), ("C", "true"), ("D", "x=y")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(env, expected);
        for bad in ["nothing", "=v", r#"{"A":[1]}"#, "{not json"] {
            assert!(parse_env(&[bad.to_string()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn requested_ports_are_the_tasks_ports() {
        let resources: Resources = "cpus:0.1;mem:32;ports:[31000-31001,31005-31005]"
            .parse()
            .unwrap();
        let spec = Launch::new(resources, &what(Some("true"), true, None))
            .unwrap()
            .spec;
        assert_eq!(spec.ports, [31000, 31001, 31005]);
    }

    #[test]
    fn the_task_is_bound_to_the_offers_agent() {
        let launch = Launch::new(
            "cpus:1;mem:128".parse().unwrap(),
            &what(Some("true"), true, None),
        )
        .unwrap();
        let offer: Offer = serde_json::from_value(serde_json::json!({
            "apiVersion": "strata.io/v1alpha1", "kind": "Offer",
            "metadata": {"name": "o-1"},
            "spec": {"framework": "fw", "agent": "a1", "resources": {"cpus": 2, "mem": 512}},
        }))
        .unwrap();
        let task = launch.task("t", "fw", &offer);
        let task_labels = task.metadata.labels.unwrap();
        assert_eq!(task_labels[labels::AGENT], "a1");
        assert_eq!(task_labels[labels::FRAMEWORK], "fw");
        assert_eq!(task.spec.agent, "a1");
        assert_eq!(task.spec.framework, "fw");
        assert_eq!(task.spec.offer.as_deref(), Some("o-1"));
        assert_eq!(task.spec.resources, launch.resources);
    }

    #[test]
    fn exit_codes_follow_the_tasks_end() {
        let ended = |state, exit_code| TaskStatus {
            state: Some(state),
            exit_code,
            ..TaskStatus::default()
        };
        assert_eq!(exit_code(&ended(TaskState::Finished, Some(0))), 0);
        assert_eq!(exit_code(&ended(TaskState::Failed, Some(3))), 3);
        assert_eq!(exit_code(&ended(TaskState::Failed, Some(-9))), 1);
        assert_eq!(exit_code(&ended(TaskState::Failed, None)), 1);
        assert_eq!(exit_code(&ended(TaskState::Killed, Some(143))), 1);
        assert_eq!(exit_code(&ended(TaskState::Dropped, None)), 1);
    }
}
