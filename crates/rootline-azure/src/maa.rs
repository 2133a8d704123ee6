//! The request bodies Azure's own tooling sends to Microsoft Azure
//! Attestation (MAA) from a confidential VM, read as evidence: people have
//! them printed by `attest` (Azure/cvm-attestation-tools) or
//! `azure-guest-attest --show-request` (Azure/azure-guest-attestation-sdk),
//! or logged from the C++ guest attestation library.
//!
//! - **Platform** (`AttestSevSnpVm`, `AttestTdxVm`): SNP `{"report":
//!   b64(JSON {"SnpReport": b64(report), "VcekCertChain": b64(PEM)}),
//!   "runtimeData": {"data": b64(runtime JSON), "dataType": "JSON"}}`; TDX
//!   `{"quote": b64(TD quote), "runtimeData": {..}}`. No vTPM quote.
//! - **AzureGuest** (`AttestAzureGuest`): `{"AttestationInfo": b64(inner)}`
//!   (any case of the key) or the inner JSON itself, also after the
//!   `Request JSON:` line the Rust CLI prints: `TpmInfo` (`AikPub`
//!   TPM2B_PUBLIC, `PcrQuote` TPMS_ATTEST, `PcrSignature` TPMT_SIGNATURE,
//!   `PCRs` `[{Index, Digest}]`) and `IsolationInfo` (`Type` `SevSnp` or
//!   `Tdx`, `Evidence {Proof, RunTimeData}`; the SNP `Proof` is the same
//!   JSON as the platform request's `report`, the TDX one the TD quote).
//!
//! Producers differ in encoding (the C++ library writes standard base64,
//! the Python and Rust tools URL-safe without padding), so every base64
//! field is read in either alphabet, padded or not; the JSON a field wraps
//! may also be given as it is. Keys are matched in any case (the REST
//! examples spell `attestationInfo`). The runtime data is kept as the exact
//! bytes received: the hardware report binds their SHA-256.
//!
//! `IsolationInfo.Type` `TrustedLaunch` (no TEE, no hardware report) and
//! the SGX requests that share `quote`/`report` + `runtimeData` are not this
//! crate's: detection passes them by, and decoding names why.

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};

use crate::AzureKind;
use crate::error::{Error, Result};
use crate::evidence::{B64URL, MAX_EVIDENCE_LEN};

/// Standard base64, padded or not.
const B64STD: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The line `azure-guest-attest --show-request` prints before the JSON.
pub const REQUEST_BANNER: &[u8] = b"Request JSON:";

/// Most certificates accepted in `VcekCertChain` (VCEK, ASK, ARK: three).
pub const MAX_CHAIN: usize = 8;
/// Most PCR values accepted in `TpmInfo.PCRs` (24 per bank, a few banks).
pub const MAX_LISTED_PCRS: usize = 96;

/// Which MAA request the evidence is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MaaForm {
    /// `AttestSevSnpVm` / `AttestTdxVm`: the hardware report and the runtime
    /// data, no vTPM quote.
    Platform,
    /// `AttestAzureGuest`: the hardware report, the runtime data and the
    /// vTPM quote.
    AzureGuest,
}

impl MaaForm {
    /// The name in claims (`evidence_form`) and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Platform => "maa-platform",
            Self::AzureGuest => "maa-azure-guest",
        }
    }
}

impl std::fmt::Display for MaaForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The vTPM part of an AzureGuest request (`TpmInfo`, `TcgLogs`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestTpm {
    /// `AikPub`: TPM2B_PUBLIC of the attestation key.
    pub aik_pub: Vec<u8>,
    /// `PcrQuote`: TPMS_ATTEST, as received.
    pub quote: Vec<u8>,
    /// `PcrSignature`: TPMT_SIGNATURE over `quote`.
    pub signature: Vec<u8>,
    /// `PCRs`: index and digest, as listed.
    pub pcrs: Vec<(u32, Vec<u8>)>,
    /// `TcgLogs`: the TCG event log, when present (replayed against the
    /// quote's PCRs by the verifier).
    pub tcg_logs: Option<Vec<u8>>,
}

/// An MAA request, decoded but not verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaaEvidence {
    /// SNP or TDX.
    pub kind: AzureKind,
    /// Platform or AzureGuest.
    pub form: MaaForm,
    /// SNP: the raw attestation report.
    pub snp_report: Option<Vec<u8>>,
    /// SNP: `VcekCertChain`, DER, the VCEK first.
    pub vcek_chain: Vec<Vec<u8>>,
    /// TDX: the TD quote.
    pub td_quote: Option<Vec<u8>>,
    /// The runtime-data JSON, the exact bytes received.
    pub runtime_data: Vec<u8>,
    /// AzureGuest: the vTPM quote and its key.
    pub tpm: Option<GuestTpm>,
}

/// The member `key` of `m`, its exact spelling first, then in any case.
fn get_ci<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key)
        .or_else(|| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

fn need<'a>(m: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a Value> {
    get_ci(m, key).ok_or_else(|| Error::evidence(path, "missing"))
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| Error::evidence(path, "not a JSON object"))
}

/// Base64 in either alphabet, padded or not, white space ignored.
pub fn b64_any(s: &str) -> std::result::Result<Vec<u8>, String> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let url = compact.contains(['-', '_']);
    let r = if url {
        B64URL.decode(&compact)
    } else {
        B64STD.decode(&compact)
    };
    r.map_err(|e| format!("not base64 (standard or url-safe): {e}"))
}

fn b64_field(v: &Value, path: &str) -> Result<Vec<u8>> {
    let s = v
        .as_str()
        .ok_or_else(|| Error::evidence(path, "not a base64 string"))?;
    b64_any(s).map_err(|e| Error::evidence(path, e))
}

/// A JSON object given as it is, as JSON text, or as base64 of JSON text.
fn wrapped_json(v: &Value, path: &str) -> Result<Map<String, Value>> {
    let text = match v {
        Value::Object(m) => return Ok(m.clone()),
        Value::String(s) if s.trim_start().starts_with('{') => s.as_bytes().to_vec(),
        Value::String(s) => b64_any(s).map_err(|e| Error::evidence(path, e))?,
        _ => return Err(Error::evidence(path, "neither a JSON object nor a string")),
    };
    match serde_json::from_slice(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::evidence(
            path,
            "decodes to JSON that is not an object",
        )),
        Err(e) => Err(Error::evidence(
            path,
            format!("does not decode to JSON: {e}"),
        )),
    }
}

/// The runtime data's bytes: base64 of the JSON, or the JSON text as a
/// string. An object is refused: its exact bytes, which the hardware report
/// binds, are lost once it is parsed.
fn runtime_bytes(v: &Value, path: &str) -> Result<Vec<u8>> {
    match v {
        Value::String(s) if s.trim_start().starts_with('{') => Ok(s.as_bytes().to_vec()),
        Value::String(s) => b64_any(s).map_err(|e| Error::evidence(path, e)),
        _ => Err(Error::evidence(
            path,
            "not a string: the runtime data must come as base64 (or JSON text), the exact bytes whose sha-256 the hardware report carries",
        )),
    }
}

/// The certificates of a PEM chain given as PEM text or base64 of it.
fn pem_chain(v: &Value, path: &str) -> Result<Vec<Vec<u8>>> {
    let s = v
        .as_str()
        .ok_or_else(|| Error::evidence(path, "not a string"))?;
    let pem = if s.trim_start().starts_with("-----BEGIN") {
        s.as_bytes().to_vec()
    } else {
        b64_any(s).map_err(|e| Error::evidence(path, e))?
    };
    if !pem.trim_ascii_start().starts_with(b"-----BEGIN") {
        return Err(Error::evidence(path, "not PEM certificates"));
    }
    let mut out = Vec::new();
    for (i, block) in x509_parser::pem::Pem::iter_from_buffer(&pem).enumerate() {
        let block =
            block.map_err(|e| Error::evidence(format!("{path}[{i}]"), format!("PEM: {e}")))?;
        if block.label != "CERTIFICATE" {
            return Err(Error::evidence(
                format!("{path}[{i}]"),
                format!("PEM block {:?}, expected CERTIFICATE", block.label),
            ));
        }
        if out.len() == MAX_CHAIN {
            return Err(Error::evidence(
                path,
                format!("more than {MAX_CHAIN} certificates"),
            ));
        }
        out.push(block.contents);
    }
    if out.is_empty() {
        return Err(Error::evidence(path, "no certificate"));
    }
    Ok(out)
}

/// The SNP proof: `{"SnpReport", "VcekCertChain"}`.
fn snp_proof(v: &Value, path: &str) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let m = wrapped_json(v, path)?;
    let report = b64_field(
        need(&m, "SnpReport", &format!("{path}.SnpReport"))?,
        &format!("{path}.SnpReport"),
    )?;
    let chain = pem_chain(
        need(&m, "VcekCertChain", &format!("{path}.VcekCertChain"))?,
        &format!("{path}.VcekCertChain"),
    )?;
    Ok((report, chain))
}

/// True for the first bytes of a TDX (v4, v5) DCAP quote.
fn is_td_quote(b: &[u8]) -> bool {
    let version = b
        .get(..2)
        .and_then(|v| <[u8; 2]>::try_from(v).ok())
        .map(u16::from_le_bytes);
    let tee = b
        .get(4..8)
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map(u32::from_le_bytes);
    matches!(version, Some(4 | 5)) && tee == Some(0x81)
}

/// The bytes with a leading `Request JSON:` line and white space removed.
pub fn strip_banner(bytes: &[u8]) -> &[u8] {
    let t = bytes.trim_ascii_start();
    t.strip_prefix(REQUEST_BANNER)
        .map_or(t, <[u8]>::trim_ascii_start)
}

/// The AzureGuest inner object of `v` (the outer wrapper decoded), when
/// `v` has the shape of one; errors name the field that does not decode.
fn guest_inner(v: &Value) -> Option<Result<Map<String, Value>>> {
    let m = v.as_object()?;
    if let Some(info) = get_ci(m, "AttestationInfo") {
        return Some(wrapped_json(info, "AttestationInfo"));
    }
    (get_ci(m, "TpmInfo").is_some() && get_ci(m, "IsolationInfo").is_some()).then(|| Ok(m.clone()))
}

/// True when `v` has the members of an MAA request (its fields may still
/// not decode). Guest-components' forms (`tpm_quote`, `hcl_report`,
/// `vcek`) are never taken for one.
pub fn is_maa(v: &Value) -> bool {
    let Some(m) = v.as_object() else { return false };
    if ["tpm_quote", "hcl_report", "vcek", "td_quote"]
        .iter()
        .any(|k| m.contains_key(*k))
    {
        return false;
    }
    get_ci(m, "AttestationInfo").is_some()
        || (get_ci(m, "TpmInfo").is_some() && get_ci(m, "IsolationInfo").is_some())
        || (get_ci(m, "runtimeData").is_some()
            && (get_ci(m, "report").is_some() || get_ci(m, "quote").is_some()))
}

/// Which Azure kind an MAA request is, by its content; `None` when it is
/// not one this crate verifies (not an MAA request, an SGX enclave's,
/// a trusted-launch VM's).
pub fn detect(v: &Value) -> Option<AzureKind> {
    if !is_maa(v) {
        return None;
    }
    if let Some(inner) = guest_inner(v) {
        let inner = inner.ok()?;
        let iso = get_ci(&inner, "IsolationInfo")?.as_object()?;
        return isolation_kind(get_ci(iso, "Type")?.as_str()?);
    }
    let m = v.as_object()?;
    if let Some(r) = get_ci(m, "report") {
        let inner = wrapped_json(r, "report").ok()?;
        return get_ci(&inner, "SnpReport").map(|_| AzureKind::Snp);
    }
    let q = b64_any(get_ci(m, "quote")?.as_str()?).ok()?;
    is_td_quote(&q).then_some(AzureKind::Tdx)
}

fn isolation_kind(t: &str) -> Option<AzureKind> {
    if t.eq_ignore_ascii_case("SevSnp") {
        Some(AzureKind::Snp)
    } else if t.eq_ignore_ascii_case("Tdx") {
        Some(AzureKind::Tdx)
    } else {
        None
    }
}

/// Bytes parsed as JSON after the optional `Request JSON:` line.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value> {
    if bytes.len() > MAX_EVIDENCE_LEN {
        return Err(Error::evidence(
            "evidence",
            format!("{} bytes, at most {MAX_EVIDENCE_LEN} accepted", bytes.len()),
        ));
    }
    serde_json::from_slice(strip_banner(bytes))
        .map_err(|e| Error::evidence("evidence", format!("not JSON: {e}")))
}

impl MaaEvidence {
    /// Decodes an MAA request's bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::from_value(&parse_json(bytes)?)
    }

    /// Decodes an MAA request already parsed as JSON.
    pub fn from_value(v: &Value) -> Result<Self> {
        if !is_maa(v) {
            return Err(Error::evidence(
                "evidence",
                "not an MAA request: neither {AttestationInfo} / {TpmInfo, IsolationInfo} (AzureGuest) nor {report | quote, runtimeData} (platform)",
            ));
        }
        match guest_inner(v) {
            Some(inner) => Self::guest(&inner?),
            None => Self::platform(object(v, "evidence")?),
        }
    }

    fn platform(m: &Map<String, Value>) -> Result<Self> {
        let rt = object(need(m, "runtimeData", "runtimeData")?, "runtimeData")?;
        if let Some(t) = get_ci(rt, "dataType") {
            if !t.as_str().is_some_and(|t| t.eq_ignore_ascii_case("JSON")) {
                return Err(Error::Unsupported {
                    field: "runtimeData.dataType",
                    value: format!("{t} (only \"JSON\", the paravisor's runtime data)"),
                });
            }
        }
        let runtime_data =
            runtime_bytes(need(rt, "data", "runtimeData.data")?, "runtimeData.data")?;
        let mut ev = Self {
            kind: AzureKind::Snp,
            form: MaaForm::Platform,
            snp_report: None,
            vcek_chain: Vec::new(),
            td_quote: None,
            runtime_data,
            tpm: None,
        };
        match (get_ci(m, "report"), get_ci(m, "quote")) {
            (Some(_), Some(_)) => {
                return Err(Error::evidence(
                    "evidence",
                    "carries both report (snp) and quote (tdx)",
                ));
            }
            (Some(r), None) => {
                let (report, chain) = snp_proof(r, "report")?;
                ev.snp_report = Some(report);
                ev.vcek_chain = chain;
            }
            (None, Some(q)) => {
                let quote = b64_field(q, "quote")?;
                if !is_td_quote(&quote) {
                    return Err(Error::Unsupported {
                        field: "quote",
                        value: "not a tdx quote (v4 or v5, tee type 0x81); an sgx enclave's maa request is not azure vm evidence".into(),
                    });
                }
                ev.kind = AzureKind::Tdx;
                ev.td_quote = Some(quote);
            }
            (None, None) => return Err(Error::evidence("report", "missing (or quote)")),
        }
        Ok(ev)
    }

    fn guest(m: &Map<String, Value>) -> Result<Self> {
        let iso = object(need(m, "IsolationInfo", "IsolationInfo")?, "IsolationInfo")?;
        let t = need(iso, "Type", "IsolationInfo.Type")?
            .as_str()
            .ok_or_else(|| Error::evidence("IsolationInfo.Type", "not a string"))?;
        let kind = isolation_kind(t).ok_or_else(|| Error::Unsupported {
            field: "IsolationInfo.Type",
            value: if t.eq_ignore_ascii_case("TrustedLaunch") {
                "TrustedLaunch: a trusted-launch VM has no TEE and no hardware report to root the vtpm in (only SevSnp and Tdx are verified)".into()
            } else {
                format!("{t:?} (known: SevSnp, Tdx)")
            },
        })?;
        let e = object(
            need(iso, "Evidence", "IsolationInfo.Evidence")?,
            "IsolationInfo.Evidence",
        )?;
        let proof = need(e, "Proof", "IsolationInfo.Evidence.Proof")?;
        let runtime_data = runtime_bytes(
            need(e, "RunTimeData", "IsolationInfo.Evidence.RunTimeData")?,
            "IsolationInfo.Evidence.RunTimeData",
        )?;
        let mut ev = Self {
            kind,
            form: MaaForm::AzureGuest,
            snp_report: None,
            vcek_chain: Vec::new(),
            td_quote: None,
            runtime_data,
            tpm: None,
        };
        match kind {
            AzureKind::Snp => {
                let (report, chain) = snp_proof(proof, "IsolationInfo.Evidence.Proof")?;
                ev.snp_report = Some(report);
                ev.vcek_chain = chain;
            }
            AzureKind::Tdx => {
                let path = "IsolationInfo.Evidence.Proof";
                let quote = b64_field(proof, path)?;
                if !is_td_quote(&quote) {
                    return Err(Error::evidence(path, "not a tdx quote (v4 or v5)"));
                }
                ev.td_quote = Some(quote);
            }
        }
        let tpm = object(need(m, "TpmInfo", "TpmInfo")?, "TpmInfo")?;
        let part = |k: &str| -> Result<Vec<u8>> {
            let path = format!("TpmInfo.{k}");
            b64_field(need(tpm, k, &path)?, &path)
        };
        let list = need(tpm, "PCRs", "TpmInfo.PCRs")?
            .as_array()
            .ok_or_else(|| Error::evidence("TpmInfo.PCRs", "not an array"))?;
        if list.len() > MAX_LISTED_PCRS {
            return Err(Error::evidence(
                "TpmInfo.PCRs",
                format!("{} values, at most {MAX_LISTED_PCRS} accepted", list.len()),
            ));
        }
        let pcrs = list
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let path = format!("TpmInfo.PCRs[{i}]");
                let p = object(p, &path)?;
                let index = need(p, "Index", &format!("{path}.Index"))?
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        Error::evidence(format!("{path}.Index"), "not an unsigned integer")
                    })?;
                let digest = b64_field(
                    need(p, "Digest", &format!("{path}.Digest"))?,
                    &format!("{path}.Digest"),
                )?;
                Ok((index, digest))
            })
            .collect::<Result<Vec<_>>>()?;
        // An empty `TcgLogs` is a producer with no log to send (the
        // clients read it from securityfs and may find nothing): the same
        // as none, which verify() reports as a warning, not a log of zero
        // events to replay.
        let tcg_logs = get_ci(m, "TcgLogs")
            .filter(|v| v.as_str() != Some(""))
            .map(|v| b64_field(v, "TcgLogs"))
            .transpose()?;
        ev.tpm = Some(GuestTpm {
            aik_pub: part("AikPub")?,
            quote: part("PcrQuote")?,
            signature: part("PcrSignature")?,
            pcrs,
            tcg_logs,
        });
        Ok(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64_in_both_alphabets_padded_or_not() {
        for s in ["+/8=", "+/8", "-_8=", "-_8", "+/8\n"] {
            assert_eq!(b64_any(s).unwrap(), vec![0xfb, 0xff], "{s}");
        }
        assert!(b64_any("+_8").is_err());
    }

    #[test]
    fn banner_is_stripped() {
        assert_eq!(strip_banner(b"Request JSON:\n {\"a\":1}"), b"{\"a\":1}");
        assert_eq!(strip_banner(b" {}"), b"{}");
    }

    #[test]
    fn trusted_launch_is_refused_with_a_reason() {
        let v = json!({"TpmInfo": {}, "IsolationInfo": {"Type": "TrustedLaunch"}});
        assert!(is_maa(&v));
        assert_eq!(detect(&v), None);
        let e = MaaEvidence::from_value(&v).unwrap_err();
        assert!(
            e.to_string().contains("trusted-launch VM has no TEE"),
            "{e}"
        );
    }

    #[test]
    fn sgx_quote_is_not_azure() {
        let mut q = vec![3u8, 0, 2, 0, 0, 0, 0, 0];
        q.resize(64, 0);
        let v =
            json!({"quote": B64STD.encode(&q), "runtimeData": {"data": "e30", "dataType": "JSON"}});
        assert_eq!(detect(&v), None);
        assert!(matches!(
            MaaEvidence::from_value(&v),
            Err(Error::Unsupported { field: "quote", .. })
        ));
    }

    #[test]
    fn guest_components_forms_are_not_maa() {
        let v = json!({"report": [1], "quote": {}, "vcek": "x", "runtimeData": {}});
        assert!(!is_maa(&v));
    }

    #[test]
    fn missing_fields_are_named() {
        let v = json!({"report": {"SnpReport": "AAAA"}, "runtimeData": {"data": "e30"}});
        let e = MaaEvidence::from_value(&v).unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed evidence: report.VcekCertChain: missing"
        );
        let v = json!({"AttestationInfo": "e30"});
        let e = MaaEvidence::from_value(&v).unwrap_err();
        assert_eq!(e.to_string(), "malformed evidence: IsolationInfo: missing");
    }
}
