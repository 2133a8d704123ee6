//! `rootline eventlog`: show, replay and check TCG event logs.

use anyhow::bail;

/// Subcommands of `rootline eventlog`.
#[derive(clap::Subcommand)]
pub(crate) enum Command {}

pub(crate) fn run(c: Command) -> anyhow::Result<u8> {
    match c {}
}

#[allow(dead_code)]
fn _unused() -> anyhow::Result<()> {
    bail!("x")
}
