//! The forms SEV-SNP evidence arrives in, all reduced to one report plus the
//! certificates that came with it:
//!
//! - the raw 1184-byte report (`/dev/sev-guest`, configfs-tsm `outblob`);
//! - hex text of it (whitespace and a `0x` prefix allowed);
//! - an extended report: the report followed by its certificate table;
//! - the configfs-tsm capture as CBOR or JSON: a map with `outblob`, optional
//!   `auxblob` (the certificate table) and `provider` (`sev_guest`). JSON
//!   carries the blobs in base64 (URL-safe or standard, padded or not);
//! - guest-components' JSON (`{"attestation_report", "cert_chain"}`, the
//!   `sev` crate's serde form), rebuilt into the report bytes by
//!   [`crate::guest_json`].

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use crate::certtable::{self, CertEntry, CertGuid};
use crate::error::{Error, Result};
use crate::report::{REPORT_LEN, Report};

/// Largest evidence accepted in any form (a report plus a generous
/// certificate table); anything longer is refused before decoding.
pub const MAX_EVIDENCE_LEN: usize = 1 << 20;

/// Decoded evidence: the report and the certificate table, if any.
#[derive(Clone, Debug)]
pub struct Evidence {
    /// The report, parsed, keeping its bytes.
    pub report: Report,
    /// Certificates that came with it (extended report / auxblob).
    pub cert_table: Vec<CertEntry>,
}

/// Evidence with its wrapper removed, before the report and certificate
/// table are parsed: what detection decodes, kept so that the verifier and
/// a collateral source read the report without decoding the wrapper again
/// ([`Evidence::from_raw`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raw {
    /// The report bytes, unchecked (their length too).
    pub report: Vec<u8>,
    /// The certificate table's bytes (extended report, auxblob).
    pub table: Option<Vec<u8>>,
    /// Certificates that arrived already split (guest-components JSON).
    pub entries: Vec<CertEntry>,
}

impl Raw {
    /// Removes the wrapper of any supported form; the report is not
    /// validated, so that a report failing a strict check can still be
    /// explained by its claims.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        split(bytes, 0)
    }

    /// True when the report has SIGNATURE_ALGO 1 and a plausible version
    /// and the table starts with a known GUID: what [`sniff`] asks of
    /// evidence (validity is judged later, with a precise error).
    pub fn is_plausible(&self) -> bool {
        let word = |at: usize| -> Option<u32> {
            let b = self.report.get(at..at + 4)?;
            Some(u32::from_le_bytes([
                b.first().copied()?,
                *b.get(1)?,
                *b.get(2)?,
                *b.get(3)?,
            ]))
        };
        let plausible = self.report.len() == REPORT_LEN
            && word(0).is_some_and(|v| (1..=15).contains(&v))
            && word(0x34) == Some(1);
        let table_ok = match &self.table {
            None => true,
            Some(t) => {
                t.get(0..16).is_some_and(|g| {
                    [CertGuid::VCEK, CertGuid::VLEK, CertGuid::ASK, CertGuid::ARK]
                        .iter()
                        .any(|k| k.0 == g)
                }) || t.iter().all(|b| *b == 0)
            }
        };
        plausible && table_ok
    }
}

/// The parts before parsing.
type Parts = Raw;

impl Evidence {
    /// Decodes any supported form.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::from_raw(&split(bytes, 0)?)
    }

    /// Parses the report and certificate table of evidence whose wrapper
    /// [`Raw::decode`] removed.
    pub fn from_raw(raw: &Raw) -> Result<Self> {
        let report = Report::parse(&raw.report)?;
        let cert_table = match &raw.table {
            Some(t) => certtable::parse(t)?,
            None => raw.entries.clone(),
        };
        Ok(Self { report, cert_table })
    }
}

/// Decodes only the wrapper and returns the report bytes without validating
/// them, so that a caller can still print claims of a report that fails a
/// strict check. Used by [`sniff`].
fn split(bytes: &[u8], depth: u8) -> Result<Parts> {
    if bytes.len() > MAX_EVIDENCE_LEN {
        return Err(Error::Evidence(format!(
            "{} bytes is more than the {MAX_EVIDENCE_LEN} accepted",
            bytes.len()
        )));
    }
    if bytes.len() == REPORT_LEN {
        return Ok(Parts {
            report: bytes.to_vec(),
            table: None,
            entries: Vec::new(),
        });
    }
    match bytes.first() {
        Some(0xa0..=0xbf) => return cbor(bytes),
        Some(b'{') => return json(bytes),
        _ => {}
    }
    if depth == 0
        && let Some(decoded) = hex_text(bytes)
    {
        return split(&decoded, 1);
    }
    if bytes.len() > REPORT_LEN {
        let (report, table) = bytes.split_at(REPORT_LEN);
        return Ok(Parts {
            report: report.to_vec(),
            table: Some(table.to_vec()),
            entries: Vec::new(),
        });
    }
    Err(Error::Evidence(format!(
        "{} bytes is neither a {REPORT_LEN}-byte report, its hex text, an extended report nor a configfs-tsm CBOR/JSON capture",
        bytes.len()
    )))
}

fn hex_text(bytes: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let compact: String = t.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() || !compact.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    hex::decode(compact).ok()
}

fn check_provider(provider: Option<&str>) -> Result<()> {
    match provider.map(str::trim) {
        None | Some("sev_guest") => Ok(()),
        Some(other) => Err(Error::Unsupported {
            field: "configfs-tsm provider",
            value: format!("{other:?} (expected sev_guest)"),
        }),
    }
}

fn cbor(bytes: &[u8]) -> Result<Parts> {
    use ciborium::value::Value;
    // `from_reader` stops after the first data item: read from a cursor and
    // refuse anything after it (the negative suite found appended bytes
    // ignored rather than refused; no signature covers them, but evidence is
    // one CBOR item and nothing else).
    let mut cursor = std::io::Cursor::new(bytes);
    let v: Value = ciborium::de::from_reader(&mut cursor)
        .map_err(|e| Error::Evidence(format!("CBOR: {e}")))?;
    let used = usize::try_from(cursor.position()).unwrap_or(usize::MAX);
    if used < bytes.len() {
        return Err(Error::Evidence(format!(
            "CBOR evidence: {} bytes after the configfs-tsm map",
            bytes.len() - used
        )));
    }
    let Value::Map(entries) = v else {
        return Err(Error::Evidence("CBOR evidence is not a map".into()));
    };
    let mut outblob = None;
    let mut auxblob = None;
    let mut provider = None;
    for (k, v) in entries {
        let Value::Text(k) = k else { continue };
        match (k.as_str(), v) {
            ("outblob", Value::Bytes(b)) => outblob = Some(b),
            ("auxblob", Value::Bytes(b)) => auxblob = Some(b),
            ("provider", Value::Text(t)) => provider = Some(t),
            ("outblob" | "auxblob" | "provider", _) => {
                return Err(Error::Evidence(format!(
                    "CBOR field {k} has the wrong type"
                )));
            }
            _ => {}
        }
    }
    check_provider(provider.as_deref())?;
    let report = outblob.ok_or_else(|| Error::Evidence("CBOR map has no outblob".into()))?;
    Ok(Parts {
        report,
        table: auxblob.filter(|a| !a.is_empty()),
        entries: Vec::new(),
    })
}

fn b64(field: &str, s: &str) -> Result<Vec<u8>> {
    let s = s.trim();
    [URL_SAFE_NO_PAD, URL_SAFE, STANDARD, STANDARD_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
        .ok_or_else(|| Error::Evidence(format!("JSON field {field} is not base64")))
}

fn json(bytes: &[u8]) -> Result<Parts> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Error::Evidence(format!("JSON: {e}")))?;
    if crate::guest_json::is_guest_components_json(&v) {
        let g = crate::guest_json::decode(&v)?;
        // The key certificates by their sev names; CRL, Empty and unknown
        // entries are not used to build a chain.
        let entries = g
            .certs
            .into_iter()
            .filter_map(|(name, bytes)| {
                let guid = match name.as_str() {
                    "VCEK" => CertGuid::VCEK,
                    "VLEK" => CertGuid::VLEK,
                    "ASK" => CertGuid::ASK,
                    "ARK" => CertGuid::ARK,
                    _ => return None,
                };
                Some(CertEntry { guid, bytes })
            })
            .collect();
        return Ok(Parts {
            report: g.report,
            table: None,
            entries,
        });
    }
    let obj = v
        .as_object()
        .ok_or_else(|| Error::Evidence("JSON evidence is not an object".into()))?;
    let text = |k: &str| -> Result<Option<&str>> {
        match obj.get(k) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Error::Evidence(format!("JSON field {k} is not a string"))),
        }
    };
    check_provider(text("provider")?)?;
    let report =
        text("outblob")?.ok_or_else(|| Error::Evidence("JSON object has no outblob".into()))?;
    let report = b64("outblob", report)?;
    let table = text("auxblob")?
        .map(|a| b64("auxblob", a))
        .transpose()?
        .filter(|a| !a.is_empty());
    Ok(Parts {
        report,
        table,
        entries: Vec::new(),
    })
}

/// True when `bytes` look like SEV-SNP evidence in any supported form: the
/// wrapper decodes and the report has SIGNATURE_ALGO 1 and a plausible
/// version (validity is judged later, with a precise error).
pub fn sniff(bytes: &[u8]) -> bool {
    split(bytes, 0).is_ok_and(|r| r.is_plausible())
}
