//! The simulated executor: tasks that pass through their states with configured timings and
//! use nothing of the machine.
//!
//! Why it exists: the master and Marathon must be measured at thousands of agents, which one
//! machine cannot run for real. Like kwok for Kubernetes, a simulated agent is a real API client
//! (registration, heartbeats, watches, status writes) whose tasks are only timers.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use strata_api::task::TaskSpec;
use tokio::sync::watch;

use super::{Executor, Handle, Launch, LaunchError, Outcome, Record};

/// How long simulated tasks take.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    /// From launch to Running.
    pub start: Duration,
    /// From Running to Finished; None runs until killed.
    pub run: Option<Duration>,
}

pub struct SimulatedExecutor {
    pub timings: Timings,
}

impl Executor for SimulatedExecutor {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn runs(&self, _spec: &TaskSpec) -> bool {
        true
    }

    fn launch<'a>(
        &'a self,
        _launch: &'a Launch,
    ) -> BoxFuture<'a, Result<Box<dyn Handle>, LaunchError>> {
        async move {
            tokio::time::sleep(self.timings.start).await;
            Ok(SimulatedHandle::start(self.timings.run))
        }
        .boxed()
    }

    fn adopt<'a>(&'a self, _record: &'a Record) -> BoxFuture<'a, Box<dyn Handle>> {
        // Simulated agents keep nothing on disk; what they ran ended with them.
        let handle = SimulatedHandle::start(Some(Duration::ZERO));
        async move { handle }.boxed()
    }
}

struct SimulatedHandle {
    outcome: watch::Receiver<Option<Outcome>>,
    tx: Arc<watch::Sender<Option<Outcome>>>,
}

impl SimulatedHandle {
    fn start(run: Option<Duration>) -> Box<dyn Handle> {
        let (tx, outcome) = watch::channel(None);
        let tx = Arc::new(tx);
        if let Some(run) = run {
            let tx = tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(run).await;
                tx.send_if_modified(|o| {
                    o.get_or_insert(Outcome {
                        exit_code: Some(0),
                        ..Outcome::default()
                    });
                    true
                });
            });
        }
        Box::new(SimulatedHandle { outcome, tx })
    }
}

impl Handle for SimulatedHandle {
    fn record_data(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    fn wait(&self) -> BoxFuture<'_, Outcome> {
        async move {
            let mut rx = self.outcome.clone();
            let done = rx.wait_for(Option::is_some).await;
            done.map(|o| o.clone().unwrap_or_default())
                .unwrap_or_default()
        }
        .boxed()
    }

    fn kill(&self, _grace: Duration) {
        self.tx.send_if_modified(|o| {
            o.get_or_insert(Outcome {
                signal: Some(libc::SIGTERM),
                ..Outcome::default()
            });
            true
        });
    }

    fn exec<'a>(&'a self, _command: &'a str) -> BoxFuture<'a, anyhow::Result<i32>> {
        async { Ok(0) }.boxed()
    }

    fn cleanup(&self) -> BoxFuture<'_, ()> {
        async {}.boxed()
    }
}
