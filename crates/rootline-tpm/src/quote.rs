//! Quote verification: the checks that make a TPMS_ATTEST evidence.
//!
//! In order: the AK's signature over the attest bytes received, the magic
//! (TPM_GENERATED_VALUE) and type (TPM_ST_ATTEST_QUOTE), extraData against
//! the expected nonce, and the PCR digest against the PCR values given (hash
//! of the selected values, in selection order, with the signature's hash).
//! The result is a [`Verified`] value that only [`verify_quote`] constructs.

use rootline_core::{HashAlg, Verified};

use crate::attest::Attest;
use crate::error::Error;
use crate::pcr::{PcrSelection, PcrValues};
use crate::public::AkPublic;
use crate::signature::TpmtSignature;
use crate::types::{AlgId, Generated, ObjectAttributes, StructureTag};

/// What to check a quote against.
#[derive(Debug, Clone, Copy)]
pub struct QuoteCheck<'a> {
    /// The TPMS_ATTEST bytes as received.
    pub attest: &'a [u8],
    /// The parsed TPMT_SIGNATURE.
    pub signature: &'a TpmtSignature,
    /// The attestation key.
    pub ak: &'a AkPublic,
    /// The nonce extraData must equal; not checked when `None`.
    pub nonce: Option<&'a [u8]>,
    /// The PCR values the digest must match; not checked when `None`.
    pub pcrs: Option<&'a PcrValues>,
}

/// What a verified quote says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteClaims {
    /// The parsed quote.
    pub attest: Attest,
    /// The quote's PCR selection.
    pub selection: PcrSelection,
    /// The signature scheme.
    pub signature_scheme: AlgId,
    /// The signature's hash (also the PCR digest's).
    pub signature_hash: HashAlg,
    /// True when extraData was compared with a nonce.
    pub nonce_checked: bool,
    /// True when the PCR digest was compared with PCR values.
    pub pcrs_checked: bool,
    /// SHA-256 of the AK's DER SubjectPublicKeyInfo.
    pub ak_fingerprint: String,
    /// The AK's name, when its TPM public area was given.
    pub ak_name: Option<Vec<u8>>,
    /// Whether the AK is a restricted signing key (`None` without its public area).
    pub ak_restricted: Option<bool>,
}

/// Verifies a quote; see the module docs for the checks and their order.
pub fn verify_quote(check: &QuoteCheck<'_>) -> Result<Verified<QuoteClaims>, Error> {
    verify_parsed_quote(Attest::parse(check.attest)?, check)
}

/// [`verify_quote`] for a caller that parsed `check.attest` already (to
/// read its claims before the checks): the parse is not repeated. `attest`
/// must be the parse of those bytes; it is refused otherwise, and the
/// signature is checked over the bytes as received.
pub fn verify_parsed_quote(
    attest: Attest,
    check: &QuoteCheck<'_>,
) -> Result<Verified<QuoteClaims>, Error> {
    if attest.raw != check.attest {
        return Err(Error::Mismatch {
            what: "quote",
            reason: "the parsed TPMS_ATTEST is not the one given".into(),
        });
    }
    let hash = check
        .signature
        .hash()
        .ok_or_else(|| Error::SchemeMismatch {
            reason: "the quote carries a TPM_ALG_NULL signature".into(),
        })?;
    check
        .signature
        .verify(&check.ak.key, &attest.raw, "quote")?;
    if attest.magic != Generated::VALUE {
        return Err(Error::BadMagic {
            found: attest.magic.0,
        });
    }
    if attest.tag != StructureTag::ATTEST_QUOTE {
        return Err(Error::WrongType {
            expected: StructureTag::ATTEST_QUOTE,
            found: attest.tag,
        });
    }
    if let Some(nonce) = check.nonce {
        if attest.extra_data != nonce {
            return Err(Error::NonceMismatch {
                expected: hex::encode(nonce),
                found: hex::encode(&attest.extra_data),
            });
        }
    }
    let (selection, quoted) = attest.quote_info().ok_or(Error::WrongType {
        expected: StructureTag::ATTEST_QUOTE,
        found: attest.tag,
    })?;
    let selection = selection.clone();
    if let Some(pcrs) = check.pcrs {
        let computed = pcrs.digest(&selection, hash)?;
        if computed != quoted {
            return Err(Error::PcrDigestMismatch {
                alg: hash,
                quoted: hex::encode(quoted),
                computed: hex::encode(&computed),
            });
        }
    }
    let ak_name = check.ak.name().transpose()?;
    let ak_restricted = check.ak.tpmt.as_ref().map(|t| {
        t.attributes
            .has(ObjectAttributes::RESTRICTED | ObjectAttributes::SIGN)
    });
    Ok(Verified::new(QuoteClaims {
        selection,
        signature_scheme: check.signature.scheme(),
        signature_hash: hash,
        nonce_checked: check.nonce.is_some(),
        pcrs_checked: check.pcrs.is_some(),
        ak_fingerprint: check.ak.key.fingerprint()?,
        ak_name,
        ak_restricted,
        attest,
    }))
}
