//! The one error type of this crate, grouped by cause: malformed input,
//! something unsupported, an untrusted or revoked host-key document, a
//! measurement that does not verify, and a response that is not the one the
//! caller expects.

use rootline_core::CodecError;
use thiserror::Error;

/// Why a host-key document, an attestation request or an Ultravisor
/// response was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is larger than this crate accepts.
    #[error("{what} is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A binary structure (a request, a key slot) does not decode.
    #[error("malformed {what}: {source}")]
    Codec {
        /// The structure.
        what: &'static str,
        /// Where and why.
        source: CodecError,
    },
    /// A JSON, PEM or DER input does not decode.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// Why it does not decode.
        reason: String,
    },
    /// A version, algorithm or key type this crate does not implement.
    #[error("unsupported {field}: {value}")]
    Unsupported {
        /// The field.
        field: &'static str,
        /// Its value, as printed.
        value: String,
    },
    /// A host-key document, or the IBM signing key it must chain to, is not
    /// trusted: wrong issuer, bad signature, outside its validity, no chain
    /// to a caller's root.
    #[error("untrusted {what}: {reason}")]
    Untrusted {
        /// The certificate or CRL.
        what: String,
        /// Which check failed.
        reason: String,
    },
    /// A certificate is on a CRL of its issuer.
    #[error("revoked: {what} (serial {serial}) is on the CRL of {issuer}")]
    Revoked {
        /// The certificate.
        what: String,
        /// Its serial number (hex).
        serial: String,
        /// The CRL's issuer.
        issuer: String,
    },
    /// No valid CRL of the issuer was given, so revocation cannot be checked.
    #[error("no CRL: {0}")]
    NoCrl(String),
    /// An AES-GCM tag does not verify: a key slot not for this host key, a
    /// tampered request, or a sealed secret that is not ours.
    #[error("decryption failed: {0}")]
    Decrypt(String),
    /// The attestation measurement (HMAC-SHA512) does not match the one
    /// recomputed over the response's fields.
    #[error(
        "bad measurement: the HMAC-SHA512 over the SE header tags, configuration UID, user data, nonce and additional data does not match"
    )]
    BadMeasurement,
    /// The response disagrees with the request or with the caller.
    #[error("mismatch: {0}")]
    Mismatch(String),
    /// The system random generator or a key operation failed.
    #[error("crypto failure: {0}")]
    Crypto(&'static str),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn codec(what: &'static str) -> impl FnOnce(CodecError) -> Error {
    move |source| Error::Codec { what, source }
}

pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        what,
        reason: reason.into(),
    }
}

pub(crate) fn untrusted(what: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Untrusted {
        what: what.into(),
        reason: reason.into(),
    }
}
