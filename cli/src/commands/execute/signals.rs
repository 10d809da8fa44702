//! Ctrl-C and SIGTERM as a stream of interruptions.
//!
//! Why it exists: `strata execute` answers the first interruption by killing its task and
//! waiting for the kill, and a second one by giving up the wait; so an interruption is
//! something to receive again and again, not a one-shot future.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGINT and SIGTERM, received in order.
pub struct Interrupts {
    int: Signal,
    term: Signal,
}

impl Interrupts {
    /// Starts listening; from now on these signals no longer end the process.
    pub fn listen() -> std::io::Result<Interrupts> {
        Ok(Interrupts {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the next interruption.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}
