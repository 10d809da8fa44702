//! Applying one object of any kind by server-side apply, as `kubectl apply --server-side` does,
//! and saying what changed: created, configured or unchanged.
//!
//! Why it exists: a manifest may hold Apps next to ConfigMaps, Secrets or a user's own kinds;
//! discovery finds each kind's resource and scope, so anything the store serves can be
//! deployed. It never guesses a resource name from a kind.

use std::collections::HashMap;

use anyhow::anyhow;
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde_json::Value;

use super::manifests::Manifest;
use crate::commands::store_client::Connection;

/// The field manager of `strata deploy`'s applies.
pub const MANAGER: &str = "strata-deploy";

/// What applying one object did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// An object as applied.
pub struct Applied {
    /// `app/web`, `configmap/conf`, `widget.example.com/w1`: how messages name it.
    pub display: String,
    pub kind: String,
    pub group: String,
    pub namespace: Option<String>,
    pub name: String,
    /// `metadata.generation` after the apply (what a controller must observe).
    pub generation: Option<i64>,
    pub outcome: Outcome,
}

/// Applies objects, looking each kind up once.
pub struct Applier {
    connection: Connection,
    /// Namespace given with -n, if any.
    namespace: Option<String>,
    force: bool,
    kinds: HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>,
}

impl Applier {
    pub fn new(connection: Connection, namespace: Option<String>, force: bool) -> Applier {
        Applier {
            connection,
            namespace,
            force,
            kinds: HashMap::new(),
        }
    }

    /// Applies `m`; an error says which object and why, and what to do.
    pub async fn apply(&mut self, m: &Manifest) -> anyhow::Result<Applied> {
        let mut object = m.object.clone();
        let api_version = object["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.clone()),
        };
        let display = display_name(&kind, &group, &name);
        let gvk = GroupVersionKind::gvk(&group, &version, &kind);
        let (resource, capabilities) = self.kind(&gvk, &api_version, &m.source).await?;
        let client = self.connection.client.clone();
        let (api, namespace): (Api<DynamicObject>, _) = if capabilities.scope == Scope::Namespaced {
            let namespace = self.namespace_of(&object, &display, &m.source)?;
            object["metadata"]["namespace"] = Value::String(namespace.clone());
            (
                Api::namespaced_with(client, &namespace, &resource),
                Some(namespace),
            )
        } else {
            if let Some(map) = object["metadata"].as_object_mut() {
                map.remove("namespace");
            }
            (Api::all_with(client, &resource), None)
        };
        let where_ = namespace
            .as_ref()
            .map(|ns| format!(" in namespace {ns}"))
            .unwrap_or_default();
        let before = api.get_opt(&name).await.map_err(|e| {
            self.connection
                .explain(e, &format!("read {display}{where_}"))
        })?;
        let mut params = PatchParams::apply(MANAGER);
        params.force = self.force;
        let after = api
            .patch(&name, &params, &Patch::Apply(&object))
            .await
            .map_err(|e| self.refused(e, &display, &where_, &m.source))?;
        let outcome = match before {
            None => Outcome::Created,
            Some(b) if b.metadata.resource_version == after.metadata.resource_version => {
                Outcome::Unchanged
            }
            Some(_) => Outcome::Configured,
        };
        Ok(Applied {
            display,
            kind,
            group,
            namespace,
            name,
            generation: after.metadata.generation,
            outcome,
        })
    }

    /// The resource and scope of `gvk`, from discovery (once per kind).
    async fn kind(
        &mut self,
        gvk: &GroupVersionKind,
        api_version: &str,
        source: &str,
    ) -> anyhow::Result<(ApiResource, ApiCapabilities)> {
        if let Some(found) = self.kinds.get(gvk) {
            return Ok(found.clone());
        }
        let found = kube::discovery::pinned_kind(&self.connection.client, gvk)
            .await
            .map_err(|e| match e {
                kube::Error::Discovery(_) => anyhow!(
                    "{source}: the store serves no kind {} in {api_version} (kubectl \
                     api-resources lists what it serves; a custom kind needs its CRD applied \
                     first)",
                    gvk.kind
                ),
                kube::Error::Api(s) if s.code == 404 => anyhow!(
                    "{source}: the store serves no API {api_version} (kubectl api-versions lists \
                     what it serves; a custom kind needs its CRD applied first)"
                ),
                e => self
                    .connection
                    .explain(e, &format!("look up kind {} {api_version}", gvk.kind)),
            })?;
        self.kinds.insert(gvk.clone(), found.clone());
        Ok(found)
    }

    /// The namespace of a namespaced object: its own, else -n, else the kubeconfig's; its own
    /// must agree with -n (as kubectl requires).
    fn namespace_of(&self, object: &Value, display: &str, source: &str) -> anyhow::Result<String> {
        let own = object["metadata"]["namespace"]
            .as_str()
            .filter(|s| !s.is_empty());
        match (own, &self.namespace) {
            (Some(own), Some(flag)) if own != flag => Err(anyhow!(
                "{source}: {display} is in namespace {own}, not {flag} as -n says: drop -n, or \
                 give -n {own}"
            )),
            (Some(own), _) => Ok(own.to_string()),
            (None, Some(flag)) => Ok(flag.clone()),
            (None, None) => Ok(self.connection.namespace.clone()),
        }
    }

    /// The error of a refused apply.
    fn refused(&self, e: kube::Error, display: &str, where_: &str, source: &str) -> anyhow::Error {
        match e {
            kube::Error::Api(s) if s.code == 409 => anyhow!(
                "{display}{where_} ({source}): {}\nanother manager owns these fields: apply \
                 with --force-conflicts to take them over",
                s.message
            ),
            kube::Error::Api(s) if ![401, 403].contains(&s.code) => {
                anyhow!("{display}{where_} ({source}): {}", s.message)
            }
            e => self
                .connection
                .explain(e, &format!("apply {display}{where_}")),
        }
    }
}

/// How an object is named in messages: `app/web` for core and strata kinds,
/// `widget.example.com/w1` for others (kubectl's `kind.group/name`).
pub fn display_name(kind: &str, group: &str, name: &str) -> String {
    let kind = kind.to_lowercase();
    if group.is_empty() || group == "strata.io" {
        format!("{kind}/{name}")
    } else {
        format!("{kind}.{group}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_like_kubectls() {
        assert_eq!(display_name("App", "strata.io", "web"), "app/web");
        assert_eq!(display_name("ConfigMap", "", "conf"), "configmap/conf");
        assert_eq!(
            display_name("Widget", "example.com", "w1"),
            "widget.example.com/w1"
        );
    }
}
