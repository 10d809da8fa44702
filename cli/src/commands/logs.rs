//! `strata logs TASK|APP`: a task's stdout (or stderr) from its agent's sandbox service; given
//! an App's name, the output of its newest running task (saying which one it picked).

use std::cmp::Reverse;

use anyhow::bail;
use kube::Api;
use kube::api::ListParams;
use strata_agent::sandbox_client::SandboxFile;
use strata_api::task::{Task, TaskState};
use strata_api::{App, labels};

use super::store_client::{Connection, StoreArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The Task's name, or an App's: then its newest running task.
    task: String,
    /// The Task's namespace.
    #[arg(short, long, default_value = "default")]
    namespace: String,
    /// Print stderr instead of stdout.
    #[arg(long)]
    stderr: bool,
    /// Keep printing as the file grows, until the task ends.
    #[arg(short, long)]
    follow: bool,
    /// Print only the last N lines (with -f, then follow from there).
    #[arg(long, value_name = "N")]
    tail: Option<usize>,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(logs(args))
}

async fn logs(args: Args) -> anyhow::Result<()> {
    let connection = args.store.connect().await?;
    let ns = &args.namespace;
    let api: Api<Task> = Api::namespaced(connection.client.clone(), ns);
    let task = api
        .get_opt(&args.task)
        .await
        .map_err(|e| connection.explain(e, &format!("read task {ns}/{}", args.task)))?;
    let task = match task {
        Some(task) => task,
        None => app_task(&connection, &api, ns, &args.task).await?,
    };
    let name = task.metadata.name.clone().unwrap_or_default();
    let Some(sandbox) = task.status.and_then(|s| s.sandbox) else {
        bail!(
            "task {ns}/{name} has no sandbox yet: its agent {:?} has not started it",
            task.spec.agent
        );
    };
    let file = SandboxFile {
        base: sandbox.url,
        namespace: ns.clone(),
        task: name,
        path: if args.stderr { "stderr" } else { "stdout" }.to_string(),
        token: args.store.token()?,
    };
    let offset = match args.tail {
        Some(lines) => file.tail_offset(lines).await?,
        None => 0,
    };
    let mut out = std::io::stdout().lock();
    if args.follow {
        file.follow_from(offset, &mut out).await
    } else {
        file.read_from(offset, &mut out).await
    }
}

/// The task of App `app` whose output to show, when no Task is named `app`; says on stderr
/// which one it picked.
async fn app_task(
    connection: &Connection,
    tasks: &Api<Task>,
    ns: &str,
    app: &str,
) -> anyhow::Result<Task> {
    let list = tasks
        .list(&ListParams::default().labels(&labels::app_selector(app)))
        .await
        .map_err(|e| connection.explain(e, &format!("list the tasks of app {ns}/{app}")))?;
    let others = list.items.len().saturating_sub(1);
    if let Some(task) = pick(list.items) {
        let status = task.status.as_ref();
        let state = status
            .and_then(|s| s.state)
            .map_or_else(|| "Staging".to_string(), |s| format!("{s:?}"));
        eprintln!(
            "app {app}: task {} ({state} on agent {}{})",
            task.metadata.name.as_deref().unwrap_or(""),
            task.spec.agent,
            match others {
                0 => String::new(),
                n => format!(
                    "; {n} other task(s): kubectl get tasks -n {ns} -l {}",
                    labels::app_selector(app)
                ),
            }
        );
        return Ok(task);
    }
    let apps: Api<App> = Api::namespaced(connection.client.clone(), ns);
    let exists = apps
        .get_opt(app)
        .await
        .map_err(|e| connection.explain(e, &format!("read app {ns}/{app}")))?
        .is_some();
    if exists {
        bail!("app {ns}/{app} has no tasks yet (strata apps -n {ns} {app} shows why)");
    }
    bail!(
        "no task or app named {app} in namespace {ns} (kubectl get tasks -n {ns} and strata apps \
         -n {ns} list them)"
    )
}

/// The task to show: the newest running one, else the newest that has a sandbox, else the
/// newest.
fn pick(mut tasks: Vec<Task>) -> Option<Task> {
    let rank = |t: &Task| {
        let status = t.status.as_ref();
        let running = status.and_then(|s| s.state) == Some(TaskState::Running)
            && t.metadata.deletion_timestamp.is_none();
        let sandbox = status.is_some_and(|s| s.sandbox.is_some());
        let started = status
            .and_then(|s| s.started_at.as_ref())
            .or(t.metadata.creation_timestamp.as_ref())
            .map(|t| t.0);
        (running, sandbox, started)
    };
    tasks.sort_by_key(|t| Reverse(rank(t)));
    tasks.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, state: &str, started: &str) -> Task {
        serde_saphyr::from_str(&format!(
            "apiVersion: strata.io/v1alpha1\nkind: Task\nmetadata: {{name: {name}, \
             creationTimestamp: '2026-01-01T00:00:00Z'}}\nspec: {{framework: marathon, agent: a1, \
             command: sleep 1}}\nstatus:\n  state: {state}\n  startedAt: '{started}'\n  \
             sandbox: {{url: 'http://a1', path: /s}}\n"
        ))
        .unwrap()
    }

    #[test]
    fn the_newest_running_task_is_shown() {
        let tasks = vec![
            task("old", "Running", "2026-01-01T00:01:00Z"),
            task("failed", "Failed", "2026-01-01T00:09:00Z"),
            task("new", "Running", "2026-01-01T00:05:00Z"),
        ];
        assert_eq!(pick(tasks).unwrap().metadata.name.as_deref(), Some("new"));
        let ended = vec![
            task("a", "Failed", "2026-01-01T00:01:00Z"),
            task("b", "Finished", "2026-01-01T00:02:00Z"),
        ];
        assert_eq!(pick(ended).unwrap().metadata.name.as_deref(), Some("b"));
        assert!(pick(Vec::new()).is_none());
    }
}
