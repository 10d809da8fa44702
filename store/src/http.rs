//! The HTTP surface: routing of Kubernetes API paths to the verbs, authentication and
//! authorization, content negotiation (JSON or Table), and the streaming of watches. `router` builds the axum app, so
//! tests can drive it without a socket.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::agent_restriction::AgentRestriction;
use crate::auth::{self, Credentials, UserInfo};
use crate::authz::Attributes;
use crate::errors::{ApiError, ApiResult};
use crate::read;
use crate::registry::Resource;
use crate::request::{Query, Target, parse_path};
use crate::server::Shared;
use crate::watch::{self, Render};
use crate::write::{Admit, DeleteOptions, PatchType, Written};
use crate::{admission, body, discovery, openapi, openapi_v2, table};

pub fn router(server: Shared) -> Router {
    Router::new()
        .route("/healthz", get(ok))
        .route("/livez", get(ok))
        .route("/readyz", get(ok))
        .route(
            "/version",
            get(|| async { json_response(StatusCode::OK, &discovery::version()) }),
        )
        .route("/openapi/v2", get(openapi_v2))
        .route("/openapi/v3", get(openapi_index))
        .route("/openapi/v3/{*path}", get(openapi_doc))
        .fallback(api)
        .layer(middleware::from_fn_with_state(server.clone(), authenticate))
        .with_state(server)
}

async fn ok() -> &'static str {
    "ok"
}

/// Health endpoints and /version are public (as kube-apiserver's default RBAC allows); every other
/// request needs a valid bearer token, and an invalid token is refused everywhere. Then every
/// request, public or not, must be authorized (RBAC and the agent restriction) before it is served.
async fn authenticate(State(server): State<Shared>, mut req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = match server.auth.check(header) {
        Credentials::User(u) => u,
        Credentials::Anonymous if auth::is_public_path(req.uri().path()) => UserInfo::anonymous(),
        _ => return ApiError::unauthorized().into_response(),
    };
    let attrs = Attributes::of_request(req.method(), req.uri().path(), req.uri().query());
    if let Err(e) = server.authorize(&user, &attrs) {
        return e.into_response();
    }
    req.extensions_mut().insert(Arc::new(user));
    next.run(req).await
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

async fn openapi_v2() -> Response {
    (
        [(header::CONTENT_TYPE, openapi_v2::PROTOBUF)],
        openapi_v2::document(),
    )
        .into_response()
}

async fn openapi_index(State(server): State<Shared>) -> Response {
    json_response(StatusCode::OK, &openapi::index(&server.registry))
}

async fn openapi_doc(
    State(server): State<Shared>,
    axum::extract::Path(path): axum::extract::Path<String>,
) -> Response {
    match openapi::document_at(&server.registry, &path) {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => ApiError::no_route().into_response(),
    }
}

async fn api(State(server): State<Shared>, req: Request) -> Response {
    match handle(server, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// Whether the client asked for a Table (`kubectl get`).
fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| {
            a.split(',')
                .next()
                .is_some_and(|first| first.contains("as=Table"))
        })
}

async fn read_body(req: Request) -> ApiResult<(HeaderMap, Bytes)> {
    let (parts, mut b) = req.into_parts();
    let mut buf = bytes::BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = b.frame().await {
        let Ok(frame) = frame else {
            return Err(ApiError::bad_request("the request body could not be read"));
        };
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total <= body::MAX_BODY {
                buf.extend_from_slice(&data);
            } else if total > 8 * body::MAX_BODY {
                // Past this, stop reading: the connection closes after the answer.
                break;
            }
        }
    }
    if total > body::MAX_BODY {
        // The rest was read and dropped, so the client gets the 413 on a healthy connection.
        return Err(body::too_large());
    }
    Ok((parts.headers, buf.freeze()))
}

async fn handle(server: Shared, req: Request) -> ApiResult<Response> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query())?;
    let target = parse_path(&path).ok_or_else(ApiError::no_route)?;
    let user = req
        .extensions()
        .get::<Arc<UserInfo>>()
        .cloned()
        .ok_or_else(ApiError::unauthorized)?;
    let rp = match target {
        Target::CoreVersions => {
            return Ok(json_response(StatusCode::OK, &discovery::core_versions()));
        }
        Target::Groups => {
            return Ok(json_response(
                StatusCode::OK,
                &discovery::groups(&server.registry),
            ));
        }
        Target::Group(g) => {
            let v = discovery::group(&server.registry, &g).ok_or_else(ApiError::no_route)?;
            return Ok(json_response(StatusCode::OK, &v));
        }
        Target::GroupVersion { group, version } => {
            let v = discovery::resource_list(&server.registry, &group, &version)
                .ok_or_else(ApiError::no_route)?;
            return Ok(json_response(StatusCode::OK, &v));
        }
        Target::Resource(rp) => rp,
    };
    if rp.group == "authorization.k8s.io"
        && rp.version == "v1"
        && rp.plural == "selfsubjectaccessreviews"
        && rp.namespace.is_none()
        && rp.name.is_none()
    {
        if method != Method::POST {
            return Err(ApiError::method_not_supported(format!(
                "SelfSubjectAccessReviews can only be created: {method} {path}"
            )));
        }
        let (headers, body) = read_body(req).await?;
        let review = server.decode(&headers, &body)?;
        let answer = server.self_subject_access_review(&user, review)?;
        return Ok(json_response(StatusCode::CREATED, &answer));
    }
    if rp.group == "authentication.k8s.io"
        && rp.version == "v1"
        && rp.plural == "selfsubjectreviews"
        && rp.namespace.is_none()
        && rp.name.is_none()
        && method == Method::POST
    {
        // `kubectl auth whoami`: who the credentials authenticate as.
        read_body(req).await?;
        return Ok(json_response(
            StatusCode::CREATED,
            &json!({
                "kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"creationTimestamp": null},
                "status": {"userInfo": {"username": user.name, "groups": user.groups}},
            }),
        ));
    }
    let res = server
        .registry
        .get(&rp.group, &rp.version, &rp.plural)
        .ok_or_else(ApiError::no_route)?;
    if let Some(ns) = &rp.namespace
        && !res.namespaced
    {
        return Err(ApiError::no_route().with_message(format!(
            "{} is cluster-scoped and cannot be requested in namespace {ns}",
            res.qualified()
        )));
    }
    for segment in [rp.name.as_deref(), rp.namespace.as_deref()]
        .into_iter()
        .flatten()
    {
        crate::schema::metadata::path_segment_name(segment).map_err(|msg| {
            ApiError::bad_request(format!(
                "invalid name {segment:?} in the request path: {msg}"
            ))
        })?;
    }
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let table = wants_table(req.headers());
    let ns = rp.namespace.as_deref();
    let sub = rp.subresource.as_deref();
    if let (Some(ns), Some(name), Some("token"), &Method::POST) = (ns, &rp.name, sub, &method)
        && res.group.is_empty()
        && res.plural == "serviceaccounts"
    {
        let (headers, body) = read_body(req).await?;
        let request = server.decode(&headers, &body)?;
        let answer = server.token_request(ns, name, request)?;
        return Ok(json_response(StatusCode::CREATED, &answer));
    }
    let agent = AgentRestriction::of(&user);
    let check = |old: Option<&Value>, new: &Value| match &agent {
        Some(a) => a.check_write(&res, sub, old, new),
        None => Ok(()),
    };
    let admit: Option<Admit<'_>> = agent.as_ref().map(|_| &check as Admit<'_>);
    if let Some(s) = sub
        && !(s == "status" && res.status || s == "scale" && res.scale.is_some())
    {
        return Err(ApiError::no_route());
    }
    match (&method, &rp.name) {
        (&Method::GET, None) if query.watch => {
            watch_response(server.clone(), res, ns, &query, table)
        }
        (&Method::GET, None) => list_response(&server, &res, ns, &query, table).await,
        (&Method::GET, Some(name)) => {
            let obj = server.get(&res, ns, name, sub)?;
            if let Some(a) = &agent {
                a.check_read(&res, &obj)?;
            }
            if table && sub.is_none() {
                let include = include_object(&query)?;
                return Ok(json_response(
                    StatusCode::OK,
                    &watch::table_of(&res.columns, &obj, include, true),
                ));
            }
            Ok(json_response(StatusCode::OK, &obj))
        }
        (&Method::POST, None) => {
            let (headers, body) = read_body(req).await?;
            let obj = server.decode(&headers, &body)?;
            let manager = admission::manager(&query, user_agent.as_deref())?;
            written(
                server
                    .create(&res, ns, obj, &query, &manager, admit)
                    .await?,
            )
        }
        (&Method::PUT, Some(name)) => {
            let (headers, body) = read_body(req).await?;
            let obj = server.decode(&headers, &body)?;
            let manager = admission::manager(&query, user_agent.as_deref())?;
            if sub == Some("scale") {
                return scale_write(
                    &server,
                    &res,
                    ns,
                    name,
                    ScaleWrite::Put(obj),
                    &query,
                    &manager,
                    admit,
                )
                .await;
            }
            written(
                server
                    .update(&res, ns, name, sub, obj, &query, &manager, admit)
                    .await?,
            )
        }
        (&Method::PATCH, Some(name)) => {
            let (headers, body) = read_body(req).await?;
            let kind = PatchType::from_content_type(&body::content_type(&headers), &res)?;
            let manager = admission::manager(&query, user_agent.as_deref())?;
            if sub == Some("scale") {
                let doc = body::decode_json(&body)?;
                return scale_write(
                    &server,
                    &res,
                    ns,
                    name,
                    ScaleWrite::Patch(kind, doc),
                    &query,
                    &manager,
                    admit,
                )
                .await;
            }
            written(
                server
                    .patch(
                        &res,
                        ns,
                        name,
                        sub,
                        kind,
                        &body,
                        &query,
                        Some(&manager),
                        admit,
                    )
                    .await?,
            )
        }
        (&Method::DELETE, Some(name)) if sub.is_none() => {
            let (_, body) = read_body(req).await?;
            let opts = delete_options(&query, &body)?;
            written(server.delete(&res, ns, name, &opts).await?)
        }
        (&Method::DELETE, None) => {
            let (_, body) = read_body(req).await?;
            let opts = delete_options(&query, &body)?;
            let listed = server
                .list(
                    &res,
                    ns,
                    &Query {
                        limit: None,
                        continue_token: None,
                        ..query.clone()
                    },
                )
                .await?;
            let mut items = Vec::new();
            for item in listed.items {
                let ns = Some(item.key.namespace.as_str()).filter(|s| !s.is_empty());
                match server.delete(&res, ns, &item.key.name, &opts).await {
                    Ok(w) => items.push(w.object.into_value()),
                    Err(e) if e.code == StatusCode::NOT_FOUND => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "kind": res.list_kind, "apiVersion": res.api_version(),
                    "metadata": {"resourceVersion": server.storage.revision().to_string()},
                    "items": items,
                }),
            ))
        }
        _ => Err(ApiError::method_not_supported(format!(
            "the server does not allow this method on the requested resource: {method} {path}"
        ))),
    }
}

fn include_object(q: &Query) -> ApiResult<table::IncludeObject> {
    table::IncludeObject::parse(q.include_object.as_deref()).map_err(ApiError::bad_request)
}

fn delete_options(q: &Query, body: &Bytes) -> ApiResult<DeleteOptions> {
    let doc = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(body::decode_json(body)?)
    };
    DeleteOptions::parse(q, doc.as_ref())
}

fn written(w: Written) -> ApiResult<Response> {
    let mut r = (
        w.code,
        [(header::CONTENT_TYPE, "application/json")],
        w.object.to_bytes(),
    )
        .into_response();
    for warning in w.warnings {
        let text = format!(
            "299 - {}",
            serde_json::to_string(&warning).unwrap_or_default()
        );
        if let Ok(v) = http::HeaderValue::from_str(&text) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    Ok(r)
}

async fn list_response(
    server: &Shared,
    res: &Arc<Resource>,
    ns: Option<&str>,
    q: &Query,
    as_table: bool,
) -> ApiResult<Response> {
    let listed = server.list(res, ns, q).await?;
    let rv = listed.revision.to_string();
    if as_table {
        let include = include_object(q)?;
        let now = jiff::Timestamp::now();
        let rows = listed
            .items
            .iter()
            .map(|o| {
                let v = o.value();
                (
                    table::row(&res.columns, &v, now),
                    table::row_object(&v, include),
                )
            })
            .collect();
        let t = table::table(
            &res.columns,
            rows,
            &rv,
            listed.continue_token.as_deref(),
            true,
        );
        return Ok(json_response(StatusCode::OK, &t));
    }
    // Items are written out from their stored JSON, without re-serializing.
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = &listed.continue_token {
        meta["continue"] = json!(c);
    }
    let mut out =
        Vec::with_capacity(listed.items.iter().map(|o| o.json.len() + 1).sum::<usize>() + 256);
    out.extend_from_slice(
        format!(
            "{{\"kind\":{},\"apiVersion\":{},\"metadata\":{},\"items\":[",
            json!(res.list_kind),
            json!(res.api_version()),
            meta
        )
        .as_bytes(),
    );
    for (i, item) in listed.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if res.version_differs(item) {
            let mut v = item.value();
            v["apiVersion"] = json!(res.api_version());
            out.extend_from_slice(v.to_string().as_bytes());
        } else {
            out.extend_from_slice(&item.json);
        }
    }
    out.extend_from_slice(b"]}");
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response())
}

fn watch_response(
    server: Shared,
    res: Arc<Resource>,
    ns: Option<&str>,
    q: &Query,
    as_table: bool,
) -> ApiResult<Response> {
    let render = if as_table {
        Render::Table {
            include_object: include_object(q)?,
        }
    } else {
        Render::Object
    };
    let rx = watch::start(server, res, ns.map(String::from), q, render)?;
    let stream =
        tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<Bytes, std::convert::Infallible>);
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(Body::from_stream(stream))
        .expect("static response parts"))
}

enum ScaleWrite {
    Put(Value),
    Patch(PatchType, Value),
}

/// PUT or PATCH of `/scale`: the new replica count is written into the object's spec path.
#[allow(clippy::too_many_arguments)]
async fn scale_write(
    server: &Shared,
    res: &Arc<Resource>,
    ns: Option<&str>,
    name: &str,
    write: ScaleWrite,
    q: &Query,
    manager: &str,
    admit: Option<Admit<'_>>,
) -> ApiResult<Response> {
    let (_, object) = server
        .current(res, ns, name)
        .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, name))?;
    let mut scale = read::scale_of(res, &object);
    match write {
        ScaleWrite::Put(s) => scale = s,
        ScaleWrite::Patch(PatchType::Merge, doc) => {
            crate::patch::merge::merge_patch(&mut scale, &doc)
        }
        ScaleWrite::Patch(PatchType::Json, doc) => {
            crate::patch::json_patch::apply(&mut scale, &doc).map_err(crate::write::patch_error)?
        }
        ScaleWrite::Patch(_, _) => {
            return Err(ApiError::unsupported_media_type(
                "the scale subresource accepts merge and JSON patches",
            ));
        }
    }
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| {
            ApiError::invalid(
                "autoscaling",
                "Scale",
                name,
                vec![crate::errors::Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: spec.replicas must be an integer".into(),
                    field: "spec.replicas".into(),
                }],
            )
        })?;
    if replicas < 0 {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            name,
            vec![crate::errors::Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                field: "spec.replicas".into(),
            }],
        ));
    }
    let mut new = object.clone();
    read::set_replicas(res, &mut new, replicas)?;
    if let Some(rv) = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        new["metadata"]["resourceVersion"] = json!(rv);
    }
    let w = server
        .update(res, ns, name, None, new, q, manager, admit)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &read::scale_of(res, &w.object.into_value()),
    ))
}

use futures::StreamExt;
