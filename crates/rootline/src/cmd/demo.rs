//! `rootline demo`: the chain of trust, step by step.

/// Flags of `rootline demo`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_a: Args) -> anyhow::Result<u8> {
    Ok(0)
}
