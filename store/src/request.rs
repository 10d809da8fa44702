//! Parsing of API request paths and query parameters.
//!
//! `/api/v1/namespaces/{ns}/{plural}/{name}/{subresource}` and `/apis/{group}/{version}/...`, the
//! cluster-scoped and all-namespace forms, and the query options every verb reads.

use crate::errors::{ApiError, ApiResult};

/// What an API path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/{group}`
    Group(String),
    /// `/api/v1`, `/apis/{group}/{version}`
    GroupVersion { group: String, version: String },
    /// A resource collection, object or subresource.
    Resource(ResourcePath),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub plural: String,
    /// `Some` for `/namespaces/{ns}/...` paths.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parses an API path; `None` when it is not under `/api` or `/apis`.
pub fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api"] => return Some(Target::CoreVersions),
        ["apis"] => return Some(Target::Groups),
        ["apis", g] => return Some(Target::Group(g.to_string())),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    if rest.iter().any(|s| s.is_empty()) {
        return None;
    }
    let r = |plural: &str, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Some(Target::Resource(ResourcePath {
            group: group.to_string(),
            version: version.to_string(),
            plural: plural.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
        }))
    };
    let core = group.is_empty();
    match rest {
        [] => Some(Target::GroupVersion {
            group: group.to_string(),
            version: version.to_string(),
        }),
        [plural] => r(plural, None, None, None),
        [plural, name] => r(plural, None, Some(name), None),
        // `/api/v1/namespaces/{name}/{status|finalize}` is the Namespace's own subresource.
        ["namespaces", name, sub @ ("status" | "finalize")] if core => {
            r("namespaces", None, Some(name), Some(sub))
        }
        ["namespaces", ns, plural] => r(plural, Some(ns), None, None),
        [plural, name, sub] => r(plural, None, Some(name), Some(sub)),
        ["namespaces", ns, plural, name] => r(plural, Some(ns), Some(name), None),
        ["namespaces", ns, plural, name, sub] => r(plural, Some(ns), Some(name), Some(sub)),
        _ => None,
    }
}

/// Every query option the API verbs read.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub watch: bool,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub allow_watch_bookmarks: bool,
    pub send_initial_events: Option<bool>,
    pub timeout_seconds: Option<u64>,
    pub field_manager: Option<String>,
    pub field_validation: Option<String>,
    pub force: Option<bool>,
    pub dry_run: bool,
    pub propagation_policy: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub include_object: Option<String>,
    pub pretty: bool,
}

fn parse_bool(key: &str, v: &str) -> ApiResult<bool> {
    match v {
        // Go's strconv.ParseBool, which kube-apiserver uses; the Python client sends "True".
        "true" | "True" | "TRUE" | "t" | "T" | "1" | "" => Ok(true),
        "false" | "False" | "FALSE" | "f" | "F" | "0" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "invalid value {v:?} for query parameter {key}: use true or false"
        ))),
    }
}

impl Query {
    pub fn parse(raw: Option<&str>) -> ApiResult<Query> {
        let mut q = Query::default();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let v = v.as_ref();
            match k.as_ref() {
                "watch" => q.watch = parse_bool("watch", v)?,
                "labelSelector" => q.label_selector = Some(v.to_string()),
                "fieldSelector" => q.field_selector = Some(v.to_string()),
                "limit" => {
                    let n: i64 = v.parse().map_err(|_| {
                        ApiError::bad_request(format!("invalid limit {v:?}: must be an integer"))
                    })?;
                    q.limit = (n > 0).then_some(n as usize);
                }
                "continue" => q.continue_token = Some(v.to_string()).filter(|s| !s.is_empty()),
                "resourceVersion" => {
                    q.resource_version = Some(v.to_string()).filter(|s| !s.is_empty())
                }
                "resourceVersionMatch" => {
                    q.resource_version_match = Some(v.to_string()).filter(|s| !s.is_empty())
                }
                "allowWatchBookmarks" => {
                    q.allow_watch_bookmarks = parse_bool("allowWatchBookmarks", v)?
                }
                "sendInitialEvents" => {
                    q.send_initial_events = Some(parse_bool("sendInitialEvents", v)?)
                }
                "timeoutSeconds" => {
                    q.timeout_seconds = Some(v.parse().map_err(|_| {
                        ApiError::bad_request(format!(
                            "invalid timeoutSeconds {v:?}: must be a non-negative integer"
                        ))
                    })?)
                }
                "fieldManager" => q.field_manager = Some(v.to_string()),
                "fieldValidation" => q.field_validation = Some(v.to_string()),
                "force" => q.force = Some(parse_bool("force", v)?),
                "dryRun" => {
                    if v == "All" {
                        q.dry_run = true;
                    } else if !v.is_empty() {
                        return Err(ApiError::bad_request(format!(
                            "unsupported dryRun value {v:?}: the only supported value is All"
                        )));
                    }
                }
                "propagationPolicy" => q.propagation_policy = Some(v.to_string()),
                "gracePeriodSeconds" => {
                    q.grace_period_seconds = Some(v.parse().map_err(|_| {
                        ApiError::bad_request(format!("invalid gracePeriodSeconds {v:?}"))
                    })?)
                }
                "includeObject" => q.include_object = Some(v.to_string()),
                "pretty" => q.pretty = parse_bool("pretty", v).unwrap_or(false),
                _ => {}
            }
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(
        g: &str,
        v: &str,
        p: &str,
        ns: Option<&str>,
        n: Option<&str>,
        s: Option<&str>,
    ) -> Target {
        Target::Resource(ResourcePath {
            group: g.into(),
            version: v.into(),
            plural: p.into(),
            namespace: ns.map(Into::into),
            name: n.map(Into::into),
            subresource: s.map(Into::into),
        })
    }

    #[test]
    fn paths() {
        let cases = [
            ("/api", Some(Target::CoreVersions)),
            ("/apis", Some(Target::Groups)),
            (
                "/api/v1/namespaces",
                Some(res("", "v1", "namespaces", None, None, None)),
            ),
            (
                "/api/v1/namespaces/default",
                Some(res("", "v1", "namespaces", None, Some("default"), None)),
            ),
            (
                "/api/v1/namespaces/default/status",
                Some(res(
                    "",
                    "v1",
                    "namespaces",
                    None,
                    Some("default"),
                    Some("status"),
                )),
            ),
            (
                "/api/v1/namespaces/default/configmaps",
                Some(res("", "v1", "configmaps", Some("default"), None, None)),
            ),
            (
                "/apis/strata.io/v1alpha1/namespaces/a/apps/web/scale",
                Some(res(
                    "strata.io",
                    "v1alpha1",
                    "apps",
                    Some("a"),
                    Some("web"),
                    Some("scale"),
                )),
            ),
            (
                "/apis/strata.io/v1alpha1/apps",
                Some(res("strata.io", "v1alpha1", "apps", None, None, None)),
            ),
            (
                "/apis/strata.io/v1alpha1/agents/a1/status",
                Some(res(
                    "strata.io",
                    "v1alpha1",
                    "agents",
                    None,
                    Some("a1"),
                    Some("status"),
                )),
            ),
            ("/apis/strata.io/v1alpha1/namespaces//apps", None),
            ("/other", None),
        ];
        for (path, want) in cases {
            assert_eq!(parse_path(path), want, "{path}");
        }
    }

    #[test]
    fn query_options() {
        let q = Query::parse(Some(
            "watch=1&labelSelector=a%3Db&limit=500&dryRun=All&fieldManager=kubectl&force=true",
        ))
        .unwrap();
        assert!(q.watch && q.dry_run);
        assert_eq!(q.label_selector.as_deref(), Some("a=b"));
        assert_eq!(q.limit, Some(500));
        assert_eq!(q.force, Some(true));
        assert!(Query::parse(Some("dryRun=Some")).is_err());
        assert!(Query::parse(Some("limit=x")).is_err());
    }
}
