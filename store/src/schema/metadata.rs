//! Validation of ObjectMeta, the `metadata` every object carries, as kube-apiserver's
//! `ValidateObjectMeta` does: names (DNS-1123 subdomains, DNS-1123 labels for namespaces, path
//! segments for kinds such as RBAC roles), namespace, labels, annotations, finalizers, owner
//! references and managed fields, with kube-apiserver's messages.
//!
//! Why it exists: metadata rules are the same for every kind, built-in or custom, and they are
//! not expressible in a structural schema (a CRD may not even describe metadata). The name
//! validators are public because the HTTP layer checks names taken from request paths too.

use serde_json::{Map, Value};

use super::validate::{FieldError, push_field, validate_at};

/// Which names an object of a kind may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameRule {
    /// A DNS-1123 subdomain (most kinds): lowercase alphanumerics, `-` and `.`, at most 253.
    #[default]
    Subdomain,
    /// A DNS-1123 label (namespaces): lowercase alphanumerics and `-`, at most 63.
    Label,
    /// Anything usable as a URL path segment (RBAC kinds, e.g. `system:controller:foo`): not `.`
    /// or `..`, no `/` or `%`.
    PathSegment,
}

impl NameRule {
    /// The rule kube-apiserver applies to the names of a kind: DNS-1123 labels for namespaces,
    /// path segments for the RBAC kinds, DNS-1123 subdomains for everything else.
    pub fn for_kind(group: &str, kind: &str) -> NameRule {
        match (group, kind) {
            ("", "Namespace") => NameRule::Label,
            ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
            _ => NameRule::Subdomain,
        }
    }

    /// kube-apiserver's messages for an invalid `name`; with `prefix`, `name` is a
    /// `generateName` (a trailing `-` is allowed).
    pub fn check(self, name: &str, prefix: bool) -> Vec<String> {
        match self {
            NameRule::Subdomain => dns1123_subdomain_errors(&mask_trailing_dash(name, prefix)),
            NameRule::Label => dns1123_label_errors(&mask_trailing_dash(name, prefix)),
            NameRule::PathSegment => path_segment_errors(name, prefix),
        }
    }
}

/// The annotations of an object may total at most this many bytes (keys plus values).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: u64 = 256 * 1024;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// apimachinery's `RegexError`: the message, examples and the regular expression.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let quoted: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!(
        "{msg} (e.g. {}regex used for validation is '{fmt}')",
        quoted.join(" or ")
    )
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

fn join(errors: Vec<String>) -> Result<(), String> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// apimachinery's `maskTrailingDash`: a generateName may end with `-`.
fn mask_trailing_dash(name: &str, prefix: bool) -> String {
    if prefix && name.len() > 1 && name.ends_with('-') {
        // Go drops the two last bytes; for a multi-byte character before the dash that leaves an
        // invalid name, and so does keeping the character.
        let mut masked = name[..name.len() - 1].to_string();
        if masked.ends_with(|c: char| c.is_ascii()) {
            masked.pop();
        }
        masked.push('a');
        masked
    } else {
        name.to_string()
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?` over the whole string.
fn is_label_chars(s: &str, first: fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            first(f)
                && (l.is_ascii_lowercase() || l.is_ascii_digit())
                && b.iter()
                    .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        }
        _ => false,
    }
}

fn lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn is_subdomain_chars(s: &str) -> bool {
    s.split('.').all(|label| is_label_chars(label, lower_alnum))
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]` over the whole string.
fn is_qualified_chars(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// apimachinery's `IsDNS1123Label`.
pub fn dns1123_label_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !is_label_chars(value, lower_alnum) {
        if is_subdomain_chars(value) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// apimachinery's `IsDNS1123Subdomain`.
pub fn dns1123_subdomain_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len_error(253));
    }
    if !is_subdomain_chars(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// apimachinery's `IsDNS1035Label`.
pub fn dns1035_label_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !is_label_chars(value, |c| c.is_ascii_lowercase()) {
        errs.push(regex_error(
            DNS1035_LABEL_MSG,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// apimachinery's `IsQualifiedName`: an optional DNS subdomain prefix and `/`, then a name of at
/// most 63 characters (label keys, annotation keys, finalizers).
pub fn qualified_name_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    dns1123_subdomain_errors(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !is_qualified_chars(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// apimachinery's `IsValidLabelValue`: empty, or at most 63 characters of the qualified-name set.
pub fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !value.is_empty() && !is_qualified_chars(value) {
        errs.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// apimachinery's `IsValidPathSegmentName` (with `prefix`, for a generateName).
pub fn path_segment_errors(name: &str, prefix: bool) -> Vec<String> {
    if !prefix {
        for bad in [".", ".."] {
            if name == bad {
                return vec![format!("may not be '{bad}'")];
            }
        }
    }
    ["/", "%"]
        .iter()
        .filter(|bad| name.contains(**bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

/// A DNS-1123 subdomain (the names of most objects); the error joins kube-apiserver's messages.
pub fn dns1123_subdomain(name: &str) -> Result<(), String> {
    join(dns1123_subdomain_errors(name))
}

/// A DNS-1123 label (namespace names).
pub fn dns1123_label(name: &str) -> Result<(), String> {
    join(dns1123_label_errors(name))
}

/// A DNS-1035 label (must start with a letter).
pub fn dns1035_label(name: &str) -> Result<(), String> {
    join(dns1035_label_errors(name))
}

/// A qualified name: label and annotation keys, finalizers.
pub fn qualified_name(name: &str) -> Result<(), String> {
    join(qualified_name_errors(name))
}

/// A label value.
pub fn label_value(value: &str) -> Result<(), String> {
    join(label_value_errors(value))
}

/// A name usable as one URL path segment.
pub fn path_segment_name(name: &str) -> Result<(), String> {
    join(path_segment_errors(name, false))
}

/// What the namespace of an object must be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NamespaceRule {
    Required,
    Forbidden,
    /// Checked only when set (embedded resources).
    Optional,
}

/// Validates the `metadata` of an object of a kind that is `namespaced` (or not), whose names
/// follow `name_rule`. A name is required unless `generateName` is given. Null fields count as
/// absent.
pub fn validate_metadata(meta: &Value, namespaced: bool, name_rule: NameRule) -> Vec<FieldError> {
    let namespace = if namespaced {
        NamespaceRule::Required
    } else {
        NamespaceRule::Forbidden
    };
    object_meta(meta, "metadata", namespace, name_rule, true)
}

/// The metadata of an embedded resource (`x-kubernetes-embedded-resource`) found at `path`: as
/// kube-apiserver does, names are path segments, a name is not required and the namespace is
/// checked only when set.
pub(crate) fn validate_embedded_metadata(meta: &Value, path: &str) -> Vec<FieldError> {
    object_meta(
        meta,
        path,
        NamespaceRule::Optional,
        NameRule::PathSegment,
        false,
    )
}

fn child(path: &str, name: &str) -> String {
    let mut p = path.to_string();
    push_field(&mut p, name);
    p
}

fn object_meta(
    meta: &Value,
    path: &str,
    namespace_rule: NamespaceRule,
    name_rule: NameRule,
    name_required: bool,
) -> Vec<FieldError> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    let m = match meta {
        Value::Object(m) => m,
        Value::Null => &EMPTY,
        other => {
            return vec![FieldError::type_invalid(
                path,
                &Value::String(super::validate::type_of(other).into()),
                &format!(
                    "{path} in body must be of type object: \"{}\"",
                    super::validate::type_of(other)
                ),
            )];
        }
    };
    // Types first (labels must be a map of strings, and so on), as the Go decoder demands.
    let mut errs = validate_at(super::builtin::object_meta(), meta, path, true);
    let str_of = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("");

    let generate_name = str_of("generateName");
    if !generate_name.is_empty() {
        for msg in name_rule.check(generate_name, true) {
            errs.push(FieldError::invalid(
                child(path, "generateName"),
                &Value::from(generate_name),
                &msg,
            ));
        }
    }
    let name = str_of("name");
    if name.is_empty() {
        if name_required && generate_name.is_empty() {
            errs.push(FieldError::required(
                child(path, "name"),
                "name or generateName is required",
            ));
        }
    } else {
        for msg in name_rule.check(name, false) {
            errs.push(FieldError::invalid(
                child(path, "name"),
                &Value::from(name),
                &msg,
            ));
        }
    }

    let namespace = str_of("namespace");
    match namespace_rule {
        NamespaceRule::Required if namespace.is_empty() => {
            errs.push(FieldError::required(child(path, "namespace"), ""));
        }
        NamespaceRule::Forbidden if !namespace.is_empty() => {
            errs.push(FieldError::forbidden(
                child(path, "namespace"),
                "not allowed on this type",
            ));
        }
        _ if !namespace.is_empty() => {
            for msg in dns1123_label_errors(namespace) {
                errs.push(FieldError::invalid(
                    child(path, "namespace"),
                    &Value::from(namespace),
                    &msg,
                ));
            }
        }
        _ => {}
    }

    if let Some(generation) = m.get("generation").and_then(Value::as_i64)
        && generation < 0
    {
        errs.push(FieldError::invalid(
            child(path, "generation"),
            &Value::from(generation),
            "must be greater than or equal to 0",
        ));
    }
    if let Some(Value::Object(labels)) = m.get("labels") {
        let field = child(path, "labels");
        for (k, v) in labels {
            for msg in qualified_name_errors(k) {
                errs.push(FieldError::invalid(&field, &Value::from(k.as_str()), &msg));
            }
            if let Value::String(v) = v {
                for msg in label_value_errors(v) {
                    errs.push(FieldError::invalid(&field, &Value::from(v.as_str()), &msg));
                }
            }
        }
    }
    if let Some(Value::Object(annotations)) = m.get("annotations") {
        let field = child(path, "annotations");
        let mut total: u64 = 0;
        for (k, v) in annotations {
            for msg in qualified_name_errors(&k.to_lowercase()) {
                errs.push(FieldError::invalid(&field, &Value::from(k.as_str()), &msg));
            }
            total += (k.len() + v.as_str().map_or(0, str::len)) as u64;
        }
        if total > TOTAL_ANNOTATION_SIZE_LIMIT {
            errs.push(FieldError::too_long(&field, TOTAL_ANNOTATION_SIZE_LIMIT));
        }
    }
    if let Some(Value::Array(owners)) = m.get("ownerReferences") {
        owner_references(owners, &child(path, "ownerReferences"), &mut errs);
    }
    if let Some(Value::Array(finalizers)) = m.get("finalizers") {
        let field = child(path, "finalizers");
        for f in finalizers.iter().filter_map(Value::as_str) {
            for msg in qualified_name_errors(f) {
                errs.push(FieldError::invalid(&field, &Value::from(f), &msg));
            }
        }
        let has = |name: &str| finalizers.iter().any(|f| f == name);
        if has("orphan") && has("foregroundDeletion") {
            errs.push(FieldError::invalid(
                &field,
                &Value::Array(finalizers.clone()),
                "finalizer orphan and foregroundDeletion cannot be both set",
            ));
        }
    }
    if let Some(Value::Array(entries)) = m.get("managedFields") {
        managed_fields(entries, &child(path, "managedFields"), &mut errs);
    }
    errs
}

/// apimachinery's `ValidateOwnerReferences` (its fields are reported without the index, as
/// kube-apiserver does).
fn owner_references(owners: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    let mut controller: Option<String> = None;
    for owner in owners {
        let Value::Object(o) = owner else { continue };
        let s = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("");
        let api_version = s("apiVersion");
        let version = api_version.rsplit_once('/').map_or(api_version, |(_, v)| v);
        if version.is_empty() {
            errs.push(FieldError::invalid(
                child(path, "apiVersion"),
                &Value::from(api_version),
                "version must not be empty",
            ));
        }
        if s("kind").is_empty() {
            errs.push(FieldError::invalid(
                child(path, "kind"),
                &Value::from(s("kind")),
                "kind must not be empty",
            ));
        }
        if s("name").is_empty() {
            errs.push(FieldError::invalid(
                child(path, "name"),
                &Value::from(s("name")),
                "name must not be empty",
            ));
        }
        if s("uid").is_empty() {
            errs.push(FieldError::invalid(
                child(path, "uid"),
                &Value::from(s("uid")),
                "uid must not be empty",
            ));
        }
        if o.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{}/{}", s("kind"), s("name"));
            match &controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    &Value::Array(owners.to_vec()),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => controller = Some(current),
            }
        }
    }
}

/// apimachinery's `ValidateManagedFields`.
fn managed_fields(entries: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    for (i, entry) in entries.iter().enumerate() {
        let Value::Object(e) = entry else { continue };
        let at = format!("{path}[{i}]");
        let operation = e.get("operation").and_then(Value::as_str).unwrap_or("");
        if operation != "Apply" && operation != "Update" {
            errs.push(FieldError::invalid(
                child(&at, "operation"),
                &Value::from(operation),
                "must be `Apply` or `Update`",
            ));
        }
        let fields_type = e.get("fieldsType").and_then(Value::as_str).unwrap_or("");
        if !fields_type.is_empty() && fields_type != "FieldsV1" {
            errs.push(FieldError::invalid(
                child(&at, "fieldsType"),
                &Value::from(fields_type),
                "must be `FieldsV1`",
            ));
        }
        let manager = e.get("manager").and_then(Value::as_str).unwrap_or("");
        if manager.len() > 128 {
            errs.push(FieldError::too_long(child(&at, "manager"), 128));
        }
    }
}

#[cfg(test)]
mod tests;
