//! `strata bench store`: measures a real `strata server` process over its HTTPS API with a kube-rs
//! client, and prints the figures beside the peers' published ones. Client and server share this
//! machine's cores, so the figures are a floor for the server alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};

use super::{percentile, rss_kib, start_server};

#[derive(clap::Args)]
pub struct StoreArgs {
    /// Writes measured with a single writer.
    #[arg(long, default_value_t = 1_000)]
    single_writes: usize,
    /// Writes measured with 100 concurrent writers.
    #[arg(long, default_value_t = 20_000)]
    concurrent_writes: usize,
    /// Concurrent watchers for the fan-out measurement.
    #[arg(long, default_value_t = 1_000)]
    watchers: usize,
    /// Objects of one kind for the list measurement.
    #[arg(long, default_value_t = 100_000)]
    list_objects: usize,
}

fn config_map(name: String) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name);
    cm.metadata.labels = Some([("bench".to_string(), "store".to_string())].into());
    cm.data = Some([("payload".to_string(), "x".repeat(256))].into());
    cm
}

async fn namespace(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.into());
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Ok(())
}

/// Creates `total` ConfigMaps with `writers` concurrent writers; returns writes per second.
async fn write_rate(
    client: &kube::Client,
    ns: &str,
    prefix: &str,
    total: usize,
    writers: usize,
) -> anyhow::Result<f64> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let api = api.clone();
            let next = next.clone();
            let prefix = prefix.to_string();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= total {
                        return Ok::<_, kube::Error>(());
                    }
                    api.create(
                        &PostParams::default(),
                        &config_map(format!("{prefix}-{i:07}")),
                    )
                    .await?;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// Latencies of watch events at `watchers` watchers: (from the write's acknowledgement, from the
/// write's request), each as (p50, p99), and the number of deliveries.
type FanOut = ((Duration, Duration), (Duration, Duration), usize);

async fn fan_out(client: &kube::Client, watchers: usize, writes: usize) -> anyhow::Result<FanOut> {
    namespace(client, "fanout").await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "fanout");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    for _ in 0..watchers {
        let api = api.clone();
        let tx = tx.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let stream = match api.watch(&WatchParams::default().timeout(290), "0").await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("watch failed: {e}");
                    return;
                }
            };
            ready.add_permits(1);
            let mut stream = std::pin::pin!(stream);
            while let Ok(Some(ev)) = stream.try_next().await {
                if let WatchEvent::Added(cm) = ev {
                    let _ = tx.send((cm.metadata.name.unwrap_or_default(), Instant::now()));
                }
            }
        });
    }
    let _ = ready.acquire_many(watchers as u32).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::with_capacity(watchers * writes);
    let mut from_request = Vec::with_capacity(watchers * writes);
    for i in 0..writes {
        let name = format!("fan-{i:04}");
        let sent = Instant::now();
        api.create(&PostParams::default(), &config_map(name.clone()))
            .await?;
        let acked = Instant::now();
        let mut got = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while got < watchers {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((n, at))) if n == name => {
                    latencies.push(at.saturating_duration_since(acked));
                    from_request.push(at.saturating_duration_since(sent));
                    got += 1;
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    }
    latencies.sort();
    from_request.sort();
    Ok((
        (percentile(&latencies, 0.5), percentile(&latencies, 0.99)),
        (
            percentile(&from_request, 0.5),
            percentile(&from_request, 0.99),
        ),
        latencies.len(),
    ))
}

pub async fn run(a: StoreArgs) -> anyhow::Result<()> {
    let (server, client) = start_server().await?;
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_kib(pid)?;
    eprintln!("idle: {} MiB resident", idle / 1024);
    namespace(&client, "writes").await?;
    eprintln!(
        "measuring durable writes with 1 writer ({} writes)...",
        a.single_writes
    );
    let one = write_rate(&client, "writes", "one", a.single_writes, 1).await?;
    eprintln!(
        "measuring durable writes with 100 writers ({} writes)...",
        a.concurrent_writes
    );
    let hundred = write_rate(&client, "writes", "hundred", a.concurrent_writes, 100).await?;
    eprintln!("measuring watch fan-out to {} watchers...", a.watchers);
    let ((p50, p99), (r50, r99), samples) = fan_out(&client, a.watchers, 20).await?;
    namespace(&client, "list").await?;
    let before = rss_kib(pid)?;
    eprintln!(
        "creating {} objects for the list measurement...",
        a.list_objects
    );
    write_rate(&client, "list", "obj", a.list_objects, 100).await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "list");
    let start = Instant::now();
    let all = api.list(&ListParams::default()).await?;
    let full = start.elapsed();
    let start = Instant::now();
    let mut paged = 0;
    let mut lp = ListParams::default().limit(500);
    loop {
        let page = api.list(&lp).await?;
        paged += page.items.len();
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    let pages = start.elapsed();
    let after = rss_kib(pid)?;
    let per_object = (after.saturating_sub(before) * 1024) as f64 / a.list_objects as f64;
    println!("strata bench store (2 cores shared by client and server; kube-rs client over HTTPS)");
    println!("{:<48} {:>14}   peers", "measure", "strata");
    println!(
        "{:<48} {:>12.0}/s   etcd 3.2 (8 vCPU): 583/s; redb alone: ~1,090 commits/s",
        "durable writes, 1 writer", one
    );
    println!(
        "{:<48} {:>12.0}/s   etcd 3.2 (8 vCPU, 1,000 clients): ~50,000/s; goal here 10,000/s",
        "durable writes, 100 writers", hundred
    );
    println!(
        "{:<48} {:>9.2} ms p50 / {:.2} ms p99 after the write's acknowledgement ({samples} deliveries)",
        format!("watch event latency, {} watchers", a.watchers),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    println!(
        "{:<48} {:>9.2} ms p50 / {:.2} ms p99 after the write's request was sent",
        "",
        r50.as_secs_f64() * 1e3,
        r99.as_secs_f64() * 1e3
    );
    println!(
        "{:<48} {:>12.0} ms   ({} items)",
        format!("list {} objects, one request", a.list_objects),
        full.as_secs_f64() * 1e3,
        all.items.len()
    );
    println!(
        "{:<48} {:>12.0} ms   ({} items)",
        "same, pages of 500",
        pages.as_secs_f64() * 1e3,
        paged
    );
    println!(
        "{:<48} {:>10.0} B/obj   (256-byte payload objects)",
        "server resident memory per stored object", per_object
    );
    println!(
        "{:<48} {:>10} MiB   k3s server with a workload: ~1,600 MiB",
        "idle server resident memory",
        idle / 1024
    );
    drop(server);
    Ok(())
}
