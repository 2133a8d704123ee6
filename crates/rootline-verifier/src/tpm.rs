//! TPM 2.0 evidence: AK trust, quote verification, event-log replay, claims.
//! The forms it arrives in are read by `rootline_tpm::evidence`.
//!
//! AK trust: every self-signed certificate passed with `--collateral` is a
//! trust anchor; the others are intermediates for building the path. When
//! anchors are given, the AK must come with a certificate (in the evidence)
//! that chains to one of them and certifies the AK. Without anchors
//! the AK is trusted only as far as the caller trusts it: pinned with `--ak`,
//! or taken from the evidence itself, which the output warns about.
//!
//! Claims: `pcrs {bank: {index: hex}}` (only values the quote's digest
//! covers), `extra_data`, `firmware_version`, `clock`, `reset_count`,
//! `restart_count`, `safe`, `qualified_signer`, `ak_fingerprint` (SHA-256 of
//! the AK's DER SubjectPublicKeyInfo, whatever form the AK came in, so it
//! equals `openssl pkey -pubin -outform der | sha256sum`), `ak_name` when the
//! AK's TPM public area is known, and `event_log` facts after a replay.

use std::collections::BTreeMap;

use rootline_core::{HashAlg, TeeKind};
use rootline_tpm::certs::{certificates_from_bytes, is_self_signed, verify_ak_certificate};
use rootline_tpm::evidence::{self, AkSource, Evidence, Inputs};
use rootline_tpm::{AkPublic, Attest, PcrSelection, QuoteCheck, QuoteClaims, verify_quote};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::{Outcome, Request};

fn insert_quote_claims(claims: &mut Map<String, Value>, a: &Attest) {
    claims.insert("extra_data".into(), json!(hex::encode(&a.extra_data)));
    claims.insert(
        "firmware_version".into(),
        json!(format!("{:#018x}", a.firmware_version)),
    );
    claims.insert("clock".into(), json!(a.clock_info.clock));
    claims.insert("reset_count".into(), json!(a.clock_info.reset_count));
    claims.insert("restart_count".into(), json!(a.clock_info.restart_count));
    claims.insert("safe".into(), json!(a.clock_info.safe));
    claims.insert(
        "qualified_signer".into(),
        json!(hex::encode(&a.qualified_signer)),
    );
}

fn selection_claim(sel: &PcrSelection) -> Value {
    let mut m = Map::new();
    for b in &sel.banks {
        m.insert(b.hash.to_string(), json!(b.indices()));
    }
    Value::Object(m)
}

/// Verifies TPM 2.0 evidence.
pub(crate) fn verify(req: &Request, mut out: Outcome) -> Outcome {
    let ev = match evidence::read(&Inputs {
        evidence: &req.evidence,
        signature: req.extra.signature.as_deref(),
        ak: req.extra.ak.as_deref(),
        pcrs: req.extra.pcrs.as_deref(),
    }) {
        Ok(ev) => ev,
        Err(e) => return out.reject(e),
    };
    out.claims.insert("evidence_form".into(), json!(ev.form));

    // The caller's --ak, when given with a form that carries its own AK, pins it.
    if ev.ak_source == AkSource::Evidence {
        if let Some(pinned) = req.extra.ak.as_deref() {
            match AkPublic::from_bytes(pinned) {
                Ok(p) if p.key == ev.ak.key => {}
                Ok(_) => {
                    return out.reject(
                        "ak check failed: the evidence's attestation key is not the one given with --ak",
                    );
                }
                Err(e) => return out.reject(format!("attestation key (--ak): {e}")),
            }
        }
    }
    match ev.ak.key.fingerprint() {
        Ok(f) => {
            out.claims.insert("ak_fingerprint".into(), json!(f));
        }
        Err(e) => return out.reject(format!("attestation key: {e}")),
    }
    if let Some(Ok(name)) = ev.ak.name() {
        out.claims
            .insert("ak_name".into(), json!(hex::encode(name)));
    }
    // Claims from the first quote, before any check, so a rejection explains itself.
    if let Some(a) = ev
        .quotes
        .first()
        .and_then(|q| Attest::parse(&q.attest).ok())
    {
        insert_quote_claims(&mut out.claims, &a);
    }

    // ---- every quote ----
    let mut verified: Vec<QuoteClaims> = Vec::new();
    let mut all_pcrs: BTreeMap<HashAlg, BTreeMap<u8, Vec<u8>>> = BTreeMap::new();
    let many = ev.quotes.len() > 1;
    for (i, q) in ev.quotes.iter().enumerate() {
        let checked = verify_quote(&QuoteCheck {
            attest: &q.attest,
            signature: &q.signature,
            ak: &ev.ak,
            nonce: req.nonce.as_deref(),
            pcrs: q.pcrs.as_ref(),
        });
        match checked {
            Ok(c) => {
                let c = c.into_inner();
                if let Some(p) = &q.pcrs {
                    // Only values the signed digest covers become claims.
                    for (bank, index) in c.selection.pairs() {
                        if let Some(v) = p.get(bank, index) {
                            all_pcrs.entry(bank).or_default().insert(index, v.to_vec());
                        }
                    }
                }
                verified.push(c);
            }
            Err(e) => {
                let which = if many {
                    format!("quote {i}: ")
                } else {
                    String::new()
                };
                return out.reject(format!("{which}{e}"));
            }
        }
    }
    let Some(first) = verified.first() else {
        return out.reject("the evidence carries no quote");
    };
    // Every quote must carry the same extraData: one nonce binds them all.
    if verified
        .iter()
        .any(|c| c.attest.extra_data != first.attest.extra_data)
    {
        return out.reject("nonce check failed: the quotes carry different extraData");
    }
    out.claims.insert(
        "quotes".into(),
        Value::Array(
            verified
                .iter()
                .map(|c| {
                    json!({
                        "pcr_select": selection_claim(&c.selection),
                        "signature": format!("{}-{}", c.signature_scheme, c.signature_hash),
                    })
                })
                .collect(),
        ),
    );
    if req.nonce.is_none() {
        out.warnings.push(
            "freshness not checked: no --nonce given, extra_data shows what the quote carries"
                .into(),
        );
    }
    if verified.iter().any(|c| !c.pcrs_checked) {
        out.warnings.push(
            "PCR values not given for every quote: their digests were not checked and their PCRs are not claimed"
                .into(),
        );
    }
    // Hardening finding 12: the AK's attributes come from its TPM public
    // area, which nothing signs unless the caller pinned it (--ak) or a
    // broker proved it by credential activation; editing them suppressed
    // or raised the warning at will. So the warning says what is known.
    let attributes = match (first.ak_restricted, ev.ak_source == AkSource::Caller) {
        (Some(false), _) => {
            out.warnings.push(
                "the AK is not a restricted signing key: it could sign data that merely looks like a quote"
                    .into(),
            );
            "not restricted"
        }
        (Some(true), true) => "restricted (pinned by the caller)",
        (Some(true), false) => {
            out.warnings.push(
                "the AK's attributes (restricted, fixedTPM) are as the evidence states them and nothing authenticates them: pin the AK with --ak, or prove it by credential activation"
                    .into(),
            );
            "restricted as claimed by the evidence, not authenticated"
        }
        (None, _) => {
            out.warnings.push(
                "the AK came as a bare public key: whether it is a restricted signing key is unknown"
                    .into(),
            );
            "unknown (bare public key)"
        }
    };
    out.claims.insert("ak_attributes".into(), json!(attributes));
    let mut pcr_claim = Map::new();
    for (bank, regs) in &all_pcrs {
        let mut m = Map::new();
        for (i, v) in regs {
            m.insert(i.to_string(), json!(hex::encode(v)));
        }
        pcr_claim.insert(bank.to_string(), Value::Object(m));
    }
    out.claims.insert("pcrs".into(), Value::Object(pcr_claim));

    // ---- AK trust ----
    if let Err(e) = check_ak_trust(req, &ev, &mut out) {
        return out.reject(e);
    }

    // ---- event log ----
    let log_bytes = req.extra.eventlog.as_deref().or(ev.eventlog.as_deref());
    if let Some(bytes) = log_bytes {
        if let Err(e) = replay_log(bytes, &all_pcrs, &mut out) {
            return out.reject(e);
        }
    }

    out.verified = true;
    out.error = None;
    out
}

fn check_ak_trust(req: &Request, ev: &Evidence, out: &mut Outcome) -> Result<(), String> {
    let mut anchors = Vec::new();
    let mut intermediates = ev.intermediates.clone();
    for c in &req.collateral {
        let certs = certificates_from_bytes(&c.bytes)
            .map_err(|e| format!("collateral {}: {e}", c.origin.display()))?;
        for cert in certs {
            if is_self_signed(&cert) {
                anchors.push(cert);
            } else {
                intermediates.push(cert);
            }
        }
    }
    if anchors.is_empty()
        && !intermediates.is_empty()
        && ev.intermediates.len() < intermediates.len()
    {
        return Err(
            "ak certificate check failed: the --collateral certificates hold no self-signed root to anchor the chain"
                .into(),
        );
    }
    if anchors.is_empty() {
        let how = match ev.ak_source {
            AkSource::Caller => "pinned by the caller (--ak)",
            AkSource::Evidence => {
                out.warnings.push(
                    "the AK comes from the evidence and was not chained to a CA: pass its CA with --collateral, or pin it with --ak"
                        .into(),
                );
                "none (taken from the evidence)"
            }
        };
        out.claims.insert("ak_trust".into(), json!(how));
        return Ok(());
    }
    let cert = ev.ak_cert.as_deref().ok_or(
        "ak certificate check failed: CA certificates were given but the evidence carries no AK certificate",
    )?;
    let at = req.at.unwrap_or_else(OffsetDateTime::now_utc);
    let chain = verify_ak_certificate(cert, &ev.ak.key, &intermediates, &anchors, at)
        .map_err(|e| format!("ak certificate: {e}"))?;
    out.claims.insert(
        "ak_trust".into(),
        json!({"certificate_chain": chain.subjects}),
    );
    Ok(())
}

fn replay_log(
    bytes: &[u8],
    quoted: &BTreeMap<HashAlg, BTreeMap<u8, Vec<u8>>>,
    out: &mut Outcome,
) -> Result<(), String> {
    use rootline_eventlog::{EventLog, replay::check_data_digests};
    let log = EventLog::parse(bytes).map_err(|e| format!("event log: {e}"))?;
    let replay = log.replay();
    for w in &log.warnings {
        out.warnings.push(format!("event log: {w}"));
    }
    // A log that was given must be checked against the quote, or the
    // evidence is refused: a log that cannot be replayed proves nothing, and
    // accepting it with a warning let any log through (a Spec ID header with
    // only an sm3_256 bank passed).
    if quoted.is_empty() {
        return Err(
            "event log check failed: the quote carries no verified PCR values to replay the log against (quote the PCRs the log extends, or leave the log out)"
                .into(),
        );
    }
    let mut given = rootline_eventlog::PcrValues::default();
    for (bank, regs) in quoted {
        let b = given.banks.entry(*bank).or_default();
        for (i, v) in regs {
            b.insert(u32::from(*i), rootline_core::Digest::new(*bank, v.clone()));
        }
    }
    let mismatches = replay.compare(&log, &given);
    let data_mismatches = check_data_digests(&log);
    // Events whose data contradicts their digest, quirks included: what they
    // say is never reported as a claim.
    let untrusted: std::collections::BTreeSet<usize> =
        data_mismatches.iter().map(|d| d.index).collect();
    for q in data_mismatches.iter().filter(|d| d.firmware_quirk) {
        out.warnings.push(format!(
            "event log: event #{} {} holds more data than it declares (a known firmware quirk); its content is not used",
            q.index, q.event_type
        ));
    }
    let tampered: Vec<_> = data_mismatches
        .into_iter()
        .filter(|d| !d.firmware_quirk)
        .collect();
    let replayed_banks: Vec<String> = replay
        .pcrs
        .keys()
        .filter(|b| quoted.contains_key(b))
        .map(|b| b.to_string())
        .collect();
    out.claims.insert(
        "event_log".into(),
        json!({
            "events": replay.events,
            "banks_replayed_against_quote": replayed_banks,
            "matches_quote": mismatches.is_empty() && !replayed_banks.is_empty(),
        }),
    );
    // The events behind each quoted register, so that appraisal can name the
    // first event a reference does not accept (reference keys tpm.event.BANK.PCR).
    let mut events = Map::new();
    for bank in quoted.keys().filter(|b| replay.pcrs.contains_key(b)) {
        let mut per_pcr = Map::new();
        for e in log.events.iter().filter(|e| e.is_extended()) {
            let Some(d) = e.digest(*bank) else { continue };
            let list = per_pcr
                .entry(e.pcr.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = list {
                a.push(json!({
                    "index": e.index,
                    "type": e.event_type.to_string(),
                    "event": if untrusted.contains(&e.index) {
                        "(data contradicts its digest: not decoded)".to_owned()
                    } else {
                        e.decoded().summary()
                    },
                    "digest": d.hex(),
                }));
            }
        }
        events.insert(bank.to_string(), Value::Object(per_pcr));
    }
    out.claims.insert("events".into(), Value::Object(events));
    if let Some(m) = mismatches.first() {
        let mut msg = format!("event log replay check failed: {}", m.explain());
        if let Some(d) = tampered.first() {
            msg.push_str(&format!(
                "\n  first event whose data contradicts its digest: #{} {} ({}): {}",
                d.index, d.event_type, d.bank, d.reason
            ));
        } else if let Some((i, desc)) = m.events.last() {
            msg.push_str(&format!(
                "\n  the log cannot say which event is wrong; the last one extending it is #{i} {desc}"
            ));
        }
        return Err(msg);
    }
    if replayed_banks.is_empty() {
        return Err(format!(
            "event log check failed: the log's banks ({}) have none in common with the quoted PCR banks ({}), so it cannot be replayed against the quote",
            replay
                .pcrs
                .keys()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            quoted
                .keys()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(d) = tampered.first() {
        return Err(format!(
            "event log check failed: event #{} {} ({}) data contradicts its digest: {}",
            d.index, d.event_type, d.bank, d.reason
        ));
    }
    Ok(())
}

/// Recognises TPM 2.0 evidence by content (`rootline_tpm::evidence`).
pub(crate) fn detect(evidence: &[u8]) -> Option<TeeKind> {
    evidence::detect(evidence).then_some(TeeKind::Tpm)
}
