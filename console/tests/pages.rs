//! The console's pages as a user meets them, over the real embedded store (no controllers run:
//! app statuses are written by the tests as the Marathon controller would).

mod common;

use axum::body::Body;
use common::{Harness, app_rows, form};
use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{Method, Request, StatusCode};
use strata_api::AppStatus;
use strata_api::app::AppPhase;

fn running(id: &str, running: u32, healthy: u32, phase: AppPhase) -> Option<AppStatus> {
    Some(AppStatus {
        id: Some(id.into()),
        tasks_running: running,
        tasks_healthy: healthy,
        instances: running,
        phase: Some(phase),
        ..AppStatus::default()
    })
}

#[tokio::test]
async fn login_with_the_admin_token_sets_the_cookie_and_a_wrong_one_is_refused() {
    let h = Harness::start().await;
    let page = h
        .send(
            Request::get("/login?next=/apps")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"id="token""#), "{}", page.body);

    let login = |token: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/login")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form(&[
                ("token", token),
                ("next", "/apps?group=/prod"),
            ])))
            .unwrap()
    };
    let page = h.send(login(&h.admin_token)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/apps?group=/prod");
    let cookie = page.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(
        cookie.starts_with(&format!("strata_token={};", h.admin_token)),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }

    let page = h.send(login("not-a-token")).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(
        page.body.contains("The API server refused that token"),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"id="token""#));
    assert!(page.headers.get(SET_COOKIE).is_none());
}

#[tokio::test]
async fn pages_need_a_sign_in() {
    let h = Harness::start().await;
    let page = h
        .send(Request::get("/apps?q=web").body(Body::empty()).unwrap())
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?next=/apps%3Fq%3Dweb");

    let page = h.get("/apps", "expired-or-wrong").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);

    // A form posted from another site is refused even with the cookie.
    let page = h
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/logout")
                .header("host", "console.example:8080")
                .header("origin", "https://evil.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    let page = h.get("/", &h.admin_token).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/apps");
}

#[tokio::test]
async fn the_apps_table_shows_numbers_status_and_health() {
    let h = Harness::start().await;
    h.namespace("prod").await;
    h.app(
        "default",
        "web",
        3,
        running("/web", 2, 1, AppPhase::Deploying),
    )
    .await;
    h.app(
        "prod",
        "kibana",
        1,
        running("/prod/kibana", 1, 1, AppPhase::Running),
    )
    .await;
    h.app(
        "default",
        "idle",
        0,
        running("/idle", 0, 0, AppPhase::Suspended),
    )
    .await;

    let page = h.get("/apps", &h.admin_token).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(r#"<table id="apps""#), "{}", page.body);
    let rows = app_rows(&page.body);
    assert_eq!(rows["/web"], ("2 / 3".to_string(), "Deploying".to_string()));
    assert_eq!(
        rows["/idle"],
        ("0 / 0".to_string(), "Suspended".to_string())
    );
    // /prod is a folder at the root.
    assert!(!rows.contains_key("/prod/kibana"));
    assert!(page.body.contains(r#"data-group="/prod""#), "{}", page.body);
    // web: 1 healthy, 1 running without a result, 1 not yet scheduled.
    let web = page.body.split(r#"data-id="/web""#).nth(1).unwrap();
    let web = web.split("</tr>").next().unwrap();
    assert!(
        web.contains(r#"class="segment healthy" data-count="1""#),
        "{web}"
    );
    assert!(
        web.contains(r#"class="segment unknown" data-count="1""#),
        "{web}"
    );
    assert!(
        web.contains(r#"class="segment unscheduled" data-count="1""#),
        "{web}"
    );
    assert!(web.contains(r#"<td class="mem">128</td>"#), "{web}");
    assert!(web.contains(r#"<td class="cpus">1</td>"#), "{web}");

    // Into the folder, with a breadcrumb back.
    let page = h.get("/apps?group=/prod", &h.admin_token).await;
    let rows = app_rows(&page.body);
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["/prod/kibana"]);
    assert!(page.body.contains(r#"id="breadcrumb""#));

    // Filters flatten the groups.
    let page = h.get("/apps?q=KIB", &h.admin_token).await;
    assert_eq!(
        app_rows(&page.body).keys().collect::<Vec<_>>(),
        ["/prod/kibana"]
    );
    let page = h.get("/apps?status=Suspended", &h.admin_token).await;
    assert_eq!(app_rows(&page.body).keys().collect::<Vec<_>>(), ["/idle"]);

    // The live-update body is the same rows.
    let page = h.get("/apps/rows?status=Deploying", &h.admin_token).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("<html"));
    assert_eq!(app_rows(&page.body).keys().collect::<Vec<_>>(), ["/web"]);
}
