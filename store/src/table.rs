//! Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get` asks for.
//!
//! kubectl sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints whatever
//! columns the server returns; without a Table it falls back to NAME/AGE only. This module holds
//! the column definitions (CRD `additionalPrinterColumns`, and kubectl-like columns for the
//! built-in kinds), renders the cells of one object as kube-apiserver does (the CRD
//! `tableconvertor` and the built-in printers), and assembles the Table, with row objects as
//! `PartialObjectMetadata` per `includeObject`.
//!
//! Pure code: time comes in as a parameter, so rows are deterministic in tests.

use std::str::FromStr;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use strata_api::age::human_duration;

use crate::jsonpath::{self, JsonPath};

/// `ObjectMeta.name`'s API documentation, the description of every "Name" column.
pub const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// `ObjectMeta.creationTimestamp`'s API documentation, the description of "Age" columns.
pub const CREATION_TIMESTAMP_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The types a printer column may declare.
pub const COLUMN_TYPES: &[&str] = &["boolean", "date", "integer", "number", "string"];
/// The formats a CRD printer column may declare.
pub const COLUMN_FORMATS: &[&str] = &[
    "byte",
    "date",
    "date-time",
    "double",
    "float",
    "int32",
    "int64",
    "password",
];

/// How a column computes its cell from an object.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// The first JSONPath result, rendered per the column's type as kube-apiserver renders
    /// CRD printer columns (missing -> null; `date` -> human age).
    Path(JsonPath),
    /// A string at a JSON pointer, surrounding whitespace trimmed; "" when missing (the Go zero
    /// value the built-in printers show).
    Text(&'static str),
    /// The human age of `metadata.creationTimestamp` ("<unknown>" when unset).
    Age,
    /// `metadata.creationTimestamp` as RFC 3339 in UTC ("Created At").
    CreatedAt,
    /// The number of entries of the maps/lists at these JSON pointers, summed (Secret and
    /// ConfigMap "Data", ServiceAccount "Secrets").
    Count(&'static [&'static str]),
    /// `roleRef` as "Kind/name".
    RoleRef,
    /// The binding's subjects of one kind, ", "-joined ("namespace/name" for ServiceAccount).
    Subjects(&'static str),
    /// Event "Last Seen": lastTimestamp, else first seen; series.lastObservedTime for series.
    EventLastSeen,
    /// Event "First Seen": firstTimestamp, else eventTime.
    EventFirstSeen,
    /// Event "Count": series.count, else count (at least 1).
    EventCount,
    /// Event "Object": "kind/name" of involvedObject, kind lower-cased.
    EventObject,
    /// Event "Source": component (or reportingController), then ", host" (or instance).
    EventSource,
}

/// One column of a Table: its definition and how its cells are computed.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// The column's `type`: string, integer, number, boolean or date.
    pub kind: String,
    pub format: String,
    pub description: String,
    /// 0: shown by default; > 0: only with `-o wide`.
    pub priority: i32,
    pub cell: Cell,
}

impl Column {
    pub fn new(
        name: &str,
        kind: &str,
        format: &str,
        priority: i32,
        description: &str,
        cell: Cell,
    ) -> Column {
        Column {
            name: name.into(),
            kind: kind.into(),
            format: format.into(),
            description: description.into(),
            priority,
            cell,
        }
    }

    /// The JSONPath of a CRD printer column; None for derived columns.
    pub fn path(&self) -> Option<&JsonPath> {
        match &self.cell {
            Cell::Path(p) => Some(p),
            _ => None,
        }
    }

    /// The `TableColumnDefinition`.
    pub fn definition(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }

    /// This column's cell for an object.
    pub fn cell(&self, object: &Value, now: Timestamp) -> Value {
        match &self.cell {
            Cell::Path(p) => typed_cell(&self.kind, p.first(object), now),
            Cell::Text(ptr) => Value::String(text(object, ptr).trim().to_string()),
            Cell::Age => Value::String(age(object.pointer("/metadata/creationTimestamp"), now)),
            Cell::CreatedAt => Value::String(created_at(object)),
            Cell::Count(ptrs) => Value::from(
                ptrs.iter()
                    .map(|p| match object.pointer(p) {
                        Some(Value::Object(m)) => m.len(),
                        Some(Value::Array(a)) => a.len(),
                        _ => 0,
                    })
                    .sum::<usize>(),
            ),
            Cell::RoleRef => Value::String(format!(
                "{}/{}",
                text(object, "/roleRef/kind"),
                text(object, "/roleRef/name")
            )),
            Cell::Subjects(kind) => Value::String(subjects(object, kind)),
            Cell::EventLastSeen => Value::String(event_last_seen(object, now)),
            Cell::EventFirstSeen => Value::String(event_first_seen(object, now)),
            Cell::EventCount => Value::from(event_count(object)),
            Cell::EventObject => {
                let kind = text(object, "/involvedObject/kind").to_lowercase();
                let name = text(object, "/involvedObject/name");
                Value::String(if name.is_empty() {
                    kind
                } else {
                    format!("{kind}/{name}")
                })
            }
            Cell::EventSource => {
                let first_non_empty = |a: &str, b: &str| {
                    let a = text(object, a);
                    if a.is_empty() { text(object, b) } else { a }
                };
                let component = first_non_empty("/source/component", "/reportingController");
                let instance = first_non_empty("/source/host", "/reportingInstance");
                Value::String(if instance.is_empty() {
                    component.to_string()
                } else {
                    format!("{component}, {instance}")
                })
            }
        }
    }
}

/// A CRD's printer columns that kube-apiserver would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("must be an array of column definitions")]
    NotAnArray,
    #[error("[{index}].{message}")]
    Invalid { index: usize, message: String },
}

/// The columns of a custom resource version: "Name", then each of its
/// `additionalPrinterColumns` (or, when it declares none, "Age" from
/// `.metadata.creationTimestamp`, as kube-apiserver adds). Validates the definitions as
/// kube-apiserver's CRD validation does (name, type, format, jsonPath).
pub fn columns_for_crd(additional_printer_columns: &Value) -> Result<Vec<Column>, TableError> {
    let defs: &[Value] = match additional_printer_columns {
        Value::Null => &[],
        Value::Array(a) => a,
        _ => return Err(TableError::NotAnArray),
    };
    let mut columns = vec![name_column()];
    for (index, def) in defs.iter().enumerate() {
        let invalid = |message: String| TableError::Invalid { index, message };
        let Some(def) = def.as_object() else {
            return Err(invalid("must be an object".into()));
        };
        let string = |key: &str| -> Result<&str, TableError> {
            match def.get(key) {
                None | Some(Value::Null) => Ok(""),
                Some(Value::String(s)) => Ok(s),
                Some(_) => Err(invalid(format!("{key}: must be a string"))),
            }
        };
        let name = string("name")?;
        if name.is_empty() {
            return Err(invalid("name: Required value".into()));
        }
        let kind = string("type")?;
        if kind.is_empty() {
            return Err(invalid(format!(
                "type: Required value: must be one of {}",
                COLUMN_TYPES.join(",")
            )));
        }
        if !COLUMN_TYPES.contains(&kind) {
            return Err(invalid(format!(
                "type: Unsupported value: {kind:?}: supported values: {}",
                quoted_list(COLUMN_TYPES)
            )));
        }
        let format = string("format")?;
        if !format.is_empty() && !COLUMN_FORMATS.contains(&format) {
            return Err(invalid(format!(
                "format: Unsupported value: {format:?}: supported values: {}",
                quoted_list(COLUMN_FORMATS)
            )));
        }
        let path = string("jsonPath")?;
        if path.is_empty() {
            return Err(invalid("jsonPath: Required value".into()));
        }
        if !path.starts_with('.') {
            return Err(invalid(format!(
                "jsonPath: Invalid value: {path:?}: must be a simple json path starting with ."
            )));
        }
        let compiled = jsonpath::compile(path).map_err(|e| {
            invalid(format!(
                "jsonPath: Invalid value: {path:?}: {}",
                syntax_message(&e)
            ))
        })?;
        let priority = match def.get("priority") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .ok_or_else(|| invalid("priority: must be a 32-bit integer".into()))?,
        };
        let description = match string("description")? {
            "" => format!("Custom resource definition column (in JSONPath format): {path}"),
            d => d.to_string(),
        };
        columns.push(Column::new(
            name,
            kind,
            format,
            priority,
            &description,
            Cell::Path(compiled),
        ));
    }
    if defs.is_empty() {
        let path = jsonpath::compile(".metadata.creationTimestamp").expect("a valid path");
        columns.push(Column::new(
            "Age",
            "date",
            "",
            0,
            CREATION_TIMESTAMP_DESCRIPTION,
            Cell::Path(path),
        ));
    }
    Ok(columns)
}

fn syntax_message(e: &jsonpath::JsonPathError) -> String {
    match e {
        jsonpath::JsonPathError::Syntax { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn name_column() -> Column {
    Column::new(
        "Name",
        "string",
        "name",
        0,
        NAME_DESCRIPTION,
        Cell::Text("/metadata/name"),
    )
}

fn age_column() -> Column {
    Column::new(
        "Age",
        "string",
        "",
        0,
        CREATION_TIMESTAMP_DESCRIPTION,
        Cell::Age,
    )
}

/// The columns kubectl shows for a built-in kind (all of them, `-o wide` ones with priority 1);
/// kinds without a printer get kube's default "Name" and "Created At".
pub fn builtin_columns(kind: &str) -> Vec<Column> {
    let string = |name: &str, description: &str, cell: Cell| {
        Column::new(name, "string", "", 0, description, cell)
    };
    let wide = |name: &str, description: &str, cell: Cell| {
        Column::new(name, "string", "", 1, description, cell)
    };
    match kind {
        "Namespace" => vec![
            name_column(),
            string(
                "Status",
                "The status of the namespace",
                Cell::Text("/status/phase"),
            ),
            age_column(),
        ],
        "Secret" => vec![
            name_column(),
            string(
                "Type",
                "Used to facilitate programmatic handling of secret data.",
                Cell::Text("/type"),
            ),
            string(
                "Data",
                "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'.",
                Cell::Count(&["/data"]),
            ),
            age_column(),
        ],
        "ConfigMap" => vec![
            name_column(),
            string(
                "Data",
                "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'.",
                Cell::Count(&["/data", "/binaryData"]),
            ),
            age_column(),
        ],
        "ServiceAccount" => vec![
            name_column(),
            string(
                "Secrets",
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
                Cell::Count(&["/secrets"]),
            ),
            age_column(),
        ],
        "Event" => vec![
            string(
                "Last Seen",
                "The time at which the most recent occurrence of this event was recorded.",
                Cell::EventLastSeen,
            ),
            string(
                "Type",
                "Type of this event (Normal, Warning).",
                Cell::Text("/type"),
            ),
            string(
                "Reason",
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
                Cell::Text("/reason"),
            ),
            string(
                "Object",
                "The object that this event is about.",
                Cell::EventObject,
            ),
            wide(
                "Subobject",
                "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.",
                Cell::Text("/involvedObject/fieldPath"),
            ),
            wide(
                "Source",
                "The component reporting this event. Should be a short machine understandable string.",
                Cell::EventSource,
            ),
            string(
                "Message",
                "A human-readable description of the status of this operation.",
                Cell::Text("/message"),
            ),
            wide(
                "First Seen",
                "The time at which the event was first recorded.",
                Cell::EventFirstSeen,
            ),
            wide(
                "Count",
                "The number of times this event has occurred.",
                Cell::EventCount,
            ),
            Column::new(
                "Name",
                "string",
                "name",
                1,
                NAME_DESCRIPTION,
                Cell::Text("/metadata/name"),
            ),
        ],
        "Lease" => vec![
            name_column(),
            string(
                "Holder",
                "holderIdentity contains the identity of the holder of a current lease.",
                Cell::Text("/spec/holderIdentity"),
            ),
            age_column(),
        ],
        "Role" | "ClusterRole" => vec![
            name_column(),
            string(
                "Created At",
                CREATION_TIMESTAMP_DESCRIPTION,
                Cell::CreatedAt,
            ),
        ],
        "RoleBinding" | "ClusterRoleBinding" => {
            let binding = if kind == "RoleBinding" {
                "roleBinding"
            } else {
                "clusterRoleBinding"
            };
            vec![
                name_column(),
                string(
                    "Role",
                    "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.",
                    Cell::RoleRef,
                ),
                age_column(),
                wide(
                    "Users",
                    &format!("Users in the {binding}"),
                    Cell::Subjects("User"),
                ),
                wide(
                    "Groups",
                    &format!("Groups in the {binding}"),
                    Cell::Subjects("Group"),
                ),
                wide(
                    "ServiceAccounts",
                    &format!("ServiceAccounts in the {binding}"),
                    Cell::Subjects("ServiceAccount"),
                ),
            ]
        }
        // CustomResourceDefinition and anything else: kube's default table convertor.
        _ => vec![
            name_column(),
            Column::new(
                "Created At",
                "date",
                "",
                0,
                CREATION_TIMESTAMP_DESCRIPTION,
                Cell::CreatedAt,
            ),
        ],
    }
}

/// The cells of one object's row.
pub fn row(columns: &[Column], object: &Value, now: Timestamp) -> Vec<Value> {
    columns.iter().map(|c| c.cell(object, now)).collect()
}

/// A `meta.k8s.io/v1` Table. `rows` pairs each row's cells with the object it carries (see
/// [`row_object`]; `null` leaves it out). Column definitions are sent only when
/// `include_columns` (watches send them with the first event only).
pub fn table(
    columns: &[Column],
    rows: Vec<(Vec<Value>, Value)>,
    resource_version: &str,
    continue_token: Option<&str>,
    include_columns: bool,
) -> Value {
    let mut metadata = Map::new();
    if !resource_version.is_empty() {
        metadata.insert("resourceVersion".into(), Value::from(resource_version));
    }
    if let Some(c) = continue_token.filter(|c| !c.is_empty()) {
        metadata.insert("continue".into(), Value::from(c));
    }
    let definitions: Vec<Value> = if include_columns {
        columns.iter().map(Column::definition).collect()
    } else {
        Vec::new()
    };
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|(cells, object)| {
            let mut r = Map::new();
            r.insert("cells".into(), Value::Array(cells));
            if !object.is_null() {
                r.insert("object".into(), object);
            }
            Value::Object(r)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

/// The `meta.k8s.io/v1` `PartialObjectMetadata` of an object (its full `metadata`).
pub fn partial_object_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// What each Table row carries (`includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object.
    None,
    /// `PartialObjectMetadata` (the default).
    #[default]
    Metadata,
    /// The full object.
    Object,
}

impl IncludeObject {
    /// Parses the parameter; absent or empty means `Metadata`.
    pub fn parse(value: Option<&str>) -> Result<IncludeObject, String> {
        match value.unwrap_or("") {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(format!("unrecognized includeObject value: {other:?}")),
        }
    }
}

impl FromStr for IncludeObject {
    type Err = String;
    fn from_str(s: &str) -> Result<IncludeObject, String> {
        IncludeObject::parse(Some(s))
    }
}

/// The object a Table row carries for `includeObject` (null for `None`).
pub fn row_object(object: &Value, include: IncludeObject) -> Value {
    match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Metadata => partial_object_metadata(object),
        IncludeObject::Object => object.clone(),
    }
}

// --- cell rendering --------------------------------------------------------------------------

fn text<'a>(object: &'a Value, ptr: &str) -> &'a str {
    object.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// A CRD column's cell, as the apiextensions tableconvertor's `cellForJSONValue` (and, for
/// `string`, the JSONPath printer) renders it.
fn typed_cell(kind: &str, value: Option<&Value>, now: Timestamp) -> Value {
    let Some(v) = value.filter(|v| !v.is_null()) else {
        return Value::Null;
    };
    match (kind, v) {
        ("string", v) => Value::String(print_value(v)),
        ("integer", Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::from(i),
            // Go's int64(float64) truncates toward zero.
            (None, Some(f)) => Value::from(f as i64),
            _ => Value::Null,
        },
        ("number", Value::Number(n)) => n.as_f64().map(Value::from).unwrap_or(Value::Null),
        ("boolean", Value::Bool(b)) => Value::Bool(*b),
        ("date", Value::String(s)) => Value::String(date_age(s, now)),
        _ => Value::Null,
    }
}

/// How client-go's JSONPath printer prints a value: strings as is, maps and lists as JSON,
/// numbers and booleans as Go's `%v`.
fn print_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_f64() => go_float(n.as_f64().unwrap_or(0.0)),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        Value::Array(_) | Value::Object(_) => sorted_keys(v).to_string(),
    }
}

/// Go's `json.Marshal` of a map sorts its keys.
fn sorted_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted_keys(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

/// Go's `%v` of a float64 (`%g` with the shortest precision): the shortest round-trip digits,
/// in exponent form (`1e+06`, `1.5e-05`) when the decimal exponent is below -4 or at least 6.
fn go_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f.is_infinite() {
            if f > 0.0 {
                "+Inf".into()
            } else {
                "-Inf".into()
            }
        } else {
            "0".into()
        };
    }
    let sci = format!("{f:e}"); // shortest digits: "-1.234567e6", "5e-1"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// A `date` column: the age of an RFC 3339 timestamp ("<unknown>" when empty, "<invalid>" when
/// it does not parse).
fn date_age(s: &str, now: Timestamp) -> String {
    if s.is_empty() || s == "null" {
        return "<unknown>".into();
    }
    match s.parse::<Timestamp>() {
        Ok(t) => human_duration(now.duration_since(t)),
        Err(_) => "<invalid>".into(),
    }
}

/// The age of an optional timestamp field, as the built-in printers' `translateTimestampSince`.
fn age(v: Option<&Value>, now: Timestamp) -> String {
    match v.and_then(Value::as_str) {
        Some(s) => date_age(s, now),
        None => "<unknown>".into(),
    }
}

fn is_set(object: &Value, ptr: &str) -> bool {
    !text(object, ptr).is_empty()
}

fn created_at(object: &Value) -> String {
    match object
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
    {
        None | Some("") => "0001-01-01T00:00:00Z".into(),
        Some(s) => match s.parse::<Timestamp>() {
            Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            Err(_) => s.to_string(),
        },
    }
}

fn subjects(object: &Value, kind: &str) -> String {
    let Some(list) = object.get("subjects").and_then(Value::as_array) else {
        return String::new();
    };
    list.iter()
        .filter(|s| s.get("kind").and_then(Value::as_str) == Some(kind))
        .map(|s| {
            let name = text(s, "/name");
            if kind == "ServiceAccount" {
                format!("{}/{name}", text(s, "/namespace"))
            } else {
                name.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn event_first_seen(object: &Value, now: Timestamp) -> String {
    if is_set(object, "/firstTimestamp") {
        age(object.get("firstTimestamp"), now)
    } else {
        age(object.get("eventTime"), now)
    }
}

fn event_last_seen(object: &Value, now: Timestamp) -> String {
    if object.get("series").is_some_and(Value::is_object) {
        return age(object.pointer("/series/lastObservedTime"), now);
    }
    if is_set(object, "/lastTimestamp") {
        age(object.get("lastTimestamp"), now)
    } else {
        event_first_seen(object, now)
    }
}

fn event_count(object: &Value) -> i64 {
    if object.get("series").is_some_and(Value::is_object) {
        return object
            .pointer("/series/count")
            .and_then(Value::as_i64)
            .unwrap_or(0);
    }
    match object.get("count").and_then(Value::as_i64).unwrap_or(0) {
        0 => 1,
        n => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    fn now() -> Timestamp {
        "2024-06-01T12:00:00Z".parse().unwrap()
    }

    /// A timestamp `secs` seconds before `now()`.
    fn ago(secs: i64) -> String {
        now()
            .checked_sub(SignedDuration::from_secs(secs))
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    fn crd_columns() -> Value {
        json!([
            {"name": "Instances", "type": "integer", "jsonPath": ".spec.instances"},
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status",
             "description": "Whether the app is ready"},
            {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio", "priority": 1},
            {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
            {"name": "Image", "type": "string", "jsonPath": ".spec.image"},
            {"name": "Labels", "type": "string", "jsonPath": ".metadata.labels"},
            {"name": "Count", "type": "string", "jsonPath": ".spec.instances"},
            {"name": "Scale", "type": "string", "jsonPath": ".spec.ratio"},
            {"name": "Started", "type": "date", "jsonPath": ".status.startedAt"},
            {"name": "Age", "type": "date", "format": "date-time", "jsonPath": ".metadata.creationTimestamp"},
        ])
    }

    #[test]
    fn crd_printer_columns_render_like_kube() {
        let cols = columns_for_crd(&crd_columns()).unwrap();
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Name",
                "Instances",
                "Ready",
                "Ratio",
                "Paused",
                "Image",
                "Labels",
                "Count",
                "Scale",
                "Started",
                "Age"
            ]
        );
        assert_eq!(
            cols[0].definition(),
            json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0})
        );
        assert_eq!(
            cols[1].definition(),
            json!({"name": "Instances", "type": "integer", "format": "",
                   "description": "Custom resource definition column (in JSONPath format): .spec.instances",
                   "priority": 0})
        );
        assert_eq!(cols[2].description, "Whether the app is ready");
        assert_eq!(cols[3].priority, 1);
        assert_eq!(cols[10].format, "date-time");
        assert!(cols[0].path().is_none());
        assert_eq!(
            cols[1].path().map(JsonPath::as_str),
            Some(".spec.instances")
        );

        let obj = json!({
            "apiVersion": "strata.io/v1", "kind": "App",
            "metadata": {"name": "web", "creationTimestamp": ago(3 * 3600 + 20 * 60),
                         "labels": {"z": "1", "a": "2"}},
            "spec": {"instances": 3, "ratio": 0.25, "paused": false},
            "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}],
                       "startedAt": ago(90)},
        });
        assert_eq!(
            json!(row(&cols, &obj, now())),
            json!([
                "web",
                3,
                "True",
                0.25,
                false,
                null,
                "{\"a\":\"2\",\"z\":\"1\"}",
                "3",
                "0.25",
                "90s",
                "3h20m"
            ])
        );

        // Missing fields are null; wrong types are null; bad dates are "<invalid>".
        let obj = json!({
            "metadata": {"name": "db", "creationTimestamp": "yesterday"},
            "spec": {"instances": "three", "ratio": 2, "paused": "no", "image": {"repo": "x"}},
            "status": {"startedAt": 5},
        });
        assert_eq!(
            json!(row(&cols, &obj, now())),
            json!([
                "db",
                null,
                null,
                2.0,
                null,
                "{\"repo\":\"x\"}",
                null,
                "three",
                "2",
                null,
                "<invalid>"
            ])
        );

        // Float instances truncate for an integer column; empty dates are "<unknown>".
        let obj =
            json!({"metadata": {"name": "x", "creationTimestamp": ""}, "spec": {"instances": 2.9}});
        let cells = row(&cols, &obj, now());
        assert_eq!(cells[1], json!(2));
        assert_eq!(cells[7], json!("2.9"));
        assert_eq!(cells[10], json!("<unknown>"));
    }

    #[test]
    fn crd_without_columns_gets_age() {
        for defs in [json!([]), Value::Null] {
            let cols = columns_for_crd(&defs).unwrap();
            assert_eq!(cols.len(), 2);
            assert_eq!(cols[1].name, "Age");
            assert_eq!(cols[1].kind, "date");
            assert_eq!(cols[1].description, CREATION_TIMESTAMP_DESCRIPTION);
            let obj = json!({"metadata": {"name": "a", "creationTimestamp": ago(50 * 86400)}});
            assert_eq!(row(&cols, &obj, now()), vec![json!("a"), json!("50d")]);
            assert_eq!(row(&cols, &json!({}), now()), vec![json!(""), Value::Null]);
        }
    }

    #[test]
    fn invalid_printer_columns() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({}), "must be an array"),
            (json!([1]), "[0].must be an object"),
            (
                json!([{"type": "string", "jsonPath": ".a"}]),
                "[0].name: Required value",
            ),
            (
                json!([{"name": "A", "jsonPath": ".a"}]),
                "[0].type: Required value: must be one of boolean,date,integer,number,string",
            ),
            (
                json!([{"name": "A", "type": "int", "jsonPath": ".a"}]),
                "[0].type: Unsupported value: \"int\": supported values: \"boolean\", \"date\", \"integer\", \"number\", \"string\"",
            ),
            (
                json!([{"name": "A", "type": "string", "format": "uuid", "jsonPath": ".a"}]),
                "[0].format: Unsupported value: \"uuid\"",
            ),
            (
                json!([{"name": "A", "type": "string"}]),
                "[0].jsonPath: Required value",
            ),
            (
                json!([{"name": "A", "type": "string", "jsonPath": "spec.a"}]),
                "[0].jsonPath: Invalid value: \"spec.a\": must be a simple json path starting with .",
            ),
            (
                json!([{"name": "A", "type": "string", "jsonPath": ".a"}, {"name": "B", "type": "string", "jsonPath": ".a["}]),
                "[1].jsonPath: Invalid value: \".a[\": unterminated array",
            ),
            (
                json!([{"name": "A", "type": "string", "jsonPath": ".a", "priority": "high"}]),
                "[0].priority: must be a 32-bit integer",
            ),
            (
                json!([{"name": 5, "type": "string", "jsonPath": ".a"}]),
                "[0].name: must be a string",
            ),
        ];
        for (defs, want) in &cases {
            let err = columns_for_crd(defs).unwrap_err().to_string();
            assert!(err.contains(want), "{defs}: got {err:?}");
        }
    }

    fn cells(kind: &str, obj: Value) -> Vec<Value> {
        row(&builtin_columns(kind), &obj, now())
    }

    fn column_names(kind: &str) -> Vec<String> {
        builtin_columns(kind).into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn builtin_kinds() {
        let created = ago(5 * 60);
        let meta = json!({"name": "x", "creationTimestamp": created});
        let cases: Vec<(&str, Vec<&str>, Value, Value)> = vec![
            (
                "Namespace",
                vec!["Name", "Status", "Age"],
                json!({"metadata": meta, "status": {"phase": "Active"}}),
                json!(["x", "Active", "5m"]),
            ),
            (
                "Namespace",
                vec!["Name", "Status", "Age"],
                json!({"metadata": {"name": "y"}}),
                json!(["y", "", "<unknown>"]),
            ),
            (
                "Secret",
                vec!["Name", "Type", "Data", "Age"],
                json!({"metadata": meta, "type": "helm.sh/release.v1", "data": {"release": "H4sI"}}),
                json!(["x", "helm.sh/release.v1", 1, "5m"]),
            ),
            (
                "Secret",
                vec!["Name", "Type", "Data", "Age"],
                json!({"metadata": meta}),
                json!(["x", "", 0, "5m"]),
            ),
            (
                "ConfigMap",
                vec!["Name", "Data", "Age"],
                json!({"metadata": meta, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}),
                json!(["x", 3, "5m"]),
            ),
            (
                "ServiceAccount",
                vec!["Name", "Secrets", "Age"],
                json!({"metadata": meta}),
                json!(["x", 0, "5m"]),
            ),
            (
                "Lease",
                vec!["Name", "Holder", "Age"],
                json!({"metadata": meta, "spec": {"holderIdentity": "node-1_abc"}}),
                json!(["x", "node-1_abc", "5m"]),
            ),
            (
                "Role",
                vec!["Name", "Created At"],
                json!({"metadata": {"name": "r", "creationTimestamp": "2024-05-01T10:00:00.5+02:00"}}),
                json!(["r", "2024-05-01T08:00:00Z"]),
            ),
            (
                "ClusterRole",
                vec!["Name", "Created At"],
                json!({"metadata": {"name": "r"}}),
                json!(["r", "0001-01-01T00:00:00Z"]),
            ),
            (
                "RoleBinding",
                vec!["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"],
                json!({"metadata": meta, "roleRef": {"kind": "ClusterRole", "name": "admin", "apiGroup": "rbac.authorization.k8s.io"},
                    "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "ctl", "namespace": "sys"},
                                 {"kind": "User", "name": "bob"}, {"kind": "Group", "name": "devs"}]}),
                json!([
                    "x",
                    "ClusterRole/admin",
                    "5m",
                    "alice, bob",
                    "devs",
                    "sys/ctl"
                ]),
            ),
            (
                "ClusterRoleBinding",
                vec!["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"],
                json!({"metadata": meta, "roleRef": {"kind": "ClusterRole", "name": "view"}}),
                json!(["x", "ClusterRole/view", "5m", "", "", ""]),
            ),
            (
                "CustomResourceDefinition",
                vec!["Name", "Created At"],
                json!({"metadata": {"name": "apps.strata.io", "creationTimestamp": "2024-01-02T03:04:05Z"}}),
                json!(["apps.strata.io", "2024-01-02T03:04:05Z"]),
            ),
        ];
        for (kind, names, obj, want) in cases {
            assert_eq!(column_names(kind), names, "{kind}");
            assert_eq!(json!(cells(kind, obj.clone())), want, "{kind} {obj}");
        }
        let rb = builtin_columns("RoleBinding");
        assert_eq!(
            rb.iter().map(|c| c.priority).collect::<Vec<_>>(),
            [0, 0, 0, 1, 1, 1]
        );
        assert_eq!(builtin_columns("CustomResourceDefinition")[1].kind, "date");
        assert_eq!(builtin_columns("Role")[1].kind, "string");
    }

    #[test]
    fn events() {
        assert_eq!(
            column_names("Event"),
            [
                "Last Seen",
                "Type",
                "Reason",
                "Object",
                "Subobject",
                "Source",
                "Message",
                "First Seen",
                "Count",
                "Name"
            ]
        );
        let priorities: Vec<i32> = builtin_columns("Event")
            .iter()
            .map(|c| c.priority)
            .collect();
        assert_eq!(priorities, [0, 0, 0, 0, 1, 1, 0, 1, 1, 1]);
        let ev = json!({
            "metadata": {"name": "web.17a"},
            "involvedObject": {"kind": "App", "name": "web", "fieldPath": "spec.containers{app}"},
            "reason": "Scaled", "message": "  scaled to 3\n", "type": "Normal",
            "firstTimestamp": ago(3600), "lastTimestamp": ago(30), "count": 4,
            "source": {"component": "strata-controller", "host": "node-1"},
        });
        assert_eq!(
            json!(cells("Event", ev)),
            json!([
                "30s",
                "Normal",
                "Scaled",
                "app/web",
                "spec.containers{app}",
                "strata-controller, node-1",
                "scaled to 3",
                "60m",
                4,
                "web.17a"
            ])
        );
        // events.k8s.io-style: eventTime, series, reporting controller; no name on the object.
        let ev = json!({
            "metadata": {"name": "e"},
            "involvedObject": {"kind": "Namespace"},
            "eventTime": ago(600), "series": {"count": 7, "lastObservedTime": ago(5)},
            "reportingController": "strata", "reportingInstance": "", "type": "Warning",
        });
        assert_eq!(
            json!(cells("Event", ev)),
            json!([
                "5s",
                "Warning",
                "",
                "namespace",
                "",
                "strata",
                "",
                "10m",
                7,
                "e"
            ])
        );
        // Singleton without count; lastTimestamp missing falls back to first seen.
        let ev = json!({"metadata": {"name": "e"}, "firstTimestamp": ago(125)});
        let c = cells("Event", ev);
        assert_eq!(
            (c[0].clone(), c[7].clone(), c[8].clone()),
            (json!("2m5s"), json!("2m5s"), json!(1))
        );
        let c = cells("Event", json!({}));
        assert_eq!((c[0].clone(), c[8].clone()), (json!("<unknown>"), json!(1)));
    }

    #[test]
    fn table_shape() {
        let cols = columns_for_crd(
            &json!([{"name": "Instances", "type": "integer", "jsonPath": ".spec.instances"}]),
        )
        .unwrap();
        let obj = json!({"apiVersion": "strata.io/v1", "kind": "App",
                         "metadata": {"name": "web", "namespace": "default", "labels": {"a": "b"}},
                         "spec": {"instances": 2}});
        let rows = vec![(
            row(&cols, &obj, now()),
            row_object(&obj, IncludeObject::Metadata),
        )];
        let t = table(&cols, rows, "42", Some("abc"), true);
        assert_eq!(
            t,
            json!({
                "kind": "Table",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": "42", "continue": "abc"},
                "columnDefinitions": [
                    {"name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0},
                    {"name": "Instances", "type": "integer", "format": "",
                     "description": "Custom resource definition column (in JSONPath format): .spec.instances", "priority": 0},
                ],
                "rows": [{
                    "cells": ["web", 2],
                    "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                               "metadata": {"name": "web", "namespace": "default", "labels": {"a": "b"}}},
                }],
            })
        );
        // A later watch event: no column definitions, no continue, no object.
        let t = table(
            &cols,
            vec![(vec![json!("web"), json!(2)], Value::Null)],
            "43",
            None,
            false,
        );
        assert_eq!(t["columnDefinitions"], json!([]));
        assert_eq!(t["metadata"], json!({"resourceVersion": "43"}));
        assert_eq!(t["rows"], json!([{"cells": ["web", 2]}]));
        assert_eq!(
            table(&cols, vec![], "", Some(""), true)["metadata"],
            json!({})
        );
    }

    #[test]
    fn include_object() {
        let obj = json!({"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s"}, "data": {"k": "dg=="}});
        let cases: &[(Option<&str>, Result<IncludeObject, String>)] = &[
            (None, Ok(IncludeObject::Metadata)),
            (Some(""), Ok(IncludeObject::Metadata)),
            (Some("Metadata"), Ok(IncludeObject::Metadata)),
            (Some("None"), Ok(IncludeObject::None)),
            (Some("Object"), Ok(IncludeObject::Object)),
            (
                Some("object"),
                Err("unrecognized includeObject value: \"object\"".into()),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&IncludeObject::parse(*input), want, "{input:?}");
        }
        assert_eq!("None".parse::<IncludeObject>(), Ok(IncludeObject::None));
        assert_eq!(row_object(&obj, IncludeObject::None), Value::Null);
        assert_eq!(row_object(&obj, IncludeObject::Object), obj);
        assert_eq!(
            row_object(&obj, IncludeObject::Metadata),
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "s"}})
        );
        assert_eq!(partial_object_metadata(&json!({}))["metadata"], json!({}));
    }

    #[test]
    fn go_float_formatting() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (0.5, "0.5"),
            (2.0, "2"),
            (-1.25, "-1.25"),
            (100000.0, "100000"),
            (123456.0, "123456"),
            (1000000.0, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-0.000012, "-1.2e-05"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
        ];
        for (f, want) in cases {
            assert_eq!(go_float(*f), *want, "{f}");
        }
    }
}
