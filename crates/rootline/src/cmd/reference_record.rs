//! `rootline reference record`: golden values from a verified first boot.
//!
//! Firmware registers (PCR 0-3: firmware volumes, option ROMs, platform
//! configuration; PCR 5-7: boot configuration, GPT, Secure Boot state) cannot
//! be predicted from a UKI: they depend on the firmware build and its
//! variables. They are taken from one boot that is proven: a TPM quote that
//! verifies with the AK given, carries the nonce given (so it was made for
//! this recording) and whose event log replays to the quoted values. Anything
//! less is refused. The output is a list of records
//! `[{"key", "value", "provenance"}]` that `rootline reference import` reads;
//! the provenance names the AK, the nonce, the log and the firmware it shows.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use rootline_core::TeeKind;
use rootline_eventlog::{EventLog, EventType};
use rootline_verifier::{Extra, Request};
use serde_json::{Value, json};

use super::read_input;
use crate::EXIT_REJECTED;

/// Subcommands of `rootline reference` that live here. `record` is the one
/// this module owns; the store commands (`add`, `list`, `delete`, `import`)
/// belong to `cmd/reference.rs`, which dispatches `record` to [`run`].
#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Record golden values (PCR 0-3, 5-7 by default) from a verified boot.
    ///
    /// The quote must verify with the AK, carry the nonce and its event log
    /// must replay to the quoted PCRs; otherwise nothing is recorded (exit 1).
    /// Prints records [{"key", "value", "provenance"}] for `reference import`.
    Record(Args),
}

/// Dispatches [`Command`].
pub(crate) fn dispatch(c: Command) -> anyhow::Result<u8> {
    match c {
        Command::Record(a) => run(a),
    }
}

/// Flags of `rootline reference record`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The TPM quote (TPMS_ATTEST, as `tpm2_quote -m` writes it).
    quote: PathBuf,
    /// The quote's signature (`tpm2_quote -s`).
    #[arg(long, value_name = "FILE")]
    signature: PathBuf,
    /// The attestation key (PEM, DER SubjectPublicKeyInfo or TPM2B_PUBLIC).
    #[arg(long, value_name = "FILE")]
    ak: PathBuf,
    /// The quoted PCR values (`tpm2_quote -o`).
    #[arg(long, value_name = "FILE")]
    pcrs: PathBuf,
    /// The firmware event log of the same boot (binary_bios_measurements).
    #[arg(long, value_name = "FILE")]
    eventlog: PathBuf,
    /// The nonce this recording asked the guest to quote, in hex: proves the
    /// quote was made for it, not replayed from an older boot.
    #[arg(long, value_name = "HEX")]
    nonce: String,
    /// Registers to record (repeat or comma-separate). Default: the ones a
    /// UKI prediction cannot give, 0-3 and 5-7.
    #[arg(long = "pcr", value_delimiter = ',', default_values_t = [0u32, 1, 2, 3, 5, 6, 7])]
    pcrs_to_record: Vec<u32>,
    /// A label for the provenance (e.g. "ovmf 2022.11-6+deb12u2 q35 2M").
    #[arg(long, default_value = "first boot")]
    label: String,
    /// Print one JSON object {"records": [...], "recorded_from": {...}}
    /// instead of the bare record list.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> anyhow::Result<u8> {
    let nonce = rootline_core::from_hex(&a.nonce)
        .with_context(|| format!("--nonce {:?} is not hex", a.nonce))?;
    let log_bytes = read_input(&a.eventlog)?;
    let log = EventLog::parse(&log_bytes)
        .with_context(|| format!("cannot parse event log {}", a.eventlog.display()))?;
    let req = Request {
        evidence: read_input(&a.quote)?,
        tee: Some(TeeKind::Tpm),
        collateral: Vec::new(),
        at: None,
        nonce: Some(nonce),
        extra: Extra {
            signature: Some(read_input(&a.signature)?),
            ak: Some(read_input(&a.ak)?),
            pcrs: Some(read_input(&a.pcrs)?),
            eventlog: Some(log_bytes.clone()),
        },
    };
    let out = rootline_verifier::verify(&req);
    if !out.verified {
        eprintln!(
            "rootline: refusing to record: the quote did not verify: {}",
            out.error.as_deref().unwrap_or("no reason given")
        );
        return Ok(EXIT_REJECTED);
    }
    let matched = out
        .claims
        .get("event_log")
        .and_then(|e| e.get("matches_quote"))
        .and_then(Value::as_bool);
    if matched != Some(true) {
        eprintln!("rootline: refusing to record: the event log does not replay to the quoted PCRs");
        return Ok(EXIT_REJECTED);
    }
    let Some(bank) = out
        .claims
        .get("pcrs")
        .and_then(|p| p.get("sha256"))
        .and_then(Value::as_object)
    else {
        bail!("the verified quote carries no sha256 PCRs");
    };
    let ak = out
        .claims
        .get("ak_fingerprint")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let firmware = firmware_summary(&log);
    let log_digest = rootline_core::HashAlg::SHA256
        .hash(&log_bytes)
        .map(|d| d.hex())
        .unwrap_or_default();
    let provenance = format!(
        "recorded from a verified TPM quote ({}): AK sha256 {ak}, nonce {}, event log sha256 {log_digest} ({} events) replayed to the quoted PCRs; firmware {firmware}",
        a.label,
        a.nonce.to_ascii_lowercase(),
        log.events.len()
    );
    let mut records = Vec::new();
    for pcr in &a.pcrs_to_record {
        let Some(v) = bank.get(&pcr.to_string()).and_then(Value::as_str) else {
            bail!("PCR {pcr} is not in the quote");
        };
        records.push(json!({
            "key": format!("tpm.pcr.sha256.{pcr}"),
            "value": v,
            "provenance": provenance,
        }));
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "records": records,
                "recorded_from": {
                    "ak_fingerprint": ak,
                    "nonce": a.nonce.to_ascii_lowercase(),
                    "eventlog_sha256": log_digest,
                    "events": log.events.len(),
                    "firmware": firmware,
                },
            }))?
        );
    } else {
        println!("{}", serde_json::to_string_pretty(&records)?);
    }
    Ok(0)
}

/// What the log says about the firmware: the S-CRTM version and the
/// firmware volumes measured into PCR 0, and the Secure Boot variable.
fn firmware_summary(log: &EventLog) -> String {
    let mut parts = Vec::new();
    for e in log.events.iter().filter(|e| e.is_extended()) {
        let d = e.digest(rootline_core::HashAlg::SHA256).map(|d| d.hex());
        let short = d.as_deref().and_then(|d| d.get(..16)).unwrap_or("");
        match e.event_type {
            EventType::EV_S_CRTM_VERSION | EventType::EV_EFI_PLATFORM_FIRMWARE_BLOB
                if e.pcr == 0 =>
            {
                parts.push(format!("{} [{short}]", e.describe()));
            }
            EventType::EV_EFI_VARIABLE_DRIVER_CONFIG if e.pcr == 7 => {
                let s = e.describe();
                if s.contains("SecureBoot") {
                    parts.push(s);
                }
            }
            _ => {}
        }
    }
    parts.join("; ")
}
