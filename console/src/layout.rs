//! The frame every page shares, and the small pieces several pages draw.
//!
//! Why it exists: one top bar, one stylesheet, one way to ask "are you sure?", one health bar,
//! so that the Apps, Deployments, Cluster and Sandbox pages look like one site. Nothing here
//! calls the store.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use strata_api::age::human_duration;

pub use crate::error::{AppError, error_page};
use crate::session::User;

/// The top bar's sections; the current one is highlighted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    /// Apps, their tasks, new app.
    Apps,
    /// Rollouts in progress.
    Deployments,
    /// Agents and their resources.
    Cluster,
    /// A task's sandbox (reached from a task, not from the bar; nothing is highlighted).
    Sandbox,
}

/// The links of the top bar, in order.
const NAV_LINKS: [(Nav, &str, &str); 3] = [
    (Nav::Apps, "/apps", "Apps"),
    (Nav::Deployments, "/deployments", "Deployments"),
    (Nav::Cluster, "/cluster", "Cluster"),
];

/// A full HTML page for the signed-in `user`: top bar with `nav` highlighted, the user's name and
/// a sign-out button, then `body`.
pub fn page(title: &str, nav: Nav, user: &User, body: Markup) -> Markup {
    document(title, Some(nav), Some(&user.name), body)
}

/// A full HTML page; without `user` the bar has no name or sign-out (the error pages).
pub fn document(title: &str, nav: Option<Nav>, user: Option<&str>, body: Markup) -> Markup {
    let bar = html! {
        nav {
            @for (item, href, label) in NAV_LINKS {
                @if nav == Some(item) {
                    a.active href=(href) aria-current="page" { (label) }
                } @else {
                    a href=(href) { (label) }
                }
            }
        }
        @if let Some(name) = user {
            div.user {
                span #user-name { (name) }
                form method="post" action="/logout" {
                    button #logout type="submit" { "Sign out" }
                }
            }
        }
    };
    frame(title, bar, body)
}

/// A full HTML page whose bar is just the brand: the login page, before anyone has signed in.
pub fn signed_out_document(title: &str, body: Markup) -> Markup {
    frame(title, html! {}, body)
}

/// The page around `body`, with the brand and `bar` on top.
fn frame(title: &str, bar: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · strata" }
                style { (PreEscaped(STYLESHEET)) }
                script { (PreEscaped(REFETCH_JS)) }
            }
            body {
                header.topbar {
                    a.brand href="/apps" { "strata" }
                    (bar)
                }
                main { (body) }
            }
        }
    }
}

/// A button that POSTs to `action_url` after the browser's `confirm(question)` says yes.
pub fn confirm_button(action_url: &str, label: &str, question: &str) -> Markup {
    html! {
        form.inline method="post" action=(action_url) onsubmit=(confirm_js(question)) {
            button.danger type="submit" { (label) }
        }
    }
}

/// The `onsubmit` handler asking `question` (a JS string literal, safely quoted).
pub fn confirm_js(question: &str) -> String {
    // serde_json quotes and escapes it as a JavaScript string; maud escapes it for the attribute.
    format!(
        "return confirm({})",
        serde_json::Value::String(question.to_string())
    )
}

/// How long ago `time` was, as kubectl prints ages: 45s, 5m12s, 3h20m, 5d.
pub fn age(time: &Time) -> String {
    human_duration(jiff::Timestamp::now().duration_since(time.0))
}

/// A number of seconds as kubectl prints ages.
pub fn duration(seconds: u64) -> String {
    human_duration(jiff::SignedDuration::from_secs(
        i64::try_from(seconds).unwrap_or(i64::MAX),
    ))
}

/// The segments of Marathon's health bar, in the order drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HealthCounts {
    /// Running and passing their health checks.
    pub healthy: u32,
    /// Running and failing their health checks.
    pub unhealthy: u32,
    /// Running without a health result (no checks, or none reported yet).
    pub unknown: u32,
    /// Launched and not yet running.
    pub staged: u32,
    /// Running beyond the requested instances (old tasks during a deployment).
    pub over_capacity: u32,
    /// Requested instances with no task yet.
    pub unscheduled: u32,
}

impl HealthCounts {
    /// The counts of an App from its status (Marathon's rules): running tasks split into
    /// healthy, unhealthy and unknown; staged; running above `instances` as over capacity;
    /// instances not yet started as unscheduled.
    pub fn of_app(app: &strata_api::App) -> HealthCounts {
        let status = app.status.clone().unwrap_or_default();
        let instances = app.spec.instances;
        let running = status.tasks_running;
        let over_capacity = running.saturating_sub(instances);
        let counted = running - over_capacity;
        let healthy = status.tasks_healthy.min(counted);
        let unhealthy = status.tasks_unhealthy.min(counted - healthy);
        let unknown = counted - healthy - unhealthy;
        let staged = status.tasks_staged;
        let unscheduled = instances.saturating_sub(running + staged);
        HealthCounts {
            healthy,
            unhealthy,
            unknown,
            staged,
            over_capacity,
            unscheduled,
        }
    }

    /// The segments as (class, label, count).
    pub fn segments(&self) -> [(&'static str, &'static str, u32); 6] {
        [
            ("healthy", "healthy", self.healthy),
            ("unhealthy", "unhealthy", self.unhealthy),
            ("unknown", "unknown", self.unknown),
            ("staged", "staged", self.staged),
            ("over-capacity", "over capacity", self.over_capacity),
            ("unscheduled", "unscheduled", self.unscheduled),
        ]
    }

    /// All tasks and missing instances the bar stands for.
    pub fn total(&self) -> u32 {
        self.segments().iter().map(|(_, _, n)| n).sum()
    }
}

/// Marathon's health bar: one coloured span per non-empty segment (class `segment <name>`,
/// `data-count`, the count in its title), each as wide as its share.
pub fn health_bar(counts: &HealthCounts) -> Markup {
    let total = counts.total();
    let summary: Vec<String> = counts
        .segments()
        .iter()
        .filter(|(_, _, n)| *n > 0)
        .map(|(_, label, n)| format!("{n} {label}"))
        .collect();
    html! {
        div.health-bar title=(summary.join(", ")) {
            @for (class, label, count) in counts.segments() {
                @if count > 0 {
                    span class={"segment " (class)} data-count=(count)
                        title={(count) " " (label)}
                        style={"width:" (format!("{:.2}", f64::from(count) * 100.0 / f64::from(total))) "%"} {}
                }
            }
        }
    }
}

/// `value` percent-encoded for a URL's query string (`/` kept readable).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A notice box (class `notice`), e.g. "showing namespace default only".
pub fn notice(text: &str) -> Markup {
    html! { p.notice { (text) } }
}

/// An error box inside a page (class `error-message`), for an error that does not replace it.
pub fn inline_error(error: &AppError) -> Markup {
    html! { p.error-message role="alert" { (error.message()) } }
}

/// `strataRefetch(url, then)`: what every live part of a page uses to fetch its fresh HTML as
/// the signed-in user. `then` gets the text of an OK answer; when the user signed out meanwhile
/// (the request was redirected to the login page), the whole window reloads to show that page
/// instead of pasting it into a table.
const REFETCH_JS: &str = r#"
function strataRefetch(url, then) {
  return fetch(url, {credentials: 'same-origin'})
    .then(function (r) {
      if (r.redirected) { location.reload(); return null; }
      return r.ok ? r.text() : null;
    })
    .then(function (html) { if (html !== null) { then(html); } })
    .catch(function () {});
}
"#;

/// The one stylesheet: a dark top bar and a light table like Marathon's UI.
const STYLESHEET: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2328;background:#f4f5f7}
a{color:#1a6fd1;text-decoration:none}a:hover{text-decoration:underline}
.topbar{display:flex;align-items:center;gap:24px;background:#1b1c20;color:#e8e8e8;padding:0 20px;height:48px}
.topbar .brand{color:#fff;font-weight:700;font-size:17px;letter-spacing:.5px}
.topbar nav{display:flex;gap:4px;flex:1}
.topbar nav a{color:#b8bcc4;padding:14px 12px;border-bottom:3px solid transparent}
.topbar nav a.active{color:#fff;border-bottom-color:#3aa0ff}
.topbar nav a:hover{color:#fff;text-decoration:none}
.topbar .user{display:flex;align-items:center;gap:10px;color:#b8bcc4}
.topbar .user button{background:none;border:1px solid #555;color:#ddd;border-radius:3px;padding:3px 10px;cursor:pointer}
main{padding:20px 24px;max-width:1400px}
h1{font-size:22px;font-weight:600;margin:4px 0 14px}h2{font-size:16px;margin:24px 0 8px}
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid #dfe1e5}
th{text-align:left;font-weight:600;font-size:12px;text-transform:uppercase;color:#6a707a;background:#fafbfc;padding:8px 10px;border-bottom:1px solid #dfe1e5}
th a{color:inherit}th[aria-sort] a{color:#1f2328}
td{padding:8px 10px;border-bottom:1px solid #eef0f2;vertical-align:middle}
tr:hover td{background:#f7f9fc}
td.mem,td.cpus,td.tasks,th.num,td.num{text-align:right;font-variant-numeric:tabular-nums}
.folder td.id a::before{content:"\1F4C1  "}
.status{font-weight:600}
.status-Running{color:#1e9e5a}.status-Deploying{color:#1a6fd1}.status-Suspended{color:#7b8089}
.status-Waiting{color:#d98b00}.status-Delayed{color:#d2382f}.status-Stopped{color:#a8452f}
.health-bar{display:flex;width:140px;height:10px;border-radius:2px;overflow:hidden;background:#eceef1}
.health-bar .segment{display:block;height:100%}
.segment.healthy{background:#27c97b}.segment.unhealthy{background:#f24c3d}.segment.unknown{background:#a6abb3}
.segment.staged{background:#3aa0ff}.segment.over-capacity{background:#9b59d0}
.segment.unscheduled{background:repeating-linear-gradient(45deg,#dfe2e6,#dfe2e6 3px,#eef0f2 3px,#eef0f2 6px)}
.toolbar{display:flex;gap:10px;align-items:center;margin-bottom:12px;flex-wrap:wrap}
.toolbar .spacer{flex:1}
input,select,textarea{font:inherit;padding:5px 8px;border:1px solid #c9cdd3;border-radius:3px;background:#fff}
textarea{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;width:100%}
button,.button{font:inherit;padding:5px 12px;border:1px solid #c9cdd3;border-radius:3px;background:#fff;cursor:pointer;color:#1f2328}
button.primary,.button.primary{background:#1a6fd1;border-color:#1a6fd1;color:#fff}
button.danger{color:#c0271d;border-color:#e5b5b1}
form.inline{display:inline}
.breadcrumb{margin-bottom:10px;color:#6a707a}.breadcrumb a{margin:0 2px}
.notice{background:#fff8e1;border:1px solid #f0d98c;padding:8px 12px;border-radius:3px}
.error-message{background:#fdecea;border:1px solid #f2b8b3;color:#9f1d14;padding:8px 12px;border-radius:3px}
.field-error{color:#c0271d;margin:2px 0 0;font-size:13px}
.error-box{max-width:640px;margin:40px auto;background:#fff;border:1px solid #dfe1e5;padding:20px 28px}
.login{max-width:380px;margin:60px auto;background:#fff;border:1px solid #dfe1e5;padding:24px 28px}
.login input{width:100%;margin:6px 0 14px}
.field{margin-bottom:12px}.field label{display:block;font-weight:600;margin-bottom:3px}
.field input,.field textarea{width:100%;max-width:520px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:16px}
.grid.two{grid-template-columns:minmax(320px,1fr) minmax(320px,1.4fr)}
.card{background:#fff;border:1px solid #dfe1e5;padding:12px 16px}
.card h2:first-child{margin-top:0}section.card,.grid{margin-top:16px}
dl.props{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dl.props dt{color:#6a707a}dl.props dd{margin:0}
dl.props.columns{grid-template-columns:repeat(2,max-content minmax(0,1fr))}
.card.summary{margin-top:16px}
pre{background:#fff;border:1px solid #dfe1e5;padding:10px;overflow:auto;font-size:13px}
.muted{color:#7b8089}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn app(instances: u32, status: strata_api::AppStatus) -> strata_api::App {
        let mut app = strata_api::App::new(
            "web",
            strata_api::AppSpec {
                instances,
                ..strata_api::AppSpec::default()
            },
        );
        app.status = Some(status);
        app
    }

    #[test]
    fn health_counts_follow_marathon() {
        let counts = HealthCounts::of_app(&app(
            5,
            strata_api::AppStatus {
                tasks_running: 3,
                tasks_healthy: 1,
                tasks_unhealthy: 1,
                tasks_staged: 1,
                ..Default::default()
            },
        ));
        assert_eq!(
            counts,
            HealthCounts {
                healthy: 1,
                unhealthy: 1,
                unknown: 1,
                staged: 1,
                over_capacity: 0,
                unscheduled: 1,
            }
        );
        let over = HealthCounts::of_app(&app(
            2,
            strata_api::AppStatus {
                tasks_running: 3,
                tasks_healthy: 3,
                ..Default::default()
            },
        ));
        assert_eq!((over.healthy, over.over_capacity), (2, 1));
    }

    #[test]
    fn confirm_question_is_quoted() {
        assert_eq!(
            confirm_js(r#"Destroy "web"?"#),
            r#"return confirm("Destroy \"web\"?")"#
        );
    }

    #[test]
    fn ages() {
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(600), "10m");
        assert_eq!(duration(3 * 3600), "3h");
        assert_eq!(duration(3 * 86400), "3d");
    }
}
