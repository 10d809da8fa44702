//! The Sandbox page: a task's sandbox files and its stdout/stderr, read through the agent.
//!
//! A placeholder until its pages are written; it must only act with the signed-in user's token.

use axum::Router;

use crate::Console;

/// The Sandbox pages (`/sandbox/{namespace}/{task}`).
pub fn routes() -> Router<Console> {
    Router::new()
}
