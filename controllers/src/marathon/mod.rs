//! Marathon: Apps kept running as Tasks launched on offers, rolled out by Rollouts.
//!
//! - [`actions`]: what users do to an app beyond editing it (scale, suspend, restart, roll back,
//!   kill), for the CLI and the console alike.
//! - [`plan`]: what one app needs now — kills and launches within its upgrade strategy.
//! - [`placement`]: whether an instance fits an offer, and why not (Marathon's queue reasons).
//! - [`launch`]: the Task of one instance.
//! - [`status`]: the App's and Rollout's status, conditions and reasons.
//! - [`backoff`]: the crash-loop delay.
//! - [`ids`]: Marathon path ids and Kubernetes namespaces and names.
//! - [`controller`]: the watches, the passes and the writes.

pub mod actions;
pub mod backoff;
pub mod controller;
pub mod ids;
pub mod launch;
pub mod placement;
pub mod plan;
pub mod status;
