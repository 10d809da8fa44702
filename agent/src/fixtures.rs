//! A container image made on this machine, for benchmarks and tests where nothing can be
//! pulled: busybox-static in an otherwise empty root, with `/www/index.html` for httpd.
//!
//! Why it exists: `strata bench agent` and the end-to-end tests both need an image the local
//! Docker engine has, built the same way, without a registry.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// The tag of the image.
pub const BUSYBOX_IMAGE: &str = "strata-test/busybox:1";
/// What `/www/index.html` holds.
pub const INDEX_HTML: &str = "hello from busybox\n";

/// Imports [`BUSYBOX_IMAGE`] into the local engine unless it is there already.
pub fn busybox_image() -> anyhow::Result<&'static str> {
    if docker(&["image", "inspect", BUSYBOX_IMAGE]).is_ok_and(|s| s.success()) {
        return Ok(BUSYBOX_IMAGE);
    }
    let busybox = ["/usr/bin/busybox", "/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .context("busybox is not installed: apt-get install busybox-static")?;
    let root = tempfile::tempdir()?;
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin)?;
    std::fs::create_dir_all(root.path().join("www"))?;
    std::fs::create_dir_all(root.path().join("tmp"))?;
    std::fs::copy(busybox, bin.join("busybox"))?;
    for applet in [
        "sh", "httpd", "sleep", "echo", "cat", "env", "head", "tail", "ls", "true", "false",
    ] {
        std::os::unix::fs::symlink("busybox", bin.join(applet))?;
    }
    std::fs::write(root.path().join("www/index.html"), INDEX_HTML)?;
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(root.path())
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .context("running tar")?;
    let imported = Command::new("docker")
        .args(["import", "-", BUSYBOX_IMAGE])
        .stdin(tar.stdout.take().context("tar's stdout")?)
        .stdout(Stdio::null())
        .status()
        .context("running docker import")?;
    let packed = tar.wait()?;
    if !packed.success() || !imported.success() {
        bail!("importing {BUSYBOX_IMAGE} failed (tar: {packed}, docker import: {imported})");
    }
    Ok(BUSYBOX_IMAGE)
}

fn docker(args: &[&str]) -> std::io::Result<std::process::ExitStatus> {
    Command::new("docker")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
}
