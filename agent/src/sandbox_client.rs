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
        let mut offset = 0u64;
        loop {
            let url = self.url("read", &format!("&offset={offset}&length={PAGE}"));
            let body = self
                .get(&url)
                .await?
                .into_body()
                .collect()
                .await?
                .to_bytes();
            let chunk: Chunk = serde_json::from_slice(&body)?;
            if chunk.data.is_empty() {
                return Ok(());
            }
            out.write_all(chunk.data.as_bytes())?;
            offset += chunk.data.len() as u64;
        }
    }

    /// Copies the file to `out` as it grows, until the task has ended.
    pub async fn follow_to(&self, out: &mut impl Write) -> anyhow::Result<()> {
        let mut body = self
            .get(&self.url("follow", "&offset=0"))
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
