//! Intel TDX and SGX DCAP evidence: forms, collateral, claims.
//!
//! The work is done by `rootline-dcap`; this module turns a [`Request`] into
//! its inputs (evidence form, collateral files, time, nonce) and its answer
//! into an [`Outcome`]. The [`Verifier`] is the caller's, held for the
//! process: it keeps the collateral it verified (by content hash), which a
//! verifier made per call would verify again for every quote.

use rootline_core::TeeKind;
use rootline_dcap::{CollateralParts, Verifier, evidence};

use crate::{Outcome, Request};

/// Verifies Intel TDX and SGX DCAP evidence.
pub(crate) fn verify(
    verifier: &Verifier,
    parsed: &crate::Parsed<CollateralParts>,
    req: &Request,
    mut out: Outcome,
) -> Outcome {
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
    let parts = match parsed.get(&req.collateral, || {
        let mut parts = CollateralParts::default();
        for c in &req.collateral {
            parts.add(&c.origin.display().to_string(), &c.bytes)?;
        }
        Ok::<_, rootline_dcap::Error>(parts)
    }) {
        Ok(p) => p,
        Err(e) => return out.reject(e.to_string()),
    };
    let at = req
        .at
        .unwrap_or_else(time::OffsetDateTime::now_utc)
        .unix_timestamp();
    let checked = verifier.check(&decoded.quote, &parts, at, req.nonce.as_deref());
    out.claims = checked.claims_json();
    out.warnings = checked.warnings;
    if let Some(v) = checked.verdict {
        out.tcb_status = Some(v.tcb_status);
        out.advisory_ids = v.advisory_ids;
    }
    let ccel_error = match req.extra.eventlog.as_ref().or(decoded.eventlog.as_ref()) {
        Some(log) if kind == TeeKind::Tdx => replay_ccel(log, &mut out),
        Some(_) => Some("an event log was supplied, but SGX quotes have no RTMRs to replay".into()),
        None => None,
    };
    match (checked.error, ccel_error) {
        (None, None) => {
            out.verified = true;
            out.error = None;
            out
        }
        (Some(e), ccel) => {
            if let Some(c) = ccel {
                out.warnings.push(c);
            }
            out.reject(e.to_string())
        }
        (None, Some(e)) => out.reject(e),
    }
}

/// Replays a CCEL log (rootline-eventlog) and requires RTMR0..3 to equal the
/// quote's; adds the replayed values as claims. Returns the failure, if any.
fn replay_ccel(log: &[u8], out: &mut Outcome) -> Option<String> {
    if rootline_eventlog::ccel::is_acpi_table(log) {
        return Some(
            "the event log given is the ACPI CCEL table, which only says where the log lives; \
             pass the log itself (/sys/firmware/acpi/tables/data/CCEL)"
                .into(),
        );
    }
    let parsed = match rootline_eventlog::EventLog::parse(log) {
        Ok(l) => l,
        Err(e) => return Some(format!("CCEL event log: {e}")),
    };
    let rtmrs = match rootline_eventlog::ccel::replay_rtmrs(&parsed) {
        Ok(r) => r,
        Err(e) => return Some(format!("CCEL replay: {e}")),
    };
    let mut first_bad = None;
    for (i, d) in rtmrs.iter().enumerate() {
        let name = format!("rtmr{i}");
        let quoted = out
            .claims
            .get(&name)
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        out.claims
            .insert(format!("ccel_{name}"), serde_json::Value::String(d.hex()));
        if first_bad.is_none() && quoted.as_deref() != Some(d.hex().as_str()) {
            let events: Vec<&rootline_eventlog::Event> = parsed
                .events
                .iter()
                .filter(|e| e.is_extended())
                .filter(|e| rootline_eventlog::ccel::rtmr_of_mr_index(e.pcr) == Some(i))
                .collect();
            let mut msg = format!(
                "CCEL replay does not match the quote: {name} replays to {} over {} events, the quote has {}",
                d.hex(),
                events.len(),
                quoted.unwrap_or_default()
            );
            // An event whose data contradicts its digest is the one that broke
            // the log; otherwise name the events, since the registers alone
            // cannot say which of them differs.
            let lying = rootline_eventlog::replay::check_data_digests(&parsed)
                .into_iter()
                .filter(|m| !m.firmware_quirk)
                .find(|m| events.iter().any(|e| e.index == m.index));
            match lying {
                Some(m) => msg.push_str(&format!(
                    "; the first event whose data contradicts its digest is {}",
                    m.reason
                )),
                None => {
                    msg.push_str(&format!("; the events extending {name}:"));
                    for e in events.iter().take(32) {
                        msg.push_str(&format!("\n    #{} {}", e.index, e.describe()));
                    }
                    if events.len() > 32 {
                        msg.push_str(&format!("\n    ... and {} more", events.len() - 32));
                    }
                }
            }
            first_bad = Some(msg);
        }
    }
    out.claims.insert(
        "ccel_events".into(),
        serde_json::Value::from(parsed.events.len()),
    );
    first_bad
}

/// Recognises Intel TDX and SGX DCAP evidence by content.
pub(crate) fn detect(evidence: &[u8]) -> Option<TeeKind> {
    let d = evidence::decode(evidence)?;
    match d.quote.get(4) {
        Some(0x81) => Some(TeeKind::Tdx),
        _ => Some(TeeKind::Sgx),
    }
}
