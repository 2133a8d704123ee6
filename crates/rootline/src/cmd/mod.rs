//! One module per subcommand.

pub(crate) mod admin;
pub(crate) mod appraise;
pub(crate) mod attest;
pub(crate) mod bench;
pub(crate) mod bench_kbs;
pub(crate) mod collateral;
pub(crate) mod completions;
pub(crate) mod demo;
pub(crate) mod demo_vm;
pub(crate) mod eventlog;
pub(crate) mod fetch;
pub(crate) mod get_resource;
pub(crate) mod local_broker;
pub(crate) mod man;
pub(crate) mod measure;
pub(crate) mod reference;
pub(crate) mod reference_record;
pub(crate) mod se;
pub(crate) mod serve;
pub(crate) mod sev;
pub(crate) mod verify;

use std::path::Path;

use anyhow::Context as _;

/// The most any input file may hold unless its kind says otherwise
/// ([`read_limited`]): more than any event log, policy, key or reference
/// file rootline reads.
pub(crate) const MAX_INPUT: u64 = 64 << 20;

/// The most an evidence or collateral file may hold: an SNP extended report
/// is at most 1 MiB, a TDX quote with its CCEL or a TPM quote with its event
/// log a few MiB.
pub(crate) const MAX_EVIDENCE: u64 = 16 << 20;

/// Reads a whole input file of at most [`MAX_INPUT`] bytes, naming it in
/// the error.
pub(crate) fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    read_limited(path, MAX_INPUT, "input")
}

/// Writes `bytes` to `path` (replacing what was there), readable by its
/// owner only: secrets, session keys and request secrets the CLI hands the
/// user. (`serve::create_private` is the variant that never replaces.)
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Reads at most `max` bytes of `path` (and one more, to tell that there
/// are more): a 2 GB file or /dev/zero given by mistake is refused after
/// `max` bytes instead of exhausting memory (hardening finding 11).
pub(crate) fn read_limited(path: &Path, max: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let too_big = || {
        anyhow::anyhow!(
            "{} is larger than {} MiB, more than any {what} rootline reads: is it the right file?",
            path.display(),
            max >> 20
        )
    };
    if f.metadata().is_ok_and(|m| m.is_file() && m.len() > max) {
        return Err(too_big());
    }
    let mut out = Vec::new();
    f.take(max.saturating_add(1))
        .read_to_end(&mut out)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if out.len() as u64 > max {
        return Err(too_big());
    }
    Ok(out)
}
