//! TPM 2.0 evidence: the forms it arrives in, AK trust, event-log replay, claims.
//!
//! Four forms are recognised by content and brought to one shape (an AK, one
//! or more quotes with signatures and PCR values, maybe an event log and AK
//! certificates) before `rootline-tpm` verifies each quote:
//! - the files `tpm2_quote` writes: the TPMS_ATTEST as EVIDENCE (raw or hex),
//!   with `--signature`, `--ak` and `--pcrs`;
//! - a go-tpm-tools `Attestation` protobuf (GCE Shielded VMs, Confidential
//!   Space): AK public area, quotes per bank, event log, AK certificate;
//! - Trustee's older TPM evidence JSON (`ak_pubkey`, `quote` per bank,
//!   `eventlog`);
//! - the TPM evidence guest-components' attester sends today and Trustee's
//!   verifier reads (`{"tpm_quote": {"signature", "message", "pcrs"},
//!   "ak_public"}`: base64 TPMT_SIGNATURE, base64 TPMS_ATTEST, 24 hex
//!   SHA-256 PCRs, base64 DER SubjectPublicKeyInfo);
//! - go-attestation's JSON dump (`AK`, `Quote`, `Log`), as in its test data.
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

use base64::Engine as _;
use rootline_core::{HashAlg, TeeKind};
use rootline_tpm::certs::{certificates_from_bytes, is_self_signed, verify_ak_certificate};
use rootline_tpm::{
    AkPublic, AlgId, Attest, PcrSelection, PcrValues, QuoteCheck, QuoteClaims, TpmtPublic,
    TpmtSignature, verify_quote,
};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::{Outcome, Request};

/// The first bytes of every TPMS_ATTEST: TPM_GENERATED_VALUE.
const MAGIC: [u8; 4] = [0xff, 0x54, 0x43, 0x47];

/// One quote with what it needs.
struct QuoteItem {
    attest: Vec<u8>,
    signature: TpmtSignature,
    pcrs: Option<PcrValues>,
}

/// Where the AK came from, for the trust decision and the output.
#[derive(PartialEq, Eq)]
enum AkSource {
    /// `--ak`: the caller pinned it.
    Caller,
    /// The evidence carried it.
    Evidence,
}

/// Evidence of any form, normalised.
struct Evidence {
    form: &'static str,
    ak: AkPublic,
    ak_source: AkSource,
    ak_cert: Option<Vec<u8>>,
    intermediates: Vec<Vec<u8>>,
    quotes: Vec<QuoteItem>,
    eventlog: Option<Vec<u8>>,
}

// ---- go-tpm-tools protobuf messages (proto/attest.proto, proto/tpm.proto) ----

/// attest.Attestation, only the fields a verifier needs.
#[derive(Clone, PartialEq, prost::Message)]
struct PbAttestation {
    /// TPMT_PUBLIC of the AK.
    #[prost(bytes = "vec", tag = "1")]
    ak_pub: Vec<u8>,
    /// One quote per PCR bank.
    #[prost(message, repeated, tag = "2")]
    quotes: Vec<PbQuote>,
    /// Raw TCG event log.
    #[prost(bytes = "vec", tag = "3")]
    event_log: Vec<u8>,
    /// AK certificate, DER.
    #[prost(bytes = "vec", tag = "6")]
    ak_cert: Vec<u8>,
    /// Intermediate certificates, DER.
    #[prost(bytes = "vec", repeated, tag = "7")]
    intermediate_certs: Vec<Vec<u8>>,
}

/// tpm.Quote.
#[derive(Clone, PartialEq, prost::Message)]
struct PbQuote {
    /// TPMS_ATTEST.
    #[prost(bytes = "vec", tag = "1")]
    quote: Vec<u8>,
    /// TPMT_SIGNATURE.
    #[prost(bytes = "vec", tag = "2")]
    raw_sig: Vec<u8>,
    /// The bank's values.
    #[prost(message, optional, tag = "3")]
    pcrs: Option<PbPcrs>,
}

/// tpm.PCRs: `hash` is a TPM_ALG_ID.
#[derive(Clone, PartialEq, prost::Message)]
struct PbPcrs {
    #[prost(int32, tag = "1")]
    hash: i32,
    #[prost(btree_map = "uint32, bytes", tag = "2")]
    pcrs: BTreeMap<u32, Vec<u8>>,
}

static NULL: Value = Value::Null;

/// The value at a path of object keys, null when any is missing.
fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| v.get(k).unwrap_or(&NULL))
}

fn b64(v: &Value, field: &str) -> Result<Vec<u8>, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("{field} is not a base64 string"))?;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| format!("{field} is not base64: {e}"))
}

/// Raw bytes or the same as hex text.
fn raw_or_hex(bytes: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.trim().is_empty() => {
            rootline_core::from_hex(s).unwrap_or_else(|_| bytes.to_vec())
        }
        _ => bytes.to_vec(),
    }
}

fn is_attest(bytes: &[u8]) -> bool {
    raw_or_hex(bytes).starts_with(&MAGIC)
}

fn decode_protobuf(bytes: &[u8]) -> Option<PbAttestation> {
    use prost::Message as _;
    let pb = PbAttestation::decode(bytes).ok()?;
    (!pb.quotes.is_empty() && TpmtPublic::parse(&pb.ak_pub).is_ok()).then_some(pb)
}

fn json_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn is_trustee(m: &Map<String, Value>) -> bool {
    m.contains_key("ak_pubkey") && m.get("quote").is_some_and(Value::is_object)
}

/// guest-components' TPM attester (attestation-agent/attester/src/tpm).
fn is_guest_components(m: &Map<String, Value>) -> bool {
    m.get("ak_public").is_some_and(Value::is_string)
        && m.get("tpm_quote").is_some_and(|q| {
            q.get("message").is_some() && q.get("signature").is_some() && q.get("pcrs").is_some()
        })
}

fn is_go_attestation(m: &Map<String, Value>) -> bool {
    m.get("AK").is_some_and(Value::is_object) && m.get("Quote").is_some_and(Value::is_object)
}

/// Recognises TPM 2.0 evidence by content.
pub(crate) fn detect(evidence: &[u8]) -> Option<TeeKind> {
    if is_attest(evidence) {
        return Some(TeeKind::Tpm);
    }
    if let Some(m) = json_object(evidence) {
        return (is_trustee(&m) || is_guest_components(&m) || is_go_attestation(&m))
            .then_some(TeeKind::Tpm);
    }
    decode_protobuf(evidence).map(|_| TeeKind::Tpm)
}

/// A signature file: TPMT_SIGNATURE, raw or hex.
fn parse_signature(bytes: &[u8]) -> Result<TpmtSignature, String> {
    TpmtSignature::parse(bytes)
        .or_else(|e| TpmtSignature::parse(&raw_or_hex(bytes)).map_err(|_| e))
        .map_err(|e| format!("signature: {e}"))
}

fn x509_is_certificate(der: &[u8]) -> bool {
    rootline_tpm::certs::parse_certificate(der).is_ok()
}

fn tpm2_tools_form(req: &Request) -> Result<Evidence, String> {
    let sig = req.extra.signature.as_deref().ok_or(
        "a tpm2_quote message needs its signature: pass --signature (the file tpm2_quote -s writes)",
    )?;
    let ak = req.extra.ak.as_deref().ok_or(
        "a tpm2_quote message needs the attestation key: pass --ak (PEM, DER or TPM2B_PUBLIC)",
    )?;
    let pcrs = match req.extra.pcrs.as_deref() {
        None => None,
        Some(p) => Some(
            PcrValues::from_tpm2_tools(p)
                .map_err(|e| format!("PCR values (--pcrs): {e}"))?
                .1,
        ),
    };
    // --ak may be the AK's certificate: then --collateral can anchor it.
    let ak_cert = certificates_from_bytes(ak)
        .ok()
        .and_then(|c| c.into_iter().next())
        .filter(|c| x509_is_certificate(c));
    Ok(Evidence {
        form: "tpm2-tools",
        ak: AkPublic::from_bytes(ak).map_err(|e| format!("attestation key (--ak): {e}"))?,
        ak_source: AkSource::Caller,
        ak_cert,
        intermediates: Vec::new(),
        quotes: vec![QuoteItem {
            attest: raw_or_hex(&req.evidence),
            signature: parse_signature(sig)?,
            pcrs,
        }],
        eventlog: None,
    })
}

fn protobuf_form(pb: PbAttestation) -> Result<Evidence, String> {
    let ak = TpmtPublic::parse(&pb.ak_pub)
        .and_then(AkPublic::from_tpmt)
        .map_err(|e| format!("ak_pub: {e}"))?;
    let mut quotes = Vec::new();
    for (i, q) in pb.quotes.into_iter().enumerate() {
        let signature =
            TpmtSignature::parse(&q.raw_sig).map_err(|e| format!("quotes[{i}].raw_sig: {e}"))?;
        let pcrs = match q.pcrs {
            None => None,
            Some(p) => {
                let bank = HashAlg(u16::try_from(p.hash).map_err(|_| {
                    format!("quotes[{i}].pcrs.hash {} is not a TPM_ALG_ID", p.hash)
                })?);
                let mut v = PcrValues::new();
                for (index, value) in p.pcrs {
                    let index = u8::try_from(index)
                        .map_err(|_| format!("quotes[{i}].pcrs: PCR index {index}"))?;
                    v.insert(bank, index, value)
                        .map_err(|e| format!("quotes[{i}].pcrs: {e}"))?;
                }
                Some(v)
            }
        };
        quotes.push(QuoteItem {
            attest: q.quote,
            signature,
            pcrs,
        });
    }
    Ok(Evidence {
        form: "go-tpm-tools attestation",
        ak,
        ak_source: AkSource::Evidence,
        ak_cert: (!pb.ak_cert.is_empty()).then_some(pb.ak_cert),
        intermediates: pb.intermediate_certs,
        quotes,
        eventlog: (!pb.event_log.is_empty()).then_some(pb.event_log),
    })
}

fn trustee_form(m: &Map<String, Value>) -> Result<Evidence, String> {
    let pem = m
        .get("ak_pubkey")
        .and_then(Value::as_str)
        .ok_or("ak_pubkey is not a PEM string")?;
    let ak = AkPublic::from_bytes(pem.as_bytes()).map_err(|e| format!("ak_pubkey: {e}"))?;
    let mut quotes = Vec::new();
    for (bank_name, q) in m
        .get("quote")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let bank = HashAlg::from_name(bank_name)
            .ok_or_else(|| format!("quote.{bank_name}: unknown PCR bank"))?;
        let attest = b64(
            at(q, &["attest_body"]),
            &format!("quote.{bank_name}.attest_body"),
        )?;
        let sig = b64(
            at(q, &["attest_sig"]),
            &format!("quote.{bank_name}.attest_sig"),
        )?;
        // Trustee's attester sends the bare RSASSA signature (SHA-256), not a
        // TPMT_SIGNATURE; accept either.
        let signature = match TpmtSignature::parse(&sig) {
            Ok(s) => s,
            Err(_) => TpmtSignature::Rsa {
                scheme: AlgId::RSASSA,
                hash: HashAlg::SHA256,
                sig,
            },
        };
        // The values are listed in the quote's selection order.
        let values: Vec<Vec<u8>> = at(q, &["pcrs"])
            .as_array()
            .ok_or_else(|| format!("quote.{bank_name}.pcrs is not a list"))?
            .iter()
            .map(|v| {
                v.as_str()
                    .and_then(|s| rootline_core::from_hex(s).ok())
                    .ok_or_else(|| format!("quote.{bank_name}.pcrs holds a non-hex value"))
            })
            .collect::<Result<_, _>>()?;
        let selection = Attest::parse(&attest)
            .ok()
            .and_then(|a| a.quote_info().map(|(s, _)| s.clone()))
            .unwrap_or_default();
        let pairs: Vec<(HashAlg, u8)> = selection
            .pairs()
            .into_iter()
            .filter(|(b, _)| *b == bank)
            .collect();
        let pcrs = PcrValues::from_listed(&pairs, values)
            .map_err(|e| format!("quote.{bank_name}.pcrs ({bank}): {e}"))?;
        quotes.push(QuoteItem {
            attest,
            signature,
            pcrs: Some(pcrs),
        });
    }
    let eventlog = match m.get("eventlog") {
        Some(v @ Value::String(_)) => Some(b64(v, "eventlog")?),
        _ => None,
    };
    // `ek_cert`, when present, certifies the EK; without credential
    // activation it says nothing about the AK, so it is not the AK's certificate.
    let ak_cert = None;
    Ok(Evidence {
        form: "trustee tpm evidence",
        ak,
        ak_source: AkSource::Evidence,
        ak_cert,
        intermediates: Vec::new(),
        quotes,
        eventlog,
    })
}

/// guest-components' TPM evidence: one quote over the SHA-256 bank (PCRs
/// 0-23 as the attester selects them), its TPMT_SIGNATURE, and the AK as a
/// DER SubjectPublicKeyInfo. No event log and no AK certificate travel with
/// it: the AK is trusted only as the caller (or credential activation)
/// trusts it.
fn guest_components_form(m: &Map<String, Value>) -> Result<Evidence, String> {
    let spki = b64(at_map(m, "ak_public"), "ak_public")?;
    let ak = AkPublic::from_bytes(&spki).map_err(|e| format!("ak_public: {e}"))?;
    let q = m.get("tpm_quote").unwrap_or(&NULL);
    let attest = b64(at(q, &["message"]), "tpm_quote.message")?;
    let sig = b64(at(q, &["signature"]), "tpm_quote.signature")?;
    let signature = TpmtSignature::parse(&sig).map_err(|e| format!("tpm_quote.signature: {e}"))?;
    let values: Vec<Vec<u8>> = at(q, &["pcrs"])
        .as_array()
        .ok_or("tpm_quote.pcrs is not a list")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .and_then(|s| rootline_core::from_hex(s).ok())
                .ok_or_else(|| format!("tpm_quote.pcrs[{i}] is not hex"))
        })
        .collect::<Result<_, _>>()?;
    if values.len() > 24 {
        return Err(format!(
            "tpm_quote.pcrs holds {} values; a TPM has 24 PCRs",
            values.len()
        ));
    }
    // The values are the selected PCRs in selection order (the attester
    // selects the whole SHA-256 bank); the quote's selection says which.
    let selection = Attest::parse(&attest)
        .map_err(|e| format!("tpm_quote.message: {e}"))?
        .quote_info()
        .map(|(s, _)| s.clone())
        .ok_or("tpm_quote.message is not a quote (TPM_ST_ATTEST_QUOTE)")?;
    let pcrs = PcrValues::from_listed(&selection.pairs(), values)
        .map_err(|e| format!("tpm_quote.pcrs: {e}"))?;
    Ok(Evidence {
        form: "guest-components tpm evidence",
        ak,
        ak_source: AkSource::Evidence,
        ak_cert: None,
        intermediates: Vec::new(),
        quotes: vec![QuoteItem {
            attest,
            signature,
            pcrs: Some(pcrs),
        }],
        eventlog: None,
    })
}

fn at_map<'a>(m: &'a Map<String, Value>, k: &str) -> &'a Value {
    m.get(k).unwrap_or(&NULL)
}

fn go_attestation_form(m: &Value) -> Result<Evidence, String> {
    let ak = TpmtPublic::parse(&b64(at(m, &["AK", "Public"]), "AK.Public")?)
        .and_then(AkPublic::from_tpmt)
        .map_err(|e| format!("AK.Public: {e}"))?;
    let q = at(m, &["Quote"]);
    let signature = TpmtSignature::parse(&b64(at(q, &["Signature"]), "Quote.Signature")?)
        .map_err(|e| format!("Quote.Signature: {e}"))?;
    let mut pcrs = PcrValues::new();
    for (k, p) in at(m, &["Log", "PCRs"])
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        // DigestAlg is Go's crypto.Hash.
        let bank = match at(p, &["DigestAlg"]).as_u64() {
            Some(3) => HashAlg::SHA1,
            Some(5) => HashAlg::SHA256,
            Some(6) => HashAlg::SHA384,
            Some(7) => HashAlg::SHA512,
            other => {
                return Err(format!(
                    "Log.PCRs[{k}].DigestAlg {other:?} is not a known hash"
                ));
            }
        };
        let index = at(p, &["Index"])
            .as_u64()
            .and_then(|i| u8::try_from(i).ok())
            .ok_or_else(|| format!("Log.PCRs[{k}].Index is not a PCR index"))?;
        pcrs.insert(bank, index, b64(at(p, &["Digest"]), "Log.PCRs[].Digest")?)
            .map_err(|e| format!("Log.PCRs[{k}]: {e}"))?;
    }
    let eventlog = match at(m, &["Log", "Raw"]) {
        v @ Value::String(_) => Some(b64(v, "Log.Raw")?),
        _ => None,
    };
    Ok(Evidence {
        form: "go-attestation",
        ak,
        ak_source: AkSource::Evidence,
        ak_cert: None,
        intermediates: Vec::new(),
        quotes: vec![QuoteItem {
            attest: b64(at(q, &["Quote"]), "Quote.Quote")?,
            signature,
            pcrs: (!pcrs.is_empty()).then_some(pcrs),
        }],
        eventlog,
    })
}

fn read_evidence(req: &Request) -> Result<Evidence, String> {
    if is_attest(&req.evidence) {
        return tpm2_tools_form(req);
    }
    if let Some(m) = json_object(&req.evidence) {
        if is_guest_components(&m) {
            return guest_components_form(&m);
        }
        if is_trustee(&m) {
            return trustee_form(&m);
        }
        if is_go_attestation(&m) {
            return go_attestation_form(&Value::Object(m));
        }
        return Err(
            "JSON evidence is none of the TPM forms: guest-components' {tpm_quote, ak_public}, Trustee's older {ak_pubkey, quote} or a go-attestation dump {AK, Quote}".into(),
        );
    }
    match decode_protobuf(&req.evidence) {
        Some(pb) => protobuf_form(pb),
        None => Err(
            "not TPM evidence: expected a TPMS_ATTEST (tpm2_quote -m), a go-tpm-tools Attestation \
             protobuf, Trustee TPM evidence JSON or a go-attestation JSON dump"
                .into(),
        ),
    }
}

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
    let ev = match read_evidence(req) {
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
