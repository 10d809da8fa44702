//! Tests of value validation: each check against kube-apiserver's wording, table-driven, plus
//! hostile nesting.

use serde_json::{Value, json};

use super::*;
use crate::schema::Schema;

fn schema() -> Schema {
    Schema::from_json(&json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "instances": {"type": "integer", "minimum": 0, "maximum": 10},
                    "cpus": {"type": "number", "minimum": 0, "exclusiveMinimum": true},
                    "ratio": {"type": "number", "minimum": 0.5},
                    "memory": {"type": "number", "maximum": 1000000, "exclusiveMaximum": true},
                    "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5, "minLength": 2},
                    "mode": {"type": "string", "enum": ["a", "b"]},
                    "level": {"type": "integer", "enum": [1, 2]},
                    "port": {"x-kubernetes-int-or-string": true},
                    "ports": {
                        "type": "array", "maxItems": 2, "minItems": 1,
                        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "required": ["name"], "properties": {
                            "name": {"type": "string"},
                            "port": {"type": "integer", "format": "int32"}
                        }}
                    },
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "unique": {"type": "array", "uniqueItems": true, "items": {"type": "integer"}},
                    "note": {"type": "string", "nullable": true},
                    "when": {"type": "string", "format": "date-time"},
                    "day": {"type": "string", "format": "date"},
                    "data": {"type": "string", "format": "byte"},
                    "id": {"type": "string", "format": "uuid"},
                    "ip": {"type": "string", "format": "ipv4"},
                    "labels": {"type": "object", "maxProperties": 2, "minProperties": 1,
                               "additionalProperties": {"type": "string"}},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                 "x-kubernetes-preserve-unknown-fields": true},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "flag": {"type": "boolean"}
                }
            },
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}
        }
    }))
    .unwrap()
}

fn with_spec(spec: Value) -> Value {
    let mut spec = spec;
    if spec.is_object() && spec.get("name").is_none() {
        spec["name"] = json!("abc");
    }
    json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "x"}, "spec": spec})
}

/// (field, reason, message) of one error.
type Row = (String, &'static str, String);

fn errors(object: &Value) -> Vec<Row> {
    validate(&schema(), object)
        .into_iter()
        .map(|e| (e.field, e.reason, e.message))
        .collect()
}

fn one(field: &str, reason: &'static str, message: &str) -> Vec<Row> {
    vec![(field.to_string(), reason, message.to_string())]
}

const INVALID: &str = FieldError::INVALID;
const TYPE: &str = FieldError::TYPE_INVALID;

#[test]
fn checks_read_like_kube_apiserver() {
    let cases: Vec<(Value, Vec<Row>)> = vec![
        (json!({"instances": 3}), vec![]),
        (json!({"instances": 2.0}), vec![]),
        (
            json!({"instances": -1}),
            one(
                "spec.instances",
                INVALID,
                "Invalid value: -1: spec.instances in body should be greater than or equal to 0",
            ),
        ),
        (
            json!({"instances": 11}),
            one(
                "spec.instances",
                INVALID,
                "Invalid value: 11: spec.instances in body should be less than or equal to 10",
            ),
        ),
        (
            json!({"instances": 1.5}),
            one(
                "spec.instances",
                TYPE,
                "Invalid value: \"number\": spec.instances in body must be of type integer: \"number\"",
            ),
        ),
        (
            json!({"instances": "3"}),
            one(
                "spec.instances",
                TYPE,
                "Invalid value: \"string\": spec.instances in body must be of type integer: \"string\"",
            ),
        ),
        (
            json!({"cpus": "string"}),
            one(
                "spec.cpus",
                TYPE,
                "Invalid value: \"string\": spec.cpus in body must be of type number: \"string\"",
            ),
        ),
        (json!({"cpus": 2}), vec![]),
        (json!({"instances": 0, "cpus": 0.5, "memory": 5}), vec![]),
        (
            json!({"ratio": 0}),
            one(
                "spec.ratio",
                INVALID,
                "Invalid value: 0: spec.ratio in body should be greater than or equal to 0.5",
            ),
        ),
        (json!({"cpus": 0.5}), vec![]),
        (
            json!({"cpus": 0}),
            one(
                "spec.cpus",
                INVALID,
                "Invalid value: 0: spec.cpus in body should be greater than 0",
            ),
        ),
        (
            json!({"cpus": -0.25}),
            one(
                "spec.cpus",
                INVALID,
                "Invalid value: -0.25: spec.cpus in body should be greater than 0",
            ),
        ),
        (
            json!({"memory": 2500000.5}),
            one(
                "spec.memory",
                INVALID,
                "Invalid value: 2.5000005e+06: spec.memory in body should be less than 1e+06",
            ),
        ),
        (
            json!({"memory": 1000000}),
            one(
                "spec.memory",
                INVALID,
                "Invalid value: 1000000: spec.memory in body should be less than 1000000",
            ),
        ),
        (
            json!({"name": null}),
            one(
                "spec.name",
                TYPE,
                "Invalid value: \"null\": spec.name in body must be of type string: \"null\"",
            ),
        ),
        (
            json!({"name": "ABC"}),
            one(
                "spec.name",
                INVALID,
                "Invalid value: \"ABC\": spec.name in body should match '^[a-z]+$'",
            ),
        ),
        (
            json!({"name": "abcdefg"}),
            one(
                "spec.name",
                FieldError::TOO_LONG,
                "Too long: may not be more than 5 bytes",
            ),
        ),
        (
            json!({"name": "a"}),
            one(
                "spec.name",
                INVALID,
                "Invalid value: \"a\": spec.name in body should be at least 2 chars long",
            ),
        ),
        (
            json!({"mode": "x"}),
            one(
                "spec.mode",
                FieldError::NOT_SUPPORTED,
                "Unsupported value: \"x\": supported values: \"a\", \"b\"",
            ),
        ),
        (json!({"mode": "b"}), vec![]),
        (json!({"level": 2.0}), vec![]),
        (
            json!({"level": 3}),
            one(
                "spec.level",
                FieldError::NOT_SUPPORTED,
                "Unsupported value: 3: supported values: \"1\", \"2\"",
            ),
        ),
        (json!({"port": 80}), vec![]),
        (json!({"port": "http"}), vec![]),
        (
            json!({"port": true}),
            one(
                "spec.port",
                TYPE,
                "Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\"",
            ),
        ),
        (
            json!({"ports": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),
            one(
                "spec.ports",
                FieldError::TOO_MANY,
                "Too many: 3: must have at most 2 items",
            ),
        ),
        (
            json!({"ports": []}),
            one(
                "spec.ports",
                INVALID,
                "Invalid value: 0: spec.ports in body should have at least 1 items",
            ),
        ),
        (
            json!({"ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]}),
            one(
                "spec.ports[1]",
                FieldError::DUPLICATE,
                "Duplicate value: {\"name\":\"a\"}",
            ),
        ),
        (
            json!({"ports": [{"port": 1}]}),
            one("spec.ports[0].name", FieldError::REQUIRED, "Required value"),
        ),
        (
            json!({"ports": [{"name": "a", "port": 3000000000_i64}]}),
            one(
                "spec.ports[0].port",
                INVALID,
                "Invalid value: 3000000000: spec.ports[0].port in body must be in range of type int32",
            ),
        ),
        (json!({"tags": ["a", "b"]}), vec![]),
        (
            json!({"tags": ["a", "b", "a"]}),
            one(
                "spec.tags[2]",
                FieldError::DUPLICATE,
                "Duplicate value: \"a\"",
            ),
        ),
        (
            json!({"unique": [1, 2, 1.0]}),
            one(
                "spec.unique[2]",
                FieldError::DUPLICATE,
                "Duplicate value: 1",
            ),
        ),
        (json!({"note": null}), vec![]),
        (json!({"when": "2024-01-02T03:04:05Z"}), vec![]),
        (json!({"when": "2024-01-02T03:04:05.123456+02:00"}), vec![]),
        (
            json!({"when": "yesterday"}),
            one(
                "spec.when",
                TYPE,
                "Invalid value: \"yesterday\": spec.when in body must be of type date-time: \"yesterday\"",
            ),
        ),
        (json!({"day": "2024-02-29"}), vec![]),
        (
            json!({"day": "2023-02-29"}),
            one(
                "spec.day",
                TYPE,
                "Invalid value: \"2023-02-29\": spec.day in body must be of type date: \"2023-02-29\"",
            ),
        ),
        (json!({"data": "aGVsbG8="}), vec![]),
        (
            json!({"data": "not base64!"}),
            one(
                "spec.data",
                TYPE,
                "Invalid value: \"not base64!\": spec.data in body must be of type byte: \"not base64!\"",
            ),
        ),
        (
            json!({"id": "123e4567-e89b-12d3-a456-426614174000"}),
            vec![],
        ),
        (
            json!({"ip": "300.1.1.1"}),
            one(
                "spec.ip",
                TYPE,
                "Invalid value: \"300.1.1.1\": spec.ip in body must be of type ipv4: \"300.1.1.1\"",
            ),
        ),
        (
            json!({"labels": {"a": "1", "b": "2", "c": "3"}}),
            one(
                "spec.labels",
                FieldError::TOO_MANY,
                "Too many: 3: must have at most 2 items",
            ),
        ),
        (
            json!({"labels": {}}),
            one(
                "spec.labels",
                INVALID,
                "Invalid value: 0: spec.labels in body should have at least 1 properties",
            ),
        ),
        (
            json!({"labels": {"a": 1}}),
            one(
                "spec.labels.a",
                TYPE,
                "Invalid value: \"integer\": spec.labels.a in body must be of type string: \"integer\"",
            ),
        ),
        (
            json!({"free": {"anything": {"deep": [1, "x", null]}}}),
            vec![],
        ),
        (
            json!({"flag": "yes"}),
            one(
                "spec.flag",
                TYPE,
                "Invalid value: \"string\": spec.flag in body must be of type boolean: \"string\"",
            ),
        ),
        (
            json!("not an object"),
            one(
                "spec",
                TYPE,
                "Invalid value: \"string\": spec in body must be of type object: \"string\"",
            ),
        ),
    ];
    for (spec, want) in cases {
        let got = errors(&with_spec(spec.clone()));
        assert_eq!(got, want, "spec {spec}");
    }
}

#[test]
fn reports_every_error_at_once() {
    let got = errors(&with_spec(
        json!({"name": "ABCDEFG", "instances": -1, "mode": "z"}),
    ));
    let fields: Vec<&str> = got.iter().map(|(f, _, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        ["spec.name", "spec.name", "spec.instances", "spec.mode"]
    );
}

#[test]
fn an_update_checks_what_changed_and_lets_unchanged_fields_stand() {
    // Stored before the schema refused these (kube-apiserver's validation ratcheting).
    let old = with_spec(
        json!({"name": "ABCDEFG", "ports": [{"name": "a", "port": 1}, {"name": "b", "port": 99999999999i64}], "labels": {}}),
    );
    let fields = |new: &Value| -> Vec<String> {
        validate_update(&schema(), new, Some(&old))
            .into_iter()
            .map(|e| e.field)
            .collect()
    };
    // A sibling changed; the invalid fields did not.
    let mut new = old.clone();
    new["spec"]["instances"] = json!(3);
    new["status"] = json!({"ready": true});
    assert_eq!(fields(&new), Vec::<String>::new());
    // Changed fields are checked, inside a list too.
    new["spec"]["instances"] = json!(-1);
    new["spec"]["ports"][0]["port"] = json!(99999999999i64);
    new["status"] = json!({"ready": "yes"});
    assert_eq!(
        fields(&new),
        ["spec.ports[0].port", "spec.instances", "status.ready"]
    );
    // A field moved to another place in its object is the same field.
    let mut reordered = old.clone();
    let spec = reordered["spec"].as_object_mut().unwrap();
    let name = spec.shift_remove("name").unwrap();
    spec.insert("name".into(), name);
    assert_eq!(fields(&reordered), Vec::<String>::new());
    // Without the stored object everything is checked.
    assert_eq!(validate(&schema(), &old).len(), 4);
}

#[test]
fn required_field_missing() {
    let got = errors(&json!({"apiVersion": "v1", "kind": "Thing", "spec": {}}));
    assert_eq!(
        got,
        one("spec.name", FieldError::REQUIRED, "Required value")
    );
}

#[test]
fn skips_the_roots_type_and_metadata() {
    let object = json!({"apiVersion": 5, "kind": ["x"], "metadata": {"labels": "nope"}, "spec": {"name": "ok"}});
    assert_eq!(errors(&object), vec![]);
}

#[test]
fn a_crd_may_restrict_metadata_name() {
    let s = Schema::from_json(&json!({
        "type": "object",
        "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}}}}
    }))
    .unwrap();
    let errs = validate(&s, &json!({"metadata": {"name": "too-long-a-name"}}));
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "metadata.name");
    assert_eq!(errs[0].message, "Too long: may not be more than 5 bytes");
    assert!(validate(&s, &json!({"metadata": {"name": "short"}})).is_empty());
}

#[test]
fn embedded_resources_need_api_version_and_kind() {
    let got = errors(&with_spec(json!({"template": {"spec": {}}})));
    assert_eq!(
        got,
        vec![
            (
                "spec.template.apiVersion".to_string(),
                FieldError::REQUIRED,
                "Required value".to_string()
            ),
            (
                "spec.template.kind".to_string(),
                FieldError::REQUIRED,
                "Required value".to_string()
            ),
        ]
    );
    let ok = with_spec(
        json!({"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"app": "x"}}}}),
    );
    assert_eq!(errors(&ok), vec![]);
    let bad = with_spec(json!({"template": {"apiVersion": "a/b/c", "kind": "Pod_X",
        "metadata": {"labels": {"app": "has space"}}}}));
    let got = errors(&bad);
    let fields: Vec<&str> = got.iter().map(|(f, _, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.template.apiVersion",
            "spec.template.kind",
            "spec.template.metadata.labels"
        ]
    );
    assert_eq!(
        got[0].2,
        "Invalid value: \"a/b/c\": unexpected GroupVersion string: a/b/c"
    );
    assert!(got[1].2.starts_with("Invalid value: \"Pod_X\": may have mixed case, but should otherwise match: a DNS-1035 label"));
}

#[test]
fn cause_message_is_field_then_body() {
    let errs = validate(&schema(), &with_spec(json!({"instances": -1})));
    assert_eq!(
        errs[0].cause_message(),
        "spec.instances: Invalid value: -1: spec.instances in body should be greater than or equal to 0"
    );
    assert_eq!(errs[0].to_string(), errs[0].cause_message());
    let no_field = FieldError {
        field: String::new(),
        reason: FieldError::INVALID,
        message: "m".into(),
    };
    assert_eq!(no_field.cause_message(), "m");
}

#[test]
fn constructors_word_like_apimachinery() {
    assert_eq!(FieldError::required("f", "").message, "Required value");
    assert_eq!(
        FieldError::required("f", "why").message,
        "Required value: why"
    );
    assert_eq!(
        FieldError::invalid("f", &json!(true), "d").message,
        "Invalid value: true: d"
    );
    assert_eq!(
        FieldError::invalid("f", &json!(null), "d").message,
        "Invalid value: null: d"
    );
    assert_eq!(
        FieldError::invalid("f", &json!({"b": 1, "a": [2]}), "d").message,
        "Invalid value: {\"b\":1,\"a\":[2]}: d"
    );
    assert_eq!(
        FieldError::not_supported("f", &json!("x"), &[]).message,
        "Unsupported value: \"x\""
    );
    assert_eq!(
        FieldError::too_long("f", 1).message,
        "Too long: may not be more than 1 byte"
    );
    assert_eq!(
        FieldError::too_many("f", 2, 1).message,
        "Too many: 2: must have at most 1 item"
    );
    assert_eq!(FieldError::forbidden("f", "no").message, "Forbidden: no");
    assert_eq!(
        FieldError::duplicate("f", &json!("a")).reason,
        FieldError::DUPLICATE
    );
}

#[test]
fn go_formatting() {
    for (f, want) in [
        (0.0, "0"),
        (1.0, "1"),
        (-0.25, "-0.25"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1e21, "1e+21"),
        (f64::INFINITY, "+Inf"),
    ] {
        assert_eq!(go_float(f), want, "{f}");
    }
    assert_eq!(go_quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
}

#[test]
fn formats() {
    for (format, value, ok) in [
        ("date-time", "2024-01-02T03:04:05Z", true),
        ("date-time", "2024-01-02t03:04:05z", true),
        ("date-time", "2024-01-02 03:04:05", true),
        ("date-time", "2024-01-02T03:04:05.5-0700", true),
        ("date-time", "2024-01-02T24:04:05Z", false),
        ("date-time", "2024-01-02T03:04:0é", false),
        ("date-time", "2024-01-02T03:04:05+aé", false),
        ("date-time", "2024-13-02T03:04:05Z", false),
        ("datetime", "2024-01-02", false),
        ("date", "2024-12-31", true),
        ("date", "2024-12-32", false),
        ("byte", "", true),
        ("byte", "YQ==", true),
        ("byte", "YQ", false),
        ("uuid", "123E4567E89B12D3A456426614174000", true),
        ("uuid", "123e4567-e89b-12d3-a456-42661417400", false),
        ("ipv6", "::1", true),
        ("cidr", "10.0.0.0/8", true),
        ("cidr", "10.0.0.0/33", false),
        ("cidr", "fd00::/64", true),
        ("cidr", "10.0.0.0/+8", false),
        ("hostname", "my-host.example.com", true),
        ("hostname", "-bad.example.com", false),
        ("email", "a@example.com", true),
        ("email", "nobody", false),
        ("int-or-whatever", "anything", true),
        ("password", "x", true),
    ] {
        assert_eq!(string_format_ok(format, value), ok, "{format} {value:?}");
    }
}

/// `n` objects nested in each other, the innermost `{"x": 1}`. (Not with `json!`, which would
/// copy the value at every level.)
pub(crate) fn nest(n: usize) -> Value {
    let mut v = json!({"x": 1});
    for _ in 1..n {
        let mut m = Map::new();
        m.insert("a".into(), v);
        v = Value::Object(m);
    }
    v
}

/// `n` arrays nested in each other, the innermost `[1]`.
pub(crate) fn nest_arrays(n: usize) -> Value {
    let mut v = json!([1]);
    for _ in 1..n {
        v = Value::Array(vec![v]);
    }
    v
}

/// Runs `f` on a thread with a small stack, so unbounded recursion would overflow.
pub(crate) fn on_small_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn_scoped(scope, f)
            .unwrap()
            .join()
            .unwrap()
    })
}

/// Builds (and drops) a value on a thread with a large stack: dropping deep JSON recurses.
pub(crate) fn with_deep_value<T: Send>(depth: usize, f: impl FnOnce(&mut Value) -> T + Send) -> T {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(64 * 1024 * 1024)
            .spawn_scoped(scope, || {
                let mut v = nest(depth);
                f(&mut v)
            })
            .unwrap()
            .join()
            .unwrap()
    })
}

#[test]
fn nesting_up_to_the_limit_is_fine() {
    let any = Schema::any();
    assert!(validate(&any, &nest(MAX_DEPTH)).is_empty());
    let errs = validate(&any, &nest(MAX_DEPTH + 1));
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, vec!["a"; MAX_DEPTH].join("."));
    assert_eq!(errs[0].reason, FieldError::INVALID);
    assert_eq!(
        errs[0].message,
        "Invalid value: \"object\": must not be nested more than 100 levels deep"
    );
}

#[test]
fn hostile_nesting_is_refused_without_overflowing_the_stack() {
    let (any, typed) = with_deep_value(20_000, |v| {
        let v = &*v;
        on_small_stack(|| (validate(&Schema::any(), v), validate(&schema(), v)))
    });
    for errs in [any, typed] {
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].message.contains("nested more than 100 levels"));
    }

    // Arrays, and a deep value inside a typed field.
    let errs = with_deep_value(1, |_| {
        let mut object = with_spec(json!({"free": {}}));
        object["spec"]["free"]["x"] = nest_arrays(20_000);
        object["spec"]["tags"] = nest_arrays(20_000);
        let errs = on_small_stack(|| validate(&schema(), &object));
        // Drop the deep value here, on the big stack.
        drop(object);
        errs
    });
    assert!(
        errs.iter()
            .any(|e| e.message.contains("nested more than 100 levels")),
        "{errs:?}"
    );
}
