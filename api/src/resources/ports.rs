//! Port ranges and the set operations on them.
//!
//! Why it exists: Mesos offers ports as ranges (`[31000-32000]`), agents advertise them, the
//! allocator subtracts what tasks hold and checks that a launch only uses offered ports. Those
//! are set operations on ranges, and they belong next to the rest of the resource arithmetic,
//! pure and exhaustively tested, rather than re-done (slightly differently) by every controller.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ParseResourcesError, ResourceError, Shortfall};

/// An inclusive range of TCP/UDP port numbers: `begin: 31000, end: 32000` is 1001 ports.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.begin <= self.end",
    "message": "a port range's begin must not be greater than its end"
}]))]
pub struct PortRange {
    /// First port of the range.
    pub begin: u16,
    /// Last port of the range (inclusive); equal to `begin` for a single port.
    pub end: u16,
}

impl PortRange {
    /// The ports `begin..=end`.
    pub const fn new(begin: u16, end: u16) -> PortRange {
        PortRange { begin, end }
    }

    /// A range holding one port.
    pub const fn single(port: u16) -> PortRange {
        PortRange {
            begin: port,
            end: port,
        }
    }

    /// Whether the range holds no port (`begin > end`, which validation rejects).
    pub const fn is_empty(&self) -> bool {
        self.begin > self.end
    }

    /// How many ports the range holds.
    pub fn len(&self) -> u64 {
        if self.is_empty() {
            0
        } else {
            u64::from(self.end - self.begin) + 1
        }
    }

    /// Whether `port` is in the range.
    pub const fn contains(&self, port: u16) -> bool {
        self.begin <= port && port <= self.end
    }
}

impl fmt::Display for PortRange {
    /// Mesos' form, `31000-32000` (a single port is `8080-8080`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.begin, self.end)
    }
}

/// A set of ports, written as a list of ranges.
///
/// The list on the wire is kept as written; the set operations treat it as a set (order,
/// overlaps and adjacency do not matter) and return normalized lists: sorted, non-overlapping,
/// adjacent ranges merged, empty ranges dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct PortRanges(Vec<PortRange>);

impl PortRanges {
    /// No ports.
    pub const fn new() -> PortRanges {
        PortRanges(Vec::new())
    }

    /// The set of the given ranges, normalized.
    pub fn from_ranges(ranges: impl IntoIterator<Item = PortRange>) -> PortRanges {
        PortRanges(ranges.into_iter().collect()).normalized()
    }

    /// The ranges as stored (normalized if this came from a set operation).
    pub fn ranges(&self) -> &[PortRange] {
        &self.0
    }

    /// Whether the set holds no port.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(PortRange::is_empty)
    }

    /// How many distinct ports the set holds.
    pub fn count(&self) -> u64 {
        self.normalized().0.iter().map(PortRange::len).sum()
    }

    /// Whether `port` is in the set.
    pub fn contains_port(&self, port: u16) -> bool {
        self.0.iter().any(|r| r.contains(port))
    }

    /// The same set as sorted, disjoint, non-adjacent ranges without empty ones.
    pub fn normalized(&self) -> PortRanges {
        let mut ranges: Vec<PortRange> = self.0.iter().copied().filter(|r| !r.is_empty()).collect();
        ranges.sort_unstable();
        let mut out: Vec<PortRange> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match out.last_mut() {
                Some(last) if u32::from(r.begin) <= u32::from(last.end) + 1 => {
                    last.end = last.end.max(r.end);
                }
                _ => out.push(r),
            }
        }
        PortRanges(out)
    }

    /// Every port in `self` or in `other` (merge).
    pub fn union(&self, other: &PortRanges) -> PortRanges {
        PortRanges(self.0.iter().chain(&other.0).copied().collect()).normalized()
    }

    /// The ports in `self` that are not in `other`.
    pub fn difference(&self, other: &PortRanges) -> PortRanges {
        let remove = other.normalized().0;
        let mut out = Vec::new();
        for r in self.normalized().0 {
            // Both lists are sorted: cut each removed range out of `r`, left to right.
            let mut begin = r.begin;
            let mut covered = false;
            for cut in &remove {
                if cut.end < begin {
                    continue;
                }
                if cut.begin > r.end {
                    break;
                }
                if cut.begin > begin {
                    out.push(PortRange::new(begin, cut.begin - 1));
                }
                if cut.end >= r.end {
                    covered = true;
                    break;
                }
                // cut.end < r.end <= u16::MAX, so this cannot overflow.
                begin = cut.end + 1;
            }
            if !covered {
                out.push(PortRange::new(begin, r.end));
            }
        }
        PortRanges(out)
    }

    /// Whether every port of `other` is in `self`.
    pub fn contains(&self, other: &PortRanges) -> bool {
        other.difference(self).is_empty()
    }

    /// `self` without the ports of `other`; an error naming the missing ports when `other` holds
    /// ports that `self` does not.
    pub fn checked_sub(&self, other: &PortRanges) -> Result<PortRanges, ResourceError> {
        let missing = other.difference(self);
        if missing.is_empty() {
            Ok(self.difference(other))
        } else {
            Err(ResourceError::Insufficient(vec![Shortfall {
                resource: "ports",
                requested: missing.to_string(),
                available: self.normalized().to_string(),
            }]))
        }
    }

    /// The `n` lowest ports of the set, or `None` if it holds fewer than `n`.
    pub fn pick(&self, n: usize) -> Option<Vec<u16>> {
        let ports: Vec<u16> = self
            .normalized()
            .0
            .into_iter()
            .flat_map(|r| r.begin..=r.end)
            .take(n)
            .collect();
        (ports.len() == n).then_some(ports)
    }
}

impl From<Vec<PortRange>> for PortRanges {
    /// Keeps the list as given (see [`PortRanges::from_ranges`] to normalize).
    fn from(ranges: Vec<PortRange>) -> PortRanges {
        PortRanges(ranges)
    }
}

impl FromIterator<PortRange> for PortRanges {
    fn from_iter<I: IntoIterator<Item = PortRange>>(iter: I) -> PortRanges {
        PortRanges::from_ranges(iter)
    }
}

impl fmt::Display for PortRanges {
    /// Mesos' text form: `[31000-32000,33000-33010]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        f.write_str("]")
    }
}

impl FromStr for PortRanges {
    type Err = ParseResourcesError;

    /// Reads `[31000-32000,33000-33010]`; the brackets are optional and a lone port `8080`
    /// stands for `8080-8080`. The list is kept as written.
    fn from_str(s: &str) -> Result<PortRanges, ParseResourcesError> {
        let err = |message: String| ParseResourcesError::Invalid {
            resource: "ports",
            value: s.trim().to_string(),
            message,
        };
        let text = s.trim();
        let inner = match (text.strip_prefix('['), text.strip_suffix(']')) {
            (Some(_), Some(_)) if text.len() >= 2 => &text[1..text.len() - 1],
            (None, None) => text,
            _ => {
                return Err(err(
                    "unbalanced brackets; write ports as [31000-32000,33000-33010]".into(),
                ));
            }
        };
        if inner.trim().is_empty() {
            return Ok(PortRanges::new());
        }
        let port = |p: &str| -> Result<u16, ParseResourcesError> {
            let p = p.trim();
            match p.parse::<u64>() {
                Ok(n) => u16::try_from(n)
                    .map_err(|_| err(format!("port {n} is out of range; ports are 0-65535"))),
                Err(_) => Err(err(format!(
                    "{p:?} is not a port number; write ranges as begin-end, e.g. 31000-32000"
                ))),
            }
        };
        let mut ranges = Vec::new();
        for item in inner.split(',') {
            let range = match item.split_once('-') {
                Some((b, e)) => PortRange::new(port(b)?, port(e)?),
                None => PortRange::single(port(item)?),
            };
            if range.is_empty() {
                return Err(err(format!(
                    "range {range} ends before it begins; write it as {}-{}",
                    range.end, range.begin
                )));
            }
            ranges.push(range);
        }
        Ok(PortRanges(ranges))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PortRanges {
        s.parse().unwrap()
    }

    #[test]
    fn normalizes_sorts_merges_overlapping_and_adjacent() {
        assert_eq!(
            p("[5-9,1-3,4-4,20-30,25-26]").normalized(),
            p("[1-9,20-30]")
        );
        assert_eq!(p("[65535-65535,0-0,1-65534]").normalized(), p("[0-65535]"));
        let with_empty = PortRanges::from(vec![PortRange::new(10, 5), PortRange::single(7)]);
        assert_eq!(with_empty.normalized(), p("[7-7]"));
        assert!(PortRanges::from(vec![PortRange::new(2, 1)]).is_empty());
    }

    #[test]
    fn union_merges() {
        assert_eq!(p("[1-5]").union(&p("[6-10,20-20]")), p("[1-10,20-20]"));
        assert_eq!(p("[]").union(&p("[3-4]")), p("[3-4]"));
    }

    #[test]
    fn difference_cuts_holes() {
        assert_eq!(p("[1-10]").difference(&p("[3-4,8-8]")), p("[1-2,5-7,9-10]"));
        assert_eq!(p("[1-10]").difference(&p("[0-1,10-20]")), p("[2-9]"));
        assert_eq!(p("[1-10]").difference(&p("[0-20]")), p("[]"));
        assert_eq!(p("[1-3,5-8]").difference(&p("[2-6]")), p("[1-1,7-8]"));
        assert_eq!(
            p("[0-65535]").difference(&p("[0-0,65535-65535]")),
            p("[1-65534]")
        );
        assert_eq!(p("[1-3]").difference(&p("[7-9]")), p("[1-3]"));
    }

    #[test]
    fn containment() {
        assert!(p("[31000-32000]").contains(&p("[31000-31000,31500-31600]")));
        assert!(!p("[31000-32000]").contains(&p("[31990-32010]")));
        assert!(
            p("[1-5,6-10]").contains(&p("[4-7]")),
            "adjacent ranges form one span"
        );
        assert!(p("[1-2]").contains(&p("[]")));
        assert!(p("[1-2]").contains_port(2) && !p("[1-2]").contains_port(3));
    }

    #[test]
    fn checked_sub_names_the_missing_ports() {
        assert_eq!(
            p("[1-10]").checked_sub(&p("[2-3]")).unwrap(),
            p("[1-1,4-10]")
        );
        let err = p("[1-10]").checked_sub(&p("[9-12]")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not enough resources: ports [11-12] requested, [1-10] available"
        );
    }

    #[test]
    fn counts_and_picks() {
        assert_eq!(p("[31000-32000,33000-33010]").count(), 1012);
        assert_eq!(p("[1-5,3-7]").count(), 7);
        assert_eq!(p("[0-65535]").count(), 65536);
        assert_eq!(p("[10-11,3-3]").pick(3), Some(vec![3, 10, 11]));
        assert_eq!(p("[10-11]").pick(3), None);
        assert_eq!(p("[]").pick(0), Some(vec![]));
    }

    #[test]
    fn text_form_round_trips() {
        let text = "[31000-32000,33000-33010]";
        assert_eq!(p(text).to_string(), text);
        assert_eq!(p("8080").to_string(), "[8080-8080]");
        assert_eq!(p(" [ 1 - 2 , 4 ] ").to_string(), "[1-2,4-4]");
        assert_eq!(p("[]"), PortRanges::new());
    }

    #[test]
    fn text_form_errors_say_what_to_fix() {
        let msg = |s: &str| s.parse::<PortRanges>().unwrap_err().to_string();
        assert!(
            msg("[70000-70001]").contains("port 70000 is out of range"),
            "{}",
            msg("[70000-70001]")
        );
        assert!(msg("[9-1]").contains("write it as 1-9"), "{}", msg("[9-1]"));
        assert!(msg("[1-2").contains("unbalanced brackets"));
        assert!(msg("[a-b]").contains("\"a\" is not a port number"));
    }

    #[test]
    fn serializes_as_a_list_of_begin_end_objects() {
        let json = serde_json::to_value(p("[1-2,5-5]")).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"begin": 1, "end": 2}, {"begin": 5, "end": 5}])
        );
        let back: PortRanges = serde_json::from_value(json).unwrap();
        assert_eq!(back, p("[1-2,5-5]"));
    }
}
