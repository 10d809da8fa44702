//! What this machine offers when the operator does not say: cpus, memory, disk and a port
//! range, minus what the agent and the system keep for themselves.
//!
//! Why it exists: Mesos agents detect their resources and subtract a reserve, so that tasks
//! cannot starve the machine they run on. The same rules here: all cpus; memory minus 1 GB
//! (half when the machine has less than 2 GB); disk of the work directory's filesystem minus
//! 5 GB (half when it has less than 10 GB); ports 31000-32000.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use strata_api::resources::Resources;

/// Mesos' default port range for tasks.
const PORTS: &str = "[31000-32000]";

/// The resources to offer from this machine, with `work_dir` holding the sandboxes.
pub fn detect(work_dir: &Path) -> Resources {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem = reserve(memory_mb().unwrap_or(0), 1024, 2048);
    let disk = reserve(disk_mb(work_dir).unwrap_or(0), 5 * 1024, 10 * 1024);
    format!("cpus:{cpus};mem:{mem};disk:{disk};ports:{PORTS}")
        .parse()
        .expect("detected resources are well-formed")
}

/// `total` minus `reserve`, or half of it when it is below `small`.
fn reserve(total: u64, reserve: u64, small: u64) -> u64 {
    if total < small {
        total / 2
    } else {
        total - reserve
    }
}

fn memory_mb() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn disk_mb(path: &Path) -> Option<u64> {
    let path = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is a valid C string.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(stat.f_blocks as u64 * stat.f_frsize as u64 / (1024 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_follow_mesos() {
        assert_eq!(reserve(16 * 1024, 1024, 2048), 15 * 1024);
        assert_eq!(reserve(1500, 1024, 2048), 750);
    }

    #[test]
    fn detects_this_machine() {
        let found = detect(Path::new("/"));
        assert!(found.cpus.millis() >= 1000);
        assert!(found.mem > 0, "{found}");
        assert!(found.disk > 0, "{found}");
        assert_eq!(found.ports.to_string(), "[31000-32000]");
    }
}
