//! Field sets: which fields of an object a manager owns, as structured-merge-diff models them.
//!
//! Why it exists: server-side apply decides conflicts, shared ownership and removals by set
//! operations over field paths, and stores each manager's set in `metadata.managedFields` in the
//! FieldsV1 format clients read and write (kubectl and Helm rewrite it to migrate client-side
//! apply ownership). A path is a list of [`PathElement`]s; a [`FieldSet`] is a trie of them in
//! which a node is a *member* when the path to it is in the set (FieldsV1 marks such a node
//! `".": {}`, or writes it as `{}` when it has no children).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::schema::MAX_DEPTH;

/// One step of a field path. The order (fields, then keys, then values, then indices) is the
/// order FieldsV1 lists children in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// `f:<name>`: a field of an object (a named property or a map key).
    Field(String),
    /// `k:<json>`: an item of a map list, by the canonical JSON object of its key fields, e.g.
    /// `{"name":"http"}` (keys sorted).
    Key(String),
    /// `v:<json>`: an item of a set, by its canonical JSON value.
    Value(String),
    /// `i:<index>`: an item of a list by position (read from clients; never produced here).
    Index(usize),
}

impl PathElement {
    /// The `k:` element of a map-list item whose key fields have these values.
    pub fn key<'a>(fields: impl IntoIterator<Item = (&'a str, &'a Value)>) -> PathElement {
        let sorted: BTreeMap<&str, &Value> = fields.into_iter().collect();
        let mut m = Map::new();
        for (k, v) in sorted {
            m.insert(k.to_string(), canonical(v, 0));
        }
        PathElement::Key(Value::Object(m).to_string())
    }

    /// The `v:` element of a set item.
    pub fn value(v: &Value) -> PathElement {
        PathElement::Value(canonical_json(v))
    }

    /// The FieldsV1 key of this element (`f:name`, `k:{...}`, `v:...`, `i:3`).
    pub fn to_fields_v1_key(&self) -> String {
        match self {
            // The common case, without format!'s machinery.
            PathElement::Field(f) => ["f:", f].concat(),
            PathElement::Key(k) => format!("k:{k}"),
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Reads a FieldsV1 key (anything but `.`).
    pub fn from_fields_v1_key(s: &str) -> Result<PathElement, String> {
        let parse_json = |body: &str| {
            serde_json::from_str::<Value>(body)
                .map_err(|e| format!("invalid FieldsV1 key {s:?}: {e}"))
        };
        if let Some(name) = s.strip_prefix("f:") {
            return Ok(PathElement::Field(name.to_string()));
        }
        if let Some(body) = s.strip_prefix("k:") {
            let Value::Object(m) = parse_json(body)? else {
                return Err(format!(
                    "invalid FieldsV1 key {s:?}: k: must hold a JSON object"
                ));
            };
            return Ok(PathElement::key(m.iter().map(|(k, v)| (k.as_str(), v))));
        }
        if let Some(body) = s.strip_prefix("v:") {
            return Ok(PathElement::value(&parse_json(body)?));
        }
        if let Some(i) = s.strip_prefix("i:") {
            return i
                .parse()
                .map(PathElement::Index)
                .map_err(|_| format!("invalid FieldsV1 key {s:?}: i: must hold an index"));
        }
        Err(format!(
            "invalid FieldsV1 key {s:?}: keys start with f:, k:, v: or i:"
        ))
    }
}

/// Renders as structured-merge-diff does in conflict messages: `.name`, `[name="http"]`,
/// `[="value"]`, `[3]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(json) => {
                let fields = match serde_json::from_str::<Value>(json) {
                    Ok(Value::Object(m)) => m,
                    _ => return write!(f, "[{json}]"),
                };
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", render_value(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(json) => match serde_json::from_str::<Value>(json) {
                Ok(v) => write!(f, "[={}]", render_value(&v)),
                Err(_) => write!(f, "[={json}]"),
            },
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

fn render_value(v: &Value) -> String {
    // Strings are quoted (Go's %q and JSON agree for what keys hold), everything else is JSON.
    v.to_string()
}

/// A field path, e.g. `.spec.ports[name="http"].port`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Path(pub Vec<PathElement>);

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for pe in &self.0 {
            write!(f, "{pe}")?;
        }
        Ok(())
    }
}

/// A set of field paths, stored as a trie.
///
/// Invariant: every node either is a member or has a non-empty subtree, so an empty set has no
/// children and [`FieldSet::is_empty`] is cheap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    member: bool,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// No path is in the set.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    /// Whether the path leading to this node is itself in the set.
    pub fn is_member(&self) -> bool {
        self.member
    }

    /// The subtree under one element, if any path goes through it.
    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    /// The subtrees of this node.
    pub fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    /// Adds a path. The empty path (the object itself) is never a member.
    pub fn insert(&mut self, path: &[PathElement]) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        let mut node = self.children.entry(first.clone()).or_default();
        for pe in rest {
            node = node.children.entry(pe.clone()).or_default();
        }
        node.member = true;
    }

    /// Whether `path` is in the set.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        let mut node = self;
        for pe in path {
            match node.children.get(pe) {
                Some(n) => node = n,
                None => return false,
            }
        }
        !path.is_empty() && node.member
    }

    /// The subtree at `path` (what the set holds under it), if any.
    pub fn subtree(&self, path: &[PathElement]) -> Option<&FieldSet> {
        let mut node = self;
        for pe in path {
            node = node.children.get(pe)?;
        }
        Some(node)
    }

    /// Every path in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    /// Adds every path of `other`.
    pub fn union_with(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (pe, child) in &other.children {
            self.children
                .entry(pe.clone())
                .or_default()
                .union_with(child);
        }
    }

    /// The paths of `self` that are not in `other` (paths under a path of `other` stay).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            let d = match other.children.get(pe) {
                Some(o) => child.difference(o),
                None => child.clone(),
            };
            if !d.is_empty() {
                out.children.insert(pe.clone(), d);
            }
        }
        out
    }

    /// The paths of `self` that are neither in `other` nor under a path of `other`.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            let d = match other.children.get(pe) {
                Some(o) if o.member => continue,
                Some(o) => child.recursive_difference(o),
                None => child.clone(),
            };
            if !d.is_empty() {
                out.children.insert(pe.clone(), d);
            }
        }
        out
    }

    /// Whether [`FieldSet::difference`] with `other` (with `under`, also
    /// [`FieldSet::recursive_difference`]) would take any path out of `self` — without building
    /// the result.
    pub fn loses_paths_to(&self, other: &FieldSet, under: bool) -> bool {
        if other.member && (self.member || (under && !self.is_empty())) {
            return true;
        }
        self.children.iter().any(|(pe, child)| {
            other
                .children
                .get(pe)
                .is_some_and(|o| child.loses_paths_to(o, under))
        })
    }

    /// The paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let i = child.intersection(o);
                if !i.is_empty() {
                    out.children.insert(pe.clone(), i);
                }
            }
        }
        out
    }

    /// Every path in the set, parents before children, in FieldsV1 order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        self.collect(&mut prefix, &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Path>) {
        if self.member && !prefix.is_empty() {
            out.push(Path(prefix.clone()));
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    /// How many paths the set holds.
    pub fn len(&self) -> usize {
        usize::from(self.member) + self.children.values().map(FieldSet::len).sum::<usize>()
    }

    /// The FieldsV1 JSON of the set, as stored in `managedFields[].fieldsV1`.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (pe, child) in &self.children {
            m.insert(pe.to_fields_v1_key(), child.to_fields_v1());
        }
        Value::Object(m)
    }

    /// Reads FieldsV1 JSON. Refuses anything but objects, unknown key prefixes and nesting deeper
    /// than [`MAX_DEPTH`].
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let mut set = FieldSet::default();
        read_fields_v1(v, &mut set, 0)?;
        // The root itself cannot be owned.
        set.member = false;
        set.prune_empty();
        Ok(set)
    }

    fn prune_empty(&mut self) {
        for child in self.children.values_mut() {
            child.prune_empty();
        }
        self.children.retain(|_, c| !c.is_empty());
    }
}

fn read_fields_v1(v: &Value, node: &mut FieldSet, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH + 2 {
        return Err(format!(
            "FieldsV1 is nested more than {} levels deep",
            MAX_DEPTH + 2
        ));
    }
    let Value::Object(m) = v else {
        return Err(format!("FieldsV1 nodes must be objects, found {v}"));
    };
    if m.is_empty() {
        // A leaf: the path to it is in the set.
        node.member = true;
        return Ok(());
    }
    for (k, child) in m {
        if k == "." {
            node.member = true;
            continue;
        }
        let pe = PathElement::from_fields_v1_key(k)?;
        read_fields_v1(child, node.children.entry(pe).or_default(), depth + 1)?;
    }
    Ok(())
}

/// JSON with object keys sorted at every level, for identifying values (set items, map-list
/// keys) independently of key order.
pub fn canonical_json(v: &Value) -> String {
    canonical(v, 0).to_string()
}

fn canonical(v: &Value, depth: usize) -> Value {
    match v {
        Value::Object(m) if depth <= MAX_DEPTH => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            let mut out = Map::new();
            for (k, v) in sorted {
                out.insert(k.clone(), canonical(v, depth + 1));
            }
            Value::Object(out)
        }
        Value::Array(a) if depth <= MAX_DEPTH => {
            Value::Array(a.iter().map(|x| canonical(x, depth + 1)).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.into())
    }

    #[test]
    fn losing_paths_is_told_without_building_the_difference() {
        let set = |v: serde_json::Value| FieldSet::from_fields_v1(&v).unwrap();
        let owned = set(
            json!({"f:status": {"f:state": {}, "f:sandbox": {"f:path": {}}},
                               "f:spec": {"f:command": {}}}),
        );
        let others = [
            json!({}),
            json!({"f:status": {"f:state": {}}}),
            json!({"f:status": {"f:message": {}}}),
            json!({"f:status": {"f:sandbox": {}}}),
            json!({"f:status": {".": {}}}),
            json!({"f:spec": {"f:command": {}, "f:env": {}}}),
            json!({"f:metadata": {"f:labels": {}}}),
        ];
        for other in others {
            let other = set(other);
            assert_eq!(
                owned.loses_paths_to(&other, false),
                owned.difference(&other) != owned,
                "difference with {other:?}"
            );
            assert_eq!(
                owned.loses_paths_to(&other, true),
                owned.recursive_difference(&other) != owned,
                "recursive difference with {other:?}"
            );
        }
    }

    #[test]
    fn fieldset_round_trips_fields_v1() {
        let v1 = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:ports": {
                    ".": {},
                    "k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}
                },
                "f:finalizers": {"v:\"a\"": {}},
                "f:args": {"i:0": {}}
            }
        });
        let set = FieldSet::from_fields_v1(&v1).unwrap();
        assert_eq!(set.to_fields_v1(), v1);
        assert_eq!(set.len(), 7);
        assert!(set.contains(&[f("metadata"), f("labels")]));
        assert!(!set.contains(&[f("metadata")]));
    }

    #[test]
    fn fieldset_key_elements_are_canonical() {
        let a = PathElement::from_fields_v1_key(r#"k:{"protocol":"TCP","port":80}"#).unwrap();
        let b = PathElement::key([("port", &json!(80)), ("protocol", &json!("TCP"))]);
        assert_eq!(a, b);
        assert_eq!(a.to_fields_v1_key(), r#"k:{"port":80,"protocol":"TCP"}"#);
        assert_eq!(a.to_string(), r#"[port=80,protocol="TCP"]"#);
        assert_eq!(PathElement::value(&json!("x")).to_string(), r#"[="x"]"#);
    }

    #[test]
    fn fieldset_path_rendering() {
        let p = Path(vec![
            f("spec"),
            f("ports"),
            PathElement::key([("name", &json!("http"))]),
            f("port"),
        ]);
        assert_eq!(p.to_string(), r#".spec.ports[name="http"].port"#);
        assert_eq!(
            Path(vec![f("metadata"), f("labels"), f("app")]).to_string(),
            ".metadata.labels.app"
        );
    }

    #[test]
    fn fieldset_operations() {
        let mut a = FieldSet::new();
        a.insert(&[f("spec"), f("x")]);
        a.insert(&[f("spec"), f("y")]);
        a.insert(&[f("spec")]);
        let mut b = FieldSet::new();
        b.insert(&[f("spec"), f("y")]);
        b.insert(&[f("spec"), f("z")]);

        let u = a.union(&b);
        assert_eq!(u.len(), 4);
        let d = a.difference(&b);
        assert_eq!(d.paths().len(), 2);
        assert!(d.contains(&[f("spec")]) && d.contains(&[f("spec"), f("x")]));
        let i = a.intersection(&b);
        assert_eq!(i.paths(), vec![Path(vec![f("spec"), f("y")])]);

        let mut spec = FieldSet::new();
        spec.insert(&[f("spec")]);
        assert!(b.difference(&spec).contains(&[f("spec"), f("z")]));
        assert!(b.recursive_difference(&spec).is_empty());
        assert!(FieldSet::new().is_empty());
    }

    #[test]
    fn fieldset_refuses_bad_fields_v1() {
        assert!(FieldSet::from_fields_v1(&json!({"x:1": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"k:[1]": {}})).is_err());
        let mut deep = json!({});
        for _ in 0..(MAX_DEPTH + 10) {
            deep = json!({ "f:a": deep });
        }
        assert!(FieldSet::from_fields_v1(&deep).is_err());
    }
}
