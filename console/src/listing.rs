//! Listing objects as the signed-in user across namespaces, or in one, and the pieces of a page
//! such a listing draws (the namespace picker, the notes, the empty row).
//!
//! Why it exists: the Cluster and Deployments pages list namespaced objects the same way — all
//! namespaces when the user may, else one — and say the same things when they may not; a user
//! who may list nothing of a kind gets a note, not a failed page.

use kube::api::ListParams;
use kube::{Api, Resource, ResourceExt};
use maud::{Markup, html};
use serde::Deserialize;

use crate::apps::home_namespace;
use crate::error::{AppError, api_message};
use crate::layout;
use crate::session::User;

/// `?namespace=`: the namespace to show when the user may not list across namespaces.
#[derive(Debug, Default, Deserialize)]
pub struct NamespaceQuery {
    #[serde(default)]
    pub namespace: Option<String>,
}

/// What a section could list: its objects, or why the user may not list them.
pub enum Listed<K> {
    /// The objects, and where they were listed ("all namespaces" or a namespace).
    Items { items: Vec<K>, scope: Scope },
    /// The store refused (403) with this message.
    Forbidden(String),
}

/// Where a namespaced list was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Cluster,
    AllNamespaces,
    Namespace(String),
}

/// Lists `K` across namespaces, or (when that is forbidden, or a namespace was asked for) in
/// `namespace`, else the user's own ([`home_namespace`], as the Apps page does). A 403 becomes
/// [`Listed::Forbidden`]; other errors fail the page.
pub async fn list_namespaced<K>(user: &User, namespace: Option<&str>) -> Result<Listed<K>, AppError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let client = &user.client;
    let params = ListParams::default();
    let in_namespace = |ns: &str| {
        let api: Api<K> = Api::namespaced(client.clone(), ns);
        let scope = Scope::Namespace(ns.to_string());
        async move {
            match api.list(&params).await {
                Ok(list) => Ok(Listed::Items {
                    items: list.items,
                    scope,
                }),
                Err(e) => forbidden_or(e),
            }
        }
    };
    if let Some(ns) = namespace.filter(|ns| !ns.is_empty()) {
        return in_namespace(ns).await;
    }
    let api: Api<K> = Api::all(client.clone());
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(Listed::Items {
            items: list.items,
            scope: Scope::AllNamespaces,
        }),
        Err(kube::Error::Api(status)) if status.code == 403 => {
            in_namespace(&home_namespace(user)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// A 403 as [`Listed::Forbidden`]; other errors fail the page.
pub fn forbidden_or<K>(error: kube::Error) -> Result<Listed<K>, AppError> {
    match error {
        kube::Error::Api(status) if status.code == 403 => {
            Ok(Listed::Forbidden(api_message(&status)))
        }
        other => Err(other.into()),
    }
}

/// The form that picks the namespace a page shows (`?namespace=`), for users who may not list
/// across namespaces.
pub fn namespace_form(action: &str, namespace: Option<&str>) -> Markup {
    html! {
        form.namespace-form.toolbar method="get" action=(action) {
            label { "Namespace "
                input type="text" name="namespace" value=(namespace.unwrap_or(""))
                    placeholder="all you may list";
            }
            " " button type="submit" { "Show" }
        }
    }
}

/// The note a section shows instead of its table when the user may not list its objects.
pub fn forbidden_note(what: &str, message: &str) -> Markup {
    html! {
        p.notice.forbidden { "You may not list " (what) "." }
        p.muted.detail { (message) }
    }
}

pub fn scope_note(scope: &Scope) -> Markup {
    match scope {
        Scope::Cluster | Scope::AllNamespaces => html! {},
        Scope::Namespace(ns) => html! {
            p.notice.scope { "In namespace " code { (ns) } " (you may not list all namespaces)." }
        },
    }
}

/// The row an empty table shows (class `empty`, so row counts of the real rows stay exact).
pub fn empty_row(columns: u32, text: &str) -> Markup {
    html! { tr.empty { td.muted colspan=(columns) { (text) } } }
}

pub fn qualified<K: ResourceExt>(object: &K) -> String {
    match object.namespace() {
        Some(ns) => format!("{ns}/{}", object.name_any()),
        None => object.name_any(),
    }
}

impl<K> Listed<K> {
    /// The objects and their scope, or the note saying the user may not list `what`.
    pub fn or_note(self, what: &str) -> Result<(Vec<K>, Scope), Markup> {
        match self {
            Listed::Items { items, scope } => Ok((items, scope)),
            Listed::Forbidden(message) => Err(forbidden_note(what, &message)),
        }
    }
}

/// `path` showing `namespace` (`?namespace=`), or all when there is none.
pub fn with_namespace(path: &str, namespace: Option<&str>) -> String {
    match namespace.filter(|ns| !ns.is_empty()) {
        Some(ns) => format!("{path}?namespace={}", layout::encode(ns)),
        None => path.to_string(),
    }
}
