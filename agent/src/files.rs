//! The sandbox service: browse a task's sandbox and read its files over HTTP, as Mesos'
//! `/files/browse` and `/files/read` do, plus `/follow` to stream a file as it grows.
//!
//! Why it exists: a task's stdout and stderr live on its agent; operators and `strata logs`
//! read them from here. Who may read is decided by the store, not here: the caller's bearer
//! token is used to GET the Task from the store, so anyone allowed to read a Task (RBAC) may
//! read its sandbox and nobody else may (answers are cached for a few seconds). Paths are
//! relative to the sandbox (or absolute under it); anything that resolves outside — `..`,
//! absolute paths elsewhere, symlinks out — is refused with 403.
//!
//! Routes, under `/tasks/{namespace}/{name}`:
//! - `browse?path=DIR` — the entries of a directory, Mesos' JSON (path, size, mode, mtime,
//!   nlink, uid, gid).
//! - `read?path=FILE&offset=N&length=M` — `{"data": "...", "offset": N}`; offset -1 answers
//!   the file's size with no data, as Mesos does.
//! - `download?path=FILE` — the raw bytes.
//! - `follow?path=FILE&offset=N` — the bytes from offset on, streamed as they are written,
//!   until the task has ended and everything was sent.

use std::collections::HashMap;
use std::io::SeekFrom;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use kube::Api;
use serde::Deserialize;
use strata_api::task::Task;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::connect::Connect;
use crate::executor::shim;
use crate::workdir::WorkDir;

/// How long a positive authorization answer from the store is reused.
const AUTH_CACHE: Duration = Duration::from_secs(10);
/// The most a single read returns.
const MAX_LENGTH: u64 = 1024 * 1024;
/// How often `follow` looks for new bytes.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Who asked for which task: (token, namespace, name).
type Asked = (String, String, String);
/// What the store answered: the task's uid, and when.
type Allowed = (String, Instant);

/// The service's shared state.
#[derive(Clone)]
pub struct Files {
    agent: String,
    work: WorkDir,
    /// How to reach the store with each caller's own token.
    store: Connect,
    allowed: Arc<Mutex<HashMap<Asked, Allowed>>>,
}

impl Files {
    pub fn new(agent: &str, work: WorkDir, store: Connect) -> Files {
        Files {
            agent: agent.to_string(),
            work,
            store,
            allowed: Arc::default(),
        }
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/tasks/{namespace}/{name}/browse", get(browse))
            .route("/tasks/{namespace}/{name}/read", get(read))
            .route("/tasks/{namespace}/{name}/download", get(download))
            .route("/tasks/{namespace}/{name}/follow", get(follow))
            .with_state(self)
    }

    /// The sandbox of the task, when the caller may read the task.
    async fn authorize(
        &self,
        headers: &HeaderMap,
        namespace: &str,
        name: &str,
    ) -> Result<PathBuf, Refusal> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Refusal::new(StatusCode::UNAUTHORIZED, "a bearer token is required"))?
            .to_string();
        let key = (token.clone(), namespace.to_string(), name.to_string());
        let cached = self.allowed.lock().expect("auth cache").get(&key).cloned();
        let uid = match cached {
            Some((uid, at)) if at.elapsed() < AUTH_CACHE => uid,
            _ => {
                let uid = self.ask_store(&token, namespace, name).await?;
                let mut allowed = self.allowed.lock().expect("auth cache");
                allowed.retain(|_, (_, at)| at.elapsed() < AUTH_CACHE);
                allowed.insert(key, (uid.clone(), Instant::now()));
                uid
            }
        };
        let sandbox = self.work.sandbox(&uid);
        if !sandbox.is_dir() {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                format!(
                    "task {namespace}/{name} has no sandbox on agent {:?} (not launched yet, or collected)",
                    self.agent
                ),
            ));
        }
        Ok(sandbox)
    }

    async fn ask_store(&self, token: &str, namespace: &str, name: &str) -> Result<String, Refusal> {
        let client = self.store.client(token).map_err(|e| {
            Refusal::new(
                StatusCode::BAD_GATEWAY,
                format!("cannot reach the store: {e}"),
            )
        })?;
        let api: Api<Task> = Api::namespaced(client, namespace);
        let task = api.get(name).await.map_err(|e| match e {
            kube::Error::Api(status) => Refusal::new(
                StatusCode::from_u16(status.code).unwrap_or(StatusCode::FORBIDDEN),
                status.message,
            ),
            other => Refusal::new(
                StatusCode::BAD_GATEWAY,
                format!("cannot reach the store: {other}"),
            ),
        })?;
        if task.spec.agent != self.agent {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                format!(
                    "task {namespace}/{name} runs on agent {:?}, not on {:?}",
                    task.spec.agent, self.agent
                ),
            ));
        }
        Ok(task.metadata.uid.unwrap_or_default())
    }
}

/// A refused request: its status and a message for people, as a Kubernetes-like Status.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": self.message, "code": self.status.as_u16(),
        });
        (self.status, Json(body)).into_response()
    }
}

/// Resolves `path` (relative to the sandbox, or absolute under it) to a file in the sandbox.
pub fn resolve(sandbox: &Path, path: &str) -> Result<PathBuf, Refusal> {
    let outside = || {
        Refusal::new(
            StatusCode::FORBIDDEN,
            format!("path {path:?} is outside the task's sandbox"),
        )
    };
    let requested = Path::new(path);
    let relative = if requested.is_absolute() {
        requested.strip_prefix(sandbox).map_err(|_| outside())?
    } else {
        requested
    };
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(outside());
    }
    let joined = sandbox.join(relative);
    let real = joined.canonicalize().map_err(|_| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            format!("no file {path:?} in the task's sandbox"),
        )
    })?;
    let root = sandbox.canonicalize().map_err(|_| outside())?;
    if !real.starts_with(&root) {
        return Err(outside());
    }
    Ok(real)
}

#[derive(Deserialize)]
struct PathQuery {
    #[serde(default)]
    path: Option<String>,
}

#[derive(Deserialize)]
struct ReadQuery {
    path: String,
    #[serde(default)]
    offset: Option<i64>,
    #[serde(default)]
    length: Option<u64>,
}

async fn browse(
    State(files): State<Files>,
    UrlPath((namespace, name)): UrlPath<(String, String)>,
    Query(query): Query<PathQuery>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let sandbox = files.authorize(&headers, &namespace, &name).await?;
    let dir = resolve(&sandbox, query.path.as_deref().unwrap_or("."))?;
    let mut entries = Vec::new();
    let mut listing = tokio::fs::read_dir(&dir)
        .await
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, format!("not a directory: {e}")))?;
    while let Ok(Some(entry)) = listing.next_entry().await {
        let Ok(meta) = entry.metadata().await else {
            continue;
        };
        entries.push(serde_json::json!({
            "path": entry.path().display().to_string(),
            "size": meta.len(),
            "mode": mode_string(meta.is_dir(), meta.permissions().mode()),
            "mtime": meta.mtime(),
            "nlink": meta.nlink(),
            "uid": meta.uid().to_string(),
            "gid": meta.gid().to_string(),
        }));
    }
    entries.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    Ok(Json(entries).into_response())
}

/// `ls -l` style mode, as Mesos' browse answers it.
fn mode_string(dir: bool, mode: u32) -> String {
    let mut s = String::from(if dir { "d" } else { "-" });
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

async fn read(
    State(files): State<Files>,
    UrlPath((namespace, name)): UrlPath<(String, String)>,
    Query(query): Query<ReadQuery>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let sandbox = files.authorize(&headers, &namespace, &name).await?;
    let file = resolve(&sandbox, &query.path)?;
    let size = tokio::fs::metadata(&file)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    let offset = match query.offset {
        None => 0,
        Some(-1) => {
            return Ok(Json(serde_json::json!({ "data": "", "offset": size })).into_response());
        }
        Some(n) if n < 0 => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "offset must be -1 (the size) or at least 0",
            ));
        }
        Some(n) => n as u64,
    };
    let length = query.length.unwrap_or(MAX_LENGTH).min(MAX_LENGTH);
    let data = read_range(&file, offset, length).await.map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("cannot read {:?}: {e}", query.path),
        )
    })?;
    let body = serde_json::json!({ "data": String::from_utf8_lossy(&data), "offset": offset });
    Ok(Json(body).into_response())
}

async fn read_range(file: &Path, offset: u64, length: u64) -> std::io::Result<Vec<u8>> {
    let mut f = tokio::fs::File::open(file).await?;
    f.seek(SeekFrom::Start(offset)).await?;
    let mut data = Vec::new();
    f.take(length).read_to_end(&mut data).await?;
    Ok(data)
}

async fn download(
    State(files): State<Files>,
    UrlPath((namespace, name)): UrlPath<(String, String)>,
    Query(query): Query<ReadQuery>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let sandbox = files.authorize(&headers, &namespace, &name).await?;
    let file = resolve(&sandbox, &query.path)?;
    let bytes = tokio::fs::read(&file).await.map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("cannot read {:?}: {e}", query.path),
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

async fn follow(
    State(files): State<Files>,
    UrlPath((namespace, name)): UrlPath<(String, String)>,
    Query(query): Query<ReadQuery>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let sandbox = files.authorize(&headers, &namespace, &name).await?;
    let file = resolve(&sandbox, &query.path)?;
    let offset = query.offset.unwrap_or(0).max(0) as u64;
    let stream = futures::stream::unfold(
        (file, sandbox, offset, false),
        |(file, sandbox, offset, done)| async move {
            if done {
                return None;
            }
            loop {
                // Read the end marker before the file, so the bytes written before the end are
                // all sent before the stream stops.
                let ended =
                    shim::exit_file(&sandbox).exists() || sandbox.join(".strata/finished").exists();
                match read_range(&file, offset, MAX_LENGTH).await {
                    Ok(data) if !data.is_empty() => {
                        let next = offset + data.len() as u64;
                        return Some((Ok::<_, std::io::Error>(data), (file, sandbox, next, false)));
                    }
                    Ok(_) if ended => return None,
                    Ok(_) => tokio::time::sleep(FOLLOW_POLL).await,
                    Err(e) => return Some((Err(e), (file, sandbox, offset, true))),
                }
            }
        },
    );
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(stream),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_sandbox_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = dir.path().join("sandbox");
        std::fs::create_dir_all(sandbox.join("sub")).unwrap();
        std::fs::write(sandbox.join("stdout"), "hi").unwrap();
        std::fs::write(dir.path().join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), sandbox.join("link")).unwrap();

        assert!(resolve(&sandbox, "stdout").is_ok());
        assert!(resolve(&sandbox, "./sub").is_ok());
        let absolute = sandbox.canonicalize().unwrap().join("stdout");
        assert!(resolve(&sandbox.canonicalize().unwrap(), absolute.to_str().unwrap()).is_ok());
        for bad in [
            "../../etc/passwd",
            "../secret",
            "/etc/passwd",
            "sub/../../secret",
            "link",
        ] {
            let refusal = resolve(&sandbox, bad).unwrap_err();
            assert_eq!(refusal.status, StatusCode::FORBIDDEN, "{bad}: {refusal:?}");
            assert!(
                refusal.message.contains("outside the task's sandbox"),
                "{}",
                refusal.message
            );
        }
    }

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(mode_string(false, 0o644), "-rw-r--r--");
        assert_eq!(mode_string(true, 0o755), "drwxr-xr-x");
    }
}
