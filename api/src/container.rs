//! Container pieces shared by Tasks and Apps: port mappings, volumes, Docker parameters.
//!
//! Why it exists: a Marathon App describes its container and the Marathon controller copies
//! that description into each Task it launches; sharing the types means nothing is lost or
//! renamed on the way from App to Task to the agent's Docker executor. Field names and values
//! follow Marathon's app JSON.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Transport protocol(s) of a port, as Marathon writes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Protocol {
    /// TCP only.
    #[default]
    #[serde(rename = "tcp")]
    Tcp,
    /// UDP only.
    #[serde(rename = "udp")]
    Udp,
    /// Both UDP and TCP on the same port number.
    #[serde(rename = "udp,tcp")]
    UdpTcp,
}

/// A container port published on the agent (Docker bridge networking).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// Port the process listens on inside the container.
    pub container_port: u16,
    /// Port on the agent; 0 (the default) takes one from the ports offered to the task.
    #[serde(default)]
    pub host_port: u16,
    /// Port a service discovery or load balancer layer may expose the app on (Marathon's
    /// servicePort); 0 lets it choose.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub service_port: u16,
    /// Protocol: tcp (default), udp, or "udp,tcp".
    #[serde(default)]
    pub protocol: Protocol,
    /// Name of the port, used by readiness checks (portName) and service discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free-form labels of the port, e.g. for a load balancer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn is_zero(v: &u16) -> bool {
    *v == 0
}

/// Whether a volume may be written to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum VolumeMode {
    /// Read-write (the default).
    #[default]
    RW,
    /// Read-only.
    RO,
}

/// A host directory mounted into the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Absolute path inside the container; a relative path is relative to the task's sandbox.
    pub container_path: String,
    /// Path on the agent to mount; absent mounts a directory of the task's sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    /// RW (default) or RO.
    #[serde(default)]
    pub mode: VolumeMode,
}

/// An extra `docker run` option, e.g. `{key: label, value: "team=web"}` for `--label team=web`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DockerParameter {
    /// Long option name without the leading dashes, e.g. label, ulimit, memory-swap.
    pub key: String,
    /// Its value.
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_serialize_as_marathon_writes_them() {
        assert_eq!(serde_json::to_value(Protocol::UdpTcp).unwrap(), "udp,tcp");
        assert_eq!(
            serde_json::from_value::<Protocol>("udp".into()).unwrap(),
            Protocol::Udp
        );
    }

    #[test]
    fn port_mapping_defaults() {
        let pm: PortMapping =
            serde_json::from_value(serde_json::json!({"containerPort": 8080})).unwrap();
        assert_eq!(pm.host_port, 0);
        assert_eq!(pm.protocol, Protocol::Tcp);
        assert_eq!(
            serde_json::to_value(&pm).unwrap(),
            serde_json::json!({"containerPort": 8080, "hostPort": 0, "protocol": "tcp"})
        );
        let v: Volume =
            serde_json::from_value(serde_json::json!({"containerPath": "/data", "mode": "RO"}))
                .unwrap();
        assert_eq!(v.mode, VolumeMode::RO);
    }
}
