//! How CLI commands reach the store: a kubeconfig, or a server URL with a token and CA.
//!
//! Why it exists: `strata agent` is given `--server --token --certificate-authority` (an agent
//! has no kubeconfig), while user commands such as `strata logs` read a kubeconfig as kubectl
//! does. Both end as one kube::Config, and one place turns a bad combination into a message.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use kube::config::{
    AuthInfo, Cluster, Context as KubeContext, KubeConfigOptions, Kubeconfig, NamedAuthInfo,
    NamedCluster, NamedContext,
};

/// The store connection flags.
#[derive(clap::Args, Clone, Debug)]
pub struct StoreArgs {
    /// The store's URL, e.g. https://10.0.0.1:6443 (instead of --kubeconfig).
    #[arg(long, env = "STRATA_SERVER")]
    pub server: Option<String>,
    /// Bearer token to authenticate with (with --server).
    #[arg(
        long,
        env = "STRATA_TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub token: Option<String>,
    /// CA certificate (PEM) that signed the store's serving certificate (with --server).
    #[arg(long)]
    pub certificate_authority: Option<PathBuf>,
    /// Kubeconfig to use instead of --server/--token; defaults to $KUBECONFIG or
    /// ~/.kube/config.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
}

impl StoreArgs {
    /// The kubeconfig these flags describe.
    pub fn kubeconfig(&self) -> anyhow::Result<Kubeconfig> {
        if let Some(server) = &self.server {
            let Some(token) = &self.token else {
                bail!("--server needs --token (or set STRATA_TOKEN)");
            };
            return Ok(Kubeconfig {
                clusters: vec![NamedCluster {
                    name: "strata".into(),
                    cluster: Some(Cluster {
                        server: Some(server.clone()),
                        certificate_authority: self
                            .certificate_authority
                            .as_ref()
                            .map(|p| p.display().to_string()),
                        ..Cluster::default()
                    }),
                    other: Default::default(),
                }],
                auth_infos: vec![NamedAuthInfo {
                    name: "strata".into(),
                    auth_info: Some(AuthInfo {
                        token: Some(token.clone().into()),
                        ..AuthInfo::default()
                    }),
                    other: Default::default(),
                }],
                contexts: vec![NamedContext {
                    name: "strata".into(),
                    context: Some(KubeContext {
                        cluster: "strata".into(),
                        user: Some("strata".into()),
                        ..KubeContext::default()
                    }),
                    other: Default::default(),
                }],
                current_context: Some("strata".into()),
                ..Kubeconfig::default()
            });
        }
        let path = match &self.kubeconfig {
            Some(path) => path.clone(),
            None => default_kubeconfig()?,
        };
        read_kubeconfig(&path)
    }

    /// The client configuration these flags describe.
    pub async fn config(&self) -> anyhow::Result<kube::Config> {
        let kc = self.kubeconfig()?;
        kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .context("the store connection settings are incomplete")
    }

    /// The bearer token of the current context, if it uses one.
    pub fn token(&self) -> anyhow::Result<Option<String>> {
        use secrecy::ExposeSecret;
        let kc = self.kubeconfig()?;
        let user = kc
            .current_context
            .as_ref()
            .and_then(|name| kc.contexts.iter().find(|c| &c.name == name))
            .and_then(|c| c.context.as_ref())
            .and_then(|c| c.user.clone());
        let token = kc
            .auth_infos
            .iter()
            .find(|a| Some(&a.name) == user.as_ref())
            .and_then(|a| a.auth_info.as_ref())
            .and_then(|a| a.token.as_ref())
            .map(|t| t.expose_secret().to_string());
        Ok(token)
    }
}

fn default_kubeconfig() -> anyhow::Result<PathBuf> {
    let home =
        std::env::var_os("HOME").context("neither --kubeconfig, KUBECONFIG nor HOME is set")?;
    Ok(Path::new(&home).join(".kube/config"))
}

fn read_kubeconfig(path: &Path) -> anyhow::Result<Kubeconfig> {
    Kubeconfig::read_from(path).with_context(|| {
        format!(
            "cannot read the kubeconfig {} (give --kubeconfig, or --server with --token)",
            path.display()
        )
    })
}
