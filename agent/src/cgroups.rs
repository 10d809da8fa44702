//! Resource isolation of process tasks through Linux cgroups (v1 or v2), where the machine
//! lets the agent create them.
//!
//! Why it exists: a task's cpus and mem are a promise to every other task on the agent. With
//! cgroups the kernel keeps it (memory: the task is killed past its limit; cpus: CFS quota);
//! without them the agent only accounts for resources, and says so in the Agent's status
//! (`posix/cpu,posix/mem`, as Mesos names its non-enforcing isolators).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strata_api::resources::Resources;

const ROOT: &str = "/sys/fs/cgroup";
/// CFS period: 100 ms, the kernel's default.
const CPU_PERIOD_US: u64 = 100_000;

/// The cgroup hierarchy the agent places tasks in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cgroups {
    /// cgroup v1: one directory per controller.
    V1 { memory: PathBuf, cpu: PathBuf },
    /// cgroup v2: one directory with both controllers enabled for its children.
    V2 { dir: PathBuf },
    /// No cgroup the agent may write: limits are accounted, not enforced.
    Unavailable,
}

impl Cgroups {
    /// Finds (and creates) the agent's own cgroup directories, `strata/<agent>` under each
    /// controller.
    pub fn detect(agent: &str) -> Cgroups {
        let root = Path::new(ROOT);
        if root.join("cgroup.controllers").exists() {
            let dir = root.join("strata").join(agent);
            let enabled =
                fs::create_dir_all(&dir).is_ok() && enable_v2_controllers(root, &dir).is_ok();
            if enabled {
                return Cgroups::V2 { dir };
            }
            return Cgroups::Unavailable;
        }
        let memory = root.join("memory/strata").join(agent);
        let cpu = root.join("cpu/strata").join(agent);
        if fs::create_dir_all(&memory).is_ok() && fs::create_dir_all(&cpu).is_ok() {
            Cgroups::V1 { memory, cpu }
        } else {
            Cgroups::Unavailable
        }
    }

    /// The isolation in Mesos' `--isolation` form, for the Agent's status.
    pub fn isolation(&self) -> &'static str {
        match self {
            Cgroups::Unavailable => "posix/cpu,posix/mem",
            _ => "cgroups/cpu,cgroups/mem",
        }
    }

    /// Creates the cgroup of one task with its limits: mem in MB as a hard limit; cpus as a
    /// relative weight (cpu shares, 1024 per cpu), or, with `cpu` = [`CpuLimit::Quota`], as a
    /// CFS quota that caps the task even on an idle machine. Unavailable cgroups give a task
    /// cgroup with no directories.
    pub fn create(
        &self,
        uid: &str,
        resources: &Resources,
        cpu_limit: CpuLimit,
    ) -> io::Result<TaskCgroup> {
        let memory_bytes = resources.mem * 1024 * 1024;
        let quota_us = match cpu_limit {
            CpuLimit::Quota => resources.cpus.millis() * CPU_PERIOD_US / 1000,
            CpuLimit::Shares => 0,
        };
        let shares = cpu_shares(resources);
        let cgroup = match self {
            Cgroups::Unavailable => TaskCgroup::default(),
            Cgroups::V1 { memory, cpu } => {
                let memory = memory.join(uid);
                let cpu = cpu.join(uid);
                fs::create_dir_all(&memory)?;
                fs::create_dir_all(&cpu)?;
                if memory_bytes > 0 {
                    fs::write(
                        memory.join("memory.limit_in_bytes"),
                        memory_bytes.to_string(),
                    )?;
                    // With swap accounting the limit must cover swap too, or the task swaps
                    // instead of being stopped.
                    let _ = fs::write(
                        memory.join("memory.memsw.limit_in_bytes"),
                        memory_bytes.to_string(),
                    );
                }
                fs::write(cpu.join("cpu.shares"), shares.to_string())?;
                if quota_us > 0 {
                    fs::write(cpu.join("cpu.cfs_period_us"), CPU_PERIOD_US.to_string())?;
                    fs::write(cpu.join("cpu.cfs_quota_us"), quota_us.to_string())?;
                }
                TaskCgroup {
                    dirs: vec![memory, cpu],
                    v2: false,
                }
            }
            Cgroups::V2 { dir } => {
                let dir = dir.join(uid);
                fs::create_dir_all(&dir)?;
                if memory_bytes > 0 {
                    fs::write(dir.join("memory.max"), memory_bytes.to_string())?;
                    // Without this the kernel may swap the task instead of enforcing the limit.
                    let _ = fs::write(dir.join("memory.swap.max"), "0");
                }
                // The kernel's own mapping of cpu shares [2, 262144] to weights [1, 10000].
                let weight = 1 + (shares - 2) * 9999 / 262_142;
                fs::write(dir.join("cpu.weight"), weight.to_string())?;
                if quota_us > 0 {
                    fs::write(dir.join("cpu.max"), format!("{quota_us} {CPU_PERIOD_US}"))?;
                }
                TaskCgroup {
                    dirs: vec![dir],
                    v2: true,
                }
            }
        };
        Ok(cgroup)
    }
}

fn enable_v2_controllers(root: &Path, dir: &Path) -> io::Result<()> {
    // Each level down to the agent's directory must delegate memory and cpu to its children.
    let mut level = root.to_path_buf();
    for component in dir.strip_prefix(root).expect("dir is under root") {
        fs::write(level.join("cgroup.subtree_control"), "+memory +cpu")?;
        level.push(component);
    }
    fs::write(level.join("cgroup.subtree_control"), "+memory +cpu")
}

/// How a task's cpus are enforced. Mesos' default is shares (`--cgroups_enable_cfs=false`):
/// tasks get cpu in proportion to what they asked for when the machine is busy, and may use
/// idle cpu. A quota caps them, at the price of throttling even their start-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CpuLimit {
    #[default]
    Shares,
    Quota,
}

/// cpu shares for `resources`: 1024 per cpu, at least the kernel's minimum of 2.
pub fn cpu_shares(resources: &Resources) -> u64 {
    (resources.cpus.millis() * 1024 / 1000).clamp(2, 262_144)
}

/// One task's cgroup directories (none when cgroups are unavailable).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCgroup {
    pub dirs: Vec<PathBuf>,
    pub v2: bool,
}

impl TaskCgroup {
    /// Whether the kernel killed a process of the task for exceeding its memory limit.
    pub fn oom_killed(&self) -> bool {
        let (dir, file) = match (self.dirs.first(), self.v2) {
            (Some(dir), false) => (dir, "memory.oom_control"),
            (Some(dir), true) => (dir, "memory.events"),
            (None, _) => return false,
        };
        fs::read_to_string(dir.join(file))
            .map(|text| {
                text.lines().any(|line| {
                    line.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .is_some_and(|n| n > 0)
                })
            })
            .unwrap_or(false)
    }

    /// Removes the directories once the task's processes are gone.
    pub fn remove(&self) {
        for dir in &self.dirs {
            if let Err(e) = fs::remove_dir(dir)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(dir = %dir.display(), error = %e, "could not remove a task's cgroup");
            }
        }
    }
}
