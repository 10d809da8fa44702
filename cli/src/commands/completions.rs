//! `strata completions SHELL`: the shell completion script for every subcommand and flag,
//! generated from the same clap definitions the binary parses with (so it never drifts).

use clap::CommandFactory;
use clap_complete::Shell;

#[derive(clap::Args)]
#[command(after_help = "Install (then open a new shell):
  bash        strata completions bash > ~/.local/share/bash-completion/completions/strata
  zsh         strata completions zsh > \"${fpath[1]}/_strata\"
              (or any directory on $fpath; then run compinit)
  fish        strata completions fish > ~/.config/fish/completions/strata.fish
  elvish      strata completions elvish >> ~/.config/elvish/rc.elv
  powershell  strata completions powershell >> $PROFILE
Or for this shell only: source <(strata completions bash)")]
pub struct Args {
    /// The shell to complete in.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut command = crate::Cli::command();
    clap_complete::generate(args.shell, &mut command, "strata", &mut std::io::stdout());
    Ok(())
}
