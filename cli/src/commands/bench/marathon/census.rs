//! A watch of one App's Tasks, counted: how many run, of which version, and the fewest
//! running seen since it was asked to keep track — counted at every change the watch shows, in
//! the store's order, rather than sampled.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use strata_api::labels;
use strata_api::task::{Task, TaskState};

use super::{NAMESPACE, PROGRESS_EVERY};
use crate::commands::bench::Background;

/// The tasks of one App as the watch last showed them. "Healthy" is Running and not being
/// killed: the benchmark's apps have no health checks.
#[derive(Default)]
pub(super) struct Counts {
    /// Each task's version and whether it is healthy.
    tasks: HashMap<String, (String, bool)>,
    /// Healthy tasks by version.
    healthy: HashMap<String, usize>,
    /// The fewest healthy tasks after any change since tracking began.
    lowest: Option<usize>,
    /// The names listed since the watch began listing again.
    relisted: Option<HashSet<String>>,
}

impl Counts {
    /// Tasks of the app, being killed or not.
    pub fn tasks(&self) -> usize {
        self.tasks.len()
    }

    /// The fewest healthy tasks since tracking began (0 before).
    pub fn lowest(&self) -> usize {
        self.lowest.unwrap_or_default()
    }

    /// Tasks Running and not being killed.
    pub fn healthy(&self) -> usize {
        self.healthy.values().sum()
    }

    /// Those of them that run `version`.
    pub fn healthy_of(&self, version: &str) -> usize {
        self.healthy.get(version).copied().unwrap_or(0)
    }

    fn set(&mut self, task: &Task) {
        let name = task.name_any();
        self.forget(&name);
        let version = task
            .labels()
            .get(labels::APP_VERSION)
            .cloned()
            .unwrap_or_default();
        let healthy = task.metadata.deletion_timestamp.is_none()
            && task.status.as_ref().and_then(|s| s.state) == Some(TaskState::Running);
        if healthy {
            *self.healthy.entry(version.clone()).or_default() += 1;
        }
        if let Some(listed) = &mut self.relisted {
            listed.insert(name.clone());
        }
        self.tasks.insert(name, (version, healthy));
    }

    fn forget(&mut self, name: &str) {
        if let Some((version, true)) = self.tasks.remove(name)
            && let Some(n) = self.healthy.get_mut(&version)
        {
            *n -= 1;
        }
    }

    fn apply(&mut self, event: Event<Task>) {
        match event {
            Event::Apply(task) | Event::InitApply(task) => self.set(&task),
            Event::Delete(task) => self.forget(&task.name_any()),
            Event::Init => self.relisted = Some(HashSet::new()),
            Event::InitDone => {
                let listed = self.relisted.take().unwrap_or_default();
                let gone: Vec<String> = self
                    .tasks
                    .keys()
                    .filter(|k| !listed.contains(*k))
                    .cloned()
                    .collect();
                for name in gone {
                    self.forget(&name);
                }
            }
        }
        let healthy = self.healthy();
        if let Some(lowest) = &mut self.lowest {
            *lowest = (*lowest).min(healthy);
        }
    }
}

/// A watch of the Tasks of one App, counted.
pub(super) struct Census {
    counts: Arc<Mutex<Counts>>,
    _watch: Background,
}

impl Census {
    pub fn watch(client: &Client, app: &str) -> Census {
        let api: Api<Task> = Api::namespaced(client.clone(), NAMESPACE);
        let config = watcher::Config::default().labels(&labels::app_selector(app));
        let counts = Arc::new(Mutex::new(Counts::default()));
        let shared = counts.clone();
        let watch = tokio::spawn(async move {
            let mut events = watcher::watcher(api, config).default_backoff().boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(event) => shared.lock().expect("counts").apply(event),
                    Err(e) => eprintln!("  the task watch failed (retrying): {e}"),
                }
            }
        });
        Census {
            counts,
            _watch: Background(watch),
        }
    }

    pub fn shared(&self) -> Arc<Mutex<Counts>> {
        self.counts.clone()
    }

    pub fn read<T>(&self, f: impl FnOnce(&Counts) -> T) -> T {
        f(&self.counts.lock().expect("counts"))
    }

    /// Counts the fewest healthy tasks from now on.
    pub fn track_lowest(&self) {
        let mut c = self.counts.lock().expect("counts");
        c.lowest = Some(c.healthy());
    }

    pub async fn until(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&Counts) -> bool,
    ) -> anyhow::Result<Instant> {
        until(&self.counts, what, limit, done).await
    }

    /// Prints `line` of the counts on stderr every [`PROGRESS_EVERY`] while it is kept.
    pub fn progress(&self, line: impl Fn(&Counts) -> String + Send + 'static) -> Background {
        let counts = self.counts.clone();
        let t0 = Instant::now();
        Background(tokio::spawn(async move {
            let start = tokio::time::Instant::now() + PROGRESS_EVERY;
            let mut ticks = tokio::time::interval_at(start, PROGRESS_EVERY);
            loop {
                ticks.tick().await;
                let line = line(&counts.lock().expect("counts"));
                eprintln!("  {:>6.1} s  {line}", t0.elapsed().as_secs_f64());
            }
        }))
    }
}

/// When the counts first satisfied `done` (polled every 10 ms).
pub(super) async fn until(
    counts: &Mutex<Counts>,
    what: &str,
    limit: Duration,
    done: impl Fn(&Counts) -> bool,
) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        if done(&counts.lock().expect("counts")) {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("{what}: not within {} s", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
