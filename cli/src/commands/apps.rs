//! `strata apps`: the Marathon table of the apps — ID, memory, cpus, tasks / instances, health
//! and status — in the terminal, as `kubectl get apps` and Marathon's UI show it.
//!
//! Why it exists: it is the first thing a Marathon user looks at, and it should not need
//! kubectl. It only reads Apps; the columns are what the Marathon controller wrote in their
//! status (this never counts tasks itself, so it cannot disagree with `kubectl get apps`).

use std::io::Write;

use anyhow::bail;
use kube::Api;
use kube::api::ListParams;
use strata_api::App;
use strata_api::app::AppPhase;

use super::store_client::StoreArgs;
use strata_api::age::human_duration;

use super::table::Table;

#[derive(clap::Args)]
pub struct Args {
    /// Only apps whose name or Marathon id contains this text.
    filter: Option<String>,
    /// Namespace to list; defaults to the kubeconfig context's namespace, or "default".
    #[arg(short, long, conflicts_with = "all_namespaces")]
    namespace: Option<String>,
    /// List the apps of every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Only apps in this status: Running, Deploying, Suspended, Waiting, Delayed or Stopped.
    #[arg(long, value_name = "STATUS")]
    status: Option<String>,
    /// Print the apps as JSON or YAML instead of the table.
    #[arg(short, long, value_enum)]
    output: Option<Format>,
    #[command(flatten)]
    store: StoreArgs,
}

/// What `-o` prints.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Json,
    Yaml,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(apps(args))
}

async fn apps(args: Args) -> anyhow::Result<()> {
    let status = match &args.status {
        Some(s) => match AppPhase::ALL
            .iter()
            .find(|known| known.as_str().eq_ignore_ascii_case(s))
        {
            Some(known) => Some(known.as_str()),
            None => bail!(
                "--status {s:?} is not a status: use one of {}",
                AppPhase::ALL.map(AppPhase::as_str).join(", ")
            ),
        },
        None => None,
    };
    let connection = args.store.connect().await?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| connection.namespace.clone());
    let (api, doing): (Api<App>, String) = if args.all_namespaces {
        (
            Api::all(connection.client.clone()),
            "list apps in all namespaces".into(),
        )
    } else {
        (
            Api::namespaced(connection.client.clone(), &namespace),
            format!("list apps in namespace {namespace}"),
        )
    };
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| connection.explain(e, &doing))?;
    let mut apps: Vec<App> = list
        .items
        .into_iter()
        .filter(|app| matches(app, args.filter.as_deref(), status))
        .collect();
    apps.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    let mut out = std::io::stdout().lock();
    match args.output {
        Some(format) => {
            let list = serde_json::json!({
                "apiVersion": "v1", "kind": "List", "items": apps,
                "metadata": {"resourceVersion": ""},
            });
            let text = match format {
                Format::Json => serde_json::to_string_pretty(&list)? + "\n",
                Format::Yaml => serde_saphyr::to_string(&list)?,
            };
            out.write_all(text.as_bytes())?;
        }
        None if apps.is_empty() => {
            let where_ = if args.all_namespaces {
                "any namespace".to_string()
            } else {
                format!("namespace {namespace}")
            };
            let filtered = args.filter.is_some() || status.is_some();
            eprintln!(
                "No apps{} in {where_}{}",
                if filtered { " match" } else { "" },
                if filtered {
                    " (strata apps without a filter lists them all)"
                } else {
                    " (kubectl apply -f manifests/examples/ creates some)"
                }
            );
        }
        None => {
            let now = jiff::Timestamp::now();
            out.write_all(table(&apps, args.all_namespaces, now).as_bytes())?;
        }
    }
    Ok(())
}

/// Whether `app` passes the name filter and the status filter.
fn matches(app: &App, filter: Option<&str>, status: Option<&str>) -> bool {
    let s = app.status.as_ref();
    let named = filter.is_none_or(|f| {
        app.metadata.name.as_deref().unwrap_or("").contains(f)
            || s.and_then(|s| s.id.as_deref()).unwrap_or("").contains(f)
    });
    let in_status = status.is_none_or(|want| phase(app) == want);
    named && in_status
}

/// The Status column: the phase the controller wrote, or "-" before it wrote one.
fn phase(app: &App) -> String {
    app.status
        .as_ref()
        .and_then(|s| s.phase)
        .map_or_else(|| "-".into(), |p| p.as_str().to_string())
}

/// The Marathon table of `apps` (with a NAMESPACE column when `namespaced`).
fn table(apps: &[App], namespaced: bool, now: jiff::Timestamp) -> String {
    let mut header = vec![
        "NAME",
        "ID",
        "MEMORY (MB)",
        "CPUS",
        "TASKS / INSTANCES",
        "HEALTH",
        "STATUS",
        "AGE",
    ];
    if namespaced {
        header.insert(0, "NAMESPACE");
    }
    let mut t = Table::new(&header);
    for app in apps {
        let s = app.status.clone().unwrap_or_default();
        let created = app
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or_else(|| "-".into(), |t| human_duration(now.duration_since(t.0)));
        let mut row = vec![
            app.metadata.name.clone().unwrap_or_default(),
            s.id.clone().unwrap_or_else(|| "-".into()),
            app.spec.mem.to_string(),
            app.spec.cpus.to_string(),
            s.tasks
                .clone()
                .unwrap_or_else(|| format!("{} / {}", s.tasks_running, app.spec.instances)),
            s.health.clone().unwrap_or_else(|| "-".into()),
            phase(app),
            created,
        ];
        if namespaced {
            row.insert(0, app.metadata.namespace.clone().unwrap_or_default());
        }
        t.row(row);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(yaml: &str) -> App {
        serde_saphyr::from_str(yaml).unwrap()
    }

    const WEB: &str = "apiVersion: strata.io/v1alpha1\nkind: App\nmetadata:\n  name: web\n  \
        namespace: prod\n  creationTimestamp: '2026-01-01T00:00:00Z'\nspec:\n  cmd: sleep 100\n  \
        cpus: 0.5\n  mem: 64\n  instances: 3\nstatus:\n  id: /prod/web\n  tasks: 2 / 3\n  \
        tasksRunning: 2\n  health: 2 running\n  phase: Deploying\n";

    #[test]
    fn the_table_shows_marathons_columns() {
        let now: jiff::Timestamp = "2026-01-01T00:05:12Z".parse().unwrap();
        let fresh = app(
            "apiVersion: strata.io/v1alpha1\nkind: App\nmetadata: {name: new, namespace: dev}\nspec: {cmd: x, instances: 2}\n",
        );
        assert_eq!(
            table(&[app(WEB), fresh], true, now),
            "NAMESPACE   NAME   ID          MEMORY (MB)   CPUS   TASKS / INSTANCES   HEALTH      STATUS      AGE\n\
             prod        web    /prod/web   64            0.5    2 / 3               2 running   Deploying   5m12s\n\
             dev         new    -           128           1      0 / 2               -           -           -\n"
        );
    }

    #[test]
    fn filters_match_name_or_id_and_status() {
        let web = app(WEB);
        assert!(matches(&web, None, None));
        assert!(matches(&web, Some("prod/w"), Some("Deploying")));
        assert!(matches(&web, Some("we"), None));
        assert!(!matches(&web, Some("db"), None));
        assert!(!matches(&web, None, Some("Running")));
    }
}
