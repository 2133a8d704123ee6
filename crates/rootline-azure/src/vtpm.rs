//! The vTPM quote of Azure evidence, verified with `rootline-tpm`.
//!
//! guest-components sends the quote as three parts: the raw
//! RSASSA-PKCS1-v1_5 SHA-256 signature (not a TPMT_SIGNATURE), the
//! TPMS_ATTEST bytes, and the 24 SHA-256 PCR values the quote selects. The
//! key is the HCL report's `HCLAkPub`, which the hardware report binds
//! through the runtime-data hash. rootline-tpm checks the signature over the
//! bytes received, the magic and type, extraData against the expected report
//! data, and the PCR digest; the values are matched to the quote's own
//! selection, so a PCR is only ever claimed under the index the TPM signed.

use rootline_core::{HashAlg, Verified};
use rootline_tpm::claims::{QuoteInfo, pcrs_json};
use rootline_tpm::{
    AkPublic, AlgId, Attest, PcrValues, PublicKey, QuoteCheck, QuoteClaims, TpmtSignature,
    verify_parsed_quote,
};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// Largest signature accepted: an RSA-4096 signature.
pub const MAX_SIGNATURE: usize = 512;
/// Largest TPMS_ATTEST accepted (a quote of every bank is well below this).
pub const MAX_MESSAGE: usize = 4096;
/// A TPM has 24 PCRs per bank.
pub const MAX_PCRS: usize = 24;

/// The vTPM quote as the evidence carries it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TpmQuote {
    /// RSASSA-PKCS1-v1_5 SHA-256 signature over `message`.
    pub signature: Vec<u8>,
    /// TPMS_ATTEST, as received.
    pub message: Vec<u8>,
    /// PCR values in the quote's selection order (SHA-256 bank 0..23).
    pub pcrs: Vec<Vec<u8>>,
}

/// A verified vTPM quote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VtpmQuote {
    /// What rootline-tpm verified.
    pub quote: QuoteClaims,
    /// The PCR values, now covered by the signed digest.
    pub pcrs: PcrValues,
}

impl VtpmQuote {
    /// Claims in the shape of rootline's TPM claims: `pcrs {bank: {index:
    /// hex}}`, `extra_data`, clock and firmware facts, the AK fingerprint.
    pub fn claims(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("pcrs".into(), pcrs_json(self.pcrs.banks()));
        QuoteInfo::from_attest(&self.quote.attest).write_json(&mut m);
        m.insert(
            "ak_fingerprint".into(),
            json!(self.quote.ak_fingerprint.clone()),
        );
        m
    }
}

/// Verifies `q` with the attestation key `ak`; `nonce`, when given, must be
/// the quote's extraData.
pub fn verify(q: &TpmQuote, ak: &PublicKey, nonce: Option<&[u8]>) -> Result<Verified<VtpmQuote>> {
    verify_parsed(q, None, ak, nonce)
}

/// [`verify`] for a caller that parsed `q.message` already (to read its
/// claims first): `parsed`, when given, is used instead of parsing the
/// message again (it must be the parse of `q.message`; rootline-tpm
/// refuses it otherwise).
pub fn verify_parsed(
    q: &TpmQuote,
    parsed: Option<Attest>,
    ak: &PublicKey,
    nonce: Option<&[u8]>,
) -> Result<Verified<VtpmQuote>> {
    if q.signature.is_empty() || q.signature.len() > MAX_SIGNATURE {
        return Err(Error::evidence(
            "tpm_quote.signature",
            format!(
                "{} bytes; an RSA signature of at most {MAX_SIGNATURE} is expected",
                q.signature.len()
            ),
        ));
    }
    if q.message.len() > MAX_MESSAGE {
        return Err(Error::evidence(
            "tpm_quote.message",
            format!("{} bytes, at most {MAX_MESSAGE} accepted", q.message.len()),
        ));
    }
    let attest = match parsed {
        Some(a) => a,
        None => Attest::parse(&q.message).map_err(Error::Tpm)?,
    };
    let pairs = quoted_pairs(&attest)?;
    if q.pcrs.len() > MAX_PCRS {
        return Err(Error::evidence(
            "tpm_quote.pcrs",
            format!("{} values, at most {MAX_PCRS} accepted", q.pcrs.len()),
        ));
    }
    let pcrs = PcrValues::from_listed(&pairs, q.pcrs.clone())
        .map_err(|e| Error::evidence("tpm_quote.pcrs", e.to_string()))?;
    let signature = TpmtSignature::Rsa {
        scheme: AlgId::RSASSA,
        hash: HashAlg::SHA256,
        sig: q.signature.clone(),
    };
    let ak = AkPublic {
        key: ak.clone(),
        tpmt: None,
    };
    check_quote(attest, &q.message, &signature, &ak, nonce, pcrs)
}

/// The (bank, index) pairs the quote selects, in its order; an attestation
/// that is not a quote is refused.
fn quoted_pairs(attest: &Attest) -> Result<Vec<(HashAlg, u8)>> {
    attest
        .quote_info()
        .map(|(s, _)| s.pairs())
        .ok_or(Error::Tpm(rootline_tpm::Error::WrongType {
            expected: rootline_tpm::StructureTag::ATTEST_QUOTE,
            found: attest.tag,
        }))
}

/// rootline-tpm's check of a parsed quote (the signature over `message` as
/// received, magic and type, extraData against `nonce`, the PCR digest over
/// `pcrs`), for both evidence forms.
fn check_quote(
    attest: Attest,
    message: &[u8],
    signature: &TpmtSignature,
    ak: &AkPublic,
    nonce: Option<&[u8]>,
    pcrs: PcrValues,
) -> Result<Verified<VtpmQuote>> {
    let checked = verify_parsed_quote(
        attest,
        &QuoteCheck {
            attest: message,
            signature,
            ak,
            nonce,
            pcrs: Some(&pcrs),
        },
    )
    .map_err(Error::Tpm)?;
    Ok(checked.map(|quote| VtpmQuote { quote, pcrs }))
}

/// Largest `AikPub` accepted (a TPM2B_PUBLIC of an RSA-4096 key is ~550 bytes).
pub const MAX_AIK_PUB: usize = 2048;

/// Verifies the vTPM quote of an MAA AzureGuest request (`TpmInfo`): its
/// `AikPub` must be the attestation key the runtime data names
/// (`runtime_ak`, which the hardware report binds), `PcrSignature` a
/// TPMT_SIGNATURE over `PcrQuote` with it, and `PCRs` the values of the
/// quote's selection (listed by index; the list carries no bank, so the
/// selection must be of one bank). `nonce`, when given, must be extraData.
pub fn verify_guest(
    t: &crate::maa::GuestTpm,
    runtime_ak: &PublicKey,
    nonce: Option<&[u8]>,
) -> Result<Verified<VtpmQuote>> {
    let bounded = |v: &[u8], max: usize, field: &str| -> Result<()> {
        if v.is_empty() || v.len() > max {
            return Err(Error::evidence(
                field,
                format!("{} bytes; between 1 and {max} expected", v.len()),
            ));
        }
        Ok(())
    };
    bounded(&t.aik_pub, MAX_AIK_PUB, "TpmInfo.AikPub")?;
    bounded(&t.quote, MAX_MESSAGE, "TpmInfo.PcrQuote")?;
    bounded(&t.signature, MAX_SIGNATURE + 8, "TpmInfo.PcrSignature")?;
    let tpmt = rootline_tpm::TpmtPublic::parse_tpm2b(&t.aik_pub)
        .map_err(|e| Error::evidence("TpmInfo.AikPub", e.to_string()))?;
    let ak =
        AkPublic::from_tpmt(tpmt).map_err(|e| Error::evidence("TpmInfo.AikPub", e.to_string()))?;
    if ak.key != *runtime_ak {
        let fp = |k: &PublicKey| k.fingerprint().unwrap_or_else(|_| "?".into());
        return Err(Error::Mismatch {
            field: "AikPub",
            reason: format!(
                "the vtpm attestation key in TpmInfo.AikPub (spki sha-256 {}) is not the runtime data's HCLAkPub (spki sha-256 {}), which the hardware report binds",
                fp(&ak.key),
                fp(runtime_ak)
            ),
        });
    }
    let signature = TpmtSignature::parse(&t.signature)
        .map_err(|e| Error::evidence("TpmInfo.PcrSignature", e.to_string()))?;
    let attest =
        Attest::parse(&t.quote).map_err(|e| Error::evidence("TpmInfo.PcrQuote", e.to_string()))?;
    let pcrs = listed_pcrs(&quoted_pairs(&attest)?, &t.pcrs)?;
    check_quote(attest, &t.quote, &signature, &ak, nonce, pcrs)
}

/// The listed `(index, digest)` values as the selection's: one per
/// selected PCR, none unselected, no index twice.
fn listed_pcrs(pairs: &[(HashAlg, u8)], listed: &[(u32, Vec<u8>)]) -> Result<PcrValues> {
    let field = "TpmInfo.PCRs";
    if let Some(((b0, _), (b1, _))) = pairs
        .first()
        .and_then(|f| pairs.iter().find(|p| p.0 != f.0).map(|o| (f, o)))
    {
        return Err(Error::Unsupported {
            field: "TpmInfo.PcrQuote selection",
            value: format!(
                "banks {b0} and {b1}: the PCRs list names no bank, so a quote of one bank is expected"
            ),
        });
    }
    let mut out = PcrValues::new();
    for (i, (index, digest)) in listed.iter().enumerate() {
        let Some((bank, idx)) = pairs.iter().find(|(_, x)| u32::from(*x) == *index) else {
            return Err(Error::evidence(
                format!("{field}[{i}]"),
                format!("pcr {index} is listed but the quote does not select it"),
            ));
        };
        if out.get(*bank, *idx).is_some() {
            return Err(Error::evidence(
                format!("{field}[{i}]"),
                format!("pcr {index} is listed twice"),
            ));
        }
        out.insert(*bank, *idx, digest.clone())
            .map_err(|e| Error::evidence(format!("{field}[{i}]"), e.to_string()))?;
    }
    if let Some((bank, idx)) = pairs.iter().find(|(b, x)| out.get(*b, *x).is_none()) {
        return Err(Error::evidence(
            field,
            format!("the quote selects {bank} pcr {idx} and no value is listed for it"),
        ));
    }
    Ok(out)
}
