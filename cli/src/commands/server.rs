//! `strata server`: the embedded API server on a data directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use strata_store::server::{ApiServer, Config, Shared};
use strata_store::{kubeconfig, tls};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    api: ApiFlags,
}

/// Where the store keeps its data and how it serves the API (shared by `strata up`).
#[derive(clap::Args, Clone, Debug)]
pub struct ApiFlags {
    /// Where the store keeps its database, certificates, tokens and the admin kubeconfig.
    #[arg(long, env = "STRATA_DATA_DIR", default_value = "strata-data")]
    pub data_dir: PathBuf,
    /// Address to serve the Kubernetes API on (HTTPS).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Extra DNS names or IPs for the serving certificate.
    #[arg(long = "tls-san")]
    pub tls_san: Vec<String>,
    /// How many events watches can replay before a client must relist (410 Expired).
    #[arg(long, default_value_t = 20_000)]
    pub watch_history: usize,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 60)]
    pub bookmark_interval: u64,
}

/// The store opened and its API port bound, not yet serving.
pub struct Listening {
    pub server: Shared,
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    /// The API's URL, as written into the kubeconfig.
    pub url: String,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
}

impl Listening {
    /// Serves the API until `shutdown` completes, then lets requests in flight finish.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        strata_store::server::serve(self.server, self.listener, self.tls, shutdown).await;
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let api = listen(&args.api).await?;
    println!("strata server listening on {}", api.url);
    println!("kubeconfig: {}", api.kubeconfig.display());
    println!(
        "try: KUBECONFIG={} kubectl get strata -A",
        api.kubeconfig.display()
    );
    api.serve(shutdown()).await;
    tracing::info!("stopped");
    Ok(())
}

/// Opens the store in `flags.data_dir`, binds the API port and writes the admin kubeconfig.
pub async fn listen(flags: &ApiFlags) -> anyhow::Result<Listening> {
    let mut config = Config::new(flags.data_dir.clone());
    config.watch_history = flags.watch_history;
    config.bookmark_interval_secs = flags.bookmark_interval;
    let server = ApiServer::open(config).await?;
    let mut names = flags.tls_san.clone();
    if !flags.listen.ip().is_unspecified() {
        names.push(flags.listen.ip().to_string());
    }
    let pki = tls::load_or_create(&flags.data_dir, &names)?;
    let tls = tls::server_config(&pki)?;
    let listener = tokio::net::TcpListener::bind(flags.listen)
        .await
        .with_context(|| {
            format!(
                "cannot serve the API on {}: is another strata running there? (choose another \
                 address with --listen)",
                flags.listen
            )
        })?;
    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let url = if addr.is_ipv6() {
        format!("https://[{host}]:{}", addr.port())
    } else {
        format!("https://{host}:{}", addr.port())
    };
    let kubeconfig_path = flags.data_dir.join("kubeconfig");
    kubeconfig::write(
        &kubeconfig_path,
        &url,
        &pki.ca_pem,
        server.auth.admin_token(),
        "strata",
    )?;
    Ok(Listening {
        server,
        listener,
        tls,
        url,
        kubeconfig: kubeconfig_path,
    })
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
