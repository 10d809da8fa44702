//! The official Python `kubernetes` client lists, creates, patches and watches a custom resource.
//! The client is installed into a virtual environment in the target directory on first use.

use std::path::PathBuf;
use std::process::Command;

use strata_e2e::{Server, repo_root};

/// A venv with the `kubernetes` package, created once per target directory (under flock, since
/// tests run as separate processes). The target directory is the one this test was built in
/// (`CARGO_TARGET_DIR` may put it outside the repository).
fn python() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the test runs from a target directory");
    let venv = target.join("py-venv");
    let script = format!(
        "{v}/bin/python -c 'import kubernetes' 2>/dev/null || \
         {{ python3 -m venv {v} && {v}/bin/pip install --quiet 'kubernetes>=31,<36'; }}",
        v = venv.display()
    );
    let status = Command::new("flock")
        .arg(target.join("py-venv.lock"))
        .args(["sh", "-c", &script])
        .status()
        .expect("flock and sh run");
    assert!(
        status.success(),
        "installing the Python kubernetes client into {} failed",
        venv.display()
    );
    venv.join("bin/python")
}

#[test]
fn python_client_lists_creates_and_watches_apps() {
    let py = python();
    let s = Server::start();
    let out = Command::new(py)
        .arg(repo_root().join("tests/python/custom_resource.py"))
        .arg(s.kubeconfig())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python client failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}
