//! The lifecycle controller: Mesos' master keeping agents and frameworks honest over time.
//!
//! An agent whose heartbeat Lease goes stale is Unreachable (its tasks Unreachable for
//! partition-aware frameworks, Lost for the others) and, after the re-registration timeout,
//! Gone for good; an operator may mark it gone (`spec.gone`) or drain it (`spec.drain`: its
//! tasks are killed, within the drain's grace period). A framework that stays disconnected past
//! its `failoverTimeoutSeconds`, or whose Framework is deleted, has its tasks killed.
//!
//! [`model`] holds the rules, pure; [`controller`] feeds it from watches and writes what it
//! decides. It runs beside the allocator in `strata controllers`, which stops offering an
//! agent as soon as it is unreachable, cordoned, draining or gone.

pub mod controller;
pub mod model;

pub use model::{Action, AgentFacts, Config, Lifecycle, Phase, TaskFacts};
