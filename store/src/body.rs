//! Decoding request bodies: JSON or YAML, size-limited, into a JSON object.
//!
//! Untrusted input: sizes are capped before parsing, nesting depth is capped by the parsers (and
//! YAML alias expansion by serde-saphyr's budget), and every failure is a 4xx Status that says what
//! is wrong with the body.

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;

use crate::errors::{ApiError, ApiResult};

/// The largest request body accepted (kube-apiserver's limit).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// The media type of a request body, without parameters.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Decodes a create/update body (JSON or YAML) into a JSON object.
pub fn decode_object(headers: &HeaderMap, body: &Bytes) -> ApiResult<Value> {
    let ct = content_type(headers);
    let value = match ct.as_str() {
        "" | "application/json" | "*/*" => decode_json(body)?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => decode_yaml(body)?,
        crate::protobuf::CONTENT_TYPE => crate::protobuf::decode(body)
            .map_err(|e| ApiError::unsupported_media_type(e.to_string()))?,
        other => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format - accepted media types include: \
                 application/json, application/yaml, application/vnd.kubernetes.protobuf (for \
                 built-in kinds) (got {other})"
            )));
        }
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON or YAML object with apiVersion, kind and metadata",
        ));
    }
    Ok(value)
}

pub fn decode_json(body: &[u8]) -> ApiResult<Value> {
    if body.len() > MAX_BODY {
        return Err(too_large());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

/// Decodes a YAML body. JSON is YAML, and what kube-rs, client-go and kubectl send as an apply
/// patch is JSON: a body that reads as a JSON object is taken as it is, by the JSON parser (several
/// times faster than the YAML one); anything else, or JSON with a mistake in it, is read as YAML,
/// whose error is the one reported.
pub fn decode_yaml(body: &[u8]) -> ApiResult<Value> {
    if body.len() > MAX_BODY {
        return Err(too_large());
    }
    if body.trim_ascii_start().first() == Some(&b'{')
        && let Ok(value) = serde_json::from_slice(body)
    {
        return Ok(value);
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the request body is not valid UTF-8 YAML"))?;
    let value: Value = serde_saphyr::from_str(text).map_err(|e| {
        let msg = e.to_string();
        let first = msg.lines().next().unwrap_or("").to_string();
        ApiError::bad_request(format!("the request body is not valid YAML: {first}"))
    })?;
    Ok(value)
}

pub fn too_large() -> ApiError {
    ApiError::too_large(format!(
        "Request entity too large: limit is {MAX_BODY} bytes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
        h
    }

    #[test]
    fn decodes_json_and_yaml() {
        let v = decode_object(&headers("application/json"), &Bytes::from(r#"{"a":1}"#)).unwrap();
        assert_eq!(v["a"], 1);
        let v =
            decode_object(&headers("application/yaml"), &Bytes::from("a: 1\nb: [x]\n")).unwrap();
        assert_eq!(v["b"][0], "x");
    }

    #[test]
    fn yaml_bodies_that_are_json_read_the_same_either_way() {
        let json = br#" {"a": {"b": [1, "x", null, true]}, "c": 1.5}"#;
        assert_eq!(
            decode_yaml(json).unwrap(),
            serde_json::json!({"a": {"b": [1, "x", null, true]}, "c": 1.5})
        );
        // A YAML flow mapping is not JSON, and is still read as YAML.
        assert_eq!(decode_yaml(b"{a: 1, b: [x]}").unwrap()["b"][0], "x");
        // Broken JSON is told as a YAML error.
        let e = decode_yaml(br#"{"a": [1, }"#).unwrap_err();
        assert!(e.message.contains("not valid YAML"), "{}", e.message);
    }

    #[test]
    fn refuses_hostile_bodies() {
        let h = headers("application/yaml");
        let bomb = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n";
        assert_eq!(decode_object(&h, &Bytes::from(bomb)).unwrap_err().code, 400);
        let deep = "[".repeat(10_000);
        assert_eq!(
            decode_object(&headers("application/json"), &Bytes::from(deep))
                .unwrap_err()
                .code,
            400
        );
        let deep_yaml = "[".repeat(10_000);
        assert_eq!(
            decode_object(&h, &Bytes::from(deep_yaml)).unwrap_err().code,
            400
        );
        assert_eq!(
            decode_object(&headers("application/json"), &Bytes::from("[1]"))
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            decode_object(
                &headers("application/vnd.kubernetes.protobuf"),
                &Bytes::from("x")
            )
            .unwrap_err()
            .code,
            415
        );
        let huge = Bytes::from(vec![b' '; MAX_BODY + 1]);
        assert_eq!(
            decode_object(&headers("application/json"), &huge)
                .unwrap_err()
                .code,
            413
        );
    }
}
