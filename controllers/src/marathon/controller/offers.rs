//! Launches placed on offers: each pending offer of a namespace is filled with the instances its
//! apps want, as far as they fit; used offers are accepted with their tasks, the others declined.
//!
//! Why it exists: this is Marathon's offer matcher — the part that turns what the plan wants
//! into Tasks on agents — and where the reasons offers did not fit are counted for the status.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use kube::{Api, ResourceExt};
use serde_json::json;
use strata_api::offer::{Offer, OfferPhase};
use strata_api::task::Task;

use super::super::launch::{self, Owner, Target};
use super::super::placement::{self, Place};
use super::super::plan::Instance;
use super::super::status::Hold;
use super::{
    DECLINE_REFUSE_SECONDS, Input, Marathon, Outcome, Queue, SUPPRESS_AFTER, Tracked, fresh_name,
    marathon_id, split,
};
use crate::writer::{create, merge_status};

impl Marathon {
    /// Places the launches the pass wants on the pending offers of each namespace, accepts the
    /// offers used and declines the others; suppresses frameworks with nothing to launch and
    /// revives those with something.
    pub(super) fn place(&mut self, outcomes: &mut HashMap<String, Outcome>, now: Timestamp) {
        let mut wanting: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, outcome) in outcomes.iter() {
            if outcome.wanted > 0 {
                wanting
                    .entry(split(k).0.to_string())
                    .or_default()
                    .push(k.clone());
            } else if let Some(entry) = self.apps.get_mut(k) {
                entry.queue = Queue::default();
            }
        }
        for list in wanting.values_mut() {
            list.sort();
        }
        let offers: Vec<(String, Offer)> = self
            .offers
            .iter()
            .filter(|(k, _)| !self.answered.contains(*k))
            .map(|(k, o)| (k.clone(), o.clone()))
            .collect();
        let mut placed: HashMap<String, Vec<Place>> = HashMap::new();
        for (offer_key, offer) in offers {
            let (namespace, offer_name) = split(&offer_key);
            let role = self
                .frameworks
                .get(namespace)
                .map_or(self.settings.role.clone(), |f| f.spec.role.clone());
            let mut left = offer.spec.resources.clone();
            let here = Place {
                hostname: offer
                    .spec
                    .hostname
                    .clone()
                    .unwrap_or_else(|| offer.spec.agent.clone()),
                attributes: offer.spec.attributes.clone(),
            };
            let mut launched: Vec<(String, Task)> = Vec::new();
            for k in wanting.get(namespace).into_iter().flatten() {
                let Outcome {
                    app,
                    version,
                    wanted,
                    ..
                } = outcomes.get_mut(k).expect("wanting apps have outcomes");
                if *wanted == 0 {
                    continue;
                }
                let entry = self.apps.get_mut(k).expect("wanting apps have entries");
                // Where the app's instances are, for its constraints (none: not needed).
                let others = placed.entry(k.clone()).or_insert_with(|| {
                    if app.spec.constraints.is_empty() {
                        return Vec::new();
                    }
                    entry
                        .tasks
                        .values()
                        .filter(|t| !t.instance.deleting)
                        .map(|t| {
                            self.agents.get(&t.agent).cloned().unwrap_or_else(|| Place {
                                hostname: t.agent.clone(),
                                ..Place::default()
                            })
                        })
                        .collect()
                });
                entry.queue.since.get_or_insert(now);
                entry.queue.processed += 1;
                let app_name = app.name_any();
                let (uid, id) = (app.uid().unwrap_or_default(), marathon_id(app));
                let mut placed_here = 0;
                while *wanted > 0 {
                    let refs: Vec<&Place> = others.iter().collect();
                    match placement::fit(&app.spec, &role, &left, &here, &refs) {
                        Ok(fit) => {
                            left = left.saturating_sub(&fit.resources);
                            if !app.spec.constraints.is_empty() {
                                others.push(here.clone());
                            }
                            let task_name = fresh_name(&app_name, &entry.tasks);
                            let owner = Owner {
                                name: &app_name,
                                uid: &uid,
                                id: &id,
                            };
                            let target = Target {
                                framework: &self.settings.framework,
                                offer: offer_name,
                                agent: &offer.spec.agent,
                            };
                            let task = launch::task(
                                &owner,
                                &app.spec,
                                version,
                                &target,
                                fit,
                                task_name.clone(),
                            );
                            entry.tasks.insert(
                                task_name.clone(),
                                Tracked {
                                    instance: Instance {
                                        name: task_name.clone(),
                                        version: version.clone(),
                                        state: None,
                                        healthy: None,
                                        ready: None,
                                        created: now,
                                        kill_first: false,
                                        deleting: false,
                                        unreachable_since: None,
                                    },
                                    agent: offer.spec.agent.clone(),
                                },
                            );
                            launched.push((k.clone(), task));
                            *wanted -= 1;
                            placed_here += 1;
                        }
                        Err(why) => {
                            if placed_here == 0 {
                                *entry.queue.rejections.entry(why).or_default() += 1;
                            }
                            break;
                        }
                    }
                }
            }
            self.answered.insert(offer_key.clone());
            self.answer(namespace, offer_name, launched);
        }
        // Apps that still want launches wait for offers.
        for (k, outcome) in outcomes.iter_mut() {
            if outcome.wanted > 0 && outcome.hold.is_none() {
                outcome.hold = Some(Hold::Offers);
                if let Some(entry) = self.apps.get_mut(k) {
                    entry.queue.since.get_or_insert(now);
                }
            }
        }
        // Launches left over in a namespace that saw no offer: revive, now and then.
        let offered: HashSet<&str> = self.offers.keys().map(|k| split(k).0).collect();
        let starving: Vec<String> = wanting
            .iter()
            .filter(|(ns, apps)| {
                !offered.contains(ns.as_str())
                    && apps
                        .iter()
                        .any(|k| outcomes.get(k).is_some_and(|o| o.wanted > 0))
            })
            .map(|(ns, _)| ns.clone())
            .collect();
        self.starving.retain(|ns, _| starving.contains(ns));
        for ns in starving {
            self.revive(&ns, now);
        }
        let namespaces: HashSet<&str> = self.apps.keys().map(|k| split(k).0).collect();
        let wants: Vec<(String, bool)> = namespaces
            .into_iter()
            .map(|ns| (ns.to_string(), wanting.contains_key(ns)))
            .collect();
        for (ns, wants_offers) in wants {
            // Suppressed once idle for a while, not between the waves of a rollout: each
            // revive would have every agent offered again only to be declined.
            let idle = if wants_offers {
                if self.idle.remove(&ns).is_some() {
                    // New launches after a lull: what was declined meanwhile is wanted now.
                    self.revive_now(&ns);
                }
                false
            } else {
                let since = *self.idle.entry(ns.clone()).or_insert(now);
                now.duration_since(since).as_secs_f64() >= SUPPRESS_AFTER.as_secs_f64()
            };
            if wants_offers || idle {
                self.suppress(&ns, idle);
            }
        }
    }

    /// Accepts the offer with `launched` tasks (created first), or declines it.
    pub(super) fn answer(&self, namespace: &str, offer: &str, launched: Vec<(String, Task)>) {
        let offers: Api<Offer> = Api::namespaced(self.client.clone(), namespace);
        let offer = offer.to_string();
        if launched.is_empty() {
            let patch = json!({"status": {"phase": OfferPhase::Declined, "refuseSeconds": DECLINE_REFUSE_SECONDS}});
            self.writer
                .write(format!("decline offer {offer}"), async move {
                    merge_status(&offers, &offer, &patch).await
                });
            return;
        }
        let tasks: Api<Task> = Api::namespaced(self.client.clone(), namespace);
        let inputs = self.inputs.clone();
        self.writer.write(format!("accept offer {offer}"), async move {
            let creations = launched.into_iter().map(|(app, task)| {
                let tasks = tasks.clone();
                let inputs = inputs.clone();
                async move {
                    let name = task.name_any();
                    match create(&tasks, &task).await {
                        Ok(()) => Some(name),
                        Err(e) => {
                            tracing::warn!(task = %name, error = %e, "could not create a task");
                            let _ = inputs.send(Input::NotCreated { app, task: name });
                            None
                        }
                    }
                }
            });
            let created: Vec<String> = futures::future::join_all(creations)
                .await
                .into_iter()
                .flatten()
                .collect();
            let patch = json!({"status": {"phase": OfferPhase::Accepted, "tasks": created, "refuseSeconds": 0}});
            merge_status(&offers, &offer, &patch).await
        });
    }
}
