//! Signing in: the user's token in a cookie, and the [`User`] every page acts as.
//!
//! Why it exists: the console has no accounts of its own. A user signs in with a token the
//! store knows (the admin's, a ServiceAccount's, later a tenant's); the console asks the store
//! who that is (a SelfSubjectReview, like `kubectl auth whoami`) and from then on makes every
//! call with a client carrying that token, so the store's RBAC decides what the user sees.
//!
//! Must never: log a token, accept a token the store has not confirmed, or act with any
//! identity but the caller's. Forms are protected from cross-site posts by the cookie's
//! SameSite=Strict and by [`same_origin`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Form;
use axum::Router;
use axum::extract::OptionalFromRequestParts;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN, SET_COOKIE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::api::{Api, PostParams};
use maud::{Markup, html};
use serde::Deserialize;

use crate::Console;
use crate::error::{AppError, error_page};
use crate::layout;

/// The cookie holding the signed-in user's token.
pub const COOKIE_NAME: &str = "strata_token";
/// How long a validated token is trusted before the store is asked again.
const SESSION_TTL: Duration = Duration::from_secs(30);

/// The signed-in user: a client of the store acting as them, and who the store says they are.
#[derive(Clone)]
pub struct User {
    /// Makes every call of the page with the user's own token.
    pub client: kube::Client,
    /// The user name the store authenticated (e.g. `admin`,
    /// `system:serviceaccount:team-a:alice`).
    pub name: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User").field("name", &self.name).finish()
    }
}

/// Tokens validated recently, with their client and user name.
#[derive(Clone, Default)]
pub struct Sessions {
    cache: Arc<Mutex<HashMap<String, (Instant, User)>>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens.
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Sessions {
    fn get(&self, token: &str) -> Option<User> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(token)
            .filter(|(at, _)| at.elapsed() < SESSION_TTL)
            .map(|(_, user)| user.clone())
    }

    fn put(&self, token: &str, user: User) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|_, (at, _)| at.elapsed() < SESSION_TTL);
        cache.insert(token.to_string(), (Instant::now(), user));
    }

    fn forget(&self, token: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.remove(token);
    }
}

/// Why a token did not sign anyone in.
#[derive(Debug)]
enum SignInError {
    /// The store does not know the token (401).
    Refused,
    /// Anything else (the store unreachable, a malformed token), as an error page.
    Other(AppError),
}

/// The user holding `token`: from the cache, or by asking the store who it is.
async fn identify(console: &Console, token: &str) -> Result<User, SignInError> {
    if let Some(user) = console.sessions.get(token) {
        return Ok(user);
    }
    if token.is_empty() || HeaderValue::from_str(token).is_err() || !cookie_safe(token) {
        return Err(SignInError::Refused);
    }
    let client = console
        .connect
        .client(token)
        .map_err(|e| SignInError::Other(e.into()))?;
    let review = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .map_err(|e| match e {
            kube::Error::Api(status) if status.code == 401 => SignInError::Refused,
            other => SignInError::Other(other.into()),
        })?;
    let name = review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .unwrap_or_else(|| "unknown".to_string());
    let user = User { client, name };
    console.sessions.put(token, user.clone());
    Ok(user)
}

/// True when `token` can be a cookie value as it is (no separators, spaces or quotes).
fn cookie_safe(token: &str) -> bool {
    token
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\'))
}

/// The token a request carries: its `Authorization: Bearer` header, else the cookie.
pub fn request_token(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_string());
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_string())
        .filter(|value| !value.is_empty())
}

/// What a request without a valid token gets: a browser's GET goes to the login page (and
/// comes back after), anything else a 401 — as does a script whose `Authorization` header the
/// API server refused (it has no login page to go to).
fn sign_in_first(parts: &Parts) -> Response {
    if parts.method == Method::GET && !parts.headers.contains_key(AUTHORIZATION) {
        let path = parts
            .uri
            .path_and_query()
            .map_or("/apps", |p| p.as_str())
            .to_string();
        let next = layout::encode(&path);
        Redirect::to(&format!("/login?next={next}")).into_response()
    } else {
        error_page(
            StatusCode::UNAUTHORIZED,
            "Sign in first: this request carries no token the API server accepts.",
        )
    }
}

impl FromRequestParts<Console> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<User, Response> {
        let Some(token) = request_token(&parts.headers) else {
            return Err(sign_in_first(parts));
        };
        match identify(console, &token).await {
            Ok(user) => Ok(user),
            Err(SignInError::Refused) => Err(sign_in_first(parts)),
            Err(SignInError::Other(error)) => Err(error.into_response()),
        }
    }
}

impl OptionalFromRequestParts<Console> for User {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Console,
    ) -> Result<Option<User>, Response> {
        let Some(token) = request_token(&parts.headers) else {
            return Ok(None);
        };
        match identify(console, &token).await {
            Ok(user) => Ok(Some(user)),
            Err(SignInError::Refused) => Ok(None),
            Err(SignInError::Other(error)) => Err(error.into_response()),
        }
    }
}

/// `GET /login`, `POST /login`, `POST /logout`.
pub fn routes() -> Router<Console> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
}

/// Where to go after signing in.
#[derive(Deserialize, Default)]
struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

/// The login form.
#[derive(Deserialize)]
struct LoginForm {
    token: String,
    #[serde(default)]
    next: Option<String>,
}

/// `next` if it is a path of this site (never another site: no open redirect), else `/apps`.
/// Only visible ASCII: browsers drop tabs and newlines from a `Location` (`/\t/evil` would
/// become `//evil`), and a control character is no header value at all.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n
        }
        _ => "/apps",
    }
}

/// The login form; someone already signed in goes straight on to `next`.
async fn login_page(user: Option<User>, Query(query): Query<NextQuery>) -> Response {
    let next = safe_next(query.next.as_deref());
    match user {
        Some(_) => Redirect::to(next).into_response(),
        None => login_document(next, None).into_response(),
    }
}

fn login_document(next: &str, error: Option<&str>) -> Markup {
    let body = html! {
        form.login method="post" action="/login" {
            h1 { "Sign in" }
            @if let Some(error) = error {
                p.error-message #login-error role="alert" { (error) }
            }
            label for="token" { "Token" }
            input #token type="password" name="token" autocomplete="current-password"
                required autofocus;
            input type="hidden" name="next" value=(next);
            button.primary type="submit" { "Sign in" }
            p.muted {
                "The admin's token is in the store's data directory (admin.token); a user's comes from "
                code { "kubectl create token <service-account>" } "."
            }
        }
    };
    layout::signed_out_document("Sign in", body)
}

async fn login(State(console): State<Console>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim();
    let next = safe_next(form.next.as_deref()).to_string();
    match identify(&console, token).await {
        Ok(user) => {
            tracing::info!(user = %user.name, "signed in to the console");
            let cookie = format!("{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/");
            let mut response = Redirect::to(&next).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(SET_COOKIE, value);
            }
            response
        }
        Err(SignInError::Refused) => (
            StatusCode::UNAUTHORIZED,
            login_document(
                &next,
                Some("The API server refused that token: it is not one it knows (or it has expired)."),
            ),
        )
            .into_response(),
        Err(SignInError::Other(error)) => error.into_response(),
    }
}

async fn logout(State(console): State<Console>, headers: HeaderMap) -> Response {
    if let Some(token) = request_token(&headers) {
        console.sessions.forget(&token);
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static(
            "strata_token=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        ),
    );
    response
}

/// Refuses a state-changing request whose `Origin` (when the browser sent one) is not this
/// site, so that another site cannot post forms with the user's cookie.
pub async fn same_origin(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && let Some(origin) = request.headers().get(ORIGIN) {
        let host = request.headers().get(HOST).and_then(|h| h.to_str().ok());
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, rest)| rest.trim_end_matches('/'));
        if host.is_none() || origin_host != host {
            return error_page(
                StatusCode::FORBIDDEN,
                "This form was sent from another site, so the console refused it.",
            );
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_from_cookie_or_bearer() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=b; strata_token=abc.def"),
        );
        assert_eq!(request_token(&headers).as_deref(), Some("abc.def"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer xyz"));
        assert_eq!(request_token(&headers).as_deref(), Some("xyz"));
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/apps?group=/prod")), "/apps?group=/prod");
        assert_eq!(safe_next(Some("//evil.example")), "/apps");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/apps");
        assert_eq!(safe_next(Some("/apps\r\nSet-Cookie: x=y")), "/apps");
        assert_eq!(safe_next(Some("https://evil.example")), "/apps");
        assert_eq!(safe_next(None), "/apps");
    }
}
