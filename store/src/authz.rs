//! Authorization of every request: its attributes (verb, resource, namespace, name, or the path of
//! a non-resource request, as kube-apiserver's RequestInfo resolver derives them), the chain of
//! authorizers (RBAC, then the agent restriction), the 403 Status kube-apiserver answers a denied
//! request with, and SelfSubjectAccessReview, which asks the same chain (`kubectl auth can-i`).
//!
//! Why it exists: the HTTP layer and SelfSubjectAccessReview must give the same answer, and a
//! denial must read exactly as kube-apiserver's so that people and tools recognise it.

use http::Method;
use serde_json::{Value, json};

use crate::agent_restriction::AgentRestriction;
use crate::auth::UserInfo;
use crate::errors::{ApiError, ApiResult};
use crate::request::{Query, Target, parse_path};
use crate::server::ApiServer;

/// What a request asks to do, as authorizers see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// get, list, watch, create, update, patch, delete, deletecollection; for non-resource
    /// requests the lowercase HTTP method.
    pub verb: String,
    /// A request for an API resource (else for a path such as `/apis` or `/healthz`).
    pub resource_request: bool,
    /// The request path (non-resource requests).
    pub path: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    /// Empty for cluster-scoped and all-namespace requests.
    pub namespace: String,
    /// Empty when the request names no object (list, create by POST to the collection).
    pub name: String,
    /// The `labelSelector` of a list or watch.
    pub label_selector: Option<String>,
}

impl Attributes {
    /// The attributes of an HTTP request.
    pub fn of_request(method: &Method, path: &str, query: Option<&str>) -> Attributes {
        let Some(Target::Resource(rp)) = parse_path(path) else {
            return Attributes {
                verb: method.as_str().to_lowercase(),
                path: path.to_string(),
                ..Default::default()
            };
        };
        // A query that does not parse is refused by the handler; authorize it as a plain list.
        let q = Query::parse(query).unwrap_or_default();
        let named = rp.name.is_some();
        let verb = match *method {
            Method::GET | Method::HEAD if named => "get",
            Method::GET | Method::HEAD if q.watch => "watch",
            Method::GET | Method::HEAD => "list",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE if named => "delete",
            Method::DELETE => "deletecollection",
            _ => {
                return Attributes {
                    verb: method.as_str().to_lowercase(),
                    resource_request: true,
                    ..Default::default()
                };
            }
        };
        // A list or watch pinned to one name (`kubectl wait`) is authorized for that name.
        let name = rp.name.clone().or_else(|| {
            let fields = q.field_selector.as_deref()?;
            crate::selectors::parse_fields(fields)
                .ok()?
                .requires_exact_match("metadata.name")
                .map(String::from)
        });
        // A Namespace is requested within itself, so a RoleBinding in it can grant reading it.
        let namespace = match (
            &rp.namespace,
            rp.group.is_empty() && rp.plural == "namespaces",
        ) {
            (Some(ns), _) => ns.clone(),
            (None, true) => rp.name.clone().unwrap_or_default(),
            (None, false) => String::new(),
        };
        Attributes {
            verb: verb.to_string(),
            resource_request: true,
            path: path.to_string(),
            group: rp.group,
            resource: rp.plural,
            subresource: rp.subresource.unwrap_or_default(),
            namespace,
            name: name.unwrap_or_default(),
            label_selector: q.label_selector,
        }
    }

    /// `tasks.strata.io`, `configmaps`: how kube-apiserver names the resource in messages.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    /// The 403 kube-apiserver answers when `user` may not do this; `reason` (RBAC's, or the
    /// agent restriction's) is appended after a colon when not empty.
    pub fn forbidden(&self, user: &str, reason: &str) -> ApiError {
        let mut what = if !self.resource_request {
            format!("User {user:?} cannot {} path {:?}", self.verb, self.path)
        } else {
            let mut resource = self.resource.clone();
            if !self.subresource.is_empty() {
                resource = format!("{resource}/{}", self.subresource);
            }
            let scope = if self.namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace {:?}", self.namespace)
            };
            format!(
                "User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}",
                self.verb, self.group
            )
        };
        if !reason.is_empty() {
            what = format!("{what}: {reason}");
        }
        self.forbidden_because(&what)
    }

    /// A 403 for this request with `why` after `<resource> "<name>" is forbidden: `.
    pub fn forbidden_because(&self, why: &str) -> ApiError {
        let message = match (self.resource_request, self.name.is_empty()) {
            (false, _) => format!("forbidden: {why}"),
            (true, true) => format!("{} is forbidden: {why}", self.qualified_resource()),
            (true, false) => format!(
                "{} {:?} is forbidden: {why}",
                self.qualified_resource(),
                self.name
            ),
        };
        let mut e = ApiError::forbidden(message);
        let non_empty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        if self.resource_request {
            e.details.name = non_empty(&self.name);
            e.details.group = non_empty(&self.group);
            e.details.kind = non_empty(&self.resource);
        }
        e
    }
}

impl ApiServer {
    /// Runs the authorizer chain: RBAC must allow the request, and an agent must also stay within
    /// what the agent restriction lets it reach.
    pub fn authorize(&self, user: &UserInfo, attrs: &Attributes) -> ApiResult<()> {
        let decision = self.rbac.decide(user, attrs);
        if !decision.allowed {
            return Err(attrs.forbidden(&user.name, &decision.reason));
        }
        if let Some(agent) = AgentRestriction::of(user) {
            agent.check_request(attrs)?;
        }
        Ok(())
    }

    /// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: whether the caller may do
    /// what the review's `spec` describes.
    pub fn self_subject_access_review(&self, user: &UserInfo, review: Value) -> ApiResult<Value> {
        let spec = review.get("spec").cloned().unwrap_or(Value::Null);
        let field = |obj: &Value, f: &str| {
            obj.get(f)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let attrs = if let Some(r) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
            Attributes {
                verb: field(r, "verb"),
                resource_request: true,
                group: field(r, "group"),
                resource: field(r, "resource"),
                subresource: field(r, "subresource"),
                namespace: field(r, "namespace"),
                name: field(r, "name"),
                ..Default::default()
            }
        } else if let Some(n) = spec.get("nonResourceAttributes").filter(|v| v.is_object()) {
            Attributes {
                verb: field(n, "verb"),
                path: field(n, "path"),
                ..Default::default()
            }
        } else {
            return Err(ApiError::invalid(
                "authorization.k8s.io",
                "SelfSubjectAccessReview",
                "",
                vec![crate::errors::Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: exactly one of nonResourceAttributes or \
                              resourceAttributes must be specified"
                        .into(),
                    field: "spec.resourceAttributes".into(),
                }],
            ));
        };
        let decision = self.rbac.decide(user, &attrs);
        let restricted = AgentRestriction::of(user).and_then(|a| a.check_request(&attrs).err());
        let status = match (decision.allowed, restricted) {
            (true, None) => json!({"allowed": true, "reason": decision.reason}),
            (true, Some(e)) => json!({"allowed": false, "reason": e.message}),
            (false, _) => json!({"allowed": false, "reason": decision.reason}),
        };
        Ok(json!({
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": spec,
            "status": status,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_attributes_follow_kube_apiservers_request_info() {
        let a = Attributes::of_request(
            &Method::PATCH,
            "/apis/strata.io/v1alpha1/namespaces/default/tasks/t1/status",
            None,
        );
        assert_eq!(
            (a.verb.as_str(), a.group.as_str(), a.resource.as_str()),
            ("patch", "strata.io", "tasks")
        );
        assert_eq!(
            (a.subresource.as_str(), a.namespace.as_str()),
            ("status", "default")
        );
        assert_eq!(a.name, "t1");
        let w = Attributes::of_request(
            &Method::GET,
            "/api/v1/namespaces/x/configmaps",
            Some("watch=true&fieldSelector=metadata.name%3Dc&labelSelector=a%3Db"),
        );
        assert_eq!((w.verb.as_str(), w.name.as_str()), ("watch", "c"));
        assert_eq!(w.label_selector.as_deref(), Some("a=b"));
        let ns = Attributes::of_request(&Method::GET, "/api/v1/namespaces/x", None);
        assert_eq!((ns.namespace.as_str(), ns.name.as_str()), ("x", "x"));
        let all = Attributes::of_request(&Method::DELETE, "/apis/strata.io/v1alpha1/tasks", None);
        assert_eq!(
            (all.verb.as_str(), all.namespace.as_str()),
            ("deletecollection", "")
        );
        let d = Attributes::of_request(&Method::GET, "/apis/strata.io", None);
        assert!(!d.resource_request);
        assert_eq!(
            (d.verb.as_str(), d.path.as_str()),
            ("get", "/apis/strata.io")
        );
    }

    #[test]
    fn denials_read_like_kube_apiservers() {
        let a = Attributes::of_request(
            &Method::PATCH,
            "/apis/strata.io/v1alpha1/namespaces/default/tasks/t1/status",
            None,
        );
        let s = a.forbidden("x", "").status();
        assert_eq!(
            s["message"],
            "tasks.strata.io \"t1\" is forbidden: User \"x\" cannot patch resource \
             \"tasks/status\" in API group \"strata.io\" in the namespace \"default\""
        );
        assert_eq!(
            s["details"],
            json!({"name": "t1", "group": "strata.io", "kind": "tasks"})
        );
        assert_eq!(
            (s["code"].clone(), s["reason"].clone()),
            (json!(403), json!("Forbidden"))
        );
        let list = Attributes::of_request(&Method::GET, "/api/v1/namespaces", None);
        assert_eq!(
            list.forbidden("x", "").message,
            "namespaces is forbidden: User \"x\" cannot list resource \"namespaces\" in API \
             group \"\" at the cluster scope"
        );
        let path = Attributes::of_request(&Method::GET, "/metrics", None);
        assert_eq!(
            path.forbidden("x", "").message,
            "forbidden: User \"x\" cannot get path \"/metrics\""
        );
    }
}
