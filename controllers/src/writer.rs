//! Writes that run beside a controller's loop: bounded in number, failures logged.
//!
//! Why it exists: the controllers own their state in one actor and must never wait on the API
//! inside it; their writes run concurrently (at most `max` at once) and their effects come
//! back through the watches like anyone else's. Status is written by server-side apply with
//! the controller's field manager, so what it wrote before and leaves out now is removed (a
//! merge patch cannot clear a field that dropped to zero). Status writes of one object run one
//! at a time and only the newest waiting one is sent, so they never arrive out of order, never
//! race each other into conflicts, and a busy object costs one write at a time, not one per
//! change.
//!
//! The store answers every write with the object written; the controllers learn of their
//! writes from their watches, so [`unread`] checks an answer for an error without decoding it
//! (in `strata bench master` the allocator's staging answers alone were a Task decoded and
//! dropped per task launched).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use kube::api::{Patch, PatchParams, PostParams};
use kube::core::request::{self, Request};
use kube::{Api, Resource};
use serde_json::json;
use tokio::sync::Semaphore;

/// Runs writes beside the loop, at most `max` at once.
#[derive(Clone)]
pub struct Writer {
    slots: Arc<Semaphore>,
    /// Field manager of the status it applies.
    manager: &'static str,
    /// The newest status waiting to be written, by object; an object is in the map while a
    /// write of it runs.
    statuses: Arc<Mutex<HashMap<String, Option<serde_json::Value>>>>,
}

impl Writer {
    pub fn new(max: usize, manager: &'static str) -> Writer {
        Writer {
            slots: Arc::new(Semaphore::new(max)),
            manager,
            statuses: Arc::default(),
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

    /// Applies `status` to the object `name` of `kind` as this writer's field manager, after
    /// any write of its status under way (a newer status replaces one still waiting).
    pub fn apply_status<K>(&self, api: Api<K>, kind: &str, name: String, status: serde_json::Value)
    where
        K: Resource + Clone + Send + Sync + 'static,
    {
        let key = format!("{}/{name}", api.resource_url());
        let patch = json!({"apiVersion": strata_api::API_VERSION, "kind": kind, "status": status});
        {
            let mut waiting = self.statuses.lock().expect("status map");
            if let Some(slot) = waiting.get_mut(&key) {
                *slot = Some(patch);
                return;
            }
            waiting.insert(key.clone(), Some(patch));
        }
        let params = PatchParams::apply(self.manager).force();
        let (slots, statuses) = (self.slots.clone(), self.statuses.clone());
        let what = format!("{kind} {name} status");
        tokio::spawn(async move {
            loop {
                let next = {
                    let mut waiting = statuses.lock().expect("status map");
                    match waiting.get_mut(&key).and_then(Option::take) {
                        Some(patch) => patch,
                        None => {
                            waiting.remove(&key);
                            return;
                        }
                    }
                };
                let _permit = slots.acquire().await;
                let write = unread(&api, |r| {
                    r.patch_subresource("status", &name, &params, &Patch::Apply(&next))
                });
                if let Err(e) = write.await {
                    tracing::warn!(%what, error = %e, "a write failed");
                }
            }
        });
    }
}

/// Sends the write `build` makes of `api`'s requests; the store's answer is checked for an
/// error, and not decoded.
pub async fn unread<K: Resource + Clone>(
    api: &Api<K>,
    build: impl FnOnce(&Request) -> Result<http::Request<Vec<u8>>, request::Error>,
) -> Result<(), kube::Error> {
    let request = build(&Request::new(api.resource_url())).map_err(kube::Error::BuildRequest)?;
    api.clone()
        .into_client()
        .request_text(request)
        .await
        .map(drop)
}

/// Merge-patches the status of `name` with `patch`, the answer unread (see [`unread`]).
pub async fn merge_status<K: Resource + Clone>(
    api: &Api<K>,
    name: &str,
    patch: &serde_json::Value,
) -> Result<(), kube::Error> {
    unread(api, |r| {
        r.patch_subresource(
            "status",
            name,
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
    })
    .await
}

/// Creates `object`, the answer unread (see [`unread`]).
pub async fn create<K: Resource + Clone + serde::Serialize>(
    api: &Api<K>,
    object: &K,
) -> Result<(), kube::Error> {
    let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
    unread(api, |r| r.create(&PostParams::default(), body)).await
}
