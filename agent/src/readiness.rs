//! Readiness checks run by the agent: Marathon's readinessChecks, next to the task.
//!
//! Why it exists: during a rollout a new instance may be running and even healthy but not yet
//! ready to serve (warming a cache, migrating); Marathon waits for its readiness checks before
//! replacing the next old instance. Unlike health checks they only need to pass once: each
//! check GETs its path on the task's host port (loopback) every `intervalSeconds`, giving up on
//! a probe after `timeoutSeconds`, until the answer is one of `httpStatusCodesForReady`; then
//! it reports and stops. Probing from the agent keeps the controller out of the data path.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use strata_api::app::ReadinessProtocol;
use strata_api::task::TaskReadinessCheck;
use tokio::sync::mpsc;

use crate::health::http_status;

/// Runs every check until it passes once, sending its index on `passed`.
pub fn spawn_checks(
    checks: &[TaskReadinessCheck],
    passed: mpsc::Sender<usize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    checks
        .iter()
        .enumerate()
        .map(|(index, check)| {
            let (check, passed) = (check.clone(), passed.clone());
            tokio::spawn(async move {
                until_ready(&check).await;
                let _ = passed.send(index).await;
            })
        })
        .collect()
}

/// Probes until the check passes.
async fn until_ready(check: &TaskReadinessCheck) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, check.port));
    let tls = check.protocol == ReadinessProtocol::HTTPS;
    let timeout = Duration::from_secs(check.timeout_seconds.max(1).into());
    let interval = Duration::from_secs(check.interval_seconds.max(1).into());
    loop {
        match tokio::time::timeout(timeout, http_status(addr, &check.path, tls)).await {
            Ok(Ok(code)) if check.http_status_codes_for_ready.contains(&code) => return,
            Ok(Ok(code)) => tracing::debug!(%addr, code, "not ready yet"),
            Ok(Err(e)) => tracing::debug!(%addr, error = %e, "not ready yet"),
            Err(_) => tracing::debug!(%addr, "readiness probe timed out"),
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server answering 503 to the first `busy` requests, then 200.
    async fn warming_server(busy: usize) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut served = 0;
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let status = if served < busy { "503 Busy" } else { "200 OK" };
                served += 1;
                let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn a_check_reports_once_the_answer_is_ready() {
        let port = warming_server(1).await;
        let (tx, mut rx) = mpsc::channel(1);
        let check = TaskReadinessCheck {
            protocol: ReadinessProtocol::HTTP,
            path: "/ready".into(),
            port,
            interval_seconds: 1,
            timeout_seconds: 1,
            http_status_codes_for_ready: vec![200],
        };
        let started = std::time::Instant::now();
        let _checks = spawn_checks(&[check], tx);
        assert_eq!(rx.recv().await, Some(0));
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "the first answer (503) was not ready"
        );
    }
}
