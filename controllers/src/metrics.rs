//! The master's Prometheus metrics, and the `/metrics` endpoint that serves them.
//!
//! Why it exists: operators watch a Mesos master through its metrics (allocation runs, offers,
//! tasks by state); `strata controllers` exposes the same in Prometheus' text format so any
//! scraper can. The controllers update the metrics as they go; a scrape only encodes them.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use strata_api::task::TaskState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabel {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabel {
    pub phase: &'static str,
}

/// What the controllers measure.
#[derive(Debug)]
pub struct Metrics {
    /// Seconds each allocation pass took.
    pub pass_seconds: Histogram,
    /// Offers by how they ended: made, accepted, declined, rescinded, expired.
    pub offers: Family<Outcome, Counter>,
    /// Tasks the master staged, by state (terminal ones until they are deleted).
    pub tasks: Family<TaskLabel, Gauge>,
    /// Agents by the phase their conditions show (Ready, Unreachable, Gone).
    pub agent_phases: Family<PhaseLabel, Gauge>,
    /// Agents and frameworks the allocator knows, and the offers it holds live.
    pub agents: Gauge,
    pub frameworks: Gauge,
    pub live_offers: Gauge,
}

impl Metrics {
    /// The metrics, registered in a new registry.
    pub fn registered() -> (Arc<Metrics>, Registry) {
        let metrics = Metrics {
            // 10 µs to ~5 s.
            pass_seconds: Histogram::new(exponential_buckets(0.000_01, 4.0, 10)),
            offers: Family::default(),
            tasks: Family::default(),
            agent_phases: Family::default(),
            agents: Gauge::default(),
            frameworks: Gauge::default(),
            live_offers: Gauge::default(),
        };
        let mut registry = Registry::with_prefix("strata");
        registry.register(
            "allocator_pass_duration_seconds",
            "Time an allocation pass took",
            metrics.pass_seconds.clone(),
        );
        registry.register(
            "allocator_offers",
            "Offers made, and how they ended (accepted, declined, rescinded, expired)",
            metrics.offers.clone(),
        );
        registry.register(
            "tasks",
            "Tasks staged by the master, by state",
            metrics.tasks.clone(),
        );
        registry.register(
            "agents",
            "Agents by phase: Ready, Unreachable (heartbeats missed), Gone",
            metrics.agent_phases.clone(),
        );
        registry.register(
            "allocator_agents",
            "Agents the allocator knows",
            metrics.agents.clone(),
        );
        registry.register(
            "allocator_frameworks",
            "Frameworks the allocator knows",
            metrics.frameworks.clone(),
        );
        registry.register(
            "allocator_live_offers",
            "Offers outstanding",
            metrics.live_offers.clone(),
        );
        (Arc::new(metrics), registry)
    }

    pub fn offer(&self, outcome: &'static str, n: u64) {
        self.offers.get_or_create(&Outcome { outcome }).inc_by(n);
    }

    /// A task moved from `from` to `to` (None: not counted, or gone).
    pub fn task_moved(&self, from: Option<TaskState>, to: Option<TaskState>) {
        if from == to {
            return;
        }
        let label = |s: TaskState| TaskLabel {
            state: format!("{s:?}"),
        };
        if let Some(from) = from {
            self.tasks.get_or_create(&label(from)).dec();
        }
        if let Some(to) = to {
            self.tasks.get_or_create(&label(to)).inc();
        }
    }
}

/// Serves `registry` at `/metrics` on `listener` until the process stops.
pub async fn serve(listener: tokio::net::TcpListener, registry: Registry) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(Arc::new(registry));
    axum::serve(listener, app).await
}

async fn scrape(State(registry): State<Arc<Registry>>) -> impl IntoResponse {
    let mut body = String::new();
    if let Err(e) = encode(&mut body, &registry) {
        tracing::warn!(error = %e, "could not encode the metrics");
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}
