//! Apps being deleted: their tasks stop in reverse dependency order, then the App goes; and the
//! finalizer that makes that possible.
//!
//! Why it exists: Kubernetes' garbage collector would kill an app's tasks all at once and in any
//! order; Marathon stops a group's apps in reverse dependency order.

use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use strata_api::app::App;
use strata_api::task::Task;

use super::{FINALIZER, Marathon, split};

impl Marathon {
    /// An app being deleted: once the apps that depend on it (and are going too) have no
    /// tasks left, its tasks are killed; once they are gone, the finalizer is released.
    pub(super) fn stop_deleted(&mut self, k: &str) {
        let (namespace, name) = split(k);
        let entry = &self.apps[k];
        let Some(app) = &entry.app else { return };
        if !app.finalizers().iter().any(|f| f == FINALIZER) {
            return;
        }
        let dependents_running = self.apps.iter().any(|(other, e)| {
            other != k
                && split(other).0 == namespace
                && e.app.as_ref().is_some_and(|a| {
                    a.metadata.deletion_timestamp.is_some()
                        && a.spec.dependencies.iter().any(|d| d == name)
                })
                && !e.tasks.is_empty()
        });
        if dependents_running {
            return;
        }
        let api: Api<Task> = Api::namespaced(self.client.clone(), namespace);
        let mut victims = Vec::new();
        if let Some(entry) = self.apps.get_mut(k) {
            for t in entry.tasks.values_mut().filter(|t| !t.instance.deleting) {
                t.instance.deleting = true;
                victims.push(t.instance.name.clone());
            }
        }
        for victim in victims {
            let api = api.clone();
            self.writer
                .write(format!("stop task {victim}"), async move {
                    api.delete(&victim, &DeleteParams::default())
                        .await
                        .map(drop)
                });
        }
        let Some(app) = self.apps[k].app.clone() else {
            return;
        };
        if self.apps[k].tasks.is_empty() && self.once_per_version(k, &app) {
            let finalizers: Vec<&String> = app
                .finalizers()
                .iter()
                .filter(|f| *f != FINALIZER)
                .collect();
            let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": app.resource_version()}});
            let api: Api<App> = Api::namespaced(self.client.clone(), namespace);
            let name = name.to_string();
            tracing::info!(app = %k, "app stopped; releasing it");
            self.writer
                .write(format!("release app {name}"), async move {
                    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .map(drop)
                });
        }
    }

    /// Whether a metadata write for this version of the app is yet to be sent: such writes go
    /// once per resourceVersion, and again only when the app changed (e.g. if one failed).
    pub(super) fn once_per_version(&mut self, k: &str, app: &App) -> bool {
        let entry = self.apps.get_mut(k).expect("apps acted on have entries");
        let version = app.resource_version();
        if entry.metadata_sent_for == version {
            return false;
        }
        entry.metadata_sent_for = version;
        true
    }

    /// Adds the finalizer: the whole list, without a precondition, so sending it twice is
    /// harmless and a concurrent status write does not make it fail.
    pub(super) fn add_finalizer(&self, app: &App) {
        let mut finalizers: Vec<String> = app.finalizers().to_vec();
        finalizers.push(FINALIZER.to_string());
        let patch = json!({"metadata": {"finalizers": finalizers}});
        let api: Api<App> =
            Api::namespaced(self.client.clone(), &app.namespace().unwrap_or_default());
        let name = app.name_any();
        self.writer
            .write(format!("finalizer on app {name}"), async move {
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(drop)
            });
    }
}
