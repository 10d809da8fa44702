//! The official Python `kubernetes` client lists, creates, patches and watches a custom resource.
//! The client is installed into the tests' virtual environment ([`strata_e2e::python`]).

use std::process::Command;

use strata_e2e::python::{self, KUBERNETES};
use strata_e2e::{Server, repo_root};

#[test]
fn python_client_lists_creates_and_watches_apps() {
    let py = python::python(&[KUBERNETES]);
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
