//! `strata deploy -f FILE [--wait]`: apply manifests by server-side apply, as `kubectl apply
//! --server-side -f` does, and with `--wait` follow each App's rollout to its end — with a
//! progress bar, and with the controller's reason when it cannot finish.
//!
//! Why it exists: "did my deploy work?" is the question after every change. kubectl can apply
//! and `kubectl wait` can wait, but neither says *why* an app does not come up; Marathon's users
//! are used to a deployment that shows its steps. This only writes the objects in the files and
//! reads what the Marathon controller reports; it never does the controller's work.

mod apply;
mod manifests;
mod progress;
mod verdict;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use kube::Api;
use strata_api::age::human_duration;
use strata_api::{App, Rollout};
use tokio::time::Instant;

use self::apply::{Applied, Applier};
use self::progress::{Display, Reporter};
use self::verdict::{Verdict, assess};
use super::duration;
use super::store_client::{Connection, StoreArgs};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  strata deploy -f web.yaml --wait
  strata deploy -f manifests/examples/ -n dev
  cat app.json | strata deploy -f - --wait --timeout 2m")]
pub struct Args {
    /// A manifest to apply: a YAML (one or more documents) or JSON file, a directory (its
    /// *.yaml, *.yml and *.json files), or - for stdin. Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Namespace of objects that name none; defaults to the kubeconfig context's namespace, or
    /// "default".
    #[arg(short, long)]
    namespace: Option<String>,
    /// Follow each App's rollout until it is available at the new spec; fail with the reason
    /// if it cannot get there.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits for all apps, e.g. 90s, 10m.
    #[arg(long, default_value = "10m", value_parser = duration::parse)]
    timeout: Duration,
    /// Take over fields another manager owns (kubectl's --force-conflicts).
    #[arg(long)]
    force_conflicts: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// How often --wait reads the app and its rollout.
const POLL: Duration = Duration::from_millis(250);

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(deploy(args))
}

async fn deploy(args: Args) -> anyhow::Result<()> {
    let manifests = manifests::read(&args.files)?;
    let connection = args.store.connect().await?;
    let mut applier = Applier::new(
        connection.clone(),
        args.namespace.clone(),
        args.force_conflicts,
    );
    let mut applied = Vec::new();
    let mut failed = 0;
    for m in &manifests {
        match applier.apply(m).await {
            Ok(a) => {
                println!("{} {}", a.display, a.outcome.as_str());
                applied.push(a);
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} object(s) could not be applied{}",
            manifests.len(),
            if args.wait { "; not waiting" } else { "" }
        );
    }
    if !args.wait {
        return Ok(());
    }
    let apps: Vec<&Applied> = applied
        .iter()
        .filter(|a| a.kind == "App" && a.group == "strata.io")
        .collect();
    let display = Display::detect();
    let deadline = Instant::now() + args.timeout;
    let follows = apps.iter().map(|a| {
        let reporter = display.reporter(&a.display);
        follow(&connection, a, deadline, args.timeout, reporter)
    });
    let failures: Vec<String> = futures::future::join_all(follows)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    if !failures.is_empty() {
        bail!("{}", failures.join("\n"));
    }
    Ok(())
}

/// Follows the rollout of `app` until it is done, cannot finish, or `deadline` passes; says
/// why when it does not succeed.
async fn follow(
    connection: &Connection,
    app: &Applied,
    deadline: Instant,
    timeout: Duration,
    mut reporter: Reporter,
) -> Result<(), String> {
    let namespace = app.namespace.as_deref().unwrap_or("default");
    let apps: Api<App> = Api::namespaced(connection.client.clone(), namespace);
    let rollouts: Api<Rollout> = Api::namespaced(connection.client.clone(), namespace);
    let generation = app.generation.unwrap_or(1);
    let result = loop {
        let read = read(
            connection, &apps, &rollouts, namespace, &app.name, generation,
        )
        .await;
        let verdict = match read {
            Ok(v) => v,
            Err(why) => break Err(why),
        };
        match verdict {
            Verdict::Done(p) => {
                let what = match &p.rollout {
                    Some(r) => format!("rollout {r} done"),
                    None => "available".to_string(),
                };
                reporter.finish(&format!(
                    "{what}: {}/{} instances healthy",
                    p.healthy, p.target
                ));
                return Ok(());
            }
            Verdict::Failed(why) => break Err(why),
            Verdict::Pending(p) => {
                reporter.update(&p);
                let now = Instant::now();
                if now >= deadline {
                    break Err(format!(
                        "{} (gave up after {})",
                        p.stuck,
                        human_duration(
                            jiff::SignedDuration::try_from(timeout)
                                .unwrap_or(jiff::SignedDuration::MAX)
                        )
                    ));
                }
                tokio::time::sleep(POLL.min(deadline - now)).await;
            }
        }
    };
    reporter.abandon();
    result
}

/// Reads App `name` and the rollout its status names, and judges them.
async fn read(
    connection: &Connection,
    apps: &Api<App>,
    rollouts: &Api<Rollout>,
    ns: &str,
    name: &str,
    generation: i64,
) -> Result<Verdict, String> {
    let explain = |e, doing: &str| connection.explain(e, doing).to_string();
    let app = apps
        .get_opt(name)
        .await
        .map_err(|e| explain(e, &format!("read app {ns}/{name}")))?
        .ok_or_else(|| format!("app {name} was deleted while the deploy waited for it"))?;
    let status = app.status.as_ref();
    let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
    let rollout = match status.and_then(|s| s.rollout.as_deref()) {
        Some(r) if observed >= generation => rollouts
            .get_opt(r)
            .await
            .map_err(|e| explain(e, &format!("read rollout {ns}/{r}")))?,
        _ => None,
    };
    Ok(assess(&app, rollout.as_ref(), generation))
}
