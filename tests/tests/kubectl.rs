//! kubectl 1.32, unmodified, against a running `strata server`: the verbs and flags users rely on.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use strata_e2e::apps::MARATHON_COLUMNS;
use strata_e2e::{Server, eventually, repo_root};

const APP: &str = r#"
apiVersion: strata.io/v1alpha1
kind: App
metadata:
  name: web
  namespace: default
spec:
  cmd: "echo env; sleep 10"
  instances: 2
  cpus: 0.5
  mem: 64
"#;

fn examples() -> String {
    repo_root().join("manifests/examples").display().to_string()
}

#[test]
fn apply_get_and_reapply_show_marathon_columns() {
    let s = Server::start();
    let out = s.kubectl_ok_stdin(&["apply", "-f", "-"], Some(APP));
    assert!(out.contains("app.strata.io/web created"), "{out}");
    let table = s.kubectl_ok(&["get", "apps"]);
    let header = table.lines().next().unwrap_or_default();
    for col in MARATHON_COLUMNS {
        assert!(header.contains(col), "column {col} missing from:\n{table}");
    }
    assert!(
        table.contains("web") && table.contains("64") && table.contains("0.5"),
        "{table}"
    );
    // Re-apply with a change: client-side apply computes a merge patch.
    let changed = APP.replace("mem: 64", "mem: 128");
    let out = s.kubectl_ok_stdin(&["apply", "-f", "-"], Some(&changed));
    assert!(out.contains("configured"), "{out}");
    let mem = s.kubectl_ok(&["get", "app", "web", "-o", "jsonpath={.spec.mem}"]);
    assert_eq!(mem, "128");
    // Unchanged re-apply.
    let out = s.kubectl_ok_stdin(&["apply", "-f", "-"], Some(&changed));
    assert!(out.contains("unchanged"), "{out}");
    let yaml = s.kubectl_ok(&["get", "app", "web", "-o", "yaml"]);
    assert!(
        yaml.contains("kubectl.kubernetes.io/last-applied-configuration"),
        "{yaml}"
    );
    assert!(
        yaml.contains("uid:")
            && yaml.contains("resourceVersion:")
            && yaml.contains("generation: 2"),
        "{yaml}"
    );
}

#[test]
fn server_side_apply_conflicts_and_force() {
    let s = Server::start();
    s.kubectl_ok_stdin(&["apply", "--server-side", "-f", "-"], Some(APP));
    // Another manager changes instances: kubectl scale owns spec.instances now.
    s.kubectl_ok(&["scale", "app/web", "--replicas=5"]);
    assert_eq!(
        s.kubectl_ok(&["get", "app", "web", "-o", "jsonpath={.spec.instances}"]),
        "5"
    );
    let changed = APP.replace("instances: 2", "instances: 3");
    let err = s.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(&changed));
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(
        !err.status.success() && stderr.contains("conflict"),
        "{stderr}"
    );
    assert!(stderr.contains(".spec.instances"), "{stderr}");
    s.kubectl_ok_stdin(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        Some(&changed),
    );
    assert_eq!(
        s.kubectl_ok(&["get", "app", "web", "-o", "jsonpath={.spec.instances}"]),
        "3"
    );
    // A field the manager stops applying is removed.
    let without_cpus = changed.replace("  cpus: 0.5\n", "");
    s.kubectl_ok_stdin(&["apply", "--server-side", "-f", "-"], Some(&without_cpus));
    let yaml = s.kubectl_ok(&["get", "app", "web", "-o", "yaml", "--show-managed-fields"]);
    assert!(yaml.contains("manager: kubectl"), "{yaml}");
}

#[test]
fn examples_apply_client_and_server_side_and_kustomize() {
    let s = Server::start();
    let dir = examples();
    let more = format!("{dir}/more");
    // The top level is the seed's six apps and the Docker web app; more/ is applied on its own.
    let out = s.kubectl_ok(&["apply", "-f", &dir]);
    let created = out.lines().filter(|l| l.ends_with(" created")).count();
    assert_eq!(created, 7, "{out}");
    assert!(
        out.lines().all(|l| l.starts_with("app.strata.io/")),
        "{out}"
    );
    let out = s.kubectl_ok(&["apply", "-f", &more]);
    assert!(out.contains("created"), "{out}");
    for d in [&dir, &more] {
        let out = s.kubectl_ok(&["apply", "--server-side", "-f", d]);
        assert!(out.contains("serverside-applied"), "{out}");
    }
    let out = s.kubectl_ok(&["apply", "-k", &format!("{more}/kustomize")]);
    assert!(
        out.contains("created") || out.contains("configured"),
        "{out}"
    );
    let all = s.kubectl_ok(&["get", "strata", "-A"]);
    assert!(
        all.contains("app.strata.io/") || all.contains("NAME"),
        "{all}"
    );
}

#[test]
fn discovery_explain_and_categories() {
    let s = Server::start();
    let res = s.kubectl_ok(&["api-resources"]);
    for line in [
        "apps",
        "agents",
        "frameworks",
        "offers",
        "tasks",
        "namespaces",
        "configmaps",
        "leases",
    ] {
        assert!(
            res.lines().any(|l| l.starts_with(line)),
            "{line} missing:\n{res}"
        );
    }
    let explain = s.kubectl_ok(&["explain", "app.spec"]);
    assert!(explain.contains("instances"), "{explain}");
    s.kubectl_ok_stdin(&["apply", "-f", "-"], Some(APP));
    let cat = s.kubectl_ok(&["get", "strata", "-A"]);
    assert!(cat.contains("web"), "{cat}");
}

#[test]
fn describe_diff_label_annotate_and_patches() {
    let s = Server::start();
    s.kubectl_ok_stdin(&["apply", "-f", "-"], Some(APP));
    let d = s.kubectl_ok(&["describe", "app", "web"]);
    assert!(d.contains("Name:") && d.contains("web"), "{d}");
    let changed = APP.replace("mem: 64", "mem: 256");
    let diff = s.kubectl_stdin(&["diff", "-f", "-"], Some(&changed));
    assert_eq!(
        diff.status.code(),
        Some(1),
        "diff exits 1 when there are differences: {}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(String::from_utf8_lossy(&diff.stdout).contains("256"));
    // The server-side dry run stored nothing.
    assert_eq!(
        s.kubectl_ok(&["get", "app", "web", "-o", "jsonpath={.spec.mem}"]),
        "64"
    );
    s.kubectl_ok(&["label", "app", "web", "tier=frontend"]);
    s.kubectl_ok(&["annotate", "app", "web", "owner=team-a"]);
    let got = s.kubectl_ok(&["get", "app", "-l", "tier=frontend", "-o", "name"]);
    assert_eq!(got.trim(), "app.strata.io/web");
    assert!(
        s.kubectl_ok(&["get", "app", "-l", "tier!=frontend", "-o", "name"])
            .trim()
            .is_empty()
    );
    s.kubectl_ok(&[
        "patch",
        "app",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"mem":96}}"#,
    ]);
    s.kubectl_ok(&[
        "patch",
        "app",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/cpus","value":0.25}]"#,
    ]);
    let err = s.kubectl_err(&[
        "patch",
        "app",
        "web",
        "--type=strategic",
        "-p",
        r#"{"spec":{"mem":1}}"#,
    ]);
    assert!(
        err.contains("415")
            || err.to_lowercase().contains("unsupported media type")
            || err.contains("strategic"),
        "{err}"
    );
    // Strategic merge works on built-ins.
    s.kubectl_ok(&["create", "configmap", "cfg", "--from-literal=a=1"]);
    s.kubectl_ok(&["patch", "configmap", "cfg", "-p", r#"{"data":{"b":"2"}}"#]);
    let data = s.kubectl_ok(&["get", "cm", "cfg", "-o", "jsonpath={.data}"]);
    assert!(
        data.contains("\"a\":\"1\"") && data.contains("\"b\":\"2\""),
        "{data}"
    );
    let spec = s.kubectl_ok(&[
        "get",
        "app",
        "web",
        "-o",
        "jsonpath={.spec.mem} {.spec.cpus}",
    ]);
    assert_eq!(spec, "96 0.25");
}

#[test]
fn scale_wait_and_watch() {
    let s = Server::start();
    s.kubectl_ok_stdin(&["apply", "-f", "-"], Some(APP));
    let mut watch = Command::new("kubectl")
        .env("KUBECONFIG", s.kubeconfig())
        .args(["get", "apps", "-w", "--output-watch-events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let stdout = watch.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let out = s.kubectl_ok(&["scale", "app/web", "--replicas=4"]);
    assert!(out.contains("scaled"), "{out}");
    let saw = eventually(Duration::from_secs(10), || {
        rx.try_iter()
            .find(|l| l.contains("MODIFIED") && l.contains("web"))
    });
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(saw.is_some(), "kubectl get -w did not show the change");
    assert_eq!(
        s.kubectl_ok(&["get", "app", "web", "-o", "jsonpath={.spec.instances}"]),
        "4"
    );
    // A controller would set the condition; set it through the status subresource.
    s.kubectl_ok(&[
        "patch", "app", "web", "--subresource=status", "--type=merge", "-p",
        r#"{"status":{"conditions":[{"type":"Available","status":"True","reason":"AllHealthy","message":"ok","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#,
    ]);
    let out = s.kubectl_ok(&[
        "wait",
        "--for=condition=Available",
        "app/web",
        "--timeout=20s",
    ]);
    assert!(out.contains("condition met"), "{out}");
}

#[test]
fn delete_cascades_like_kubernetes() {
    let s = Server::start();
    for (owner, policy) in [
        ("bg", "background"),
        ("fg", "foreground"),
        ("orph", "orphan"),
    ] {
        s.kubectl_ok(&["create", "configmap", owner]);
        let uid = s.kubectl_ok(&["get", "cm", owner, "-o", "jsonpath={.metadata.uid}"]);
        let dep = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {owner}-child\n  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: {owner}\n    uid: {uid}\n    blockOwnerDeletion: true\n"
        );
        s.kubectl_ok_stdin(&["apply", "-f", "-"], Some(&dep));
        s.kubectl_ok(&[
            "delete",
            "cm",
            owner,
            &format!("--cascade={policy}"),
            "--timeout=30s",
        ]);
        let child = format!("{owner}-child");
        let gone = eventually(Duration::from_secs(20), || {
            let out = s.kubectl(&["get", "cm", &child, "-o", "name"]);
            let exists = out.status.success();
            match policy {
                "orphan" => exists.then_some(()),
                _ => (!exists).then_some(()),
            }
        });
        assert!(gone.is_some(), "dependent of a {policy} delete not handled");
        if policy == "orphan" {
            let refs = s.kubectl_ok(&[
                "get",
                "cm",
                &child,
                "-o",
                "jsonpath={.metadata.ownerReferences}",
            ]);
            assert!(
                refs.trim().is_empty(),
                "orphaned dependent keeps ownerReferences: {refs}"
            );
        }
    }
}

#[test]
fn namespaces_secrets_and_user_crds() {
    let s = Server::start();
    s.kubectl_ok(&["create", "namespace", "team-a"]);
    s.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "-n",
        "team-a",
        "--from-literal=password=hunter2",
    ]);
    let v = s.kubectl_ok(&[
        "get",
        "secret",
        "creds",
        "-n",
        "team-a",
        "-o",
        "jsonpath={.data.password}",
    ]);
    assert_eq!(v, "aHVudGVyMg==");
    let crd = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wg]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
"#;
    s.kubectl_ok_stdin(&["apply", "-f", "-"], Some(crd));
    s.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=10s",
    ]);
    let w = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: team-a\nspec:\n  size: 3\n";
    s.kubectl_ok_stdin(&["apply", "-f", "-"], Some(w));
    let t = s.kubectl_ok(&["get", "wg", "-n", "team-a"]);
    assert!(
        t.contains("SIZE") && t.contains("w1") && t.contains('3'),
        "{t}"
    );
    let bad = w.replace("size: 3", "size: 0");
    let out = s.kubectl_stdin(&["apply", "-f", "-"], Some(&bad));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("spec.size"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unknown = w.replace("size: 3", "size: 3\n  colour: red");
    let out = s.kubectl_stdin(&["apply", "-f", "-"], Some(&unknown));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown field"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Deleting the namespace deletes what is in it.
    s.kubectl_ok(&["delete", "namespace", "team-a", "--timeout=30s"]);
    let out = s.kubectl(&["get", "namespace", "team-a"]);
    assert!(!out.status.success(), "namespace still there");
    let out = s.kubectl_ok(&["get", "widgets", "-A", "-o", "name"]);
    assert!(
        out.trim().is_empty(),
        "widgets survived their namespace: {out}"
    );
}

/// kube-apiserver's validation ratcheting: after a CRD's schema is tightened, objects stored
/// before can still be labelled, patched elsewhere and have their status written; only a
/// change to the field the new schema refuses is refused.
#[test]
fn a_tightened_schema_lets_stored_objects_change_what_it_does_not_refuse() {
    let s = Server::start();
    let crd = |size: &str| {
        format!(
            r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {{plural: gadgets, singular: gadget, kind: Gadget}}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {{status: {{}}}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {size}
              colour: {{type: string}}
          status:
            type: object
            properties:
              phase: {{type: string, enum: [Ready, Broken]}}
"#
        )
    };
    s.kubectl_ok_stdin(&["apply", "-f", "-"], Some(&crd("{type: integer}")));
    s.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "crd/gadgets.example.com",
        "--timeout=10s",
    ]);
    let g = "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g1, namespace: default}\nspec: {size: 0}\n";
    s.kubectl_ok_stdin(&["apply", "-f", "-"], Some(g));
    s.kubectl_ok_stdin(
        &["apply", "-f", "-"],
        Some(&crd("{type: integer, minimum: 1}")),
    );
    let refused = |args: &[&str]| {
        let out = s.kubectl(args);
        assert!(!out.status.success(), "{args:?} was accepted");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    // A new object must meet the new schema.
    let out = s.kubectl_stdin(
        &["create", "--dry-run=server", "-f", "-"],
        Some(&g.replace("g1", "g2")),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("spec.size"), "{err}");
    // The stored one keeps its size while other fields change.
    s.kubectl_ok(&["label", "gadget", "g1", "team=a"]);
    s.kubectl_ok(&[
        "patch",
        "gadget",
        "g1",
        "--type=merge",
        "-p",
        r#"{"spec":{"colour":"red"}}"#,
    ]);
    s.kubectl_ok(&[
        "patch",
        "gadget",
        "g1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Ready"}}"#,
    ]);
    // What changes is checked: the refused field, and a status the schema does not allow.
    let err = refused(&[
        "patch",
        "gadget",
        "g1",
        "--type=merge",
        "-p",
        r#"{"spec":{"size":-1}}"#,
    ]);
    assert!(
        err.contains("spec.size") && err.contains("greater than or equal to 1"),
        "{err}"
    );
    let err = refused(&[
        "patch",
        "gadget",
        "g1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Gone"}}"#,
    ]);
    assert!(
        err.contains("status.phase") && err.contains("Unsupported value"),
        "{err}"
    );
    let got = s.kubectl_ok(&[
        "get",
        "gadget",
        "g1",
        "-o",
        "jsonpath={.spec.size} {.spec.colour} {.status.phase} {.metadata.labels.team}",
    ]);
    assert_eq!(got.trim(), "0 red Ready a");
}

#[test]
fn a_list_file_applies_and_its_items_are_still_validated() {
    // `kind: List` is what `kubectl get -o yaml` writes for several objects; kubectl checks such
    // files against /openapi/v2 before sending the items.
    let s = Server::start();
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n- {}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: settings}}\n  data: {{a: \"1\"}}\n",
        APP.trim().replace('\n', "\n  ")
    );
    let out = s.kubectl_ok_stdin(&["apply", "-f", "-"], Some(&list));
    assert!(
        out.contains("app.strata.io/web created") && out.contains("configmap/settings created"),
        "{out}"
    );
    let renamed = list
        .replace("name: web", "name: web2")
        .replace("settings", "settings2");
    let out = s.kubectl_ok_stdin(&["create", "-f", "-"], Some(&renamed));
    assert!(out.contains("app.strata.io/web2 created"), "{out}");
    let bad = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: strata.io/v1alpha1\n  kind: App\n  metadata: {name: bad}\n  spec: {cmd: sleep 1, cpus: -1}\n";
    let out = s.kubectl_stdin(&["apply", "-f", "-"], Some(bad));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "cpus -1 is refused");
    assert!(stderr.contains("spec.cpus"), "the field is named: {stderr}");
}
