//! The read verbs: get (with the scale subresource), and list with label and field selectors,
//! pagination and resourceVersion semantics, as JSON or as a Table.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::errors::{ApiError, ApiResult};
use crate::jsonpath;
use crate::registry::Resource;
use crate::request::Query;
use crate::selectors::{self, FieldSelector, LabelSelector};
use crate::server::ApiServer;
use crate::storage::StoredObject;

/// Selectors of a list or watch, parsed once.
pub struct Filter {
    pub labels: Option<LabelSelector>,
    pub fields: Option<FieldSelector>,
}

impl Filter {
    pub fn parse(res: &Resource, q: &Query) -> ApiResult<Filter> {
        let labels = match q.label_selector.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => Some(selectors::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?),
            None => None,
        };
        let fields = match q.field_selector.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => {
                let f = selectors::parse_fields(s).map_err(|e| {
                    ApiError::bad_request(format!("invalid field selector {s:?}: {e}"))
                })?;
                for field in f.fields() {
                    if !field_supported(res, field) {
                        return Err(ApiError::bad_request(format!(
                            "field label not supported: {field}"
                        )));
                    }
                }
                Some(f)
            }
            None => None,
        };
        Ok(Filter { labels, fields })
    }

    pub fn matches(&self, obj: &StoredObject) -> bool {
        if let Some(l) = &self.labels
            && !l.matches(|k| obj.label(k))
        {
            return false;
        }
        if let Some(f) = &self.fields {
            let mut parsed: Option<Value> = None;
            return f.matches(|path| match path {
                "metadata.name" => Some(obj.key.name.clone()),
                "metadata.namespace" => Some(obj.key.namespace.clone()),
                other => {
                    let v = parsed.get_or_insert_with(|| obj.value());
                    let ptr = format!("/{}", other.replace('.', "/"));
                    v.pointer(&ptr).map(|x| match x {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                }
            });
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }
}

/// Field selectors kube-apiserver supports for each kind (metadata.name and metadata.namespace for
/// all; a few more for the built-ins that clients filter by).
fn field_supported(res: &Resource, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    match (res.group.as_str(), res.plural.as_str()) {
        ("", "events") => matches!(
            field,
            "involvedObject.kind"
                | "involvedObject.namespace"
                | "involvedObject.name"
                | "involvedObject.uid"
                | "involvedObject.apiVersion"
                | "involvedObject.resourceVersion"
                | "involvedObject.fieldPath"
                | "reason"
                | "reportingComponent"
                | "source"
                | "type"
        ),
        ("", "secrets") => field == "type",
        ("", "namespaces") => field == "status.phase",
        _ => false,
    }
}

/// Where a paginated list continues.
struct Continue {
    revision: u64,
    namespace: String,
    name: String,
}

fn encode_continue(c: &Continue) -> String {
    let raw = json!({"rv": c.revision, "ns": c.namespace, "name": c.name}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> ApiResult<Continue> {
    let bad = || ApiError::bad_request("continue key is not valid: list again without it");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    Ok(Continue {
        revision: v["rv"].as_u64().ok_or_else(bad)?,
        namespace: v["ns"].as_str().ok_or_else(bad)?.to_string(),
        name: v["name"].as_str().ok_or_else(bad)?.to_string(),
    })
}

/// The result of a list: the matching objects and the list metadata.
pub struct Listed {
    pub items: Vec<std::sync::Arc<StoredObject>>,
    pub revision: u64,
    pub continue_token: Option<String>,
}

impl ApiServer {
    /// Lists objects per the query's selectors, pagination and resourceVersion.
    pub async fn list(
        &self,
        res: &Resource,
        namespace: Option<&str>,
        q: &Query,
    ) -> ApiResult<Listed> {
        let filter = Filter::parse(res, q)?;
        let cont = q
            .continue_token
            .as_deref()
            .map(decode_continue)
            .transpose()?;
        if cont.is_none() {
            self.wait_for_revision(q).await?;
        }
        // A point lookup for `metadata.name=X` (kubectl wait, delete --wait).
        let exact = filter
            .fields
            .as_ref()
            .and_then(|f| f.exact_name().map(String::from));
        if let (Some(name), Some(ns)) = (
            &exact,
            namespace.or(if res.namespaced { None } else { Some("") }),
        ) {
            let revision = self.storage.revision();
            let items = self
                .storage
                .get(&self.key(res, Some(ns).filter(|s| !s.is_empty()), name))
                .filter(|o| filter.matches(o))
                .into_iter()
                .collect();
            return Ok(Listed {
                items,
                revision,
                continue_token: None,
            });
        }
        let after = cont
            .as_ref()
            .map(|c| (c.namespace.as_str(), c.name.as_str()));
        let ns = if res.namespaced { namespace } else { None };
        let (items, revision, more) =
            self.storage
                .list(&res.storage, ns, after, |o| filter.matches(o), q.limit);
        let revision = cont.as_ref().map_or(revision, |c| c.revision);
        let continue_token = if more {
            items.last().map(|last| {
                encode_continue(&Continue {
                    revision,
                    namespace: last.key.namespace.clone(),
                    name: last.key.name.clone(),
                })
            })
        } else {
            None
        };
        Ok(Listed {
            items,
            revision,
            continue_token,
        })
    }

    /// resourceVersion=N with NotOlderThan: wait (briefly) until this server has seen N.
    async fn wait_for_revision(&self, q: &Query) -> ApiResult<()> {
        let Some(rv) = q.resource_version.as_deref().filter(|s| *s != "0") else {
            return Ok(());
        };
        let want: u64 = rv.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid resourceVersion {rv:?}: must be a number"))
        })?;
        let current = self.storage.revision();
        match q.resource_version_match.as_deref() {
            Some("Exact") if want < current => {
                return Err(ApiError::expired(format!(
                    "too old resource version: {want} ({current})"
                )));
            }
            None | Some("NotOlderThan" | "Exact") => {}
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "resourceVersionMatch must be NotOlderThan or Exact, not {other:?}"
                )));
            }
        }
        for _ in 0..30 {
            if self.storage.revision() >= want {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut e = ApiError::new(
            http::StatusCode::GATEWAY_TIMEOUT,
            "Timeout",
            format!(
                "Too large resource version: {want}, current resource version: {}",
                self.storage.revision()
            ),
        );
        e.details.retry_after = Some(1);
        Err(e)
    }

    /// GET of one object; `scale` returns the autoscaling/v1 Scale view.
    pub fn get(
        &self,
        res: &Resource,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
    ) -> ApiResult<Value> {
        let (_, object) = self
            .current(res, namespace, name)
            .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, name))?;
        match subresource {
            None | Some("status") => Ok(object),
            Some("scale") if res.scale.is_some() => Ok(scale_of(res, &object)),
            Some(other) => Err(ApiError::not_found(
                &res.group,
                &format!("{}/{other}", res.plural),
                name,
            )),
        }
    }
}

fn path_value(object: &Value, path: &str) -> Option<Value> {
    let p = jsonpath::compile(path).ok()?;
    p.eval(object).first().map(|v| (*v).clone())
}

/// The Scale object of an object with a scale subresource.
pub fn scale_of(res: &Resource, object: &Value) -> Value {
    let paths = res.scale.as_ref().expect("checked by the caller");
    let meta = object.get("metadata").cloned().unwrap_or(json!({}));
    let spec = path_value(object, &paths.spec_replicas)
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let status = path_value(object, &paths.status_replicas)
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let mut scale = json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": spec},
        "status": {"replicas": status},
    });
    if let Some(sel) = paths
        .label_selector
        .as_deref()
        .and_then(|p| path_value(object, p))
        && let Some(s) = sel.as_str()
    {
        scale["status"]["selector"] = json!(s);
    }
    scale
}

/// Writes `replicas` into an object at the scale subresource's spec path.
pub fn set_replicas(res: &Resource, object: &mut Value, replicas: i64) -> ApiResult<()> {
    let paths = res.scale.as_ref().expect("checked by the caller");
    let segs: Vec<&str> = paths
        .spec_replicas
        .trim_start_matches('.')
        .split('.')
        .collect();
    let mut cur = object;
    for (i, seg) in segs.iter().enumerate() {
        if i + 1 == segs.len() {
            cur[*seg] = json!(replicas);
        } else {
            if !cur.get(*seg).is_some_and(Value::is_object) {
                cur[*seg] = json!({});
            }
            cur = &mut cur[*seg];
        }
    }
    Ok(())
}
