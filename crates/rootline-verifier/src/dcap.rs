//! Intel TDX and SGX DCAP evidence: forms, collateral, claims.
//!
//! The work is done by `rootline-dcap`; this module turns a [`Request`] into
//! its inputs (evidence form, collateral files, time, nonce) and its answer
//! into an [`Outcome`].

use rootline_core::TeeKind;
use rootline_dcap::{CollateralParts, Verifier, evidence};

use crate::{Outcome, Request};

/// Verifies Intel TDX and SGX DCAP evidence.
pub(crate) fn verify(req: &Request, mut out: Outcome) -> Outcome {
    let Some(decoded) = evidence::decode(&req.evidence) else {
        return out.reject(
            "not a DCAP quote: expected a raw quote (v3 SGX, v4/v5 TDX), its hex text, \
             or a JSON wrapper with a \"quote\" field",
        );
    };
    let kind = match decoded.quote.get(4) {
        Some(0x81) => TeeKind::Tdx,
        _ => TeeKind::Sgx,
    };
    if let Some(given) = out.tee.filter(|t| *t != kind) {
        return out.reject(format!(
            "--tee {given} was given but the quote is a {kind} quote"
        ));
    }
    out.tee = Some(kind);
    let mut parts = CollateralParts::default();
    for c in &req.collateral {
        if let Err(e) = parts.add(&c.origin.display().to_string(), &c.bytes) {
            return out.reject(e.to_string());
        }
    }
    let at = req
        .at
        .unwrap_or_else(time::OffsetDateTime::now_utc)
        .unix_timestamp();
    let verifier = match Verifier::intel() {
        Ok(v) => v,
        Err(e) => return out.reject(format!("the pinned Intel SGX Root CA: {e}")),
    };
    let checked = verifier.check(&decoded.quote, &parts, at, req.nonce.as_deref());
    out.claims = checked.claims.to_map();
    out.warnings = checked.warnings;
    if let Some(v) = checked.verdict {
        out.tcb_status = Some(v.tcb_status);
        out.advisory_ids = v.advisory_ids;
    }
    if req.extra.eventlog.is_some() || decoded.eventlog.is_some() {
        // CCEL replay waits for rootline-eventlog's CCEL API; say so rather
        // than pretend the RTMRs were checked against the log.
        out.warnings.push(
            "an event log was supplied but CCEL replay is not built yet: RTMRs were not compared with it"
                .into(),
        );
    }
    match checked.error {
        None => {
            out.verified = true;
            out.error = None;
            out
        }
        Some(e) => out.reject(e.to_string()),
    }
}

/// Recognises Intel TDX and SGX DCAP evidence by content.
pub(crate) fn detect(evidence: &[u8]) -> Option<TeeKind> {
    let d = evidence::decode(evidence)?;
    match d.quote.get(4) {
        Some(0x81) => Some(TeeKind::Tdx),
        _ => Some(TeeKind::Sgx),
    }
}
