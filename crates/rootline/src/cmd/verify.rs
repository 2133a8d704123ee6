//! `rootline verify`: evidence in, verdict and claims out.

use anyhow::bail;
use rootline_verifier::CollateralSource as _;
use time::OffsetDateTime;

use crate::{EXIT_REJECTED, EXIT_USAGE};

/// Flags of `rootline verify`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The evidence flags, shared with `appraise`.
    #[command(flatten)]
    evidence: super::appraise::EvidenceArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Collateral not given with --collateral is taken from the cache or
    /// fetched (SNP: VCEK, ASK/ARK chain and CRL from AMD KDS; TDX/SGX: TCB
    /// info, QE identity and CRLs from Intel PCS or a PCCS; NVIDIA: OCSP
    /// responses for the device and RIM signing chains).
    #[command(flatten)]
    fetch: super::fetch::FetchArgs,
}

pub(crate) fn run(a: Args) -> anyhow::Result<u8> {
    let mut req = a.evidence.request()?;
    let verifier = a.evidence.verifier()?;
    // Decoded once (detected when --tee is absent): collateral gathering
    // reads the decoded report or quote, and the verifier verifies it as
    // decoded. Gathering stays here rather than in the verifier's source so
    // that what could not be fetched is reported as this command always has.
    let decoded = rootline_verifier::decode(&req.evidence, req.tee);
    let at_s = req
        .at
        .unwrap_or_else(OffsetDateTime::now_utc)
        .unix_timestamp();
    let fetcher = super::fetch::fetcher(&a.fetch);
    let fetched = match &decoded {
        Ok(d) => fetcher.gather(d, &req.collateral, at_s),
        Err(_) => Default::default(),
    };
    req.collateral.extend(fetched.collateral);
    for i in &fetched.info {
        eprintln!("rootline: collateral: {i}");
    }
    let mut out: rootline_verifier::Outcome = match &decoded {
        Ok(d) => verifier.verify_decoded(&req, d).into(),
        Err(r) => rootline_verifier::Verdict::Err(r.clone()).into(),
    };
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
