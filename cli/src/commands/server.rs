//! `strata server`: the embedded API server on a data directory.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use strata_store::server::{ApiServer, Config};
use strata_store::{kubeconfig, tls};

#[derive(clap::Args)]
pub struct Args {
    /// Where the store keeps its database, certificates, tokens and the admin kubeconfig.
    #[arg(long, env = "STRATA_DATA_DIR", default_value = "strata-data")]
    data_dir: PathBuf,
    /// Address to listen on (HTTPS).
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Extra DNS names or IPs for the serving certificate.
    #[arg(long = "tls-san")]
    tls_san: Vec<String>,
    /// How many events watches can replay before a client must relist (410 Expired).
    #[arg(long, default_value_t = 20_000)]
    watch_history: usize,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 60)]
    bookmark_interval: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let mut config = Config::new(args.data_dir.clone());
    config.watch_history = args.watch_history;
    config.bookmark_interval_secs = args.bookmark_interval;
    let server = ApiServer::open(config).await?;
    let mut names = args.tls_san.clone();
    if !args.listen.ip().is_unspecified() {
        names.push(args.listen.ip().to_string());
    }
    let pki = tls::load_or_create(&args.data_dir, &names)?;
    let tls_config = tls::server_config(&pki)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another server running there?",
                args.listen
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
    let kubeconfig_path = args.data_dir.join("kubeconfig");
    kubeconfig::write(
        &kubeconfig_path,
        &url,
        &pki.ca_pem,
        server.auth.admin_token(),
        "strata",
    )?;
    println!("strata server listening on {url}");
    println!("kubeconfig: {}", kubeconfig_path.display());
    println!(
        "try: KUBECONFIG={} kubectl get strata -A",
        kubeconfig_path.display()
    );
    strata_store::server::serve(server, listener, tls_config, shutdown()).await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
