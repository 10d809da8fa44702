//! kube-rs (the kube crate), unmodified, against `strata server`: CRUD, a watcher and a reflector
//! that stay in sync through a restart and through compaction, a Controller writing status with
//! server-side apply, and kube's finalizer helper.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{CustomResource, CustomResourceExt, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use strata_controllers::writer::unread;
use strata_e2e::{Server, kube_client};

/// A user's own kind, defined with kube's derive like any kube-rs user would.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "example.com",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus"
)]
struct WidgetSpec {
    size: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
struct WidgetStatus {
    observed: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_write_whose_answer_is_not_read_still_reports_a_refusal() {
    let s = Server::start();
    let client = kube_client(&s).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let object = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "unread"}, "data": {"written": "yes"},
    });
    let body = serde_json::to_vec(&object).expect("json");
    unread(&api, |r| r.create(&PostParams::default(), body.clone()))
        .await
        .expect("created");
    let stored = api.get("unread").await.expect("get");
    assert_eq!(stored.data.expect("data")["written"], "yes");
    let err = unread(&api, |r| r.create(&PostParams::default(), body))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err:?}"
    );
    let patch = Patch::Merge(serde_json::json!({"data": {"written": "again"}}));
    let err = unread(&api, |r| {
        r.patch("missing", &PatchParams::default(), &patch)
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "{err:?}"
    );
}

/// A task that stops when the test ends, by a failed assertion too, before its server goes away.
struct Background(tokio::task::JoinHandle<()>);

impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn widget(name: &str, size: i64) -> Widget {
    Widget::new(name, WidgetSpec { size })
}

async fn install_widgets(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("e2e").force(),
        &Patch::Apply(Widget::crd()),
    )
    .await
    .expect("CRD applies");
    kube::runtime::wait::await_condition(
        crds,
        "widgets.example.com",
        kube::runtime::wait::conditions::is_crd_established(),
    )
    .await
    .expect("CRD established");
}

async fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_round_trips() {
    let s = Server::start();
    let client = kube_client(&s).await;
    install_widgets(&client).await;
    let api: Api<Widget> = Api::namespaced(client.clone(), "default");
    let created = api
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .expect("create");
    assert!(created.uid().is_some() && created.resource_version().is_some());
    let mut got = api.get("a").await.expect("get");
    assert_eq!(got.spec.size, 1);
    got.spec.size = 2;
    let replaced = api
        .replace("a", &PostParams::default(), &got)
        .await
        .expect("replace");
    assert_eq!(replaced.spec.size, 2);
    assert_eq!(replaced.metadata.generation, Some(2));
    // A stale resourceVersion is a 409 Conflict.
    let err = api
        .replace("a", &PostParams::default(), &got)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err:?}"
    );
    let list = api.list(&Default::default()).await.expect("list");
    assert_eq!(list.items.len(), 1);
    api.delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    let err = api.get("a").await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_survives_restart_and_compaction() {
    let mut s = Server::start_with(&["--watch-history", "50"]);
    let client = kube_client(&s).await;
    install_widgets(&client).await;
    let api: Api<Widget> = Api::namespaced(client.clone(), "default");
    for i in 0..5 {
        api.create(&PostParams::default(), &widget(&format!("w{i}"), i))
            .await
            .expect("create");
    }
    let (reader, writer) = reflector::store::<Widget>();
    // As a kube-rs user would: the watcher backs off between retries while the server is away.
    let stream = reflector(writer, watcher(api.clone(), watcher::Config::default()))
        .default_backoff()
        .applied_objects()
        .for_each(|_| async {});
    let _reflector = Background(tokio::spawn(stream));
    assert!(
        eventually(Duration::from_secs(10), || reader.state().len() == 5).await,
        "initial sync"
    );
    // Move the revision far past the history while the widget watch sees nothing, so its
    // resourceVersion is compacted away: on reconnection it must get 410 and relist.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..120 {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(format!("filler-{i}"));
        cms.create(&PostParams::default(), &cm)
            .await
            .expect("filler");
    }
    s.restart();
    let client = kube_client(&s).await;
    let api: Api<Widget> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &widget("w5", 5))
        .await
        .expect("create after restart");
    api.delete("w0", &DeleteParams::default())
        .await
        .expect("delete after restart");
    let synced = eventually(Duration::from_secs(30), || {
        let names: Vec<String> = reader.state().iter().map(|w| w.name_any()).collect();
        names.len() == 5 && names.contains(&"w5".to_string()) && !names.contains(&"w0".to_string())
    })
    .await;
    assert!(
        synced,
        "reflector out of sync: {:?}",
        reader
            .state()
            .iter()
            .map(|w| w.name_any())
            .collect::<Vec<_>>()
    );
}

struct Ctx {
    client: kube::Client,
}

const FINALIZER: &str = "widgets.example.com/cleanup";

async fn reconcile(
    w: Arc<Widget>,
    ctx: Arc<Ctx>,
) -> Result<Action, kube::runtime::finalizer::Error<kube::Error>> {
    let ns = w.namespace().unwrap_or_default();
    let api: Api<Widget> = Api::namespaced(ctx.client.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, w, |event| async {
        match event {
            Finalizer::Apply(w) => {
                let status = serde_json::json!({
                    "apiVersion": "example.com/v1", "kind": "Widget",
                    "status": {"observed": w.spec.size},
                });
                api.patch_status(
                    &w.name_any(),
                    &PatchParams::apply("widget-controller").force(),
                    &Patch::Apply(status),
                )
                .await?;
                Ok(Action::await_change())
            }
            Finalizer::Cleanup(w) => {
                let mut cm = ConfigMap::default();
                cm.metadata.name = Some(format!("cleaned-{}", w.name_any()));
                cms.create(&PostParams::default(), &cm).await?;
                Ok(Action::await_change())
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_writes_status_and_finalizer_runs_cleanup() {
    let s = Server::start();
    let client = kube_client(&s).await;
    install_widgets(&client).await;
    let api: Api<Widget> = Api::namespaced(client.clone(), "default");
    let ctx = Arc::new(Ctx {
        client: client.clone(),
    });
    let controller = Controller::new(api.clone(), watcher::Config::default())
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_secs(1)),
            ctx,
        )
        .for_each(|_| async {});
    let _controller = Background(tokio::spawn(controller));
    api.create(&PostParams::default(), &widget("c", 7))
        .await
        .expect("create");
    let mut observed = None;
    for _ in 0..200 {
        let w = api.get("c").await.expect("get");
        if let Some(st) = &w.status {
            observed = Some((st.observed, w.finalizers().to_vec()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (value, finalizers) = observed.expect("the controller wrote status");
    assert_eq!(value, 7);
    assert_eq!(finalizers, vec![FINALIZER.to_string()]);
    let w = api.get("c").await.expect("get");
    let managers: Vec<String> = w
        .managed_fields()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(
        managers.contains(&"widget-controller".to_string()),
        "{managers:?}"
    );
    api.delete("c", &DeleteParams::default())
        .await
        .expect("delete");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut done = false;
    for _ in 0..200 {
        if api.get_opt("c").await.expect("get").is_none()
            && cms.get_opt("cleaned-c").await.expect("get").is_some()
        {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        done,
        "finalizer cleanup did not run, or the widget was not deleted after it"
    );
}
