//! Marathon as a framework: a Framework and its heartbeat Lease in every namespace with Apps,
//! suppressed when idle, revived when launches starve.
//!
//! Why it exists: the master offers resources only to registered, heartbeating frameworks that
//! ask for them; this is everything Marathon says to the master about itself.

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use strata_api::framework::{Capabilities, Framework, FrameworkSpec};

use super::{LEASE_SECONDS, Marathon, REVIVE_AFTER};
use crate::heartbeats::{framework_lease, renewal};

impl Marathon {
    /// Drops the refuse filters of the namespace's framework (a new `spec.revive`) once its
    /// launches have seen no offer for [`REVIVE_AFTER`], and again every as long.
    pub(super) fn revive(&mut self, namespace: &str, now: Timestamp) {
        let since = *self.starving.entry(namespace.to_string()).or_insert(now);
        if now.duration_since(since).as_secs_f64() < REVIVE_AFTER.as_secs_f64() {
            return;
        }
        self.starving.insert(namespace.to_string(), now);
        self.revive_now(namespace);
    }

    /// Drops the refuse filters of the namespace's framework, unless it is suppressed (then
    /// reviving by unsuppressing does it).
    pub(super) fn revive_now(&mut self, namespace: &str) {
        let Some(fw) = self.frameworks.get_mut(namespace) else {
            return;
        };
        if fw.spec.suppressed {
            return;
        }
        fw.spec.revive += 1;
        let api: Api<Framework> = Api::namespaced(self.client.clone(), namespace);
        let name = fw.name_any();
        let patch = json!({"spec": {"revive": fw.spec.revive}});
        tracing::debug!(%namespace, "reviving");
        self.writer
            .write(format!("revive {namespace}/{name}"), async move {
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(drop)
            });
    }

    /// Sets the namespace's framework suppressed (nothing to launch) or revived.
    pub(super) fn suppress(&mut self, namespace: &str, suppressed: bool) {
        let Some(fw) = self.frameworks.get_mut(namespace) else {
            return;
        };
        if fw.spec.suppressed == suppressed {
            return;
        }
        fw.spec.suppressed = suppressed;
        let api: Api<Framework> = Api::namespaced(self.client.clone(), namespace);
        let name = fw.name_any();
        let patch = json!({"spec": {"suppressed": suppressed}});
        self.writer.write(
            format!("suppress {namespace}/{name}: {suppressed}"),
            async move {
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(drop)
            },
        );
    }

    /// Registers our Framework (and its Lease) in `namespace` unless there is one.
    pub(super) fn ensure_framework(&mut self, namespace: &str) {
        if self.frameworks.contains_key(namespace)
            || !self.registering.insert(namespace.to_string())
        {
            return;
        }
        let name = self.settings.framework.clone();
        tracing::info!(%namespace, framework = %name, "registering the Marathon framework");
        let framework = Framework {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.to_string()),
                ..ObjectMeta::default()
            },
            spec: FrameworkSpec {
                role: self.settings.role.clone(),
                capabilities: Capabilities {
                    partition_aware: true,
                    ..Capabilities::default()
                },
                ..FrameworkSpec::default()
            },
            status: None,
        };
        let frameworks: Api<Framework> = Api::namespaced(self.client.clone(), namespace);
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), namespace);
        let lease = framework_lease(&name, LEASE_SECONDS);
        self.writer
            .write(format!("register {namespace}/{name}"), async move {
                for created in [
                    frameworks
                        .create(&PostParams::default(), &framework)
                        .await
                        .map(drop),
                    leases
                        .create(&PostParams::default(), &lease)
                        .await
                        .map(drop),
                ] {
                    match created {
                        Err(kube::Error::Api(e)) if e.code == 409 => {}
                        other => other?,
                    }
                }
                Ok(())
            });
    }

    /// Renews the heartbeat Lease of our Framework in every namespace that has one.
    pub(super) fn renew_leases(&self) {
        let name = self.settings.framework.clone();
        for namespace in self.frameworks.keys() {
            let leases: Api<Lease> = Api::namespaced(self.client.clone(), namespace);
            let name = name.clone();
            let renew = renewal();
            self.writer
                .write(format!("renew {namespace}/{name}"), async move {
                    match leases
                        .patch(&name, &PatchParams::default(), &Patch::Merge(&renew))
                        .await
                    {
                        Err(kube::Error::Api(e)) if e.code == 404 => leases
                            .create(
                                &PostParams::default(),
                                &framework_lease(&name, LEASE_SECONDS),
                            )
                            .await
                            .map(drop),
                        other => other.map(drop),
                    }
                });
        }
    }
}
