//! The resources this server serves: the built-in kinds and every established CRD.
//!
//! Discovery, OpenAPI, request routing, validation and tables all read from here. A CRD write
//! updates the registry right after it is committed, so a new kind can be used at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};

use crate::schema::Schema;
use crate::table::Column;

pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Where the scale subresource reads and writes (`subresources.scale` of a CRD).
#[derive(Debug, Clone)]
pub struct ScalePaths {
    /// e.g. `.spec.instances`
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// One served resource at one group/version.
#[derive(Debug)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// A `/status` subresource exists: the main resource cannot change status and vice versa.
    pub status: bool,
    pub scale: Option<ScalePaths>,
    /// The structural schema of the whole object.
    pub schema: Schema,
    /// The same schema as OpenAPI JSON, for `/openapi/v3`.
    pub schema_json: Value,
    pub columns: Vec<Column>,
    /// A built-in kind: accepts strategic merge patch, has Go-defined semantics.
    pub builtin: bool,
    /// The storage key shared by all versions: `"<group>/<plural>"`.
    pub storage: Arc<str>,
}

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group` as Kubernetes names resources in messages (`apps.strata.io`).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The resource's entry in an APIResourceList, plus its subresources.
    pub fn discovery(&self) -> Vec<Value> {
        let mut main = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ALL_VERBS,
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            main["categories"] = json!(self.categories);
        }
        let mut out = vec![main];
        if self.status {
            out.push(json!({
                "name": format!("{}/status", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if self.scale.is_some() {
            out.push(json!({
                "name": format!("{}/scale", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        out
    }
}

/// (group, version, plural)
type Gvr = (String, String, String);

/// All served resources, keyed by (group, version, plural).
#[derive(Default)]
pub struct Registry {
    inner: RwLock<BTreeMap<Gvr, Arc<Resource>>>,
    /// CRD name -> the keys it registered, so an update or delete removes what it added.
    crds: RwLock<HashMap<String, Vec<Gvr>>>,
}

impl Registry {
    pub fn insert(&self, r: Resource) {
        let key = (r.group.clone(), r.version.clone(), r.plural.clone());
        self.write().insert(key, Arc::new(r));
    }

    /// Replaces everything a CRD registered with `resources`.
    pub fn set_crd(&self, crd_name: &str, resources: Vec<Resource>) {
        let mut crds = self.crds.write().unwrap_or_else(|e| e.into_inner());
        let mut inner = self.write();
        for key in crds.remove(crd_name).unwrap_or_default() {
            inner.remove(&key);
        }
        let keys: Vec<_> = resources
            .into_iter()
            .map(|r| {
                let key = (r.group.clone(), r.version.clone(), r.plural.clone());
                inner.insert(key.clone(), Arc::new(r));
                key
            })
            .collect();
        crds.insert(crd_name.to_string(), keys);
    }

    pub fn remove_crd(&self, crd_name: &str) {
        self.set_crd(crd_name, Vec::new());
        self.crds
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(crd_name);
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Resource>> {
        self.read()
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// The resource of `kind` in `group` at `version`.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<Resource>> {
        self.read()
            .values()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .cloned()
    }

    /// Every resource at one group/version.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<Resource>> {
        self.read()
            .values()
            .filter(|r| r.group == group && r.version == version)
            .cloned()
            .collect()
    }

    /// Every served resource.
    pub fn all(&self) -> Vec<Arc<Resource>> {
        self.read().values().cloned().collect()
    }

    /// One resource per storage key (the preferred version), e.g. for garbage collection.
    pub fn storage_resources(&self) -> Vec<Arc<Resource>> {
        let mut seen = HashMap::new();
        for r in self.read().values() {
            seen.entry(r.storage.clone()).or_insert_with(|| r.clone());
        }
        seen.into_values().collect()
    }

    /// Groups with their versions, the core group excluded, in a stable order.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (g, v, _) in self.read().keys() {
            if g.is_empty() {
                continue;
            }
            let versions = out.entry(g.clone()).or_default();
            if !versions.contains(v) {
                versions.push(v.clone());
            }
        }
        out.into_iter().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Gvr, Arc<Resource>>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<Gvr, Arc<Resource>>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}
