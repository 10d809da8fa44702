//! strata's controllers: ordinary Kubernetes API clients that reconcile the strata.io kinds.
//!
//! - [`allocator`]: the Mesos master — offers agents' free resources to frameworks in
//!   weighted-DRF order, checks the tasks they launch against their offers, and keeps the
//!   accounting (agents' and frameworks' allocations) in the objects' status.
//! - [`lifecycle`]: agents' liveness (Ready, Unreachable, Gone), drains, and frameworks that
//!   went away.
//! - [`marathon`]: Marathon — keeps each App's instances running as tasks launched on offers,
//!   rolls out new versions, and reports why it waits.
//!
//! Like the agent, nothing here reaches into the store: the same controllers run against the
//! embedded store and a real Kubernetes API server.

#![forbid(unsafe_code)]

pub mod allocator;
pub mod heartbeats;
pub mod lifecycle;
pub mod marathon;
pub mod metrics;
pub mod watches;
pub mod writer;
