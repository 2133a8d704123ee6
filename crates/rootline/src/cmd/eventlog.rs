//! `rootline eventlog`: show, replay and check TCG event logs.
//!
//! Exit codes: 0 replayed / matches, 1 mismatch (or a log whose data
//! contradicts its digests), 2 unreadable input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rootline_core::HashAlg;
use rootline_eventlog::ima::ImaLog;
use rootline_eventlog::pcrs::banks_to_json;
use rootline_eventlog::replay::check_data_digests;
use rootline_eventlog::{EventLog, PcrValues, ccel};
use serde_json::json;

use super::read_input;
use crate::EXIT_REJECTED;

/// Subcommands of `rootline eventlog`.
#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Replay a log into register values, bank by bank.
    ///
    /// Reads TCG PC Client logs (SHA-1 or crypto-agile, as in
    /// /sys/kernel/security/tpm0/binary_bios_measurements), TDX CCEL logs and
    /// IMA binary logs. Prints only registers that events extended.
    Replay {
        /// The log file.
        log: PathBuf,
        /// The log is an IMA binary runtime measurement list.
        #[arg(long)]
        ima: bool,
        /// Print JSON: {"events": N, "pcrs": {"sha256": {"0": "hex"}}, "warnings": []}.
        #[arg(long)]
        json: bool,
    },
    /// List the events with their decoded data.
    Show {
        /// The log file.
        log: PathBuf,
        /// The log is an IMA binary runtime measurement list.
        #[arg(long)]
        ima: bool,
        /// Print JSON (every event with digests, raw data and decoded data).
        #[arg(long)]
        json: bool,
    },
    /// Replay a log and compare with register values; explain each mismatch.
    ///
    /// Exit 0 when every given register matches, 1 on any mismatch or when an
    /// event's data contradicts its digest, 2 when an input cannot be read.
    Check {
        /// The log file.
        log: PathBuf,
        /// The register values: JSON {bank: {index: hex}}, the YAML
        /// tpm2_pcrread prints, or the binary file tpm2_quote -o writes.
        #[arg(long, value_name = "FILE")]
        pcrs: PathBuf,
        /// A known-good log of the same platform: each mismatch then names
        /// the first event that differs from it.
        #[arg(long, value_name = "LOG")]
        reference: Option<PathBuf>,
        /// The log is an IMA binary runtime measurement list (checked against PCR 10).
        #[arg(long)]
        ima: bool,
        /// Print JSON: {"ok": bool, "mismatches": [...], "data_mismatches": [...]}.
        #[arg(long)]
        json: bool,
    },
}

fn parse_log(path: &Path) -> anyhow::Result<EventLog> {
    let bytes = read_input(path)?;
    if ccel::is_acpi_table(&bytes) {
        anyhow::bail!(
            "{} is the ACPI CCEL table, which only says where the log lives; pass the log itself (on Linux: /sys/firmware/acpi/tables/data/CCEL)",
            path.display()
        );
    }
    EventLog::parse(&bytes).with_context(|| format!("cannot parse {}", path.display()))
}

fn parse_ima(path: &Path) -> anyhow::Result<ImaLog> {
    let bytes = read_input(path)?;
    ImaLog::parse(&bytes).with_context(|| format!("cannot parse IMA log {}", path.display()))
}

/// `{bank: {pcr: [digest hex, ...]}}` of the extended events, in log order:
/// what `rootline reference import` turns into accepted events per PCR.
fn event_digests_json(l: &EventLog) -> serde_json::Value {
    let mut m: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for e in l.events.iter().filter(|e| e.is_extended() && e.pcr <= 23) {
        for d in &e.digests {
            m.entry(d.alg.to_string())
                .or_default()
                .entry(e.pcr.to_string())
                .or_default()
                .push(d.hex());
        }
    }
    json!(m)
}

const IMA_BANKS: [HashAlg; 4] = [
    HashAlg::SHA1,
    HashAlg::SHA256,
    HashAlg::SHA384,
    HashAlg::SHA512,
];

pub(crate) fn run(c: Command) -> anyhow::Result<u8> {
    match c {
        Command::Replay {
            log,
            ima: true,
            json,
        } => {
            let l = parse_ima(&log)?;
            let pcrs = l.replay(&IMA_BANKS);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"events": l.entries.len(), "pcrs": banks_to_json(&pcrs), "warnings": []})
                    )?
                );
            } else {
                println!("{} IMA entries", l.entries.len());
                print_pcrs(&pcrs);
            }
            Ok(0)
        }
        Command::Replay {
            log,
            ima: false,
            json,
        } => {
            let l = parse_log(&log)?;
            let r = l.replay();
            let mut warnings = l.warnings.clone();
            for (alg, why) in &r.unreplayable {
                warnings.push(format!("bank {alg} not replayed: {why}"));
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "events": r.events,
                        "pcrs": banks_to_json(&r.pcrs),
                        "event_digests": event_digests_json(&l),
                        "startup_locality": l.startup_locality,
                        "warnings": warnings,
                    }))?
                );
            } else {
                println!(
                    "{} events ({} log, {} of {} bytes parsed)",
                    r.events,
                    match l.format {
                        rootline_eventlog::LogFormat::Sha1 => "SHA-1",
                        rootline_eventlog::LogFormat::CryptoAgile => "crypto-agile",
                    },
                    l.parsed_bytes,
                    l.total_bytes
                );
                if let Some(loc) = l.startup_locality {
                    println!("PCR 0 starts at locality {loc}");
                }
                print_pcrs(&r.pcrs);
            }
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            Ok(0)
        }
        Command::Show {
            log,
            ima: true,
            json,
        } => {
            let l = parse_ima(&log)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&l)?);
            } else {
                for e in &l.entries {
                    println!(
                        "#{:<4} PCR {:<2} {:<8} {}:{} {}{}",
                        e.index,
                        e.pcr,
                        e.template,
                        e.file_digest_alg.as_deref().unwrap_or("?"),
                        e.file_digest.as_deref().unwrap_or("?"),
                        e.file_name.as_deref().unwrap_or(""),
                        if e.is_violation() { " (violation)" } else { "" }
                    );
                }
            }
            Ok(0)
        }
        Command::Show {
            log,
            ima: false,
            json,
        } => {
            let l = parse_log(&log)?;
            if json {
                let events: Vec<_> = l
                    .events
                    .iter()
                    .map(|e| {
                        json!({
                            "index": e.index,
                            "offset": e.offset,
                            "pcr": e.pcr,
                            "type": e.event_type,
                            "digests": e.digests.iter().map(|d| (d.alg.to_string(), d.hex())).collect::<BTreeMap<_,_>>(),
                            "data": rootline_core::to_hex(&e.data),
                            "decoded": e.decoded(),
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "format": l.format,
                        "spec_id": l.spec_id,
                        "events": events,
                        "warnings": l.warnings,
                    }))?
                );
            } else {
                if let Some(s) = &l.spec_id {
                    let banks: Vec<String> =
                        s.algorithms.iter().map(|a| a.alg.to_string()).collect();
                    println!(
                        "{} (spec {}.{}), banks: {}",
                        s.signature,
                        s.spec_version_major,
                        s.spec_version_minor,
                        banks.join(", ")
                    );
                }
                for e in &l.events {
                    let pcr = if e.pcr == u32::MAX {
                        "-1".to_owned()
                    } else {
                        e.pcr.to_string()
                    };
                    println!("#{:<4} PCR {:<2} {}", e.index, pcr, e.describe());
                    for d in &e.digests {
                        println!("        {:<7} {}", d.alg.to_string(), d.hex());
                    }
                }
                for w in &l.warnings {
                    println!("warning: {w}");
                }
            }
            Ok(0)
        }
        Command::Check {
            log,
            pcrs,
            reference,
            ima,
            json,
        } => {
            let given = PcrValues::parse(&read_input(&pcrs)?)
                .with_context(|| format!("cannot read register values from {}", pcrs.display()))?;
            if ima {
                return check_ima(&log, &given, json);
            }
            let l = parse_log(&log)?;
            let reference = reference.as_deref().map(parse_log).transpose()?;
            let r = l.replay();
            let mismatches = r.compare_with_reference(&l, &given, reference.as_ref());
            let data = check_data_digests(&l);
            let compared: usize = given
                .banks
                .iter()
                .filter(|(b, _)| r.pcrs.contains_key(b))
                .map(|(_, v)| v.len())
                .sum();
            let ok = mismatches.is_empty() && data.is_empty() && compared > 0;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "ok": ok,
                        "compared": compared,
                        "mismatches": mismatches.iter().map(|m| json!({
                            "bank": m.bank, "pcr": m.pcr, "replayed": m.replayed, "given": m.given,
                            "events": m.events.iter().map(|(i, d)| json!({"index": i, "event": d})).collect::<Vec<_>>(),
                            "first_difference": m.first_difference,
                            "explanation": m.explain(),
                        })).collect::<Vec<_>>(),
                        "data_mismatches": data,
                        "warnings": l.warnings,
                    }))?
                );
            } else {
                for m in &mismatches {
                    println!("MISMATCH {}", m.explain());
                }
                for d in &data {
                    println!("TAMPERED {}", d.reason);
                }
                for w in &l.warnings {
                    println!("warning: {w}");
                }
                if compared == 0 {
                    println!(
                        "nothing compared: the register values name no bank this log replays ({})",
                        l.banks()
                            .iter()
                            .map(|b| b.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                } else if ok {
                    println!("all {compared} registers match the log");
                }
            }
            Ok(if ok { 0 } else { EXIT_REJECTED })
        }
    }
}

fn check_ima(log: &Path, given: &PcrValues, json: bool) -> anyhow::Result<u8> {
    let l = parse_ima(log)?;
    let replay = l.replay(&IMA_BANKS);
    let edited = l.check_template_digests();
    let mut problems = Vec::new();
    for (bank, regs) in &given.banks {
        let Some(v) = regs.get(&10) else { continue };
        let got = replay.get(bank).and_then(|b| b.get(&10));
        if got.map(|g| &g.bytes) != Some(&v.bytes) {
            problems.push(format!(
                "PCR 10 ({bank}): the IMA log replays to {}, but the given value is {}",
                got.map(|g| g.hex()).unwrap_or_else(|| "nothing".into()),
                v.hex()
            ));
        }
    }
    for i in &edited {
        problems.push(format!(
            "IMA entry #{i}: its template data does not hash to its template digest"
        ));
    }
    let ok = problems.is_empty();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"ok": ok, "problems": problems}))?
        );
    } else if ok {
        println!("PCR 10 matches the IMA log ({} entries)", l.entries.len());
    } else {
        for p in &problems {
            println!("MISMATCH {p}");
        }
    }
    Ok(if ok { 0 } else { EXIT_REJECTED })
}

fn print_pcrs(p: &BTreeMap<HashAlg, BTreeMap<u32, rootline_core::Digest>>) {
    for (bank, regs) in p {
        println!("{bank}:");
        for (i, d) in regs {
            println!("  {i:>2}: {}", d.hex());
        }
    }
}
