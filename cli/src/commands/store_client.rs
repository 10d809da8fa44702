//! How CLI commands reach the store: a kubeconfig, or a server URL with a token and CA.
//!
//! Why it exists: `strata agent` is given `--server --token --certificate-authority` (an agent
//! has no kubeconfig), while user commands such as `strata logs` read a kubeconfig as kubectl
//! does. Both end as one kube::Config, and one place turns a bad combination into a message.
//! It is also the one place that turns a failed call into what the user should do next: start
//! strata, point at its kubeconfig, fetch a new token, or ask for a RoleBinding.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
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
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .context("the store connection settings are incomplete")?;
        let _ = STORE_URL.set(url_of(&config));
        Ok(config)
    }

    /// A client for the store these flags name, the namespace the kubeconfig's context names
    /// ("default" when it names none) and the store's URL, for messages.
    pub async fn connect(&self) -> anyhow::Result<Connection> {
        let config = self.config().await?;
        let namespace = config.default_namespace.clone();
        let url = url_of(&config);
        let client = kube::Client::try_from(config).map_err(|e| explain(e, "connect", &url))?;
        Ok(Connection {
            client,
            namespace,
            url,
        })
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

/// A client of the store, and where it points.
#[derive(Clone)]
pub struct Connection {
    pub client: kube::Client,
    /// The namespace of the kubeconfig's context ("default" when it names none).
    pub namespace: String,
    /// The store's URL, for messages.
    pub url: String,
}

impl Connection {
    /// What a failed call means (see [`explain`]).
    pub fn explain(&self, e: kube::Error, doing: &str) -> anyhow::Error {
        explain(e, doing, &self.url)
    }
}

/// The store URL this process connected to (commands talk to one store), for [`explain_call`].
static STORE_URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// A store's URL as users write it (no trailing slash).
fn url_of(config: &kube::Config) -> String {
    config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string()
}

/// [`explain`] for callers that hold no [`Connection`]: the URL is the one this process's
/// [`StoreArgs::config`] connected to.
pub fn explain_call(e: kube::Error, doing: &str) -> anyhow::Error {
    let url = STORE_URL
        .get()
        .map_or("the kubeconfig's server", String::as_str);
    explain(e, doing, url)
}

/// How to get a kubeconfig, for messages that lack one.
const START_HINT: &str = "start strata with `strata up` (or `strata server`) and export \
     KUBECONFIG=<data-dir>/kubeconfig (strata-data/kubeconfig by default), or give \
     --kubeconfig, or --server with --token";

fn default_kubeconfig() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").ok_or_else(|| {
        anyhow!("no kubeconfig: neither --kubeconfig, KUBECONFIG nor HOME is set; {START_HINT}")
    })?;
    Ok(Path::new(&home).join(".kube/config"))
}

fn read_kubeconfig(path: &Path) -> anyhow::Result<Kubeconfig> {
    if !path.exists() {
        bail!("no kubeconfig at {}: {START_HINT}", path.display());
    }
    Kubeconfig::read_from(path).with_context(|| {
        format!(
            "cannot read the kubeconfig {} (give --kubeconfig, or --server with --token)",
            path.display()
        )
    })
}

/// What a failed call to the store at `url` means for the person running the command, and what
/// to do next; `doing` says what was tried, e.g. "list apps in namespace default".
pub fn explain(e: kube::Error, doing: &str, url: &str) -> anyhow::Error {
    match e {
        kube::Error::Api(status) => match status.code {
            401 => anyhow!(
                "cannot {doing}: the store at {url} refused the credentials (401 Unauthorized): \
                 the token is wrong or was revoked; use the kubeconfig strata wrote \
                 (<data-dir>/kubeconfig), or ask its admin for a new token"
            ),
            403 => anyhow!(
                "you may not {doing}: {}\nask an admin for a RoleBinding that allows it (or use \
                 a kubeconfig whose user may)",
                status.message
            ),
            _ => anyhow!("cannot {doing}: {}", status.message),
        },
        other => {
            let chain = error_chain(&other);
            let hint = if refused(&other) {
                format!(
                    "nothing answers at {url} (connection refused): is strata running there? \
                     Start it with `strata up` (or `strata server`), or point KUBECONFIG at the \
                     kubeconfig of the strata you mean"
                )
            } else if chain.contains("certificate") || chain.contains("UnknownIssuer") {
                format!(
                    "the store at {url} is not the one the kubeconfig trusts (its certificate \
                     is not signed by the kubeconfig's CA): if its data directory was made \
                     anew, use the kubeconfig it wrote then"
                )
            } else {
                format!(
                    "cannot reach the store at {url}: is strata running, and is the \
                     kubeconfig's server address right?"
                )
            };
            anyhow!("cannot {doing}: {hint}\n({chain})")
        }
    }
}

/// Whether `e` is, deep down, a refused TCP connection.
fn refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        next = e.source();
    }
    error_chain(e).contains("Connection refused")
}

/// `e` and its sources, joined with ": ".
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut next = e.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            message: message.into(),
            ..kube::core::Status::default()
        }))
    }

    const URL: &str = "https://127.0.0.1:6443/";

    #[test]
    fn a_refused_token_says_to_get_another() {
        let e = explain(status(401, "Unauthorized"), "list apps", URL).to_string();
        assert!(e.starts_with("cannot list apps: the store at"), "{e}");
        assert!(e.contains("401") && e.contains("new token"), "{e}");
    }

    #[test]
    fn a_forbidden_call_says_who_to_ask() {
        let message = "apps.strata.io is forbidden: User \"ann\" cannot list resource \"apps\" \
                       in API group \"strata.io\" in the namespace \"prod\"";
        let e = explain(status(403, message), "list apps in namespace prod", URL).to_string();
        assert!(
            e.starts_with("you may not list apps in namespace prod: apps.strata.io is forbidden"),
            "{e}"
        );
        assert!(e.contains("ask an admin for a RoleBinding"), "{e}");
    }

    #[test]
    fn other_refusals_pass_the_stores_message_on() {
        let e = explain(
            status(422, "spec.cpus: Invalid value"),
            "apply app/web",
            URL,
        );
        assert_eq!(
            e.to_string(),
            "cannot apply app/web: spec.cpus: Invalid value"
        );
    }

    #[tokio::test]
    async fn nothing_listening_asks_whether_strata_runs() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let api: kube::Api<strata_api::App> = kube::Api::namespaced(client, "default");
        let e = api.list(&Default::default()).await.unwrap_err();
        let e = explain(e, "list apps", &url).to_string();
        assert!(
            e.contains("connection refused): is strata running there?"),
            "{e}"
        );
        assert!(e.contains("strata up"), "{e}");
    }

    #[test]
    fn a_missing_kubeconfig_says_how_to_get_one() {
        let dir = tempfile::tempdir().unwrap();
        let args = StoreArgs {
            server: None,
            token: None,
            certificate_authority: None,
            kubeconfig: Some(dir.path().join("kubeconfig")),
        };
        let e = args.kubeconfig().unwrap_err().to_string();
        assert!(e.starts_with("no kubeconfig at "), "{e}");
        assert!(
            e.contains("strata up") && e.contains("export KUBECONFIG="),
            "{e}"
        );
    }
}
