//! The API server's shared state: storage, the resource registry, authentication and
//! authorization, and the options it was started with. Request handlers and the built-in controllers (garbage collection,
//! namespace lifecycle) all act through [`ApiServer`].

use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::Authenticator;
use crate::rbac::Authorizer;
use crate::registry::Registry;
use crate::storage::{OpenError, Storage};

/// Options `strata server` passes in.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// How many events watches can replay before a 410 Expired.
    pub watch_history: usize,
    /// Seconds between BOOKMARK events on watches that asked for them.
    pub bookmark_interval_secs: u64,
}

impl Config {
    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            data_dir,
            watch_history: 20_000,
            bookmark_interval_secs: 60,
        }
    }
}

pub struct ApiServer {
    pub config: Config,
    pub storage: Storage,
    pub registry: Registry,
    pub auth: Authenticator,
    pub rbac: Authorizer,
}

pub type Shared = Arc<ApiServer>;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot use data directory {dir}: {source}")]
    DataDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the store in {dir} is in use by another strata (a `strata server` or `strata up` on \
         this data directory): stop it, or choose another --data-dir"
    )]
    InUse { dir: PathBuf },
    #[error("cannot open the store in {dir}: {message}")]
    Storage { dir: PathBuf, message: String },
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error("cannot install the built-in definition {name}: {message}")]
    Install { name: String, message: String },
}

impl ApiServer {
    /// Opens the data directory: storage, credentials, the built-in kinds, the stored CRDs, and
    /// strata's own CRDs and default namespaces (created or updated).
    pub async fn open(config: Config) -> Result<Shared, StartError> {
        let dir = config.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|source| StartError::DataDir {
            dir: dir.clone(),
            source,
        })?;
        let storage = Storage::open(
            &dir.join("store.redb"),
            crate::storage::Options {
                history: config.watch_history,
                ..Default::default()
            },
        )
        .map_err(|e| match e {
            OpenError::InUse => StartError::InUse { dir: dir.clone() },
            OpenError::Storage(message) => StartError::Storage {
                dir: dir.clone(),
                message,
            },
        })?;
        let auth = Authenticator::load_or_create(&dir)?;
        let registry = Registry::default();
        crate::builtins::register(&registry);
        let server = Arc::new(ApiServer {
            config,
            storage,
            registry,
            auth,
            rbac: Authorizer::default(),
        });
        server.rbac.reload(&server.storage);
        let crds = server
            .registry
            .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .expect("built-in");
        let (stored, _, _) = server
            .storage
            .list(&crds.storage, None, None, |_| true, None);
        for crd in stored {
            crate::crd::sync(&server.registry, &crd.key.name, Some(&crd.value()));
        }
        server.install().await?;
        crate::gc::start(server.clone());
        Ok(server)
    }

    /// Creates or updates what every strata store holds: its CRDs, the default namespaces and the
    /// default RBAC policy.
    async fn install(&self) -> Result<(), StartError> {
        let crds = self
            .registry
            .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .expect("built-in");
        let q = crate::request::Query {
            field_manager: Some("strata-server".into()),
            force: Some(true),
            ..Default::default()
        };
        for crd in strata_api::crds::all() {
            let value = serde_json::to_value(&crd).expect("CRDs serialize");
            let name = crd.metadata.name.clone().unwrap_or_default();
            let body = bytes::Bytes::from(value.to_string());
            self.patch(
                &crds,
                None,
                &name,
                None,
                crate::write::PatchType::Apply,
                &body,
                &q,
                None,
                None,
            )
            .await
            .map_err(|e| StartError::Install {
                name: name.clone(),
                message: e.message,
            })?;
        }
        self.install_rbac(&q).await?;
        let namespaces = self.registry.get("", "v1", "namespaces").expect("built-in");
        let strata = [
            crate::agent_restriction::AGENT_NAMESPACE,
            crate::agent_restriction::LEASE_NAMESPACE,
        ];
        for ns in ["default", "kube-system", "kube-public"]
            .into_iter()
            .chain(strata)
        {
            if self.current(&namespaces, None, ns).is_none() {
                let obj = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                match self
                    .create(&namespaces, None, obj, &q, "strata-server", None)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.reason == "AlreadyExists" => {}
                    Err(e) => {
                        return Err(StartError::Install {
                            name: ns.into(),
                            message: e.message,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies the default ClusterRoles and ClusterRoleBindings, except those an operator marked
    /// `rbac.authorization.kubernetes.io/autoupdate: "false"`.
    async fn install_rbac(&self, q: &crate::request::Query) -> Result<(), StartError> {
        use crate::rbac::bootstrap;
        for object in bootstrap::policy() {
            let kind = object["kind"].as_str().unwrap_or_default();
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let res = self
                .registry
                .by_kind(crate::rbac::GROUP, "v1", kind)
                .expect("built-in");
            let frozen = self.current(&res, None, name).is_some_and(|(_, stored)| {
                stored["metadata"]["annotations"][bootstrap::AUTOUPDATE] == "false"
            });
            if frozen {
                continue;
            }
            let body = bytes::Bytes::from(object.to_string());
            self.patch(
                &res,
                None,
                name,
                None,
                crate::write::PatchType::Apply,
                &body,
                q,
                None,
                None,
            )
            .await
            .map_err(|e| StartError::Install {
                name: format!("{kind} {name}"),
                message: e.message,
            })?;
        }
        Ok(())
    }
}

/// Serves the API over TLS on `listener` until `shutdown` resolves.
pub async fn serve(
    server: Shared,
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let app = crate::http::router(server);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(stream).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let io = hyper_util::rt::TokioIo::new(tls);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
