//! Fails when manifests/crds/ no longer matches the CRDs generated from the types.
//!
//! The checked-in YAML is what the Helm chart and GitOps users apply, so it must never drift
//! from the Rust types. This test only compares; it never rewrites the files unless asked to
//! with `STRATA_REGENERATE=1` (the same as `cargo run -p strata -- crds --write manifests/crds`).

use std::path::PathBuf;

#[test]
fn manifests_crds_match_the_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests/crds");
    if std::env::var_os("STRATA_REGENERATE").is_some_and(|v| v == "1") {
        strata_api::crds::write_dir(&dir).expect("write manifests/crds");
    }
    let drift = strata_api::crds::diff_dir(&dir).expect("read manifests/crds");
    assert!(
        drift.is_empty(),
        "manifests/crds is out of date with the types in api/src:\n  {}\n\
         Regenerate it with `cargo run -p strata -- crds --write manifests/crds` \
         (or `STRATA_REGENERATE=1 cargo test -p strata-api --test crds_drift`) and commit the result.",
        drift.join("\n  ")
    );
}
