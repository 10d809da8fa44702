//! Whether one RBAC PolicyRule allows one request: the matching rules of kube-apiserver's
//! `pkg/registry/rbac/validation` (`RuleAllows`), so a rule means here what it means in a cluster.
//!
//! - verbs, apiGroups and resources match exactly or with `*`;
//! - a request for a subresource is the resource `<resource>/<subresource>`, also matched by
//!   `*/<subresource>` (and `*`), never by `<resource>` alone;
//! - resourceNames, when present, restrict the rule to requests that name one of them (so a list,
//!   which names nothing, never matches them);
//! - nonResourceURLs match exactly, or by prefix when they end with `*`.

use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::authz::Attributes;

const ALL: &str = "*";

fn has(list: &Option<Vec<String>>, want: &str) -> bool {
    list.as_deref()
        .unwrap_or_default()
        .iter()
        .any(|v| v == ALL || v == want)
}

fn resource_matches(rule: &PolicyRule, resource: &str, subresource: &str) -> bool {
    rule.resources
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|r| {
            r == ALL
                || (subresource.is_empty() && r == resource)
                || (!subresource.is_empty()
                    && (r
                        .strip_prefix(resource)
                        .and_then(|rest| rest.strip_prefix('/'))
                        == Some(subresource)
                        || r.strip_prefix("*/") == Some(subresource)))
        })
}

fn name_matches(rule: &PolicyRule, name: &str) -> bool {
    match rule.resource_names.as_deref() {
        None | Some([]) => true,
        Some(names) => !name.is_empty() && names.iter().any(|n| n == name),
    }
}

fn url_matches(rule: &PolicyRule, path: &str) -> bool {
    rule.non_resource_urls
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|u| {
            u == ALL
                || u == path
                || u.strip_suffix('*')
                    .is_some_and(|prefix| path.starts_with(prefix))
        })
}

/// Whether `rule` allows the request described by `attrs`.
pub fn allows(rule: &PolicyRule, attrs: &Attributes) -> bool {
    if !rule.verbs.iter().any(|v| v == ALL || *v == attrs.verb) {
        return false;
    }
    if attrs.resource_request {
        has(&rule.api_groups, &attrs.group)
            && resource_matches(rule, &attrs.resource, &attrs.subresource)
            && name_matches(rule, &attrs.name)
    } else {
        url_matches(rule, &attrs.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str], names: &[&str]) -> PolicyRule {
        let v = |s: &[&str]| Some(s.iter().map(|x| x.to_string()).collect());
        PolicyRule {
            api_groups: v(groups),
            resources: v(resources),
            verbs: verbs.iter().map(|x| x.to_string()).collect(),
            resource_names: if names.is_empty() { None } else { v(names) },
            non_resource_urls: None,
        }
    }

    fn req(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource_request: true,
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            namespace: "ns".into(),
            ..Default::default()
        }
    }

    #[test]
    fn verbs_groups_and_resources_match_exactly_or_by_wildcard() {
        let r = rule(&["strata.io"], &["tasks"], &["get", "list"], &[]);
        assert!(allows(&r, &req("get", "strata.io", "tasks", "", "t")));
        assert!(allows(&r, &req("list", "strata.io", "tasks", "", "")));
        assert!(!allows(&r, &req("patch", "strata.io", "tasks", "", "t")));
        assert!(!allows(&r, &req("get", "", "tasks", "", "t")));
        assert!(!allows(&r, &req("get", "strata.io", "apps", "", "t")));
        let all = rule(&["*"], &["*"], &["*"], &[]);
        assert!(allows(
            &all,
            &req("deletecollection", "x.io", "y", "status", "")
        ));
    }

    #[test]
    fn subresources_need_their_own_rule() {
        let main = rule(&["strata.io"], &["tasks"], &["patch"], &[]);
        assert!(!allows(
            &main,
            &req("patch", "strata.io", "tasks", "status", "t")
        ));
        let status = rule(&["strata.io"], &["tasks/status"], &["patch"], &[]);
        assert!(allows(
            &status,
            &req("patch", "strata.io", "tasks", "status", "t")
        ));
        assert!(!allows(
            &status,
            &req("patch", "strata.io", "tasks", "", "t")
        ));
        assert!(!allows(
            &status,
            &req("patch", "strata.io", "tasks", "scale", "t")
        ));
        let any = rule(&["strata.io"], &["*/status"], &["patch"], &[]);
        assert!(allows(
            &any,
            &req("patch", "strata.io", "agents", "status", "a")
        ));
        assert!(!allows(&any, &req("patch", "strata.io", "agents", "", "a")));
    }

    #[test]
    fn resource_names_restrict_to_named_requests() {
        let r = rule(&[""], &["configmaps"], &["get", "list"], &["one"]);
        assert!(allows(&r, &req("get", "", "configmaps", "", "one")));
        assert!(!allows(&r, &req("get", "", "configmaps", "", "two")));
        assert!(!allows(&r, &req("list", "", "configmaps", "", "")));
    }

    #[test]
    fn non_resource_urls_match_exactly_or_by_prefix() {
        let r = PolicyRule {
            verbs: vec!["get".into()],
            non_resource_urls: Some(vec!["/apis/*".into(), "/version".into()]),
            ..Default::default()
        };
        let path = |p: &str| Attributes {
            verb: "get".into(),
            path: p.into(),
            ..Default::default()
        };
        assert!(allows(&r, &path("/apis/strata.io/v1alpha1")));
        assert!(allows(&r, &path("/version")));
        assert!(!allows(&r, &path("/version/x")));
        assert!(!allows(&r, &path("/api")));
        // A resource rule never grants a path, nor a path rule a resource.
        assert!(!allows(&rule(&["*"], &["*"], &["*"], &[]), &path("/api")));
        assert!(!allows(&r, &req("get", "", "apis", "", "")));
    }
}
