//! strata's resource model: the custom resources of API group `strata.io`, version `v1alpha1`,
//! and the resource arithmetic they share.
//!
//! Every concept of Mesos and Marathon is a custom resource here, served by the embedded store
//! or a real Kubernetes API server alike:
//!
//! - [`Agent`] (cluster-scoped): a node offering resources.
//! - [`Framework`]: a scheduler that receives offers.
//! - [`Offer`]: resources on one agent offered to one framework.
//! - [`Task`]: one process or container on one agent, with Mesos' states.
//! - [`App`]: a Marathon app, with the scale subresource on `instances`.
//! - [`Rollout`]: one change of an App (Marathon's deployment), its plan and progress.
//! - [`ResourceRole`] (cluster-scoped): a role's weight and quota limit.
//!
//! [`resources`] holds the arithmetic (exact milli-cpus, port range sets, Mesos' text form),
//! [`conditions`] the shared status conditions, [`crds`] the generated CustomResourceDefinitions.
//!
//! This crate has no client and does no I/O (except [`crds::write_dir`], the CRD generator), so
//! every controller, the agent, the store and the CLI can depend on it, and everything in it is
//! unit-tested without a server. Every field is doc-commented: the comments become the CRD
//! schema descriptions that `kubectl explain` shows.

#![forbid(unsafe_code)]

pub mod age;
pub mod agent;
pub mod app;
pub mod conditions;
pub mod container;
pub mod crds;
pub mod framework;
pub mod health;
pub mod labels;
pub mod lean;
pub mod offer;
pub mod resources;
pub mod role;
pub mod rollout;
mod schema;
pub mod task;
pub mod validation;

pub use agent::{Agent, AgentSpec, AgentStatus};
pub use app::{App, AppSpec, AppStatus};
pub use conditions::{Condition, ConditionStatus};
pub use framework::{Framework, FrameworkSpec, FrameworkStatus};
pub use offer::{Offer, OfferSpec, OfferStatus};
pub use resources::{Cpus, PortRange, PortRanges, Resources};
pub use role::{ResourceRole, ResourceRoleSpec, ResourceRoleStatus};
pub use rollout::{Rollout, RolloutSpec, RolloutStatus};
pub use task::{Task, TaskSpec, TaskState, TaskStatus};
pub use validation::{FieldError, InvalidSpec};

/// The API group of every strata kind.
pub const GROUP: &str = "strata.io";
/// The API version of every strata kind.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of every strata object.
pub const API_VERSION: &str = "strata.io/v1alpha1";
