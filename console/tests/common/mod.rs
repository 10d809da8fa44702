//! The console over a real embedded store in this process, and requests made to it as a
//! browser would (without a socket).

#![allow(dead_code)]

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use http::header::{CONTENT_TYPE, COOKIE, LOCATION};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use strata_api::{App, AppSpec, AppStatus};
use tower::ServiceExt;

/// The Deployments/Cluster/Sandbox tests' harness (the store on disk, the console over it,
/// the admin), with what the Apps pages' tests need besides: the browser's cookie, forms, apps
/// with a status, and ServiceAccount users.
#[path = "../pages_support/mod.rs"]
mod support;

/// The store, the console over it, and the admin's token and client.
pub struct Harness {
    pub support: support::Harness,
    pub console: Router,
    pub admin_token: String,
    pub admin: Client,
}

/// A response, read whole.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Harness {
    pub async fn start() -> Harness {
        let support = support::Harness::start().await;
        Harness {
            console: support.console.clone(),
            admin_token: support.admin_token.clone(),
            admin: support.admin.clone(),
            support,
        }
    }

    /// Sends `request` to the console and reads the whole response.
    pub async fn send(&self, request: Request<Body>) -> Page {
        let response = self
            .console
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Page {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// GET `path` signed in with `token` (as the browser's cookie).
    pub async fn get(&self, path: &str, token: &str) -> Page {
        self.send(
            Request::get(path)
                .header(COOKIE, format!("strata_token={token}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }

    /// POST the form `fields` to `path` signed in with `token`.
    pub async fn post(&self, path: &str, token: &str, fields: &[(&str, &str)]) -> Page {
        let body = form(fields);
        self.send(
            Request::builder()
                .method(Method::POST)
                .uri(path)
                .header(COOKIE, format!("strata_token={token}"))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .expect("request"),
        )
        .await
    }

    /// Creates namespace `name`.
    pub async fn namespace(&self, name: &str) {
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(self.admin.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("namespace created");
    }

    /// Creates app `namespace/name` with `instances` and sets its status as the Marathon
    /// controller would (`running` tasks, `healthy` of them healthy, phase, id).
    pub async fn app(
        &self,
        namespace: &str,
        name: &str,
        instances: u32,
        status: Option<AppStatus>,
    ) -> App {
        let apps: Api<App> = Api::namespaced(self.admin.clone(), namespace);
        let app = App::new(
            name,
            AppSpec {
                cmd: Some("sleep 1000".into()),
                instances,
                ..AppSpec::default()
            },
        );
        let created = apps
            .create(&PostParams::default(), &app)
            .await
            .expect("app created");
        if let Some(status) = status {
            let patch = serde_json::json!({"status": status});
            return apps
                .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .expect("status written");
        }
        created
    }

    /// A ServiceAccount `name` in `namespace` allowed everything on strata.io objects there
    /// (and nothing elsewhere), and a token for it.
    pub async fn namespace_user(&self, namespace: &str, name: &str) -> String {
        let meta = |n: &str| ObjectMeta {
            name: Some(n.into()),
            namespace: Some(namespace.into()),
            ..ObjectMeta::default()
        };
        let pp = PostParams::default();
        let accounts: Api<ServiceAccount> = Api::namespaced(self.admin.clone(), namespace);
        accounts
            .create(
                &pp,
                &ServiceAccount {
                    metadata: meta(name),
                    ..ServiceAccount::default()
                },
            )
            .await
            .expect("service account");
        Api::<Role>::namespaced(self.admin.clone(), namespace)
            .create(
                &pp,
                &Role {
                    metadata: meta(name),
                    rules: Some(vec![PolicyRule {
                        api_groups: Some(vec!["strata.io".into()]),
                        resources: Some(vec!["*".into()]),
                        verbs: vec!["*".into()],
                        ..PolicyRule::default()
                    }]),
                },
            )
            .await
            .expect("role");
        Api::<RoleBinding>::namespaced(self.admin.clone(), namespace)
            .create(
                &pp,
                &RoleBinding {
                    metadata: meta(name),
                    role_ref: RoleRef {
                        api_group: "rbac.authorization.k8s.io".into(),
                        kind: "Role".into(),
                        name: name.into(),
                    },
                    subjects: Some(vec![Subject {
                        kind: "ServiceAccount".into(),
                        name: name.into(),
                        namespace: Some(namespace.into()),
                        ..Subject::default()
                    }]),
                },
            )
            .await
            .expect("role binding");
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![],
                expiration_seconds: Some(3600),
                ..TokenRequestSpec::default()
            },
            ..TokenRequest::default()
        };
        accounts
            .create_token_request(name, &pp, &request)
            .await
            .expect("token")
            .status
            .expect("token status")
            .token
    }

    /// App `namespace/name` as stored now.
    pub async fn stored_app(&self, namespace: &str, name: &str) -> Option<App> {
        Api::<App>::namespaced(self.admin.clone(), namespace)
            .get_opt(name)
            .await
            .expect("read app")
    }
}

/// `fields` as an urlencoded form body.
pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The rows of the apps table as `data-id => (tasks, status)` read from the HTML.
pub fn app_rows(html: &str) -> BTreeMap<String, (String, String)> {
    let mut rows = BTreeMap::new();
    for chunk in html.split("<tr class=\"app\"").skip(1) {
        let id = between(chunk, "data-id=\"", "\"");
        let tasks = between(chunk, "<td class=\"tasks\">", "</td>");
        let status_cell = chunk
            .split("<td class=\"status ")
            .nth(1)
            .map(|s| between(s, ">", "</td>"))
            .unwrap_or_default();
        rows.insert(id, (tasks, status_cell));
    }
    rows
}

/// The text between `start` and the next `end` in `text`.
pub fn between(text: &str, start: &str, end: &str) -> String {
    text.split_once(start)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(inside, _)| inside.to_string())
        .unwrap_or_default()
}
