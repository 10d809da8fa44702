//! The `strata` CLI's comforts end to end, as a user sees them: `strata apps` prints the
//! Marathon table, `strata deploy -f --wait` follows a rollout to its end (or fails with the
//! controller's reason), `strata logs APP` finds the app's task, `strata completions` prints a
//! script, and errors say what to do next.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_e2e::agent::{Agent, agent_token};
use strata_e2e::apps::{MARATHON_COLUMNS, apply, sleeper, tasks_column, wait_app};
use strata_e2e::cluster::Cluster;
use strata_e2e::{Server, strata_bin};

/// Runs `strata ARGS --kubeconfig KUBECONFIG` (none when `kubeconfig` is None) with nothing
/// from the environment that would point it elsewhere.
fn strata(kubeconfig: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(strata_bin());
    cmd.args(args)
        .env_remove("KUBECONFIG")
        .env_remove("STRATA_SERVER")
        .env_remove("STRATA_TOKEN")
        .stdin(Stdio::null());
    if let Some(kubeconfig) = kubeconfig {
        cmd.arg("--kubeconfig").arg(kubeconfig);
    }
    cmd.output().expect("strata runs")
}

/// Runs `strata ARGS` against `s`, failing the test if it fails; returns stdout.
fn strata_ok(s: &Server, args: &[&str]) -> String {
    let out = strata(Some(&s.kubeconfig()), args);
    assert!(
        out.status.success(),
        "strata {} failed ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs `strata ARGS` against `s` expecting it to fail; returns (stdout, stderr).
fn strata_err(s: &Server, args: &[&str]) -> (String, String) {
    let out = strata(Some(&s.kubeconfig()), args);
    assert!(
        !out.status.success(),
        "strata {} should have failed but printed:\n{}",
        args.join(" "),
        text(&out.stdout)
    );
    (text(&out.stdout), text(&out.stderr))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `yaml` to a manifest file in a new directory.
fn manifest(yaml: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, yaml).unwrap();
    (dir, path.display().to_string())
}

#[test]
fn apps_prints_the_marathon_table() {
    let cluster = Cluster::start(2, "cpus:4;mem:4096;ports:[31000-31100]", &[]);
    apply(&cluster, &sleeper("web", 2, ""));
    apply(&cluster, &sleeper("db", 1, "  mem: 256\n"));
    wait_app(&cluster, "web", "2 running", tasks_column("2 / 2"));
    wait_app(&cluster, "db", "1 running", tasks_column("1 / 1"));
    let s = &cluster.server;

    let table = strata_ok(s, &["apps"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("NAME "), "{table}");
    for column in MARATHON_COLUMNS {
        assert!(header.contains(column), "{column} in {table}");
    }
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("a row for {name}:\n{table}"))
            .split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        row("web")[..7],
        ["web", "/web", "64", "0.5", "2 / 2", "2 running", "Running"],
        "{table}"
    );
    assert_eq!(
        row("db")[..7],
        ["db", "/db", "256", "0.5", "1 / 1", "1 running", "Running"],
        "{table}"
    );
    // The columns line up: every row's STATUS starts where the header's does.
    let at = header.find("STATUS").unwrap();
    for line in table.lines().skip(1) {
        assert_eq!(&line[at..at + 7], "Running", "{table}");
    }

    let filtered = strata_ok(s, &["apps", "we"]);
    assert!(
        filtered.contains("/web") && !filtered.contains("/db"),
        "{filtered}"
    );
    let out = strata(Some(&s.kubeconfig()), &["apps", "--status", "waiting"]);
    assert!(out.status.success() && out.stdout.is_empty());
    assert!(text(&out.stderr).starts_with("No apps match in namespace default"));
    let out = strata(Some(&s.kubeconfig()), &["apps", "-n", "empty"]);
    assert_eq!(
        text(&out.stderr),
        "No apps in namespace empty (kubectl apply -f manifests/examples/ creates some)\n"
    );
    let all = strata_ok(s, &["apps", "-A"]);
    assert!(all.starts_with("NAMESPACE   NAME"), "{all}");
    let json: Value = serde_json::from_str(&strata_ok(s, &["apps", "-o", "json"])).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 2);
    assert_eq!(json["items"][1]["status"]["tasks"], "2 / 2");
    let yaml = strata_ok(s, &["apps", "-o", "yaml", "web"]);
    assert!(
        yaml.contains("kind: List") && yaml.contains("  name: web"),
        "{yaml}"
    );
}

#[test]
fn errors_say_what_to_do_next() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("kubeconfig");
    let out = strata(Some(&missing), &["apps"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("no kubeconfig at"), "{err}");
    assert!(
        err.contains("`strata up`") && err.contains("export KUBECONFIG="),
        "{err}"
    );

    let mut s = Server::start();
    let admin = std::fs::read_to_string(s.kubeconfig()).unwrap();
    let as_user = |token: &str| {
        let path = dir.path().join(format!("kubeconfig-{}", token.len()));
        std::fs::write(&path, admin.replace(&s.admin_token(), token)).unwrap();
        let out = strata(Some(&path), &["apps", "-n", "prod"]);
        assert!(!out.status.success());
        text(&out.stderr)
    };
    let err = as_user("not-a-token");
    assert!(
        err.contains("cannot list apps in namespace prod: the store at")
            && err.contains("refused the credentials (401 Unauthorized)"),
        "{err}"
    );
    s.kubectl_ok(&["create", "serviceaccount", "ann"]);
    let token = s.kubectl_ok(&["create", "token", "ann"]);
    let err = as_user(token.trim());
    assert!(
        err.contains("you may not list apps in namespace prod: ")
            && err.contains("ask an admin for a RoleBinding"),
        "{err}"
    );

    let kubeconfig = s.kubeconfig();
    s.kill();
    let out = strata(Some(&kubeconfig), &["apps"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot list apps in namespace default: nothing answers at https://127.0.0.1:{}",
            s.port
        )) && err.contains("is strata running there?"),
        "{err}"
    );
}

#[test]
fn deploy_waits_until_the_rollout_is_done_and_shows_its_progress() {
    let cluster = Cluster::start(2, "cpus:4;mem:4096;ports:[31000-31100]", &[]);
    let s = &cluster.server;
    let conf = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-conf}\ndata: {a: b}\n";
    let (_dir, file) = manifest(&format!("{}---\n{conf}", sleeper("web", 2, "")));

    let started = Instant::now();
    let out = strata_ok(s, &["deploy", "-f", &file, "--wait", "--timeout", "60s"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..2],
        ["app/web created", "configmap/web-conf created"],
        "{out}"
    );
    assert!(
        lines[2..lines.len() - 1]
            .iter()
            .all(|l| l.starts_with("app/web: ") && l.contains(" healthy, ")),
        "a line per change of the rollout:\n{out}"
    );
    assert_eq!(
        lines.last(),
        Some(&"app/web: rollout web-1 done: 2/2 instances healthy"),
        "{out}"
    );
    let app: Value = serde_json::from_str(&s.kubectl_ok(&[
        "get",
        "app",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ]))
    .unwrap();
    assert_eq!(
        app["status"]["tasks"], "2 / 2",
        "Running when the deploy returns"
    );
    let managers: Vec<&str> = app["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"strata-deploy"), "{managers:?}");

    // Nothing changed: it says so and returns at once.
    let again = Instant::now();
    let out = strata_ok(s, &["deploy", "-f", &file, "--wait"]);
    assert!(
        out.starts_with("app/web unchanged\nconfigmap/web-conf unchanged\n"),
        "{out}"
    );
    assert!(
        out.ends_with("app/web: rollout web-1 done: 2/2 instances healthy\n"),
        "{out}"
    );
    assert!(
        again.elapsed() < Duration::from_secs(5),
        "{:?}",
        again.elapsed()
    );

    // A new spec: the new rollout is followed, never the finished one.
    let (_dir2, file2) = manifest(&sleeper("web", 3, ""));
    let out = strata_ok(s, &["deploy", "-f", &file2, "--wait", "--timeout", "60s"]);
    assert!(out.starts_with("app/web configured\n"), "{out}");
    assert!(
        out.ends_with("app/web: rollout web-2 done: 3/3 instances healthy\n"),
        "{out}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_deploy_that_cannot_fit_fails_with_the_reason() {
    let cluster = Cluster::start(2, "cpus:4;mem:4096;ports:[31000-31100]", &[]);
    let (_dir, file) = manifest(
        "apiVersion: strata.io/v1alpha1\nkind: App\nmetadata: {name: big}\nspec: {cmd: sleep 1000, \
         cpus: 64}\n",
    );
    let (out, err) = strata_err(
        &cluster.server,
        &["deploy", "-f", &file, "--wait", "--timeout", "5s"],
    );
    assert!(out.starts_with("app/big created\n"), "{out}\n{err}");
    assert!(
        err.contains("app big: rollout big-1 is waiting for offers: 1 instance(s) wait for offers"),
        "{err}"
    );
    assert!(err.contains("insufficient cpus"), "{err}");
    assert!(err.contains("no agent offered 64 cpus"), "{err}");
    assert!(err.contains("(gave up after 5s)"), "{err}");
}

#[test]
fn deploying_an_invalid_app_prints_the_field_error() {
    let s = Server::start();
    let both = sleeper("web", 1, "  args: [sleep, \"100\"]\n");
    let conf = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n";
    let (_dir, file) = manifest(&format!("{both}---\n{conf}"));
    let (out, err) = strata_err(&s, &["deploy", "-f", &file, "--wait"]);
    assert!(
        err.contains("app/web in namespace default (")
            && err.contains("spec.args: Invalid value: \"array\": set cmd or args, not both"),
        "{err}"
    );
    assert!(
        err.contains("1 of 2 object(s) could not be applied; not waiting"),
        "{err}"
    );
    assert_eq!(
        out, "configmap/fine created\n",
        "the valid object is applied"
    );
    let missing = s.kubectl(&["get", "app", "web"]);
    assert!(!missing.status.success(), "the invalid app is not stored");

    let (_dir, bad) = manifest("kind: App\nmetadata: {name: x}\n");
    let (_, err) = strata_err(&s, &["deploy", "-f", &bad]);
    assert!(
        err.contains("app.yaml: an object needs apiVersion and kind"),
        "{err}"
    );
    let (_d3, unknown) =
        manifest("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n");
    let (_, err) = strata_err(&s, &["deploy", "-f", &unknown]);
    assert!(err.contains("the store serves no"), "{err}");
}

#[test]
fn deploying_the_same_manifest_again_changes_nothing() {
    let s = Server::start();
    // Ports and a health check whose defaults (protocol, intervals) the manifest leaves out.
    let example = strata_e2e::repo_root().join("manifests/examples/cmskibana-dev.web.yaml");
    let example = example.display().to_string();
    assert_eq!(
        strata_ok(&s, &["deploy", "-f", &example]),
        "app/cmskibana-dev.web created\n"
    );
    for _ in 0..2 {
        assert_eq!(
            strata_ok(&s, &["deploy", "-f", &example]),
            "app/cmskibana-dev.web unchanged\n"
        );
    }
    let generation = s.kubectl_ok(&[
        "get",
        "app",
        "cmskibana-dev.web",
        "-o",
        "jsonpath={.metadata.generation}",
    ]);
    assert_eq!(generation, "1", "no new generation, so no new rollout");

    // Someone else changed a field the manifest sets: the deploy says how to take it over.
    s.kubectl_ok(&[
        "patch",
        "app",
        "cmskibana-dev.web",
        "--type=merge",
        "-p",
        r#"{"spec":{"instances":3}}"#,
    ]);
    let (_, err) = strata_err(&s, &["deploy", "-f", &example]);
    assert!(
        err.contains("conflict with \"kubectl-patch\"") && err.contains(".spec.instances"),
        "{err}"
    );
    assert!(
        err.contains("apply with --force-conflicts to take them over"),
        "{err}"
    );
    assert_eq!(
        strata_ok(&s, &["deploy", "-f", &example, "--force-conflicts"]),
        "app/cmskibana-dev.web configured\n"
    );
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = strata(None, &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(
            script.contains("deploy") && script.contains("strata"),
            "{shell}:\n{script}"
        );
    }
    let help = text(&strata(None, &["completions", "--help"]).stdout);
    assert!(
        help.contains("~/.local/share/bash-completion/completions/strata"),
        "{help}"
    );
}

#[test]
fn logs_of_an_app_show_its_task() {
    let cluster = Cluster::without_agents(&[]);
    let s = &cluster.server;
    let _agent = Agent::start(s, "a1", &agent_token(s, "a1"), &[]);
    apply(
        &cluster,
        "apiVersion: strata.io/v1alpha1\nkind: App\nmetadata: {name: web}\nspec:\n  \
         cmd: 'for i in 1 2 3; do echo line-$i; done; sleep 1000'\n  cpus: 0.1\n  mem: 32\n",
    );
    let app = wait_app(&cluster, "web", "running", tasks_column("1 / 1"));
    assert_eq!(app["status"]["phase"], "Running");

    let deadline = Instant::now() + Duration::from_secs(20);
    let (out, err) = loop {
        let out = strata(Some(&s.kubeconfig()), &["logs", "web"]);
        let stdout = text(&out.stdout);
        if out.status.success() && stdout.contains("line-3") || Instant::now() > deadline {
            break (stdout, text(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(out, "line-1\nline-2\nline-3\n", "{err}");
    assert!(err.starts_with("app web: task web"), "{err}");
    assert!(err.contains("(Running on agent a1)"), "{err}");
    assert_eq!(
        strata_ok(s, &["logs", "web", "--tail", "2"]),
        "line-2\nline-3\n"
    );
    assert_eq!(strata_ok(s, &["logs", "web", "--tail", "0"]), "");

    let (_, err) = strata_err(s, &["logs", "nothing"]);
    assert!(
        err.contains("no task or app named nothing in namespace default"),
        "{err}"
    );
}
