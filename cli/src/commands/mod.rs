//! One module per subcommand: argument parsing and wiring, nothing more.

pub mod bench;
pub mod crds;
pub mod server;
