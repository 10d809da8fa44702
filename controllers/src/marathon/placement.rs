//! Whether one instance of an app fits an offer: resources, ports, role and Marathon's
//! placement constraints; and, when it does not, the reason Marathon's queue reports.
//!
//! Why it exists: placing is the part of Marathon users reason about ("why is my app
//! waiting?", complaint #2). Keeping it pure — an app, what is left of an offer, where the
//! app's instances already are — makes every operator testable without a cluster, and gives
//! the status its counts by reason.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use regex::Regex;

use strata_api::app::{AppSpec, ConstraintOperator};
use strata_api::resources::{PortRange, PortRanges, Resources};

/// Where an agent is, for constraints: its hostname and attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    pub hostname: String,
    pub attributes: BTreeMap<String, String>,
}

impl Place {
    /// The value of a constraint field on this agent: `@hostname` (or `hostname`), `@region`
    /// and `@zone` (the `region` and `zone` attributes), or an attribute.
    fn value(&self, field: &str) -> Option<&str> {
        match field {
            "@hostname" | "hostname" => Some(&self.hostname),
            "@region" => self.attributes.get("region").map(String::as_str),
            "@zone" => self.attributes.get("zone").map(String::as_str),
            other => self.attributes.get(other).map(String::as_str),
        }
    }
}

/// Why an offer was not used for an app (Marathon's NoOfferMatchReason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rejection {
    InsufficientCpus,
    InsufficientMemory,
    InsufficientDisk,
    InsufficientGpus,
    InsufficientPorts,
    UnfulfilledConstraint,
    UnfulfilledRole,
}

impl Rejection {
    /// The reason as the status writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::InsufficientCpus => "InsufficientCpus",
            Rejection::InsufficientMemory => "InsufficientMemory",
            Rejection::InsufficientDisk => "InsufficientDisk",
            Rejection::InsufficientGpus => "InsufficientGpus",
            Rejection::InsufficientPorts => "InsufficientPorts",
            Rejection::UnfulfilledConstraint => "UnfulfilledConstraint",
            Rejection::UnfulfilledRole => "UnfulfilledRole",
        }
    }
}

/// What one instance takes from an offer: its resources (ports included) and host ports in
/// the order of the app's port definitions or mappings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fit {
    pub resources: Resources,
    pub ports: Vec<u16>,
}

/// Whether one instance of `spec` fits `left` (what remains of an offer on the agent at
/// `place`), given the places of the app's other instances (`others`) and the role the
/// offers are for.
pub fn fit(
    spec: &AppSpec,
    role: &str,
    left: &Resources,
    place: &Place,
    others: &[&Place],
) -> Result<Fit, Rejection> {
    if spec.role.as_deref().is_some_and(|r| r != role)
        || (!spec.accepted_resource_roles.is_empty()
            && !spec
                .accepted_resource_roles
                .iter()
                .any(|r| r == "*" || r == role))
    {
        return Err(Rejection::UnfulfilledRole);
    }
    let wanted = spec.instance_resources();
    if wanted.cpus > left.cpus {
        return Err(Rejection::InsufficientCpus);
    }
    if wanted.mem > left.mem {
        return Err(Rejection::InsufficientMemory);
    }
    if wanted.disk > left.disk {
        return Err(Rejection::InsufficientDisk);
    }
    if wanted.gpus > left.gpus {
        return Err(Rejection::InsufficientGpus);
    }
    let ports = ports(spec, &left.ports).ok_or(Rejection::InsufficientPorts)?;
    if !constraints_met(spec, place, others) {
        return Err(Rejection::UnfulfilledConstraint);
    }
    Ok(Fit {
        resources: Resources {
            ports: PortRanges::from_ranges(ports.iter().map(|p| PortRange::new(*p, *p))),
            ..wanted
        },
        ports,
    })
}

/// Host ports for one instance out of `available`: the fixed ones it asks for (requirePorts,
/// or a port mapping's hostPort) and the lowest free ones for the rest.
fn ports(spec: &AppSpec, available: &PortRanges) -> Option<Vec<u16>> {
    let fixed: Vec<u16> = match &spec.container {
        Some(c) if !c.port_mappings.is_empty() => {
            c.port_mappings.iter().map(|m| m.host_port).collect()
        }
        _ if spec.require_ports => spec.port_definitions.iter().map(|p| p.port).collect(),
        _ => vec![0; spec.port_definitions.len()],
    };
    let taken: Vec<u16> = fixed.iter().copied().filter(|p| *p != 0).collect();
    if taken.iter().any(|p| !available.contains_port(*p)) {
        return None;
    }
    let rest = available.difference(&PortRanges::from_ranges(
        taken.iter().map(|p| PortRange::new(*p, *p)),
    ));
    let mut free = rest
        .pick(fixed.iter().filter(|p| **p == 0).count())?
        .into_iter();
    fixed
        .into_iter()
        .map(|p| if p == 0 { free.next() } else { Some(p) })
        .collect()
}

/// Whether an instance on `place` keeps every constraint, with the app's other instances on
/// `others`.
fn constraints_met(spec: &AppSpec, place: &Place, others: &[&Place]) -> bool {
    spec.constraints.iter().all(|c| {
        let here = place.value(&c.field);
        let count = |v: &str| {
            others
                .iter()
                .filter(|o| o.value(&c.field) == Some(v))
                .count()
        };
        let operand = c.value.as_deref();
        match (c.operator, here) {
            (ConstraintOperator::Unlike, None) => true,
            (_, None) => false,
            (ConstraintOperator::Unique, Some(v)) => count(v) == 0,
            (ConstraintOperator::Cluster, Some(v)) => match operand {
                Some(want) => v == want,
                None => others.iter().all(|o| o.value(&c.field) == Some(v)),
            },
            (ConstraintOperator::GroupBy, Some(v)) => {
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for o in others {
                    if let Some(ov) = o.value(&c.field) {
                        *counts.entry(ov).or_default() += 1;
                    }
                }
                let groups = operand.and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
                let least = if counts.len() < groups {
                    0
                } else {
                    counts.values().copied().min().unwrap_or(0)
                };
                counts.get(v).copied().unwrap_or(0) <= least
            }
            (ConstraintOperator::Like, Some(v)) => operand.is_some_and(|re| matches(re, v)),
            (ConstraintOperator::Unlike, Some(v)) => operand.is_some_and(|re| !matches(re, v)),
            (ConstraintOperator::MaxPer, Some(v)) => operand
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| count(v) < n),
            (ConstraintOperator::Is, Some(v)) => operand == Some(v),
        }
    })
}

/// Whether the whole of `value` matches the regular expression `re` (Marathon anchors LIKE
/// and UNLIKE); an invalid expression matches nothing.
fn matches(re: &str, value: &str) -> bool {
    // Compiled once per expression: placement tries every offer of every pass.
    static COMPILED: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let mut compiled = COMPILED
        .get_or_init(Mutex::default)
        .lock()
        .expect("regex cache");
    if compiled.len() > 1024 {
        compiled.clear();
    }
    compiled
        .entry(re.to_string())
        .or_insert_with(|| Regex::new(&format!("^(?:{re})$")).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_api::app::{AppContainer, Constraint, PortDefinition};
    use strata_api::container::PortMapping;

    fn app(constraints: &[(&str, ConstraintOperator, Option<&str>)]) -> AppSpec {
        AppSpec {
            cmd: Some("sleep 100".into()),
            cpus: "0.5".parse().unwrap(),
            mem: 64,
            constraints: constraints
                .iter()
                .map(|(f, o, v)| Constraint {
                    field: f.to_string(),
                    operator: *o,
                    value: v.map(String::from),
                })
                .collect(),
            ..AppSpec::default()
        }
    }

    fn place(host: &str, attrs: &[(&str, &str)]) -> Place {
        Place {
            hostname: host.into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn offer(text: &str) -> Resources {
        text.parse().unwrap()
    }

    #[test]
    fn resources_fall_short_one_by_one() {
        let spec = app(&[]);
        let here = place("a", &[]);
        let fits = |o: &str| fit(&spec, "*", &offer(o), &here, &[]).map(|f| f.resources);
        assert_eq!(fits("cpus:0.25;mem:512"), Err(Rejection::InsufficientCpus));
        assert_eq!(fits("cpus:1;mem:32"), Err(Rejection::InsufficientMemory));
        assert_eq!(
            fits("cpus:1;mem:64").unwrap().to_string(),
            "cpus:0.5;mem:64"
        );
        let roled = AppSpec {
            role: Some("prod".into()),
            ..spec.clone()
        };
        assert_eq!(
            fit(&roled, "*", &offer("cpus:1;mem:64"), &here, &[]),
            Err(Rejection::UnfulfilledRole)
        );
    }

    #[test]
    fn ports_are_the_lowest_free_or_the_ones_required() {
        let mut spec = app(&[]);
        spec.port_definitions = vec![PortDefinition::default(), PortDefinition::default()];
        let here = place("a", &[]);
        let got = fit(
            &spec,
            "*",
            &offer("cpus:1;mem:64;ports:[31000-31001]"),
            &here,
            &[],
        );
        assert_eq!(got.unwrap().ports, [31000, 31001]);
        assert_eq!(
            fit(
                &spec,
                "*",
                &offer("cpus:1;mem:64;ports:[31000-31000]"),
                &here,
                &[]
            ),
            Err(Rejection::InsufficientPorts)
        );
        spec.container = Some(AppContainer {
            port_mappings: vec![
                PortMapping {
                    container_port: 80,
                    host_port: 31005,
                    service_port: 0,
                    protocol: Default::default(),
                    name: None,
                    labels: Default::default(),
                },
                PortMapping {
                    container_port: 81,
                    host_port: 0,
                    service_port: 0,
                    protocol: Default::default(),
                    name: None,
                    labels: Default::default(),
                },
            ],
            ..AppContainer::default()
        });
        let got = fit(
            &spec,
            "*",
            &offer("cpus:1;mem:64;ports:[31000-31010]"),
            &here,
            &[],
        );
        let got = got.unwrap();
        assert_eq!(got.ports, [31005, 31000]);
        assert_eq!(got.resources.ports.to_string(), "[31000-31000,31005-31005]");
    }

    #[test]
    fn marathon_constraint_operators() {
        use ConstraintOperator::*;
        let r = offer("cpus:4;mem:1024");
        let a = place("a", &[("rack", "r1"), ("zone", "z1")]);
        let b = place("b", &[("rack", "r2"), ("zone", "z1")]);
        let c = place("c", &[("rack", "r1")]);
        let ok = |spec: &AppSpec, here: &Place, others: &[&Place]| {
            fit(spec, "*", &r, here, others).is_ok()
        };

        let unique = app(&[("@hostname", Unique, None)]);
        assert!(ok(&unique, &a, &[&b]));
        assert!(!ok(&unique, &a, &[&a]));

        let cluster = app(&[("rack", Cluster, Some("r1"))]);
        assert!(ok(&cluster, &a, &[]) && !ok(&cluster, &b, &[]));
        let first_wins = app(&[("rack", Cluster, None)]);
        assert!(ok(&first_wins, &b, &[]) && !ok(&first_wins, &a, &[&b]));

        let group = app(&[("rack", GroupBy, Some("2"))]);
        assert!(!ok(&group, &a, &[&c]), "r2 is still empty: r1 must wait");
        assert!(ok(&group, &b, &[&c]));
        assert!(ok(&group, &a, &[&a, &b]), "even: either rack");
        assert!(
            !ok(&group, &a, &[&a, &c, &b]),
            "r1 has 2, r2 has 1: r2 first"
        );
        assert!(ok(&group, &b, &[&a, &c, &b]));

        let like = app(&[("rack", Like, Some("r[0-1]"))]);
        assert!(ok(&like, &a, &[]) && !ok(&like, &b, &[]));
        let partial = app(&[("rack", Like, Some("r"))]);
        assert!(!ok(&partial, &a, &[]), "LIKE matches the whole value");
        let unlike = app(&[("zone", Unlike, Some("z1"))]);
        assert!(
            !ok(&unlike, &a, &[]) && ok(&unlike, &c, &[]),
            "no zone: not z1"
        );

        let max_per = app(&[("rack", MaxPer, Some("2"))]);
        assert!(ok(&max_per, &a, &[&c]) && !ok(&max_per, &a, &[&a, &c]));

        let is = app(&[("zone", Is, Some("z1"))]);
        assert!(ok(&is, &b, &[]) && !ok(&is, &c, &[]));

        let missing = app(&[("gpu-model", Unique, None)]);
        assert_eq!(
            fit(&missing, "*", &r, &a, &[]),
            Err(Rejection::UnfulfilledConstraint)
        );
    }
}
