//! The default RBAC policy the server applies at every start, as kube-apiserver reconciles its
//! bootstrap roles: `cluster-admin` for `system:masters`, discovery and health for every user
//! (`system:discovery`, `system:public-info-viewer`), self-reviews (`system:basic-user`), and
//! `strata:agent`, the verbs every agent needs (narrowed to each agent's own objects by the agent
//! restriction). A default object annotated `rbac.authorization.kubernetes.io/autoupdate: "false"`
//! is left as the operator changed it.

use serde_json::{Value, json};

/// The ClusterRole every agent's ClusterRoleBinding refers to.
pub const AGENT_ROLE: &str = "strata:agent";
/// The annotation that stops the server from restoring a default object.
pub const AUTOUPDATE: &str = "rbac.authorization.kubernetes.io/autoupdate";

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "annotations": {AUTOUPDATE: "true"},
                     "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "rules": rules,
    })
}

fn binding(name: &str, role: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": g}))
        .collect();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "annotations": {AUTOUPDATE: "true"},
                     "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

/// The default ClusterRoles, then the default ClusterRoleBindings.
pub fn policy() -> Vec<Value> {
    let health = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
    let mut discovery: Vec<&str> = vec![
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/openapi",
        "/openapi/*",
    ];
    discovery.extend(health);
    vec![
        cluster_role(
            "cluster-admin",
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                   {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        ),
        cluster_role(
            "system:discovery",
            json!([{"nonResourceURLs": discovery, "verbs": ["get"]}]),
        ),
        cluster_role(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": health, "verbs": ["get"]}]),
        ),
        cluster_role(
            "system:basic-user",
            json!([{"apiGroups": ["authorization.k8s.io"],
                    "resources": ["selfsubjectaccessreviews"], "verbs": ["create"]},
                   {"apiGroups": ["authentication.k8s.io"],
                    "resources": ["selfsubjectreviews"], "verbs": ["create"]}]),
        ),
        cluster_role(
            AGENT_ROLE,
            json!([
                {"apiGroups": ["strata.io"], "resources": ["agents"],
                 "verbs": ["get", "list", "watch", "create", "patch", "update"]},
                {"apiGroups": ["strata.io"], "resources": ["agents/status"],
                 "verbs": ["patch", "update"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                 "verbs": ["get", "create", "update", "patch"]},
                {"apiGroups": ["strata.io"], "resources": ["tasks"],
                 "verbs": ["get", "list", "watch", "patch", "update"]},
                {"apiGroups": ["strata.io"], "resources": ["tasks/status"],
                 "verbs": ["get", "patch", "update"]},
                {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            ]),
        ),
        binding("cluster-admin", "cluster-admin", &["system:masters"]),
        binding(
            "system:discovery",
            "system:discovery",
            &["system:authenticated"],
        ),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
        binding(
            "system:basic-user",
            "system:basic-user",
            &["system:authenticated"],
        ),
    ]
}
