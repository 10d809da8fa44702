//! One module per subcommand: argument parsing and wiring, nothing more.

pub mod agent;
pub mod agent_token;
pub mod app;
pub mod apps;
pub mod bench;
pub mod completions;
pub mod console;
pub mod controllers;
pub mod crds;
pub mod deploy;
pub mod duration;
pub mod execute;
pub mod logs;
pub mod server;
pub mod store_client;
pub mod table;
pub mod up;
