//! The schema-directed walks of server-side apply: the field set of a configuration, the
//! difference between two versions of an object, the merge of an applied configuration into the
//! live object, and the removal of fields a manager gave up.
//!
//! Why it exists: all of them must agree on how the schema shapes a value — which objects are
//! granular maps and which are atomic, how list items are identified (by key fields for map
//! lists, by value for sets, not at all for atomic lists) and which fields are not tracked — so
//! they live together. Unknown or preserved fields are granular maps with atomic lists, as with
//! structured-merge-diff's deduced schema. Every walk is depth-capped at [`MAX_DEPTH`].

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, Path, PathElement};
use crate::ordered::{Counterparts, identical};
use crate::schema::{ListType, MAX_DEPTH, MapType, Schema};

static ANY: LazyLock<Schema> = LazyLock::new(Schema::any);

/// Fields of `metadata` the server owns: never part of a field set, never merged from an applied
/// configuration into an existing object.
pub const UNTRACKED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "managedFields",
];

/// Where in an object a walk is: the root and `metadata` have untracked fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Meta,
    Other,
}

/// A field's schema and how the walks treat it.
struct Child<'a> {
    schema: &'a Schema,
    /// A named property (as opposed to a map key): owned through its leaves only.
    named: bool,
    level: Level,
    /// Whether the node itself can be a member of a set (`.metadata` cannot).
    track_node: bool,
}

fn child<'a>(schema: &'a Schema, level: Level, key: &str) -> Option<Child<'a>> {
    match (level, key) {
        (Level::Root, "apiVersion" | "kind") => None,
        (Level::Root, "metadata") => Some(Child {
            schema: crate::schema::builtin::object_meta(),
            named: true,
            level: Level::Meta,
            track_node: false,
        }),
        (Level::Meta, k) if UNTRACKED_METADATA.contains(&k) => None,
        _ => {
            let (schema, named) = match schema.properties.get(key) {
                Some(s) => (s, true),
                None => (
                    schema.additional_properties.as_deref().unwrap_or(&ANY),
                    false,
                ),
            };
            Some(Child {
                schema,
                named,
                level: Level::Other,
                track_node: true,
            })
        }
    }
}

fn item_child(schema: &Schema) -> Child<'_> {
    Child {
        schema: schema.item().unwrap_or(&ANY),
        named: true,
        level: Level::Other,
        track_node: true,
    }
}

fn granular(schema: &Schema) -> bool {
    schema.map_type == MapType::Granular
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The path elements identifying the items of a set or map list, or why they cannot be
/// identified (kube-apiserver's wording).
fn item_ids(schema: &Schema, items: &[Value]) -> Result<Vec<PathElement>, String> {
    let mut ids = Vec::with_capacity(items.len());
    let mut seen = HashSet::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let pe = match &schema.list_type {
            ListType::Atomic => return Err("atomic lists have no item identities".into()),
            ListType::Set => PathElement::value(item),
            ListType::Map(keys) => {
                let Value::Object(obj) = item else {
                    return Err(format!(
                        "element {i}: associative list with keys may only have maps as elements"
                    ));
                };
                let item_schema = schema.item().unwrap_or(&ANY);
                let mut fields = Vec::with_capacity(keys.len());
                for k in keys {
                    let v = obj.get(k).or_else(|| {
                        item_schema
                            .properties
                            .get(k)
                            .and_then(|s| s.default.as_ref())
                    });
                    match v {
                        Some(v) => fields.push((k.as_str(), v)),
                        None => {
                            return Err(format!(
                                "element {i}: associative list with keys has an element that \
                                 omits key field {k:?} (and doesn't have default value)"
                            ));
                        }
                    }
                }
                PathElement::key(fields)
            }
        };
        if !seen.insert(pe.clone()) {
            return Err(format!("duplicate entries for key {pe}"));
        }
        ids.push(pe);
    }
    Ok(ids)
}

fn keyed(schema: &Schema) -> bool {
    !matches!(schema.list_type, ListType::Atomic)
}

// ---------------------------------------------------------------------------------------------
// Field sets

/// The fields a configuration sets: its leaves, list items, map keys and empty or null values,
/// without the untracked fields. With `strict`, a list whose items cannot be identified, or
/// nesting past [`MAX_DEPTH`], is an error (for applied configurations); otherwise such a list
/// counts as one atomic value and deep nesting as a leaf (for stored objects).
pub(crate) fn field_set_of(
    schema: &Schema,
    value: &Value,
    strict: bool,
) -> Result<FieldSet, String> {
    let mut set = FieldSet::new();
    if let Value::Object(m) = value {
        let mut path = Vec::new();
        set_fields(schema, Level::Root, m, &mut path, &mut set, strict, 0)?;
    }
    Ok(set)
}

fn set_fields(
    schema: &Schema,
    level: Level,
    m: &Map<String, Value>,
    path: &mut Vec<PathElement>,
    set: &mut FieldSet,
    strict: bool,
    depth: usize,
) -> Result<(), String> {
    for (k, v) in m {
        let Some(c) = child(schema, level, k) else {
            continue;
        };
        path.push(PathElement::Field(k.clone()));
        set_value(&c, v, path, set, strict, depth + 1)?;
        if c.track_node && !c.named {
            set.insert(path);
        }
        path.pop();
    }
    Ok(())
}

fn set_value(
    c: &Child<'_>,
    v: &Value,
    path: &mut Vec<PathElement>,
    set: &mut FieldSet,
    strict: bool,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        if strict {
            return Err(format!(
                "{}: must not be nested more than {MAX_DEPTH} levels deep",
                Path(path.clone())
            ));
        }
        set.insert(path);
        return Ok(());
    }
    match v {
        Value::Object(m) if granular(c.schema) || c.level == Level::Meta => {
            if m.is_empty() {
                if c.track_node {
                    set.insert(path);
                }
                return Ok(());
            }
            set_fields(c.schema, c.level, m, path, set, strict, depth)
        }
        Value::Array(items) if keyed(c.schema) => {
            let ids = match item_ids(c.schema, items) {
                Ok(ids) => ids,
                Err(e) if strict => return Err(format!("{}: {e}", Path(path.clone()))),
                Err(_) => {
                    set.insert(path);
                    return Ok(());
                }
            };
            let items_are_maps = matches!(c.schema.list_type, ListType::Map(_));
            let ic = item_child(c.schema);
            for (item, pe) in items.iter().zip(ids) {
                path.push(pe);
                if items_are_maps {
                    set_value(&ic, item, path, set, strict, depth + 1)?;
                }
                set.insert(path);
                path.pop();
            }
            Ok(())
        }
        _ => {
            set.insert(path);
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Comparison

/// What changed between two versions of an object, as field sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Fields (and containers) present only in the new version.
    pub added: FieldSet,
    /// Leaves whose value changed.
    pub modified: FieldSet,
    /// Fields (and containers) present only in the old version.
    pub removed: FieldSet,
}

impl Comparison {
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }
}

/// Compares two whole objects, untracked fields excluded.
pub(crate) fn compare(schema: &Schema, old: &Value, new: &Value) -> Comparison {
    let mut c = Comparison::default();
    let mut path = Vec::new();
    compare_fields(
        schema,
        Level::Root,
        old.as_object(),
        new.as_object(),
        &mut path,
        &mut c,
        0,
    );
    c
}

fn compare_fields(
    schema: &Schema,
    level: Level,
    old: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
    path: &mut Vec<PathElement>,
    out: &mut Comparison,
    depth: usize,
) {
    // The old fields with their new values, then the new fields; paired in step (the new
    // object keeps the old one's order) rather than looked up.
    let mut in_new = new.map(Counterparts::new);
    let mut in_old = old.map(Counterparts::new);
    let old_fields = old
        .into_iter()
        .flatten()
        .map(|(k, o)| (k, Some(o), in_new.as_mut().and_then(|m| m.get(k))));
    let new_only = new
        .into_iter()
        .flatten()
        .filter(|(k, _)| in_old.as_mut().is_none_or(|m| m.get(k).is_none()))
        .map(|(k, n)| (k, None, Some(n)));
    for (k, o, n) in old_fields.chain(new_only) {
        let Some(c) = child(schema, level, k) else {
            continue;
        };
        path.push(PathElement::Field(k.clone()));
        compare_value(&c, o, n, path, out, depth + 1);
        path.pop();
    }
}

/// Whether two values, either absent, are the same.
fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => identical(a, b),
        (a, b) => a.is_none() && b.is_none(),
    }
}

fn map_or_absent(v: Option<&Value>) -> Option<Option<&Map<String, Value>>> {
    match v {
        None => Some(None),
        Some(Value::Object(m)) => Some(Some(m)),
        Some(_) => None,
    }
}

fn list_or_absent(v: Option<&Value>) -> Option<Option<&Vec<Value>>> {
    match v {
        None => Some(None),
        Some(Value::Array(a)) => Some(Some(a)),
        Some(_) => None,
    }
}

fn compare_value(
    c: &Child<'_>,
    old: Option<&Value>,
    new: Option<&Value>,
    path: &mut Vec<PathElement>,
    out: &mut Comparison,
    depth: usize,
) {
    // Equal values hold no differences: a write that leaves most of an object alone (a status
    // write leaves the spec) is told so without walking it path by path.
    if same(old, new) {
        return;
    }
    if depth <= MAX_DEPTH && descend(c, old, new, path, out, depth) {
        if c.track_node {
            if old.is_none() {
                out.added.insert(path);
            } else if new.is_none() {
                out.removed.insert(path);
            }
        }
        return;
    }
    match (old, new) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        (Some(o), Some(n)) if !identical(o, n) => {
            out.modified.insert(path);
            if depth <= MAX_DEPTH {
                // A container replaced by something else: its contents are gone, and the
                // contents of a new container are new.
                descend(c, Some(o), None, path, out, depth);
                descend(c, None, Some(n), path, out, depth);
            }
        }
        _ => {}
    }
}

/// Compares the contents of two containers of the same granular kind (either may be absent).
/// Returns false, comparing nothing, when they are not such containers.
fn descend(
    c: &Child<'_>,
    old: Option<&Value>,
    new: Option<&Value>,
    path: &mut Vec<PathElement>,
    out: &mut Comparison,
    depth: usize,
) -> bool {
    if let (Some(om), Some(nm)) = (map_or_absent(old), map_or_absent(new)) {
        if !(granular(c.schema) || c.level == Level::Meta) {
            return false;
        }
        let empty = |m: Option<&Map<String, Value>>| m.is_none_or(Map::is_empty);
        if empty(om) && empty(nm) {
            return false;
        }
        compare_fields(c.schema, c.level, om, nm, path, out, depth);
        return true;
    }
    let (Some(ol), Some(nl)) = (list_or_absent(old), list_or_absent(new)) else {
        return false;
    };
    if !keyed(c.schema) {
        return false;
    }
    let ids_of = |l: Option<&Vec<Value>>| match l {
        None => Ok(Vec::new()),
        Some(items) => item_ids(c.schema, items),
    };
    let (Ok(old_ids), Ok(new_ids)) = (ids_of(ol), ids_of(nl)) else {
        return false;
    };
    let old_items: HashMap<&PathElement, &Value> =
        old_ids.iter().zip(ol.into_iter().flatten()).collect();
    let new_items: HashMap<&PathElement, &Value> =
        new_ids.iter().zip(nl.into_iter().flatten()).collect();
    let items_are_maps = matches!(c.schema.list_type, ListType::Map(_));
    let ic = item_child(c.schema);
    let order = old_ids
        .iter()
        .chain(new_ids.iter().filter(|pe| !old_items.contains_key(pe)));
    for pe in order {
        let (o, n) = (old_items.get(pe).copied(), new_items.get(pe).copied());
        path.push(pe.clone());
        if items_are_maps {
            compare_value(&ic, o, n, path, out, depth + 1);
        } else {
            match (o, n) {
                (None, Some(_)) => out.added.insert(path),
                (Some(_), None) => out.removed.insert(path),
                _ => {}
            }
        }
        path.pop();
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Merge

/// Merges an applied configuration into the live object (or into nothing, on create): maps
/// field by field, atomic maps and lists replaced, sets and map lists merged by item. Untracked
/// metadata keeps its live value.
pub(crate) fn merge_applied(
    schema: &Schema,
    live: Option<&Value>,
    applied: &Map<String, Value>,
) -> Result<Value, String> {
    let merged = merge_fields(
        schema,
        Level::Root,
        live.and_then(Value::as_object),
        applied,
        &mut Vec::new(),
        0,
    )?;
    Ok(Value::Object(merged))
}

fn merge_fields(
    schema: &Schema,
    level: Level,
    live: Option<&Map<String, Value>>,
    applied: &Map<String, Value>,
    path: &mut Vec<PathElement>,
    depth: usize,
) -> Result<Map<String, Value>, String> {
    let mut out = live.cloned().unwrap_or_default();
    for (k, v) in applied {
        let Some(c) = child(schema, level, k) else {
            // apiVersion and kind come from the configuration; server-owned metadata keeps its
            // live value (name and namespace are taken on create).
            if level == Level::Root || (k != "managedFields" && !out.contains_key(k)) {
                out.insert(k.clone(), v.clone());
            }
            continue;
        };
        path.push(PathElement::Field(k.clone()));
        let merged = merge_value(&c, out.get(k), v, path, depth + 1)?;
        path.pop();
        out.insert(k.clone(), merged);
    }
    Ok(out)
}

fn merge_value(
    c: &Child<'_>,
    live: Option<&Value>,
    applied: &Value,
    path: &mut Vec<PathElement>,
    depth: usize,
) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "{}: must not be nested more than {MAX_DEPTH} levels deep",
            Path(path.clone())
        ));
    }
    match applied {
        Value::Object(am) if granular(c.schema) || c.level == Level::Meta => {
            let lm = live.and_then(Value::as_object);
            Ok(Value::Object(merge_fields(
                c.schema, c.level, lm, am, path, depth,
            )?))
        }
        Value::Array(items) if keyed(c.schema) => {
            let applied_ids =
                item_ids(c.schema, items).map_err(|e| format!("{}: {e}", Path(path.clone())))?;
            let live_items = live.and_then(Value::as_array);
            let live_ids = live_items.and_then(|l| item_ids(c.schema, l).ok());
            let (Some(live_items), Some(live_ids)) = (live_items, live_ids) else {
                return Ok(applied.clone());
            };
            let items_are_maps = matches!(c.schema.list_type, ListType::Map(_));
            let ic = item_child(c.schema);
            let mut out = Vec::with_capacity(live_items.len() + items.len());
            for (li, ai) in merge_order(&live_ids, &applied_ids) {
                let merged = match (li, ai) {
                    (Some(l), None) => live_items[l].clone(),
                    (l, Some(a)) if items_are_maps => {
                        path.push(applied_ids[a].clone());
                        let m =
                            merge_value(&ic, l.map(|l| &live_items[l]), &items[a], path, depth + 1);
                        path.pop();
                        m?
                    }
                    (_, Some(a)) => items[a].clone(),
                    (None, None) => continue,
                };
                out.push(merged);
            }
            Ok(Value::Array(out))
        }
        other => Ok(other.clone()),
    }
}

/// The order of a merged list, as pairs of (live index, applied index): items only in the live
/// list keep their place, applied items come in the applied order.
fn merge_order(
    live: &[PathElement],
    applied: &[PathElement],
) -> Vec<(Option<usize>, Option<usize>)> {
    let live_pos: HashMap<&PathElement, usize> =
        live.iter().enumerate().map(|(i, p)| (p, i)).collect();
    let applied_pos: HashMap<&PathElement, usize> =
        applied.iter().enumerate().map(|(i, p)| (p, i)).collect();
    let mut out = Vec::with_capacity(live.len() + applied.len());
    let mut emitted = vec![false; applied.len()];
    let mut next = 0;
    let emit_through = |to: usize, next: &mut usize, emitted: &mut Vec<bool>, out: &mut Vec<_>| {
        while *next <= to {
            if !emitted[*next] {
                emitted[*next] = true;
                out.push((live_pos.get(&applied[*next]).copied(), Some(*next)));
            }
            *next += 1;
        }
    };
    for (li, pe) in live.iter().enumerate() {
        match applied_pos.get(pe) {
            None => out.push((Some(li), None)),
            Some(&ai) if !emitted[ai] => emit_through(ai, &mut next, &mut emitted, &mut out),
            Some(_) => {}
        }
    }
    if !applied.is_empty() {
        emit_through(applied.len() - 1, &mut next, &mut emitted, &mut out);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Removal

/// Removes from `object` the paths of `remove` (fields a manager stopped applying that nobody
/// owns), keeping anything under which `owned` still has a path. Containers emptied by the
/// removal go too, unless they are top-level fields or still owned.
pub(crate) fn prune(schema: &Schema, object: &mut Value, remove: &FieldSet, owned: &FieldSet) {
    if let Value::Object(m) = object {
        prune_fields(schema, Level::Root, m, remove, Some(owned), 0);
    }
}

fn owns_something(owned: Option<&FieldSet>) -> bool {
    owned.is_some_and(|o| !o.is_empty())
}

fn prune_fields(
    schema: &Schema,
    level: Level,
    m: &mut Map<String, Value>,
    remove: &FieldSet,
    owned: Option<&FieldSet>,
    depth: usize,
) {
    if depth > MAX_DEPTH + 2 {
        return;
    }
    for (pe, r) in remove.children() {
        let PathElement::Field(k) = pe else {
            continue;
        };
        let Some(c) = child(schema, level, k) else {
            continue;
        };
        let o = owned.and_then(|o| o.child(pe));
        if r.is_member() && !owns_something(o) {
            m.shift_remove(k);
            continue;
        }
        let Some(v) = m.get_mut(k) else {
            continue;
        };
        let was_empty = is_empty_container(v);
        prune_value(&c, v, r, o, depth + 1);
        if !was_empty && is_empty_container(v) && !owns_something(o) && level != Level::Root {
            m.shift_remove(k);
        }
    }
}

fn prune_value(
    c: &Child<'_>,
    v: &mut Value,
    remove: &FieldSet,
    owned: Option<&FieldSet>,
    depth: usize,
) {
    match v {
        Value::Object(m) if granular(c.schema) || c.level == Level::Meta => {
            prune_fields(c.schema, c.level, m, remove, owned, depth);
        }
        Value::Array(items) => {
            let ids = if keyed(c.schema) {
                item_ids(c.schema, items).ok()
            } else {
                None
            };
            let items_are_maps = matches!(c.schema.list_type, ListType::Map(_));
            let ic = item_child(c.schema);
            let mut drop = Vec::new();
            for (pe, r) in remove.children() {
                let at = match (pe, &ids) {
                    (PathElement::Index(i), _) => Some(*i).filter(|i| *i < items.len()),
                    (PathElement::Key(_) | PathElement::Value(_), Some(ids)) => {
                        ids.iter().position(|id| id == pe)
                    }
                    _ => None,
                };
                let Some(at) = at else {
                    continue;
                };
                let o = owned.and_then(|o| o.child(pe));
                if r.is_member() && !owns_something(o) {
                    drop.push(at);
                } else if items_are_maps {
                    prune_value(&ic, &mut items[at], r, o, depth + 1);
                }
            }
            drop.sort_unstable();
            drop.dedup();
            for at in drop.into_iter().rev() {
                items.remove(at);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Lookup

/// The value at `path` in a whole object, if there is one.
pub(crate) fn value_at<'v>(
    schema: &Schema,
    object: &'v Value,
    path: &[PathElement],
) -> Option<&'v Value> {
    let mut node = object;
    let mut c = Child {
        schema,
        named: true,
        level: Level::Root,
        track_node: false,
    };
    for pe in path {
        match (pe, node) {
            (PathElement::Field(k), Value::Object(m)) => {
                let next = child(c.schema, c.level, k)?;
                node = m.get(k)?;
                c = next;
            }
            (PathElement::Index(i), Value::Array(items)) => {
                node = items.get(*i)?;
                c = item_child(c.schema);
            }
            (PathElement::Key(_) | PathElement::Value(_), Value::Array(items)) => {
                let ids = item_ids(c.schema, items).ok()?;
                let at = ids.iter().position(|id| id == pe)?;
                node = &items[at];
                c = item_child(c.schema);
            }
            _ => return None,
        }
    }
    Some(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pe(s: &str) -> PathElement {
        PathElement::Field(s.into())
    }

    #[test]
    fn merge_order_keeps_live_only_items_in_place_and_applied_order() {
        let [a, b, c, d] = ["a", "b", "c", "d"].map(pe);
        let order = merge_order(
            &[a.clone(), b.clone(), c.clone()],
            &[c.clone(), a.clone(), d],
        );
        assert_eq!(
            order,
            vec![
                (Some(2), Some(0)),
                (Some(0), Some(1)),
                (Some(1), None),
                (None, Some(2)),
            ]
        );
        let order = merge_order(std::slice::from_ref(&a), std::slice::from_ref(&b));
        assert_eq!(order, vec![(Some(0), None), (None, Some(0))]);
        assert_eq!(merge_order(&[], &[]), vec![]);
    }
}
