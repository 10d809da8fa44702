//! `strata app` end to end, as a user runs it, against a real store and with no controller: the
//! App, its Rollouts (the version history) and its Tasks are written with kubectl as the
//! Marathon controller would write them, so each test checks exactly what the CLI writes.

use serde_json::{Value, json};
use strata_e2e::Server;
use strata_e2e::apps::{strata_app, strata_app_err, strata_app_ok, strata_app_with};

fn apply(s: &Server, object: &Value) {
    s.kubectl_ok_stdin(&["apply", "-f", "-"], Some(&object.to_string()));
}

/// Creates App `name` in `ns` with `spec`.
fn app(s: &Server, ns: &str, name: &str, spec: Value) {
    apply(
        s,
        &json!({
            "apiVersion": "strata.io/v1alpha1", "kind": "App",
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        }),
    );
}

/// Sets App `name`'s status, as the Marathon controller would.
fn app_status(s: &Server, ns: &str, name: &str, status: Value) {
    s.kubectl_ok(&[
        "patch",
        "app",
        name,
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        &json!({ "status": status }).to_string(),
    ]);
}

/// Creates the rollout `<app>-<revision>` of `version`, rolling out `target`.
fn rollout(s: &Server, ns: &str, app: &str, revision: u64, version: &str, target: Value) {
    apply(
        s,
        &json!({
            "apiVersion": "strata.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": format!("{app}-{revision}"), "namespace": ns},
            "spec": {
                "app": app, "revision": revision,
                "change": if revision == 1 { "Start" } else { "Upgrade" },
                "generation": revision, "version": version, "target": target,
            },
        }),
    );
}

/// Creates Task `name` of app `app`, as the Marathon controller would launch it; `finalizer`
/// keeps it in the store once deleted, so what was written to it can be read.
fn task(s: &Server, name: &str, app: Option<&str>, finalizer: Option<&str>) {
    let mut labels = json!({"strata.io/agent": "a1"});
    if let Some(app) = app {
        labels["strata.io/app"] = json!(app);
    }
    apply(
        s,
        &json!({
            "apiVersion": "strata.io/v1alpha1", "kind": "Task",
            "metadata": {
                "name": name, "namespace": "default", "labels": labels,
                "finalizers": finalizer.into_iter().collect::<Vec<_>>(),
            },
            "spec": {"framework": "marathon", "agent": "a1", "command": "sleep 100"},
        }),
    );
}

/// The App `name` in `ns` as JSON.
fn get_app(s: &Server, ns: &str, name: &str) -> Value {
    let out = s.kubectl_ok(&["get", "app", name, "-n", ns, "-o", "json"]);
    serde_json::from_str(&out).expect("kubectl prints JSON")
}

fn task_exists(s: &Server, name: &str) -> bool {
    s.kubectl(&["get", "task", name, "-o", "name"])
        .status
        .success()
}

#[test]
fn restart_sets_a_new_restart_token() {
    let s = Server::start();
    app(
        &s,
        "default",
        "web",
        json!({"cmd": "sleep 100", "instances": 2}),
    );
    let out = strata_app_ok(&s, &["restart", "web"]);
    assert!(out.contains("app/web restarting"), "{out}");
    let token = |s: &Server| {
        get_app(s, "default", "web")["metadata"]["annotations"]["strata.io/restart"]
            .as_str()
            .map(str::to_string)
    };
    let first = token(&s).expect("the restart annotation is set");
    assert!(
        first.len() >= 20 && first.ends_with('Z') && first.contains('T'),
        "an RFC 3339 time: {first}"
    );
    strata_app_ok(&s, &["restart", "web"]);
    let second = token(&s).expect("still set");
    assert_ne!(first, second, "every restart is a new token");
    assert_eq!(
        get_app(&s, "default", "web")["spec"]["instances"],
        2,
        "the spec is left alone"
    );

    let err = strata_app_err(&s, &["restart", "nope"]);
    assert!(err.contains("app default/nope does not exist"), "{err}");
}

#[test]
fn the_namespace_is_the_flags_or_the_kubeconfig_contexts() {
    let s = Server::start();
    s.kubectl_ok(&["create", "namespace", "shop"]);
    app(&s, "shop", "web", json!({"cmd": "sleep 100"}));
    let err = strata_app_err(&s, &["restart", "web"]);
    assert!(err.contains("app default/web does not exist"), "{err}");
    strata_app_ok(&s, &["restart", "web", "--namespace", "shop"]);

    let kubeconfig = s.dir.path().join("shop.kubeconfig");
    std::fs::copy(s.kubeconfig(), &kubeconfig).expect("copy the kubeconfig");
    let path = kubeconfig.display().to_string();
    s.kubectl_ok(&[
        "config",
        "set-context",
        "--current",
        "--namespace=shop",
        "--kubeconfig",
        &path,
    ]);
    let out = strata_app_with(&kubeconfig, &["stop", "web"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("app shop/web has no version yet"),
        "the context's namespace is used: {stderr}"
    );
}

#[test]
fn rollback_to_a_revision_restores_its_spec_but_keeps_instances() {
    let s = Server::start();
    s.kubectl_ok(&["create", "namespace", "shop"]);
    app(
        &s,
        "shop",
        "web",
        json!({"cmd": "serve v2", "instances": 5, "mem": 256, "env": {"NEW": "1"}}),
    );
    rollout(
        &s,
        "shop",
        "web",
        1,
        "v1",
        json!({"cmd": "serve v1", "instances": 1, "mem": 64, "env": {"OLD": "1"}}),
    );
    rollout(
        &s,
        "shop",
        "web",
        2,
        "v2",
        json!({"cmd": "serve v2", "instances": 5, "mem": 256, "env": {"NEW": "1"}}),
    );
    app_status(
        &s,
        "shop",
        "web",
        json!({"revision": 2, "version": "v2", "rollout": "web-2"}),
    );

    let err = strata_app_err(&s, &["rollback", "web", "-n", "shop", "--to-revision", "7"]);
    assert!(
        err.contains("app shop/web has no revision 7") && err.contains("1, 2"),
        "lists the revisions available: {err}"
    );

    let out = strata_app_ok(&s, &["rollback", "web", "-n", "shop", "--to-revision", "1"]);
    assert!(
        out.contains("app/web rolled back to revision 1") && out.contains("keeping 5"),
        "{out}"
    );
    let spec = &get_app(&s, "shop", "web")["spec"];
    assert_eq!(spec["cmd"], "serve v1", "{spec}");
    assert_eq!(spec["mem"], 64, "{spec}");
    assert_eq!(spec["instances"], 5, "instances are kept: {spec}");
    assert_eq!(
        spec["env"],
        json!({"OLD": "1"}),
        "the spec is replaced, not merged: {spec}"
    );
}

#[test]
fn rollback_by_default_goes_to_the_previous_version_and_says_when_there_is_none() {
    let s = Server::start();
    app(
        &s,
        "default",
        "web",
        json!({"cmd": "serve v1", "instances": 3}),
    );
    rollout(
        &s,
        "default",
        "web",
        1,
        "v1",
        json!({"cmd": "serve v1", "instances": 1}),
    );

    let err = strata_app_err(&s, &["rollback", "web"]);
    assert!(
        err.contains("the Marathon controller has not seen the app yet")
            && err.contains("--to-revision"),
        "without a current version: {err}"
    );

    app_status(
        &s,
        "default",
        "web",
        json!({"revision": 1, "version": "v1"}),
    );
    let err = strata_app_err(&s, &["rollback", "web"]);
    assert!(
        err.contains("app default/web has no previous version to roll back to"),
        "{err}"
    );
    assert_eq!(get_app(&s, "default", "web")["spec"]["cmd"], "serve v1");

    // An upgrade to v2, then a scale of v2 (revision 3, same version): the previous version is
    // v1, at revision 1.
    s.kubectl_ok(&[
        "patch",
        "app",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"cmd":"serve v2","instances":4}}"#,
    ]);
    rollout(
        &s,
        "default",
        "web",
        2,
        "v2",
        json!({"cmd": "serve v2", "instances": 3}),
    );
    rollout(
        &s,
        "default",
        "web",
        3,
        "v2",
        json!({"cmd": "serve v2", "instances": 4}),
    );
    app_status(
        &s,
        "default",
        "web",
        json!({"revision": 3, "version": "v2"}),
    );
    let out = strata_app_ok(&s, &["rollback", "web"]);
    assert!(out.contains("revision 1 (version v1)"), "{out}");
    let spec = &get_app(&s, "default", "web")["spec"];
    assert_eq!(spec["cmd"], "serve v1", "{spec}");
    assert_eq!(spec["instances"], 4, "{spec}");
}

#[test]
fn stop_needs_a_version_and_resume_undoes_it() {
    let s = Server::start();
    app(
        &s,
        "default",
        "web",
        json!({"cmd": "exit 1", "instances": 2}),
    );
    let err = strata_app_err(&s, &["stop", "web"]);
    assert!(
        err.contains("the Marathon controller has not seen the app yet"),
        "{err}"
    );
    let annotation = |s: &Server| {
        get_app(s, "default", "web")["metadata"]["annotations"]["strata.io/launches-stopped"]
            .clone()
    };
    assert_eq!(annotation(&s), Value::Null, "nothing written");

    app_status(&s, "default", "web", json!({"version": "3f2a9c"}));
    let out = strata_app_ok(&s, &["stop", "web"]);
    assert!(out.contains("launches of version 3f2a9c stopped"), "{out}");
    assert_eq!(annotation(&s), "3f2a9c");

    let out = strata_app_ok(&s, &["resume", "web"]);
    assert!(out.contains("app/web: launches resumed"), "{out}");
    assert_eq!(annotation(&s), Value::Null, "the annotation is removed");
    let out = strata_app_ok(&s, &["resume", "web"]);
    assert!(out.contains("not stopped"), "{out}");
}

#[test]
fn kill_deletes_the_task_and_leaves_the_app_alone() {
    let s = Server::start();
    app(
        &s,
        "default",
        "web",
        json!({"cmd": "sleep 100", "instances": 2}),
    );
    task(&s, "web-abc12", Some("web"), None);
    let out = strata_app_ok(&s, &["kill", "web-abc12"]);
    assert!(
        out.contains("task/web-abc12 killed; app/web replaces it"),
        "{out}"
    );
    assert!(!task_exists(&s, "web-abc12"));
    assert_eq!(get_app(&s, "default", "web")["spec"]["instances"], 2);

    let err = strata_app_err(&s, &["kill", "web-abc12"]);
    assert!(
        err.contains("task default/web-abc12 does not exist"),
        "{err}"
    );
}

#[test]
fn kill_with_scale_marks_the_task_scales_down_and_deletes_it() {
    let s = Server::start();
    app(
        &s,
        "default",
        "web",
        json!({"cmd": "sleep 100", "instances": 3}),
    );
    // The finalizer stands in for the agent's: the deleted task stays readable.
    task(&s, "web-abc12", Some("web"), Some("test.strata.io/hold"));
    let out = strata_app_ok(&s, &["kill", "web-abc12", "--scale"]);
    assert!(
        out.contains("task/web-abc12 killed; app/web scaled down to 2 instances"),
        "{out}"
    );
    assert_eq!(get_app(&s, "default", "web")["spec"]["instances"], 2);
    let task_json: Value =
        serde_json::from_str(&s.kubectl_ok(&["get", "task", "web-abc12", "-o", "json"]))
            .expect("JSON");
    assert_eq!(
        task_json["metadata"]["annotations"]["strata.io/kill-first"], "true",
        "{task_json}"
    );
    assert!(
        task_json["metadata"]["deletionTimestamp"].is_string(),
        "deleted: {task_json}"
    );
    s.kubectl_ok(&[
        "patch",
        "task",
        "web-abc12",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    assert!(!task_exists(&s, "web-abc12"));

    // A task of no app has no app to scale down.
    task(&s, "loose", None, None);
    let err = strata_app_err(&s, &["kill", "loose", "--scale"]);
    assert!(
        err.contains("belongs to no app") && err.contains("without --scale"),
        "{err}"
    );
    assert!(task_exists(&s, "loose"), "not killed");
}

#[test]
fn versions_lists_the_revisions_and_marks_the_current_one() {
    let s = Server::start();
    app(
        &s,
        "default",
        "web",
        json!({"cmd": "serve v2", "instances": 2}),
    );
    let err = strata_app(&s, &["versions", "web"]);
    assert!(err.status.success());
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("has no rollouts yet"),
        "{err:?}"
    );

    rollout(
        &s,
        "default",
        "web",
        1,
        "v1",
        json!({"cmd": "serve v1", "instances": 2}),
    );
    rollout(
        &s,
        "default",
        "web",
        2,
        "v2",
        json!({"cmd": "serve v2", "instances": 2}),
    );
    // Another app's rollout is not in web's history.
    rollout(
        &s,
        "default",
        "api",
        1,
        "a1",
        json!({"cmd": "serve api", "instances": 1}),
    );
    s.kubectl_ok(&[
        "patch",
        "rollout",
        "web-1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Superseded"}}"#,
    ]);
    app_status(
        &s,
        "default",
        "web",
        json!({"revision": 2, "version": "v2", "rollout": "web-2"}),
    );
    let out = strata_app_ok(&s, &["versions", "web"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two revisions:\n{out}");
    for column in ["REVISION", "CHANGE", "VERSION", "PHASE", "CREATED"] {
        assert!(lines[0].contains(column), "{column} missing:\n{out}");
    }
    let cells = |line: &str| {
        line.split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cells(lines[1])[..4],
        ["1", "Start", "v1", "Superseded"],
        "{out}"
    );
    assert!(lines[1].starts_with(' '), "not current:\n{out}");
    assert_eq!(cells(lines[2])[..4], ["*", "2", "Upgrade", "v2"], "{out}");
    assert!(!out.contains("a1"), "{out}");
}
