//! The built-in kinds every Kubernetes client expects: Namespace, Secret, ConfigMap,
//! ServiceAccount, Event, Lease, the four RBAC kinds and CustomResourceDefinition.

use std::sync::Arc;

use serde_json::json;

use crate::registry::{Registry, Resource};
use crate::schema::{Schema, builtin};
use crate::table;

struct Kind {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
}

const KINDS: &[Kind] = &[
    Kind {
        group: "",
        version: "v1",
        plural: "namespaces",
        kind: "Namespace",
        namespaced: false,
        short: &["ns"],
        status: true,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "secrets",
        kind: "Secret",
        namespaced: true,
        short: &[],
        status: false,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "configmaps",
        kind: "ConfigMap",
        namespaced: true,
        short: &["cm"],
        status: false,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "serviceaccounts",
        kind: "ServiceAccount",
        namespaced: true,
        short: &["sa"],
        status: false,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "events",
        kind: "Event",
        namespaced: true,
        short: &["ev"],
        status: false,
    },
    Kind {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        kind: "Lease",
        namespaced: true,
        short: &[],
        status: false,
    },
    Kind {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "roles",
        kind: "Role",
        namespaced: true,
        short: &[],
        status: false,
    },
    Kind {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "rolebindings",
        kind: "RoleBinding",
        namespaced: true,
        short: &[],
        status: false,
    },
    Kind {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterroles",
        kind: "ClusterRole",
        namespaced: false,
        short: &[],
        status: false,
    },
    Kind {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterrolebindings",
        kind: "ClusterRoleBinding",
        namespaced: false,
        short: &[],
        status: false,
    },
    Kind {
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short: &["crd", "crds"],
        status: true,
    },
];

/// Registers every built-in kind.
pub fn register(registry: &Registry) {
    for k in KINDS {
        let schema_json = builtin::builtin_schema(k.group, k.kind).unwrap_or_else(
            || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
        let schema = Schema::from_json(&schema_json)
            .unwrap_or_else(|e| panic!("the built-in schema of {} is invalid: {e}", k.kind));
        registry.insert(Resource {
            group: k.group.into(),
            version: k.version.into(),
            plural: k.plural.into(),
            singular: k.kind.to_lowercase(),
            kind: k.kind.into(),
            list_kind: format!("{}List", k.kind),
            namespaced: k.namespaced,
            short_names: k.short.iter().map(|s| s.to_string()).collect(),
            categories: Vec::new(),
            status: k.status,
            scale: None,
            schema,
            schema_json,
            columns: table::builtin_columns(k.kind),
            builtin: true,
            storage: Arc::from(format!("{}/{}", k.group, k.plural)),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_registers_with_a_schema() {
        let r = Registry::default();
        register(&r);
        assert_eq!(r.all().len(), KINDS.len());
        let ns = r.get("", "v1", "namespaces").unwrap();
        assert!(ns.status && !ns.namespaced);
        assert!(
            r.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
                .is_some()
        );
    }
}
