//! One module per subcommand.

pub(crate) mod admin;
pub(crate) mod appraise;
pub(crate) mod attest;
pub(crate) mod bench;
pub(crate) mod bench_kbs;
pub(crate) mod demo;
pub(crate) mod demo_vm;
pub(crate) mod eventlog;
pub(crate) mod fetch;
pub(crate) mod get_resource;
pub(crate) mod local_broker;
pub(crate) mod measure;
pub(crate) mod reference;
pub(crate) mod reference_record;
pub(crate) mod serve;
pub(crate) mod verify;

use std::path::Path;

use anyhow::Context as _;

/// Reads a whole input file, naming it in the error.
pub(crate) fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
