//! `strata crds`: the CRD YAML generated from the types in strata-api.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Write one file per CRD into this directory instead of printing (regenerates manifests/crds).
    #[arg(long)]
    write: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.write {
        Some(dir) => {
            strata_api::crds::write_dir(&dir)?;
            eprintln!("wrote the CRDs to {}", dir.display());
        }
        None => print!("{}", strata_api::crds::to_yaml(&strata_api::crds::all())),
    }
    Ok(())
}
