//! A client of the sandbox service, for `strata logs`.
//!
//! Why it exists: the CLI reads a task's stdout or stderr from the agent that ran it, with the
//! user's own token (the agent asks the store whether that user may read the task). Reading is
//! Mesos' offset/length protocol in pages; following streams the file until the task ends.

use std::io::Write;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

/// One sandbox file of one task, as served by its agent at `base` (the task's
/// `status.sandbox.url`).
pub struct SandboxFile {
    pub base: String,
    pub namespace: String,
    pub task: String,
    pub path: String,
    pub token: Option<String>,
}

#[derive(Deserialize)]
struct Chunk {
    data: String,
    /// Where `data` starts; the file's size when asked with offset -1.
    #[serde(default)]
    offset: u64,
}

/// Page size of reads.
const PAGE: u64 = 64 * 1024;

impl SandboxFile {
    fn url(&self, action: &str, query: &str) -> String {
        let path: String = form_encode(&self.path);
        format!(
            "{}/tasks/{}/{}/{action}?path={path}{query}",
            self.base.trim_end_matches('/'),
            self.namespace,
            self.task
        )
    }

    async fn get(&self, url: &str) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
        let client: Client<HttpConnector, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let mut request = hyper::Request::get(url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = client
            .request(request.body(Empty::new())?)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot reach the agent's sandbox service at {}: {e}",
                    self.base
                )
            })?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(String::from))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            anyhow::bail!("the agent refused ({status}): {message}");
        }
        Ok(response)
    }

    /// Copies the whole file, as it is now, to `out`.
    pub async fn read_to(&self, out: &mut impl Write) -> anyhow::Result<()> {
        self.read_from(0, out).await
    }

    /// Copies the file from byte `offset` on, as it is now, to `out`.
    pub async fn read_from(&self, mut offset: u64, out: &mut impl Write) -> anyhow::Result<()> {
        loop {
            let chunk = self.chunk(offset as i64, PAGE).await?;
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
        let mut body = self
            .get(&self.url("follow", &format!("&offset={offset}")))
            .await?
            .into_body();
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
        let size = self.chunk(-1, 0).await?.offset;
        if lines == 0 {
            return Ok(size);
        }
        let mut end = size;
        let mut newlines = 0;
        while end > 0 {
            let start = end.saturating_sub(PAGE);
            let data = self.chunk(start as i64, end - start).await?.data;
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

    /// One `read` of `length` bytes at `offset` (-1: the size).
    async fn chunk(&self, offset: i64, length: u64) -> anyhow::Result<Chunk> {
        let url = self.url("read", &format!("&offset={offset}&length={length}"));
        let body = self
            .get(&url)
            .await?
            .into_body()
            .collect()
            .await?
            .to_bytes();
        Ok(serde_json::from_slice(&body)?)
    }
}

/// Percent-encodes a query value.
fn form_encode(value: &str) -> String {
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
