//! Authorization end to end: RBAC with the standard objects, service account tokens from
//! `kubectl create token`, and agent tokens from `strata agent-token`, used by real kubectl and
//! kube-rs. Denials must read exactly as kube-apiserver's.

use std::path::{Path, PathBuf};

use http::{Method, Request};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};
use strata_api::{Agent, App, Task};
use strata_e2e::Server;
use strata_e2e::agent::agent_token;
use strata_e2e::master::stage_task;

/// A kubeconfig like the admin's, holding `token` instead of the admin token.
fn kubeconfig_for(server: &Server, token: &str, name: &str) -> PathBuf {
    let admin = std::fs::read_to_string(server.kubeconfig()).expect("admin kubeconfig");
    assert!(admin.contains(&server.admin_token()));
    let path = server.dir.path().join(format!("{name}.kubeconfig"));
    std::fs::write(&path, admin.replace(&server.admin_token(), token)).expect("kubeconfig");
    path
}

async fn client_for(kubeconfig: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig parses");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kubeconfig is usable");
    kube::Client::try_from(config).expect("client")
}

/// kubectl as the user of `kubeconfig`.
fn kubectl_as(server: &Server, kubeconfig: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--kubeconfig", kubeconfig.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    server.kubectl(&all)
}

fn stderr_of(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "should have failed, printed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A raw request's status code and JSON answer.
async fn send(client: &kube::Client, method: Method, path: &str, body: Value) -> (u16, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string().into_bytes())
        .unwrap();
    let resp = client.send(req.map(Into::into)).await.expect("an answer");
    let code = resp.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("body")
        .to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The message of a 403 Forbidden; fails on anything else.
fn forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(s)) if s.code == 403 && s.reason == "Forbidden" => s.message,
        other => panic!("expected 403 Forbidden, got {other:?}"),
    }
}

const USER: &str = "system:serviceaccount:team:alice";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_grant_what_they_list_and_denials_read_like_kubernetes() {
    let server = Server::start();
    for args in [
        &["create", "namespace", "team"][..],
        &["create", "serviceaccount", "alice", "-n", "team"],
        &[
            "create",
            "configmap",
            "c1",
            "-n",
            "team",
            "--from-literal=a=1",
        ],
        &["create", "configmap", "c0", "-n", "default"],
        &[
            "create",
            "role",
            "cm-reader",
            "-n",
            "team",
            "--verb=get,list",
            "--resource=configmaps",
        ],
        &[
            "create",
            "rolebinding",
            "alice-reads",
            "-n",
            "team",
            "--role=cm-reader",
            "--serviceaccount=team:alice",
        ],
    ] {
        server.kubectl_ok(args);
    }
    let token = server.kubectl_ok(&["create", "token", "alice", "-n", "team"]);
    let alice = kubeconfig_for(&server, token.trim(), "alice");

    // What the Role grants, through kubectl.
    let out = kubectl_as(
        &server,
        &alice,
        &["get", "configmaps", "-n", "team", "-o", "name"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "configmap/c1");
    let out = kubectl_as(
        &server,
        &alice,
        &["auth", "can-i", "list", "configmaps", "-n", "team"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "yes");

    // What it does not grant: kube-apiserver's messages, as kubectl prints them.
    let err = stderr_of(&kubectl_as(
        &server,
        &alice,
        &["get", "configmaps", "-n", "default"],
    ));
    // Exactly this line (kubectl may add warnings of its own around it).
    let want = format!(
        "Error from server (Forbidden): configmaps is forbidden: User \"{USER}\" cannot list \
         resource \"configmaps\" in API group \"\" in the namespace \"default\""
    );
    assert!(err.lines().any(|l| l == want), "{err}");
    let err = stderr_of(&kubectl_as(
        &server,
        &alice,
        &["get", "configmap", "c0", "-n", "default"],
    ));
    let want = format!(
        "Error from server (Forbidden): configmaps \"c0\" is forbidden: User \"{USER}\" cannot \
         get resource \"configmaps\" in API group \"\" in the namespace \"default\""
    );
    assert!(err.lines().any(|l| l == want), "{err}");
    let err = stderr_of(&kubectl_as(
        &server,
        &alice,
        &["create", "configmap", "c2", "-n", "team"],
    ));
    assert!(
        err.contains(&format!(
            "configmaps is forbidden: User \"{USER}\" cannot create resource \"configmaps\" in API \
             group \"\" in the namespace \"team\""
        )),
        "{err}"
    );
    let out = kubectl_as(
        &server,
        &alice,
        &["auth", "can-i", "delete", "configmaps", "-n", "team"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");

    // The whole Status, as kube-apiserver writes it, for a subresource and at the cluster scope.
    let client = client_for(&alice).await;
    let (code, status) = send(
        &client,
        Method::PATCH,
        "/apis/strata.io/v1alpha1/namespaces/team/tasks/t1/status",
        json!({"status": {"state": "Running"}}),
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        status,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("tasks.strata.io \"t1\" is forbidden: User \"{USER}\" cannot patch \
                                resource \"tasks/status\" in API group \"strata.io\" in the \
                                namespace \"team\""),
            "reason": "Forbidden",
            "details": {"name": "t1", "group": "strata.io", "kind": "tasks"},
            "code": 403,
        })
    );
    let (code, status) = send(&client, Method::GET, "/api/v1/namespaces", Value::Null).await;
    assert_eq!(code, 403);
    assert_eq!(
        status["message"],
        format!(
            "namespaces is forbidden: User \"{USER}\" cannot list resource \"namespaces\" in API \
             group \"\" at the cluster scope"
        )
    );
    // Discovery stays readable.
    let (code, _) = send(&client, Method::GET, "/apis", Value::Null).await;
    assert_eq!(code, 200);

    // A ClusterRole bound in one namespace to a group the service account is in.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "team");
    forbidden(secrets.list(&ListParams::default()).await);
    server.kubectl_ok(&[
        "create",
        "clusterrole",
        "secret-reader",
        "--verb=list",
        "--resource=secrets",
    ]);
    server.kubectl_ok(&[
        "create",
        "rolebinding",
        "team-secrets",
        "-n",
        "team",
        "--clusterrole=secret-reader",
        "--group=system:serviceaccounts:team",
    ]);
    secrets
        .list(&ListParams::default())
        .await
        .expect("granted to the group");
    let elsewhere: Api<Secret> = Api::namespaced(client.clone(), "default");
    forbidden(elsewhere.list(&ListParams::default()).await);

    // Removing a binding takes effect on the next request.
    server.kubectl_ok(&["delete", "rolebinding", "alice-reads", "-n", "team"]);
    let err = stderr_of(&kubectl_as(
        &server,
        &alice,
        &["get", "configmaps", "-n", "team"],
    ));
    assert!(err.contains("Error from server (Forbidden)"), "{err}");

    // Deleting the service account revokes its tokens.
    server.kubectl_ok(&["delete", "serviceaccount", "alice", "-n", "team"]);
    let err = stderr_of(&kubectl_as(
        &server,
        &alice,
        &["get", "secrets", "-n", "team"],
    ));
    assert!(err.contains("Unauthorized"), "{err}");
}

#[test]
fn kubectl_create_token_issues_tokens_only_for_existing_service_accounts() {
    let server = Server::start();
    server.kubectl_ok(&["create", "serviceaccount", "bob", "-n", "default"]);
    let err = server.kubectl_err(&["create", "token", "nobody", "-n", "default"]);
    assert!(
        err.contains("serviceaccounts \"nobody\" not found"),
        "{err}"
    );
    let err = server.kubectl_err(&["create", "token", "bob", "--duration=1m"]);
    assert!(
        err.contains("may not specify a duration less than 10 minutes"),
        "{err}"
    );

    let token = server.kubectl_ok(&["create", "token", "bob", "--duration=2h"]);
    let bob = kubeconfig_for(&server, token.trim(), "bob");
    let out = kubectl_as(
        &server,
        &bob,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "system:serviceaccount:default:bob",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = stderr_of(&kubectl_as(&server, &bob, &["create", "token", "bob"]));
    assert!(
        err.contains(
            "serviceaccounts \"bob\" is forbidden: User \"system:serviceaccount:default:bob\" \
             cannot create resource \"serviceaccounts/token\" in API group \"\" in the namespace \
             \"default\""
        ),
        "{err}"
    );
}

fn task(name: &str, agent: &str) -> String {
    json!({
        "apiVersion": "strata.io/v1alpha1", "kind": "Task",
        "metadata": {"name": name, "namespace": "default", "labels": {"strata.io/agent": agent}},
        "spec": {"framework": "marathon", "agent": agent, "command": "sleep 100"},
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_tokens_reach_only_the_agents_own_objects() {
    let server = Server::start();
    let a1_token = agent_token(&server, "a1");
    assert_eq!(
        agent_token(&server, "a1").len(),
        a1_token.len(),
        "idempotent"
    );
    let a2_token = agent_token(&server, "a2");
    for (name, agent) in [("t1", "a1"), ("t2", "a2")] {
        server.kubectl_ok_stdin(&["apply", "-f", "-"], Some(&task(name, agent)));
        stage_task(&server, name);
    }
    server.kubectl_ok_stdin(
        &["apply", "-f", "-"],
        Some(r#"{"apiVersion":"strata.io/v1alpha1","kind":"App","metadata":{"name":"web","namespace":"default"},"spec":{"cmd":"sleep 100","instances":1}}"#),
    );
    let a1 = client_for(&kubeconfig_for(&server, &a1_token, "a1")).await;
    let a2 = client_for(&kubeconfig_for(&server, &a2_token, "a2")).await;
    let ssa = PatchParams::apply("strata-agent").force();
    let agent = |name: &str| {
        json!({
            "apiVersion": "strata.io/v1alpha1", "kind": "Agent", "metadata": {"name": name},
            "spec": {"hostname": name, "resources": {"cpus": 1, "mem": 128, "disk": 100}},
        })
    };

    // Its own Agent and status, its own Lease.
    let agents_a1: Api<Agent> = Api::all(a1.clone());
    agents_a1
        .patch("a1", &ssa, &Patch::Apply(agent("a1")))
        .await
        .expect("own agent");
    agents_a1
        .patch_status(
            "a1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {}})),
        )
        .await
        .expect("own agent status");
    let agents_a2: Api<Agent> = Api::all(a2.clone());
    agents_a2
        .patch("a2", &ssa, &Patch::Apply(agent("a2")))
        .await
        .expect("a2's own agent");
    let leases: Api<Lease> = Api::namespaced(a1.clone(), "strata-node-lease");
    let lease = |name: &str| {
        serde_json::from_value::<Lease>(json!({
            "metadata": {"name": name},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40},
        }))
        .unwrap()
    };
    leases
        .create(&PostParams::default(), &lease("a1"))
        .await
        .expect("own lease");
    leases
        .patch(
            "a1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"leaseDurationSeconds": 30}})),
        )
        .await
        .expect("renew own lease");

    // Its tasks: status, its finalizer, and a watchable list by its label.
    let tasks: Api<Task> = Api::namespaced(a1.clone(), "default");
    tasks
        .patch_status(
            "t1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"state": "Running"}})),
        )
        .await
        .expect("own task's status");
    tasks
        .patch(
            "t1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["strata.io/agent"]}})),
        )
        .await
        .expect("own finalizer");
    let all_tasks: Api<Task> = Api::all(a1.clone());
    let mine = all_tasks
        .list(&ListParams::default().labels("strata.io/agent=a1"))
        .await
        .expect("own tasks by label");
    assert_eq!(mine.items.len(), 1);
    tasks.get("t1").await.expect("own task");

    // Everything else is refused, saying why.
    let msg = forbidden(
        agents_a1
            .patch("a2", &ssa, &Patch::Apply(agent("a2")))
            .await,
    );
    assert!(
        msg.contains("agent \"a1\" may only modify its own Agent"),
        "{msg}"
    );
    forbidden(
        agents_a1
            .patch("a3", &ssa, &Patch::Apply(agent("a3")))
            .await,
    );
    forbidden(leases.create(&PostParams::default(), &lease("a2")).await);
    let msg = forbidden(
        tasks
            .patch_status(
                "t2",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"state": "Failed"}})),
            )
            .await,
    );
    assert_eq!(
        msg,
        "tasks.strata.io \"t2\" is forbidden: agent \"a1\" may only modify tasks bound to it; \
         task default/t2 is bound to agent \"a2\""
    );
    let msg = forbidden(
        tasks
            .patch(
                "t1",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"command": "evil"}})),
            )
            .await,
    );
    assert!(
        msg.contains("may only add or remove the finalizer \"strata.io/agent\""),
        "{msg}"
    );
    forbidden(
        tasks
            .patch(
                "t1",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"agent": "a2"}})),
            )
            .await,
    );
    forbidden(
        tasks
            .patch(
                "t1",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": ["strata.io/agent", "other"]}})),
            )
            .await,
    );
    forbidden(tasks.get("t2").await);
    let new_task: Task = serde_json::from_str(&task("t3", "a1")).unwrap();
    let msg = forbidden(tasks.create(&PostParams::default(), &new_task).await);
    assert!(msg.contains("cannot create resource \"tasks\""), "{msg}");
    forbidden(tasks.delete("t1", &Default::default()).await);
    let msg = forbidden(all_tasks.list(&ListParams::default()).await);
    assert!(
        msg.contains("use the label selector strata.io/agent=a1"),
        "{msg}"
    );
    forbidden(
        all_tasks
            .list(&ListParams::default().labels("strata.io/agent=a2"))
            .await,
    );
    let apps: Api<App> = Api::namespaced(a1.clone(), "default");
    forbidden(apps.get("web").await);
    forbidden(apps.list(&ListParams::default()).await);
    let secrets: Api<Secret> = Api::namespaced(a1.clone(), "default");
    forbidden(secrets.list(&ListParams::default()).await);
    let out = kubectl_as(
        &server,
        &kubeconfig_for(&server, &a1_token, "a1"),
        &["get", "apps.strata.io", "-n", "default"],
    );
    assert!(stderr_of(&out).contains("Error from server (Forbidden)"));

    // What the admin sees: only the allowed changes happened.
    let admin = strata_e2e::kube_client(&server).await;
    let stored: Api<DynamicObject> =
        Api::namespaced_with(admin, "default", &ApiResource::erase::<Task>(&()));
    let t1 = stored.get("t1").await.unwrap();
    assert_eq!(t1.data["status"]["state"], "Running");
    assert_eq!(t1.data["spec"]["command"], "sleep 100");
    assert_eq!(
        t1.metadata.finalizers,
        Some(vec!["strata.io/agent".to_string()])
    );
    let t2 = stored.get("t2").await.unwrap();
    assert_eq!(t2.data["status"]["state"], "Staging", "{:?}", t2.data);
}
