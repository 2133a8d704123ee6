//! `rootline verify`: evidence in, verdict and claims out.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use rootline_core::TeeKind;
use rootline_verifier::{Collateral, Extra, Request};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::read_input;
use crate::{EXIT_REJECTED, EXIT_USAGE};

/// Flags of `rootline verify`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Evidence file: raw binary, hex text, or a JSON/CBOR wrapper
    /// (configfs-tsm CBOR, go-tpm-tools Attestation, Trustee evidence JSON...).
    evidence: PathBuf,
    /// Evidence kind: snp, tdx, sgx, tpm, azure-snp, azure-tdx, cca, nvidia.
    /// Detected from the content when absent.
    #[arg(long)]
    tee: Option<TeeKind>,
    /// A collateral file, recognised by content: PEM/DER certificates and
    /// chains, CRLs, dcap-qvl collateral JSON, Intel PCS TCB info or QE
    /// identity JSON, CCA trust anchors. Repeat for several.
    #[arg(long, value_name = "FILE")]
    collateral: Vec<PathBuf>,
    /// Judge certificates, CRLs and TCB info at this instant (RFC 3339,
    /// e.g. 2025-07-04T00:00:00Z) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// The nonce the evidence must carry (report data, TPM extraData), in hex.
    /// Without it, freshness is not checked and the output says so.
    #[arg(long, value_name = "HEX")]
    nonce: Option<String>,
    /// TPM: the quote's signature (the file `tpm2_quote -s` writes).
    #[arg(long, value_name = "FILE")]
    signature: Option<PathBuf>,
    /// TPM: the attestation key (PEM, DER SubjectPublicKeyInfo or TPM2B_PUBLIC).
    #[arg(long, value_name = "FILE")]
    ak: Option<PathBuf>,
    /// TPM: the PCR values the quote covers (the file `tpm2_quote -o` writes).
    #[arg(long, value_name = "FILE")]
    pcrs: Option<PathBuf>,
    /// An event log to replay against the signed registers: TCG log for TPM,
    /// CCEL for TDX.
    #[arg(long, value_name = "FILE")]
    eventlog: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Collateral not given with --collateral is taken from the cache or
    /// fetched (SNP: VCEK, ASK/ARK chain and CRL from AMD KDS; TDX/SGX: TCB
    /// info, QE identity and CRLs from Intel PCS or a PCCS).
    #[command(flatten)]
    fetch: super::fetch::FetchArgs,
}

pub(crate) fn run(a: Args) -> anyhow::Result<u8> {
    let at = match &a.at {
        None => None,
        Some(s) => Some(OffsetDateTime::parse(s, &Rfc3339).with_context(|| {
            format!("--at {s:?} is not an RFC 3339 time such as 2025-07-04T00:00:00Z")
        })?),
    };
    let nonce = match &a.nonce {
        None => None,
        Some(s) => {
            Some(rootline_core::from_hex(s).with_context(|| format!("--nonce {s:?} is not hex"))?)
        }
    };
    let mut collateral = Vec::new();
    for p in &a.collateral {
        collateral.push(Collateral {
            origin: p.clone(),
            bytes: super::read_limited(p, super::MAX_EVIDENCE, "collateral")?,
        });
    }
    let opt = |p: &Option<PathBuf>| p.as_deref().map(read_input).transpose();
    let evidence = super::read_limited(&a.evidence, super::MAX_EVIDENCE, "evidence")?;
    let kind = a.tee.or_else(|| rootline_verifier::detect(&evidence));
    let at_s = at.unwrap_or_else(OffsetDateTime::now_utc).unix_timestamp();
    let fetcher = super::fetch::fetcher(&a.fetch);
    let fetched = super::fetch::gather(&fetcher, kind, &evidence, &collateral, at_s);
    collateral.extend(fetched.collateral);
    let req = Request {
        evidence,
        tee: a.tee,
        collateral,
        at,
        nonce,
        extra: Extra {
            signature: opt(&a.signature)?,
            ak: opt(&a.ak)?,
            pcrs: opt(&a.pcrs)?,
            eventlog: opt(&a.eventlog)?,
        },
    };
    for i in &fetched.info {
        eprintln!("rootline: collateral: {i}");
    }
    let mut out = rootline_verifier::verify(&req);
    out.warnings.extend(fetched.notes);
    for f in &fetched.failures {
        out.warnings.push(format!("collateral not obtained: {f}"));
    }
    if !out.verified && !fetched.failures.is_empty() {
        let why = out.error.take().unwrap_or_default();
        out.error = Some(format!(
            "{why}; collateral not obtained: {}",
            fetched.failures.join("; ")
        ));
    }
    if out.tee.is_none() && !a.json {
        bail!(
            "{}",
            out.error
                .as_deref()
                .unwrap_or("could not tell the evidence kind")
        );
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let tee = out
            .tee
            .map(|t| t.to_string())
            .unwrap_or_else(|| "unknown".into());
        if out.verified {
            println!("{tee}: verified");
        } else {
            println!(
                "{tee}: REJECTED: {}",
                out.error.as_deref().unwrap_or("no reason given")
            );
        }
        if let Some(s) = &out.tcb_status {
            print!("tcb status: {s}");
            if !out.advisory_ids.is_empty() {
                print!(" ({})", out.advisory_ids.join(", "));
            }
            println!();
        }
        for w in &out.warnings {
            println!("warning: {w}");
        }
        for (k, v) in &out.claims {
            match v {
                serde_json::Value::String(s) => println!("  {k}: {s}"),
                other => println!("  {k}: {other}"),
            }
        }
    }
    Ok(match (out.tee, out.verified) {
        (None, _) => EXIT_USAGE,
        (_, true) => 0,
        (_, false) => EXIT_REJECTED,
    })
}
