//! Writes that run beside a controller's loop: bounded in number, failures logged.
//!
//! Why it exists: the controllers own their state in one actor and must never wait on the API
//! inside it; their writes run concurrently (at most `max` at once) and their effects come
//! back through the watches like anyone else's. Status is written by server-side apply with
//! the controller's field manager, so what it wrote before and leaves out now is removed (a
//! merge patch cannot clear a field that dropped to zero).

use std::future::Future;
use std::sync::Arc;

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde_json::json;
use tokio::sync::Semaphore;

/// Runs writes beside the loop, at most `max` at once.
#[derive(Clone)]
pub struct Writer {
    slots: Arc<Semaphore>,
    /// Field manager of the status it applies.
    manager: &'static str,
}

impl Writer {
    pub fn new(max: usize, manager: &'static str) -> Writer {
        Writer {
            slots: Arc::new(Semaphore::new(max)),
            manager,
        }
    }

    /// Runs `write` beside the loop; a failure is logged with `what`.
    pub fn write(
        &self,
        what: String,
        write: impl Future<Output = Result<(), kube::Error>> + Send + 'static,
    ) {
        let slots = self.slots.clone();
        tokio::spawn(async move {
            let _permit = slots.acquire_owned().await;
            if let Err(e) = write.await {
                tracing::warn!(%what, error = %e, "a write failed");
            }
        });
    }

    /// Applies `status` to the object `name` of `kind` as this writer's field manager.
    pub fn apply_status<K>(&self, api: Api<K>, kind: &str, name: String, status: serde_json::Value)
    where
        K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + 'static,
    {
        let patch = json!({"apiVersion": strata_api::API_VERSION, "kind": kind, "status": status});
        let params = PatchParams::apply(self.manager).force();
        self.write(format!("{kind} {name} status"), async move {
            api.patch_status(&name, &params, &Patch::Apply(&patch))
                .await
                .map(drop)
        });
    }
}
