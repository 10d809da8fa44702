//! The allocator: Mesos' master, as a controller over Agents, Frameworks, ResourceRoles,
//! Offers and Tasks.
//!
//! [`model`] is the pure state and allocation pass (weighted DRF, refuse filters, quota,
//! launch checks); [`drf`] and [`filters`] its two data structures; the controller feeds the
//! model from watches and writes what it decides.

pub mod controller;
pub mod drf;
pub mod filters;
pub mod model;

pub use model::{
    AgentInfo, Allocation, Config, FrameworkInfo, Model, RoleInfo, Settlement, Verdict,
};
