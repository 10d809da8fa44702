//! The web console: Marathon's UI, served by strata itself at :8080.
//!
//! Why it exists: the seed's "connect to localhost:8080" opens Marathon's UI; strata's opens this.
//! It is server-rendered HTML (maud) with a little plain JavaScript for live updates, and it is an
//! ordinary client of the API: every page is built with the signed-in user's own token, so the
//! store's RBAC decides what each user sees and may do.
//!
//! Shape: [`router`] builds the whole site over a [`Console`] state. [`session`] signs users in
//! and gives handlers a [`session::User`] (a store client acting as them); [`layout`] renders the
//! page frame and the pieces pages share; [`error::AppError`] turns a failed call into a page.
//! Each group of pages is a module with `routes() -> Router<Console>`. docs/console.md lists
//! the routes and the element ids browser tests rely on.

pub mod app_page;
pub mod apps;
pub mod cluster;
pub mod deployments;
pub mod edit_app;
pub mod error;
pub mod layout;
pub mod listing;
pub mod new_app;
pub mod sandbox;
pub mod session;

use axum::Router;
use axum::response::Redirect;
use axum::routing::get;
use strata_agent::connect::Connect;

/// What every handler of the console shares.
#[derive(Clone, Debug)]
pub struct Console {
    /// Makes store clients acting as a token's holder.
    pub connect: Connect,
    /// Recently validated tokens, so that each page does not ask the store who the user is.
    pub sessions: session::Sessions,
}

impl Console {
    /// A console whose clients `connect` makes.
    pub fn new(connect: Connect) -> Console {
        Console {
            connect,
            sessions: session::Sessions::default(),
        }
    }
}

/// The whole console, ready to serve (e.g. with `axum::serve`) or to call in tests with
/// `tower::ServiceExt::oneshot`.
pub fn router(connect: Connect) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/apps") }))
        .merge(session::routes())
        .merge(apps::routes())
        .merge(app_page::routes())
        .merge(new_app::routes())
        .merge(edit_app::routes())
        .merge(deployments::routes())
        .merge(cluster::routes())
        .merge(sandbox::routes())
        .fallback(|| async {
            error::error_page(http::StatusCode::NOT_FOUND, "There is no such page here.")
        })
        .layer(axum::middleware::from_fn(session::same_origin))
        .with_state(Console::new(connect))
}
