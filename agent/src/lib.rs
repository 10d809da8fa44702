//! The node agent: registers an Agent, renews its heartbeat Lease, watches the Tasks bound to
//! it and drives each to its desired state through an executor (process, docker, simulated),
//! keeps each task's sandbox and serves it over HTTP, and adopts what it launched after a
//! restart.

pub mod cgroups;
pub mod connect;
pub mod daemon;
pub mod env;
pub mod executor;
pub mod files;
pub mod fixtures;
pub mod health;
pub mod lifecycle;
pub mod machine;
pub mod readiness;
pub mod registration;
pub mod report;
pub mod sandbox_client;
pub mod supervisor;
pub mod workdir;
