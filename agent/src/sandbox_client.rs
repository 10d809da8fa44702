//! A client of an agent's sandbox service (`crate::files`), acting with the caller's token:
//! `strata logs` and the web console's Sandbox page both read tasks' files through it.
//!
//! Why it exists: a task's files live on its agent, and the agent asks the store whether the
//! caller may read the task. So callers pass their own bearer token along and show what the
//! agent answers. The protocol is Mesos' `/files`: `browse`, `read` (offset/length, offset -1
//! for the size), `download`, plus strata's `follow` (the bytes as they are written).
//! [`AgentSandbox`] is the protocol; [`SandboxFile`] is one file of it copied to a writer, the
//! way `strata logs` prints it.

use std::fmt;
use std::io::Write;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

/// One task's sandbox as served by its agent.
#[derive(Clone)]
pub struct AgentSandbox {
    /// The agent's sandbox service, the task's `status.sandbox.url`.
    pub base: String,
    pub namespace: String,
    pub task: String,
    /// The caller's bearer token, passed to the agent (none: ask anonymously).
    token: Option<String>,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl fmt::Debug for AgentSandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentSandbox")
            .field("base", &self.base)
            .field("namespace", &self.namespace)
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

/// Why the agent gave no answer to show.
#[derive(Debug)]
pub enum AgentError {
    /// The agent's sandbox service did not answer (down, unreachable, not HTTP).
    Unreachable { base: String, detail: String },
    /// The agent answered with an error status: its refusal, worded by the agent.
    Refused { status: StatusCode, message: String },
    /// The agent answered something that is not what its protocol says.
    Garbled(String),
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Unreachable { base, detail } => write!(
                f,
                "the agent's sandbox service at {base} does not answer ({detail}); the agent may be \
                 down or unreachable from here"
            ),
            AgentError::Refused { status, message } => {
                write!(f, "the agent refused ({}): {message}", status.as_u16())
            }
            AgentError::Garbled(detail) => {
                write!(f, "the agent answered something unexpected: {detail}")
            }
        }
    }
}

impl std::error::Error for AgentError {}

/// One entry of a sandbox directory, as `browse` lists it (Mesos' JSON).
#[derive(Clone, Debug, Deserialize)]
pub struct Entry {
    /// Path of the entry on the agent.
    pub path: String,
    pub size: u64,
    /// `ls -l` style, e.g. `drwxr-xr-x`.
    pub mode: String,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

impl Entry {
    /// The entry's own name (the last part of its path).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    pub fn is_dir(&self) -> bool {
        self.mode.starts_with('d')
    }
}

/// The end of a file, as [`AgentSandbox::tail`] reads it.
#[derive(Clone, Debug, Default)]
pub struct Tail {
    /// The last bytes of the file, as text (invalid UTF-8 replaced).
    pub text: String,
    /// The file's size when it was read: where following it goes on from.
    pub size: u64,
    /// Whether the file holds more than `text` (it was cut to the last bytes).
    pub truncated: bool,
}

/// One `read` answer.
#[derive(Deserialize)]
pub struct Chunk {
    pub data: String,
    /// Where `data` starts; the file's size when asked with offset -1.
    #[serde(default)]
    pub offset: u64,
}

impl AgentSandbox {
    /// The sandbox of task `namespace/task` at the agent's service `base`, read with `token`.
    pub fn new(base: &str, namespace: &str, task: &str, token: Option<&str>) -> AgentSandbox {
        AgentSandbox {
            base: base.trim_end_matches('/').to_string(),
            namespace: namespace.to_string(),
            task: task.to_string(),
            token: token.map(str::to_string),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    fn url(&self, action: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!(
            "{}/tasks/{}/{}/{action}",
            self.base,
            encode(&self.namespace),
            encode(&self.task)
        );
        for (i, (key, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(key);
            url.push('=');
            url.push_str(&encode(value));
        }
        url
    }

    /// GETs `action` with `query`; an error status becomes [`AgentError::Refused`] with the
    /// agent's message.
    async fn get(
        &self,
        action: &str,
        query: &[(&str, &str)],
    ) -> Result<http::Response<Incoming>, AgentError> {
        let mut request = http::Request::get(self.url(action, query));
        if let Some(token) = &self.token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| AgentError::Unreachable {
                base: self.base.clone(),
                detail: format!("not a usable URL: {e}"),
            })?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| AgentError::Unreachable {
                base: self.base.clone(),
                detail: error_chain(&e),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(String::from))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
        Err(AgentError::Refused { status, message })
    }

    async fn json<T: for<'de> Deserialize<'de>>(
        &self,
        action: &str,
        query: &[(&str, &str)],
    ) -> Result<T, AgentError> {
        let body = self
            .get(action, query)
            .await?
            .into_body()
            .collect()
            .await
            .map_err(|e| AgentError::Garbled(e.to_string()))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| AgentError::Garbled(e.to_string()))
    }

    /// The entries of directory `path` (relative to the sandbox), directories first, by name.
    pub async fn browse(&self, path: &str) -> Result<Vec<Entry>, AgentError> {
        let mut entries: Vec<Entry> = self.json("browse", &[("path", path)]).await?;
        entries.sort_by(|a, b| b.is_dir().cmp(&a.is_dir()).then(a.name().cmp(b.name())));
        Ok(entries)
    }

    /// One `read` of `length` bytes of file `path` at `offset` (-1: just the size, in
    /// [`Chunk::offset`]).
    pub async fn read(&self, path: &str, offset: i64, length: u64) -> Result<Chunk, AgentError> {
        let (offset, length) = (offset.to_string(), length.to_string());
        self.json(
            "read",
            &[("path", path), ("offset", &offset), ("length", &length)],
        )
        .await
    }

    /// The size of file `path` now.
    pub async fn size(&self, path: &str) -> Result<u64, AgentError> {
        Ok(self.read(path, -1, 0).await?.offset)
    }

    /// The last `limit` bytes of file `path`.
    pub async fn tail(&self, path: &str, limit: u64) -> Result<Tail, AgentError> {
        let size = self.size(path).await?;
        let start = size.saturating_sub(limit);
        let length = size - start;
        if length == 0 {
            return Ok(Tail {
                size,
                ..Tail::default()
            });
        }
        // Exactly the bytes up to `size` (the file only grows), so following goes on from there.
        let chunk = self.read(path, start as i64, length).await?;
        Ok(Tail {
            text: chunk.data,
            size,
            truncated: start > 0,
        })
    }

    /// The raw bytes of file `path`, streamed.
    pub async fn download(&self, path: &str) -> Result<Incoming, AgentError> {
        Ok(self.get("download", &[("path", path)]).await?.into_body())
    }

    /// The bytes of file `path` from `offset` on, streamed as they are written, until the task
    /// has ended (or the body is dropped).
    pub async fn follow(&self, path: &str, offset: u64) -> Result<Incoming, AgentError> {
        let offset = offset.to_string();
        Ok(self
            .get("follow", &[("path", path), ("offset", &offset)])
            .await?
            .into_body())
    }
}

/// One sandbox file of one task, as served by its agent at `base` (the task's
/// `status.sandbox.url`), copied to a writer: what `strata logs` prints.
pub struct SandboxFile {
    pub base: String,
    pub namespace: String,
    pub task: String,
    pub path: String,
    pub token: Option<String>,
}

/// Page size of reads.
const PAGE: u64 = 64 * 1024;

impl SandboxFile {
    fn sandbox(&self) -> AgentSandbox {
        AgentSandbox::new(
            &self.base,
            &self.namespace,
            &self.task,
            self.token.as_deref(),
        )
    }

    /// Copies the whole file, as it is now, to `out`.
    pub async fn read_to(&self, out: &mut impl Write) -> anyhow::Result<()> {
        self.read_from(0, out).await
    }

    /// Copies the file from byte `offset` on, as it is now, to `out`.
    pub async fn read_from(&self, mut offset: u64, out: &mut impl Write) -> anyhow::Result<()> {
        let sandbox = self.sandbox();
        loop {
            let chunk = sandbox.read(&self.path, offset as i64, PAGE).await?;
            if chunk.data.is_empty() {
                return Ok(());
            }
            out.write_all(chunk.data.as_bytes())?;
            offset += chunk.data.len() as u64;
        }
    }

    /// Copies the file to `out` as it grows, until the task has ended.
    pub async fn follow_to(&self, out: &mut impl Write) -> anyhow::Result<()> {
        self.follow_from(0, out).await
    }

    /// Copies the file from byte `offset` on to `out` as it grows, until the task has ended.
    pub async fn follow_from(&self, offset: u64, out: &mut impl Write) -> anyhow::Result<()> {
        let mut body = self.sandbox().follow(&self.path, offset).await?;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                out.write_all(&data)?;
                out.flush()?;
            }
        }
        Ok(())
    }

    /// Where the last `lines` lines of the file start (a last line without a newline counts),
    /// read backwards a page at a time: `tail -n` without reading the whole file.
    pub async fn tail_offset(&self, lines: usize) -> anyhow::Result<u64> {
        let sandbox = self.sandbox();
        let size = sandbox.size(&self.path).await?;
        if lines == 0 {
            return Ok(size);
        }
        let mut end = size;
        let mut newlines = 0;
        while end > 0 {
            let start = end.saturating_sub(PAGE);
            let data = sandbox
                .read(&self.path, start as i64, end - start)
                .await?
                .data;
            for (i, byte) in data.bytes().enumerate().rev() {
                let at = start + i as u64;
                if byte == b'\n' && at + 1 < size {
                    newlines += 1;
                    if newlines == lines {
                        return Ok(at + 1);
                    }
                }
            }
            end = start;
        }
        Ok(0)
    }
}

/// An error with its sources, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Percent-encodes a path segment or query value (keeps `/` readable in paths).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_their_parts() {
        let sandbox = AgentSandbox::new("http://agent:5051/", "team a", "web.1", Some("t"));
        assert_eq!(
            sandbox.url("read", &[("path", "logs/a b&c"), ("offset", "-1")]),
            "http://agent:5051/tasks/team%20a/web.1/read?path=logs/a%20b%26c&offset=-1"
        );
    }

    #[test]
    fn entries_know_their_names() {
        let entry = Entry {
            path: "/work/sandboxes/u1/logs".into(),
            size: 0,
            mode: "drwxr-xr-x".into(),
            mtime: 0,
        };
        assert_eq!(entry.name(), "logs");
        assert!(entry.is_dir());
    }
}
