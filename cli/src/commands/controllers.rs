//! `strata controllers`: runs the controllers — the allocator and the lifecycle controller,
//! together Mesos' master, and Marathon — as an ordinary client of the store, or of a real
//! Kubernetes API server.

use std::time::Duration;

use anyhow::Context;
use strata_api::resources::Resources;
use strata_controllers::allocator::Config;
use strata_controllers::allocator::controller::{self, Settings};
use strata_controllers::{lifecycle, marathon, metrics, watches};

use super::store_client::StoreArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    flags: Flags,
}

/// How the controllers run (shared by `strata up`).
#[derive(clap::Args, Clone, Debug)]
pub struct Flags {
    /// Time between allocation passes (Mesos' --allocation_interval).
    #[arg(long, default_value = "1s", value_parser = super::duration::parse)]
    allocation_interval: Duration,
    /// How long an offer lasts unused before it expires and its resources are offered again
    /// (Mesos' --offer_timeout); 0s never expires.
    #[arg(long, default_value = "60s", value_parser = super::duration::parse)]
    offer_timeout: Duration,
    /// An agent whose heartbeat is not seen for this long is Unreachable: its offers are
    /// rescinded, its tasks become Unreachable (Lost for frameworks that are not partition
    /// aware), and it is not offered again until it heartbeats (Mesos: 75 s).
    #[arg(long, default_value = "75s", value_parser = super::duration::parse)]
    agent_unreachable_timeout: Duration,
    /// An agent Unreachable for this long is Gone for good, and its tasks with it (Mesos'
    /// --agent_reregister_timeout).
    #[arg(long, default_value = "10m", value_parser = super::duration::parse)]
    agent_reregister_timeout: Duration,
    /// The smallest offer worth making, as alternatives separated by `|` (Mesos'
    /// --min_allocatable_resources).
    #[arg(long, default_value = "cpus:0.01|mem:32")]
    min_allocatable_resources: String,
    /// Where to serve Prometheus metrics at /metrics (the Mesos master's port by default;
    /// port 0 picks a free one, logged at startup).
    #[arg(long, default_value = "127.0.0.1:5050")]
    metrics_listen: std::net::SocketAddr,
    /// Name of the Framework Marathon registers in every namespace that has Apps.
    #[arg(long, default_value = "marathon")]
    marathon_framework: String,
    /// Role of the Frameworks Marathon registers (a Framework created beforehand keeps its
    /// own role).
    #[arg(long, default_value = "*")]
    marathon_role: String,
    /// Rollouts kept per app: the versions a rollback can return to.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    rollout_history: u32,
}

/// The controllers run on one thread: each is one actor, their work per event is small, and on
/// a multi-threaded runtime a fifth of their CPU went to waking and switching threads
/// (`strata bench master`: 183–217 µs of the controllers' CPU per task on two threads, 122–150
/// on one). One allocation pass at 10,000 agents takes ~20 ms of it.
pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let settings = args.flags.settings()?;
    rt.block_on(async {
        let config = args.store.config().await?;
        let client = kube::Client::try_from(config)?;
        tokio::select! {
            ran = run_with(client, args.flags, settings) => ran,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

impl Flags {
    /// The allocator's settings these flags give, or what is wrong with them.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        for (flag, value, example) in [
            ("--allocation-interval", self.allocation_interval, "1s"),
            (
                "--agent-unreachable-timeout",
                self.agent_unreachable_timeout,
                "75s",
            ),
            (
                "--agent-reregister-timeout",
                self.agent_reregister_timeout,
                "10m",
            ),
        ] {
            anyhow::ensure!(
                !value.is_zero(),
                "{flag} must be longer than 0s, e.g. {example}"
            );
        }
        let min_allocatable = self
            .min_allocatable_resources
            .split('|')
            .map(|alt| {
                alt.trim().parse::<Resources>().with_context(|| {
                    format!("--min-allocatable-resources: {alt:?} is not like cpus:0.01;mem:32")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Settings {
            model: Config {
                min_allocatable,
                offer_timeout: (!self.offer_timeout.is_zero()).then_some(self.offer_timeout),
                epoch: epoch(),
            },
            interval: self.allocation_interval,
            agent_timeout: self.agent_unreachable_timeout,
        })
    }
}

/// Runs every controller with `client` until one of them stops (which only serving metrics
/// can, with an error); `settings` are [`Flags::settings`].
pub async fn run_with(client: kube::Client, args: Flags, settings: Settings) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.metrics_listen)
        .await
        .with_context(|| {
            format!(
                "--metrics-listen {}: cannot listen there (in use? choose another address)",
                args.metrics_listen
            )
        })?;
    tracing::info!(
        "serving metrics at http://{}/metrics",
        listener.local_addr()?
    );
    let (metrics, registry) = metrics::Metrics::registered();
    tracing::info!(?settings, "allocator starting");
    let lifecycle = lifecycle::Config {
        unreachable_after: args.agent_unreachable_timeout,
        gone_after: args.agent_reregister_timeout,
    };
    let marathon = marathon::controller::Settings {
        framework: args.marathon_framework,
        role: args.marathon_role,
        history: args.rollout_history as usize,
    };
    let [for_allocator, for_lifecycle] = watches::master(&client);
    tokio::select! {
        () = controller::run(client.clone(), for_allocator, settings, metrics.clone()) => Ok(()),
        () = marathon::controller::run(client.clone(), marathon) => Ok(()),
        () = lifecycle::controller::run(client, for_lifecycle, lifecycle, metrics) => Ok(()),
        served = metrics::serve(listener, registry) => served.context("serving metrics"),
    }
}

/// A short tag of this run (base 36 seconds since 2020), so offer names from different runs of
/// the allocator never collide.
fn epoch() -> String {
    let mut n = jiff::Timestamp::now()
        .as_second()
        .saturating_sub(1_577_836_800) as u64;
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}
