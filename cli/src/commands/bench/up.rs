//! `strata bench up`: how long `strata up` takes to be ready, how much memory it holds idle,
//! and how fast the console answers with many apps.
//!
//! Why it exists: the issue asks for the cold start and the idle resident memory of the
//! all-in-one process (Marathon's default heap alone is 512 MB; a k3s server with a workload
//! ~1.6 GB), and the time to first byte of the console's Apps page with 1,000 apps.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kube::Api;
use kube::api::PostParams;
use strata_api::App;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Process, client_for, cores, percentile, rss_kib};

#[derive(clap::Args)]
pub struct UpArgs {
    /// Starts measured on a fresh data directory each, and as many again on an existing one.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    starts: u32,
    /// Apps created for the console figure (instances 0: the page's cost is per app, not per
    /// task).
    #[arg(long, default_value_t = 1000)]
    apps: u32,
    /// Requests of the Apps page measured.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    requests: u32,
    /// How long strata up is left alone before its idle memory is read.
    #[arg(long, default_value = "10s", value_parser = crate::commands::duration::parse)]
    idle: Duration,
}

/// A `strata up` child on a data directory, with its console's port.
struct Up {
    process: Process,
    console: u16,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts `strata up` on `data` and returns once its console answers and it printed its next
/// steps (the agent is registered by then), with the time that took.
async fn start(data: &Path) -> anyhow::Result<(Up, Duration)> {
    let console = free_port()?;
    let out = data.with_extension("out");
    let started = Instant::now();
    let child: Child = Command::new(std::env::current_exe()?)
        .arg("up")
        .arg("--data-dir")
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{}", free_port()?)])
        .args(["--console-listen", &format!("127.0.0.1:{console}")])
        .args([
            "--sandbox-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .args(["--resources", "cpus:4;mem:4096;ports:[31000-31010]"])
        .env("STRATA_LOG", "warn")
        .stdout(std::fs::File::create(&out)?)
        .spawn()
        .context("starting strata up")?;
    let mut up = Up {
        process: Process(child),
        console,
    };
    let deadline = started + Duration::from_secs(60);
    loop {
        if let Some(status) = up.process.0.try_wait()? {
            bail!("strata up exited with {status} before it was ready");
        }
        let printed = std::fs::read_to_string(&out).unwrap_or_default();
        if printed.contains("Ctrl-C stops strata") && get(console, "/login", None).await.is_ok() {
            return Ok((up, started.elapsed()));
        }
        if Instant::now() > deadline {
            bail!("strata up was not ready within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Stops it as Ctrl-C does, and waits.
fn stop(mut up: Up) -> anyhow::Result<()> {
    Command::new("kill")
        .args(["-INT", &up.process.0.id().to_string()])
        .status()?;
    up.process.0.wait()?;
    Ok(())
}

/// One GET of the console: (time to first byte, time to the last, bytes).
async fn get(
    port: u16,
    path: &str,
    token: Option<&str>,
) -> anyhow::Result<(Duration, Duration, usize)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n");
    let sent = Instant::now();
    stream.write_all(request.as_bytes()).await?;
    let mut first = [0u8; 1];
    stream.read_exact(&mut first).await?;
    let ttfb = sent.elapsed();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await?;
    let text = String::from_utf8_lossy(&rest);
    if !text.starts_with("TTP/1.1 200") {
        bail!("GET {path}: {}", text.lines().next().unwrap_or("no answer"));
    }
    Ok((ttfb, sent.elapsed(), rest.len() + 1))
}

pub async fn run(a: UpArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    eprintln!(
        "{} cold starts of strata up, then as many on their data directories...",
        a.starts
    );
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for i in 0..a.starts {
        let data = dir.path().join(format!("data-{i}"));
        let (up, took) = start(&data).await?;
        cold.push(took);
        stop(up)?;
        let (up, took) = start(&data).await?;
        warm.push(took);
        stop(up)?;
    }
    cold.sort();
    warm.sort();

    let data = dir.path().join("data-measured");
    let (up, _) = start(&data).await?;
    let pid = up.process.0.id();
    eprintln!("left idle for {:?}...", a.idle);
    tokio::time::sleep(a.idle).await;
    let idle_kib = rss_kib(pid)?;

    eprintln!("creating {} apps...", a.apps);
    let client = client_for(&data.join("kubeconfig")).await?;
    let apps: Api<App> = Api::namespaced(client, "default");
    let created = Instant::now();
    for i in 0..a.apps {
        let app: App = serde_json::from_value(serde_json::json!({
            "apiVersion": "strata.io/v1alpha1",
            "kind": "App",
            "metadata": {"name": format!("app-{i:04}")},
            "spec": {"cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": 0},
        }))?;
        apps.create(&PostParams::default(), &app).await?;
    }
    let creating = created.elapsed();
    // Let Marathon write every app's status before the page is read.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let token = std::fs::read_to_string(data.join("admin.token"))?;
    let token = token.trim();
    let mut ttfb = Vec::new();
    let mut whole = Vec::new();
    let mut bytes = 0;
    for _ in 0..a.requests {
        let (first, all, size) = get(up.console, "/apps", Some(token)).await?;
        ttfb.push(first);
        whole.push(all);
        bytes = size;
    }
    ttfb.sort();
    whole.sort();
    let apps_kib = rss_kib(pid)?;
    stop(up)?;

    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!(
        "strata bench up (this machine: {} cores; `strata up`: the store, the controllers, one local agent and the console in one process)",
        cores()
    );
    println!();
    println!("| measure | strata | peers |");
    println!("|---|---|---|");
    println!(
        "| `strata up` -> ready (console answering, agent registered), fresh data directory, {} starts | p50 {}, max {} | — |",
        a.starts,
        ms(percentile(&cold, 0.5)),
        ms(percentile(&cold, 1.0)),
    );
    println!(
        "| `strata up` -> ready on an existing data directory | p50 {}, max {} | — |",
        ms(percentile(&warm, 0.5)),
        ms(percentile(&warm, 1.0)),
    );
    println!(
        "| resident memory idle ({:?} after ready, no apps) | {} MiB | Marathon's default heap alone: 512 MB; a k3s server with a workload: ~1.6 GB |",
        a.idle,
        idle_kib / 1024
    );
    println!(
        "| resident memory with {} apps (created in {:.1} s) | {} MiB | — |",
        a.apps,
        creating.as_secs_f64(),
        apps_kib / 1024
    );
    println!(
        "| console: GET /apps with {} apps, {} requests | time to first byte p50 {}, p99 {}; whole page p50 {} ({} KiB) | — |",
        a.apps,
        a.requests,
        ms(percentile(&ttfb, 0.5)),
        ms(percentile(&ttfb, 0.99)),
        ms(percentile(&whole, 0.5)),
        bytes / 1024
    );
    Ok(())
}
