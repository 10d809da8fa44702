//! The Cluster page: Mesos' master view — agents with their resources and state, frameworks with
//! their allocation and dominant share, outstanding offers, tasks.
//!
//! Why it exists: two-level scheduling is only understandable when one can see both levels at
//! once: what each agent has and has handed out, which framework holds what (and its share, the
//! quantity weighted DRF equalizes), what is on offer right now, and what runs where. Every
//! list is made with the signed-in user's client, so it shows what that user may list and
//! nothing more; a section the user may not list says so instead of failing the page (agents
//! are cluster-scoped: a tenant typically sees frameworks, offers and tasks of their own
//! namespace only).

use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::BTreeMap;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use maud::{Markup, PreEscaped, html};
use strata_api::conditions::{ConditionStatus, find_condition, types};
use strata_api::offer::OfferPhase;
use strata_api::{Agent, Framework, Offer, Resources, Task};

use strata_agent::registration::LEASE_NAMESPACE;

use crate::Console;
use crate::error::AppError;
use crate::layout::{self, Nav};
use crate::listing::{
    Listed, NamespaceQuery, Scope, empty_row, forbidden_or, list_namespaced, namespace_form,
    qualified, scope_note, with_namespace,
};
use crate::session::User;

/// The most tasks the page lists (the newest).
pub const TASK_LIMIT: usize = 200;

/// The Cluster pages.
pub fn routes() -> Router<Console> {
    Router::new()
        .route("/cluster", get(cluster_page))
        .route("/cluster/sections", get(cluster_sections))
}

async fn cluster_page(user: User, Query(query): Query<NamespaceQuery>) -> Result<Markup, AppError> {
    let namespace = query.namespace.as_deref().filter(|ns| !ns.is_empty());
    let refresh = with_namespace("/cluster/sections", namespace);
    let body = html! {
        h1 { "Cluster" }
        (namespace_form("/cluster", namespace))
        div #cluster-sections data-refresh=(refresh) {
            (sections(&user, namespace).await?)
        }
        script { (PreEscaped(REFRESH_JS)) }
    };
    Ok(layout::page("Cluster", Nav::Cluster, &user, body))
}

/// The sections alone, which the page's script fetches again every few seconds.
async fn cluster_sections(
    user: User,
    Query(query): Query<NamespaceQuery>,
) -> Result<Markup, AppError> {
    sections(
        &user,
        query.namespace.as_deref().filter(|ns| !ns.is_empty()),
    )
    .await
}

/// Every few seconds (while the page is visible), the sections as they are now. Offers come
/// and go every allocation interval, so this polls like Mesos' UI rather than watching.
const REFRESH_JS: &str = r#"
(function () {
  var box = document.getElementById('cluster-sections');
  if (!box) { return; }
  setInterval(function () {
    if (document.hidden) { return; }
    strataRefetch(box.dataset.refresh, function (html) { box.innerHTML = html; });
  }, 5000);
})();
"#;

/// The agents, frameworks, offers and tasks sections.
async fn sections(user: &User, namespace: Option<&str>) -> Result<Markup, AppError> {
    let (agents, heartbeats, frameworks, offers, tasks) = futures::try_join!(
        list_agents(&user.client),
        heartbeats(&user.client),
        list_namespaced::<Framework>(user, namespace),
        list_namespaced::<Offer>(user, namespace),
        list_namespaced::<Task>(user, namespace),
    )?;
    let now = jiff::Timestamp::now();
    Ok(html! {
        section.cluster-section #agents-section {
            h2 { "Agents" }
            (agents_section(agents, &heartbeats))
        }
        section.cluster-section #frameworks-section {
            h2 { "Frameworks" }
            (frameworks_section(frameworks))
        }
        section.cluster-section #offers-section {
            h2 { "Outstanding offers" }
            (offers_section(offers, now))
        }
        section.cluster-section #tasks-section {
            h2 { "Tasks" }
            (tasks_section(tasks))
        }
    })
}

/// An agent's state as a Mesos operator reads it: Ready, Unreachable, Gone, or not yet known;
/// with draining and cordoning noted.
pub fn agent_state(agent: &Agent) -> String {
    let conditions = agent
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let holds = |type_| {
        find_condition(conditions, type_).is_some_and(|c| c.status == ConditionStatus::True)
    };
    let mut state = if agent.is_gone() {
        "Gone".to_string()
    } else if holds(types::UNREACHABLE) {
        "Unreachable".to_string()
    } else if holds(types::READY) {
        "Ready".to_string()
    } else if find_condition(conditions, types::READY).is_some() {
        "NotReady".to_string()
    } else {
        "Registering".to_string()
    };
    if agent.spec.drain.is_some() {
        state.push_str(", draining");
    } else if agent.spec.unschedulable {
        state.push_str(", unschedulable");
    }
    state
}

/// Resources as a person reads them: "2 cpus · 1024 MB mem · ports 31000-31005"; "—" for none.
pub fn resources_text(r: &Resources) -> String {
    let mut parts = Vec::new();
    if !r.cpus.is_zero() {
        parts.push(format!("{} cpus", r.cpus));
    }
    if r.mem > 0 {
        parts.push(format!("{} MB mem", r.mem));
    }
    if r.disk > 0 {
        parts.push(format!("{} MB disk", r.disk));
    }
    if r.gpus > 0 {
        parts.push(format!("{} gpus", r.gpus));
    }
    if !r.ports.is_empty() {
        parts.push(format!("ports {}", r.ports));
    }
    if parts.is_empty() {
        "—".to_string()
    } else {
        parts.join(" · ")
    }
}

async fn list_agents(client: &kube::Client) -> Result<Listed<Agent>, AppError> {
    match Api::<Agent>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        Ok(list) => Ok(Listed::Items {
            items: list.items,
            scope: Scope::Cluster,
        }),
        Err(e) => forbidden_or(e),
    }
}

/// When each agent last heartbeat: the renewTime of its Lease (in the agents' lease
/// namespace), by agent name. Empty when the user may not list those Leases.
async fn heartbeats(client: &kube::Client) -> Result<BTreeMap<String, Time>, AppError> {
    let api: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(list
            .items
            .into_iter()
            .filter_map(|lease| {
                let renewed = lease.spec.as_ref()?.renew_time.as_ref()?.0;
                Some((lease.name_any(), Time(renewed)))
            })
            .collect()),
        Err(kube::Error::Api(status)) if matches!(status.code, 403 | 404) => Ok(BTreeMap::new()),
        Err(e) => Err(e.into()),
    }
}

fn agents_section(agents: Listed<Agent>, heartbeats: &BTreeMap<String, Time>) -> Markup {
    let (mut agents, _) = match agents.or_note("agents") {
        Ok(listed) => listed,
        Err(note) => return note,
    };
    agents.sort_by_key(|a| a.name_any());
    html! {
        table #agents.data {
            thead { tr {
                th { "Name" } th { "Hostname" } th { "State" }
                th { "CPUs" } th { "Mem (MB)" } th { "Disk (MB)" } th { "Ports" }
                th { "Allocated" } th { "Free" } th { "Last heartbeat" }
            } }
            tbody {
                @if agents.is_empty() { (empty_row(10, "No agents have registered.")) }
                @for agent in &agents {
                    @let status = agent.status.clone().unwrap_or_default();
                    @let total = &agent.spec.resources;
                    @let free = if agent.status.is_some() { status.free.clone() } else { total.clone() };
                    tr.agent data-name=(agent.name_any()) {
                        td.name { (agent.name_any()) }
                        td.hostname { (agent.spec.hostname) }
                        td.state { (agent_state(agent)) }
                        td.cpus.num { (total.cpus) }
                        td.mem.num { (total.mem) }
                        td.disk.num { (total.disk) }
                        td.ports { (if total.ports.is_empty() { "—".to_string() } else { total.ports.to_string() }) }
                        td.allocated { (resources_text(&status.allocated)) }
                        td.free { (resources_text(&free)) }
                        td.heartbeat {
                            @match heartbeats.get(&agent.name_any()).or(status.last_heartbeat.as_ref()) {
                                Some(t) => { (layout::age(t)) " ago" }
                                None => { span.muted { "none seen" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn frameworks_section(frameworks: Listed<Framework>) -> Markup {
    let (mut frameworks, scope) = match frameworks.or_note("frameworks") {
        Ok(listed) => listed,
        Err(note) => return note,
    };
    frameworks.sort_by_key(|f| (f.namespace().unwrap_or_default(), f.name_any()));
    html! {
        (scope_note(&scope))
        table #frameworks.data {
                thead { tr {
                    th { "Framework" } th { "Role" } th { "Weight" } th { "Active" }
                    th { "Allocated" } th { "Offered" } th { "Dominant share" }
                } }
                tbody {
                    @if frameworks.is_empty() { (empty_row(7, "No frameworks are registered.")) }
                    @for fw in &frameworks {
                        @let status = fw.status.clone().unwrap_or_default();
                        tr.framework data-name=(qualified(fw)) {
                            td.name { (qualified(fw)) }
                            td.role { (fw.spec.role) }
                            td.weight.num { (fw.spec.weight) }
                            td.active { (if status.active { "yes" } else { "no" })
                                @if fw.spec.suppressed { " (suppressed)" } }
                            td.allocated { (resources_text(&status.allocated)) }
                            td.offered { (resources_text(&status.offered)) }
                            td.share.num { (percent(status.dominant_share)) }
                        }
                    }
                }
            }
    }
}

fn offers_section(offers: Listed<Offer>, now: jiff::Timestamp) -> Markup {
    let (offers, scope) = match offers.or_note("offers") {
        Ok(listed) => listed,
        Err(note) => return note,
    };
    let mut pending: Vec<Offer> = offers
        .into_iter()
        .filter(|o| {
            o.status
                .as_ref()
                .is_none_or(|s| s.phase == OfferPhase::Pending)
        })
        .collect();
    pending.sort_by_key(|o| (o.namespace().unwrap_or_default(), o.name_any()));
    html! {
        (scope_note(&scope))
        table #offers.data {
                thead { tr {
                    th { "Offer" } th { "Framework" } th { "Agent" } th { "Resources" } th { "Expires in" }
                } }
                tbody {
                    @if pending.is_empty() { (empty_row(5, "No offers are outstanding.")) }
                    @for offer in &pending {
                        tr.offer data-name=(qualified(offer)) {
                            td.name { (offer.name_any()) }
                            td.framework { (offer.namespace().unwrap_or_default()) "/" (offer.spec.framework) }
                            td.agent { (offer.spec.agent) }
                            td.resources { (resources_text(&offer.spec.resources))
                                @if offer.spec.revocable { " (revocable)" } }
                            td.expires { (offer.spec.expires_at.as_ref().map_or("never".to_string(), |t| expires_in(t, now))) }
                        }
                    }
                }
            }
    }
}

fn tasks_section(tasks: Listed<Task>) -> Markup {
    let (mut tasks, scope) = match tasks.or_note("tasks") {
        Ok(listed) => listed,
        Err(note) => return note,
    };
    let total = tasks.len();
    // Newest first.
    tasks.sort_by(|a, b| {
        b.creation_timestamp()
            .map(|t| t.0)
            .cmp(&a.creation_timestamp().map(|t| t.0))
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
    tasks.truncate(TASK_LIMIT);
    html! {
        (scope_note(&scope))
            @if total > TASK_LIMIT {
                p.notice.limit { "Showing the " (TASK_LIMIT) " newest of " (total) " tasks." }
            }
            table #tasks.data {
                thead { tr {
                    th { "Task" } th { "Framework" } th { "Agent" } th { "State" }
                    th { "Resources" } th { "Age" } th { "Sandbox" }
                } }
                tbody {
                    @if tasks.is_empty() { (empty_row(7, "No tasks.")) }
                    @for task in &tasks {
                        @let ns = task.namespace().unwrap_or_default();
                        @let state = task.status.as_ref().and_then(|s| s.state);
                        tr.task data-name=(qualified(task)) {
                            td.name { (ns) "/" (task.name_any()) }
                            td.framework { (task.spec.framework) }
                            td.agent { (task.spec.agent) }
                            td.state { (state.map_or("Pending".to_string(), |s| format!("{s:?}"))) }
                            td.resources { (resources_text(&task.spec.resources)) }
                            td.age { (task.creation_timestamp().map_or(String::new(), |t| layout::age(&t))) }
                            td.sandbox {
                                a href=(format!("/sandbox/{}/{}", layout::encode(&ns), layout::encode(&task.name_any()))) { "sandbox" }
                            }
                        }
                    }
                }
            }
    }
}

/// A share (0 to 1) as a percentage with one decimal: "37.5%".
pub fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// How long until `at`, as kubectl prints durations ("12s"), or "expired".
pub fn expires_in(at: &Time, now: jiff::Timestamp) -> String {
    let seconds = at.0.as_second() - now.as_second();
    match u64::try_from(seconds) {
        Ok(s) if s > 0 => layout::duration(s),
        _ => "expired".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use strata_api::conditions::Condition;
    use strata_api::{AgentSpec, AgentStatus, TaskSpec};

    use super::*;

    fn agent(conditions: &[(&str, ConditionStatus)]) -> Agent {
        let mut agent = Agent::new("node-1", AgentSpec::new("h", Resources::new()));
        agent.status = Some(AgentStatus {
            conditions: conditions
                .iter()
                .map(|(t, s)| Condition::new(*t, *s, "R", "", Time(jiff::Timestamp::now())))
                .collect(),
            ..AgentStatus::default()
        });
        agent
    }

    #[test]
    fn agent_states_read_like_mesos() {
        use ConditionStatus::*;
        assert_eq!(agent_state(&agent(&[])), "Registering");
        assert_eq!(agent_state(&agent(&[("Ready", True)])), "Ready");
        assert_eq!(
            agent_state(&agent(&[("Ready", Unknown), ("Unreachable", True)])),
            "Unreachable"
        );
        assert_eq!(
            agent_state(&agent(&[("Ready", False), ("Gone", True)])),
            "Gone"
        );
        let mut draining = agent(&[("Ready", True)]);
        draining.spec.drain = Some(Default::default());
        assert_eq!(agent_state(&draining), "Ready, draining");
        let mut marked = agent(&[("Ready", True)]);
        marked.spec.gone = true;
        assert_eq!(agent_state(&marked), "Gone");
    }

    #[test]
    fn resources_and_shares_read_plainly() {
        let r: Resources = "cpus:1.5;mem:512;ports:[31000-31002]".parse().unwrap();
        assert_eq!(
            resources_text(&r),
            "1.5 cpus · 512 MB mem · ports [31000-31002]"
        );
        assert_eq!(resources_text(&Resources::new()), "—");
        assert_eq!(percent(0.375), "37.5%");
    }

    #[test]
    fn only_the_newest_tasks_are_listed_with_a_note() {
        let start = jiff::Timestamp::now();
        let tasks: Vec<Task> = (0..TASK_LIMIT + 5)
            .map(|i| {
                let mut task = Task::new(&format!("t{i}"), TaskSpec::default());
                task.metadata.namespace = Some("ns".into());
                task.metadata.creation_timestamp =
                    Some(Time(start + jiff::SignedDuration::from_secs(i as i64)));
                task
            })
            .collect();
        let html = tasks_section(Listed::Items {
            items: tasks,
            scope: Scope::AllNamespaces,
        })
        .into_string();
        assert_eq!(html.matches("<tr class=\"task\"").count(), TASK_LIMIT);
        assert!(html.contains("Showing the 200 newest of 205 tasks."));
        assert!(html.contains("ns/t204"), "the newest is shown");
        assert!(!html.contains("ns/t4<"), "the oldest are not");
    }
}
