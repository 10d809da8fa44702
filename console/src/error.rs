//! What a page shows when the store (or the console) says no.
//!
//! Why it exists: the console is a client of the API, so most failures are the store's answer
//! (403 forbidden, 404 not found, 409 conflict, 422 invalid). Those are the user's business and
//! are shown as the store worded them, with the store's HTTP code. Anything else (the store
//! unreachable, a bug) is logged and shown as a plain 500: internal details never reach the
//! page.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use maud::html;
use strata_controllers::marathon::actions::ActionError;

use crate::layout;

/// A failure a handler returns; its response is an error page.
#[derive(Debug)]
pub enum AppError {
    /// The store answered a call with an error Status (forbidden, not found, invalid, ...).
    Api(Box<kube::core::Status>),
    /// A mistake in the request itself, shown as it is (400).
    BadRequest(String),
    /// Something that is not there (404), described for the user.
    NotFound(String),
    /// Anything else: logged, and shown as "internal error" only.
    Internal(anyhow::Error),
}

impl AppError {
    /// The HTTP status the page is served with.
    pub fn status_code(&self) -> StatusCode {
        match self {
            AppError::Api(status) => {
                StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the page says: the store's own message, "you may not ..." for a 403.
    pub fn message(&self) -> String {
        match self {
            AppError::Api(status) => api_message(status),
            AppError::BadRequest(message) | AppError::NotFound(message) => message.clone(),
            AppError::Internal(_) => {
                "The console failed to do that (an internal error; the server log says why)."
                    .to_string()
            }
        }
    }

    /// True when the store refused because the user lacks the permission.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, AppError::Api(status) if status.code == 403)
    }

    /// True when the store said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, AppError::Api(status) if status.code == 404)
    }
}

/// The message of a Status, phrased for a person: a 403 reads "You may not ...".
pub fn api_message(status: &kube::core::Status) -> String {
    if status.code == 403 {
        // The store words it as kube-apiserver does: `apps.strata.io "web" is forbidden: User
        // "x" cannot delete resource ...`. Keep the reason, say plainly what it means.
        let reason = status
            .message
            .split_once("forbidden: ")
            .map_or(status.message.as_str(), |(_, why)| why);
        return format!("You may not do this: {reason}");
    }
    if status.message.is_empty() {
        format!(
            "The API server refused: {} ({})",
            status.reason, status.code
        )
    } else {
        status.message.clone()
    }
}

impl From<kube::Error> for AppError {
    fn from(error: kube::Error) -> AppError {
        match error {
            kube::Error::Api(status) => AppError::Api(status),
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(error: anyhow::Error) -> AppError {
        match error.downcast::<kube::Error>() {
            Ok(kube) => kube.into(),
            Err(other) => AppError::Internal(other),
        }
    }
}

/// A shared app action's failure (`marathon::actions`), worded for the console's user.
impl From<ActionError> for AppError {
    fn from(error: ActionError) -> AppError {
        match error {
            ActionError::Api { source, .. } => source.into(),
            ActionError::NoApp { namespace, name } => {
                AppError::NotFound(format!("App {namespace}/{name} does not exist."))
            }
            ActionError::NoTask { namespace, name } => {
                AppError::NotFound(format!("Task {namespace}/{name} does not exist."))
            }
            ActionError::AppChanged {
                namespace, name, ..
            } => AppError::BadRequest(format!(
                "App {namespace}/{name} changed while this was being done (someone else updated \
                 it); nothing was changed: try again."
            )),
            ActionError::TaskWithoutApp { namespace, task } => AppError::BadRequest(format!(
                "Task {namespace}/{task} belongs to no app, so there is no app to scale down: \
                 kill it without scaling down."
            )),
            ActionError::NoInstances { namespace, app } => AppError::BadRequest(format!(
                "App {namespace}/{app} already runs 0 instances: kill the task without scaling \
                 down."
            )),
            ActionError::NotKilled { source, .. } => AppError::from(*source),
            ActionError::NoVersion { namespace, app } => AppError::BadRequest(format!(
                "App {namespace}/{app} has no version yet (the Marathon controller has not seen \
                 it), so there are no launches to stop."
            )),
            other => AppError::BadRequest(format!("{other}.")),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(error) = &self {
            tracing::error!(error = format!("{error:#}"), "console request failed");
        }
        let code = self.status_code();
        error_page(code, &self.message())
    }
}

/// A whole error page (without the user's bar: it may be shown before anyone signed in).
pub fn error_page(code: StatusCode, message: &str) -> Response {
    let title = code.canonical_reason().unwrap_or("Error");
    let body = html! {
        div.error-box {
            h1 { (code.as_u16()) " " (title) }
            p.error-message { (message) }
            p { a href="javascript:history.back()" { "Back" } " · " a href="/apps" { "Apps" } }
        }
    };
    (code, layout::document(title, None, None, body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str) -> kube::core::Status {
        kube::core::Status {
            code,
            message: message.to_string(),
            ..kube::core::Status::default()
        }
    }

    #[test]
    fn forbidden_reads_you_may_not() {
        let error = AppError::Api(Box::new(status(
            403,
            r#"apps.strata.io "web" is forbidden: User "alice" cannot delete resource "apps""#,
        )));
        assert_eq!(error.status_code(), StatusCode::FORBIDDEN);
        assert_eq!(
            error.message(),
            r#"You may not do this: User "alice" cannot delete resource "apps""#
        );
    }

    #[test]
    fn internal_errors_are_hidden() {
        let error = AppError::Internal(anyhow::anyhow!("secret path /var/lib/x"));
        assert!(!error.message().contains("secret"));
        assert_eq!(error.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
