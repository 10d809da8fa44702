//! Python for the tests that drive strata from Python (the official `kubernetes` client,
//! Selenium for the console's browser tests): one virtual environment per target directory,
//! `py-venv`, created on first use with the packages a test asks for.
//!
//! Why it exists: tests run as separate processes, possibly at once, and each wants some
//! packages in the same venv; creating it and installing into it happen under `flock`, and only
//! what is missing is installed (from PyPI, through pip).

use std::path::PathBuf;
use std::process::Command;

/// A package a test needs: the module it imports and the pip requirement that provides it.
#[derive(Debug, Clone, Copy)]
pub struct Package {
    pub module: &'static str,
    pub requirement: &'static str,
}

/// The official Kubernetes client.
pub const KUBERNETES: Package = Package {
    module: "kubernetes",
    requirement: "kubernetes>=31,<36",
};

/// Selenium, which drives chromedriver (given explicitly: Selenium Manager never downloads).
pub const SELENIUM: Package = Package {
    module: "selenium",
    requirement: "selenium>=4.20,<5",
};

/// The target directory this test was built in (`CARGO_TARGET_DIR` may put it outside the
/// repository): `target/<profile>/deps/<test>` -> `target`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors()
        .nth(3)
        .expect("the test runs from a target directory")
        .to_path_buf()
}

/// The venv's python with `packages` importable, installing those missing (under flock).
pub fn python(packages: &[Package]) -> PathBuf {
    let target = target_dir();
    let venv = target.join("py-venv");
    let v = venv.display();
    let imports = packages
        .iter()
        .map(|p| p.module)
        .collect::<Vec<_>>()
        .join(", ");
    let requirements = packages
        .iter()
        .map(|p| format!("'{}'", p.requirement))
        .collect::<Vec<_>>()
        .join(" ");
    let script = format!(
        "{v}/bin/python -c 'import {imports}' 2>/dev/null || \
         {{ {{ [ -x {v}/bin/python ] || python3 -m venv {v}; }} && \
            {v}/bin/pip install --quiet --disable-pip-version-check {requirements}; }}"
    );
    let status = Command::new("flock")
        .arg(target.join("py-venv.lock"))
        .args(["sh", "-c", &script])
        .status()
        .expect("flock and sh run");
    assert!(
        status.success(),
        "installing {requirements} into {v} failed"
    );
    venv.join("bin/python")
}
