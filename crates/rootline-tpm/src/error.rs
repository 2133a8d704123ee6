//! The one error type of this crate, grouped by cause.
//!
//! Every variant names the check that failed, so a rejection printed by the
//! command line tells the operator what to look at: malformed bytes (which
//! structure, which field), something unsupported, a content check that did
//! not hold (magic, type, nonce, PCR digest), a signature that does not
//! verify, or a key or certificate that is not trusted.

use rootline_core::{CodecError, HashAlg};
use thiserror::Error;

use crate::types::StructureTag;

/// Why a TPM structure could not be parsed or a quote was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    // ---- malformed input -------------------------------------------------
    /// A TPM structure could not be decoded.
    #[error("malformed {what}: {source}")]
    Malformed {
        /// The structure being decoded.
        what: &'static str,
        /// What the reader found.
        source: CodecError,
    },
    /// A container around TPM structures (PEM, DER, hex) could not be decoded.
    #[error("cannot decode {what}: {reason}")]
    Encoding {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },

    // ---- unsupported -----------------------------------------------------
    /// A value this crate does not implement (an algorithm, curve, scheme).
    #[error("unsupported {what}: {value}")]
    Unsupported {
        /// The field.
        what: &'static str,
        /// The value found, in hex or by name.
        value: String,
    },

    // ---- content checks --------------------------------------------------
    /// TPMS_ATTEST.magic is not TPM_GENERATED_VALUE: the TPM did not produce it.
    #[error(
        "magic check failed: attest magic is {found:#010x}, not TPM_GENERATED_VALUE 0xff544347"
    )]
    BadMagic {
        /// The magic found.
        found: u32,
    },
    /// TPMS_ATTEST.type is not the structure the caller asked for.
    #[error("type check failed: attest type is {found}, expected {expected}")]
    WrongType {
        /// What was expected.
        expected: StructureTag,
        /// What was found.
        found: StructureTag,
    },
    /// extraData differs from the nonce the caller expected.
    #[error("nonce check failed: extraData is {found:?}, expected {expected:?}")]
    NonceMismatch {
        /// The expected nonce, hex.
        expected: String,
        /// The quote's extraData, hex.
        found: String,
    },
    /// The quote's PCR digest differs from the hash of the PCR values given.
    #[error(
        "pcr digest check failed: quote's pcrDigest is {quoted}, the {alg} hash of the selected PCR values given is {computed}"
    )]
    PcrDigestMismatch {
        /// The hash algorithm of the digest (the AK's scheme hash).
        alg: HashAlg,
        /// The digest the quote carries.
        quoted: String,
        /// The digest of the values given.
        computed: String,
    },
    /// The quote selects a PCR for which no value was given.
    #[error(
        "pcr digest check failed: the quote selects {bank} PCR {index} but no value was given for it"
    )]
    PcrValueMissing {
        /// The bank.
        bank: HashAlg,
        /// The PCR index.
        index: u8,
    },
    /// The PCR values given do not cover what the quote selects, or are
    /// inconsistent (a digest of the wrong length).
    #[error("pcr values do not fit the quote: {reason}")]
    PcrValues {
        /// What does not fit.
        reason: String,
    },
    /// The signature's scheme does not fit the key or the quote.
    #[error("signature scheme check failed: {reason}")]
    SchemeMismatch {
        /// What does not fit.
        reason: String,
    },
    /// The signature does not verify with the key.
    #[error("signature check failed: the {what} signature does not verify with the {key}")]
    BadSignature {
        /// What was signed (`quote`, `certificate ...`).
        what: String,
        /// The key that was used.
        key: String,
    },
    /// A name or key does not match what it must match (AK certificate key vs
    /// AK, quote signer vs expected AK).
    #[error("{what} check failed: {reason}")]
    Mismatch {
        /// The check.
        what: &'static str,
        /// Why.
        reason: String,
    },

    // ---- trust -----------------------------------------------------------
    /// A certificate chain does not end at a root the caller supplied.
    #[error("certificate chain check failed for {what}: {reason}")]
    Untrusted {
        /// The certificate being chained.
        what: String,
        /// Why.
        reason: String,
    },
    /// A certificate is outside its validity period at the verification time.
    #[error(
        "certificate validity check failed: {what} is valid from {not_before} to {not_after}, not at {at}"
    )]
    Expired {
        /// The certificate.
        what: String,
        /// Start of validity.
        not_before: String,
        /// End of validity.
        not_after: String,
        /// The verification time.
        at: String,
    },

    // ---- local failures --------------------------------------------------
    /// A cryptographic primitive failed for a reason that is not the input's
    /// fault (random number generation, key setup).
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
}

impl Error {
    /// A short, stable name of the failed check, for JSON output and tests:
    /// `malformed`, `unsupported`, `magic`, `type`, `nonce`, `pcr_digest`,
    /// `pcr_values`, `scheme`, `signature`, `mismatch`, `chain`, `validity`,
    /// `crypto`.
    pub fn check(&self) -> &'static str {
        match self {
            Self::Malformed { .. } | Self::Encoding { .. } => "malformed",
            Self::Unsupported { .. } => "unsupported",
            Self::BadMagic { .. } => "magic",
            Self::WrongType { .. } => "type",
            Self::NonceMismatch { .. } => "nonce",
            Self::PcrDigestMismatch { .. } | Self::PcrValueMissing { .. } => "pcr_digest",
            Self::PcrValues { .. } => "pcr_values",
            Self::SchemeMismatch { .. } => "scheme",
            Self::BadSignature { .. } => "signature",
            Self::Mismatch { .. } => "mismatch",
            Self::Untrusted { .. } => "chain",
            Self::Expired { .. } => "validity",
            Self::Crypto(_) => "crypto",
        }
    }

    /// Wraps a codec error with the structure being decoded.
    pub(crate) fn malformed(what: &'static str) -> impl FnOnce(CodecError) -> Self {
        move |source| Self::Malformed { what, source }
    }
}
