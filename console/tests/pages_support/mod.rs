//! What the Deployments, Cluster and Sandbox page tests share: the real embedded store on a
//! temporary directory, reached in-process; the console's router over it, called with
//! `oneshot`; and users with exactly the RBAC rights a test gives them.

#![allow(dead_code)]

use axum::body::Body;
use http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use strata_agent::connect::Connect;
use strata_store::server::{ApiServer, Config, Shared};
use tower::ServiceExt;

/// The store, the console over it, and the admin's token.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub server: Shared,
    pub admin_token: String,
    /// A client acting as the admin (to set up what the pages show).
    pub admin: Client,
    pub connect: Connect,
    pub console: axum::Router,
}

/// A client of `server` acting with `token`, in-process (as `strata up` reaches its store).
pub fn client(server: Shared, token: &str) -> anyhow::Result<Client> {
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))?;
    let service = tower::ServiceBuilder::new()
        .map_request(move |mut request: http::Request<kube::client::Body>| {
            request.headers_mut().insert(AUTHORIZATION, bearer.clone());
            request
        })
        .service(strata_store::http::router(server));
    Ok(Client::new(service, "default"))
}

/// A page's answer: its status, `Location` when it redirects, and its body as text.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Harness {
    pub async fn start() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = ApiServer::open(Config::new(dir.path().join("data")))
            .await
            .expect("the store opens");
        let admin_token = server.auth.admin_token().to_string();
        let admin = client(server.clone(), &admin_token).expect("admin client");
        let for_connect = server.clone();
        let connect = Connect::new("in-process", move |token| {
            client(for_connect.clone(), token)
        });
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

    /// The console's answer to `request`.
    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .console
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("the body")
            .to_bytes();
        Answer {
            status,
            location,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// `GET path` as the holder of `token`.
    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(
            Request::get(path)
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// `POST path` (an empty form, as the confirm buttons send) as the holder of `token`.
    pub async fn post(&self, path: &str, token: &str) -> Answer {
        self.send(
            Request::post(path)
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// Creates namespace `name`.
    pub async fn namespace(&self, name: &str) {
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name}
        }))
        .unwrap();
        Api::<Namespace>::all(self.admin.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("namespace created");
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
}

fn meta(
    name: &str,
    namespace: Option<&str>,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
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
