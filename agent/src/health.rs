//! Health checks run by the agent, with Marathon's semantics.
//!
//! Why it exists: a task that runs is not necessarily a task that serves. Each check probes the
//! task (HTTP or HTTPS GET answered with 200-399, a TCP connect, or a shell command exiting 0)
//! every `intervalSeconds`, after `delaySeconds`, giving up on a probe after `timeoutSeconds`.
//! Failures within `gracePeriodSeconds` of the start are ignored until the task is healthy for
//! the first time; after that, `maxConsecutiveFailures` failures in a row (0: never) make the
//! agent kill the task, as Marathon does. Probes go to the host port (`portIndex` into the
//! task's ports, or a fixed `port`) on the loopback interface, which is where both process
//! tasks and Docker's published ports listen.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use strata_api::health::{HealthCheck, HealthCheckProtocol};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::executor::Handle;

/// One check's verdict, sent to the task's supervisor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Index of the check in the task's healthChecks.
    pub check: usize,
    pub healthy: bool,
    /// What the probe saw, e.g. "HTTP GET http://127.0.0.1:31000/ answered 503".
    pub message: String,
    /// The check failed maxConsecutiveFailures times in a row: kill the task.
    pub kill: bool,
}

/// What one check probes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Probe {
    Http {
        addr: SocketAddr,
        path: String,
        tls: bool,
    },
    Tcp {
        addr: SocketAddr,
    },
    Command {
        command: String,
    },
}

impl Probe {
    fn new(check: &HealthCheck, ports: &[u16]) -> Result<Probe, String> {
        let port = || {
            let index = check.port_index.unwrap_or(0) as usize;
            let port = check
                .port
                .or_else(|| ports.get(index).copied())
                .ok_or_else(|| {
                    format!(
                        "portIndex {index} names no port: the task has {} ports",
                        ports.len()
                    )
                })?;
            Ok::<_, String>(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        };
        Ok(match check.protocol {
            HealthCheckProtocol::HTTP | HealthCheckProtocol::HTTPS => Probe::Http {
                addr: port()?,
                path: check.path.clone().unwrap_or_else(|| "/".to_string()),
                tls: check.protocol == HealthCheckProtocol::HTTPS,
            },
            HealthCheckProtocol::TCP => Probe::Tcp { addr: port()? },
            HealthCheckProtocol::COMMAND => Probe::Command {
                command: check
                    .command
                    .as_ref()
                    .map(|c| c.value.clone())
                    .ok_or("a COMMAND health check needs command.value")?,
            },
        })
    }

    /// Runs the probe once: Ok(description) when healthy, Err(description) when not.
    async fn run(&self, handle: &dyn Handle) -> Result<String, String> {
        match self {
            Probe::Http { addr, path, tls } => {
                let scheme = if *tls { "https" } else { "http" };
                let what = format!("HTTP GET {scheme}://{addr}{path}");
                match http_status(*addr, path, *tls).await {
                    Ok(status) if (200..400).contains(&status) => {
                        Ok(format!("{what} answered {status}"))
                    }
                    Ok(status) => Err(format!("{what} answered {status}")),
                    Err(e) => Err(format!("{what} failed: {e}")),
                }
            }
            Probe::Tcp { addr } => match TcpStream::connect(addr).await {
                Ok(_) => Ok(format!("TCP connect to {addr} succeeded")),
                Err(e) => Err(format!("TCP connect to {addr} failed: {e}")),
            },
            Probe::Command { command } => match handle.exec(command).await {
                Ok(0) => Ok(format!("command {command:?} exited with status 0")),
                Ok(code) => Err(format!("command {command:?} exited with status {code}")),
                Err(e) => Err(format!("command {command:?} could not run: {e}")),
            },
        }
    }
}

/// Runs every check of a running task until the task ends (the supervisor drops the receiver)
/// or a check asks for the kill. `started` is when the task started running.
pub fn spawn_checks(
    checks: &[HealthCheck],
    ports: &[u16],
    handle: Arc<dyn Handle>,
    started: Instant,
    verdicts: mpsc::Sender<Verdict>,
) -> Vec<tokio::task::JoinHandle<()>> {
    checks
        .iter()
        .enumerate()
        .map(|(index, check)| {
            let probe = Probe::new(check, ports);
            let (check, handle, verdicts) = (check.clone(), handle.clone(), verdicts.clone());
            tokio::spawn(async move {
                match probe {
                    Ok(probe) => {
                        run_check(index, &check, &probe, &*handle, started, &verdicts).await
                    }
                    Err(e) => {
                        let _ = verdicts
                            .send(Verdict {
                                check: index,
                                healthy: false,
                                message: e,
                                kill: false,
                            })
                            .await;
                    }
                }
            })
        })
        .collect()
}

async fn run_check(
    index: usize,
    check: &HealthCheck,
    probe: &Probe,
    handle: &dyn Handle,
    started: Instant,
    verdicts: &mpsc::Sender<Verdict>,
) {
    let grace = Duration::from_secs(check.grace_period_seconds.into());
    let interval = Duration::from_secs(check.interval_seconds.max(1).into());
    let timeout = Duration::from_secs(check.timeout_seconds.max(1).into());
    tokio::time::sleep_until(started + Duration::from_secs(check.delay_seconds.into())).await;
    let mut ever_healthy = false;
    let mut failures = 0;
    loop {
        let result = match tokio::time::timeout(timeout, probe.run(handle)).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "the check took longer than its timeout of {}s",
                timeout.as_secs()
            )),
        };
        let verdict = match result {
            Ok(message) => {
                ever_healthy = true;
                failures = 0;
                Some(Verdict {
                    check: index,
                    healthy: true,
                    message,
                    kill: false,
                })
            }
            Err(_) if !ever_healthy && started.elapsed() < grace => None,
            Err(message) => {
                failures += 1;
                let kill = check.max_consecutive_failures > 0
                    && failures >= check.max_consecutive_failures;
                Some(Verdict {
                    check: index,
                    healthy: false,
                    message,
                    kill,
                })
            }
        };
        if let Some(verdict) = verdict {
            let kill = verdict.kill;
            if verdicts.send(verdict).await.is_err() || kill {
                return;
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// GETs `path` from `addr` and returns the response's status code.
pub(crate) async fn http_status(addr: SocketAddr, path: &str, tls: bool) -> anyhow::Result<u16> {
    let stream = TcpStream::connect(addr).await?;
    if tls {
        let connector = tokio_rustls::TlsConnector::from(insecure_tls());
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        let stream = connector.connect(name, stream).await?;
        return request_status(stream, addr, path).await;
    }
    request_status(stream, addr, path).await
}

async fn request_status<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    addr: SocketAddr,
    path: &str,
) -> anyhow::Result<u16> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: strata-health-check\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).await?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("not an HTTP response: {:?}", line.trim_end()))?;
    Ok(status)
}

/// A TLS client that accepts any server certificate: Marathon's and Mesos' HTTPS checks do not
/// verify either (a task's certificate is rarely issued for 127.0.0.1); the check asks "does it
/// answer", not "is it who it claims".
fn insecure_tls() -> Arc<rustls::ClientConfig> {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for AcceptAny {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use futures::future::BoxFuture;
    use tokio::net::TcpListener;

    use crate::executor::Outcome;

    struct NoHandle;
    impl Handle for NoHandle {
        fn record_data(&self) -> serde_json::Value {
            serde_json::Value::Null
        }
        fn wait(&self) -> BoxFuture<'_, Outcome> {
            futures::future::pending().boxed()
        }
        fn kill(&self, _: Duration) {}
        fn exec<'a>(&'a self, command: &'a str) -> BoxFuture<'a, anyhow::Result<i32>> {
            async move { Ok(if command == "true" { 0 } else { 1 }) }.boxed()
        }
        fn cleanup(&self) -> BoxFuture<'_, ()> {
            async {}.boxed()
        }
    }

    fn check(protocol: HealthCheckProtocol) -> HealthCheck {
        serde_json::from_value(serde_json::json!({
            "protocol": protocol, "gracePeriodSeconds": 0, "intervalSeconds": 1,
            "timeoutSeconds": 1, "maxConsecutiveFailures": 2, "delaySeconds": 0,
        }))
        .unwrap()
    }

    /// Serves one canned HTTP status to every connection.
    async fn http_server(status: u16) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await;
                let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn http_probe_reads_the_status() {
        let ok = http_server(204).await;
        let bad = http_server(503).await;
        let probe = Probe::new(&check(HealthCheckProtocol::HTTP), &[ok]).unwrap();
        assert!(probe.run(&NoHandle).await.is_ok());
        let probe = Probe::new(&check(HealthCheckProtocol::HTTP), &[bad]).unwrap();
        let err = probe.run(&NoHandle).await.unwrap_err();
        assert!(err.contains("answered 503"), "{err}");
    }

    #[tokio::test]
    async fn tcp_and_command_probes() {
        let open = http_server(200).await;
        let probe = Probe::new(&check(HealthCheckProtocol::TCP), &[open]).unwrap();
        assert!(probe.run(&NoHandle).await.is_ok());
        let mut command = check(HealthCheckProtocol::COMMAND);
        assert!(
            Probe::new(&command, &[]).is_err(),
            "a COMMAND check needs its command"
        );
        command.command = Some(strata_api::health::HealthCommand {
            value: "false".into(),
        });
        assert!(
            Probe::new(&command, &[])
                .unwrap()
                .run(&NoHandle)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn consecutive_failures_past_the_grace_period_ask_for_the_kill() {
        // Nothing listens on this port once the listener is dropped.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (tx, mut rx) = mpsc::channel(8);
        let _checks = spawn_checks(
            &[check(HealthCheckProtocol::TCP)],
            &[port],
            Arc::new(NoHandle),
            Instant::now(),
            tx,
        );
        let first = rx.recv().await.unwrap();
        assert!(!first.healthy && !first.kill, "{first:?}");
        let second = rx.recv().await.unwrap();
        assert!(
            second.kill,
            "the second failure in a row reaches maxConsecutiveFailures: {second:?}"
        );
        assert!(
            rx.recv().await.is_none(),
            "the check stops after asking for the kill"
        );
    }

    #[tokio::test]
    async fn failures_within_the_grace_period_are_ignored_until_healthy() {
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut graced = check(HealthCheckProtocol::TCP);
        graced.grace_period_seconds = 3600;
        let (tx, mut rx) = mpsc::channel(8);
        let _checks = spawn_checks(&[graced], &[port], Arc::new(NoHandle), Instant::now(), tx);
        let quiet = tokio::time::timeout(Duration::from_millis(2500), rx.recv()).await;
        assert!(
            quiet.is_err(),
            "no verdict while failing within the grace period: {quiet:?}"
        );
    }
}
