//! The embedded, Kubernetes-compatible API server: durable storage with a revision log and watch
//! cache, the REST surface kubectl, kube-rs, Helm and the Python client use, discovery, OpenAPI v3,
//! tables, patches and server-side apply, validation, authentication and authorization (RBAC),
//! garbage collection.
//!
//! Every other strata component talks to this server only through the Kubernetes API, so the same
//! components run against a real kube-apiserver.
#![forbid(unsafe_code)]

pub mod admission;
pub mod agent_restriction;
pub mod apply;
pub mod auth;
pub mod authz;
pub mod body;
pub mod builtins;
pub mod crd;
pub mod discovery;
pub mod errors;
pub mod gc;
pub mod http;
pub mod jsonpath;
pub mod kubeconfig;
pub mod openapi;
pub mod openapi_v2;
pub mod ordered;
pub mod patch;
pub mod protobuf;
pub mod rbac;
pub mod read;
pub mod registry;
pub mod request;
pub mod schema;
pub mod selectors;
pub mod server;
pub mod storage;
pub mod strata_validation;
pub mod table;
pub mod tls;
pub mod token_request;
pub mod watch;
pub mod write;
