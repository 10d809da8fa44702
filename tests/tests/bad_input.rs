//! Malformed and hostile requests: each gets the right 4xx Status, the server stays up, and what
//! is stored does not change. Apps that break strata's rules are refused as kube-apiserver refuses
//! a CEL validation failure, with the field to fix.

use http::{Method, Request};
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use serde_json::Value;
use strata_e2e::{Server, kube_client};

const APP: &str = r#"{"apiVersion":"strata.io/v1alpha1","kind":"App","metadata":{"name":"web","namespace":"default"},"spec":{"cmd":"sleep 100","instances":1}}"#;
const APPS: &str = "/apis/strata.io/v1alpha1/namespaces/default/apps";
const CMS: &str = "/api/v1/namespaces/default/configmaps";

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    content_type: &'static str,
    body: Vec<u8>,
    code: u16,
    /// Text the Status message (or a cause's field) must contain.
    expect: &'static str,
}

fn case(
    name: &'static str,
    method: Method,
    path: &str,
    ct: &'static str,
    body: impl Into<Vec<u8>>,
    code: u16,
    expect: &'static str,
) -> Case {
    Case {
        name,
        method,
        path: path.to_string(),
        content_type: ct,
        body: body.into(),
        code,
        expect,
    }
}

async fn send(
    client: &kube::Client,
    method: Method,
    path: &str,
    ct: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", ct)
        .body(body)
        .unwrap();
    let resp = client
        .send(req.map(Into::into))
        .await
        .expect("the server answers");
    let code = resp.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("body")
        .to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn snapshot(client: &kube::Client) -> Vec<Value> {
    let mut out = Vec::new();
    for (g, v, k, p) in [
        ("strata.io", "v1alpha1", "App", "apps"),
        ("", "v1", "ConfigMap", "configmaps"),
    ] {
        let ar = ApiResource {
            group: g.into(),
            version: v.into(),
            api_version: if g.is_empty() {
                v.into()
            } else {
                format!("{g}/{v}")
            },
            kind: k.into(),
            plural: p.into(),
        };
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        for o in api.list(&ListParams::default()).await.expect("list").items {
            out.push(serde_json::to_value(o).unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_clear_4xx_and_change_nothing() {
    let s = Server::start();
    let client = kube_client(&s).await;
    let (code, app) = send(&client, Method::POST, APPS, "application/json", APP.into()).await;
    assert_eq!(code, 201, "{app}");
    let rv = app["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let stale = APP.replace(r#""name":"web","#, r#""name":"web","resourceVersion":"1","#);
    let _ = rv;
    let bomb = {
        let mut y = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (i, c) in "bcdefghij".chars().enumerate() {
            let prev = (b'a' + i as u8) as char;
            y.push_str(&format!("{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        }
        y
    };
    let huge = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"huge"}},"data":{{"x":"{}"}}}}"#,
        "x".repeat(4 * 1024 * 1024)
    );
    let big_object = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"x":"{}"}}}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let cases = vec![
        case(
            "malformed JSON",
            Method::POST,
            CMS,
            "application/json",
            "{\"apiVersion\": ",
            400,
            "JSON",
        ),
        case(
            "malformed YAML",
            Method::POST,
            CMS,
            "application/yaml",
            "a: [b\n  c: }",
            400,
            "YAML",
        ),
        case(
            "YAML alias bomb",
            Method::POST,
            CMS,
            "application/yaml",
            bomb,
            400,
            "",
        ),
        case(
            "deep nesting",
            Method::POST,
            CMS,
            "application/json",
            "[".repeat(100_000),
            400,
            "",
        ),
        case(
            "body over 3 MiB",
            Method::POST,
            CMS,
            "application/json",
            huge,
            413,
            "",
        ),
        case(
            "object over 1.5 MiB",
            Method::POST,
            CMS,
            "application/json",
            big_object,
            413,
            "",
        ),
        case(
            "not an object",
            Method::POST,
            CMS,
            "application/json",
            "[1,2]",
            400,
            "object",
        ),
        case(
            "wrong content type",
            Method::POST,
            CMS,
            "text/plain",
            "hello",
            415,
            "media type",
        ),
        case(
            "invalid name",
            Method::POST,
            CMS,
            "application/json",
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}"#,
            422,
            "metadata.name",
        ),
        case(
            "missing name",
            Method::POST,
            CMS,
            "application/json",
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}"#,
            422,
            "metadata.name",
        ),
        case(
            "wrong kind for endpoint",
            Method::POST,
            CMS,
            "application/json",
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#,
            400,
            "kind",
        ),
        case(
            "unknown field under Strict",
            Method::POST,
            &format!("{APPS}?fieldValidation=Strict"),
            "application/json",
            APP.replace("\"instances\":1", "\"instances\":1,\"colour\":\"red\"")
                .replace("\"web\"", "\"web2\""),
            400,
            "unknown field \"spec.colour\"",
        ),
        case(
            "wrong type",
            Method::POST,
            APPS,
            "application/json",
            APP.replace("\"instances\":1", "\"instances\":\"three\"")
                .replace("\"web\"", "\"web3\""),
            422,
            "spec.instances",
        ),
        case(
            "negative instances",
            Method::POST,
            APPS,
            "application/json",
            APP.replace("\"instances\":1", "\"instances\":-1")
                .replace("\"web\"", "\"web4\""),
            422,
            "spec.instances",
        ),
        case(
            "already exists",
            Method::POST,
            APPS,
            "application/json",
            APP,
            409,
            "already exists",
        ),
        case(
            "stale resourceVersion",
            Method::PUT,
            &format!("{APPS}/web"),
            "application/json",
            stale,
            409,
            "modified",
        ),
        case(
            "update without resourceVersion",
            Method::PUT,
            &format!("{APPS}/web"),
            "application/json",
            APP,
            422,
            "resourceVersion",
        ),
        case(
            "name mismatch",
            Method::PUT,
            &format!("{APPS}/other"),
            "application/json",
            APP,
            400,
            "does not match",
        ),
        case(
            "apply without fieldManager",
            Method::PATCH,
            &format!("{APPS}/web"),
            "application/apply-patch+yaml",
            APP,
            422,
            "fieldManager",
        ),
        case(
            "strategic merge on a custom resource",
            Method::PATCH,
            &format!("{APPS}/web"),
            "application/strategic-merge-patch+json",
            r#"{"spec":{"instances":2}}"#,
            415,
            "merge-patch",
        ),
        case(
            "force on a merge patch",
            Method::PATCH,
            &format!("{APPS}/web?force=true"),
            "application/merge-patch+json",
            r#"{"spec":{"instances":2}}"#,
            422,
            "force",
        ),
        case(
            "bad JSON patch op",
            Method::PATCH,
            &format!("{APPS}/web"),
            "application/json-patch+json",
            r#"[{"op":"frobnicate","path":"/spec"}]"#,
            400,
            "frobnicate",
        ),
        case(
            "JSON patch on a missing path",
            Method::PATCH,
            &format!("{APPS}/web"),
            "application/json-patch+json",
            r#"[{"op":"replace","path":"/spec/nope/deeper","value":1}]"#,
            422,
            "",
        ),
        case(
            "merge patch to an invalid value",
            Method::PATCH,
            &format!("{APPS}/web"),
            "application/merge-patch+json",
            r#"{"spec":{"instances":-5}}"#,
            422,
            "spec.instances",
        ),
        case(
            "unknown resource",
            Method::GET,
            "/apis/strata.io/v1alpha1/namespaces/default/gizmos",
            "application/json",
            "",
            404,
            "",
        ),
        case(
            "missing object",
            Method::GET,
            &format!("{APPS}/nope"),
            "application/json",
            "",
            404,
            "not found",
        ),
        case(
            "bad label selector",
            Method::GET,
            &format!("{APPS}?labelSelector=a%20in%20(b"),
            "application/json",
            "",
            400,
            "",
        ),
        case(
            "unsupported field selector",
            Method::GET,
            &format!("{APPS}?fieldSelector=spec.cmd%3Dx"),
            "application/json",
            "",
            400,
            "field label not supported",
        ),
        case(
            "bad continue token",
            Method::GET,
            &format!("{APPS}?limit=1&continue=garbage"),
            "application/json",
            "",
            400,
            "continue",
        ),
        case(
            "bad propagation policy",
            Method::DELETE,
            &format!("{APPS}/web?propagationPolicy=Sideways"),
            "application/json",
            "",
            400,
            "propagationPolicy",
        ),
        case(
            "namespace that does not exist",
            Method::POST,
            "/api/v1/namespaces/nowhere/configmaps",
            "application/json",
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#,
            404,
            "nowhere",
        ),
    ];
    let before = snapshot(&client).await;
    for c in cases {
        let (code, status) = send(&client, c.method.clone(), &c.path, c.content_type, c.body).await;
        assert_eq!(code, c.code, "{}: {status}", c.name);
        assert_eq!(
            status["kind"], "Status",
            "{}: not a Status: {status}",
            c.name
        );
        let text = format!(
            "{} {}",
            status["message"].as_str().unwrap_or_default(),
            status["details"]
        );
        assert!(
            text.contains(c.expect),
            "{}: {status} does not mention {:?}",
            c.name,
            c.expect
        );
        let (health, _) = send(&client, Method::GET, "/healthz", "application/json", vec![]).await;
        assert_eq!(health, 200, "server unhealthy after {}", c.name);
    }
    assert_eq!(
        snapshot(&client).await,
        before,
        "a rejected request changed stored data"
    );
    // Without credentials: 401, and still nothing changes.
    let out = std::process::Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{}/api/v1/namespaces", s.url()),
        ])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
    let out = std::process::Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Authorization: Bearer wrong",
            &format!("{}/api/v1/namespaces", s.url()),
        ])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
}

/// An App manifest named `name` with the given lines under `spec:`.
fn app_yaml(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: strata.io/v1alpha1\nkind: App\nmetadata:\n  name: {name}\n  namespace: default\n\
         spec:\n{spec}"
    )
}

/// Runs kubectl with `stdin`, expecting it to fail; returns its stderr.
fn kubectl_fails(s: &Server, args: &[&str], stdin: Option<&str>) -> String {
    let out = s.kubectl_stdin(args, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "kubectl {} should have failed but printed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

#[test]
fn an_app_with_cmd_and_args_is_refused_and_not_stored() {
    let s = Server::start();
    let both = app_yaml("web", "  cmd: sleep 100\n  args: [sleep, \"100\"]\n");
    for apply in [
        &["apply", "-f", "-"][..],
        &["apply", "--server-side", "-f", "-"],
        &["create", "-f", "-"],
    ] {
        let err = kubectl_fails(&s, apply, Some(&both));
        assert!(
            err.contains("The App \"web\" is invalid: spec.args: Invalid value: \"array\": set cmd or args, not both"),
            "kubectl {}: {err}",
            apply.join(" ")
        );
        let missing = kubectl_fails(&s, &["get", "app", "web"], None);
        assert!(missing.contains("not found"), "{missing}");
    }
}

#[test]
fn an_update_to_an_invalid_app_is_refused_and_changes_nothing() {
    let s = Server::start();
    let valid = app_yaml(
        "web",
        "  cmd: sleep 100\n  constraints:\n  - field: \"@hostname\"\n    operator: UNIQUE\n",
    );
    s.kubectl_ok_stdin(&["apply", "-f", "-"], Some(&valid));
    let stored = || -> Value {
        serde_json::from_str(&s.kubectl_ok(&["get", "app", "web", "-o", "json"])).unwrap()
    };
    let before = stored();
    let invalid = app_yaml(
        "web",
        "  cmd: sleep 100\n  constraints:\n  - field: \"@hostname\"\n    operator: LIKE\n",
    );
    let json_patch = r#"[{"op":"replace","path":"/spec/constraints/0","value":{"field":"@hostname","operator":"LIKE"}}]"#;
    let merge_patch = r#"{"spec":{"args":["sleep","1"]}}"#;
    // What kubectl prints for each problem: the field, then what to fix.
    let no_value = (
        "spec.constraints[0].value: Required value: ",
        "needs a value",
    );
    let cmd_and_args = (
        "spec.args: Invalid value: \"array\": ",
        "set cmd or args, not both",
    );
    /// kubectl's arguments, its stdin, and the field and the fix it must print.
    type Attempt<'a> = (&'a [&'a str], Option<&'a str>, (&'a str, &'a str));
    let attempts: [Attempt; 5] = [
        (&["apply", "-f", "-"], Some(&invalid), no_value),
        (
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(&invalid),
            no_value,
        ),
        (&["replace", "-f", "-"], Some(&invalid), no_value),
        (
            &["patch", "app", "web", "--type=json", "-p", json_patch],
            None,
            no_value,
        ),
        (
            &["patch", "app", "web", "--type=merge", "-p", merge_patch],
            None,
            cmd_and_args,
        ),
    ];
    for (args, stdin, (field, fix)) in attempts {
        let err = kubectl_fails(&s, args, stdin);
        assert!(
            err.contains(&format!("The App \"web\" is invalid: {field}")) && err.contains(fix),
            "kubectl {}: {err}",
            args.join(" ")
        );
        assert_eq!(
            stored(),
            before,
            "kubectl {} changed the App",
            args.join(" ")
        );
    }
    // What is valid still goes through, the scale subresource included.
    s.kubectl_ok(&["scale", "app/web", "--replicas=3"]);
    assert_eq!(stored()["spec"]["instances"], 3);
    assert_eq!(
        stored()["spec"]["constraints"],
        before["spec"]["constraints"]
    );
}

#[test]
fn an_app_name_longer_than_a_label_value_is_refused() {
    let s = Server::start();
    let name = "a".repeat(64);
    let err = kubectl_fails(
        &s,
        &["apply", "-f", "-"],
        Some(&app_yaml(&name, "  cmd: sleep 100\n")),
    );
    assert!(
        err.contains(&format!("The App \"{name}\" is invalid: metadata.name"))
            && err.contains(
                "an App name is at most 63 characters (its tasks carry it in the strata.io/app \
                 label); shorten it"
            ),
        "{err}"
    );
    let missing = kubectl_fails(&s, &["get", "app", &name], None);
    assert!(missing.contains("not found"), "{missing}");
    s.kubectl_ok_stdin(
        &["apply", "-f", "-"],
        Some(&app_yaml(&name[..63], "  cmd: sleep 100\n")),
    );
}
