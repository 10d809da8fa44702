//! Writes the kubeconfig the server hands to its admin (and later to tenants and agents).
//!
//! Why it exists: a kubeconfig is the one credential format kubectl, Helm, kube-rs
//! (`kube::Config::from_custom_kubeconfig`) and the official Python client all read, so the
//! server writes one on start (`<data dir>/kubeconfig`) with the CA it generated and a bearer
//! token, and every client works without flags.
//!
//! The file holds a secret, so it is created mode 0600 and written atomically (a temporary file
//! in the same directory, fsynced, then renamed over the target): a reader never sees half a
//! kubeconfig, and a crash never leaves a truncated one. [`write_private`] does the same for the
//! other secrets in the data directory (keys, tokens).
//!
//! What it must never do: merge into or edit a kubeconfig it did not write. [`write`] replaces
//! the whole file, so point it at a file of its own, not at `~/.kube/config`.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::json;

/// Writes a kubeconfig at `path` (mode 0600, atomically) with one cluster, one user and one
/// context, all called `name`, and makes that context current:
///
/// ```yaml
/// apiVersion: v1
/// kind: Config
/// clusters:
/// - name: <name>
///   cluster:
///     server: <server_url>
///     certificate-authority-data: <base64 of ca_pem>
/// users:
/// - name: <name>
///   user:
///     token: <token>
/// contexts:
/// - name: <name>
///   context:
///     cluster: <name>
///     user: <name>
/// current-context: <name>
/// preferences: {}
/// ```
pub fn write(
    path: &Path,
    server_url: &str,
    ca_pem: &str,
    token: &str,
    name: &str,
) -> io::Result<()> {
    if name.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a kubeconfig needs a non-empty cluster, user and context name",
        ));
    }
    write_private(path, render(server_url, ca_pem, token, name)?.as_bytes())
}

fn render(server_url: &str, ca_pem: &str, token: &str, name: &str) -> io::Result<String> {
    let ca_data = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": name,
            "cluster": {
                "server": server_url,
                "certificate-authority-data": ca_data,
            },
        }],
        "users": [{
            "name": name,
            "user": { "token": token },
        }],
        "contexts": [{
            "name": name,
            "context": { "cluster": name, "user": name },
        }],
        "current-context": name,
        "preferences": {},
    });
    serde_saphyr::to_string(&config).map_err(io::Error::other)
}

/// The contents of `path`, or `None` when it does not exist (a credential not created yet).
pub(crate) fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `path` with `contents`: mode 0600 on Unix, atomically (temporary file in the same
/// directory, fsync, rename, fsync of the directory). Creates missing parent directories. When
/// `path` is a symbolic link, the file it points to is replaced and the link kept.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let path = resolve_symlink(path)?;
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{:08x}",
        file_name.to_string_lossy(),
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &path)?;
        sync_dir(&dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Logs a warning when a secret file can be read by other users (it is not changed: the operator
/// may have reasons, but should know).
pub(crate) fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    mode = format!("{mode:o}"),
                    "secret file is readable by other users; run chmod 600 on it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn resolve_symlink(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(target) => Ok(target),
            // A dangling link: write where it points.
            Err(_) => {
                let target = fs::read_link(path)?;
                Ok(match path.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                })
            }
        },
        _ => Ok(path.to_owned()),
    }
}

/// Makes the rename durable. Best effort: not every platform can open a directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn written_kubeconfig_parses_back_with_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("kubeconfig");
        write(&path, "https://127.0.0.1:6443", CA, "tok-en_1", "strata").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["kind"], "Config");
        assert_eq!(v["current-context"], "strata");
        let cluster = &v["clusters"][0];
        assert_eq!(cluster["name"], "strata");
        assert_eq!(cluster["cluster"]["server"], "https://127.0.0.1:6443");
        let ca = base64::engine::general_purpose::STANDARD
            .decode(
                cluster["cluster"]["certificate-authority-data"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(ca, CA.as_bytes());
        assert_eq!(v["users"][0]["name"], "strata");
        assert_eq!(v["users"][0]["user"]["token"], "tok-en_1");
        assert_eq!(v["contexts"][0]["name"], "strata");
        assert_eq!(v["contexts"][0]["context"]["cluster"], "strata");
        assert_eq!(v["contexts"][0]["context"]["user"], "strata");
        assert_eq!(v["clusters"].as_array().unwrap().len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn kubeconfig_is_private_and_replaced_atomically() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write(&path, "https://[::1]:6443", CA, "t", "a").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .contains("https://[::1]:6443")
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "kubeconfig")
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_kubeconfig_keeps_its_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write(&link, "https://localhost:6443", CA, "t", "a").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(
            fs::read_to_string(&target)
                .unwrap()
                .contains("localhost:6443")
        );
    }

    #[test]
    fn an_empty_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = write(&dir.path().join("k"), "https://x", CA, "t", "").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
