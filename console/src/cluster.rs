//! The Cluster page: agents, their resources and what is allocated on them.
//!
//! A placeholder until its pages are written; it must only call the store with the signed-in
//! user's client.

use axum::Router;

use crate::Console;

/// The Cluster pages.
pub fn routes() -> Router<Console> {
    Router::new()
}
