//! RBAC: what a user may do, decided with the standard rbac.authorization.k8s.io/v1 objects
//! (Role, RoleBinding, ClusterRole, ClusterRoleBinding) this server stores, so what a tenant or
//! an agent is granted here is granted the same way on a real cluster.
//!
//! Why a cache: every request is authorized, so the decision must not read or parse stored
//! objects. [`Authorizer`] keeps a parsed snapshot of the four kinds, indexed by the user or group
//! each binding names, and the write path rebuilds it right after any RBAC object is committed
//! ([`Authorizer::reload`]), so a binding applies to the very next request, deterministically.
//! Deciding is then a few hash lookups plus the rules of the roles bound to this user.
//!
//! Semantics (kube-apiserver's RBAC authorizer): members of `system:masters` may do everything;
//! otherwise a request is allowed when any rule of a role bound to the user, one of its groups, or
//! (for ServiceAccount subjects) `system:serviceaccount:<ns>:<name>` allows it. ClusterRoleBindings
//! apply everywhere; RoleBindings only to requests in their namespace. Nothing is ever denied
//! explicitly. Bindings to roles that do not exist grant nothing and are named in the reason.
//! Not supported: ClusterRole `aggregationRule` (the rules of an aggregated role are only those it
//! lists itself).
//!
//! What it must never do: allow a request that no rule allows, or read storage per request.

pub mod bootstrap;
pub mod rules;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use serde::de::DeserializeOwned;

use crate::auth::{MASTERS_GROUP, UserInfo};
use crate::authz::Attributes;
use crate::storage::Storage;

pub const GROUP: &str = "rbac.authorization.k8s.io";

/// The user name a ServiceAccount authenticates as.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// RBAC's answer, with the reason kube-apiserver gives (which binding allowed it, or which bound
/// roles were missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// One binding of a role to a user or group, as indexed.
#[derive(Debug)]
struct Grant {
    /// `ClusterRoleBinding "x"` or `RoleBinding "ns/x"`.
    binding: String,
    /// The subject as named in messages: `User "alice"`, `Group "g"`, `ServiceAccount "ns/sa"`.
    subject: String,
    role: RoleRef,
}

/// Bindings by namespace (empty for ClusterRoleBindings), then by user or group name.
type Grants = HashMap<String, HashMap<String, Vec<Grant>>>;

/// The parsed RBAC objects at one moment.
#[derive(Debug, Default)]
struct Snapshot {
    roles: HashMap<(String, String), Vec<PolicyRule>>,
    cluster_roles: HashMap<String, Vec<PolicyRule>>,
    users: Grants,
    groups: Grants,
}

/// Decides requests against a cached snapshot of the RBAC objects.
#[derive(Debug, Default)]
pub struct Authorizer {
    snapshot: RwLock<Arc<Snapshot>>,
    /// Held while a snapshot is built and installed, so that of two concurrent reloads the one
    /// that read storage last is the one that stays.
    reloading: Mutex<()>,
}

impl Authorizer {
    /// Rebuilds the snapshot from what `storage` holds now.
    pub fn reload(&self, storage: &Storage) {
        let _serial = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let mut snap = Snapshot::default();
        for role in objects::<Role>(storage, "roles") {
            let ns = role.metadata.namespace.unwrap_or_default();
            let name = role.metadata.name.unwrap_or_default();
            snap.roles
                .insert((ns, name), role.rules.unwrap_or_default());
        }
        for role in objects::<ClusterRole>(storage, "clusterroles") {
            let name = role.metadata.name.unwrap_or_default();
            snap.cluster_roles
                .insert(name, role.rules.unwrap_or_default());
        }
        for b in objects::<ClusterRoleBinding>(storage, "clusterrolebindings") {
            if b.role_ref.kind != "ClusterRole" {
                continue;
            }
            let binding = format!(
                "ClusterRoleBinding {:?}",
                b.metadata.name.unwrap_or_default()
            );
            snap.index("", &binding, &b.role_ref, b.subjects.as_deref());
        }
        for b in objects::<RoleBinding>(storage, "rolebindings") {
            let ns = b.metadata.namespace.clone().unwrap_or_default();
            let binding = format!(
                "RoleBinding \"{ns}/{}\"",
                b.metadata.name.unwrap_or_default()
            );
            snap.index(&ns, &binding, &b.role_ref, b.subjects.as_deref());
        }
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snap);
    }

    /// Whether `user` may make the request `attrs` describes.
    pub fn decide(&self, user: &UserInfo, attrs: &Attributes) -> Decision {
        if user.groups.iter().any(|g| g == MASTERS_GROUP) {
            return Decision {
                allowed: true,
                reason: format!("RBAC: allowed to group {MASTERS_GROUP:?}"),
            };
        }
        let snap = self
            .snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let namespaces: &[&str] = if attrs.namespace.is_empty() {
            &[""]
        } else {
            &["", attrs.namespace.as_str()]
        };
        let mut missing = Vec::new();
        for ns in namespaces {
            let candidates = snap
                .users
                .get(*ns)
                .and_then(|m| m.get(&user.name))
                .into_iter()
                .chain(
                    user.groups
                        .iter()
                        .filter_map(|g| snap.groups.get(*ns).and_then(|m| m.get(g))),
                )
                .flatten();
            for grant in candidates {
                let rules = match grant.role.kind.as_str() {
                    "ClusterRole" => snap.cluster_roles.get(&grant.role.name),
                    _ => snap.roles.get(&(ns.to_string(), grant.role.name.clone())),
                };
                let Some(rules) = rules else {
                    missing.push(format!(
                        "{}.{GROUP} {:?} not found",
                        grant.role.kind.to_lowercase(),
                        grant.role.name
                    ));
                    continue;
                };
                if rules.iter().any(|r| rules::allows(r, attrs)) {
                    return Decision {
                        allowed: true,
                        reason: format!(
                            "RBAC: allowed by {} of {} {:?} to {}",
                            grant.binding, grant.role.kind, grant.role.name, grant.subject
                        ),
                    };
                }
            }
        }
        missing.sort();
        missing.dedup();
        Decision {
            allowed: false,
            reason: if missing.is_empty() {
                String::new()
            } else {
                format!("RBAC: [{}]", missing.join(", "))
            },
        }
    }
}

impl Snapshot {
    /// Indexes one binding (in `ns`, empty for a ClusterRoleBinding) under each of its subjects.
    fn index(&mut self, ns: &str, binding: &str, role: &RoleRef, subjects: Option<&[Subject]>) {
        for s in subjects.unwrap_or_default() {
            let (map, key, subject) = match s.kind.as_str() {
                "User" => (
                    &mut self.users,
                    s.name.clone(),
                    format!("User {:?}", s.name),
                ),
                "Group" => (
                    &mut self.groups,
                    s.name.clone(),
                    format!("Group {:?}", s.name),
                ),
                "ServiceAccount" => {
                    // In a RoleBinding the subject's namespace defaults to the binding's.
                    let sa_ns = s
                        .namespace
                        .as_deref()
                        .filter(|n| !n.is_empty())
                        .unwrap_or(ns);
                    if sa_ns.is_empty() {
                        continue;
                    }
                    (
                        &mut self.users,
                        service_account_user(sa_ns, &s.name),
                        format!("ServiceAccount \"{sa_ns}/{}\"", s.name),
                    )
                }
                _ => continue,
            };
            map.entry(ns.to_string())
                .or_default()
                .entry(key)
                .or_default()
                .push(Grant {
                    binding: binding.to_string(),
                    subject,
                    role: role.clone(),
                });
        }
    }
}

/// Every stored object of one RBAC resource that parses (a malformed one grants nothing).
fn objects<T: DeserializeOwned>(storage: &Storage, plural: &str) -> Vec<T> {
    let (stored, _, _) = storage.list(&format!("{GROUP}/{plural}"), None, None, |_| true, None);
    stored
        .iter()
        .filter_map(|o| match serde_json::from_slice(&o.json) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(resource = plural, name = %o.key.name, error = %e, "ignoring an RBAC object that does not parse");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn storage_with(objects: &[serde_json::Value]) -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&dir.path().join("s.redb"), Default::default()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for o in objects {
            let plural = match o["kind"].as_str().unwrap() {
                "Role" => "roles",
                "ClusterRole" => "clusterroles",
                "RoleBinding" => "rolebindings",
                _ => "clusterrolebindings",
            };
            let key = crate::storage::ObjectKey::new(
                &Arc::from(format!("{GROUP}/{plural}")),
                o["metadata"]["namespace"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap(),
            );
            rt.block_on(storage.commit_one(crate::storage::Op::Put {
                key,
                object: o.clone(),
                expect: crate::storage::Expect::Absent,
            }))
            .unwrap();
        }
        (dir, storage)
    }

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn get_cm(ns: &str) -> Attributes {
        Attributes {
            verb: "get".into(),
            resource_request: true,
            resource: "configmaps".into(),
            namespace: ns.into(),
            name: "c".into(),
            ..Default::default()
        }
    }

    fn fixture() -> (tempfile::TempDir, Authorizer) {
        let rules = json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]);
        let (dir, storage) = storage_with(&[
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": {"name": "reader", "namespace": "a"}, "rules": rules}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                   "metadata": {"name": "cm-reader"}, "rules": rules}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "b", "namespace": "a"},
                   "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "reader"},
                   "subjects": [{"kind": "ServiceAccount", "name": "sa"},
                                {"kind": "User", "name": "alice", "apiGroup": GROUP}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "c", "namespace": "b"},
                   "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "cm-reader"},
                   "subjects": [{"kind": "Group", "name": "readers", "apiGroup": GROUP}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": "everywhere"},
                   "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "cm-reader"},
                   "subjects": [{"kind": "User", "name": "carol", "apiGroup": GROUP}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": "dangling"},
                   "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "gone"},
                   "subjects": [{"kind": "User", "name": "dave", "apiGroup": GROUP}]}),
        ]);
        let authz = Authorizer::default();
        authz.reload(&storage);
        (dir, authz)
    }

    #[test]
    fn bindings_grant_in_their_scope_only() {
        let (_dir, authz) = fixture();
        let allowed = |u: &UserInfo, ns: &str| authz.decide(u, &get_cm(ns)).allowed;
        let sa = user("system:serviceaccount:a:sa", &["system:serviceaccounts"]);
        assert!(allowed(&sa, "a"));
        assert!(!allowed(&sa, "b"));
        assert!(!allowed(&user("system:serviceaccount:b:sa", &[]), "a"));
        assert!(allowed(&user("alice", &[]), "a"));
        assert!(!allowed(&user("alice", &[]), "b"));
        assert!(allowed(&user("bob", &["readers"]), "b"));
        assert!(!allowed(&user("bob", &["readers"]), "a"));
        assert!(allowed(&user("carol", &[]), "anywhere"));
        assert!(allowed(&user("root", &[MASTERS_GROUP]), "x"));
        assert!(!allowed(&user("nobody", &["system:authenticated"]), "a"));
        let d = authz.decide(&user("alice", &[]), &get_cm("a"));
        assert_eq!(
            d.reason,
            "RBAC: allowed by RoleBinding \"a/b\" of Role \"reader\" to User \"alice\""
        );
    }

    #[test]
    fn missing_roles_grant_nothing_and_are_named() {
        let (_dir, authz) = fixture();
        let d = authz.decide(&user("dave", &[]), &get_cm("a"));
        assert_eq!(
            d,
            Decision {
                allowed: false,
                reason: "RBAC: [clusterrole.rbac.authorization.k8s.io \"gone\" not found]".into()
            }
        );
    }
}
