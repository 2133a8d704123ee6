//! `rootline completions SHELL`: a completion script for bash, zsh, fish,
//! elvish or PowerShell, generated from the clap definitions, so that it
//! knows every subcommand and flag this build has.

use std::io::Write as _;

use clap::CommandFactory as _;

/// Flags of `rootline completions`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The shell. Install, for example: `rootline completions bash >
    /// /etc/bash_completion.d/rootline`, `rootline completions zsh >
    /// "${fpath[1]}/_rootline"`, `rootline completions fish >
    /// ~/.config/fish/completions/rootline.fish`.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Runs `rootline completions`.
pub(crate) fn run(a: Args) -> anyhow::Result<u8> {
    let mut cmd = crate::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "rootline", &mut out);
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = std::io::stdout().write_all(&out);
    Ok(0)
}
