//! Rollouts kept in step with the App: a change (or restart) starts one and supersedes the one in
//! progress; the oldest finished ones beyond the history go.
//!
//! Why it exists: the rollouts are both Marathon's deployments and the app's version history, and
//! this is the one place that creates, supersedes and deletes them.

use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use strata_api::app::App;
use strata_api::labels;
use strata_api::rollout::{
    Change, Rollout, RolloutPhase, RolloutSpec, RolloutStatus, plan as rollout_plan, rollout_name,
};

use super::{MANAGER, Marathon, owner_reference, split};

impl Marathon {
    /// Keeps the app's rollouts in step with its spec: a change (or restart) starts a new one
    /// and supersedes the one in progress; old ones beyond the history are deleted. Returns
    /// whether a rollout is in progress.
    pub(super) fn roll(&mut self, k: &str, app: &App, version: &str, now: Timestamp) -> bool {
        let (namespace, name) = split(k);
        let restart = app.annotations().get(labels::RESTART).cloned();
        let generation = app.metadata.generation.unwrap_or(0);
        let entry = self.apps.get_mut(k).expect("reconciled apps have entries");
        let latest = entry.rollouts.values().next_back().cloned();
        let current = latest
            .as_ref()
            .is_some_and(|r| r.spec.generation == generation && r.spec.restart == restart);
        let api: Api<Rollout> = Api::namespaced(self.client.clone(), namespace);
        if !current {
            let revision = latest
                .as_ref()
                .map_or(0, |r| r.spec.revision)
                .max(app.status.as_ref().map_or(0, |s| s.revision))
                + 1;
            let change = match &latest {
                None if app.spec.instances == 0 => Change::Stop,
                None => Change::Start,
                Some(prev) if prev.spec.version != version => {
                    let same_spec = prev.spec.target.version(None) == app.spec.version(None);
                    if same_spec {
                        Change::Restart
                    } else {
                        Change::Upgrade
                    }
                }
                Some(_) if app.spec.instances == 0 => Change::Stop,
                Some(prev) if prev.spec.target.instances == 0 => Change::Start,
                Some(_) => Change::Scale,
            };
            let new_name = rollout_name(name, revision);
            for (rev, r) in entry.rollouts.iter_mut() {
                if !r.status.as_ref().is_some_and(|s| s.phase.is_finished()) {
                    let mut status = r.status.clone().unwrap_or_default();
                    status.phase = RolloutPhase::Superseded;
                    status.superseded_by = Some(new_name.clone());
                    status.reason = Some("Superseded".to_string());
                    status.message = Some(format!("{new_name} took over"));
                    status.finished_at = Some(Time(now));
                    Arc::make_mut(r).status = Some(status.clone());
                    let value = serde_json::to_value(&status).expect("status serializes");
                    entry.rollouts_written.insert(*rev, status);
                    let lean = Api::namespaced(self.client.clone(), namespace);
                    self.writer
                        .apply_status::<Rollout>(lean, "Rollout", r.name_any(), value);
                }
            }
            let from_version = latest.as_ref().map(|r| r.spec.version.clone());
            let rollout = Rollout {
                metadata: ObjectMeta {
                    name: Some(new_name.clone()),
                    namespace: Some(namespace.to_string()),
                    labels: Some([(labels::APP.to_string(), name.to_string())].into()),
                    owner_references: Some(vec![owner_reference(app)]),
                    ..ObjectMeta::default()
                },
                spec: RolloutSpec {
                    app: name.to_string(),
                    revision,
                    change,
                    generation,
                    version: version.to_string(),
                    restart: restart.clone(),
                    from_version,
                    target: app.spec.clone(),
                },
                status: Some(RolloutStatus {
                    steps: rollout_plan(change, app.spec.instances),
                    started_at: Some(Time(now)),
                    ..RolloutStatus::default()
                }),
            };
            tracing::info!(app = %k, rollout = %new_name, ?change, %version, "rollout started");
            entry.rollouts.insert(revision, Arc::new(rollout.clone()));
            // The status (its plan) is written once the object exists.
            let create_api = api.clone();
            let status = json!({
                "apiVersion": strata_api::API_VERSION, "kind": "Rollout",
                "status": rollout.status,
            });
            if let Some(planned) = &rollout.status {
                entry.rollouts_written.insert(revision, planned.clone());
            }
            self.writer
                .write(format!("create rollout {new_name}"), async move {
                    create_api.create(&PostParams::default(), &rollout).await?;
                    let params = PatchParams::apply(MANAGER).force();
                    create_api
                        .patch_status(&new_name, &params, &Patch::Apply(&status))
                        .await
                        .map(drop)
                });
        }
        // Old finished rollouts beyond the history go (checked every pass: a controller that
        // stopped between creating a rollout and trimming leaves the trimming to the next).
        let finished: Vec<u64> = entry
            .rollouts
            .iter()
            .filter(|(_, r)| r.status.as_ref().is_some_and(|s| s.phase.is_finished()))
            .map(|(rev, _)| *rev)
            .collect();
        let excess = entry.rollouts.len().saturating_sub(self.settings.history);
        for rev in finished.into_iter().take(excess) {
            if let Some(old) = entry.rollouts.remove(&rev) {
                let api = api.clone();
                let old_name = old.name_any();
                self.writer
                    .write(format!("delete rollout {old_name}"), async move {
                        api.delete(&old_name, &DeleteParams::default())
                            .await
                            .map(drop)
                    });
            }
        }
        entry
            .rollouts
            .values()
            .next_back()
            .is_some_and(|r| !r.status.as_ref().is_some_and(|s| s.phase.is_finished()))
    }
}
