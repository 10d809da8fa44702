//! `strata agent-token NAME`: credentials for the agent NAME, printed alone on stdout so that
//! `TOKEN=$(strata agent-token a1)` works.
//!
//! Like `kubeadm token create` for kubelets, it goes through the API only, so it works the same
//! against the embedded store and a real cluster: it applies (server-side, idempotently) the
//! ServiceAccount `strata-system/agent-NAME` and the ClusterRoleBinding `strata:agent:NAME` to the
//! ClusterRole `strata:agent`, then asks for a token with a TokenRequest. What the token allows is
//! the server's business: RBAC plus the agent restriction (its own Agent, Lease and tasks).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

const NAMESPACE: &str = "strata-system";
const ROLE: &str = "strata:agent";
const MANAGER: &str = "strata-agent-token";

#[derive(clap::Args)]
pub struct Args {
    /// The agent's name: the name of its Agent object and of its heartbeat Lease.
    name: String,
    /// The kubeconfig of a user allowed to create ServiceAccounts, ClusterRoleBindings and tokens
    /// (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// How long the token is valid, e.g. 8760h, 720h, 90m (at least 10m).
    #[arg(long, default_value = "8760h", value_parser = super::duration::parse)]
    duration: Duration,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    check_name(&args.name)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let token = rt.block_on(agent_token(&args))?;
    println!("{token}");
    Ok(())
}

/// An agent's name becomes part of object names (`agent-NAME`, `strata:agent:NAME`): a DNS
/// subdomain, as Kubernetes requires for both.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let ok_ends = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 240 || !ok_chars || !ok_ends {
        bail!(
            "{name:?} is not a valid agent name: use lower-case letters, digits, '-' and '.', \
             starting and ending with a letter or digit, at most 240 characters (e.g. node-1)"
        );
    }
    Ok(())
}

async fn client(kubeconfig: Option<&PathBuf>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("cannot use the kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer().await.context(
            "cannot find a kubeconfig: pass --kubeconfig (strata server writes one into its data \
             directory) or set KUBECONFIG",
        )?,
    };
    let url = config.cluster_url.clone();
    kube::Client::try_from(config)
        .with_context(|| format!("cannot build a client for the API server at {url}"))
}

/// What a failed API call means for the person running the command.
fn explain(what: &str, e: kube::Error) -> anyhow::Error {
    match e {
        kube::Error::Api(status) if status.code == 403 => anyhow::anyhow!(
            "cannot {what}: {}\nagent-token needs a user allowed to create ServiceAccounts, \
             ClusterRoleBindings and service account tokens, such as the admin kubeconfig \
             strata server writes into its data directory",
            status.message
        ),
        kube::Error::Api(status) => anyhow::anyhow!("cannot {what}: {}", status.message),
        other => anyhow::Error::new(other).context(format!(
            "cannot {what}: is the API server running and is the kubeconfig's server address right?"
        )),
    }
}

async fn agent_token(args: &Args) -> anyhow::Result<String> {
    let client = client(args.kubeconfig.as_ref()).await?;
    let name = &args.name;
    let account = format!("agent-{name}");
    let apply = PatchParams::apply(MANAGER).force();
    let labels = json!({"app.kubernetes.io/managed-by": "strata", "strata.io/agent": name});

    let roles: Api<ClusterRole> = Api::all(client.clone());
    if roles
        .get_opt(ROLE)
        .await
        .map_err(|e| explain(&format!("look up the ClusterRole {ROLE}"), e))?
        .is_none()
    {
        bail!(
            "the ClusterRole {ROLE} does not exist on this cluster: strata server creates it at \
             start; on another cluster, install strata's RBAC manifests first"
        );
    }
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), NAMESPACE);
    let sa = json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": account, "namespace": NAMESPACE, "labels": labels},
    });
    accounts
        .patch(&account, &apply, &Patch::Apply(&sa))
        .await
        .map_err(|e| {
            explain(
                &format!("apply the ServiceAccount {NAMESPACE}/{account}"),
                e,
            )
        })?;
    let bindings: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(client.clone());
    let binding = format!("{ROLE}:{name}");
    let crb = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": binding, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}],
    });
    bindings
        .patch(&binding, &apply, &Patch::Apply(&crb))
        .await
        .map_err(|e| explain(&format!("apply the ClusterRoleBinding {binding}"), e))?;
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(i64::try_from(args.duration.as_secs()).unwrap_or(i64::MAX)),
            bound_object_ref: None,
        },
        ..Default::default()
    };
    let answer = accounts
        .create_token_request(&account, &PostParams::default(), &request)
        .await
        .map_err(|e| explain(&format!("get a token for {NAMESPACE}/{account}"), e))?;
    answer
        .status
        .map(|s| s.token)
        .filter(|t| !t.is_empty())
        .context("the API server answered the token request without a token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_names_must_fit_in_object_names() {
        for ok in ["a1", "node-1", "rack1.node2"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A1", "-a", "a-", "a_b", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
