//! The Deployments page: Marathon's running deployments (strata's Rollouts) with their steps.
//!
//! A placeholder until its pages are written; it must only call the store with the signed-in
//! user's client.

use axum::Router;

use crate::Console;

/// The Deployments pages.
pub fn routes() -> Router<Console> {
    Router::new()
}
