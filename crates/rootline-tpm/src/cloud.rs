//! The JSON shapes Google Cloud's tooling prints for a vTPM attestation,
//! brought to the one [`Evidence`] shape.
//!
//! GCP's own command-line tools print no JSON (`gotpm attest` writes a
//! binary or text protobuf, read in `evidence.rs`); JSON appears only as
//! protojson of three messages:
//! - the Confidential Computing REST `VerifyAttestation` body
//!   (`google/cloud/confidentialcomputing/v1/service.proto`):
//!   `tpmAttestation{quotes[{hashAlgo, pcrValues, rawQuote, rawSignature}],
//!   tcgEventLog, canonicalEventLog, akCert, certChain}`, optional
//!   `sevSnpAttestation{report, auxBlob}` and `tdCcel{ccelAcpiTable,
//!   ccelData, canonicalEventLog, tdQuote}`. It carries no AK public area:
//!   the AK is the key of `akCert`;
//! - the Confidential Space launcher's `/v1/evidence` (`VmAttestation`):
//!   `quote.tpmQuote{quotes[{hashAlgorithm, pcrValues, tpmsAttest,
//!   tpmtSignature}], pcclientBootEventLog, endorsement.akCertEndorsement
//!   {akCert, akCertChain}}` and `quote.tdxCcelQuote{ccelBootEventLog,
//!   tdQuote}`;
//! - protojson of go-tpm-tools' `attest.Attestation` (third parties, such as
//!   Constellation, which also wraps it in `{"Attestation": ...}`): `akPub`,
//!   `quotes[{quote, rawSig, pcrs{hash, pcrs}}]`, `eventLog`, `akCert`,
//!   `intermediateCerts`.
//!
//! protojson accepts both the JSON (camelCase) and the proto (snake_case)
//! field names, and decoders accept standard and URL-safe base64, padded or
//! not: so does this reader. Enum fields may be numbers or names.
//!
//! The SEV-SNP report or TD quote these carry is handed on raw
//! ([`TeePart`]); its verifier is the SNP or DCAP code. On GCP nothing
//! binds the vTPM's AK to that report: go-tpm-tools fills the report's
//! REPORT_DATA with the attestation nonce (zero-filled to 64 bytes) unless
//! the caller chose another `TEENonce`, so the nonce is the only link.
//!
//! The canonical event logs (`canonicalEventLog`, `celLaunchEventLog`)
//! are handed on raw too ([`CelPart`], with the field that held them): the
//! verifier parses them with `rootline_eventlog::cel` and replays them into
//! the quoted PCR or the TD quote's RTMR.
//!
//! Not rebuilt: the parsed `sevSnpAttestation`/`tdxAttestation` messages of
//! `attest.Attestation` (go-sev-guest's `Report` and go-tdx-guest's
//! `QuoteV4` as structured fields). The signature covers the raw bytes, and
//! rebuilding them from fields would verify only if every reserved byte
//! came back exactly; the reader refuses them, naming the field, and asks
//! for the raw report (the REST body's `sevSnpAttestation.report`).

use std::collections::BTreeSet;

use base64::Engine as _;
use rootline_core::HashAlg;
use serde_json::Value;

use crate::evidence::{AkSource, CelPart, Evidence, QuoteItem, TeePart};
use crate::{AkPublic, Attest, PcrValues, TpmtPublic, TpmtSignature};

/// Which of the three shapes a JSON object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The REST `VerifyAttestation` body.
    Rest,
    /// The launcher's `/v1/evidence`.
    Launcher,
    /// protojson of `attest.Attestation`.
    Attestation,
}

/// The value of a field by its JSON (camelCase) name or its proto
/// (snake_case) name, as protojson parsers accept either.
fn field<'a>(m: &'a Value, camel: &str) -> Option<&'a Value> {
    let obj = m.as_object()?;
    if let Some(v) = obj.get(camel) {
        return Some(v).filter(|v| !v.is_null());
    }
    let mut snake = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            snake.push('_');
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    obj.get(&snake).filter(|v| !v.is_null())
}

/// A path of fields, each by either name.
fn path<'a>(m: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names.iter().try_fold(m, |v, n| field(v, n))
}

/// protojson bytes: standard or URL-safe base64, padded or not.
fn bytes(v: &Value, name: &str) -> Result<Vec<u8>, String> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let s = v
        .as_str()
        .ok_or_else(|| format!("{name} is not a base64 string"))?;
    let t = s.trim().trim_end_matches('=');
    let url = t.contains(['-', '_']);
    let engine = if url {
        &URL_SAFE_NO_PAD
    } else {
        &STANDARD_NO_PAD
    };
    engine
        .decode(t)
        .map_err(|e| format!("{name} is not base64: {e}"))
}

/// An optional bytes field; an empty string counts as absent (protojson
/// omits empty bytes, but writers that do not are seen).
fn opt_bytes(m: &Value, camel: &str, name: &str) -> Result<Option<Vec<u8>>, String> {
    match field(m, camel) {
        None => Ok(None),
        Some(v) => bytes(v, name).map(|b| (!b.is_empty()).then_some(b)),
    }
}

/// A required bytes field.
fn req_bytes(m: &Value, camel: &str, name: &str) -> Result<Vec<u8>, String> {
    opt_bytes(m, camel, name)?.ok_or_else(|| format!("{name} is missing"))
}

/// A list of bytes.
fn bytes_list(m: &Value, camel: &str, name: &str) -> Result<Vec<Vec<u8>>, String> {
    match field(m, camel) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| bytes(v, &format!("{name}[{i}]")))
            .collect(),
        Some(_) => Err(format!("{name} is not a list")),
    }
}

/// A `HashAlgo` enum: its number (a TPM_ALG_ID: SHA1 4, SHA256 11, SHA384
/// 12, SHA512 13) or its name.
fn hash_algo(v: &Value, name: &str) -> Result<HashAlg, String> {
    let alg = match v {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()).map(HashAlg),
        // protojson parsers take integers as strings too.
        Value::String(s) => HashAlg::from_name(s).or_else(|| s.parse().ok().map(HashAlg)),
        _ => None,
    };
    match alg {
        Some(a) if a.digest_len().is_some() && a != HashAlg::SM3_256 => Ok(a),
        _ => Err(format!(
            "{name} {v} is not a PCR bank (SHA1 4, SHA256 11, SHA384 12, SHA512 13)"
        )),
    }
}

fn quotes_of<'a>(m: &'a Value, name: &str) -> Option<&'a Vec<Value>> {
    field(m, name).and_then(Value::as_array)
}

fn any_quote_has(m: &Value, list: &str, member: &str) -> bool {
    quotes_of(m, list).is_some_and(|qs| qs.iter().any(|q| field(q, member).is_some()))
}

/// The `attest.Attestation` object, bare or in Constellation's wrapper.
fn attestation_object(v: &Value) -> Option<&Value> {
    let is = |a: &Value| field(a, "akPub").is_some() && any_quote_has(a, "quotes", "rawSig");
    if is(v) {
        return Some(v);
    }
    v.get("Attestation").filter(|a| is(a))
}

/// Which shape `v` is, if any.
pub(crate) fn shape(v: &Value) -> Option<Shape> {
    if !v.is_object() {
        return None;
    }
    let rest_tpm =
        field(v, "tpmAttestation").is_some_and(|t| any_quote_has(t, "quotes", "rawQuote"));
    // A body without its TPM part is still this shape (and refused by name).
    let rest_snp = field(v, "challenge").is_some()
        && field(v, "sevSnpAttestation")
            .is_some_and(|s| field(s, "report").is_some_and(Value::is_string));
    let rest_tdx = field(v, "tdCcel").is_some_and(|t| field(t, "tdQuote").is_some());
    if rest_tpm || rest_snp || rest_tdx {
        return Some(Shape::Rest);
    }
    let quote = field(v, "quote");
    if quote.is_some_and(|q| {
        field(q, "tpmQuote").is_some_and(|t| any_quote_has(t, "quotes", "tpmsAttest"))
            || field(q, "tdxCcelQuote").is_some_and(|t| field(t, "tdQuote").is_some())
    }) {
        return Some(Shape::Launcher);
    }
    attestation_object(v).map(|_| Shape::Attestation)
}

/// Names the fields of one quote message.
struct QuoteNames {
    list: &'static str,
    hash: &'static str,
    values: &'static str,
    attest: &'static str,
    signature: &'static str,
}

/// One bank's values as the quote's selection lists them: every index the
/// quote selects in `bank` and no other (a map that names other PCRs could
/// otherwise present values the signed digest does not cover).
fn pcr_map(map: &Value, bank: HashAlg, attest: &[u8], name: &str) -> Result<PcrValues, String> {
    let obj = map
        .as_object()
        .ok_or_else(|| format!("{name} is not a map of PCR index to base64"))?;
    let mut values = PcrValues::new();
    let mut given = BTreeSet::new();
    for (k, v) in obj {
        let index: u8 = k
            .parse()
            .ok()
            .filter(|i| *i < 24)
            .ok_or_else(|| format!("{name}: {k:?} is not a PCR index"))?;
        let value = bytes(v, &format!("{name}.{k}"))?;
        values
            .insert(bank, index, value)
            .map_err(|e| format!("{name}.{k}: {e}"))?;
        given.insert(index);
    }
    // A quote that does not parse is rejected by verification, by name.
    if let Some(selection) = Attest::parse(attest)
        .ok()
        .as_ref()
        .and_then(|a| a.quote_info().map(|(s, _)| s.clone()))
    {
        let selected: BTreeSet<u8> = selection
            .pairs()
            .into_iter()
            .filter(|(b, _)| *b == bank)
            .map(|(_, i)| i)
            .collect();
        let other_banks = selection.pairs().iter().any(|(b, _)| *b != bank);
        if given != selected || other_banks {
            return Err(format!(
                "{name} does not hold the PCRs the quote's digest covers: it gives {bank} {:?}, the quote selects {}",
                given,
                selection
                    .pairs()
                    .iter()
                    .map(|(b, i)| format!("{b}:{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
    }
    Ok(values)
}

fn quotes(tpm: &Value, prefix: &str, n: &QuoteNames) -> Result<Vec<QuoteItem>, String> {
    let list = quotes_of(tpm, n.list).ok_or_else(|| format!("{prefix}{} is not a list", n.list))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, q) in list.iter().enumerate() {
        let at = format!("{prefix}{}[{i}]", n.list);
        let attest = req_bytes(q, n.attest, &format!("{at}.{}", n.attest))?;
        let sig = req_bytes(q, n.signature, &format!("{at}.{}", n.signature))?;
        let signature =
            TpmtSignature::parse(&sig).map_err(|e| format!("{at}.{}: {e}", n.signature))?;
        let (hash, map) = if n.hash == "pcrs.hash" {
            // attest.Attestation nests them: pcrs{hash, pcrs}.
            let p = field(q, "pcrs");
            (
                p.and_then(|p| field(p, "hash")),
                p.and_then(|p| field(p, "pcrs")),
            )
        } else {
            (field(q, n.hash), field(q, n.values))
        };
        let pcrs = match (hash, map) {
            (_, None) => None,
            (None, Some(_)) => {
                return Err(format!("{at}: PCR values without their bank ({})", n.hash));
            }
            (Some(h), Some(m)) => {
                let bank = hash_algo(h, &format!("{at}.{}", n.hash))?;
                Some(pcr_map(m, bank, &attest, &format!("{at}.{}", n.values))?)
            }
        };
        out.push(QuoteItem {
            attest,
            signature,
            pcrs,
        });
    }
    if out.is_empty() {
        return Err(format!("{prefix}{} holds no quote", n.list));
    }
    Ok(out)
}

/// The AK of a form that carries only its certificate.
fn ak_from_cert(cert: &[u8], name: &str) -> Result<AkPublic, String> {
    AkPublic::from_bytes(cert).map_err(|e| format!("{name}: {e}"))
}

/// The canonical event log in field `name`, when present and not empty.
fn cel_part(v: &Value, name: &str, full: &'static str) -> Result<Vec<CelPart>, String> {
    Ok(opt_bytes(v, name, full)?
        .filter(|b| !b.is_empty())
        .map(|bytes| CelPart { field: full, bytes })
        .into_iter()
        .collect())
}

fn rest(v: &Value) -> Result<Evidence, String> {
    let tpm = field(v, "tpmAttestation").ok_or(
        "tpmAttestation is missing: rootline verifies the REST body's SEV-SNP report or TD quote beside the vTPM quote (verify the report alone with --tee snp or --tee tdx)",
    )?;
    let names = QuoteNames {
        list: "quotes",
        hash: "hashAlgo",
        values: "pcrValues",
        attest: "rawQuote",
        signature: "rawSignature",
    };
    let quotes = quotes(tpm, "tpmAttestation.", &names)?;
    let ak_cert = opt_bytes(tpm, "akCert", "tpmAttestation.akCert")?.ok_or(
        "tpmAttestation.akCert is missing: the REST body carries no other form of the attestation key",
    )?;
    let ak = ak_from_cert(&ak_cert, "tpmAttestation.akCert")?;
    let mut cel = cel_part(tpm, "canonicalEventLog", "tpmAttestation.canonicalEventLog")?;
    let snp = match field(v, "sevSnpAttestation") {
        None => None,
        Some(s) => Some(TeePart::Snp {
            report: req_bytes(s, "report", "sevSnpAttestation.report")?,
            certificates: opt_bytes(s, "auxBlob", "sevSnpAttestation.auxBlob")?,
            field: "sevSnpAttestation",
        }),
    };
    let tdx = match field(v, "tdCcel") {
        None => None,
        Some(t) => {
            cel.extend(cel_part(
                t,
                "canonicalEventLog",
                "tdCcel.canonicalEventLog",
            )?);
            Some(TeePart::Tdx {
                quote: req_bytes(t, "tdQuote", "tdCcel.tdQuote")?,
                ccel: opt_bytes(t, "ccelData", "tdCcel.ccelData")?,
                acpi_table: opt_bytes(t, "ccelAcpiTable", "tdCcel.ccelAcpiTable")?,
                field: "tdCcel",
            })
        }
    };
    let tee = match (snp, tdx) {
        (Some(_), Some(_)) => {
            return Err(
                "the body carries both sevSnpAttestation and tdCcel: a VM runs on one TEE".into(),
            );
        }
        (a, b) => a.or(b),
    };
    Ok(Evidence {
        form: "google cloud attestation request",
        ak,
        ak_source: AkSource::Evidence,
        ak_cert: Some(ak_cert),
        intermediates: bytes_list(tpm, "certChain", "tpmAttestation.certChain")?,
        quotes,
        eventlog: opt_bytes(tpm, "tcgEventLog", "tpmAttestation.tcgEventLog")?,
        tee,
        cel,
        unverified: Vec::new(),
    })
}

fn launcher(v: &Value) -> Result<Evidence, String> {
    let q = field(v, "quote").ok_or("quote is missing")?;
    let tpm = field(q, "tpmQuote").ok_or(
        "quote.tpmQuote is missing: rootline verifies the TD quote beside the vTPM quote (verify it alone with --tee tdx)",
    )?;
    let names = QuoteNames {
        list: "quotes",
        hash: "hashAlgorithm",
        values: "pcrValues",
        attest: "tpmsAttest",
        signature: "tpmtSignature",
    };
    let quotes = quotes(tpm, "quote.tpmQuote.", &names)?;
    let endorsement = path(tpm, &["endorsement", "akCertEndorsement"]);
    let ak_cert = endorsement
        .map(|e| opt_bytes(e, "akCert", "quote.tpmQuote.endorsement.akCertEndorsement.akCert"))
        .transpose()?
        .flatten()
        .ok_or("quote.tpmQuote.endorsement.akCertEndorsement.akCert is missing: the launcher's evidence carries no other form of the attestation key")?;
    let ak = ak_from_cert(
        &ak_cert,
        "quote.tpmQuote.endorsement.akCertEndorsement.akCert",
    )?;
    let intermediates = match endorsement {
        Some(e) => bytes_list(
            e,
            "akCertChain",
            "quote.tpmQuote.endorsement.akCertEndorsement.akCertChain",
        )?,
        None => Vec::new(),
    };
    let mut cel = cel_part(tpm, "celLaunchEventLog", "quote.tpmQuote.celLaunchEventLog")?;
    let tee = match field(q, "tdxCcelQuote") {
        None => None,
        Some(t) => {
            cel.extend(cel_part(
                t,
                "celLaunchEventLog",
                "quote.tdxCcelQuote.celLaunchEventLog",
            )?);
            Some(TeePart::Tdx {
                quote: req_bytes(t, "tdQuote", "quote.tdxCcelQuote.tdQuote")?,
                ccel: opt_bytes(t, "ccelBootEventLog", "quote.tdxCcelQuote.ccelBootEventLog")?,
                acpi_table: None,
                field: "quote.tdxCcelQuote",
            })
        }
    };
    Ok(Evidence {
        form: "confidential space launcher evidence",
        ak,
        ak_source: AkSource::Evidence,
        ak_cert: Some(ak_cert),
        intermediates,
        quotes,
        eventlog: opt_bytes(
            tpm,
            "pcclientBootEventLog",
            "quote.tpmQuote.pcclientBootEventLog",
        )?,
        tee,
        cel,
        unverified: Vec::new(),
    })
}

fn attestation(v: &Value) -> Result<Evidence, String> {
    let a = attestation_object(v).ok_or("not an attest.Attestation object")?;
    for parsed in ["sevSnpAttestation", "tdxAttestation"] {
        if field(a, parsed).is_some() {
            return Err(format!(
                "{parsed} holds the parsed report (structured fields), whose signature covers raw bytes rootline does not rebuild: supply the raw report instead (the Google Cloud Attestation request's sevSnpAttestation.report or tdCcel.tdQuote, or the binary protobuf)"
            ));
        }
    }
    let ak = TpmtPublic::parse(&req_bytes(a, "akPub", "akPub")?)
        .and_then(AkPublic::from_tpmt)
        .map_err(|e| format!("akPub: {e}"))?;
    let names = QuoteNames {
        list: "quotes",
        hash: "pcrs.hash",
        values: "pcrs.pcrs",
        attest: "quote",
        signature: "rawSig",
    };
    let quotes = quotes(a, "", &names)?;
    let cel = cel_part(a, "canonicalEventLog", "canonicalEventLog")?;
    Ok(Evidence {
        form: "go-tpm-tools attestation json",
        ak,
        ak_source: AkSource::Evidence,
        ak_cert: opt_bytes(a, "akCert", "akCert")?,
        intermediates: bytes_list(a, "intermediateCerts", "intermediateCerts")?,
        quotes,
        eventlog: opt_bytes(a, "eventLog", "eventLog")?,
        tee: None,
        cel,
        unverified: Vec::new(),
    })
}

/// Reads a JSON object of one of the three shapes.
pub(crate) fn read(v: &Value, shape: Shape) -> Result<Evidence, String> {
    match shape {
        Shape::Rest => rest(v),
        Shape::Launcher => launcher(v),
        Shape::Attestation => attestation(v),
    }
}
