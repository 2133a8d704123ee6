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
//! AK's TPM public area is known, `event_log` facts after a replay, and
//! `cel` (the Confidential Space workload) after a canonical event log was
//! replayed into the register a verified quote signs.
//!
//! GCP's JSON forms may carry an SEV-SNP report or a TD quote beside the
//! quotes: it is verified by the SNP or DCAP code and its claims nest under
//! `snp` or `tdx` (see `paired.rs` for why, and for what does not bind it).

use std::collections::BTreeMap;

use rootline_core::{HashAlg, TeeKind};
use rootline_tpm::certs::{certificates_from_bytes, is_self_signed, verify_ak_certificate};
use rootline_tpm::claims::{QuoteInfo, pcr_by_name, pcrs_json, selection_json};
use rootline_tpm::evidence::{self, AkSource, Evidence, Inputs};
use rootline_tpm::{
    AkPublic, AlgId, Attest, PcrSelection, QuoteCheck, QuoteClaims, verify_parsed_quote,
    verify_quote,
};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::{Claims, Rejection, Request, Verdict, Verified};

/// PCR values by bank and index.
pub type PcrMap = rootline_eventlog::quoted::QuotedPcrs;

/// Claims of TPM evidence. Verified evidence has every field but `ak_name`
/// (an AK without its TPM public area) and `event_log` (no log given); a
/// rejection has those read before the failing check.
#[derive(Debug, Clone)]
pub struct TpmClaims {
    /// Which form the evidence came in.
    pub evidence_form: &'static str,
    /// SHA-256 of the AK's DER SubjectPublicKeyInfo, lower-case hex.
    pub ak_fingerprint: Option<String>,
    /// The AK's TPM name, when its public area is known.
    pub ak_name: Option<Vec<u8>>,
    /// The first quote's facts (extraData, clock, firmware, signer).
    pub quote: Option<QuoteInfo>,
    /// Each verified quote's selection and signature scheme.
    pub quotes: Option<Vec<QuoteSummary>>,
    /// What is known of the AK's attributes.
    pub ak_attributes: Option<AkAttributes>,
    /// PCR values the quotes' signed digests cover.
    pub pcrs: Option<PcrMap>,
    /// Why the AK is trusted.
    pub ak_trust: Option<AkTrust>,
    /// The event log's replay, when a log was given.
    pub event_log: Option<EventLogClaims>,
    /// The SEV-SNP report or TD quote verified beside the quotes (GCP),
    /// not bound to the AK.
    pub tee: Option<Box<crate::paired::PairedTee>>,
    /// The canonical event log replayed against the register it extends
    /// (Confidential Space): `{field, records, registers, cos, events}`.
    pub cel: Option<Map<String, Value>>,
}

/// One verified quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteSummary {
    /// The PCRs it selects.
    pub selection: PcrSelection,
    /// Its signature scheme.
    pub signature_scheme: AlgId,
    /// Its signature's hash.
    pub signature_hash: HashAlg,
}

/// What is known of the AK's attributes (restricted, fixedTPM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AkAttributes {
    /// Not a restricted signing key.
    NotRestricted,
    /// Restricted, and the caller pinned the AK.
    RestrictedPinned,
    /// Restricted as the evidence states it; nothing authenticates that.
    RestrictedClaimed,
    /// A bare public key: unknown.
    Unknown,
}

impl AkAttributes {
    /// The claim's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRestricted => "not restricted",
            Self::RestrictedPinned => "restricted (pinned by the caller)",
            Self::RestrictedClaimed => "restricted as claimed by the evidence, not authenticated",
            Self::Unknown => "unknown (bare public key)",
        }
    }
}

/// Why the AK is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AkTrust {
    /// The caller pinned it (`--ak`).
    Caller,
    /// Taken from the evidence, not chained to a CA.
    Evidence,
    /// Its certificate chains to a given anchor: the chain's subjects.
    CertificateChain(Vec<String>),
}

pub use rootline_eventlog::quoted::{EventLogClaims, LoggedEvent, RegisterEvents};

impl TpmClaims {
    fn new(evidence_form: &'static str) -> Self {
        Self {
            evidence_form,
            ak_fingerprint: None,
            ak_name: None,
            quote: None,
            quotes: None,
            ak_attributes: None,
            pcrs: None,
            ak_trust: None,
            event_log: None,
            tee: None,
            cel: None,
        }
    }

    /// The quoted value of PCR `index` in `bank` (`sha256`...).
    pub fn pcr(&self, bank: &str, index: u32) -> Option<&[u8]> {
        pcr_by_name(self.pcrs.as_ref()?, bank, index)
    }

    /// All claims as one JSON object, in the shape of `rootline verify --json`.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("evidence_form".into(), json!(self.evidence_form));
        if let Some(f) = &self.ak_fingerprint {
            m.insert("ak_fingerprint".into(), json!(f));
        }
        if let Some(n) = &self.ak_name {
            m.insert("ak_name".into(), json!(hex::encode(n)));
        }
        if let Some(q) = &self.quote {
            q.write_json(&mut m);
        }
        if let Some(qs) = &self.quotes {
            m.insert(
                "quotes".into(),
                Value::Array(
                    qs.iter()
                        .map(|c| {
                            json!({
                                "pcr_select": selection_json(&c.selection),
                                "signature": format!("{}-{}", c.signature_scheme, c.signature_hash),
                            })
                        })
                        .collect(),
                ),
            );
        }
        if let Some(a) = self.ak_attributes {
            m.insert("ak_attributes".into(), json!(a.as_str()));
        }
        if let Some(p) = &self.pcrs {
            m.insert("pcrs".into(), pcrs_json(p));
        }
        if let Some(t) = &self.ak_trust {
            let v = match t {
                AkTrust::Caller => json!("pinned by the caller (--ak)"),
                AkTrust::Evidence => json!("none (taken from the evidence)"),
                AkTrust::CertificateChain(subjects) => json!({"certificate_chain": subjects}),
            };
            m.insert("ak_trust".into(), v);
        }
        if let Some(l) = &self.event_log {
            l.write_json(&mut m);
        }
        if let Some(t) = &self.tee {
            m.insert(t.key().into(), Value::Object(t.claims.to_json()));
        }
        if let Some(c) = &self.cel {
            m.insert("cel".into(), Value::Object(c.clone()));
        }
        m
    }
}

impl Serialize for TpmClaims {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// A rejection of TPM evidence with the claims read so far.
fn reject(claims: Option<&TpmClaims>, warnings: Vec<String>, reason: impl Into<String>) -> Verdict {
    Err(Box::new(Rejection {
        claims: claims.map(TpmClaims::to_json).unwrap_or_default(),
        warnings,
        ..Rejection::new(Some(TeeKind::Tpm), reason)
    }))
}

/// Verifies TPM 2.0 evidence (`evidence`: its bytes, base64 removed); a
/// TEE report it carries is verified with `tee_verify`.
pub(crate) fn verify(
    req: &Request,
    evidence: &[u8],
    tee_verify: &dyn Fn(&Request, &crate::Decoded) -> Verdict,
) -> Verdict {
    verify_any(req, evidence, tee_verify).map_err(|mut r| {
        // In the forms that carry a TEE report beside the quotes, a failure
        // of the TPM half names it (the TEE half names its own field).
        let part = match r.claims.get("evidence_form").and_then(Value::as_str) {
            Some("google cloud attestation request") => Some("tpmAttestation"),
            Some("confidential space launcher evidence") => Some("quote.tpmQuote"),
            _ => None,
        };
        if let Some(p) = part.filter(|p| !r.reason.starts_with(p)) {
            if !r.claims.contains_key("snp") && !r.claims.contains_key("tdx") {
                r.reason = format!("{p}: {}", r.reason);
            }
        }
        r
    })
}

fn verify_any(
    req: &Request,
    evidence: &[u8],
    tee_verify: &dyn Fn(&Request, &crate::Decoded) -> Verdict,
) -> Verdict {
    let ev = match evidence::read(&Inputs {
        evidence,
        signature: req.extra.signature.as_deref(),
        ak: req.extra.ak.as_deref(),
        pcrs: req.extra.pcrs.as_deref(),
    }) {
        Ok(ev) => ev,
        Err(e) => return reject(None, Vec::new(), e),
    };
    let mut claims = TpmClaims::new(ev.form);
    let mut warnings = Vec::new();
    // With a TEE report beside the quotes, the collateral is shared out.
    let split = ev.tee.as_ref().map(|_| crate::paired::split(req));
    let req = split.as_ref().map_or(req, |(tpm, _)| tpm);

    // The caller's --ak, when given with a form that carries its own AK, pins it.
    if ev.ak_source == AkSource::Evidence {
        if let Some(pinned) = req.extra.ak.as_deref() {
            match AkPublic::from_bytes(pinned) {
                Ok(p) if p.key == ev.ak.key => {}
                Ok(_) => {
                    return reject(
                        Some(&claims),
                        warnings,
                        "ak check failed: the evidence's attestation key is not the one given with --ak",
                    );
                }
                Err(e) => {
                    return reject(
                        Some(&claims),
                        warnings,
                        format!("attestation key (--ak): {e}"),
                    );
                }
            }
        }
    }
    match ev.ak.key.fingerprint() {
        Ok(f) => claims.ak_fingerprint = Some(f),
        Err(e) => return reject(Some(&claims), warnings, format!("attestation key: {e}")),
    }
    if let Some(Ok(name)) = ev.ak.name() {
        claims.ak_name = Some(name);
    }
    // Claims from the first quote, before any check, so a rejection
    // explains itself; its parse is reused to verify it.
    let mut first_parsed = ev
        .quotes
        .first()
        .and_then(|q| Attest::parse(&q.attest).ok());
    claims.quote = first_parsed.as_ref().map(QuoteInfo::from_attest);

    // ---- every quote ----
    let mut verified: Vec<QuoteClaims> = Vec::new();
    let mut all_pcrs: PcrMap = BTreeMap::new();
    let many = ev.quotes.len() > 1;
    for (i, q) in ev.quotes.iter().enumerate() {
        let check = QuoteCheck {
            attest: &q.attest,
            signature: &q.signature,
            ak: &ev.ak,
            nonce: req.nonce.as_deref(),
            pcrs: q.pcrs.as_ref(),
        };
        // Only the first quote was parsed before.
        let checked = match first_parsed.take() {
            Some(a) => verify_parsed_quote(a, &check),
            None => verify_quote(&check),
        };
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
                return reject(Some(&claims), warnings, format!("{which}{e}"));
            }
        }
    }
    let Some(first) = verified.first() else {
        return reject(Some(&claims), warnings, "the evidence carries no quote");
    };
    // Every quote must carry the same extraData: one nonce binds them all.
    if verified
        .iter()
        .any(|c| c.attest.extra_data != first.attest.extra_data)
    {
        return reject(
            Some(&claims),
            warnings,
            "nonce check failed: the quotes carry different extraData",
        );
    }
    claims.quotes = Some(
        verified
            .iter()
            .map(|c| QuoteSummary {
                selection: c.selection.clone(),
                signature_scheme: c.signature_scheme,
                signature_hash: c.signature_hash,
            })
            .collect(),
    );
    if req.nonce.is_none() {
        warnings.push(
            "freshness not checked: no --nonce given, extra_data shows what the quote carries"
                .into(),
        );
    }
    if verified.iter().any(|c| !c.pcrs_checked) {
        warnings.push(
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
            warnings.push(
                "the AK is not a restricted signing key: it could sign data that merely looks like a quote"
                    .into(),
            );
            AkAttributes::NotRestricted
        }
        (Some(true), true) => AkAttributes::RestrictedPinned,
        (Some(true), false) => {
            warnings.push(
                "the AK's attributes (restricted, fixedTPM) are as the evidence states them and nothing authenticates them: pin the AK with --ak, or prove it by credential activation"
                    .into(),
            );
            AkAttributes::RestrictedClaimed
        }
        (None, _) => {
            warnings.push(
                "the AK came as a bare public key: whether it is a restricted signing key is unknown"
                    .into(),
            );
            AkAttributes::Unknown
        }
    };
    claims.ak_attributes = Some(attributes);
    claims.pcrs = Some(all_pcrs);

    // ---- AK trust ----
    match check_ak_trust(req, &ev, &mut warnings) {
        Ok(t) => claims.ak_trust = Some(t),
        Err(e) => return reject(Some(&claims), warnings, e),
    }

    // ---- event log ----
    let log_bytes = req.extra.eventlog.as_deref().or(ev.eventlog.as_deref());
    if let Some(bytes) = log_bytes {
        let quoted = claims.pcrs.take().unwrap_or_default();
        let replayed = replay_log(bytes, &quoted, &mut claims.event_log, &mut warnings);
        claims.pcrs = Some(quoted);
        if let Err(e) = replayed {
            return reject(Some(&claims), warnings, e);
        }
    }
    for part in &ev.unverified {
        warnings.push(format!(
            "{part} was carried but is not verified (rootline does not read it): nothing it says is claimed"
        ));
    }

    // ---- the TEE report beside the quotes ----
    let mut tcb = (None, Vec::new());
    if let (Some(part), Some((_, tee_req))) = (&ev.tee, &split) {
        match crate::paired::verify(
            part,
            tee_req,
            &first.attest.extra_data,
            &mut warnings,
            tee_verify,
        ) {
            Ok((t, status, advisories)) => {
                claims.tee = Some(Box::new(t));
                tcb = (status, advisories);
            }
            Err(r) => {
                let mut m = claims.to_json();
                m.extend(r.claims);
                let mut all = warnings;
                all.extend(r.warnings);
                return Err(Box::new(Rejection {
                    claims: m,
                    warnings: all,
                    tcb_status: r.tcb_status,
                    advisory_ids: r.advisory_ids,
                    ..Rejection::new(Some(TeeKind::Tpm), r.reason)
                }));
            }
        }
    }

    // ---- the canonical event logs (after the TEE: a TDX log extends an RTMR) ----
    if !ev.cel.is_empty() {
        let quoted = claims.pcrs.clone().unwrap_or_default();
        match replay_cel(&ev.cel, &quoted, claims.tee.as_deref()) {
            Ok(c) => claims.cel = Some(c),
            Err(e) => return reject(Some(&claims), warnings, e),
        }
    }

    Ok(Verified::new(TeeKind::Tpm, Claims::Tpm(Box::new(claims)), warnings).with_tcb(tcb.0, tcb.1))
}

/// Replays each canonical event log into the registers it names and holds
/// them to the signed values: a PCR to the verified quotes (every bank both
/// the log and the quotes have), a CCMR to the verified TD quote's RTMR
/// (CCMR n is RTMR n-1). A register nothing signs is refused: a log no
/// signature covers proves nothing. Two logs (the REST body's vTPM and TDX
/// ones) must describe the same workload; the claims are the first's.
fn replay_cel(
    parts: &[evidence::CelPart],
    quoted: &PcrMap,
    tee: Option<&crate::paired::PairedTee>,
) -> Result<Map<String, Value>, String> {
    use rootline_eventlog::cel::{self, IndexType};
    let mut first: Option<Map<String, Value>> = None;
    for part in parts {
        let f = part.field;
        let log = cel::parse(&part.bytes).map_err(|e| format!("{f}: {e}"))?;
        let replayed = log.replay().map_err(|e| format!("{f}: {e}"))?;
        let mut registers = Vec::new();
        for (reg, banks) in &replayed {
            let mut checked = Vec::new();
            if reg.kind == IndexType::PCR {
                for (alg, d) in banks {
                    let Some(q) = quoted.get(alg).and_then(|b| b.get(&reg.index)) else {
                        continue;
                    };
                    if *q != d.bytes {
                        return Err(format!(
                            "{f}: pcr {} {alg} check failed: the log replays to {}, the quote has {}",
                            reg.index,
                            d.hex(),
                            hex::encode(q)
                        ));
                    }
                    checked.push(json!(alg.to_string()));
                }
                if checked.is_empty() {
                    return Err(format!(
                        "{f}: the log extends pcr {} but no verified quote covers it in a bank the log carries: a log nothing signs proves nothing",
                        reg.index
                    ));
                }
            } else {
                let Some(rtmr) = reg.rtmr() else {
                    return Err(format!("{f}: the log extends {reg}, which is no RTMR"));
                };
                let td = tee.and_then(|t| match &t.claims {
                    Claims::Dcap(c) => c.td(),
                    _ => None,
                });
                let Some(td) = td else {
                    return Err(format!(
                        "{f}: the log extends {reg} but the evidence has no verified TD quote: a log nothing signs proves nothing"
                    ));
                };
                let Some(d) = banks.get(&HashAlg::SHA384) else {
                    return Err(format!("{f}: the log carries no sha384 digests for {reg}"));
                };
                let q = td.rtmr.get(rtmr).map(|r| r.as_slice()).unwrap_or_default();
                if q != d.bytes.as_slice() {
                    return Err(format!(
                        "{f}: rtmr{rtmr} check failed: the log replays to {}, the TD quote has {}",
                        d.hex(),
                        hex::encode(q)
                    ));
                }
                checked.push(json!("sha384"));
            }
            registers.push(json!({"register": reg.to_string(), "banks": checked}));
        }
        let cos = log.cos_claims().map_err(|e| format!("{f}: {e}"))?;
        match &first {
            Some(m) => {
                if m.get("cos") != Some(&Value::Object(cos)) {
                    return Err(format!(
                        "{f}: its COS events differ from those of {}: the two logs describe different workloads",
                        m.get("field").and_then(Value::as_str).unwrap_or_default()
                    ));
                }
            }
            None => {
                let mut m = Map::new();
                m.insert("field".into(), json!(f));
                m.insert("records".into(), json!(log.records.len()));
                m.insert("registers".into(), Value::Array(registers));
                m.insert("cos".into(), Value::Object(cos));
                m.insert("events".into(), log.events_json());
                first = Some(m);
            }
        }
    }
    Ok(first.unwrap_or_default())
}

fn check_ak_trust(
    req: &Request,
    ev: &Evidence,
    warnings: &mut Vec<String>,
) -> Result<AkTrust, String> {
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
        return Ok(match ev.ak_source {
            AkSource::Caller => AkTrust::Caller,
            AkSource::Evidence => {
                warnings.push(
                    "the AK comes from the evidence and was not chained to a CA: pass its CA with --collateral, or pin it with --ak"
                        .into(),
                );
                AkTrust::Evidence
            }
        });
    }
    let cert = ev.ak_cert.as_deref().ok_or(
        "ak certificate check failed: CA certificates were given but the evidence carries no AK certificate",
    )?;
    let at = req.at.unwrap_or_else(OffsetDateTime::now_utc);
    let chain = verify_ak_certificate(cert, &ev.ak.key, &intermediates, &anchors, at)
        .map_err(|e| format!("ak certificate: {e}"))?;
    Ok(AkTrust::CertificateChain(chain.subjects))
}

/// Replays the log against the quoted PCRs (`rootline_eventlog::quoted`,
/// which the AzureGuest request's `TcgLogs` go through too); `claims` gets
/// what the replay found once the log parsed, also when the replay fails.
fn replay_log(
    bytes: &[u8],
    quoted: &PcrMap,
    claims: &mut Option<EventLogClaims>,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    rootline_eventlog::quoted::replay_against_quote(bytes, quoted, claims, warnings)
        .map_err(|e| e.to_string())
}

/// Recognises TPM 2.0 evidence by content (`rootline_tpm::evidence`).
pub(crate) fn detect(evidence: &[u8]) -> Option<TeeKind> {
    evidence::detect(evidence).then_some(TeeKind::Tpm)
}
