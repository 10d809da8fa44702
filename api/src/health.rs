//! Health checks with Marathon's semantics, shared by Apps and Tasks.
//!
//! Why it exists: an App declares health checks and the Marathon controller copies them into
//! each Task; the agent runs them next to the task (Mesos-style, so health checking scales with
//! the agents rather than with one leader, Marathon complaint #7). The defaults are Marathon's
//! and appear in the schema, so `kubectl explain` and the API server agree on them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::validation::Errors;

/// How a health check probes the task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum HealthCheckProtocol {
    /// GET `path` over HTTP; a 2xx or 3xx status is healthy.
    #[default]
    HTTP,
    /// GET `path` over HTTPS (the certificate is not verified); a 2xx or 3xx status is healthy.
    HTTPS,
    /// A TCP connection can be opened.
    TCP,
    /// `command.value` exits with status 0 (run by the shell in the task's sandbox or container).
    COMMAND,
}

/// The command of a COMMAND health check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCommand {
    /// Shell command; exit status 0 is healthy.
    pub value: String,
}

/// A Marathon health check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// HTTP (default), HTTPS, TCP or COMMAND.
    #[serde(default)]
    pub protocol: HealthCheckProtocol,
    /// HTTP(S) path to GET; "/" when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Index into the task's ports (PORT0 is 0) of the port to probe; 0 when neither portIndex
    /// nor port is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_index: Option<u32>,
    /// A fixed port to probe instead of portIndex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The command of a COMMAND check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<HealthCommand>,
    /// Seconds after the task starts during which failures are ignored.
    #[serde(default = "default_grace_period_seconds")]
    pub grace_period_seconds: u32,
    /// Seconds between checks.
    #[serde(default = "default_interval_seconds")]
    pub interval_seconds: u32,
    /// Seconds a check may take before it counts as failed.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u32,
    /// Consecutive failures (after the grace period) after which the task is killed; 0 never
    /// kills.
    #[serde(default = "default_max_consecutive_failures")]
    pub max_consecutive_failures: u32,
    /// Seconds to wait after the task starts before the first check.
    #[serde(default = "default_delay_seconds")]
    pub delay_seconds: u32,
}

fn default_grace_period_seconds() -> u32 {
    300
}
fn default_interval_seconds() -> u32 {
    60
}
fn default_timeout_seconds() -> u32 {
    20
}
fn default_max_consecutive_failures() -> u32 {
    3
}
fn default_delay_seconds() -> u32 {
    15
}

impl Default for HealthCheck {
    /// An HTTP check of `/` on the first port with Marathon's timings.
    fn default() -> HealthCheck {
        HealthCheck {
            protocol: HealthCheckProtocol::HTTP,
            path: None,
            port_index: None,
            port: None,
            command: None,
            grace_period_seconds: default_grace_period_seconds(),
            interval_seconds: default_interval_seconds(),
            timeout_seconds: default_timeout_seconds(),
            max_consecutive_failures: default_max_consecutive_failures(),
            delay_seconds: default_delay_seconds(),
        }
    }
}

impl HealthCheck {
    /// Records what makes this check unusable; `path` is where it sits, e.g.
    /// `spec.healthChecks[0]`.
    pub(crate) fn validate(&self, path: &str, errors: &mut Errors) {
        match self.protocol {
            HealthCheckProtocol::COMMAND if self.command.is_none() => {
                errors.push(format!("{path}.command"), "a COMMAND health check needs command.value");
            }
            HealthCheckProtocol::COMMAND => {}
            other if self.command.is_some() => errors.push(
                format!("{path}.command"),
                format!("command is only used by COMMAND checks; this one is {other:?}: remove command or set protocol: COMMAND"),
            ),
            _ => {}
        }
        if self.port.is_some() && self.port_index.is_some() {
            errors.push(format!("{path}.port"), "set port or portIndex, not both");
        }
        if self.timeout_seconds > self.interval_seconds {
            errors.push(
                format!("{path}.timeoutSeconds"),
                format!(
                    "timeoutSeconds ({}) must not exceed intervalSeconds ({})",
                    self.timeout_seconds, self.interval_seconds
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_check_gets_marathons_defaults() {
        let hc: HealthCheck = serde_json::from_str("{}").unwrap();
        assert_eq!(hc, HealthCheck::default());
        assert_eq!(
            serde_json::to_value(&hc).unwrap(),
            serde_json::json!({
                "protocol": "HTTP", "gracePeriodSeconds": 300, "intervalSeconds": 60,
                "timeoutSeconds": 20, "maxConsecutiveFailures": 3, "delaySeconds": 15
            })
        );
    }

    fn problems(hc: &HealthCheck) -> Vec<crate::FieldError> {
        let mut errors = Errors::default();
        hc.validate("spec.healthChecks[0]", &mut errors);
        errors.into_result().err().map(|e| e.0).unwrap_or_default()
    }

    #[test]
    fn problems_are_reported_per_field() {
        assert!(problems(&HealthCheck::default()).is_empty());
        let cmd = HealthCheck {
            protocol: HealthCheckProtocol::COMMAND,
            ..HealthCheck::default()
        };
        assert_eq!(problems(&cmd)[0].field, "spec.healthChecks[0].command");
        let both = HealthCheck {
            port: Some(80),
            port_index: Some(0),
            timeout_seconds: 90,
            ..HealthCheck::default()
        };
        let fields: Vec<_> = problems(&both).into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "spec.healthChecks[0].port",
                "spec.healthChecks[0].timeoutSeconds"
            ]
        );
        let stray = HealthCheck {
            command: Some(HealthCommand {
                value: "true".into(),
            }),
            ..HealthCheck::default()
        };
        assert!(problems(&stray)[0].message.contains("only used by COMMAND"));
    }
}
