//! Intel TDX and SGX DCAP evidence: forms, collateral, claims.
//!
//! The work is done by `rootline-dcap`; this module turns a [`Request`] into
//! its inputs (evidence form, collateral files, time, nonce) and its answer
//! into a [`Verdict`] (typed claims; JSON only when asked). The [`Verifier`] is the caller's, held for the
//! process: it keeps the collateral it verified (by content hash), which a
//! verifier made per call would verify again for every quote.

use rootline_core::TeeKind;
use rootline_dcap::claims::CcelReplay;
use rootline_dcap::{CollateralParts, Verifier, evidence};

use crate::{Claims, Rejection, Request, Verdict, Verified};

/// The rejection of evidence that is no DCAP quote in any form.
pub(crate) const NOT_A_QUOTE: &str = "not a DCAP quote: expected a raw quote (v3 SGX, v4/v5 TDX), \
     its hex text, or a JSON wrapper with a \"quote\" field";

/// Verifies Intel TDX and SGX DCAP evidence, decoded by the caller; `given`
/// is the kind the caller named (else the quote's).
pub(crate) fn verify(
    verifier: &Verifier,
    parsed: &crate::Parsed<CollateralParts>,
    req: &Request,
    given: TeeKind,
    decoded: &evidence::Decoded,
) -> Verdict {
    let reject = |tee: TeeKind, reason: String| Err(Box::new(Rejection::new(Some(tee), reason)));
    let kind = quote_kind(&decoded.quote);
    if given != kind {
        return reject(
            given,
            format!("--tee {given} was given but the quote is a {kind} quote"),
        );
    }
    let parts = match parsed.get(&req.collateral, || {
        let mut parts = CollateralParts::default();
        for c in &req.collateral {
            parts.add(&c.origin.display().to_string(), &c.bytes)?;
        }
        Ok::<_, rootline_dcap::Error>(parts)
    }) {
        Ok(p) => p,
        Err(e) => return reject(kind, e.to_string()),
    };
    let at = req
        .at
        .unwrap_or_else(time::OffsetDateTime::now_utc)
        .unix_timestamp();
    let checked = verifier.check(&decoded.quote, &parts, at, req.nonce.as_deref());
    let mut claims = checked.claims;
    let mut warnings = checked.warnings;
    let (tcb_status, advisory_ids) = match checked.verdict {
        Some(v) => (Some(v.tcb_status), v.advisory_ids),
        None => (None, Vec::new()),
    };
    let mut ccel = None;
    let ccel_error = match req.extra.eventlog.as_ref().or(decoded.eventlog.as_ref()) {
        Some(log) if kind == TeeKind::Tdx => {
            let quoted = claims.as_ref().and_then(|c| c.td()).map(|t| &t.rtmr);
            replay_ccel(log, quoted, &mut ccel)
        }
        Some(_) => Some("an event log was supplied, but SGX quotes have no RTMRs to replay".into()),
        None => None,
    };
    if let Some(c) = claims.as_mut() {
        c.ccel = ccel.take();
    }
    let error = match (checked.error, ccel_error) {
        (None, None) => None,
        (Some(e), ccel) => {
            if let Some(c) = ccel {
                warnings.push(c);
            }
            Some(e.to_string())
        }
        (None, Some(e)) => Some(e),
    };
    match (error, claims) {
        (None, Some(c)) => Ok(Verified::new(kind, Claims::Dcap(Box::new(c)), warnings)
            .with_tcb(tcb_status, advisory_ids)),
        (error, claims) => {
            // A quote that did not parse has no claims; a log replayed
            // beside it still says what it replayed to.
            let mut json = claims
                .as_ref()
                .map(rootline_dcap::claims::Claims::to_json)
                .unwrap_or_default();
            if let Some(c) = &ccel {
                c.write_json(&mut json);
            }
            Err(Box::new(Rejection {
                claims: json,
                tcb_status,
                advisory_ids,
                warnings,
                ..Rejection::new(
                    Some(kind),
                    error.unwrap_or_else(|| "evidence did not verify".into()),
                )
            }))
        }
    }
}

/// Replays a CCEL log (rootline-eventlog) and requires RTMR0..3 to equal the
/// quote's (`quoted`); `replayed` gets the replayed values. Returns the
/// failure, if any.
fn replay_ccel(
    log: &[u8],
    quoted: Option<&[[u8; 48]; 4]>,
    replayed: &mut Option<CcelReplay>,
) -> Option<String> {
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
        let quoted = quoted.and_then(|q| q.get(i));
        if first_bad.is_none() && quoted.map(|q| q.as_slice()) != Some(d.bytes.as_slice()) {
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
                quoted.map(hex::encode).unwrap_or_default()
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
    *replayed = Some(CcelReplay {
        rtmr: rtmrs,
        events: parsed.events.len(),
    });
    first_bad
}

/// TDX for a TDX quote (TEE type 0x81), SGX otherwise.
fn quote_kind(quote: &[u8]) -> TeeKind {
    match quote.get(4) {
        Some(0x81) => TeeKind::Tdx,
        _ => TeeKind::Sgx,
    }
}

/// Recognises Intel TDX and SGX DCAP evidence by content, keeping the
/// quote (and CCEL) it decoded.
pub(crate) fn decode(evidence: &[u8]) -> Option<(TeeKind, evidence::Decoded)> {
    let d = evidence::decode(evidence)?;
    Some((quote_kind(&d.quote), d))
}
