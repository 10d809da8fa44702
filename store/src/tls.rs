//! The server's own certificate authority and serving certificate.
//!
//! Why it exists: the store is secure by default, so it never speaks plain HTTP, and nobody should
//! have to run openssl before the first `strata server`. On first start this module creates a CA
//! in `<data dir>/pki/` and a serving certificate signed by it; the admin kubeconfig carries the CA,
//! so kubectl, kube-rs, Helm and the Python client verify the server like any real cluster.
//!
//! Key choice: ECDSA P-256 with SHA-256. It is the one algorithm that rustls with ring, Go's
//! crypto/x509 (kubectl, Helm) and OpenSSL (the Python client) all accept for both signing and
//! TLS; Ed25519 certificates are still refused by some OpenSSL builds and by browsers.
//!
//! Files (keys are mode 0600, the directory 0700, every write atomic):
//! - `ca.crt`, `ca.key`: the CA, valid 10 years, kept forever: replacing it invalidates every
//!   kubeconfig handed out. It is never regenerated except when only `ca.key` survived (the
//!   certificate is then re-issued from the same key, so old copies of `ca.crt` keep verifying).
//! - `server.crt`, `server.key`: the serving certificate, valid one year, for `localhost`,
//!   `127.0.0.1`, `::1`, the machine's hostname and the extra names asked for. It is disposable:
//!   it is re-issued (with a new key) whenever it is missing, unreadable, not signed by the CA,
//!   does not cover a wanted name, or expires within 30 days.
//!
//! What it must never do: overwrite or silently replace an existing CA, or hand out a serving
//! certificate that does not verify against the CA for every name it claims (each one is checked
//! with rustls' own WebPKI verifier before use).
//!
//! The CA's subject is `CN=strata-ca@<12 hex digits of its key identifier>, O=strata`: unique per
//! installation, yet derived from the key alone, so the issuer can be rebuilt from `ca.key`
//! without an X.509 parser.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SerialNumber,
};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{RootCertStore, ServerConfig};

use crate::kubeconfig::{warn_if_readable_by_others, write_private};

/// How long a new CA is valid.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
/// How long a new serving certificate is valid (below the 398/825-day limits some platforms
/// enforce even for private CAs).
const SERVING_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// A serving certificate that expires within this is re-issued.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// New certificates start this far in the past, so clients with a slow clock accept them.
const BACKDATE: Duration = Duration::from_secs(60 * 60);

/// The subject common name of serving certificates (clients check the SANs, not this).
const SERVING_CN: &str = "strata-apiserver";

/// The server's CA and serving certificate, as loaded or created by [`load_or_create`].
#[derive(Clone)]
pub struct Pki {
    /// The CA certificate (PEM): what clients trust, e.g. a kubeconfig's
    /// `certificate-authority-data`.
    pub ca_pem: String,
    /// Where the CA certificate is stored (`<dir>/pki/ca.crt`), for `--certificate-authority`.
    pub ca_file: PathBuf,
    /// The serving certificate (PEM), signed by the CA.
    pub cert_pem: String,
    /// The names (DNS names and IP addresses) the serving certificate covers.
    pub hosts: Vec<String>,
    /// The serving certificate's private key (PKCS#8 PEM). Not public: only [`server_config`]
    /// needs it, and `Debug` does not print it.
    key_pem: String,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki")
            .field("ca_file", &self.ca_file)
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl Pki {
    /// Whether the serving certificate expires within 30 days (or no longer verifies), so a
    /// long-running server should call [`load_or_create`] again and swap in a new
    /// [`server_config`].
    pub fn needs_renewal(&self) -> bool {
        let Ok(ca) = parse_cert(&self.ca_pem) else {
            return true;
        };
        let Ok(cert) = parse_cert(&self.cert_pem) else {
            return true;
        };
        verify_names(&ca, &cert, &self.hosts, now() + RENEW_BEFORE).is_err()
    }
}

/// Why the CA or the serving certificate could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error(
        "cannot {action} {path}: {source} (check that the data directory is writable by this user)"
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not a valid {what} ({detail}); restore it from a backup, or delete {ca_crt} and \
         {ca_key} to create a new CA (every kubeconfig that trusts the old CA must then be replaced)"
    )]
    BadCa {
        path: PathBuf,
        what: &'static str,
        detail: String,
        ca_crt: PathBuf,
        ca_key: PathBuf,
    },
    #[error(
        "{ca_crt} exists but its private key {ca_key} is missing, so no serving certificate can be \
         signed; restore {ca_key} from a backup, or delete {ca_crt} to create a new CA (every \
         kubeconfig that trusts the old CA must then be replaced)"
    )]
    MissingCaKey { ca_crt: PathBuf, ca_key: PathBuf },
    #[error(
        "{ca_crt} does not belong to {ca_key} or has expired ({detail}); restore the matching pair \
         from a backup, or delete both to create a new CA (every kubeconfig that trusts the old CA \
         must then be replaced)"
    )]
    CaMismatch {
        ca_crt: PathBuf,
        ca_key: PathBuf,
        detail: String,
    },
    #[error(
        "{host:?} cannot be put in a certificate: {detail} (pass DNS names like api.example.com or IP \
         addresses; wildcards are not supported)"
    )]
    InvalidHost { host: String, detail: String },
    #[error("cannot generate a {what}: {source}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("cannot build the TLS configuration from {path}: {source}")]
    Config {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

/// Loads the CA and serving certificate from `<dir>/pki/`, creating what is missing, and
/// re-issuing the serving certificate when it does not cover `localhost`, `127.0.0.1`, `::1`,
/// the hostname and every entry of `extra_hosts` (DNS names or IP addresses), or is near expiry.
pub fn load_or_create(dir: &Path, extra_hosts: &[String]) -> Result<Pki, TlsError> {
    let pki_dir = dir.join("pki");
    create_private_dir(&pki_dir)?;
    let ca_crt = pki_dir.join("ca.crt");
    let ca_key = pki_dir.join("ca.key");
    let server_crt = pki_dir.join("server.crt");
    let server_key = pki_dir.join("server.key");
    let hosts = wanted_hosts(extra_hosts)?;
    let now = now();

    let ca = load_or_create_ca(&ca_crt, &ca_key, now)?;
    let ca_der = parse_cert(&ca.cert_pem).map_err(|detail| TlsError::BadCa {
        path: ca_crt.clone(),
        what: "PEM certificate",
        detail,
        ca_crt: ca_crt.clone(),
        ca_key: ca_key.clone(),
    })?;

    if let Some((cert_pem, key_pem)) = read_serving(&server_crt, &server_key)? {
        match usable_serving(&ca_der, &cert_pem, &key_pem, &hosts, now) {
            Ok(()) => {
                return Ok(Pki {
                    ca_pem: ca.cert_pem,
                    ca_file: ca_crt,
                    cert_pem,
                    hosts,
                    key_pem,
                });
            }
            Err(why) => {
                tracing::info!(file = %server_crt.display(), reason = %why, "re-issuing the serving certificate");
            }
        }
    }

    let (cert_pem, key_pem) = issue_serving(&ca, &hosts, now)?;
    let cert_der = parse_cert(&cert_pem).expect("rcgen writes valid PEM");
    if let Err(detail) = verify_names(&ca_der, &cert_der, &hosts, now) {
        return Err(TlsError::CaMismatch {
            ca_crt,
            ca_key,
            detail,
        });
    }
    if let Err(detail) = verify_names(&ca_der, &cert_der, &hosts, now + RENEW_BEFORE) {
        tracing::warn!(file = %ca_crt.display(), %detail, "the CA expires soon; delete the pki directory and hand out new kubeconfigs");
    }
    // Key first: a certificate whose key is missing would be unusable, the reverse is re-issued.
    write_file(&server_key, key_pem.as_bytes())?;
    write_file(&server_crt, cert_pem.as_bytes())?;
    tracing::info!(file = %server_crt.display(), hosts = ?hosts, "issued a serving certificate");
    Ok(Pki {
        ca_pem: ca.cert_pem,
        ca_file: ca_crt,
        cert_pem,
        hosts,
        key_pem,
    })
}

/// The rustls configuration serving with `pki`'s certificate: the ring provider, TLS 1.3 and 1.2,
/// no client certificates, ALPN `http/1.1` only (the server speaks HTTP/1.1; clients that offer
/// only `h2` are refused during the handshake rather than confused afterwards).
pub fn server_config(pki: &Pki) -> Result<Arc<ServerConfig>, TlsError> {
    let path = pki.ca_file.with_file_name("server.crt");
    let config = build_config(&pki.cert_pem, &pki.key_pem)
        .map_err(|source| TlsError::Config { path, source })?;
    Ok(Arc::new(config))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn build_config(cert_pem: &str, key_pem: &str) -> Result<ServerConfig, rustls::Error> {
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| rustls::Error::General(format!("certificate PEM: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| rustls::Error::General(format!("private key PEM: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The CA as this module keeps it in memory: its certificate and the issuer that signs with it.
struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn load_or_create_ca(ca_crt: &Path, ca_key: &Path, now: Duration) -> Result<Ca, TlsError> {
    let bad = |path: &Path, what: &'static str, detail: String| TlsError::BadCa {
        path: path.to_owned(),
        what,
        detail,
        ca_crt: ca_crt.to_owned(),
        ca_key: ca_key.to_owned(),
    };
    let key_pem = read_optional(ca_key)?;
    let cert_pem = read_optional(ca_crt)?;
    let (key, cert_pem) = match (key_pem, cert_pem) {
        (Some(key_pem), cert_pem) => {
            let key = KeyPair::from_pem(&key_pem)
                .map_err(|e| bad(ca_key, "PEM private key", e.to_string()))?;
            if !key.is_compatible(&PKCS_ECDSA_P256_SHA256) {
                return Err(bad(
                    ca_key,
                    "ECDSA P-256 private key",
                    format!("it is a {:?} key", key.algorithm()),
                ));
            }
            warn_if_readable_by_others(ca_key);
            match cert_pem {
                Some(cert_pem) => (key, cert_pem),
                None => {
                    // Only the key survived (e.g. a crash during the first start). Re-issuing the
                    // certificate from the same key and subject keeps any copy of the old one valid.
                    tracing::warn!(file = %ca_crt.display(), "CA certificate missing; re-issuing it from {}", ca_key.display());
                    let cert_pem = self_sign_ca(&key, now)?;
                    write_file(ca_crt, cert_pem.as_bytes())?;
                    (key, cert_pem)
                }
            }
        }
        (None, Some(_)) => {
            return Err(TlsError::MissingCaKey {
                ca_crt: ca_crt.to_owned(),
                ca_key: ca_key.to_owned(),
            });
        }
        (None, None) => {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| {
                TlsError::Generate {
                    what: "CA key",
                    source,
                }
            })?;
            let cert_pem = self_sign_ca(&key, now)?;
            write_file(ca_key, key.serialize_pem().as_bytes())?;
            write_file(ca_crt, cert_pem.as_bytes())?;
            tracing::info!(file = %ca_crt.display(), "created a new certificate authority");
            (key, cert_pem)
        }
    };
    let issuer = Issuer::new(ca_params(&key, now), key);
    Ok(Ca { cert_pem, issuer })
}

/// The CA's parameters. The subject depends only on the key, so the issuer rebuilt from `ca.key`
/// names exactly the subject written into `ca.crt` when it was created.
fn ca_params(key: &KeyPair, now: Duration) -> CertificateParams {
    let mut params = CertificateParams::default();
    let id = params.key_identifier(key);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("strata-ca@{}", hex(&id[..6])));
    dn.push(DnType::OrganizationName, "strata");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(random_serial());
    set_validity(&mut params, now.saturating_sub(BACKDATE), now + CA_VALIDITY);
    params
}

fn self_sign_ca(key: &KeyPair, now: Duration) -> Result<String, TlsError> {
    ca_params(key, now)
        .self_signed(key)
        .map(|cert| cert.pem())
        .map_err(|source| TlsError::Generate {
            what: "CA certificate",
            source,
        })
}

/// Issues a serving certificate with a fresh key: `(certificate PEM, key PEM)`.
fn issue_serving(ca: &Ca, hosts: &[String], now: Duration) -> Result<(String, String), TlsError> {
    let generate = |source| TlsError::Generate {
        what: "serving certificate",
        source,
    };
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(generate)?;
    let mut params = CertificateParams::new(hosts.to_vec()).map_err(generate)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, SERVING_CN);
    dn.push(DnType::OrganizationName, "strata");
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // OpenSSL's strict mode (Python 3.13+ default contexts) requires the authority key identifier.
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial());
    set_validity(
        &mut params,
        now.saturating_sub(BACKDATE),
        now + SERVING_VALIDITY,
    );
    let cert = params.signed_by(&key, &ca.issuer).map_err(generate)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Reads `server.crt` and `server.key` when both exist; a missing one means "issue anew".
fn read_serving(crt: &Path, key: &Path) -> Result<Option<(String, String)>, TlsError> {
    match (read_optional(crt)?, read_optional(key)?) {
        (Some(cert_pem), Some(key_pem)) => Ok(Some((cert_pem, key_pem))),
        _ => Ok(None),
    }
}

/// Whether a stored serving certificate can be used as is: it parses, matches its key, is signed
/// by the CA and covers every wanted name until at least [`RENEW_BEFORE`] from now.
fn usable_serving(
    ca: &CertificateDer<'static>,
    cert_pem: &str,
    key_pem: &str,
    hosts: &[String],
    now: Duration,
) -> Result<(), String> {
    build_config(cert_pem, key_pem).map_err(|e| e.to_string())?;
    let cert = parse_cert(cert_pem)?;
    verify_names(ca, &cert, hosts, now + RENEW_BEFORE)
}

/// Verifies `cert` against `ca` for each of `hosts` at time `at`, exactly as a rustls client would.
fn verify_names(
    ca: &CertificateDer<'static>,
    cert: &CertificateDer<'static>,
    hosts: &[String],
    at: Duration,
) -> Result<(), String> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).map_err(|e| format!("CA: {e}"))?;
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| format!("CA: {e}"))?;
    for host in hosts {
        let name = ServerName::try_from(host.as_str()).map_err(|e| format!("{host}: {e}"))?;
        verifier
            .verify_server_cert(cert, &[], &name, &[], UnixTime::since_unix_epoch(at))
            .map_err(|e| format!("{host}: {e}"))?;
    }
    Ok(())
}

/// `localhost`, `127.0.0.1`, `::1`, the hostname and `extra`, validated, lowercased, deduplicated.
fn wanted_hosts(extra: &[String]) -> Result<Vec<String>, TlsError> {
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    let push = |hosts: &mut Vec<String>, host: String| {
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    };
    if let Some(name) = hostname() {
        match normalize_host(&name) {
            Ok(name) => push(&mut hosts, name),
            Err(detail) => {
                tracing::warn!(hostname = %name, %detail, "the hostname cannot be put in the serving certificate")
            }
        }
    }
    for host in extra {
        let host = host.trim();
        if host.is_empty() {
            continue;
        }
        let name = normalize_host(host).map_err(|detail| TlsError::InvalidHost {
            host: host.to_owned(),
            detail,
        })?;
        push(&mut hosts, name);
    }
    Ok(hosts)
}

/// An IP address in its canonical form, or a DNS name lowercased and without a trailing dot.
fn normalize_host(host: &str) -> Result<String, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if name.contains('*') {
        return Err("wildcards are not supported".into());
    }
    match ServerName::try_from(name.as_str()) {
        Ok(ServerName::DnsName(_)) => Ok(name),
        Ok(_) => Err("not a DNS name".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// The machine's hostname, without unsafe code or another dependency.
fn hostname() -> Option<String> {
    let from_file = |path: &str| std::fs::read_to_string(path).ok();
    let from_command = || {
        std::process::Command::new("hostname")
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
    };
    from_file("/proc/sys/kernel/hostname")
        .or_else(|| from_file("/etc/hostname"))
        .or_else(from_command)
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
}

fn parse_cert(pem: &str) -> Result<CertificateDer<'static>, String> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| e.to_string())
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x40; // no leading zero byte, so the DER integer keeps all 16 bytes
    SerialNumber::from_slice(&bytes)
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Sets the validity period from seconds since the Unix epoch (rcgen wants the `time` crate's
/// type, which this crate does not depend on directly).
fn set_validity(params: &mut CertificateParams, not_before: Duration, not_after: Duration) {
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + not_before;
    params.not_after = epoch + not_after;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_optional(path: &Path) -> Result<Option<String>, TlsError> {
    crate::kubeconfig::read_optional(path).map_err(|source| TlsError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), TlsError> {
    write_private(path, contents).map_err(|source| TlsError::Io {
        action: "write",
        path: path.to_owned(),
        source,
    })
}

fn create_private_dir(dir: &Path) -> Result<(), TlsError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| TlsError::Io {
        action: "create directory",
        path: dir.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::ClientConfig;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn extras() -> Vec<String> {
        vec![
            "strata.example.com".into(),
            "10.1.2.3".into(),
            "[fd00::7]".into(),
        ]
    }

    fn client_config(ca_pem: &str, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(parse_cert(ca_pem).unwrap()).unwrap();
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// A TLS handshake over an in-memory stream, then one byte each way. Returns the ALPN
    /// protocol the client saw, or the client's error.
    async fn handshake(
        server: Arc<ServerConfig>,
        client: Arc<ClientConfig>,
        name: &str,
    ) -> Result<Option<Vec<u8>>, String> {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let acceptor = tokio_rustls::TlsAcceptor::from(server);
        let server_task = tokio::spawn(async move {
            let mut tls = acceptor.accept(server_io).await.ok()?;
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte).await.ok()?;
            tls.write_all(&byte).await.ok()?;
            tls.flush().await.ok()
        });
        let connector = tokio_rustls::TlsConnector::from(client);
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let mut tls = connector
            .connect(name, client_io)
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(b"x").await.map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
        assert_eq!(&byte, b"x");
        let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        server_task.await.unwrap().expect("server side completes");
        Ok(alpn)
    }

    #[tokio::test]
    async fn serving_certificate_verifies_against_the_ca_for_every_name() {
        let dir = tempfile::tempdir().unwrap();
        let pki = load_or_create(dir.path(), &extras()).unwrap();
        for wanted in [
            "localhost",
            "127.0.0.1",
            "::1",
            "strata.example.com",
            "10.1.2.3",
            "fd00::7",
        ] {
            assert!(
                pki.hosts.iter().any(|h| h == wanted),
                "{wanted} in {:?}",
                pki.hosts
            );
        }
        if let Some(name) = hostname().and_then(|h| normalize_host(&h).ok()) {
            assert!(pki.hosts.contains(&name));
        }
        let server = server_config(&pki).unwrap();
        assert_eq!(server.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let client = client_config(&pki.ca_pem, &[b"http/1.1"]);
        for host in &pki.hosts {
            let alpn = handshake(server.clone(), client.clone(), host).await;
            assert_eq!(alpn, Ok(Some(b"http/1.1".to_vec())), "handshake as {host}");
        }
        // Without ALPN (as Go's and Python's HTTP/1.1 clients may do) too.
        let plain = client_config(&pki.ca_pem, &[]);
        assert_eq!(
            handshake(server.clone(), plain, "localhost").await,
            Ok(None)
        );
        assert!(!pki.needs_renewal());
    }

    #[tokio::test]
    async fn names_not_covered_other_cas_and_h2_only_clients_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pki = load_or_create(dir.path(), &[]).unwrap();
        let server = server_config(&pki).unwrap();
        let client = client_config(&pki.ca_pem, &[b"http/1.1"]);
        let err = handshake(server.clone(), client.clone(), "strata.example.com")
            .await
            .unwrap_err();
        assert!(err.contains("not valid for name"), "{err}");

        let other = tempfile::tempdir().unwrap();
        let other_pki = load_or_create(other.path(), &[]).unwrap();
        assert_ne!(other_pki.ca_pem, pki.ca_pem);
        let stranger = client_config(&other_pki.ca_pem, &[b"http/1.1"]);
        let err = handshake(server.clone(), stranger, "localhost")
            .await
            .unwrap_err();
        assert!(err.contains("UnknownIssuer"), "{err}");

        let h2 = client_config(&pki.ca_pem, &[b"h2"]);
        let err = handshake(server, h2, "localhost").await.unwrap_err();
        assert!(
            err.to_lowercase().contains("application protocol")
                || err.contains("NoApplicationProtocol"),
            "{err}"
        );
    }

    #[test]
    fn reload_keeps_the_ca_and_reuses_a_covering_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), &extras()).unwrap();
        let second = load_or_create(dir.path(), &extras()).unwrap();
        assert_eq!(first.ca_pem, second.ca_pem);
        assert_eq!(first.cert_pem, second.cert_pem);
        assert_eq!(first.key_pem, second.key_pem);

        // A new name: new serving certificate, same CA.
        let more = [extras(), vec!["api.example.org".into()]].concat();
        let third = load_or_create(dir.path(), &more).unwrap();
        assert_eq!(third.ca_pem, first.ca_pem);
        assert_ne!(third.cert_pem, first.cert_pem);
        assert!(third.hosts.contains(&"api.example.org".to_owned()));

        // Fewer names than the stored certificate covers: reused.
        let fourth = load_or_create(dir.path(), &[]).unwrap();
        assert_eq!(fourth.cert_pem, third.cert_pem);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("pki/ca.crt")).unwrap(),
            first.ca_pem
        );
    }

    #[cfg(unix)]
    #[test]
    fn keys_and_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path(), &[]).unwrap();
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("pki"), 0o700);
        assert_eq!(mode("pki/ca.key"), 0o600);
        assert_eq!(mode("pki/server.key"), 0o600);
    }

    #[test]
    fn a_certificate_near_expiry_or_damaged_is_reissued() {
        let dir = tempfile::tempdir().unwrap();
        let pki = load_or_create(dir.path(), &[]).unwrap();
        let pki_dir = dir.path().join("pki");

        // Issued 340 days ago: 25 days left, inside the renewal window.
        let ca =
            load_or_create_ca(&pki_dir.join("ca.crt"), &pki_dir.join("ca.key"), now()).unwrap();
        let (old_cert, old_key) =
            issue_serving(&ca, &pki.hosts, now() - 340 * RENEW_BEFORE / 30).unwrap();
        std::fs::write(pki_dir.join("server.crt"), &old_cert).unwrap();
        std::fs::write(pki_dir.join("server.key"), &old_key).unwrap();
        let stale = Pki {
            cert_pem: old_cert.clone(),
            key_pem: old_key,
            ..pki.clone()
        };
        assert!(stale.needs_renewal());
        let renewed = load_or_create(dir.path(), &[]).unwrap();
        assert_ne!(renewed.cert_pem, old_cert);
        assert_eq!(renewed.ca_pem, pki.ca_pem);
        assert!(!renewed.needs_renewal());

        // A key that does not match the certificate.
        std::fs::write(
            pki_dir.join("server.key"),
            KeyPair::generate().unwrap().serialize_pem(),
        )
        .unwrap();
        let fixed = load_or_create(dir.path(), &[]).unwrap();
        assert_ne!(fixed.cert_pem, renewed.cert_pem);
        server_config(&fixed).unwrap();

        // Garbage.
        std::fs::write(pki_dir.join("server.crt"), "garbage").unwrap();
        let fixed = load_or_create(dir.path(), &[]).unwrap();
        server_config(&fixed).unwrap();
    }

    #[test]
    fn a_lost_ca_certificate_is_reissued_from_its_key_and_old_copies_still_verify() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), &[]).unwrap();
        std::fs::remove_file(dir.path().join("pki/ca.crt")).unwrap();
        let second = load_or_create(dir.path(), &[]).unwrap();
        assert_ne!(second.ca_pem, first.ca_pem);
        // The stored serving certificate still verifies against the re-issued CA, and so reused.
        assert_eq!(second.cert_pem, first.cert_pem);
        // A client holding the old CA certificate accepts a certificate signed after the re-issue.
        std::fs::remove_file(dir.path().join("pki/server.crt")).unwrap();
        let third = load_or_create(dir.path(), &[]).unwrap();
        assert_ne!(third.cert_pem, first.cert_pem);
        let old_ca = parse_cert(&first.ca_pem).unwrap();
        verify_names(
            &old_ca,
            &parse_cert(&third.cert_pem).unwrap(),
            &third.hosts,
            now(),
        )
        .unwrap();
    }

    #[test]
    fn a_missing_ca_key_or_bad_host_is_an_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path(), &[]).unwrap();
        std::fs::remove_file(dir.path().join("pki/ca.key")).unwrap();
        let err = load_or_create(dir.path(), &[]).unwrap_err();
        assert!(matches!(err, TlsError::MissingCaKey { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("ca.key") && text.contains("delete"), "{text}");

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pki")).unwrap();
        std::fs::write(dir.path().join("pki/ca.key"), "not a key").unwrap();
        let err = load_or_create(dir.path(), &[]).unwrap_err();
        assert!(matches!(err, TlsError::BadCa { .. }), "{err}");

        let dir = tempfile::tempdir().unwrap();
        for bad in ["*.example.com", "bad name", "a..b"] {
            let err = load_or_create(dir.path(), &[bad.to_owned()]).unwrap_err();
            assert!(matches!(err, TlsError::InvalidHost { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn hosts_are_normalized_and_deduplicated() {
        assert_eq!(
            normalize_host("API.Example.com.").unwrap(),
            "api.example.com"
        );
        assert_eq!(normalize_host("[::1]").unwrap(), "::1");
        assert_eq!(normalize_host("0:0::1").unwrap(), "::1");
        let hosts =
            wanted_hosts(&["localhost".into(), " 127.0.0.1 ".into(), String::new()]).unwrap();
        let mut unique = hosts.clone();
        unique.dedup();
        assert_eq!(hosts, unique);
        assert_eq!(&hosts[..3], ["localhost", "127.0.0.1", "::1"]);
    }
}
