//! Where a `strata app` verb acts: the namespace and connection flags every verb takes, turned
//! into the Apps, Rollouts and Tasks of that namespace, and API errors turned into sentences.
//!
//! Why it exists: every verb must resolve `-n` and `--kubeconfig` alike (the kubeconfig's
//! namespace when `-n` is not given, as kubectl does) and say "does not exist" or "not allowed"
//! in the same words; one place keeps them alike.

use anyhow::{Context, anyhow};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use strata_api::{App, Rollout, Task};

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
    pub async fn connect(&self) -> anyhow::Result<Scope> {
        let config = self.store.config().await?;
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let url = config.cluster_url.clone();
        let client = Client::try_from(config)
            .with_context(|| format!("cannot build a client for the API server at {url}"))?;
        Ok(Scope {
            apps: Api::namespaced(client.clone(), &namespace),
            rollouts: Api::namespaced(client.clone(), &namespace),
            tasks: Api::namespaced(client, &namespace),
            namespace,
        })
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

/// The objects of one namespace that `strata app` reads and writes.
pub struct Scope {
    pub namespace: String,
    pub apps: Api<App>,
    pub rollouts: Api<Rollout>,
    pub tasks: Api<Task>,
}

impl Scope {
    /// The App `name`, or an error saying it does not exist.
    pub async fn app(&self, name: &str) -> anyhow::Result<App> {
        self.apps
            .get_opt(name)
            .await
            .map_err(|e| explain(&format!("read app {}/{name}", self.namespace), e))?
            .ok_or_else(|| self.no_app(name))
    }

    /// The Task `name`, or an error saying it does not exist.
    pub async fn task(&self, name: &str) -> anyhow::Result<Task> {
        self.tasks
            .get_opt(name)
            .await
            .map_err(|e| explain(&format!("read task {}/{name}", self.namespace), e))?
            .ok_or_else(|| {
                anyhow!(
                    "task {}/{name} does not exist (kubectl get tasks -n {} lists them)",
                    self.namespace,
                    self.namespace
                )
            })
    }

    /// Sets the annotation `key` of the App `name` to `value` (null removes it); `doing` says
    /// what for in an error ("restart").
    pub async fn annotate(
        &self,
        name: &str,
        key: &str,
        value: serde_json::Value,
        doing: &str,
    ) -> anyhow::Result<()> {
        let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
        self.apps
            .patch(name, &patch_params(), &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                if is_status(&e, 404) {
                    self.no_app(name)
                } else {
                    explain(&format!("{doing} app {}/{name}", self.namespace), e)
                }
            })?;
        Ok(())
    }

    /// The error for an App that does not exist.
    pub fn no_app(&self, name: &str) -> anyhow::Error {
        anyhow!(
            "app {}/{name} does not exist (kubectl get apps -n {} lists them)",
            self.namespace,
            self.namespace
        )
    }

    /// The error for a write refused because the App changed since it was read.
    pub fn app_changed(&self, name: &str, doing: &str) -> anyhow::Error {
        anyhow!(
            "app {}/{name} changed while {doing} (someone else updated it since it was read); \
             nothing was changed: run the command again",
            self.namespace
        )
    }
}

/// How `strata app` patches: as field manager `strata-app`.
pub fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        ..PatchParams::default()
    }
}

/// How `strata app` replaces: as field manager `strata-app`.
pub fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(MANAGER.into()),
        ..PostParams::default()
    }
}

/// Whether `e` is the API server's answer `code` (404, 409, ...).
pub fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// What a failed API call (`what`: "read app default/web") means for the person running it.
pub fn explain(what: &str, e: kube::Error) -> anyhow::Error {
    match e {
        kube::Error::Api(status) if status.code == 403 => anyhow!(
            "cannot {what}: {}\nthe kubeconfig's user is not allowed to: use one that is (or \
             ask for a role that allows it)",
            status.message
        ),
        kube::Error::Api(status) => anyhow!("cannot {what}: {}", status.message),
        other => anyhow::Error::new(other).context(format!(
            "cannot {what}: is the API server running and is the kubeconfig's server address right?"
        )),
    }
}
