//! The evidence JSON Confidential Containers' attesters send to a KBS, in
//! every version Trustee's verifier accepts (`deps/verifier/src/az_snp_vtpm/
//! compat.rs` and `az_tdx_vtpm/compat.rs`):
//!
//! - v2 and v1, `{"version", "tpm_quote": {"signature", "message", "pcrs"},
//!   "hcl_report", "vcek" | "td_quote"}`: the quote's parts in hex, the
//!   HCL report, VCEK (DER) and TD quote in URL-safe base64 (padded by the
//!   attester; decoding is indifferent to padding, as serde_with's is).
//!   v2 adds the KBS report data to the runtime data's `user-data`.
//! - v0, no version: SNP `{"quote", "report", "vcek"}` with the quote's parts
//!   and the report as JSON byte arrays and the VCEK as PEM; TDX
//!   `{"tpm_quote", "hcl_report", "td_quote"}`, all byte arrays.
//!
//! Any other version is rejected, never read as the newest one.

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};

use crate::AzureKind;
use crate::error::{Error, Result};
use crate::vtpm::TpmQuote;

/// Largest evidence accepted (a v0 TDX evidence with its byte arrays is
/// about 30 KiB).
pub const MAX_EVIDENCE_LEN: usize = 1 << 20;
/// base64url, padded or not: the evidence's and the runtime data's JWK.
pub(crate) const B64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Azure evidence, decoded from its JSON form but not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// SNP or TDX.
    pub kind: AzureKind,
    /// 0, 1 or 2.
    pub version: u32,
    /// The HCL report bytes.
    pub hcl_report: Vec<u8>,
    /// The vTPM quote.
    pub tpm_quote: TpmQuote,
    /// SNP: the VCEK, DER.
    pub vcek: Option<Vec<u8>>,
    /// TDX: the TD quote.
    pub td_quote: Option<Vec<u8>>,
}

fn has(m: &Map<String, Value>, k: &str) -> bool {
    m.get(k).is_some_and(|v| !v.is_null())
}

/// Tells which Azure evidence a JSON value is, by its fields; `None` when it
/// is not Azure evidence. Validity is judged later, with a precise error.
pub fn detect(v: &Value) -> Option<AzureKind> {
    let m = v.as_object()?;
    if has(m, "td_quote") && has(m, "hcl_report") && has(m, "tpm_quote") {
        return Some(AzureKind::Tdx);
    }
    let current = has(m, "hcl_report") && has(m, "tpm_quote");
    let v0 = has(m, "report") && has(m, "quote");
    (has(m, "vcek") && (current || v0)).then_some(AzureKind::Snp)
}

fn get<'a>(m: &'a Map<String, Value>, field: &str) -> Result<&'a Value> {
    m.get(field)
        .ok_or_else(|| Error::evidence(field, "missing"))
}

fn b64(m: &Map<String, Value>, field: &str) -> Result<Vec<u8>> {
    let s = get(m, field)?
        .as_str()
        .ok_or_else(|| Error::evidence(field, "not a string"))?;
    B64URL
        .decode(s)
        .map_err(|e| Error::evidence(field, format!("not url-safe base64: {e}")))
}

fn hex_str(v: &Value, field: &str) -> Result<Vec<u8>> {
    let s = v
        .as_str()
        .ok_or_else(|| Error::evidence(field, "not a string"))?;
    hex::decode(s).map_err(|e| Error::evidence(field, format!("not hex: {e}")))
}

fn byte_array(v: &Value, field: &str) -> Result<Vec<u8>> {
    let a = v
        .as_array()
        .ok_or_else(|| Error::evidence(field, "not an array of bytes"))?;
    a.iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| Error::evidence(format!("{field}[{i}]"), "not a byte (0 to 255)"))
        })
        .collect()
}

fn pcr_list(
    q: &Map<String, Value>,
    field: &str,
    one: impl Fn(&Value, &str) -> Result<Vec<u8>>,
) -> Result<Vec<Vec<u8>>> {
    let a = get(q, "pcrs")
        .map_err(|_| Error::evidence(format!("{field}.pcrs"), "missing"))?
        .as_array()
        .ok_or_else(|| Error::evidence(format!("{field}.pcrs"), "not an array"))?;
    if a.len() > crate::vtpm::MAX_PCRS {
        return Err(Error::evidence(
            format!("{field}.pcrs"),
            format!("{} values; a tpm has 24 pcrs", a.len()),
        ));
    }
    a.iter()
        .enumerate()
        .map(|(i, v)| one(v, &format!("{field}.pcrs[{i}]")))
        .collect()
}

/// The quote's three parts, each decoded by `one` (hex or byte array).
fn quote(
    m: &Map<String, Value>,
    field: &str,
    one: impl Fn(&Value, &str) -> Result<Vec<u8>> + Copy,
) -> Result<TpmQuote> {
    let q = get(m, field)?
        .as_object()
        .ok_or_else(|| Error::evidence(field, "not an object"))?;
    let part = |k: &str| -> Result<Vec<u8>> {
        let name = format!("{field}.{k}");
        let v = q.get(k).ok_or_else(|| Error::evidence(&name, "missing"))?;
        one(v, &name)
    };
    Ok(TpmQuote {
        signature: part("signature")?,
        message: part("message")?,
        pcrs: pcr_list(q, field, one)?,
    })
}

fn pem_certificate(field: &str, text: &str) -> Result<Vec<u8>> {
    let (rest, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes())
        .map_err(|e| Error::evidence(field, format!("not a PEM certificate: {e}")))?;
    if pem.label != "CERTIFICATE" {
        return Err(Error::evidence(
            field,
            format!("PEM block {:?}, expected CERTIFICATE", pem.label),
        ));
    }
    if !rest.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::evidence(field, "more than one PEM block"));
    }
    Ok(pem.contents)
}

impl Evidence {
    /// Decodes evidence bytes (the JSON an attester sends).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_EVIDENCE_LEN {
            return Err(Error::evidence(
                "evidence",
                format!("{} bytes, at most {MAX_EVIDENCE_LEN} accepted", bytes.len()),
            ));
        }
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::evidence("evidence", format!("not JSON: {e}")))?;
        Self::from_value(&v)
    }

    /// Decodes evidence already parsed as JSON (a KBS `tee-evidence` value).
    pub fn from_value(v: &Value) -> Result<Self> {
        let m = v
            .as_object()
            .ok_or_else(|| Error::evidence("evidence", "not a JSON object"))?;
        let kind = detect(v).ok_or_else(|| {
            Error::evidence(
                "evidence",
                "neither azure snp (hcl_report, tpm_quote, vcek) nor azure tdx (hcl_report, tpm_quote, td_quote) evidence, nor an maa request ({AttestationInfo}, {TpmInfo, IsolationInfo}, {report | quote, runtimeData})",
            )
        })?;
        if has(m, "vcek") && has(m, "td_quote") {
            return Err(Error::evidence(
                "evidence",
                "carries both vcek (snp) and td_quote (tdx)",
            ));
        }
        let version = match m.get("version") {
            None | Some(Value::Null) => 0,
            Some(v) => {
                let n = v
                    .as_u64()
                    .ok_or_else(|| Error::evidence("version", "not an unsigned integer"))?;
                match u32::try_from(n) {
                    Ok(n @ (1 | 2)) => n,
                    _ => {
                        return Err(Error::Unsupported {
                            field: "evidence version",
                            value: format!("{n} (known: 1, 2, or none for v0)"),
                        });
                    }
                }
            }
        };
        Ok(match (kind, version) {
            (AzureKind::Snp, 0) => Self {
                kind,
                version,
                hcl_report: byte_array(get(m, "report")?, "report")?,
                tpm_quote: quote(m, "quote", byte_array)?,
                vcek: Some(pem_certificate(
                    "vcek",
                    get(m, "vcek")?
                        .as_str()
                        .ok_or_else(|| Error::evidence("vcek", "not a string"))?,
                )?),
                td_quote: None,
            },
            (AzureKind::Tdx, 0) => Self {
                kind,
                version,
                hcl_report: byte_array(get(m, "hcl_report")?, "hcl_report")?,
                tpm_quote: quote(m, "tpm_quote", byte_array)?,
                vcek: None,
                td_quote: Some(byte_array(get(m, "td_quote")?, "td_quote")?),
            },
            (AzureKind::Snp, _) => Self {
                kind,
                version,
                hcl_report: b64(m, "hcl_report")?,
                tpm_quote: quote(m, "tpm_quote", hex_str)?,
                vcek: Some(b64(m, "vcek")?),
                td_quote: None,
            },
            (AzureKind::Tdx, _) => Self {
                kind,
                version,
                hcl_report: b64(m, "hcl_report")?,
                tpm_quote: quote(m, "tpm_quote", hex_str)?,
                vcek: None,
                td_quote: Some(b64(m, "td_quote")?),
            },
        })
    }
}
