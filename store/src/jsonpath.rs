//! The Kubernetes JSONPath subset the server itself evaluates.
//!
//! CRD `additionalPrinterColumns` (server-side Table output for `kubectl get`) and the scale
//! subresource's `specReplicasPath` / `statusReplicasPath` / `labelSelectorPath` are JSONPath
//! expressions that kube-apiserver evaluates with `k8s.io/client-go/util/jsonpath`. This module
//! implements the single-expression form of that language over `serde_json::Value`:
//!
//! - fields `.spec.replicas`, with `\` escapes (`.metadata.annotations.kubectl\.kubernetes\.io/x`)
//! - quoted keys `['app.kubernetes.io/name']` / `["..."]` (one literal key; `\` escapes honoured)
//! - indexes and slices `[0]`, `[-1]`, `[1:3]`, `[::2]`; wildcards `.*`, `[*]`
//! - unions `[0,2]`, `['a','b']`; recursive descent `..name`
//! - filters `[?(@.type=="Ready")]` with `==`, `!=`, `<`, `<=`, `>`, `>=` against string,
//!   number and boolean literals or another `@` path, and existence `[?(@.x)]`
//!
//! The whole expression may be wrapped in the `{...}` that printer columns and `-o jsonpath`
//! templates use. Missing keys yield no result (kube's `AllowMissingKeys(true)`); evaluation
//! errors that kube reports (index out of range, indexing a non-array) also yield no result
//! from [`JsonPath::eval`] and are available from [`JsonPath::try_eval`].
//!
//! Hostile input is bounded: the expression length, the number of steps, the nesting of
//! filters/unions and the number of intermediate results are all capped.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

/// Longest accepted expression, in bytes.
pub const MAX_PATH_LEN: usize = 2048;
/// Most steps (fields, indexes, filters, ...) in one expression, nested ones included.
pub const MAX_STEPS: usize = 128;
/// Deepest nesting of filters, unions and quoted keys.
pub const MAX_NESTING: usize = 8;
/// Most values an evaluation may produce along the way (recursive descent and wildcards).
pub const MAX_RESULTS: usize = 100_000;

/// A JSONPath that failed to compile, or (from [`JsonPath::try_eval`]) to evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPathError {
    #[error("invalid JSONPath {path:?}: {message}")]
    Syntax { path: String, message: String },
    #[error("{0}")]
    Eval(String),
}

/// A compiled JSONPath expression.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    source: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// A map key; the empty key is the current value itself (`.`).
    Field(String),
    /// Every map value or array item.
    Wildcard,
    /// The value and all containers below it (`..`).
    Recursive,
    /// `[start:end:step]`; `[n]` is `[n:n+1]` with a derived end.
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        end_derived: bool,
        step: Option<i64>,
    },
    /// `[a,b]`: each branch evaluated on the same input.
    Union(Vec<Vec<Step>>),
    /// `[?(...)]`
    Filter(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: Vec<Step>,
    /// None: an existence test.
    compare: Option<(CmpOp, Operand)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Literal(Value),
    Path(Vec<Step>),
}

/// Compiles an expression such as `.status.conditions[?(@.type=="Ready")].status`, with or
/// without the surrounding `{}`.
pub fn compile(path: &str) -> Result<JsonPath, JsonPathError> {
    let err = |message: String| JsonPathError::Syntax {
        path: truncate(path),
        message,
    };
    if path.len() > MAX_PATH_LEN {
        return Err(err(format!("longer than {MAX_PATH_LEN} bytes")));
    }
    let mut body = path.trim();
    if let Some(inner) = body.strip_prefix('{') {
        body = inner
            .strip_suffix('}')
            .ok_or_else(|| err("unclosed action: missing '}'".into()))?
            .trim();
    }
    if body.is_empty() {
        return Err(err("empty expression".into()));
    }
    let mut budget = MAX_STEPS;
    let steps = parse_steps(body, 0, &mut budget).map_err(err)?;
    Ok(JsonPath {
        source: path.to_string(),
        steps,
    })
}

fn truncate(s: &str) -> String {
    if s.len() <= 200 {
        return s.to_string();
    }
    let mut end = 200;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

impl JsonPath {
    /// The expression as given to [`compile`].
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Every value the path selects, in document order; nothing when a key is missing or the
    /// evaluation fails.
    pub fn eval<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        self.try_eval(root).unwrap_or_default()
    }

    /// The first selected value (what a printer column shows).
    pub fn first<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        self.eval(root).into_iter().next()
    }

    /// Like [`JsonPath::eval`], but reports the errors kube's evaluator would (index out of
    /// range, a non-array indexed or filtered, comparing several values, too many results).
    pub fn try_eval<'a>(&self, root: &'a Value) -> Result<Vec<&'a Value>, JsonPathError> {
        let mut budget = MAX_RESULTS;
        run(&self.steps, vec![root], &mut budget).map_err(JsonPathError::Eval)
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for JsonPath {
    type Err = JsonPathError;
    fn from_str(s: &str) -> Result<JsonPath, JsonPathError> {
        compile(s)
    }
}

// --- parsing ---------------------------------------------------------------------------------

/// Characters that end an unquoted field name (client-go's `isTerminator`).
fn is_terminator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}'
    )
}

fn parse_steps(src: &str, depth: usize, budget: &mut usize) -> Result<Vec<Step>, String> {
    if depth > MAX_NESTING {
        return Err(format!("nested deeper than {MAX_NESTING} levels"));
    }
    let mut out = Vec::new();
    let mut rest = src;
    loop {
        // `@` and `$` name the current object; like client-go, they are no-ops.
        rest = rest.trim_start_matches([' ', '\t', '@', '$']);
        if rest.is_empty() {
            return Ok(out);
        }
        if *budget == 0 {
            return Err(format!("more than {MAX_STEPS} steps"));
        }
        *budget -= 1;
        if let Some(r) = rest.strip_prefix("[?(") {
            let (inner, after) = split_filter(r)?;
            out.push(Step::Filter(Box::new(parse_filter(
                inner,
                depth + 1,
                budget,
            )?)));
            rest = after;
        } else if let Some(r) = rest.strip_prefix("..") {
            if matches!(out.last(), Some(Step::Recursive)) {
                return Err("invalid multiple recursive descent".into());
            }
            out.push(Step::Recursive);
            if r.starts_with(|c: char| c == '_' || c == '*' || c.is_alphanumeric()) {
                let (field, after) = read_field(r);
                out.push(field_step(field));
                rest = after;
            } else {
                rest = r;
            }
        } else if let Some(r) = rest.strip_prefix('.') {
            let (field, after) = read_field(r);
            out.push(field_step(field));
            rest = after;
        } else if let Some(r) = rest.strip_prefix('[') {
            let (inner, after) = split_bracket(r)?;
            out.push(parse_bracket(inner, depth + 1, budget)?);
            rest = after;
        } else {
            let c = rest.chars().next().unwrap_or_default();
            return Err(format!(
                "unrecognized character {c:?} (a path is made of .field, [index], ['key'] and [?(filter)] steps)"
            ));
        }
    }
}

fn field_step(name: String) -> Step {
    if name == "*" {
        Step::Wildcard
    } else {
        Step::Field(name)
    }
}

/// An unquoted field name up to the next terminator; `\x` stands for a literal `x`.
fn read_field(s: &str) -> (String, &str) {
    let mut name = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            if let Some((_, next)) = chars.next() {
                name.push(next);
            }
        } else if is_terminator(c) {
            return (name, &s[i..]);
        } else {
            name.push(c);
        }
    }
    (name, "")
}

/// Scans up to the `]` closing a bracket (quotes respected); returns (inside, after).
fn split_bracket(s: &str) -> Result<(&str, &str), String> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, c) {
            (_, '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ']') => return Ok((&s[..i], &s[i + 1..])),
            (None, _) => {}
        }
    }
    Err("unterminated array: missing ']'".into())
}

/// Scans up to the `)]` closing a filter (quotes and nested parentheses respected).
fn split_filter(s: &str) -> Result<(&str, &str), String> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, c) {
            (_, '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') if depth > 0 => depth -= 1,
            (None, ')') => {
                let after = s[i + 1..].trim_start();
                return match after.strip_prefix(']') {
                    Some(after) => Ok((&s[..i], after)),
                    None => Err("unclosed filter: expected ']' after ')'".into()),
                };
            }
            (None, _) => {}
        }
    }
    Err("unterminated filter: missing ')]'".into())
}

/// Splits at `sep` outside quotes.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, c) {
            (_, '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, c) if c == sep => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            (None, _) => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// The text between quotes, `\x` unescaped to `x` (`\n`, `\t`, `\r` to control characters).
fn unquote(s: &str) -> Option<String> {
    let q = s.chars().next().filter(|c| matches!(c, '\'' | '"'))?;
    let inner = s.strip_prefix(q)?.strip_suffix(q)?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                other => out.push(other),
            },
            c if c == q => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn parse_bracket(inner: &str, depth: usize, budget: &mut usize) -> Result<Step, String> {
    if depth > MAX_NESTING {
        return Err(format!("nested deeper than {MAX_NESTING} levels"));
    }
    let text = inner.trim();
    if text == "*" {
        return Ok(Step::Wildcard);
    }
    let parts = split_outside_quotes(text, ',');
    if parts.len() > 1 {
        let mut branches = Vec::with_capacity(parts.len());
        for part in parts {
            if *budget == 0 {
                return Err(format!("more than {MAX_STEPS} steps"));
            }
            *budget -= 1;
            branches.push(vec![parse_bracket(part, depth + 1, budget)?]);
        }
        return Ok(Step::Union(branches));
    }
    if text.starts_with(['\'', '"']) {
        return unquote(text)
            .map(Step::Field)
            .ok_or_else(|| format!("invalid quoted key {text}"));
    }
    parse_slice(text)
}

/// `^(-?\d*)(:-?\d*)?(:-?\d*)?$`, with client-go's meaning of the missing parts.
fn parse_slice(text: &str) -> Result<Step, String> {
    if text.is_empty() {
        return Err("empty array index".into());
    }
    let parts: Vec<&str> = text.split(':').collect();
    let well_formed = parts.len() <= 3
        && parts.iter().all(|p| {
            let digits = p.strip_prefix('-').unwrap_or(p);
            digits.bytes().all(|b| b.is_ascii_digit())
        });
    if !well_formed {
        return Err(format!("invalid array index {text}"));
    }
    let num = |p: &str| -> Result<Option<i64>, String> {
        if p.is_empty() {
            return Ok(None);
        }
        p.parse::<i64>()
            .map(Some)
            .map_err(|_| format!("array index {p} is not a number"))
    };
    let start = num(parts[0])?;
    let (end, end_derived) = match parts.get(1) {
        Some(p) => (num(p)?, false),
        None => (Some(start.unwrap_or(0).saturating_add(1)), true),
    };
    let step = match parts.get(2) {
        Some(p) => num(p)?,
        None => None,
    };
    Ok(Step::Slice {
        start,
        end,
        end_derived,
        step,
    })
}

fn parse_filter(inner: &str, depth: usize, budget: &mut usize) -> Result<Filter, String> {
    if depth > MAX_NESTING {
        return Err(format!("nested deeper than {MAX_NESTING} levels"));
    }
    // The operator is the first run of `!<>=` outside quotes and brackets.
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut brackets = 0usize;
    let mut op_at: Option<(usize, usize)> = None;
    for (i, c) in inner.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, c) {
            (_, '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => brackets += 1,
            (None, ']') => brackets = brackets.saturating_sub(1),
            (None, '!' | '<' | '>' | '=') if brackets == 0 => {
                let len = inner[i..]
                    .chars()
                    .take_while(|c| "!<>=".contains(*c))
                    .count();
                op_at = Some((i, i + len));
                break;
            }
            (None, _) => {}
        }
    }
    let Some((op_start, op_end)) = op_at else {
        return Ok(Filter {
            left: parse_steps(inner.trim(), depth, budget)?,
            compare: None,
        });
    };
    let op = match &inner[op_start..op_end] {
        "==" => CmpOp::Eq,
        "!=" => CmpOp::Ne,
        "<" => CmpOp::Lt,
        "<=" => CmpOp::Le,
        ">" => CmpOp::Gt,
        ">=" => CmpOp::Ge,
        other => return Err(format!("unrecognized filter operator {other}")),
    };
    let left = inner[..op_start].trim();
    if left.is_empty() {
        return Err("filter has no left operand".into());
    }
    let left = parse_steps(left, depth, budget)?;
    let right = parse_operand(inner[op_end..].trim(), depth, budget)?;
    Ok(Filter {
        left,
        compare: Some((op, right)),
    })
}

fn parse_operand(t: &str, depth: usize, budget: &mut usize) -> Result<Operand, String> {
    if t.is_empty() {
        return Err("filter has no right operand".into());
    }
    if t.starts_with(['\'', '"']) {
        return unquote(t)
            .map(|s| Operand::Literal(Value::String(s)))
            .ok_or_else(|| format!("unterminated quoted string {t}"));
    }
    match t {
        "true" => return Ok(Operand::Literal(Value::Bool(true))),
        "false" => return Ok(Operand::Literal(Value::Bool(false))),
        _ => {}
    }
    if t.starts_with(|c: char| c == '+' || c == '-' || c.is_ascii_digit()) {
        let n = t.strip_prefix('+').unwrap_or(t);
        if let Ok(i) = n.parse::<i64>() {
            return Ok(Operand::Literal(Value::from(i)));
        }
        return n
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(|x| Operand::Literal(Value::Number(x)))
            .ok_or_else(|| format!("cannot parse number {t}"));
    }
    if t.starts_with(['@', '$', '.', '[']) {
        return Ok(Operand::Path(parse_steps(t, depth, budget)?));
    }
    Err(format!("unrecognized identifier {t}"))
}

// --- evaluation ------------------------------------------------------------------------------

fn spend(budget: &mut usize, n: usize) -> Result<(), String> {
    if n > *budget {
        return Err(format!("more than {MAX_RESULTS} intermediate results"));
    }
    *budget -= n;
    Ok(())
}

fn run<'a>(
    steps: &[Step],
    mut cur: Vec<&'a Value>,
    budget: &mut usize,
) -> Result<Vec<&'a Value>, String> {
    for step in steps {
        if cur.is_empty() {
            break;
        }
        cur = apply(step, cur, budget)?;
    }
    Ok(cur)
}

fn apply<'a>(
    step: &Step,
    input: Vec<&'a Value>,
    budget: &mut usize,
) -> Result<Vec<&'a Value>, String> {
    let mut out: Vec<&'a Value> = Vec::new();
    match step {
        Step::Field(name) if name.is_empty() => return Ok(input),
        Step::Field(name) => {
            for v in input {
                if let Some(x) = v.as_object().and_then(|m| m.get(name)) {
                    out.push(x);
                }
            }
            spend(budget, out.len())?;
        }
        Step::Wildcard => {
            for v in input {
                match v {
                    Value::Object(m) => {
                        spend(budget, m.len())?;
                        out.extend(m.values());
                    }
                    Value::Array(a) => {
                        spend(budget, a.len())?;
                        out.extend(a.iter());
                    }
                    _ => {}
                }
            }
        }
        Step::Recursive => {
            for v in input {
                // Pre-order over non-empty containers, as client-go's evalRecursive.
                let mut stack = vec![v];
                while let Some(x) = stack.pop() {
                    let before = stack.len();
                    match x {
                        Value::Object(m) if !m.is_empty() => stack.extend(m.values()),
                        Value::Array(a) if !a.is_empty() => stack.extend(a.iter()),
                        _ => continue,
                    }
                    stack[before..].reverse();
                    spend(budget, 1)?;
                    out.push(x);
                }
            }
        }
        Step::Slice {
            start,
            end,
            end_derived,
            step,
        } => {
            for v in input {
                let arr = match v {
                    Value::Null => continue,
                    Value::Array(a) => a,
                    other => return Err(format!("{} is not array or slice", type_name(other))),
                };
                let len = arr.len() as i64;
                let mut s = start.unwrap_or(0);
                if s < 0 {
                    s += len;
                }
                let mut e = end.unwrap_or(len);
                if e < 0 || (e == 0 && *end_derived) {
                    e += len;
                }
                if s == e {
                    continue;
                }
                if s >= len || s < 0 {
                    return Err(format!(
                        "array index out of bounds: index {s}, length {len}"
                    ));
                }
                if e > len || e < 0 {
                    return Err(format!(
                        "array index out of bounds: index {}, length {len}",
                        e - 1
                    ));
                }
                if s > e {
                    return Err(format!(
                        "starting index {s} is greater than ending index {e}"
                    ));
                }
                let step = match step {
                    Some(st) if *st <= 0 => return Err("step must be > 0".into()),
                    Some(st) => *st as usize,
                    None => 1,
                };
                let picked: Vec<&Value> =
                    arr[s as usize..e as usize].iter().step_by(step).collect();
                spend(budget, picked.len())?;
                out.extend(picked);
            }
        }
        Step::Union(branches) => {
            for branch in branches {
                let r = run(branch, input.clone(), budget)?;
                out.extend(r);
            }
        }
        Step::Filter(f) => {
            for v in input {
                let items = match v {
                    Value::Null => continue,
                    Value::Array(a) => a,
                    other => {
                        return Err(format!(
                            "{} is not array or slice and cannot be filtered",
                            type_name(other)
                        ));
                    }
                };
                for item in items {
                    if filter_passes(f, item, budget)? {
                        spend(budget, 1)?;
                        out.push(item);
                    }
                }
            }
        }
    }
    Ok(out)
}

fn filter_passes(f: &Filter, item: &Value, budget: &mut usize) -> Result<bool, String> {
    let lefts = run(&f.left, vec![item], budget);
    let Some((op, right)) = &f.compare else {
        return Ok(lefts.is_ok_and(|l| !l.is_empty()));
    };
    let lefts = lefts?;
    let left = match lefts.as_slice() {
        [] => return Ok(false),
        [one] => *one,
        _ => return Err("can only compare one element at a time".into()),
    };
    let rights;
    let right = match right {
        Operand::Literal(v) => v,
        Operand::Path(p) => {
            rights = run(p, vec![item], budget)?;
            match rights.as_slice() {
                [] => return Ok(false),
                [one] => *one,
                _ => return Err("can only compare one element at a time".into()),
            }
        }
    };
    Ok(compare(left, *op, right))
}

/// Numbers compare numerically, strings lexically, booleans and other values only for
/// (in)equality; values of different types are unequal and unordered.
fn compare(l: &Value, op: CmpOp, r: &Value) -> bool {
    let ord: Option<Ordering> = match (l, r) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => a
                .as_f64()
                .zip(b.as_f64())
                .and_then(|(x, y)| x.partial_cmp(&y)),
        },
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match (op, ord) {
        (CmpOp::Eq, Some(o)) => o == Ordering::Equal,
        (CmpOp::Ne, Some(o)) => o != Ordering::Equal,
        (CmpOp::Eq, None) => l == r,
        (CmpOp::Ne, None) => l != r,
        (CmpOp::Lt, Some(o)) => o == Ordering::Less,
        (CmpOp::Le, Some(o)) => o != Ordering::Greater,
        (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
        (CmpOp::Ge, Some(o)) => o != Ordering::Less,
        (_, None) => false,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "map[string]interface {}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "apiVersion": "strata.io/v1",
            "kind": "App",
            "metadata": {
                "name": "web",
                "labels": {"app.kubernetes.io/name": "web", "tier": "front"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"a\":1}"},
                "creationTimestamp": "2024-01-01T00:00:00Z",
                "empty": null,
            },
            "spec": {
                "instances": 3,
                "ratio": 0.5,
                "paused": false,
                "ports": [
                    {"name": "http", "port": 80},
                    {"name": "https", "port": 443},
                    {"port": 9000},
                ],
                "tags": ["a", "b", "c", "d"],
            },
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True", "count": 2},
                    {"type": "Healthy", "status": "False", "count": 5, "observed": true},
                ],
            },
        })
    }

    fn eval(path: &str, v: &Value) -> Vec<Value> {
        compile(path)
            .unwrap_or_else(|e| panic!("{path:?}: {e}"))
            .eval(v)
            .into_iter()
            .cloned()
            .collect()
    }

    #[test]
    fn selects() {
        let d = doc();
        let cases: Vec<(&str, Value)> = vec![
            (".spec.instances", json!([3])),
            ("{.spec.instances}", json!([3])),
            ("{ .spec.instances }", json!([3])),
            ("$.spec.instances", json!([3])),
            ("{$.spec.ratio}", json!([0.5])),
            (".spec.paused", json!([false])),
            (".metadata.labels.tier", json!(["front"])),
            (".metadata.missing", json!([])),
            (".metadata.missing.deeper", json!([])),
            (".metadata.empty", json!([null])),
            (".metadata.empty.x", json!([])),
            (".spec.instances.x", json!([])),
            (".", json!([d.clone()])),
            // Escapes and quoting.
            (
                ".metadata.labels.app\\.kubernetes\\.io/name",
                json!(["web"]),
            ),
            (".metadata.labels['app.kubernetes.io/name']", json!(["web"])),
            (
                ".metadata.labels[\"app.kubernetes.io/name\"]",
                json!(["web"]),
            ),
            (
                ".metadata.labels['app\\.kubernetes\\.io/name']",
                json!(["web"]),
            ),
            (
                ".metadata.annotations['kubectl\\.kubernetes\\.io/last-applied-configuration']",
                json!(["{\"a\":1}"]),
            ),
            ("['spec']['instances']", json!([3])),
            // Indexes and slices.
            (".status.conditions[0].status", json!(["True"])),
            (".status.conditions[1].type", json!(["Healthy"])),
            (".status.conditions[-1].type", json!(["Healthy"])),
            (".status.conditions[2].type", json!([])),
            (".status.conditions[-3].type", json!([])),
            (".spec.tags[1:3]", json!(["b", "c"])),
            (".spec.tags[:2]", json!(["a", "b"])),
            (".spec.tags[2:]", json!(["c", "d"])),
            (".spec.tags[::2]", json!(["a", "c"])),
            (".spec.tags[-2:]", json!(["c", "d"])),
            (".spec.tags[1:1]", json!([])),
            (".spec.tags[0:9]", json!([])),
            (".spec.tags[0::0]", json!([])),
            (".spec.instances[0]", json!([])),
            (".spec.nothing[0]", json!([])),
            // Wildcards and unions.
            (".spec.ports[*].name", json!(["http", "https"])),
            (".spec.ports[*].port", json!([80, 443, 9000])),
            (".spec.ports.*.port", json!([80, 443, 9000])),
            (".metadata.labels.*", json!(["web", "front"])),
            (".metadata.labels[*]", json!(["web", "front"])),
            (".spec.tags[0,3]", json!(["a", "d"])),
            (".spec.tags[0, -1]", json!(["a", "d"])),
            (
                ".metadata.labels['tier','app.kubernetes.io/name']",
                json!(["front", "web"]),
            ),
            // Recursive descent.
            ("..port", json!([80, 443, 9000])),
            (".status..status", json!(["True", "False"])),
            // Filters.
            (
                ".status.conditions[?(@.type==\"Ready\")].status",
                json!(["True"]),
            ),
            (
                "{.status.conditions[?(@.type=='Healthy')].status}",
                json!(["False"]),
            ),
            (
                ".status.conditions[?(@.type == \"Ready\")].status",
                json!(["True"]),
            ),
            (
                ".status.conditions[?(@.type!=\"Ready\")].type",
                json!(["Healthy"]),
            ),
            (".status.conditions[?(@.type==\"Nope\")].status", json!([])),
            (".status.conditions[?(@.count==2)].type", json!(["Ready"])),
            (".status.conditions[?(@.count==2.0)].type", json!(["Ready"])),
            (".status.conditions[?(@.count>2)].type", json!(["Healthy"])),
            (
                ".status.conditions[?(@.count>=2)].type",
                json!(["Ready", "Healthy"]),
            ),
            (".status.conditions[?(@.count<5)].type", json!(["Ready"])),
            (
                ".status.conditions[?(@.count<=5)].type",
                json!(["Ready", "Healthy"]),
            ),
            (".status.conditions[?(@.count==-1)].type", json!([])),
            (
                ".status.conditions[?(@.observed==true)].type",
                json!(["Healthy"]),
            ),
            // An item without the field is skipped, whatever the operator (as client-go).
            (".status.conditions[?(@.observed!=true)].type", json!([])),
            (
                ".status.conditions[?(@.observed!=false)].type",
                json!(["Healthy"]),
            ),
            (".status.conditions[?(@.observed)].type", json!(["Healthy"])),
            (
                ".status.conditions[?(@.type<\"I\")].type",
                json!(["Healthy"]),
            ),
            // Mixed types never match, except for !=.
            (".status.conditions[?(@.count==\"2\")].type", json!([])),
            (
                ".status.conditions[?(@.count!=\"2\")].type",
                json!(["Ready", "Healthy"]),
            ),
            (".status.conditions[?(@.type>1)].type", json!([])),
            // Path on the right, relative to the item.
            (".status.conditions[?(@.count>@.missing)].type", json!([])),
            (
                ".spec.ports[?(@.port>=@.port)].port",
                json!([80, 443, 9000]),
            ),
            // Quotes may hold the operator characters and brackets.
            (".status.conditions[?(@.type==\"a)]=b\")].type", json!([])),
            (".spec.ports[?(@.name=='https')].port", json!([443])),
            (".spec.ports[?(@.name)].port", json!([80, 443])),
        ];
        for (path, want) in cases {
            assert_eq!(json!(eval(path, &d)), want, "{path}");
        }
    }

    #[test]
    fn errors_of_evaluation_are_reported_by_try_eval() {
        let d = doc();
        let cases: &[(&str, &str)] = &[
            (
                ".status.conditions[5]",
                "array index out of bounds: index 5, length 2",
            ),
            (
                ".spec.tags[3:1]",
                "starting index 3 is greater than ending index 1",
            ),
            (".spec.tags[::0]", "step must be > 0"),
            (".spec[0]", "is not array or slice"),
            (".spec[?(@.x)]", "cannot be filtered"),
            (".status[?(@.x==1)]", "cannot be filtered"),
        ];
        for (path, want) in cases {
            let p = compile(path).unwrap();
            let err = p.try_eval(&d).unwrap_err().to_string();
            assert!(err.contains(want), "{path}: {err}");
            assert!(p.eval(&d).is_empty());
        }
        // Comparing several values at once.
        let v = json!({"a": [{"b": [1, 2]}]});
        let p = compile(".a[?(@.b[*]==1)]").unwrap();
        assert!(
            p.try_eval(&v)
                .unwrap_err()
                .to_string()
                .contains("one element at a time")
        );
    }

    #[test]
    fn syntax_errors() {
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "empty expression"),
            ("{}".into(), "empty expression"),
            ("  ".into(), "empty expression"),
            ("{.a".into(), "unclosed action"),
            ("spec.x".into(), "unrecognized character 's'"),
            ("{.a}{.b}".into(), "unrecognized character '}'"),
            (".a,b".into(), "unrecognized character ','"),
            (".a[".into(), "unterminated array"),
            (".a['b]".into(), "unterminated array"),
            (".a[x]".into(), "invalid array index x"),
            (".a[1:2:3:4]".into(), "invalid array index"),
            (".a[-]".into(), "array index - is not a number"),
            (".a[99999999999999999999]".into(), "is not a number"),
            (".a[]".into(), "empty array index"),
            (".a[?(@.b==1".into(), "unterminated filter"),
            (".a[?(@.b==1)x".into(), "unclosed filter"),
            (".a[?(@.b==)]".into(), "no right operand"),
            (".a[?(==1)]".into(), "no left operand"),
            (".a[?(@.b=1)]".into(), "unrecognized filter operator ="),
            (".a[?(@.b=~1)]".into(), "unrecognized filter operator"),
            (".a[?(@.b==\"x)]".into(), "unterminated filter"),
            (".a[?(@.b==x)]".into(), "unrecognized identifier x"),
            (".a[?(@.b==1.2.3)]".into(), "cannot parse number"),
            ("....a".into(), "invalid multiple recursive descent"),
            (format!(".{}", "a".repeat(MAX_PATH_LEN)), "longer than"),
            (".a".repeat(MAX_STEPS + 1), "more than 128 steps"),
            (
                format!(
                    "{}{}",
                    ".a[?(@.b".repeat(MAX_NESTING + 1),
                    ")]".repeat(MAX_NESTING + 1)
                ),
                "nested deeper",
            ),
        ];
        for (path, want) in &cases {
            let err = compile(path).expect_err(path).to_string();
            assert!(err.contains(want), "{path:?}: got {err:?}");
        }
        assert!(compile(&".a".repeat(MAX_STEPS)).is_ok());
    }

    #[test]
    fn results_are_bounded() {
        // A chain {"a":{"a":...}}: each `..a` over overlapping subtrees grows quadratically.
        let mut v = json!(0);
        for _ in 0..1000 {
            v = json!({ "a": v });
        }
        let p = compile("..a..a").unwrap();
        let err = p.try_eval(&v).unwrap_err().to_string();
        assert!(err.contains("intermediate results"), "{err}");
        assert!(p.eval(&v).is_empty());
        // A single pass is fine.
        assert_eq!(compile("..a").unwrap().eval(&v).len(), 1000);
    }

    #[test]
    fn display_and_first() {
        let p = compile("{.spec.instances}").unwrap();
        assert_eq!(p.to_string(), "{.spec.instances}");
        assert_eq!(p.as_str(), "{.spec.instances}");
        assert_eq!(p.first(&doc()), Some(&json!(3)));
        assert_eq!(compile(".nope").unwrap().first(&doc()), None);
        assert_eq!(
            "{.a}".parse::<JsonPath>().unwrap().steps,
            compile(".a").unwrap().steps
        );
    }
}
