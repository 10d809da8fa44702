//! Label and field selectors, parsed and matched exactly as kube-apiserver does.
//!
//! `kubectl get -l`, `kubectl wait`, Helm (`owner=helm`), kube-rs watchers and the Python client
//! all send `labelSelector` / `fieldSelector` query parameters; the list and watch paths filter
//! with these. The label grammar, validation and error texts follow
//! `k8s.io/apimachinery/pkg/labels/selector.go`; field selectors follow
//! `k8s.io/apimachinery/pkg/fields/selector.go` (terms `k=v`, `k==v`, `k!=v`, with `\` escapes).
//! [`from_label_selector_object`] converts a `metav1.LabelSelector` object (matchLabels +
//! matchExpressions) into the same form, e.g. for the scale subresource's `status.selector`.
//!
//! Everything here is pure: matching takes a lookup closure so callers can match against their
//! own label or field storage without building maps.

use std::fmt;

use serde_json::Value;

/// A selector that could not be parsed or is invalid; the message reads like kube-apiserver's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SelectorError {
    message: String,
}

impl SelectorError {
    fn new(message: impl Into<String>) -> SelectorError {
        SelectorError {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

/// How a label requirement relates its key and values (`selection.Operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key=value`
    Equals,
    /// `key==value`
    DoubleEquals,
    /// `key!=value`
    NotEquals,
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)`
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>5` (integer comparison)
    GreaterThan,
    /// `key<5` (integer comparison)
    LessThan,
}

/// One requirement of a label selector: a key, an operator and (possibly) values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Validates and builds a requirement, as `labels.NewRequirement` does.
    pub fn new(
        key: impl Into<String>,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Requirement, SelectorError> {
        let key = key.into();
        let mut errs: Vec<String> = Vec::new();
        if let Err(e) = validate_label_key(&key) {
            errs.push(format!("key: {e}"));
        }
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => errs.push(
                "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"
                    .into(),
            ),
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals
                if values.len() != 1 =>
            {
                errs.push(format!(
                    "values: Invalid value: {}: exact-match compatibility requires one single value",
                    list_repr(&values)
                ))
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => errs.push(format!(
                "values: Invalid value: {}: values set must be empty for exists and does not exist",
                list_repr(&values)
            )),
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(format!(
                        "values: Invalid value: {}: for 'Gt', 'Lt' operators, exactly one value is required",
                        list_repr(&values)
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(format!(
                            "values[{i}]: Invalid value: {v:?}: for 'Gt', 'Lt' operators, the value must be an integer"
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            if let Err(e) = validate_label_value(v) {
                errs.push(format!("values[{i}][{key}]: {e}"));
            }
        }
        match errs.len() {
            0 => Ok(Requirement {
                key,
                operator,
                values,
            }),
            1 => Err(SelectorError::new(errs.remove(0))),
            _ => Err(SelectorError::new(format!("[{}]", errs.join(", ")))),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    pub fn values(&self) -> &[String] {
        &self.values
    }

    fn has_value(&self, v: &str) -> bool {
        self.values.iter().any(|x| x == v)
    }

    /// Whether a label set (given as a lookup) satisfies this requirement.
    pub fn matches<'v>(&self, mut get: impl FnMut(&str) -> Option<&'v str>) -> bool {
        let value = get(&self.key);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                value.is_some_and(|v| self.has_value(v))
            }
            Operator::NotIn | Operator::NotEquals => !value.is_some_and(|v| self.has_value(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(have) = value.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let [want] = self.values.as_slice() else {
                    return false;
                };
                let Ok(want) = want.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        let mut values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        values.sort_unstable();
        f.write_str(&values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A parsed label selector: the AND of its requirements, sorted by key.
///
/// The default value is the empty selector, which matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    /// `labels.Nothing()`: what a null `metav1.LabelSelector` means.
    nothing: bool,
}

impl LabelSelector {
    /// Matches every object.
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// Matches no object (a null `metav1.LabelSelector`).
    pub fn nothing() -> LabelSelector {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Builds a selector from requirements (sorted by key, as kube does).
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> LabelSelector {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector {
            requirements,
            nothing: false,
        }
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True when the selector does not restrict anything (matches every object).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// Whether the labels (looked up by key through `get`) satisfy every requirement.
    pub fn matches<'v>(&self, mut get: impl FnMut(&str) -> Option<&'v str>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(&mut get))
    }

    /// A label and the one value this selector requires of it (the first such requirement),
    /// for indexing who watches what.
    pub fn exact_match(&self) -> Option<(&str, &str)> {
        self.requirements
            .iter()
            .find_map(|r| Some((r.key.as_str(), self.requires_exact_match(&r.key)?)))
    }

    /// The value a label must have for this selector to match, if one is required
    /// (`=`, `==`, or `in` with a single value), as `RequiresExactMatch`.
    pub fn requires_exact_match(&self, label: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == label)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [v]) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for LabelSelector {
    /// The canonical string form (`a=b,c in (d,e),!f`), as `Selector.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for LabelSelector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<LabelSelector, SelectorError> {
        parse(s)
    }
}

/// Parses a label selector string (`labels.Parse`).
///
/// Grammar: `[!]KEY [ (in|notin) (V, ...) | (=|==|!=) V | (>|<) INT ]`, comma separated (AND);
/// whitespace around tokens is ignored. An empty string is the empty selector.
pub fn parse(s: &str) -> Result<LabelSelector, SelectorError> {
    let mut p = Parser {
        items: lex(s),
        pos: 0,
    };
    let requirements = p.parse()?;
    Ok(LabelSelector::from_requirements(requirements))
}

/// Converts a `metav1.LabelSelector` object (`matchLabels` + `matchExpressions`) as
/// `metav1.LabelSelectorAsSelector` does: null matches nothing, `{}` matches everything.
pub fn from_label_selector_object(v: &Value) -> Result<LabelSelector, SelectorError> {
    let obj = match v {
        Value::Null => return Ok(LabelSelector::nothing()),
        Value::Object(o) => o,
        other => {
            return Err(SelectorError::new(format!(
                "a label selector must be an object, not {}",
                json_type(other)
            )));
        }
    };
    let mut requirements = Vec::new();
    match obj.get("matchLabels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(labels)) => {
            for (k, v) in labels {
                let Some(v) = v.as_str() else {
                    return Err(SelectorError::new(format!(
                        "matchLabels[{k}]: a label value must be a string"
                    )));
                };
                requirements.push(Requirement::new(
                    k.as_str(),
                    Operator::Equals,
                    vec![v.into()],
                )?);
            }
        }
        Some(_) => return Err(SelectorError::new("matchLabels must be an object")),
    }
    match obj.get("matchExpressions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(exprs)) => {
            for (i, e) in exprs.iter().enumerate() {
                let key = e.get("key").and_then(Value::as_str).unwrap_or("");
                let op = e.get("operator").and_then(Value::as_str).unwrap_or("");
                let op = match op {
                    "In" => Operator::In,
                    "NotIn" => Operator::NotIn,
                    "Exists" => Operator::Exists,
                    "DoesNotExist" => Operator::DoesNotExist,
                    other => {
                        return Err(SelectorError::new(format!(
                            "{other:?} is not a valid label selector operator"
                        )));
                    }
                };
                let values = match e.get("values") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|x| x.as_str().map(String::from))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            SelectorError::new(format!(
                                "matchExpressions[{i}].values: values must be strings"
                            ))
                        })?,
                    Some(_) => {
                        return Err(SelectorError::new(format!(
                            "matchExpressions[{i}].values must be an array"
                        )));
                    }
                };
                requirements.push(Requirement::new(key, op, values)?);
            }
        }
        Some(_) => return Err(SelectorError::new("matchExpressions must be an array")),
    }
    Ok(LabelSelector::from_requirements(requirements))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// How Go prints a `[]string` in a field error (`[]string{"a", "b"}`), kept short.
fn list_repr(values: &[String]) -> String {
    let inner: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", inner.join(", "))
}

// --- validation (k8s.io/apimachinery/pkg/util/validation) -----------------------------------

/// `validation.IsQualifiedName` (label keys), shared with metadata validation.
pub fn validate_label_key(k: &str) -> Result<(), String> {
    crate::schema::metadata::qualified_name(k).map_err(|e| format!("Invalid value: {k:?}: {e}"))
}

/// `validation.IsValidLabelValue`, shared with metadata validation.
pub fn validate_label_value(v: &str) -> Result<(), String> {
    crate::schema::metadata::label_value(v).map_err(|e| format!("Invalid value: {v:?}: {e}"))
}

// --- lexer and parser (labels.Lexer / labels.Parser) -----------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits the input into tokens, ending with `Tok::End`.
fn lex(s: &str) -> Vec<(Tok, String)> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < b.len() && is_whitespace(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            out.push((Tok::End, String::new()));
            return out;
        }
        if is_special(b[i]) {
            // The longest operator: `!=` and `==` are the only two-character ones.
            let two = b.get(i..i + 2);
            let (tok, len) = match (b[i], two) {
                (_, Some(b"!=")) => (Tok::NotEquals, 2),
                (_, Some(b"==")) => (Tok::DoubleEquals, 2),
                (b'=', _) => (Tok::Equals, 1),
                (b'!', _) => (Tok::DoesNotExist, 1),
                (b'(', _) => (Tok::OpenPar, 1),
                (b')', _) => (Tok::ClosedPar, 1),
                (b',', _) => (Tok::Comma, 1),
                (b'>', _) => (Tok::GreaterThan, 1),
                _ => (Tok::LessThan, 1),
            };
            out.push((tok, s[i..i + len].to_string()));
            i += len;
            continue;
        }
        let start = i;
        while i < b.len() && !is_special(b[i]) && !is_whitespace(b[i]) {
            i += 1;
        }
        // Token boundaries are ASCII bytes, so this slice is on char boundaries.
        let word = &s[start..i];
        let tok = match word {
            "in" => Tok::In,
            "notin" => Tok::NotIn,
            _ => Tok::Identifier,
        };
        out.push((tok, word.to_string()));
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Tok, String)>,
    pos: usize,
}

impl Parser {
    fn item(&self, at: usize, ctx: Context) -> (Tok, String) {
        let (tok, lit) = self.items[at.min(self.items.len() - 1)].clone();
        // `in` and `notin` are plain identifiers where values are expected (`x in (in)`).
        let tok = match (ctx, tok) {
            (Context::Values, Tok::In | Tok::NotIn) => Tok::Identifier,
            _ => tok,
        };
        (tok, lit)
    }

    fn lookahead(&self, ctx: Context) -> (Tok, String) {
        self.item(self.pos, ctx)
    }

    fn consume(&mut self, ctx: Context) -> (Tok, String) {
        let it = self.item(self.pos, ctx);
        if self.pos < self.items.len() - 1 {
            self.pos += 1;
        }
        it
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Tok::Identifier | Tok::DoesNotExist => {
                    let r = self.parse_requirement().map_err(|e| {
                        SelectorError::new(format!("unable to parse requirement: {e}"))
                    })?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Tok::End => return Ok(requirements),
                        Tok::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Tok::Identifier && t2 != Tok::DoesNotExist {
                                return Err(SelectorError::new(format!(
                                    "found '{l2}', expected: identifier after ','"
                                )));
                            }
                        }
                        _ => {
                            return Err(SelectorError::new(format!(
                                "found '{l}', expected: ',' or 'end of string'"
                            )));
                        }
                    }
                }
                Tok::End => return Ok(requirements),
                _ => {
                    return Err(SelectorError::new(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    )));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, SelectorError> {
        let (key, op) = self.parse_key_and_infer_operator()?;
        if let Some(op @ (Operator::Exists | Operator::DoesNotExist)) = op {
            return Requirement::new(key, op, Vec::new());
        }
        let op = self.parse_operator()?;
        let mut values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        // Values form a set: sorted, without duplicates.
        values.sort();
        values.dedup();
        Requirement::new(key, op, values)
    }

    fn parse_key_and_infer_operator(
        &mut self,
    ) -> Result<(String, Option<Operator>), SelectorError> {
        let mut op = None;
        let (mut tok, mut lit) = self.consume(Context::Values);
        if tok == Tok::DoesNotExist {
            op = Some(Operator::DoesNotExist);
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Tok::Identifier {
            return Err(SelectorError::new(format!(
                "found '{lit}', expected: identifier"
            )));
        }
        validate_label_key(&lit).map_err(|e| SelectorError::new(format!("key: {e}")))?;
        let (next, _) = self.lookahead(Context::Values);
        if matches!(next, Tok::End | Tok::Comma) && op != Some(Operator::DoesNotExist) {
            op = Some(Operator::Exists);
        }
        Ok((lit, op))
    }

    fn parse_operator(&mut self) -> Result<Operator, SelectorError> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Tok::In => Operator::In,
            Tok::Equals => Operator::Equals,
            Tok::DoubleEquals => Operator::DoubleEquals,
            Tok::GreaterThan => Operator::GreaterThan,
            Tok::LessThan => Operator::LessThan,
            Tok::NotIn => Operator::NotIn,
            Tok::NotEquals => Operator::NotEquals,
            _ => {
                return Err(SelectorError::new(format!(
                    "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
                )));
            }
        })
    }

    /// `(a,b,c)`; `()` is the set holding the empty string.
    fn parse_values(&mut self) -> Result<Vec<String>, SelectorError> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Tok::OpenPar {
            return Err(SelectorError::new(format!("found '{lit}', expected: '('")));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Tok::Identifier | Tok::Comma => {
                let values = self.parse_identifiers_list()?;
                let (tok, lit) = self.consume(Context::Values);
                if tok != Tok::ClosedPar {
                    return Err(SelectorError::new(format!("found '{lit}', expected: ')'")));
                }
                Ok(values)
            }
            Tok::ClosedPar => {
                self.consume(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(SelectorError::new(format!(
                "found '{lit}', expected: ',', ')' or identifier"
            ))),
        }
    }

    /// A comma-separated list of (possibly empty) identifiers, up to (not including) `)`.
    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, SelectorError> {
        let mut values: Vec<String> = Vec::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Tok::Identifier => {
                    values.push(lit);
                    let (tok2, lit2) = self.lookahead(Context::Values);
                    match tok2 {
                        Tok::Comma => continue,
                        Tok::ClosedPar => return Ok(values),
                        _ => {
                            return Err(SelectorError::new(format!(
                                "found '{lit2}', expected: ',' or ')'"
                            )));
                        }
                    }
                }
                Tok::Comma => {
                    if values.is_empty() {
                        values.push(String::new()); // "(,"
                    }
                    let (tok2, _) = self.lookahead(Context::Values);
                    if tok2 == Tok::ClosedPar {
                        values.push(String::new()); // ",)"
                        return Ok(values);
                    }
                    if tok2 == Tok::Comma {
                        self.consume(Context::Values);
                        values.push(String::new()); // ",,"
                    }
                }
                _ => {
                    return Err(SelectorError::new(format!(
                        "found '{lit}', expected: ',', or identifier"
                    )));
                }
            }
        }
    }

    /// The single value of `=`, `==`, `!=`, `>`, `<`; nothing before `,` or the end means "".
    fn parse_exact_value(&mut self) -> Result<Vec<String>, SelectorError> {
        let (tok, _) = self.lookahead(Context::Values);
        if matches!(tok, Tok::End | Tok::Comma) {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Tok::Identifier {
            Ok(vec![lit])
        } else {
            Err(SelectorError::new(format!(
                "found '{lit}', expected: identifier"
            )))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

/// The comparison of a field selector term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOp {
    /// `=` or `==`
    Equals,
    /// `!=`
    NotEquals,
}

/// One `field=value` / `field!=value` term (value unescaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    pub field: String,
    pub op: FieldOp,
    pub value: String,
}

/// A parsed field selector: the AND of its terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// The value `field` must equal for this selector to match, if a term requires one.
    pub fn exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && t.op == FieldOp::Equals)
            .map(|t| t.value.as_str())
    }

    /// True when the selector has no terms (matches everything).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The field paths the selector uses, so the caller can reject unsupported ones with 400
    /// (`field label not supported: spec.foo`).
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|t| t.field.as_str())
    }

    /// Whether an object matches; `get` resolves a field path (`metadata.name`,
    /// `involvedObject.uid`) to its string form. A missing field compares as "".
    pub fn matches(&self, mut get: impl FnMut(&str) -> Option<String>) -> bool {
        self.terms.iter().all(|t| {
            let have = get(&t.field).unwrap_or_default();
            match t.op {
                FieldOp::Equals => have == t.value,
                FieldOp::NotEquals => have != t.value,
            }
        })
    }

    /// The value a field must equal for the selector to match (`RequiresExactMatch`).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && t.op == FieldOp::Equals)
            .map(|t| t.value.as_str())
    }

    /// The name when the selector pins `metadata.name` (`metadata.name=X`, as kubectl wait and
    /// delete send), so the server can do a point lookup. Other terms, if any, still have to be
    /// checked with [`FieldSelector::matches`].
    pub fn exact_name(&self) -> Option<&str> {
        self.requires_exact_match("metadata.name")
    }
}

impl fmt::Display for FieldSelector {
    /// `a=b,c!=d`, values escaped so the string parses back to the same selector.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match t.op {
                FieldOp::Equals => "=",
                FieldOp::NotEquals => "!=",
            };
            write!(f, "{}{op}{}", t.field, escape_field_value(&t.value))?;
        }
        Ok(())
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<FieldSelector, SelectorError> {
        parse_fields(s)
    }
}

/// Escapes `\`, `,` and `=` in a field selector value (`fields.EscapeValue`).
pub fn escape_field_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Parses a field selector (`fields.ParseSelector`): comma-separated `field=value`,
/// `field==value` or `field!=value` terms. In values, `\,`, `\=`, `\\` (and, as an extension,
/// `\!`) are escapes; an unescaped `,` ends the term and an unescaped `=` is an error. The field
/// part is taken literally up to the first operator.
pub fn parse_fields(s: &str) -> Result<FieldSelector, SelectorError> {
    let mut parts = split_terms(s);
    parts.sort_unstable();
    let mut terms = Vec::with_capacity(parts.len());
    for part in parts {
        if part.is_empty() {
            continue;
        }
        let Some((lhs, op, rhs)) = split_term(part) else {
            return Err(SelectorError::new(format!(
                "invalid selector: '{s}'; can't understand '{part}'"
            )));
        };
        terms.push(FieldTerm {
            field: lhs.to_string(),
            op,
            value: unescape_field_value(rhs)?,
        });
    }
    Ok(FieldSelector { terms })
}

/// Splits at commas that are not backslash-escaped; escapes stay in the terms.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// The first `!=`, `==` or `=` splits a term.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, kind) in [
            ("!=", FieldOp::NotEquals),
            ("==", FieldOp::Equals),
            ("=", FieldOp::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], kind, value));
            }
        }
    }
    None
}

fn unescape_field_value(s: &str) -> Result<String, SelectorError> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=' | '!') {
                return Err(SelectorError::new(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                )));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                return Err(SelectorError::new(format!(
                    "invalid field selector: unescaped character in value: '{c}'"
                )));
            }
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(SelectorError::new(
            "invalid field selector: invalid escape sequence: \\",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sel_matches(sel: &LabelSelector, l: &BTreeMap<String, String>) -> bool {
        sel.matches(|k| l.get(k).map(String::as_str))
    }

    #[test]
    fn label_operators_match() {
        let set = labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("n", "7"),
            ("in", "notin"),
        ]);
        let empty = labels(&[]);
        // (selector, matches `set`, matches empty labels)
        let cases: &[(&str, bool, bool)] = &[
            ("", true, true),
            ("app=web", true, false),
            ("app==web", true, false),
            ("app=db", false, false),
            ("app!=db", true, true),
            ("app!=web", false, true),
            ("app in (web,db)", true, false),
            ("app in (db)", false, false),
            ("app notin (db,cache)", true, true),
            ("app notin (web)", false, true),
            ("app", true, false),
            ("!app", false, true),
            ("missing", false, false),
            ("!missing", true, true),
            ("n>5", true, false),
            ("n<5", false, false),
            ("n<10", true, false),
            ("app>5", false, false),
            ("app=web,tier=front", true, false),
            ("app=web,tier=back", false, false),
            ("app=web,!missing,tier in (front)", true, false),
            ("in=notin", true, false),
            ("in in (in,notin)", true, false),
            ("app=", false, false),
            ("missing=", false, false),
            ("app in ()", false, false),
            ("missing notin ()", true, true),
        ];
        for (s, want_set, want_empty) in cases {
            let sel = parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(sel_matches(&sel, &set), *want_set, "{s:?} on set");
            assert_eq!(sel_matches(&sel, &empty), *want_empty, "{s:?} on empty");
        }
    }

    #[test]
    fn label_parse_whitespace_and_canonical_form() {
        let cases: &[(&str, &str)] = &[
            ("  app = web  ", "app=web"),
            ("app==web", "app==web"),
            ("app != web", "app!=web"),
            ("tier in ( b , a , a )", "tier in (a,b)"),
            ("tier notin (x)", "tier notin (x)"),
            ("z,a", "a,z"),
            ("!z, a=1", "a=1,!z"),
            (
                "x in (foo,,baz),y,z notin ()",
                "x in (,baz,foo),y,z notin ()",
            ),
            ("example.com/app=v1.2_3-x", "example.com/app=v1.2_3-x"),
            ("a\tin\t(b)", "a in (b)"),
            ("n>3", "n>3"),
            ("n < 3", "n<3"),
            ("a=", "a="),
        ];
        for (input, want) in cases {
            let sel = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(sel.to_string(), *want, "{input:?}");
            // The canonical form parses back to the same selector.
            assert_eq!(
                parse(&sel.to_string()).unwrap(),
                sel,
                "{input:?} round trip"
            );
        }
        assert!(parse("").unwrap().is_empty());
        assert!(parse("   ").unwrap().is_empty());
        assert!(!parse("a").unwrap().is_empty());
    }

    #[test]
    fn label_parse_errors() {
        let long = "a".repeat(64);
        let cases: Vec<(String, &str)> = vec![
            ("a=b)".into(), "found ')', expected: ',' or 'end of string'"),
            (
                "a=b c".into(),
                "found 'c', expected: ',' or 'end of string'",
            ),
            (
                "a in (b) (".into(),
                "found '(', expected: ',' or 'end of string'",
            ),
            ("a=b,".into(), "found '', expected: identifier after ','"),
            ("a=b,,c".into(), "found ',', expected: identifier after ','"),
            (
                "=b".into(),
                "found '=', expected: !, identifier, or 'end of string'",
            ),
            (
                ",".into(),
                "found ',', expected: !, identifier, or 'end of string'",
            ),
            (
                "a in b".into(),
                "unable to parse requirement: found 'b', expected: '('",
            ),
            (
                "a in (b".into(),
                "unable to parse requirement: found '', expected: ',' or ')'",
            ),
            (
                "a in (b c)".into(),
                "unable to parse requirement: found 'c', expected: ',' or ')'",
            ),
            (
                "a in (=)".into(),
                "unable to parse requirement: found '=', expected: ',', ')' or identifier",
            ),
            (
                "a in (b,=)".into(),
                "unable to parse requirement: found '=', expected: ',', or identifier",
            ),
            (
                "a b".into(),
                "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt",
            ),
            (
                "a=(".into(),
                "unable to parse requirement: found '(', expected: identifier",
            ),
            (
                "!=a".into(),
                "found '!=', expected: !, identifier, or 'end of string'",
            ),
            (
                "!!a".into(),
                "unable to parse requirement: found '!', expected: identifier",
            ),
            ("!a=b".into(), "found '=', expected: ',' or 'end of string'"),
            ("a>b".into(), "the value must be an integer"),
            ("A B=c".into(), "expected: in, notin"),
            ("a b c".into(), "expected: in, notin"),
            (
                "-a=b".into(),
                "unable to parse requirement: key: Invalid value: \"-a\": name part must consist of alphanumeric characters",
            ),
            ("a/b/c=d".into(), "a qualified name must consist of"),
            ("/a=b".into(), "prefix part must be non-empty"),
            (
                "Example.com/a=b".into(),
                "prefix part a lowercase RFC 1123 subdomain",
            ),
            ("example.com/=b".into(), "name part must be non-empty"),
            (
                format!("{long}=b"),
                "name part must be no more than 63 characters",
            ),
            (format!("a={long}"), "values[0][a]: Invalid value"),
            (
                "a=-b".into(),
                "a valid label must be an empty string or consist of alphanumeric characters",
            ),
            ("a in (x,b_)".into(), "values[0][a]: Invalid value: \"b_\""),
            ("a=b√".into(), "a valid label must be an empty string"),
        ];
        for (input, want) in &cases {
            let err = parse(input).expect_err(input).to_string();
            assert!(
                err.contains(want),
                "{input:?}: got {err:?}, want it to contain {want:?}"
            );
        }
        // kube's exact text for a bad key.
        assert_eq!(
            parse("a_=b").unwrap_err().to_string(),
            "unable to parse requirement: key: Invalid value: \"a_\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
    }

    #[test]
    fn label_key_and_value_limits() {
        let name63 = "a".repeat(63);
        let prefix253 = format!("{}.{}", "a".repeat(63), "b".repeat(189));
        assert_eq!(prefix253.len(), 253);
        assert!(validate_label_key(&name63).is_ok());
        assert!(validate_label_key(&format!("{prefix253}/{name63}")).is_ok());
        assert!(validate_label_key(&format!("{prefix253}c/x")).is_err());
        assert!(validate_label_key("app.kubernetes.io/name").is_ok());
        assert!(validate_label_key("a.b").is_ok());
        assert!(validate_label_key("a..b/c").is_err());
        assert!(validate_label_key("").is_err());
        assert!(validate_label_value("").is_ok());
        assert!(validate_label_value(&name63).is_ok());
        assert!(validate_label_value(&format!("{name63}a")).is_err());
        assert!(validate_label_value("A.b-c_9").is_ok());
        assert!(validate_label_value("a b").is_err());
        assert!(validate_label_value("a.").is_err());
    }

    #[test]
    fn exact_match_of_labels() {
        let s = parse("owner=helm,name in (x),status in (a,b)").unwrap();
        assert_eq!(s.requires_exact_match("owner"), Some("helm"));
        assert_eq!(s.requires_exact_match("name"), Some("x"));
        assert_eq!(s.requires_exact_match("status"), None);
        assert_eq!(s.requires_exact_match("other"), None);
    }

    #[test]
    fn label_selector_objects() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({}), ""),
            (json!({"matchLabels": {"b": "2", "a": "1"}}), "a=1,b=2"),
            (
                json!({"matchLabels": {"app": "web"}, "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["z", "a"]},
                    {"key": "env", "operator": "NotIn", "values": ["prod"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                    {"key": "zone", "operator": "Exists", "values": []},
                ]}),
                "app=web,!canary,env notin (prod),tier in (a,z),zone",
            ),
        ];
        for (obj, want) in &cases {
            let sel = from_label_selector_object(obj).unwrap();
            assert_eq!(sel.to_string(), *want, "{obj}");
            assert_eq!(parse(want).unwrap().to_string(), *want);
        }
        let sel = from_label_selector_object(&cases[2].0).unwrap();
        let l = labels(&[("app", "web"), ("tier", "a"), ("zone", "x")]);
        assert!(sel_matches(&sel, &l));
        let l = labels(&[
            ("app", "web"),
            ("tier", "a"),
            ("zone", "x"),
            ("canary", "1"),
        ]);
        assert!(!sel_matches(&sel, &l));

        let nothing = from_label_selector_object(&Value::Null).unwrap();
        assert!(!nothing.is_empty());
        assert!(!sel_matches(&nothing, &labels(&[])));
        assert_eq!(nothing.to_string(), "");
        let everything = from_label_selector_object(&json!({})).unwrap();
        assert!(everything.is_empty() && sel_matches(&everything, &labels(&[])));

        let errors: Vec<(Value, &str)> = vec![
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
                "\"Gt\" is not a valid label selector operator",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
                "values set can't be empty",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
                "values set must be empty for exists and does not exist",
            ),
            (
                json!({"matchExpressions": [{"key": "a b", "operator": "Exists"}]}),
                "key: Invalid value: \"a b\"",
            ),
            (
                json!({"matchLabels": {"a": "b c"}}),
                "values[0][a]: Invalid value: \"b c\"",
            ),
            (json!({"matchLabels": {"a": 1}}), "must be a string"),
            (json!("a=b"), "must be an object"),
        ];
        for (obj, want) in &errors {
            let err = from_label_selector_object(obj).unwrap_err().to_string();
            assert!(err.contains(want), "{obj}: got {err:?}");
        }
    }

    fn field_get<'a>(m: &'a BTreeMap<&str, &str>) -> impl FnMut(&str) -> Option<String> + 'a {
        move |k| m.get(k).map(|v| v.to_string())
    }

    #[test]
    fn field_selectors_match() {
        let obj: BTreeMap<&str, &str> = [
            ("metadata.name", "web"),
            ("metadata.namespace", "default"),
            ("type", "a,b=c\\d"),
        ]
        .into();
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("metadata.name=web", true),
            ("metadata.name==web", true),
            ("metadata.name!=web", false),
            ("metadata.name=db", false),
            ("metadata.name!=db", true),
            ("metadata.name=web,metadata.namespace=default", true),
            ("metadata.name=web,metadata.namespace=kube-system", false),
            ("metadata.name=web,", true),
            (",metadata.name=web", true),
            ("type=a\\,b\\=c\\\\d", true),
            ("spec.missing=", true),
            ("spec.missing!=", false),
            ("spec.missing=x", false),
            ("spec.missing!=x", true),
            ("metadata.name=w\\!eb", false),
        ];
        for (s, want) in cases {
            let f = parse_fields(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(f.matches(field_get(&obj)), *want, "{s:?}");
        }
        assert!(parse_fields("").unwrap().is_empty());
        assert!(parse_fields(",").unwrap().is_empty());
    }

    #[test]
    fn field_selector_terms_and_escapes() {
        let f = parse_fields("b!=x\\,y,a==1,c=").unwrap();
        assert_eq!(
            f.terms(),
            &[
                FieldTerm {
                    field: "a".into(),
                    op: FieldOp::Equals,
                    value: "1".into()
                },
                FieldTerm {
                    field: "b".into(),
                    op: FieldOp::NotEquals,
                    value: "x,y".into()
                },
                FieldTerm {
                    field: "c".into(),
                    op: FieldOp::Equals,
                    value: "".into()
                },
            ]
        );
        assert_eq!(f.fields().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(f.to_string(), "a=1,b!=x\\,y,c=");
        assert_eq!(parse_fields(&f.to_string()).unwrap(), f);
        // `!=` wins over `=` when it comes first; the first operator splits.
        let f = parse_fields("a!=b=c").unwrap_err();
        assert!(
            f.to_string().contains("unescaped character in value: '='"),
            "{f}"
        );
        let f = parse_fields("a=!b").unwrap();
        assert_eq!(f.terms()[0].value, "!b");
        let f = parse_fields("a=\\!b").unwrap();
        assert_eq!(f.terms()[0].value, "!b");
        let f = parse_fields("=x").unwrap();
        assert_eq!(f.fields().collect::<Vec<_>>(), [""]);
        let f = parse_fields("a=\\\\").unwrap();
        assert_eq!(f.terms()[0].value, "\\");
        assert_eq!(escape_field_value("a,b=c\\"), "a\\,b\\=c\\\\");
    }

    #[test]
    fn field_selector_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "metadata.name",
                "invalid selector: 'metadata.name'; can't understand 'metadata.name'",
            ),
            ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
            (
                "a=b\\x",
                "invalid field selector: invalid escape sequence: \\x",
            ),
            (
                "a=b\\",
                "invalid field selector: invalid escape sequence: \\",
            ),
            (
                "a==b=c",
                "invalid field selector: unescaped character in value: '='",
            ),
            ("a!", "invalid selector: 'a!'; can't understand 'a!'"),
        ];
        for (s, want) in cases {
            let err = parse_fields(s).unwrap_err().to_string();
            assert_eq!(err, *want, "{s:?}");
        }
    }

    #[test]
    fn exact_name_for_point_lookups() {
        let cases: &[(&str, Option<&str>)] = &[
            ("metadata.name=web", Some("web")),
            ("metadata.name==web", Some("web")),
            ("metadata.name=web,metadata.namespace=ns", Some("web")),
            ("metadata.name!=web", None),
            ("metadata.namespace=ns", None),
            ("", None),
            ("metadata.name=a\\,b", Some("a,b")),
        ];
        for (s, want) in cases {
            assert_eq!(parse_fields(s).unwrap().exact_name(), *want, "{s:?}");
        }
    }
}
