//! How to reach the store as a given user: a kube client for a bearer token.
//!
//! Why it exists: the sandbox service and the web console act with each caller's own token, so
//! the store's RBAC decides what that caller may read. Over the network that is the store's URL
//! and CA with the token put in; in `strata up` it is the store's router in the same process
//! ([`Connect::over_router`]).
//! Both are one `Connect`, and the code that uses it does not know which.

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;
use http::header::AUTHORIZATION;
use kube::Client;

/// A function making a client for a token.
type MakeClient = dyn Fn(&str) -> anyhow::Result<Client> + Send + Sync;

/// Makes a client of the store that authenticates with a given bearer token.
#[derive(Clone)]
pub struct Connect {
    make: Arc<MakeClient>,
    /// Where the store is, for messages (a URL, or "in-process").
    pub describe: String,
}

impl Connect {
    /// Clients made by `make`, described as `describe` in messages.
    pub fn new(
        describe: impl Into<String>,
        make: impl Fn(&str) -> anyhow::Result<Client> + Send + Sync + 'static,
    ) -> Connect {
        Connect {
            make: Arc::new(make),
            describe: describe.into(),
        }
    }

    /// Clients of the store `config` points at (its cluster URL and CA), with the caller's token
    /// instead of the config's own credentials.
    pub fn from_config(config: kube::Config) -> Connect {
        let describe = config.cluster_url.to_string();
        Connect::new(describe, move |token| {
            let mut config = config.clone();
            config.auth_info = kube::config::AuthInfo {
                token: Some(token.to_string().into()),
                ..kube::config::AuthInfo::default()
            };
            Ok(Client::try_from(config)?)
        })
    }

    /// Clients that call `router` — the store's, in this very process — directly: no TLS, no
    /// socket, the same authentication and authorization (each request carries its token like
    /// any other). DESIGN's all-in-one mode (`strata up`).
    pub fn over_router(router: axum::Router) -> Connect {
        Connect::new("the store in this process", move |token| {
            let bearer = HeaderValue::from_str(&format!("Bearer {token}"))?;
            let service = tower::ServiceBuilder::new()
                .map_request(move |mut request: http::Request<kube::client::Body>| {
                    request.headers_mut().insert(AUTHORIZATION, bearer.clone());
                    request
                })
                .service(router.clone());
            Ok(Client::new(service, "default"))
        })
    }

    /// A client acting as the holder of `token`.
    pub fn client(&self, token: &str) -> anyhow::Result<Client> {
        (self.make)(token)
    }
}

impl fmt::Debug for Connect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connect")
            .field("store", &self.describe)
            .finish()
    }
}
