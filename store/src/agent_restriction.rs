//! The agent restriction: what Kubernetes' Node authorizer and NodeRestriction admission plugin do
//! for kubelets, done for strata agents. RBAC (the `strata:agent` ClusterRole) grants every agent
//! the same verbs on agents, leases, tasks and events; this narrows each agent to its own objects.
//!
//! An agent authenticates as the ServiceAccount `strata-system/agent-<NAME>`, i.e. the user
//! `system:serviceaccount:strata-system:agent-<NAME>`. On top of RBAC, such a user:
//! - may create or modify only the Agent `<NAME>` (and its status);
//! - may use only the Lease `<NAME>` in `strata-node-lease`, its heartbeat;
//! - may read only the Tasks bound to it (`spec.agent == <NAME>`), list and watch them only with a
//!   label selector that pins `strata.io/agent=<NAME>`, write only the status of those tasks, and
//!   on the main resource only add or remove its finalizer `strata.io/agent`; it may never create,
//!   delete or rebind a task (both the stored and the new object must be bound to it);
//! - may create and patch Events; nothing else.
//!
//! Checks that need only the request ([`AgentRestriction::check_request`]) run with RBAC; those
//! that need the objects run where they are at hand: [`AgentRestriction::check_read`] on the object
//! read, [`AgentRestriction::check_write`] inside the write's compare-and-swap loop, on the stored
//! and the new object, so a concurrent change cannot slip between the check and the commit.
//!
//! What it must never do: let an agent touch another agent's objects, whatever RBAC grants it.

use serde_json::Value;

use crate::admission::{finalizers, meta, meta_str};
use crate::auth::UserInfo;
use crate::authz::Attributes;
use crate::errors::{ApiError, ApiResult};
use crate::registry::Resource;

/// The namespace of the agents' ServiceAccounts.
pub const AGENT_NAMESPACE: &str = "strata-system";
/// The namespace of the agents' heartbeat Leases.
pub const LEASE_NAMESPACE: &str = "strata-node-lease";
pub use strata_api::task::AGENT_FINALIZER as FINALIZER;
/// The user name of an agent, before its name.
const USER_PREFIX: &str = "system:serviceaccount:strata-system:agent-";
const GROUP: &str = "strata.io";

/// The restriction of one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRestriction {
    agent: String,
}

fn forbidden(res: &Resource, name: &str, why: String) -> ApiError {
    ApiError::forbidden(format!("{} {name:?} is forbidden: {why}", res.qualified())).details(
        name,
        &res.group,
        &res.plural,
    )
}

fn is_strata(res: &Resource, plural: &str) -> bool {
    res.group == GROUP && res.plural == plural
}

/// `spec.agent` of a task.
fn bound_to(task: &Value) -> Option<&str> {
    task.pointer("/spec/agent").and_then(Value::as_str)
}

/// A task without what an agent may change through the main resource (its finalizer) and what
/// the server maintains, to compare a task before and after an agent's write.
fn fixed_part(task: &Value) -> Value {
    let mut v = task.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    let kept: Vec<Value> = finalizers(task)
        .into_iter()
        .filter(|f| f != FINALIZER)
        .map(Value::String)
        .collect();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "resourceVersion",
            "managedFields",
            "generation",
            "finalizers",
        ] {
            m.remove(field);
        }
        m.retain(|_, v| !matches!(v, Value::Null) && v != &Value::Object(Default::default()));
        if !kept.is_empty() {
            m.insert("finalizers".into(), Value::Array(kept));
        }
    }
    v
}

impl AgentRestriction {
    /// The restriction for `user`, when it is an agent.
    pub fn of(user: &UserInfo) -> Option<AgentRestriction> {
        let agent = user.name.strip_prefix(USER_PREFIX)?;
        (!agent.is_empty()).then(|| AgentRestriction {
            agent: agent.to_string(),
        })
    }

    /// What can be told from the request alone.
    pub fn check_request(&self, a: &Attributes) -> ApiResult<()> {
        if !a.resource_request {
            return Ok(());
        }
        let agent = &self.agent;
        let reading = matches!(a.verb.as_str(), "get" | "list" | "watch");
        let deny = |why: String| Err(a.forbidden_because(&format!("agent {agent:?} {why}")));
        match (a.group.as_str(), a.resource.as_str()) {
            (GROUP, "agents") => {
                let own = a.name == *agent || a.name.is_empty() && a.verb == "create";
                if !reading && !own {
                    return deny(format!("may only modify its own Agent {agent:?}"));
                }
            }
            ("coordination.k8s.io", "leases") => {
                let own = a.namespace == LEASE_NAMESPACE
                    && (a.name == *agent || a.name.is_empty() && a.verb == "create");
                if !own {
                    return deny(format!(
                        "may only use its own Lease {LEASE_NAMESPACE}/{agent}"
                    ));
                }
            }
            (GROUP, "tasks") => match a.verb.as_str() {
                "create" | "delete" | "deletecollection" => {
                    return deny("may not create or delete tasks".into());
                }
                "list" | "watch" if !self.selects_own_tasks(a.label_selector.as_deref()) => {
                    return deny(format!(
                        "may only {} the tasks bound to it: use the label selector {}",
                        a.verb,
                        strata_api::labels::agent_selector(agent)
                    ));
                }
                _ => {}
            },
            ("", "events")
            | ("authorization.k8s.io", "selfsubjectaccessreviews")
            | ("authentication.k8s.io", "selfsubjectreviews") => {}
            _ => {
                return deny(format!(
                    "may only use its Agent, its Lease, the tasks bound to it and events, not {}",
                    a.qualified_resource()
                ));
            }
        }
        Ok(())
    }

    /// Whether a label selector keeps only this agent's tasks.
    fn selects_own_tasks(&self, selector: Option<&str>) -> bool {
        use crate::selectors::Operator;
        let Some(sel) = selector.and_then(|s| crate::selectors::parse(s).ok()) else {
            return false;
        };
        sel.requirements().iter().any(|r| {
            r.key() == strata_api::labels::AGENT
                && matches!(
                    r.operator(),
                    Operator::Equals | Operator::DoubleEquals | Operator::In
                )
                && r.values() == [self.agent.as_str()]
        })
    }

    /// A read of one object: tasks bound to another agent are not for this one.
    pub fn check_read(&self, res: &Resource, object: &Value) -> ApiResult<()> {
        if is_strata(res, "tasks") {
            self.check_bound(res, object, "read")?;
        }
        Ok(())
    }

    fn check_bound(&self, res: &Resource, task: &Value, verb: &str) -> ApiResult<()> {
        let bound = bound_to(task);
        if bound == Some(self.agent.as_str()) {
            return Ok(());
        }
        let name = meta_str(task, "name").unwrap_or_default();
        let ns = meta_str(task, "namespace").unwrap_or_default();
        let to = match bound {
            Some(other) => format!("is bound to agent {other:?}"),
            None => "is not bound to any agent".into(),
        };
        Err(forbidden(
            res,
            name,
            format!(
                "agent {:?} may only {verb} tasks bound to it; task {ns}/{name} {to}",
                self.agent
            ),
        ))
    }

    /// A write: `old` is the stored object (`None` when the write creates one), `new` the object
    /// about to be stored.
    pub fn check_write(
        &self,
        res: &Resource,
        subresource: Option<&str>,
        old: Option<&Value>,
        new: &Value,
    ) -> ApiResult<()> {
        let agent = &self.agent;
        let name = meta_str(new, "name").unwrap_or_default();
        if is_strata(res, "tasks") {
            let Some(old) = old else {
                return Err(forbidden(
                    res,
                    name,
                    format!("agent {agent:?} may not create tasks"),
                ));
            };
            self.check_bound(res, old, "modify")?;
            let ns = meta_str(new, "namespace").unwrap_or_default();
            if bound_to(new) != Some(agent.as_str()) {
                return Err(forbidden(
                    res,
                    name,
                    format!("agent {agent:?} may not bind task {ns}/{name} to another agent"),
                ));
            }
            if subresource.is_none() && fixed_part(old) != fixed_part(new) {
                return Err(forbidden(
                    res,
                    name,
                    format!(
                        "agent {agent:?} may only add or remove the finalizer {FINALIZER:?} of \
                         task {ns}/{name}; it reports everything else through the status \
                         subresource"
                    ),
                ));
            }
        } else if is_strata(res, "agents") && name != agent {
            return Err(forbidden(
                res,
                name,
                format!("agent {agent:?} may only modify its own Agent {agent:?}"),
            ));
        } else if res.group == "coordination.k8s.io"
            && res.plural == "leases"
            && (name != agent
                || meta(new).get("namespace").and_then(Value::as_str) != Some(LEASE_NAMESPACE))
        {
            return Err(forbidden(
                res,
                name,
                format!("agent {agent:?} may only use its own Lease {LEASE_NAMESPACE}/{agent}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn agent(name: &str) -> AgentRestriction {
        AgentRestriction::of(&UserInfo {
            name: format!("{USER_PREFIX}{name}"),
            groups: vec![],
        })
        .unwrap()
    }

    fn tasks() -> std::sync::Arc<Resource> {
        let registry = crate::registry::Registry::default();
        for crd in strata_api::crds::all() {
            let v = serde_json::to_value(&crd).unwrap();
            crate::crd::sync(&registry, crd.metadata.name.as_deref().unwrap(), Some(&v));
        }
        registry.get(GROUP, "v1alpha1", "tasks").expect("tasks CRD")
    }

    fn task(agent: &str, finalizers: &[&str]) -> Value {
        json!({"apiVersion": "strata.io/v1alpha1", "kind": "Task",
               "metadata": {"name": "t", "namespace": "d", "resourceVersion": "5",
                            "finalizers": finalizers},
               "spec": {"agent": agent}, "status": {"state": "Running"}})
    }

    #[test]
    fn only_agent_service_accounts_are_restricted() {
        let user = |name: &str| UserInfo {
            name: name.into(),
            groups: vec![],
        };
        assert_eq!(
            AgentRestriction::of(&user("system:serviceaccount:strata-system:agent-a1")),
            Some(agent("a1"))
        );
        for other in [
            "system:serviceaccount:strata-system:agent-",
            "system:serviceaccount:other:agent-a1",
            "agent-a1",
        ] {
            assert_eq!(AgentRestriction::of(&user(other)), None, "{other}");
        }
    }

    #[test]
    fn an_agent_may_only_move_its_finalizer_on_its_tasks() {
        let res = tasks();
        let a1 = agent("a1");
        let old = task("a1", &["x"]);
        let ok = task("a1", &["x", FINALIZER]);
        assert!(a1.check_write(&res, None, Some(&old), &ok).is_ok());
        assert!(a1.check_write(&res, None, Some(&ok), &old).is_ok());
        let mut spec = ok.clone();
        spec["spec"]["cpus"] = json!(2);
        let e = a1.check_write(&res, None, Some(&old), &spec).unwrap_err();
        assert_eq!(e.code, http::StatusCode::FORBIDDEN);
        let other = task("a1", &["x", "other"]);
        assert!(a1.check_write(&res, None, Some(&old), &other).is_err());
        let e = a1
            .check_write(
                &res,
                Some("status"),
                Some(&task("a2", &[])),
                &task("a2", &[]),
            )
            .unwrap_err();
        assert_eq!(
            e.message,
            "tasks.strata.io \"t\" is forbidden: agent \"a1\" may only modify tasks bound to \
             it; task d/t is bound to agent \"a2\""
        );
        assert!(
            a1.check_write(&res, None, Some(&old), &task("a2", &["x"]))
                .is_err()
        );
        assert!(a1.check_write(&res, None, None, &old).is_err());
        assert!(a1.check_read(&res, &old).is_ok());
        assert!(a1.check_read(&res, &task("a2", &[])).is_err());
    }

    #[test]
    fn requests_outside_the_agents_own_objects_are_refused() {
        let a1 = agent("a1");
        let req = |verb: &str, group: &str, resource: &str, ns: &str, name: &str| Attributes {
            verb: verb.into(),
            resource_request: true,
            group: group.into(),
            resource: resource.into(),
            namespace: ns.into(),
            name: name.into(),
            ..Default::default()
        };
        let ok = |a: Attributes| a1.check_request(&a).is_ok();
        assert!(ok(req("patch", GROUP, "agents", "", "a1")));
        assert!(ok(req("create", GROUP, "agents", "", "")));
        assert!(ok(req("list", GROUP, "agents", "", "")));
        assert!(!ok(req("patch", GROUP, "agents", "", "a2")));
        assert!(ok(req(
            "update",
            "coordination.k8s.io",
            "leases",
            LEASE_NAMESPACE,
            "a1"
        )));
        assert!(!ok(req(
            "update",
            "coordination.k8s.io",
            "leases",
            LEASE_NAMESPACE,
            "a2"
        )));
        assert!(!ok(req(
            "get",
            "coordination.k8s.io",
            "leases",
            "default",
            "a1"
        )));
        assert!(!ok(req("create", GROUP, "tasks", "d", "")));
        assert!(!ok(req("delete", GROUP, "tasks", "d", "t")));
        assert!(!ok(req("list", GROUP, "tasks", "", "")));
        let mut mine = req("watch", GROUP, "tasks", "", "");
        mine.label_selector = Some("strata.io/agent=a1,x=y".into());
        assert!(ok(mine.clone()));
        mine.label_selector = Some("strata.io/agent in (a1,a2)".into());
        assert!(!ok(mine));
        assert!(!ok(req("get", GROUP, "apps", "d", "web")));
        assert!(!ok(req("get", "", "secrets", "d", "s")));
        assert!(ok(req("create", "", "events", "d", "")));
    }
}
