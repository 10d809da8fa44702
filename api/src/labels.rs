//! Well-known label keys strata sets on its objects, and the selectors built from them.
//!
//! Why it exists: real Kubernetes only offers field selectors on a custom resource's metadata
//! (and, from 1.31, on declared selectable fields), so everything that is watched by reference
//! (the tasks of one agent, the offers of one framework, the tasks of one app) is also a label.
//! One place for the keys keeps writers and watchers in agreement.

/// Label on Tasks and Offers: the name of the Agent they are on (mirrors `spec.agent`).
pub const AGENT: &str = "strata.io/agent";
/// Label on Tasks and Offers: the name of the Framework they belong to (mirrors `spec.framework`).
pub const FRAMEWORK: &str = "strata.io/framework";
/// Label on the Tasks of an App: the App's name. The App's `status.selector` selects on it.
pub const APP: &str = "strata.io/app";
/// Label on the Tasks of an App: the app version they run (the App's `status.version`).
pub const APP_VERSION: &str = "strata.io/app-version";
/// Annotation on a Task of an App: kill this one first when the app scales down
/// (`strata app kill --scale` marks the task, then lowers `instances`).
pub const KILL_FIRST: &str = "strata.io/kill-first";
/// Annotation on an App: a token whose change restarts every instance (a new rollout of the
/// same spec), as `kubectl rollout restart` does for Deployments. `strata app restart` sets it.
pub const RESTART: &str = "strata.io/restart";
/// Annotation on an App: the version whose launches the user stopped (`strata app stop`); a
/// crash-looping version is then not relaunched until a new version or `strata app resume`.
pub const LAUNCHES_STOPPED: &str = "strata.io/launches-stopped";

/// The label selector (`strata.io/app=<name>`) for the tasks of the App `name`; what an App
/// reports in `status.selector` for the scale subresource.
pub fn app_selector(name: &str) -> String {
    format!("{APP}={name}")
}

/// The label selector (`strata.io/agent=<name>`) for the tasks and offers on the Agent `name`.
pub fn agent_selector(name: &str) -> String {
    format!("{AGENT}={name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        assert_eq!(app_selector("web"), "strata.io/app=web");
        assert_eq!(agent_selector("node-1"), "strata.io/agent=node-1");
    }
}
