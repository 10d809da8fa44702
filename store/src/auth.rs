//! Bearer-token authentication: who is calling.
//!
//! Why it exists: the store is secure by default, and a bearer token is the credential every
//! client (kubectl, Helm, kube-rs, the Python client) sends unmodified from a kubeconfig. This
//! module answers only *who* a request comes from; *what* they may do is RBAC's business,
//! evaluated elsewhere with the standard rbac.authorization.k8s.io objects.
//!
//! Credentials in the data directory (both files mode 0600, written atomically):
//! - `admin.token`: the admin's token, 32 random bytes in URL-safe base64 without padding,
//!   created on first start. It is kept in clear because the server writes it into the admin
//!   kubeconfig on every start. It authenticates as `strata-admin` in `system:masters` (the group
//!   kube-apiserver's default RBAC binds to `cluster-admin`).
//! - `tokens.json`: the tokens issued later (agents, tenants): each stored only as its SHA-256
//!   digest with the user name and groups it stands for, and when it expires (if it does), so a
//!   copy of the file grants nothing. Expired tokens authenticate no one and are dropped from the
//!   file at the next change.
//!   The tokens have 256 bits of entropy, so an unsalted hash is enough: there is nothing to
//!   brute-force.
//!
//! Comparison: the admin token is compared in constant time (on digests, so not even its length
//! leaks). Issued tokens are looked up by the digest of what the client sent; how long that
//! lookup takes depends only on the digest, which tells an attacker nothing about any valid token.
//!
//! Anonymous requests: kube-apiserver lets anonymous users (`system:anonymous`, group
//! `system:unauthenticated`) read only what the default `system:public-info-viewer` ClusterRole
//! grants: `/healthz`, `/livez`, `/readyz`, `/version` and `/version/`. [`is_public_path`] names
//! exactly those; the HTTP layer answers every other request without a valid token with 401. As in
//! kube-apiserver, a request that *presents* a token that is not valid is refused with 401 even
//! on those paths ([`Authenticator::check`] tells the two cases apart).
//!
//! What it must never do: log or return a token it was given, or accept an empty token.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::kubeconfig::{warn_if_readable_by_others, write_private};

/// The admin's user name.
pub const ADMIN_USER: &str = "strata-admin";
/// The group kube-apiserver's default `cluster-admin` ClusterRoleBinding grants everything to.
pub const MASTERS_GROUP: &str = "system:masters";
/// The group every authenticated user is in (kube-apiserver adds it to every user).
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// The user anonymous requests act as.
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// The group anonymous requests are in.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";

/// The shortest admin token accepted from a hand-edited `admin.token`.
const MIN_ADMIN_TOKEN_LEN: usize = 16;
const TOKEN_TABLE_VERSION: u32 = 1;

/// Who a request comes from, as RBAC sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The user unauthenticated requests to a [public path](is_public_path) act as.
    pub fn anonymous() -> UserInfo {
        UserInfo {
            name: ANONYMOUS_USER.into(),
            groups: vec![UNAUTHENTICATED_GROUP.into()],
        }
    }
}

/// What a request's `Authorization` header amounts to; see [`Authenticator::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A valid bearer token.
    User(UserInfo),
    /// No bearer token at all: anonymous, allowed only on [public paths](is_public_path).
    Anonymous,
    /// A bearer token that is not valid, or a header that is not a bearer token: always 401.
    Invalid,
}

/// Whether kube-apiserver's default RBAC lets anonymous requests read `path` (the
/// `system:public-info-viewer` ClusterRole): the health endpoints and `/version`.
pub fn is_public_path(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/livez" | "/readyz" | "/version" | "/version/"
    )
}

/// Why the credentials could not be loaded, created or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
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
        "{path} does not hold a usable admin token ({detail}); put a token of at least \
         {MIN_ADMIN_TOKEN_LEN} printable characters without spaces in it, or delete it to have a \
         new one generated (kubeconfigs holding the old token then stop working)"
    )]
    BadAdminToken { path: PathBuf, detail: String },
    #[error(
        "{path} is not a valid token table ({detail}); restore it from a backup, or delete it to \
         revoke every issued token"
    )]
    BadTokenTable { path: PathBuf, detail: String },
    #[error("cannot issue a token: {0}")]
    InvalidUser(String),
}

/// Checks bearer tokens: the admin's and those issued with [`Authenticator::issue`].
pub struct Authenticator {
    admin_token: String,
    admin_digest: [u8; 32],
    tokens_file: PathBuf,
    /// Issued tokens by the SHA-256 digest of the token.
    tokens: RwLock<HashMap<[u8; 32], Issued>>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("tokens_file", &self.tokens_file)
            .finish_non_exhaustive()
    }
}

/// One issued token, as kept in memory and in `tokens.json` (with its digest in hex).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Issued {
    name: String,
    groups: Vec<String>,
    /// When it was issued (RFC 3339), for the operator reading the file.
    created: String,
    /// When it stops authenticating (RFC 3339); never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
}

impl Issued {
    fn expired(&self, now: jiff::Timestamp) -> bool {
        // An expiry that does not parse (a hand-edited file) counts as past: fail closed.
        self.expires
            .as_deref()
            .is_some_and(|e| e.parse::<jiff::Timestamp>().map_or(true, |t| t <= now))
    }
}

#[derive(Serialize, Deserialize)]
struct TokenTable {
    version: u32,
    tokens: Vec<StoredToken>,
}

#[derive(Serialize, Deserialize)]
struct StoredToken {
    sha256: String,
    #[serde(flatten)]
    issued: Issued,
}

impl Authenticator {
    /// Loads `<dir>/admin.token` and `<dir>/tokens.json`, creating the admin token (and `dir`)
    /// on first start. A missing `tokens.json` means no issued tokens yet.
    pub fn load_or_create(dir: &Path) -> Result<Authenticator, AuthError> {
        std::fs::create_dir_all(dir).map_err(|source| AuthError::Io {
            action: "create directory",
            path: dir.to_owned(),
            source,
        })?;
        let admin_file = dir.join("admin.token");
        let admin_token = match read_optional(&admin_file)? {
            Some(text) => {
                let token = text.trim().to_owned();
                check_admin_token(&token).map_err(|detail| AuthError::BadAdminToken {
                    path: admin_file.clone(),
                    detail,
                })?;
                warn_if_readable_by_others(&admin_file);
                token
            }
            None => {
                let token = new_token();
                write_file(&admin_file, format!("{token}\n").as_bytes())?;
                tracing::info!(file = %admin_file.display(), "created the admin token");
                token
            }
        };
        let tokens_file = dir.join("tokens.json");
        let tokens = match read_optional(&tokens_file)? {
            Some(text) => {
                warn_if_readable_by_others(&tokens_file);
                parse_table(&text).map_err(|detail| AuthError::BadTokenTable {
                    path: tokens_file.clone(),
                    detail,
                })?
            }
            None => HashMap::new(),
        };
        Ok(Authenticator {
            admin_digest: sha256(admin_token.as_bytes()),
            admin_token,
            tokens_file,
            tokens: RwLock::new(tokens),
        })
    }

    /// The admin's bearer token, for the admin kubeconfig.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The user a request's `Authorization` header authenticates, or `None` when it carries no
    /// valid bearer token (anonymous, malformed or unknown: use [`check`](Self::check) to tell
    /// them apart).
    pub fn authenticate(&self, authorization_header: Option<&str>) -> Option<UserInfo> {
        match self.check(authorization_header) {
            Credentials::User(user) => Some(user),
            Credentials::Anonymous | Credentials::Invalid => None,
        }
    }

    /// Classifies a request's `Authorization` header as kube-apiserver does: no header (or an
    /// empty one) is anonymous; `Bearer <token>` (scheme case-insensitive) with a known token is
    /// that token's user; anything else, including another scheme, is invalid.
    pub fn check(&self, authorization_header: Option<&str>) -> Credentials {
        let header = authorization_header.unwrap_or("").trim();
        if header.is_empty() {
            return Credentials::Anonymous;
        }
        let mut parts = header.split_ascii_whitespace();
        let (Some(scheme), Some(token)) = (parts.next(), parts.next()) else {
            return Credentials::Invalid;
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Credentials::Invalid;
        }
        match self.lookup(token) {
            Some(user) => Credentials::User(user),
            None => Credentials::Invalid,
        }
    }

    fn lookup(&self, token: &str) -> Option<UserInfo> {
        let digest = sha256(token.as_bytes());
        if constant_time_eq(&digest, &self.admin_digest) {
            return Some(UserInfo {
                name: ADMIN_USER.into(),
                groups: vec![MASTERS_GROUP.into(), AUTHENTICATED_GROUP.into()],
            });
        }
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(&digest)
            .filter(|issued| !issued.expired(jiff::Timestamp::now()))
            .map(|issued| UserInfo {
                name: issued.name.clone(),
                groups: issued.groups.clone(),
            })
    }

    /// Issues a new token for user `name` in `groups` (plus `system:authenticated`, which every
    /// authenticated user has), valid until `expires` (or until revoked, when `None`), saves it in
    /// `tokens.json` before returning it, and returns the token. Only its digest is stored: the
    /// caller must hand it out now (e.g. in a kubeconfig or a Secret); it cannot be shown again.
    pub fn issue(
        &self,
        name: &str,
        groups: &[String],
        expires: Option<jiff::Timestamp>,
    ) -> Result<String, AuthError> {
        check_name("user name", name)?;
        let mut all_groups = Vec::with_capacity(groups.len() + 1);
        for group in groups {
            check_name("group", group)?;
            if !all_groups.contains(group) {
                all_groups.push(group.clone());
            }
        }
        if !all_groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            all_groups.push(AUTHENTICATED_GROUP.into());
        }
        let token = new_token();
        let issued = Issued {
            name: name.to_owned(),
            groups: all_groups,
            created: jiff::Timestamp::now().to_string(),
            expires: expires.map(|t| t.to_string()),
        };
        self.update(|tokens| {
            tokens.insert(sha256(token.as_bytes()), issued);
        })?;
        tracing::info!(user = %name, "issued a token");
        Ok(token)
    }

    /// Revokes one issued token (saved before returning). Returns whether it was known. The admin
    /// token cannot be revoked this way: delete `admin.token` and restart.
    pub fn revoke(&self, token: &str) -> Result<bool, AuthError> {
        let digest = sha256(token.as_bytes());
        let mut found = false;
        self.update(|tokens| found = tokens.remove(&digest).is_some())?;
        Ok(found)
    }

    /// Revokes every token issued to user `name` (saved before returning); returns how many.
    pub fn revoke_user(&self, name: &str) -> Result<usize, AuthError> {
        let mut removed = 0;
        self.update(|tokens| {
            let before = tokens.len();
            tokens.retain(|_, issued| issued.name != name);
            removed = before - tokens.len();
        })?;
        Ok(removed)
    }

    /// Applies `change` to a copy of the table (without the expired tokens), saves the copy, and
    /// only then makes it current, so memory never holds a token the file does not (nor the
    /// reverse, after a failed save).
    fn update(&self, change: impl FnOnce(&mut HashMap<[u8; 32], Issued>)) -> Result<(), AuthError> {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        let now = jiff::Timestamp::now();
        let mut next: HashMap<_, _> = tokens
            .iter()
            .filter(|(_, issued)| !issued.expired(now))
            .map(|(d, i)| (*d, i.clone()))
            .collect();
        change(&mut next);
        write_file(&self.tokens_file, render_table(&next).as_bytes())?;
        *tokens = next;
        Ok(())
    }
}

fn parse_table(text: &str) -> Result<HashMap<[u8; 32], Issued>, String> {
    let table: TokenTable = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if table.version != TOKEN_TABLE_VERSION {
        return Err(format!(
            "version {} is not the supported version {TOKEN_TABLE_VERSION}",
            table.version
        ));
    }
    let mut tokens = HashMap::with_capacity(table.tokens.len());
    for stored in table.tokens {
        let digest = unhex32(&stored.sha256)
            .ok_or_else(|| format!("{:?} is not a hex SHA-256 digest", stored.sha256))?;
        tokens.insert(digest, stored.issued);
    }
    Ok(tokens)
}

fn render_table(tokens: &HashMap<[u8; 32], Issued>) -> String {
    let mut stored: Vec<StoredToken> = tokens
        .iter()
        .map(|(digest, issued)| StoredToken {
            sha256: hex(digest),
            issued: issued.clone(),
        })
        .collect();
    stored.sort_by(|a, b| {
        (&a.issued.created, &a.issued.name, &a.sha256).cmp(&(
            &b.issued.created,
            &b.issued.name,
            &b.sha256,
        ))
    });
    let table = TokenTable {
        version: TOKEN_TABLE_VERSION,
        tokens: stored,
    };
    let mut text = serde_json::to_string_pretty(&table).expect("the token table serializes");
    text.push('\n');
    text
}

fn check_admin_token(token: &str) -> Result<(), String> {
    if token.len() < MIN_ADMIN_TOKEN_LEN {
        return Err(format!("it is {} characters long", token.len()));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "it contains spaces or characters that cannot be sent in an HTTP header".into(),
        );
    }
    Ok(())
}

fn check_name(what: &str, value: &str) -> Result<(), AuthError> {
    if value.is_empty() {
        return Err(AuthError::InvalidUser(format!("the {what} is empty")));
    }
    if value.chars().any(char::is_control) {
        return Err(AuthError::InvalidUser(format!(
            "the {what} {value:?} contains control characters"
        )));
    }
    Ok(())
}

/// 32 random bytes in URL-safe base64 without padding (43 characters).
fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 from the ring provider rustls already links in (no extra dependency).
fn sha256(data: &[u8]) -> [u8; 32] {
    let rustls::SupportedCipherSuite::Tls13(suite) =
        rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
    else {
        unreachable!("TLS13_AES_128_GCM_SHA256 is a TLS 1.3 suite")
    };
    let hash = suite.common.hash_provider;
    debug_assert_eq!(
        hash.algorithm(),
        rustls::crypto::hash::HashAlgorithm::SHA256
    );
    hash.hash(data)
        .as_ref()
        .try_into()
        .expect("SHA-256 digests are 32 bytes")
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn read_optional(path: &Path) -> Result<Option<String>, AuthError> {
    crate::kubeconfig::read_optional(path).map_err(|source| AuthError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), AuthError> {
    write_private(path, contents).map_err(|source| AuthError::Io {
        action: "write",
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    #[test]
    fn sha256_is_sha256() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn admin_token_is_created_private_and_authenticates_as_admin() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Authenticator::load_or_create(dir.path()).unwrap();
        let token = auth.admin_token().to_owned();
        assert_eq!(token.len(), 43);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let file = dir.path().join("admin.token");
        assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let admin = UserInfo {
            name: "strata-admin".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        };
        assert_eq!(
            auth.authenticate(Some(&bearer(&token))),
            Some(admin.clone())
        );
        assert_eq!(
            auth.authenticate(Some(&format!("bearer  {token} "))),
            Some(admin)
        );
    }

    #[test]
    fn missing_malformed_and_wrong_credentials_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Authenticator::load_or_create(dir.path()).unwrap();
        let token = auth.admin_token().to_owned();
        assert_eq!(auth.authenticate(None), None);
        assert_eq!(auth.check(None), Credentials::Anonymous);
        assert_eq!(auth.check(Some("  ")), Credentials::Anonymous);
        let wrong = format!("{}x", &token[..42]);
        for header in [
            bearer(&wrong),
            bearer(&token[..42]),
            token.clone(),
            format!("Basic {token}"),
            "Bearer".to_owned(),
            "Bearer ".to_owned(),
            bearer(""),
        ] {
            assert_eq!(
                auth.check(Some(&header)),
                Credentials::Invalid,
                "{header:?}"
            );
            assert_eq!(auth.authenticate(Some(&header)), None, "{header:?}");
        }
    }

    #[test]
    fn issued_tokens_persist_across_reload_and_can_be_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Authenticator::load_or_create(dir.path()).unwrap();
        let admin = auth.admin_token().to_owned();
        let agent = auth
            .issue(
                "system:agent:node-1",
                &["strata:agents".into(), "strata:agents".into()],
                None,
            )
            .unwrap();
        let tenant = auth.issue("alice", &[], None).unwrap();
        assert_ne!(agent, tenant);
        assert_ne!(agent, admin);
        let agent_user = UserInfo {
            name: "system:agent:node-1".into(),
            groups: vec!["strata:agents".into(), "system:authenticated".into()],
        };
        assert_eq!(
            auth.authenticate(Some(&bearer(&agent))),
            Some(agent_user.clone())
        );

        // Only digests are stored.
        let file = std::fs::read_to_string(dir.path().join("tokens.json")).unwrap();
        assert!(!file.contains(&agent) && !file.contains(&tenant), "{file}");
        assert!(file.contains(&hex(&sha256(agent.as_bytes()))));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(dir.path().join("tokens.json")).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }

        let reloaded = Authenticator::load_or_create(dir.path()).unwrap();
        assert_eq!(reloaded.admin_token(), admin);
        assert_eq!(
            reloaded.authenticate(Some(&bearer(&agent))),
            Some(agent_user)
        );
        assert_eq!(
            reloaded
                .authenticate(Some(&bearer(&tenant)))
                .map(|u| u.groups),
            Some(vec!["system:authenticated".to_owned()])
        );

        assert!(reloaded.revoke(&agent).unwrap());
        assert!(!reloaded.revoke(&agent).unwrap());
        assert_eq!(reloaded.revoke_user("alice").unwrap(), 1);
        assert_eq!(reloaded.authenticate(Some(&bearer(&agent))), None);
        let again = Authenticator::load_or_create(dir.path()).unwrap();
        assert_eq!(again.authenticate(Some(&bearer(&agent))), None);
        assert_eq!(again.authenticate(Some(&bearer(&tenant))), None);
        assert!(again.authenticate(Some(&bearer(&admin))).is_some());
    }

    #[test]
    fn expired_tokens_authenticate_no_one_and_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Authenticator::load_or_create(dir.path()).unwrap();
        let now = jiff::Timestamp::now();
        let hour = jiff::SignedDuration::from_secs(3600);
        let past = auth.issue("old", &[], Some(now - hour)).unwrap();
        let future = auth.issue("new", &[], Some(now + hour)).unwrap();
        assert_eq!(auth.authenticate(Some(&bearer(&past))), None);
        assert_eq!(
            auth.authenticate(Some(&bearer(&future))).map(|u| u.name),
            Some("new".to_owned())
        );
        let file = std::fs::read_to_string(dir.path().join("tokens.json")).unwrap();
        assert!(!file.contains("\"old\""), "{file}");
        assert!(file.contains("\"expires\""), "{file}");
    }

    #[test]
    fn bad_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Authenticator::load_or_create(dir.path()).unwrap();
        assert!(matches!(
            auth.issue("", &[], None),
            Err(AuthError::InvalidUser(_))
        ));
        assert!(matches!(
            auth.issue("a\nb", &[], None),
            Err(AuthError::InvalidUser(_))
        ));
        assert!(matches!(
            auth.issue("a", &[String::new()], None),
            Err(AuthError::InvalidUser(_))
        ));
        assert!(!dir.path().join("tokens.json").exists());
    }

    #[test]
    fn damaged_credential_files_are_errors_that_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("admin.token"), "short\n").unwrap();
        let err = Authenticator::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, AuthError::BadAdminToken { .. }));
        assert!(err.to_string().contains("admin.token"), "{err}");

        std::fs::write(
            dir.path().join("admin.token"),
            "a-hand-made-admin-token-0123\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("tokens.json"), "{not json").unwrap();
        let err = Authenticator::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, AuthError::BadTokenTable { .. }));
        assert!(err.to_string().contains("tokens.json"), "{err}");

        std::fs::remove_file(dir.path().join("tokens.json")).unwrap();
        let auth = Authenticator::load_or_create(dir.path()).unwrap();
        assert_eq!(auth.admin_token(), "a-hand-made-admin-token-0123");
        assert!(
            auth.authenticate(Some("Bearer a-hand-made-admin-token-0123"))
                .is_some()
        );
    }

    #[test]
    fn public_paths_are_those_kube_apiserver_opens_to_anonymous_users() {
        for path in ["/healthz", "/livez", "/readyz", "/version", "/version/"] {
            assert!(is_public_path(path), "{path}");
        }
        for path in [
            "/",
            "/api",
            "/apis",
            "/openapi/v3",
            "/healthz/ping",
            "/metrics",
            "/versions",
        ] {
            assert!(!is_public_path(path), "{path}");
        }
        assert_eq!(UserInfo::anonymous().name, "system:anonymous");
    }
}
