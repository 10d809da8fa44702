//! `strata logs TASK`: a task's stdout (or stderr) from its agent's sandbox service.

use anyhow::{Context, bail};
use kube::Api;
use strata_agent::sandbox_client::SandboxFile;
use strata_api::task::Task;

use super::store_client::StoreArgs;

#[derive(clap::Args)]
pub struct Args {
    /// The Task's name.
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
    let config = args.store.config().await?;
    let client = kube::Client::try_from(config)?;
    let api: Api<Task> = Api::namespaced(client, &args.namespace);
    let task = api
        .get_opt(&args.task)
        .await
        .with_context(|| format!("reading task {}/{}", args.namespace, args.task))?;
    let Some(task) = task else {
        bail!("task {}/{} does not exist", args.namespace, args.task);
    };
    let Some(sandbox) = task.status.and_then(|s| s.sandbox) else {
        bail!(
            "task {}/{} has no sandbox yet: its agent {:?} has not started it",
            args.namespace,
            args.task,
            task.spec.agent
        );
    };
    let file = SandboxFile {
        base: sandbox.url,
        namespace: args.namespace.clone(),
        task: args.task.clone(),
        path: if args.stderr { "stderr" } else { "stdout" }.to_string(),
        token: args.store.token()?,
    };
    let mut out = std::io::stdout().lock();
    if args.follow {
        file.follow_to(&mut out).await
    } else {
        file.read_to(&mut out).await
    }
}
