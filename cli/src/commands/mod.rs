//! One module per subcommand: argument parsing and wiring, nothing more.

pub mod agent;
pub mod agent_token;
pub mod app;
pub mod bench;
pub mod controllers;
pub mod crds;
pub mod duration;
pub mod execute;
pub mod in_process;
pub mod logs;
pub mod server;
pub mod store_client;
pub mod up;
