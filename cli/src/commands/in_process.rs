//! A kube-rs client that reaches the embedded store in this very process: no TLS, no socket.
//!
//! Why it exists: DESIGN's all-in-one mode. When the store, the controllers and agents share a
//! process, their clients call the store's router directly — the same API, the same
//! authentication and authorization (every request carries its token like any other), none of
//! the cost of encrypting and parsing HTTP to talk to oneself.

use http::HeaderValue;
use http::header::AUTHORIZATION;
use strata_store::server::Shared;

/// A client of `server` acting with `token`; its default namespace is `default`.
pub fn client(server: Shared, token: &str) -> anyhow::Result<kube::Client> {
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))?;
    let service = tower::ServiceBuilder::new()
        .map_request(move |mut request: http::Request<kube::client::Body>| {
            request.headers_mut().insert(AUTHORIZATION, bearer.clone());
            request
        })
        .service(strata_store::http::router(server));
    Ok(kube::Client::new(service, "default"))
}
