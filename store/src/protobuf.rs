//! Kubernetes protobuf request bodies of built-in kinds, decoded into JSON.
//!
//! kubectl's typed client (`kubectl create namespace|configmap|secret|serviceaccount|role|
//! rolebinding|clusterrole|clusterrolebinding|token`, `kubectl auth can-i|whoami`) sends
//! `application/vnd.kubernetes.protobuf` for built-in kinds and does not fall back to JSON on 415, so
//! the server reads those bodies: the `k8s\0` envelope (`runtime.Unknown`), then the object by a small
//! field table per message. Untrusted input: every length is bounds-checked, nesting is shallow by
//! construction (tables only), nothing panics. The one thing the store writes in protobuf, the
//! /openapi/v2 document, is built with [`length_delimited`].

use base64::Engine;
use serde_json::{Map, Value, json};

pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtobufError(String);

fn err(m: impl Into<String>) -> ProtobufError {
    ProtobufError(m.into())
}

/// One wire field: number, and a varint or a length-delimited payload.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| err(format!("truncated varint at byte {}", self.pos)))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(err(format!("varint too long at byte {}", self.pos)))
    }

    fn next(&mut self) -> Result<Option<(u64, Wire<'a>)>, ProtobufError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let (field, kind) = (key >> 3, key & 7);
        let wire = match kind {
            0 => Wire::Varint(self.varint()?),
            1 => self.skip(8)?,
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| err("length overflows"))?;
                let end = self
                    .pos
                    .checked_add(len)
                    .filter(|e| *e <= self.buf.len())
                    .ok_or_else(|| {
                        err(format!(
                            "field {field} claims {len} bytes past the end at byte {}",
                            self.pos
                        ))
                    })?;
                let b = &self.buf[self.pos..end];
                self.pos = end;
                Wire::Bytes(b)
            }
            5 => self.skip(4)?,
            other => {
                return Err(err(format!(
                    "unsupported wire type {other} for field {field}"
                )));
            }
        };
        Ok(Some((field, wire)))
    }

    fn skip(&mut self, n: usize) -> Result<Wire<'a>, ProtobufError> {
        if self.pos + n > self.buf.len() {
            return Err(err(format!(
                "truncated fixed-size field at byte {}",
                self.pos
            )));
        }
        self.pos += n;
        Ok(Wire::Other)
    }
}

/// How one field of a message becomes JSON.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    StrList,
    StrMap,
    BytesMap,
    Time,
    Msg(&'static [Field]),
    MsgList(&'static [Field]),
}

type Field = (u64, &'static str, Kind);

const OWNER_REFERENCE: &[Field] = &[
    (1, "kind", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
    (5, "apiVersion", Kind::Str),
    (6, "controller", Kind::Bool),
    (7, "blockOwnerDeletion", Kind::Bool),
];
const OBJECT_META: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "generateName", Kind::Str),
    (3, "namespace", Kind::Str),
    (5, "uid", Kind::Str),
    (6, "resourceVersion", Kind::Str),
    (7, "generation", Kind::Int),
    (8, "creationTimestamp", Kind::Time),
    (10, "deletionGracePeriodSeconds", Kind::Int),
    (11, "labels", Kind::StrMap),
    (12, "annotations", Kind::StrMap),
    (13, "ownerReferences", Kind::MsgList(OWNER_REFERENCE)),
    (14, "finalizers", Kind::StrList),
];
const OBJECT_REFERENCE: &[Field] = &[
    (1, "kind", Kind::Str),
    (2, "namespace", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
    (5, "apiVersion", Kind::Str),
    (6, "resourceVersion", Kind::Str),
    (7, "fieldPath", Kind::Str),
];
const LOCAL_OBJECT_REFERENCE: &[Field] = &[(1, "name", Kind::Str)];
const NAMESPACE: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "spec", Kind::Msg(&[(1, "finalizers", Kind::StrList)])),
];
const CONFIG_MAP: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "data", Kind::StrMap),
    (3, "binaryData", Kind::BytesMap),
    (4, "immutable", Kind::Bool),
];
const SECRET: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "data", Kind::BytesMap),
    (3, "type", Kind::Str),
    (4, "stringData", Kind::StrMap),
    (5, "immutable", Kind::Bool),
];
const SERVICE_ACCOUNT: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "secrets", Kind::MsgList(OBJECT_REFERENCE)),
    (3, "imagePullSecrets", Kind::MsgList(LOCAL_OBJECT_REFERENCE)),
    (4, "automountServiceAccountToken", Kind::Bool),
];

const POLICY_RULE: &[Field] = &[
    (1, "verbs", Kind::StrList),
    (2, "apiGroups", Kind::StrList),
    (3, "resources", Kind::StrList),
    (4, "resourceNames", Kind::StrList),
    (5, "nonResourceURLs", Kind::StrList),
];
const LABEL_SELECTOR: &[Field] = &[
    (1, "matchLabels", Kind::StrMap),
    (
        2,
        "matchExpressions",
        Kind::MsgList(&[
            (1, "key", Kind::Str),
            (2, "operator", Kind::Str),
            (3, "values", Kind::StrList),
        ]),
    ),
];
const ROLE: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "rules", Kind::MsgList(POLICY_RULE)),
];
const CLUSTER_ROLE: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "rules", Kind::MsgList(POLICY_RULE)),
    (
        3,
        "aggregationRule",
        Kind::Msg(&[(1, "clusterRoleSelectors", Kind::MsgList(LABEL_SELECTOR))]),
    ),
];
const ROLE_BINDING: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "subjects",
        Kind::MsgList(&[
            (1, "kind", Kind::Str),
            (2, "apiGroup", Kind::Str),
            (3, "name", Kind::Str),
            (4, "namespace", Kind::Str),
        ]),
    ),
    (
        3,
        "roleRef",
        Kind::Msg(&[
            (1, "apiGroup", Kind::Str),
            (2, "kind", Kind::Str),
            (3, "name", Kind::Str),
        ]),
    ),
];
const TOKEN_REQUEST: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[
            (1, "audiences", Kind::StrList),
            (4, "expirationSeconds", Kind::Int),
            (
                3,
                "boundObjectRef",
                Kind::Msg(&[
                    (1, "kind", Kind::Str),
                    (2, "apiVersion", Kind::Str),
                    (3, "name", Kind::Str),
                    (4, "uid", Kind::Str),
                ]),
            ),
        ]),
    ),
];
const SELF_SUBJECT_ACCESS_REVIEW: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[
            (
                1,
                "resourceAttributes",
                Kind::Msg(&[
                    (1, "namespace", Kind::Str),
                    (2, "verb", Kind::Str),
                    (3, "group", Kind::Str),
                    (4, "version", Kind::Str),
                    (5, "resource", Kind::Str),
                    (6, "subresource", Kind::Str),
                    (7, "name", Kind::Str),
                ]),
            ),
            (
                2,
                "nonResourceAttributes",
                Kind::Msg(&[(1, "path", Kind::Str), (2, "verb", Kind::Str)]),
            ),
        ]),
    ),
];

fn utf8(b: &[u8], what: &str) -> Result<String, ProtobufError> {
    String::from_utf8(b.to_vec()).map_err(|_| err(format!("{what} is not UTF-8")))
}

fn message(buf: &[u8], fields: &'static [Field]) -> Result<Map<String, Value>, ProtobufError> {
    let mut out = Map::new();
    let mut r = Reader::new(buf);
    while let Some((number, wire)) = r.next()? {
        let Some((_, name, kind)) = fields.iter().find(|(n, _, _)| *n == number) else {
            continue;
        };
        let name = (*name).to_string();
        match (kind, wire) {
            // Go writes every non-pointer string and number, empty or not; its JSON omits them.
            (Kind::Str, Wire::Bytes(b)) => {
                if !b.is_empty() {
                    out.insert(name.clone(), json!(utf8(b, &name)?));
                }
            }
            (Kind::Int, Wire::Varint(v)) => {
                if v != 0 {
                    out.insert(name, json!(v as i64));
                }
            }
            (Kind::Bool, Wire::Varint(v)) => {
                out.insert(name, json!(v != 0));
            }
            (Kind::StrList, Wire::Bytes(b)) => {
                let list = out.entry(name.clone()).or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(json!(utf8(b, &name)?));
                }
            }
            (Kind::StrMap | Kind::BytesMap, Wire::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                let v = match kind {
                    Kind::BytesMap => json!(base64::engine::general_purpose::STANDARD.encode(v)),
                    _ => json!(utf8(v, &name)?),
                };
                let map = out.entry(name).or_insert_with(|| json!({}));
                if let Some(m) = map.as_object_mut() {
                    m.insert(k, v);
                }
            }
            (Kind::Time, Wire::Bytes(b)) => {
                let mut r = Reader::new(b);
                let mut seconds = 0i64;
                while let Some((n, w)) = r.next()? {
                    if let (1, Wire::Varint(v)) = (n, w) {
                        seconds = v as i64;
                    }
                }
                if seconds == 0 {
                    // Go's zero time, which JSON writes as null.
                    continue;
                }
                let ts = jiff::Timestamp::from_second(seconds)
                    .map_err(|e| err(format!("{name}: {e}")))?;
                out.insert(name, json!(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
            }
            (Kind::Msg(sub), Wire::Bytes(b)) => {
                out.insert(name, Value::Object(message(b, sub)?));
            }
            (Kind::MsgList(sub), Wire::Bytes(b)) => {
                let item = Value::Object(message(b, sub)?);
                let list = out.entry(name).or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(item);
                }
            }
            _ => return Err(err(format!("field {name} has the wrong wire type"))),
        }
    }
    Ok(out)
}

fn map_entry(b: &[u8]) -> Result<(String, &[u8]), ProtobufError> {
    let mut r = Reader::new(b);
    let (mut key, mut value): (String, &[u8]) = (String::new(), &[]);
    while let Some((n, w)) = r.next()? {
        match (n, w) {
            (1, Wire::Bytes(k)) => key = utf8(k, "a map key")?,
            (2, Wire::Bytes(v)) => value = v,
            _ => {}
        }
    }
    Ok((key, value))
}

/// Decodes a `k8s\0`-prefixed protobuf body into the JSON object it encodes.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let rest = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| err("the protobuf body does not start with the k8s\\0 magic prefix"))?;
    let mut r = Reader::new(rest);
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((n, w)) = r.next()? {
        match (n, w) {
            (1, Wire::Bytes(tm)) => {
                let mut t = Reader::new(tm);
                while let Some((n, w)) = t.next()? {
                    match (n, w) {
                        (1, Wire::Bytes(b)) => api_version = utf8(b, "apiVersion")?,
                        (2, Wire::Bytes(b)) => kind = utf8(b, "kind")?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let fields = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("rbac.authorization.k8s.io/v1", "Role") => ROLE,
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => CLUSTER_ROLE,
        ("rbac.authorization.k8s.io/v1", "RoleBinding" | "ClusterRoleBinding") => ROLE_BINDING,
        ("authentication.k8s.io/v1", "TokenRequest") => TOKEN_REQUEST,
        ("authentication.k8s.io/v1", "SelfSubjectReview") => {
            &[(1, "metadata", Kind::Msg(OBJECT_META))]
        }
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => SELF_SUBJECT_ACCESS_REVIEW,
        _ => {
            return Err(err(format!(
                "the protobuf body is a {api_version} {kind}, which this server does not accept as \
                 protobuf: send JSON or YAML"
            )));
        }
    };
    let mut object = message(raw, fields)?;
    object.insert("apiVersion".into(), json!(api_version));
    object.insert("kind".into(), json!(kind));
    Ok(Value::Object(object))
}

/// Appends `v` as a protobuf varint.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Appends a length-delimited field (a string, bytes or an embedded message): what the store
/// writes in protobuf (the /openapi/v2 document) is made of these alone.
pub fn length_delimited(field: u64, payload: &[u8], out: &mut Vec<u8>) {
    varint(field << 3 | 2, out);
    varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(field: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        length_delimited(field, payload, &mut out);
        out
    }

    fn entry(k: &str, v: &[u8]) -> Vec<u8> {
        [bytes(1, k.as_bytes()), bytes(2, v)].concat()
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [bytes(1, api_version.as_bytes()), bytes(2, kind.as_bytes())].concat();
        [b"k8s\0".to_vec(), bytes(1, &type_meta), bytes(2, raw)].concat()
    }

    #[test]
    fn decodes_a_config_map_as_kubectl_sends_it() {
        let meta = [
            bytes(1, b"cfg"),
            bytes(3, b""),
            bytes(11, &entry("app", b"web")),
            bytes(8, &[]),
        ]
        .concat();
        let raw = [
            bytes(1, &meta),
            bytes(2, &entry("a", b"1")),
            bytes(3, &entry("bin", &[0, 1])),
        ]
        .concat();
        let v = decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
        assert_eq!(
            v,
            json!({"metadata": {"name": "cfg", "labels": {"app": "web"}},
                   "data": {"a": "1"}, "binaryData": {"bin": "AAE="},
                   "apiVersion": "v1", "kind": "ConfigMap"})
        );
    }

    #[test]
    fn decodes_namespaces_and_secrets() {
        let ns = [
            bytes(1, &bytes(1, b"team-a")),
            bytes(2, &bytes(1, b"kubernetes")),
        ]
        .concat();
        let v = decode(&envelope("v1", "Namespace", &ns)).unwrap();
        assert_eq!(v["spec"]["finalizers"], json!(["kubernetes"]));
        let secret = [
            bytes(1, &bytes(1, b"s")),
            bytes(2, &entry("password", b"hunter2")),
            bytes(3, b"Opaque"),
        ]
        .concat();
        let v = decode(&envelope("v1", "Secret", &secret)).unwrap();
        assert_eq!(v["data"]["password"], "aHVudGVyMg==");
        assert_eq!(v["type"], "Opaque");
    }

    #[test]
    fn decodes_rbac_objects_and_token_requests() {
        let rule = [bytes(1, b"get"), bytes(2, b""), bytes(3, b"configmaps")].concat();
        let role = [bytes(1, &bytes(1, b"r")), bytes(2, &rule)].concat();
        let v = decode(&envelope("rbac.authorization.k8s.io/v1", "Role", &role)).unwrap();
        assert_eq!(
            v["rules"],
            json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]}])
        );
        let subject = [
            bytes(1, b"ServiceAccount"),
            bytes(3, b"sa"),
            bytes(4, b"ns"),
        ]
        .concat();
        let role_ref = [bytes(2, b"Role"), bytes(3, b"r")].concat();
        let rb = [bytes(2, &subject), bytes(3, &role_ref)].concat();
        let v = decode(&envelope(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            &rb,
        ))
        .unwrap();
        assert_eq!(
            v["subjects"],
            json!([{"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}])
        );
        assert_eq!(v["roleRef"], json!({"kind": "Role", "name": "r"}));
        let mut seconds = Vec::new();
        varint(4 << 3, &mut seconds);
        varint(7200, &mut seconds);
        let tr = bytes(2, &[bytes(1, b"api"), seconds].concat());
        let v = decode(&envelope("authentication.k8s.io/v1", "TokenRequest", &tr)).unwrap();
        assert_eq!(
            v["spec"],
            json!({"audiences": ["api"], "expirationSeconds": 7200})
        );
    }

    #[test]
    fn refuses_what_it_cannot_read_without_panicking() {
        assert!(decode(b"{}").unwrap_err().to_string().contains("magic"));
        let e = decode(&envelope("apps/v1", "Deployment", &[])).unwrap_err();
        assert!(e.to_string().contains("send JSON or YAML"), "{e}");
        let good = envelope("v1", "ConfigMap", &bytes(1, &bytes(1, b"cfg")));
        for cut in 0..good.len() {
            let _ = decode(&good[..cut]);
        }
        // Pseudo-random garbage after the prefix.
        let mut x: u64 = 0x2545F4914F6CDD1D;
        for _ in 0..2000 {
            let mut body = b"k8s\0".to_vec();
            for _ in 0..(x % 64) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                body.push(x as u8);
            }
            let _ = decode(&body);
        }
    }
}
