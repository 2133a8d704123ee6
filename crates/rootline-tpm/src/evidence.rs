//! TPM 2.0 evidence in the forms it arrives in, brought to one shape.
//!
//! Five forms are recognised by content and brought to one shape (an AK, one
//! or more quotes with signatures and PCR values, maybe an event log and AK
//! certificates) before each quote is verified:
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
//! - go-attestation's JSON dump (`AK`, `Quote`, `Log`), as in its test data;
//! - the JSON shapes of Google Cloud's tooling (`cloud.rs`): the
//!   Confidential Computing REST `VerifyAttestation` body, the Confidential
//!   Space launcher's `/v1/evidence` and protojson of `attest.Attestation`,
//!   which may carry an SEV-SNP report or TD quote beside the quotes
//!   ([`TeePart`]).

use std::collections::BTreeMap;

use base64::Engine as _;
use rootline_core::HashAlg;
use serde_json::{Map, Value};

use crate::certs::certificates_from_bytes;
use crate::{AkPublic, AlgId, Attest, PcrValues, TpmtPublic, TpmtSignature};

/// The first bytes of every TPMS_ATTEST: TPM_GENERATED_VALUE.
const MAGIC: [u8; 4] = [0xff, 0x54, 0x43, 0x47];

/// One quote with what it needs.
pub struct QuoteItem {
    /// The TPMS_ATTEST as signed.
    pub attest: Vec<u8>,
    /// Its signature.
    pub signature: TpmtSignature,
    /// The PCR values it covers, when the form carries them.
    pub pcrs: Option<PcrValues>,
}

/// Where the AK came from, for the trust decision and the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AkSource {
    /// `--ak`: the caller pinned it.
    Caller,
    /// The evidence carried it.
    Evidence,
}

/// Evidence of any form, normalised.
pub struct Evidence {
    /// Which form it came in, for the output.
    pub form: &'static str,
    /// The attestation key.
    pub ak: AkPublic,
    /// Where the AK came from.
    pub ak_source: AkSource,
    /// The AK's certificate, DER, when the form carries one.
    pub ak_cert: Option<Vec<u8>>,
    /// Intermediate certificates, DER.
    pub intermediates: Vec<Vec<u8>>,
    /// The quotes (one per bank in some forms).
    pub quotes: Vec<QuoteItem>,
    /// The TCG event log, when the form carries one.
    pub eventlog: Option<Vec<u8>>,
    /// A TEE report the form carries beside the quotes (GCP confidential
    /// VMs). Nothing binds it to the AK: only the nonce links the two.
    pub tee: Option<TeePart>,
    /// Canonical event logs (Confidential Space's COS events), each with
    /// the field that held it; the verifier replays them.
    pub cel: Vec<CelPart>,
    /// Parts the form carried that are not verified (and so not claimed),
    /// by field name, for a warning.
    pub unverified: Vec<&'static str>,
}

/// A canonical event log as carried, unparsed (`rootline_eventlog::cel`
/// reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CelPart {
    /// The field that held it, for messages.
    pub field: &'static str,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// An SEV-SNP report or a TD quote carried beside the TPM quotes, raw, for
/// the SNP or DCAP verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeePart {
    /// A raw SEV-SNP report and the GHCB extended-report certificate table
    /// (`auxBlob`), when given.
    Snp {
        /// The 1184-byte report, unchecked.
        report: Vec<u8>,
        /// The certificate table.
        certificates: Option<Vec<u8>>,
        /// The field that held it, for messages.
        field: &'static str,
    },
    /// A raw TD quote with the CCEL event log, when given.
    Tdx {
        /// The quote, unchecked.
        quote: Vec<u8>,
        /// The CCEL event log (`ccelData`).
        ccel: Option<Vec<u8>>,
        /// The CCEL ACPI table, when given (not used: the log is replayed
        /// against the quote's RTMRs, which is what the table points at).
        acpi_table: Option<Vec<u8>>,
        /// The field that held it, for messages.
        field: &'static str,
    },
}

impl TeePart {
    /// The field that held it.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Snp { field, .. } | Self::Tdx { field, .. } => field,
        }
    }
}

/// What a caller hands over beside the evidence bytes: the files
/// `tpm2_quote` writes next to the TPMS_ATTEST.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs<'a> {
    /// The evidence bytes, in any form.
    pub evidence: &'a [u8],
    /// `tpm2_quote -s`: the TPMT_SIGNATURE, raw or hex.
    pub signature: Option<&'a [u8]>,
    /// The attestation key (PEM, DER SubjectPublicKeyInfo or TPM2B_PUBLIC):
    /// pinned by the caller.
    pub ak: Option<&'a [u8]>,
    /// `tpm2_quote -o`: the PCR values, raw or hex.
    pub pcrs: Option<&'a [u8]>,
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
    /// The COS canonical event log (`canonical_event_log`).
    #[prost(bytes = "vec", tag = "5")]
    canonical_event_log: Vec<u8>,
    /// AK certificate, DER.
    #[prost(bytes = "vec", tag = "6")]
    ak_cert: Vec<u8>,
    /// Intermediate certificates, DER.
    #[prost(bytes = "vec", repeated, tag = "7")]
    intermediate_certs: Vec<Vec<u8>>,
    /// `sev_snp_attestation`: go-sev-guest's parsed report, kept as bytes
    /// only to say that it is not verified.
    #[prost(bytes = "vec", optional, tag = "8")]
    sev_snp_attestation: Option<Vec<u8>>,
    /// `tdx_attestation`: go-tdx-guest's parsed quote, likewise.
    #[prost(bytes = "vec", optional, tag = "9")]
    tdx_attestation: Option<Vec<u8>>,
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
pub fn detect(evidence: &[u8]) -> bool {
    if is_attest(evidence) {
        return true;
    }
    if let Some(m) = json_object(evidence) {
        return is_trustee(&m)
            || is_guest_components(&m)
            || is_go_attestation(&m)
            || crate::cloud::shape(&Value::Object(m)).is_some();
    }
    decode_protobuf(evidence).is_some()
}

/// Recognises the JSON shapes of Google Cloud's tooling (`cloud.rs`). A
/// detector that looks for any field holding a TD quote would take the TD
/// quote such a body carries for the whole evidence and drop the vTPM
/// quotes: callers ask this first.
pub fn detect_cloud_json(evidence: &[u8]) -> bool {
    evidence.trim_ascii_start().first() == Some(&b'{')
        && json_object(evidence).is_some_and(|m| crate::cloud::shape(&Value::Object(m)).is_some())
}

/// A signature file: TPMT_SIGNATURE, raw or hex.
fn parse_signature(bytes: &[u8]) -> Result<TpmtSignature, String> {
    TpmtSignature::parse(bytes)
        .or_else(|e| TpmtSignature::parse(&raw_or_hex(bytes)).map_err(|_| e))
        .map_err(|e| format!("signature: {e}"))
}

fn x509_is_certificate(der: &[u8]) -> bool {
    crate::certs::parse_certificate(der).is_ok()
}

fn tpm2_tools_form(req: &Inputs<'_>) -> Result<Evidence, String> {
    let sig = req.signature.ok_or(
        "a tpm2_quote message needs its signature: pass --signature (the file tpm2_quote -s writes)",
    )?;
    let ak = req.ak.ok_or(
        "a tpm2_quote message needs the attestation key: pass --ak (PEM, DER or TPM2B_PUBLIC)",
    )?;
    let pcrs = match req.pcrs {
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
            attest: raw_or_hex(req.evidence),
            signature: parse_signature(sig)?,
            pcrs,
        }],
        eventlog: None,
        tee: None,
        cel: Vec::new(),
        unverified: Vec::new(),
    })
}

fn protobuf_form(pb: PbAttestation) -> Result<Evidence, String> {
    // The parsed TEE messages are not rebuilt into the signed bytes (see
    // `cloud.rs`): they are named as not verified rather than dropped unsaid.
    let mut unverified = Vec::new();
    if pb.sev_snp_attestation.is_some() {
        unverified.push("sev_snp_attestation");
    }
    if pb.tdx_attestation.is_some() {
        unverified.push("tdx_attestation");
    }
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
        tee: None,
        cel: (!pb.canonical_event_log.is_empty())
            .then_some(CelPart {
                field: "canonical_event_log",
                bytes: pb.canonical_event_log,
            })
            .into_iter()
            .collect(),
        unverified,
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
        tee: None,
        cel: Vec::new(),
        unverified: Vec::new(),
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
        tee: None,
        cel: Vec::new(),
        unverified: Vec::new(),
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
        tee: None,
        cel: Vec::new(),
        unverified: Vec::new(),
    })
}

/// Reads TPM evidence in any of the forms above into one shape.
pub fn read(req: &Inputs<'_>) -> Result<Evidence, String> {
    if is_attest(req.evidence) {
        return tpm2_tools_form(req);
    }
    if let Some(m) = json_object(req.evidence) {
        if is_guest_components(&m) {
            return guest_components_form(&m);
        }
        if is_trustee(&m) {
            return trustee_form(&m);
        }
        if is_go_attestation(&m) {
            return go_attestation_form(&Value::Object(m));
        }
        let v = Value::Object(m);
        if let Some(shape) = crate::cloud::shape(&v) {
            return crate::cloud::read(&v, shape);
        }
        return Err(
            "JSON evidence is none of the TPM forms: guest-components' {tpm_quote, ak_public}, Trustee's older {ak_pubkey, quote}, a go-attestation dump {AK, Quote}, a Google Cloud Attestation request {tpmAttestation}, Confidential Space launcher evidence {quote.tpmQuote} or go-tpm-tools attestation JSON {akPub, quotes}".into(),
        );
    }
    match decode_protobuf(req.evidence) {
        Some(pb) => protobuf_form(pb),
        None => Err(
            "not TPM evidence: expected a TPMS_ATTEST (tpm2_quote -m), a go-tpm-tools Attestation \
             protobuf or its JSON, Trustee TPM evidence JSON, a go-attestation JSON dump, a Google \
             Cloud Attestation request or Confidential Space launcher evidence"
                .into(),
        ),
    }
}
