//! `rootline measure`: predict reference values from the artifacts themselves.
//!
//! `measure uki` reads a unified kernel image and prints what an OVMF +
//! systemd-stub + Linux boot of it extends into PCR 4, 9 and 11, event by
//! event, and the register values as reference values
//! (`tpm.pcr.sha256.N`). With `--eventlog` it also compares the prediction
//! with a captured log and names every event that differs.
//!
//! Exit codes: 0 predicted (and, with `--eventlog`, every predicted event
//! matches), 1 a predicted event differs from the log, 2 unreadable input.

use std::path::PathBuf;

use anyhow::Context as _;
use rootline_core::HashAlg;
use rootline_eventlog::EventLog;
use serde_json::json;

use super::read_input;
use crate::EXIT_REJECTED;

/// Subcommands of `rootline measure`.
#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Predict PCR 4, 9 and 11 of booting a unified kernel image (UKI).
    ///
    /// PCR 4: the firmware's "Calling EFI Application from Boot Option"
    /// action, the separator, the Authenticode digest of the UKI and that of
    /// the kernel systemd-stub loads. PCR 11: systemd-stub 252's section
    /// measurements (.linux, .osrel, .cmdline, .initrd, .splash, .dtb,
    /// .pcrpkey: name with NUL, then content). PCR 9: the Linux EFI stub's
    /// LoadOptions (the .cmdline as UTF-16LE) and initrd events. PCR 0-3 and
    /// 5-7 depend on firmware and its configuration, not on the UKI: record
    /// them from a verified boot.
    Uki(UkiArgs),
}

/// Flags of `rootline measure uki`.
#[derive(clap::Args)]
pub(crate) struct UkiArgs {
    /// The UKI (a PE file: systemd-stub with .linux, .initrd, .cmdline...).
    uki: PathBuf,
    /// PCR bank to predict: sha256, sha384, sha512 or sha1.
    #[arg(long, default_value = "sha256")]
    bank: String,
    /// A captured event log (binary_bios_measurements) of a boot of this
    /// UKI: compare every predicted event with it; exit 1 on a difference.
    #[arg(long, value_name = "FILE")]
    eventlog: Option<PathBuf>,
    /// Print only the reference values as a JSON object
    /// {"tpm.pcr.sha256.N": "hex"}, the shape `rootline reference import` reads.
    #[arg(long, conflicts_with = "json")]
    reference_values: bool,
    /// Print one JSON object: stub version, sections, events, pcrs,
    /// reference_values, notes (and checks with --eventlog).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(c: Command) -> anyhow::Result<u8> {
    match c {
        Command::Uki(a) => uki(a),
    }
}

fn uki(a: UkiArgs) -> anyhow::Result<u8> {
    let alg = HashAlg::from_name(&a.bank)
        .filter(|h| h.hasher().is_some())
        .with_context(|| format!("--bank {:?} is not a bank rootline can hash", a.bank))?;
    let bytes = read_input(&a.uki)?;
    let p = rootline_uki::predict(&bytes, alg)
        .with_context(|| format!("cannot measure {}", a.uki.display()))?;
    let checks = match &a.eventlog {
        None => None,
        Some(path) => {
            let log = EventLog::parse(&read_input(path)?)
                .with_context(|| format!("cannot parse event log {}", path.display()))?;
            Some(p.check_log(&log))
        }
    };
    let ok = checks.as_ref().is_none_or(|c| c.iter().all(|c| c.matches));
    if a.reference_values {
        println!("{}", serde_json::to_string_pretty(&p.reference_values())?);
    } else if a.json {
        let mut out = json!({
            "uki": a.uki.display().to_string(),
            "bank": alg,
            "stub": p.stub,
            "sections": p.sections,
            "events": p.events,
            "pcrs": p.pcrs.iter().map(|(k, v)| (k.to_string(), v.hex())).collect::<std::collections::BTreeMap<_, _>>(),
            "reference_values": p.reference_values(),
            "notes": p.notes,
        });
        if let (Some(c), Some(o)) = (&checks, out.as_object_mut()) {
            o.insert("checks".into(), serde_json::to_value(c)?);
            o.insert("matches_log".into(), ok.into());
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{}: {}",
            a.uki.display(),
            p.stub.as_deref().unwrap_or("unknown stub")
        );
        for pcr in p
            .events
            .iter()
            .map(|e| e.pcr)
            .collect::<std::collections::BTreeSet<_>>()
        {
            println!("PCR {pcr}:");
            for e in p.events_for(pcr) {
                println!(
                    "  {} {} [{}]\n      {alg} {}",
                    e.event_type, e.what, e.measured_by, e.digest
                );
            }
        }
        println!("reference values:");
        for (k, v) in p.reference_values() {
            println!("  {k} = {v}");
        }
        for n in &p.notes {
            println!("note: {n}");
        }
        if let Some(checks) = &checks {
            println!("against the log:");
            for c in checks {
                let mark = if c.matches { "ok  " } else { "FAIL" };
                println!("  {mark} {}", c.explain());
            }
        }
    }
    Ok(if ok { 0 } else { EXIT_REJECTED })
}
