//! What the console's page tests share: the real embedded store on a temporary directory,
//! reached in-process; the console's router over it, called with `oneshot` as a browser would
//! (the `strata_token` cookie, forms) but without a socket; users with exactly the RBAC rights
//! a test gives them; and small readers of the HTML and of event streams.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use http::header::{CONTENT_TYPE, COOKIE, HOST, LOCATION, ORIGIN};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use strata_agent::connect::Connect;
use strata_api::{App, AppSpec, AppStatus};
use strata_store::server::{ApiServer, Config, Shared};
use tower::ServiceExt;

/// The store, the console over it, and the admin's token and client.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub server: Shared,
    pub admin_token: String,
    /// A client acting as the admin (to set up what the pages show).
    pub admin: Client,
    pub connect: Connect,
    pub console: axum::Router,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// Where it redirects ("" when it does not).
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts the status, showing the body when it is another.
    #[track_caller]
    pub fn is(&self, status: StatusCode) -> &Page {
        assert_eq!(self.status, status, "{}", self.body);
        self
    }

    /// Asserts a redirect (303) to `location`.
    #[track_caller]
    pub fn redirects_to(&self, location: &str) -> &Page {
        self.is(StatusCode::SEE_OTHER);
        assert_eq!(self.location(), location);
        self
    }

    /// Asserts that the body holds `text`, showing the body when it does not.
    #[track_caller]
    pub fn has(&self, text: &str) -> &Page {
        assert!(self.body.contains(text), "{text:?} in:\n{}", self.body);
        self
    }

    /// Asserts that the body does not hold `text`.
    #[track_caller]
    pub fn lacks(&self, text: &str) -> &Page {
        assert!(!self.body.contains(text), "no {text:?} in:\n{}", self.body);
        self
    }
}

/// A server-sent events stream being read.
pub struct Events {
    body: Body,
    deadline: tokio::time::Instant,
}

impl Events {
    /// The text read until it holds `needle` (within the stream's 20 s).
    pub async fn until(&mut self, needle: &str) -> String {
        let mut text = String::new();
        while !text.contains(needle) {
            let frame = tokio::time::timeout_at(self.deadline, self.body.frame())
                .await
                .unwrap_or_else(|_| panic!("{needle:?} in time; read so far:\n{text}"))
                .expect("the stream goes on")
                .unwrap();
            if let Ok(bytes) = frame.into_data() {
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        text
    }

    /// The rest of the text, until the stream ends (within its 20 s).
    pub async fn rest(mut self) -> String {
        let mut text = String::new();
        while let Some(frame) = tokio::time::timeout_at(self.deadline, self.body.frame())
            .await
            .expect("the stream ends in time")
        {
            if let Ok(bytes) = frame.unwrap().into_data() {
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        text
    }
}

/// A signed-in request: the browser's cookie with `token`.
fn signed_in(request: http::request::Builder, token: &str) -> http::request::Builder {
    request.header(COOKIE, format!("strata_token={token}"))
}

impl Harness {
    pub async fn start() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = ApiServer::open(Config::new(dir.path().join("data")))
            .await
            .expect("the store opens");
        let admin_token = server.auth.admin_token().to_string();
        let connect = Connect::over_router(strata_store::http::router(server.clone()));
        let admin = connect.client(&admin_token).expect("admin client");
        let console = strata_console::router(connect.clone());
        Harness {
            dir,
            server,
            admin_token,
            admin,
            connect,
            console,
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
            .expect("the body")
            .to_bytes();
        Page {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// GET `path` signed in with `token`.
    pub async fn get(&self, path: &str, token: &str) -> Page {
        self.send(
            signed_in(Request::get(path), token)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// GET `path` as the admin.
    pub async fn admin_get(&self, path: &str) -> Page {
        self.get(path, &self.admin_token).await
    }

    /// POST the form `fields` to `path` signed in with `token` (no fields: what the confirm
    /// buttons send).
    pub async fn post(&self, path: &str, token: &str, fields: &[(&str, &str)]) -> Page {
        self.send(
            signed_in(Request::post(path), token)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form(fields)))
                .unwrap(),
        )
        .await
    }

    /// POST an empty form to `path` as the admin, from a page of `origin` (`Origin`), to the
    /// console at console.example:8080 (`Host`).
    pub async fn post_from(&self, path: &str, origin: &str) -> Page {
        self.send(
            signed_in(Request::post(path), &self.admin_token)
                .header(HOST, "console.example:8080")
                .header(ORIGIN, origin)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// POST the form `fields` to `path` as the admin.
    pub async fn admin_post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post(path, &self.admin_token, fields).await
    }

    /// The server-sent events stream at `path`, as the admin (asserted to be one).
    pub async fn events(&self, path: &str) -> Events {
        let response = self
            .console
            .clone()
            .oneshot(
                signed_in(Request::get(path), &self.admin_token)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .expect("the router answers");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{path} is server-sent events"
        );
        Events {
            body: response.into_body(),
            deadline: tokio::time::Instant::now() + Duration::from_secs(20),
        }
    }

    /// Creates namespace `name`.
    pub async fn namespace(&self, name: &str) {
        let ns = Namespace {
            metadata: meta(name, None),
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
    pub async fn service_account(&self, namespace: &str, name: &str) -> String {
        let meta = |n: &str| meta(n, Some(namespace));
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

    /// A token for user `name`, allowed `verbs` on strata's `resources` in `namespace` only.
    pub async fn namespace_user(
        &self,
        name: &str,
        namespace: &str,
        resources: &[&str],
        verbs: &[&str],
    ) -> String {
        let token = self.server.auth.issue(name, &[], None).expect("token");
        let role = Role {
            metadata: meta(name, Some(namespace)),
            rules: Some(vec![rule(resources, verbs)]),
        };
        Api::<Role>::namespaced(self.admin.clone(), namespace)
            .create(&PostParams::default(), &role)
            .await
            .expect("role");
        let binding: RoleBinding = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}],
        }))
        .unwrap();
        Api::<RoleBinding>::namespaced(self.admin.clone(), namespace)
            .create(&PostParams::default(), &binding)
            .await
            .expect("role binding");
        token
    }

    /// A token for user `name`, allowed `verbs` on strata's `resources` in every namespace.
    pub async fn cluster_user(&self, name: &str, resources: &[&str], verbs: &[&str]) -> String {
        let token = self.server.auth.issue(name, &[], None).expect("token");
        let role = ClusterRole {
            metadata: meta(name, None),
            rules: Some(vec![rule(resources, verbs)]),
            ..ClusterRole::default()
        };
        Api::<ClusterRole>::all(self.admin.clone())
            .create(&PostParams::default(), &role)
            .await
            .expect("cluster role");
        let binding: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}],
        }))
        .unwrap();
        Api::<ClusterRoleBinding>::all(self.admin.clone())
            .create(&PostParams::default(), &binding)
            .await
            .expect("cluster role binding");
        token
    }

    /// Creates `object` with `api` (as the admin), then writes its `status` (JSON; null for
    /// none) through the status subresource, and returns it as stored.
    pub async fn create<K>(&self, api: &Api<K>, object: &K, status: serde_json::Value) -> K
    where
        K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
    {
        let created = api
            .create(&PostParams::default(), object)
            .await
            .expect("object created");
        if status.is_null() {
            return created;
        }
        let name = created.meta().name.clone().expect("a name");
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "status": status })),
        )
        .await
        .expect("status written")
    }

    /// The admin's Api of `K` in `namespace`.
    pub fn namespaced<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.admin.clone(), namespace)
    }

    /// App `namespace/name` as stored now.
    pub async fn stored_app(&self, namespace: &str, name: &str) -> Option<App> {
        Api::<App>::namespaced(self.admin.clone(), namespace)
            .get_opt(name)
            .await
            .expect("read app")
    }
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(String::from),
        ..Default::default()
    }
}

fn rule(resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec!["strata.io".to_string()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..PolicyRule::default()
    }
}

/// The element with `id` (its opening tag to the next closing tag of the same name), or panics
/// saying the page lacks it.
pub fn element<'a>(page: &'a str, tag: &str, id: &str) -> &'a str {
    let attribute = format!(" id=\"{id}\"");
    let at = page
        .find(&attribute)
        .unwrap_or_else(|| panic!("no element with id {id:?} in the page:\n{page}"));
    let start = page[..at].rfind('<').expect("an opening tag");
    assert!(
        page[start + 1..].starts_with(tag),
        "the element with id {id:?} is not a <{tag}>: {}",
        &page[start..at]
    );
    let close = format!("</{tag}>");
    let end = page[start..]
        .find(&close)
        .map_or(page.len(), |i| start + i + close.len());
    &page[start..end]
}

/// The `<tr>` rows of `html` whose class list starts with `class`.
pub fn rows<'a>(html: &'a str, class: &str) -> Vec<&'a str> {
    let open = format!("<tr class=\"{class}");
    html.match_indices(&open)
        .map(|(start, _)| {
            let end = html[start..]
                .find("</tr>")
                .map_or(html.len(), |i| start + i);
            &html[start..end]
        })
        .collect()
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
