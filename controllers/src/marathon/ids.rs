//! Marathon path ids and Kubernetes names: the rule that maps one onto the other.
//!
//! Why it exists: Marathon users know apps by path (`/prod/web/kibana`, the seed's
//! `/cmskibana.web`); Kubernetes knows a namespace and a name. The rule (docs/marathon.md):
//! the root group `/` is the namespace `default`; a first-level group is a namespace of the
//! same name; deeper groups join the name with dots. So `/cmskibana.web` is `default/cmskibana.web`,
//! `/prod/kibana` is `prod/kibana`, `/prod/web/kibana` is `prod/web.kibana`. Going back, a name's
//! dots are kept (Marathon ids may contain dots), so the ID column shows `/prod/web.kibana`; the
//! annotation `strata.io/marathon-id` records a deeper original path when an app was created
//! from one, and is shown instead if it maps to the same namespace and name.

/// Annotation on an App: the Marathon path id it was created from, when deeper than the rule
/// can show.
pub const MARATHON_ID: &str = "strata.io/marathon-id";

/// The namespace and name of a Marathon path id, or why it is not one.
pub fn from_path(path: &str) -> Result<(String, String), String> {
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = segments.iter().find(|s| !valid_segment(s)) {
        return Err(format!(
            "{bad:?} in {path:?} is not a Marathon id segment: use lowercase letters, digits, \
             '-' and '.', starting and ending with a letter or digit"
        ));
    }
    match segments.as_slice() {
        [] => Err(format!("{path:?} names no app")),
        [name] => Ok(("default".to_string(), name.to_string())),
        [namespace, rest @ ..] => {
            if namespace.contains('.') {
                return Err(format!(
                    "the group {namespace:?} of {path:?} becomes a namespace, which cannot contain '.'"
                ));
            }
            Ok((namespace.to_string(), rest.join(".")))
        }
    }
}

/// The Marathon path id of the App `name` in `namespace`, honouring the `strata.io/marathon-id`
/// annotation when it maps to the same place.
pub fn to_path(namespace: &str, name: &str, annotated: Option<&str>) -> String {
    if let Some(path) = annotated
        && from_path(path).is_ok_and(|(ns, n)| ns == namespace && n == name)
    {
        return format!("/{}", path.trim_start_matches('/'));
    }
    if namespace == "default" {
        format!("/{name}")
    } else {
        format!("/{namespace}/{name}")
    }
}

fn valid_segment(s: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    s.chars().all(|c| ok(c) || c == '-' || c == '.') && s.starts_with(ok) && s.ends_with(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_onto_namespaces_and_names_and_back() {
        let both = |path: &str| from_path(path).unwrap();
        assert_eq!(
            both("/cmskibana.web"),
            ("default".into(), "cmskibana.web".into())
        );
        assert_eq!(both("/prod/kibana"), ("prod".into(), "kibana".into()));
        assert_eq!(
            both("/prod/web/kibana"),
            ("prod".into(), "web.kibana".into())
        );
        assert_eq!(to_path("default", "cmskibana.web", None), "/cmskibana.web");
        assert_eq!(to_path("prod", "kibana", None), "/prod/kibana");
        assert_eq!(to_path("prod", "web.kibana", None), "/prod/web.kibana");
        assert_eq!(
            to_path("prod", "web.kibana", Some("/prod/web/kibana")),
            "/prod/web/kibana"
        );
        assert_eq!(
            to_path("prod", "kibana", Some("/other/kibana")),
            "/prod/kibana",
            "an annotation naming somewhere else is ignored"
        );
    }

    #[test]
    fn bad_paths_say_what_is_wrong() {
        assert!(from_path("/").unwrap_err().contains("names no app"));
        assert!(from_path("/Prod/web").unwrap_err().contains("\"Prod\""));
        assert!(from_path("/a.b/web").unwrap_err().contains("namespace"));
        assert!(from_path("/web-").is_err());
    }
}
