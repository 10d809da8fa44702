//! `strata console`: the web console on its own, in front of any strata API — the embedded
//! store of a `strata server` elsewhere, or a real Kubernetes cluster with strata installed.
//!
//! Why it exists: `strata up` serves the console in its own process; a cluster run as separate
//! processes (or by the Helm chart) needs it as a process of its own. It uses the kubeconfig's
//! server and CA only: every request is made with the signed-in user's token, never with the
//! kubeconfig's credentials.

use std::net::SocketAddr;

use anyhow::Context;
use strata_agent::connect::Connect;

use super::store_client::StoreArgs;

#[derive(clap::Args)]
pub struct Args {
    /// Address to serve the console on (HTTP).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let config = args.store.config().await?;
        let connect = Connect::from_config(config);
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot serve the console on {}: in use? (choose another address with \
                     --listen)",
                    args.listen
                )
            })?;
        println!(
            "console at http://{} for the API at {} (sign in with a token)",
            listener.local_addr()?,
            connect.describe
        );
        tokio::select! {
            served = axum::serve(listener, strata_console::router(connect)) => {
                served.context("serving the console")
            }
            () = super::server::shutdown() => Ok(()),
        }
    })
}
