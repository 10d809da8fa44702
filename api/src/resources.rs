//! Resource arithmetic: what an agent has, an offer gives and a task holds.
//!
//! Why it exists: the allocator, the frameworks and the agent all add, subtract and compare
//! resources, and they must agree to the milli-cpu and the port. Units follow Mesos and Marathon
//! so a Marathon app or a `mesos-execute --resources` string maps without conversion: cpus are
//! decimals with three places (kept as integer milli-cpus, see [`Cpus`]), mem and disk are whole
//! megabytes, gpus are whole devices, ports are ranges (see [`PortRanges`]).
//!
//! Pure: no clock, no I/O, no Kubernetes client.

mod cpus;
mod ports;

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use cpus::{Cpus, CpusError};
pub use ports::{PortRange, PortRanges};

/// A bundle of resources: cpus, memory, disk, GPUs and ports.
///
/// Absent fields are zero; zero fields are left out when serialized, so `{cpus: 1, mem: 128}`
/// round-trips as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// CPU shares, a decimal with up to three places (0.5, 1, 0.125).
    #[serde(default, skip_serializing_if = "Cpus::is_zero")]
    pub cpus: Cpus,
    /// Memory in megabytes (MB), as Mesos and Marathon count it.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub mem: u64,
    /// Disk space in megabytes (MB).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub disk: u64,
    /// Whole GPU devices.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub gpus: u32,
    /// Port ranges (inclusive), e.g. `[{begin: 31000, end: 32000}]`.
    #[serde(default, skip_serializing_if = "PortRanges::is_empty")]
    pub ports: PortRanges,
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// One resource that falls short: what was asked for and what there is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortfall {
    /// `cpus`, `mem`, `disk`, `gpus` or `ports`.
    pub resource: &'static str,
    /// The amount asked for, in the text form (for ports: the ports that are missing).
    pub requested: String,
    /// The amount there is, in the text form.
    pub available: String,
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} requested, {} available",
            self.resource, self.requested, self.available
        )
    }
}

/// Resource arithmetic that cannot be done.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceError {
    /// Subtracting (or fitting) would need more than there is of one or more resources.
    #[error("not enough resources: {}", join(.0))]
    Insufficient(Vec<Shortfall>),
}

fn join(shortfalls: &[Shortfall]) -> String {
    shortfalls
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a Mesos resource string (`cpus:4;mem:8192;ports:[31000-32000]`) could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseResourcesError {
    /// An item is not `name:value`.
    #[error("{item:?} is not name:value; write resources as cpus:1;mem:128;ports:[31000-31005]")]
    NotNameValue {
        /// The offending item.
        item: String,
    },
    /// An unknown resource name.
    #[error("unknown resource {name:?}; strata knows cpus, mem, disk, gpus and ports")]
    UnknownResource {
        /// The name as written.
        name: String,
    },
    /// Mesos' reservation syntax `cpus(role):4`.
    #[error("{item:?}: reserved resources (name(role):value) are not supported; drop the (role)")]
    Reservation {
        /// The offending item.
        item: String,
    },
    /// A value that does not fit its resource.
    #[error("invalid {resource} {value:?}: {message}")]
    Invalid {
        /// The resource whose value is wrong.
        resource: &'static str,
        /// The value as written.
        value: String,
        /// What is wrong and how to write it.
        message: String,
    },
}

impl Resources {
    /// No resources at all.
    pub fn new() -> Resources {
        Resources::default()
    }

    /// Whether every amount is zero and there are no ports.
    pub fn is_empty(&self) -> bool {
        self.cpus.is_zero()
            && self.mem == 0
            && self.disk == 0
            && self.gpus == 0
            && self.ports.is_empty()
    }

    /// The same resources with the port ranges normalized (sorted, merged).
    pub fn normalized(&self) -> Resources {
        Resources {
            ports: self.ports.normalized(),
            ..self.clone()
        }
    }

    /// What `self` asks for beyond `available`, resource by resource (empty when it fits).
    pub fn shortfalls(&self, available: &Resources) -> Vec<Shortfall> {
        let mut out = Vec::new();
        let mut check = |resource: &'static str, requested: String, have: String, short: bool| {
            if short {
                out.push(Shortfall {
                    resource,
                    requested,
                    available: have,
                });
            }
        };
        check(
            "cpus",
            self.cpus.to_string(),
            available.cpus.to_string(),
            self.cpus > available.cpus,
        );
        check(
            "mem",
            self.mem.to_string(),
            available.mem.to_string(),
            self.mem > available.mem,
        );
        check(
            "disk",
            self.disk.to_string(),
            available.disk.to_string(),
            self.disk > available.disk,
        );
        check(
            "gpus",
            self.gpus.to_string(),
            available.gpus.to_string(),
            self.gpus > available.gpus,
        );
        let missing = self.ports.difference(&available.ports);
        check(
            "ports",
            missing.to_string(),
            available.ports.normalized().to_string(),
            !missing.is_empty(),
        );
        out
    }

    /// Whether `self` fits in `available`: no amount larger, every port available.
    pub fn fits(&self, available: &Resources) -> bool {
        self.cpus <= available.cpus
            && self.mem <= available.mem
            && self.disk <= available.disk
            && self.gpus <= available.gpus
            && available.ports.contains(&self.ports)
    }

    /// `self - other`, or an error naming every resource that would go negative (including
    /// ports of `other` that `self` does not hold).
    pub fn checked_sub(&self, other: &Resources) -> Result<Resources, ResourceError> {
        let shortfalls = other.shortfalls(self);
        if !shortfalls.is_empty() {
            return Err(ResourceError::Insufficient(shortfalls));
        }
        Ok(Resources {
            cpus: self.cpus.saturating_sub(other.cpus),
            mem: self.mem - other.mem,
            disk: self.disk - other.disk,
            gpus: self.gpus - other.gpus,
            ports: self.ports.difference(&other.ports),
        })
    }

    /// `self - other`, each amount floored at zero and the ports of `other` removed: what is
    /// left of `self` even when `other` claims more than it has.
    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        Resources {
            cpus: self.cpus.saturating_sub(other.cpus),
            mem: self.mem.saturating_sub(other.mem),
            disk: self.disk.saturating_sub(other.disk),
            gpus: self.gpus.saturating_sub(other.gpus),
            ports: self.ports.difference(&other.ports),
        }
    }

    /// The largest share `self` takes of `total` over cpus, mem, disk and gpus: the "dominant
    /// share" of Dominant Resource Fairness, between 0 and 1 when `self` fits in `total`.
    /// Resources of which `total` has none are ignored.
    pub fn dominant_share(&self, total: &Resources) -> f64 {
        let share = |used: f64, total: f64| if total > 0.0 { used / total } else { 0.0 };
        [
            share(self.cpus.millis() as f64, total.cpus.millis() as f64),
            share(self.mem as f64, total.mem as f64),
            share(self.disk as f64, total.disk as f64),
            share(f64::from(self.gpus), f64::from(total.gpus)),
        ]
        .into_iter()
        .fold(0.0, f64::max)
    }
}

impl Add<&Resources> for &Resources {
    type Output = Resources;

    /// Sums the amounts and merges the port sets.
    fn add(self, other: &Resources) -> Resources {
        Resources {
            cpus: self.cpus + other.cpus,
            mem: self.mem.saturating_add(other.mem),
            disk: self.disk.saturating_add(other.disk),
            gpus: self.gpus.saturating_add(other.gpus),
            ports: self.ports.union(&other.ports),
        }
    }
}

impl Add for Resources {
    type Output = Resources;

    fn add(self, other: Resources) -> Resources {
        &self + &other
    }
}

impl AddAssign<&Resources> for Resources {
    fn add_assign(&mut self, other: &Resources) {
        *self = &*self + other;
    }
}

impl<'a> Sum<&'a Resources> for Resources {
    fn sum<I: Iterator<Item = &'a Resources>>(iter: I) -> Resources {
        iter.fold(Resources::new(), |acc, r| &acc + r)
    }
}

impl Sum for Resources {
    fn sum<I: Iterator<Item = Resources>>(iter: I) -> Resources {
        iter.fold(Resources::new(), |acc, r| &acc + &r)
    }
}

impl fmt::Display for Resources {
    /// Mesos' text form, zero amounts left out: `cpus:4;mem:8192;disk:1000;ports:[31000-32000]`.
    /// No resources at all is the empty string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items = Vec::new();
        if !self.cpus.is_zero() {
            items.push(format!("cpus:{}", self.cpus));
        }
        if self.mem > 0 {
            items.push(format!("mem:{}", self.mem));
        }
        if self.disk > 0 {
            items.push(format!("disk:{}", self.disk));
        }
        if self.gpus > 0 {
            items.push(format!("gpus:{}", self.gpus));
        }
        if !self.ports.is_empty() {
            items.push(format!("ports:{}", self.ports));
        }
        f.write_str(&items.join(";"))
    }
}

impl FromStr for Resources {
    type Err = ParseResourcesError;

    /// Reads Mesos' text form, `cpus:4;mem:8192;disk:1000;ports:[31000-32000,33000-33010]`
    /// (as `mesos-agent --resources` and `mesos-execute --resources` take it). Whitespace around
    /// items is ignored; a name given twice adds up, as in Mesos; the empty string is no
    /// resources.
    fn from_str(s: &str) -> Result<Resources, ParseResourcesError> {
        let mut out = Resources::new();
        for item in s.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            let Some((name, value)) = item.split_once(':') else {
                return Err(ParseResourcesError::NotNameValue {
                    item: item.to_string(),
                });
            };
            let (name, value) = (name.trim(), value.trim());
            if name.contains('(') {
                return Err(ParseResourcesError::Reservation {
                    item: item.to_string(),
                });
            }
            let invalid = |resource: &'static str, message: &str| ParseResourcesError::Invalid {
                resource,
                value: value.to_string(),
                message: message.to_string(),
            };
            match name {
                "cpus" => {
                    let cpus: Cpus = value
                        .parse()
                        .map_err(|e: CpusError| invalid("cpus", &e.to_string()))?;
                    out.cpus += cpus;
                }
                "mem" => {
                    let mem: u64 = value
                        .parse()
                        .map_err(|_| invalid("mem", "expected whole megabytes, e.g. mem:8192"))?;
                    out.mem = out.mem.saturating_add(mem);
                }
                "disk" => {
                    let disk: u64 = value.parse().map_err(|_| {
                        invalid("disk", "expected whole megabytes, e.g. disk:10000")
                    })?;
                    out.disk = out.disk.saturating_add(disk);
                }
                "gpus" => {
                    let gpus: u32 = value.parse().map_err(|_| {
                        invalid("gpus", "expected a whole number of GPUs, e.g. gpus:1")
                    })?;
                    out.gpus = out.gpus.saturating_add(gpus);
                }
                "ports" => {
                    let ports: PortRanges = value.parse()?;
                    out.ports = PortRanges::from(
                        out.ports
                            .ranges()
                            .iter()
                            .chain(ports.ranges())
                            .copied()
                            .collect::<Vec<_>>(),
                    );
                }
                _ => {
                    return Err(ParseResourcesError::UnknownResource {
                        name: name.to_string(),
                    });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Resources {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_mesos_text_form() {
        let res = r("cpus:4;mem:8192;disk:1000;ports:[31000-32000,33000-33010]");
        assert_eq!(res.cpus, Cpus::whole(4));
        assert_eq!(res.mem, 8192);
        assert_eq!(res.disk, 1000);
        assert_eq!(res.gpus, 0);
        assert_eq!(
            res.ports.ranges(),
            &[PortRange::new(31000, 32000), PortRange::new(33000, 33010)]
        );
        assert_eq!(
            r(" cpus : 0.5 ; mem:128 ; "),
            Resources {
                cpus: Cpus::from_millis(500),
                mem: 128,
                ..Resources::new()
            }
        );
        assert_eq!(r(""), Resources::new());
        assert_eq!(r("gpus:2").gpus, 2);
    }

    #[test]
    fn repeated_names_add_up_as_in_mesos() {
        assert_eq!(
            r("cpus:1;cpus:0.5;mem:1;mem:2").to_string(),
            "cpus:1.5;mem:3"
        );
        assert_eq!(r("ports:[1-2];ports:[5-6]").ports.ranges().len(), 2);
    }

    #[test]
    fn displays_back_to_the_text_form() {
        let text = "cpus:4;mem:8192;disk:1000;gpus:1;ports:[31000-32000,33000-33010]";
        assert_eq!(r(text).to_string(), text);
        assert_eq!(r("mem:128;cpus:0.125").to_string(), "cpus:0.125;mem:128");
        assert_eq!(Resources::new().to_string(), "");
        assert_eq!(r(&r(text).to_string()), r(text));
    }

    #[test]
    fn parse_errors_say_what_to_fix() {
        let msg = |s: &str| s.parse::<Resources>().unwrap_err().to_string();
        assert_eq!(
            msg("cpus4"),
            "\"cpus4\" is not name:value; write resources as cpus:1;mem:128;ports:[31000-31005]"
        );
        assert_eq!(
            msg("memory:12"),
            "unknown resource \"memory\"; strata knows cpus, mem, disk, gpus and ports"
        );
        assert!(msg("mem:1.5G").contains("invalid mem \"1.5G\": expected whole megabytes"));
        assert!(msg("cpus:lots").contains("invalid cpus \"lots\""));
        assert!(msg("cpus:-1").contains("must not be negative"));
        assert!(msg("gpus:0.5").contains("whole number of GPUs"));
        assert!(msg("cpus(web):2").contains("drop the (role)"));
        assert!(msg("ports:[5-1]").contains("write it as 1-5"));
    }

    #[test]
    fn adds_amounts_and_merges_ports() {
        let sum = r("cpus:0.1;mem:100;ports:[1-5]") + r("cpus:0.2;mem:28;gpus:1;ports:[6-8,20-20]");
        assert_eq!(sum, r("cpus:0.3;mem:128;gpus:1;ports:[1-8,20-20]"));
        let mut acc = Resources::new();
        acc += &r("disk:5");
        acc += &r("disk:5");
        assert_eq!(acc.disk, 10);
        let total: Resources = [r("cpus:1"), r("cpus:2")].iter().sum();
        assert_eq!(total.cpus, Cpus::whole(3));
    }

    #[test]
    fn checked_sub_subtracts_or_names_every_shortfall() {
        let agent = r("cpus:4;mem:8192;disk:1000;ports:[31000-32000]");
        let task = r("cpus:0.5;mem:128;ports:[31000-31001]");
        let left = agent.checked_sub(&task).unwrap();
        assert_eq!(left, r("cpus:3.5;mem:8064;disk:1000;ports:[31002-32000]"));
        assert_eq!(left.checked_sub(&left).unwrap(), Resources::new());

        let err = r("cpus:1;mem:64;ports:[1-3]")
            .checked_sub(&r("cpus:1.5;mem:64;gpus:1;ports:[3-4]"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "not enough resources: cpus 1.5 requested, 1 available; gpus 1 requested, 0 available; \
             ports [4-4] requested, [1-3] available"
        );
        let ResourceError::Insufficient(shortfalls) = err;
        assert_eq!(
            shortfalls.iter().map(|s| s.resource).collect::<Vec<_>>(),
            ["cpus", "gpus", "ports"]
        );
    }

    #[test]
    fn fits_compares_every_resource() {
        let offer = r("cpus:1;mem:256;disk:10;ports:[31000-31010]");
        assert!(r("cpus:1;mem:256").fits(&offer));
        assert!(Resources::new().fits(&offer));
        assert!(r("ports:[31005-31010]").fits(&offer));
        assert!(!r("cpus:1.001").fits(&offer));
        assert!(!r("mem:257").fits(&offer));
        assert!(!r("disk:11").fits(&offer));
        assert!(!r("gpus:1").fits(&offer));
        assert!(!r("ports:[31010-31011]").fits(&offer));
        assert_eq!(r("ports:[31010-31011]").shortfalls(&offer).len(), 1);
        assert!(r("cpus:1").shortfalls(&offer).is_empty());
    }

    #[test]
    fn dominant_share_is_the_largest_fraction() {
        let total = r("cpus:10;mem:1000;gpus:0");
        assert_eq!(r("cpus:1;mem:500").dominant_share(&total), 0.5);
        assert_eq!(r("cpus:5;mem:100").dominant_share(&total), 0.5);
        assert_eq!(
            r("gpus:1").dominant_share(&total),
            0.0,
            "no GPUs in the pool: ignored"
        );
        assert_eq!(Resources::new().dominant_share(&total), 0.0);
    }

    #[test]
    fn serializes_compactly_and_round_trips() {
        let res = r("cpus:0.5;mem:128;ports:[31000-31000]");
        let json = serde_json::to_value(&res).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"cpus": 0.5, "mem": 128, "ports": [{"begin": 31000, "end": 31000}]})
        );
        assert_eq!(serde_json::from_value::<Resources>(json).unwrap(), res);
        assert_eq!(
            serde_json::to_value(Resources::new()).unwrap(),
            serde_json::json!({})
        );
        let yaml: Resources = serde_saphyr::from_str("cpus: 2\nmem: 4096\n").unwrap();
        assert_eq!(yaml, r("cpus:2;mem:4096"));
    }

    #[test]
    fn normalized_merges_ports_only() {
        let res = r("cpus:1;ports:[5-6,1-4]");
        assert_eq!(res.normalized().to_string(), "cpus:1;ports:[1-6]");
        assert!(!res.is_empty());
        assert!(r("ports:[]").is_empty());
    }
}
