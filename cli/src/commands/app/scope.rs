//! Where a `strata app` verb acts: the namespace and connection flags every verb takes, turned
//! into the shared app actions of that namespace, and their errors turned into sentences.
//!
//! Why it exists: every verb must resolve `-n` and `--kubeconfig` alike (the kubeconfig's
//! namespace when `-n` is not given, as kubectl does) and say "does not exist" or "not allowed"
//! in the same words; one place keeps them alike. What the verbs do is
//! `strata_controllers::marathon::actions`, which the web console calls too.

use anyhow::{Context, anyhow};
use kube::Client;
use strata_api::labels;
use strata_controllers::marathon::actions::{ActionError, Actions};

use crate::commands::store_client::StoreArgs;

/// The field manager of every write `strata app` makes.
const MANAGER: &str = "strata-app";

/// The namespace and connection flags of every `strata app` verb.
#[derive(clap::Args)]
pub struct Target {
    /// Namespace of the app (or task); defaults to the kubeconfig context's namespace, or
    /// "default".
    #[arg(short, long)]
    namespace: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

impl Target {
    /// Connects to the API server these flags name.
    pub async fn connect(&self) -> anyhow::Result<Actions> {
        let config = self.store.config().await?;
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let url = config.cluster_url.clone();
        let client = Client::try_from(config)
            .with_context(|| format!("cannot build a client for the API server at {url}"))?;
        Ok(Actions::new(client, &namespace, MANAGER))
    }
}

/// The App a verb acts on, and where: the arguments of most verbs.
#[derive(clap::Args)]
pub struct AppArgs {
    /// The App's name.
    pub name: String,
    #[command(flatten)]
    pub target: Target,
}

/// What a failed action means for the person running the command.
pub fn explain_action(e: ActionError) -> anyhow::Error {
    match e {
        ActionError::Api { doing, source } => explain(&doing, source),
        ActionError::NoApp { namespace, name } => anyhow!(
            "app {namespace}/{name} does not exist (kubectl get apps -n {namespace} lists them)"
        ),
        ActionError::NoTask { namespace, name } => anyhow!(
            "task {namespace}/{name} does not exist (kubectl get tasks -n {namespace} lists them)"
        ),
        ActionError::AppChanged {
            namespace,
            name,
            doing,
        } => anyhow!(
            "app {namespace}/{name} changed while {doing} (someone else updated it since it was \
             read); nothing was changed: run the command again"
        ),
        ActionError::TaskWithoutApp { namespace, task } => anyhow!(
            "task {namespace}/{task} belongs to no app (it has no {} label), so there is no app \
             to scale down: kill it without --scale",
            labels::APP
        ),
        ActionError::NoInstances { namespace, app } => {
            anyhow!("app {namespace}/{app} already runs 0 instances: kill the task without --scale")
        }
        ActionError::NoVersion { namespace, app } => anyhow!(
            "app {namespace}/{app} has no version yet: the Marathon controller has not seen the \
             app yet, so there are no launches to stop"
        ),
        ActionError::NotKilled {
            namespace,
            task,
            source,
        } => explain_action(*source).context(format!("task {namespace}/{task} was not killed")),
        other => anyhow::Error::new(other),
    }
}

/// What a failed API call (`what`: "read app default/web") means for the person running it.
pub fn explain(what: &str, e: kube::Error) -> anyhow::Error {
    crate::commands::store_client::explain_call(e, what)
}
