//! `strata crds` prints every strata CRD, as multi-document YAML that kubectl accepts.

use std::process::Command;

#[test]
fn crds_command_prints_every_kind() {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("crds")
        .output()
        .expect("strata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).expect("UTF-8");
    let kinds = [
        "Agent",
        "Framework",
        "Offer",
        "Task",
        "App",
        "Rollout",
        "ResourceRole",
    ];
    for kind in kinds {
        assert!(yaml.contains(&format!("kind: {kind}\n")), "{kind} missing");
    }
    assert_eq!(
        yaml.matches("kind: CustomResourceDefinition").count(),
        kinds.len()
    );
}

#[test]
fn unknown_subcommand_says_what_exists() {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("serve")
        .output()
        .expect("strata runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server"), "{err}");
}
