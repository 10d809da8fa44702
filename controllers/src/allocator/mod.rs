//! The allocator: Mesos' master, as a controller over Agents, Frameworks, ResourceRoles,
//! Offers and Tasks.
//!
//! [`model`] is the pure state and allocation pass (weighted DRF, refuse filters, quota,
//! launch checks), with its data structures [`drf`], [`filters`] and [`slots`];
//! [`controller`] feeds the model from watches (liveness through [`crate::heartbeats`]) and
//! writes what it decides.

pub mod controller;
pub mod drf;
pub mod filters;
pub mod model;
mod slots;

pub use model::{
    AgentInfo, Allocation, Changed, Config, FrameworkInfo, Model, RoleInfo, Settlement, Verdict,
};
