//! The web console in a real headless Chromium (Debian's `chromium` and `chromium-driver`),
//! driven by Selenium from `tests/python/console_browser.py` against `strata up` with the
//! examples applied: a wrong token is refused, the Apps table shows the seed's apps, an app
//! created in the New App form appears Running by itself, scaling it in its page reaches
//! `kubectl get apps`, suspending it shows Suspended, an invalid app gets its field error and
//! is not created, and a task's sandbox page shows its stdout. A screenshot after each step
//! goes to `<target>/console-artifacts/`.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use strata_e2e::agent::{busybox_image, free_port_range};
use strata_e2e::examples::{EXPECTED, columns, wait_for_table};
use strata_e2e::python::{self, SELENIUM, target_dir};
use strata_e2e::{Server, repo_root};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the browser script may run before it is killed (it takes well under a minute).
const SCRIPT_LIMIT: Duration = Duration::from_secs(180);

/// [`EXPECTED`] as JSON: one object per app, by column name.
fn expected_rows() -> String {
    let rows: Vec<Value> = EXPECTED
        .iter()
        .map(|row| {
            let cells: Map<String, Value> = columns()
                .zip(row)
                .map(|(column, cell)| (column.to_string(), Value::from(*cell)))
                .collect();
            Value::Object(cells)
        })
        .collect();
    Value::Array(rows).to_string()
}

/// Runs `command` in its own process group, killing the whole group (the browser and its
/// driver with it) when it ends or after `limit`; its exit success and what it printed.
fn run_in_group(mut command: Command, limit: Duration, logs: &Path) -> (bool, String) {
    let out = std::fs::File::create(logs.join("script.out")).expect("script.out");
    let err = out.try_clone().expect("script.out");
    let mut child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("python runs");
    let group = child.id();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for python") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Whatever the script left behind (chromium if it died before quitting the driver).
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
    let printed = std::fs::read_to_string(logs.join("script.out")).unwrap_or_default();
    match status {
        Some(status) => (status.success(), printed),
        None => (
            false,
            format!("{printed}\n(killed after {} s)", limit.as_secs()),
        ),
    }
}

#[test]
fn the_console_in_a_real_browser() {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: install Debian's chromium and chromium-driver (.ci/run does)"
        );
    }
    let py = python::python(&[SELENIUM]);
    busybox_image();
    let ports = free_port_range(8);
    let resources = format!(
        "cpus:16;mem:32768;disk:20000;ports:[{}-{}]",
        ports.start(),
        ports.end()
    );
    let server = Server::up(&["--agent-name", "browser-up", "--resources", &resources]);
    let examples = repo_root().join("manifests/examples");
    server.kubectl_ok(&["apply", "-f", &examples.display().to_string()]);
    if let Err((table, problems)) = wait_for_table(&server) {
        panic!(
            "kubectl get apps did not reach the seed's table:\n{}\n\n{table}",
            problems.join("\n")
        );
    }

    let artifacts = target_dir().join("console-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("the artifacts directory");
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(py);
    command
        .arg(repo_root().join("tests/python/console_browser.py"))
        .args([
            "--url",
            &format!("http://127.0.0.1:{}", server.console_port.unwrap()),
        ])
        .args(["--token", &server.admin_token()])
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .arg("--artifacts")
        .arg(&artifacts)
        .args(["--expected", &expected_rows()])
        .args(["--chromium", CHROMIUM, "--chromedriver", CHROMEDRIVER])
        .arg("--scratch")
        .arg(scratch.path())
        .env("KUBECACHEDIR", scratch.path().join("kubecache"))
        // Selenium Manager must never try to download a driver or a browser.
        .env("SE_OFFLINE", "true");
    let started = Instant::now();
    let (ok, printed) = run_in_group(command, SCRIPT_LIMIT, scratch.path());
    assert!(
        ok,
        "the console's browser test failed (screenshots in {}):\n{printed}",
        artifacts.display()
    );
    println!(
        "{printed}the browser steps took {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        artifacts.display()
    );
}
