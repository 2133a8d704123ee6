//! The one error type of this crate, grouped by cause so that callers (and
//! people) can tell a malformed report from an untrusted chain from a stale
//! certificate.

use rootline_core::CodecError;
use thiserror::Error;

/// Why SEV-SNP evidence was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The report bytes do not decode.
    #[error("malformed attestation report: {0}")]
    Report(#[source] CodecError),
    /// The evidence wrapper (hex, CBOR, JSON, certificate table) does not decode.
    #[error("malformed evidence: {0}")]
    Evidence(String),
    /// A certificate or CRL does not decode.
    #[error("malformed {what}: {reason}")]
    Collateral {
        /// Which certificate or CRL.
        what: String,
        /// Why it does not decode.
        reason: String,
    },
    /// A version, algorithm or key selector this verifier does not know.
    #[error("unsupported {field}: {value}")]
    Unsupported {
        /// The field.
        field: &'static str,
        /// Its value, as printed.
        value: String,
    },
    /// Collateral needed for the check is not there.
    #[error("missing collateral: {0}")]
    Missing(String),
    /// The signing key does not chain to a pinned root.
    #[error("untrusted: {0}")]
    Untrusted(String),
    /// A signature did not verify.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// A certificate or CRL is not valid at the verification time.
    #[error("not valid at {at}: {what}")]
    Stale {
        /// What expired or is not yet valid.
        what: String,
        /// The verification time (RFC 3339).
        at: String,
    },
    /// A certificate was revoked.
    #[error("revoked: {0}")]
    Revoked(String),
    /// The report disagrees with its certificate or with what the caller expects.
    #[error("mismatch: {field}: {reason}")]
    Mismatch {
        /// The field that disagrees.
        field: &'static str,
        /// How it disagrees.
        reason: String,
    },
}

impl From<CodecError> for Error {
    fn from(e: CodecError) -> Self {
        Self::Report(e)
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
