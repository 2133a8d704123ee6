//! The one error type of this crate, grouped by cause: bytes that do not
//! decode, values this crate does not support, a chain that does not reach a
//! trusted root, a signature or MAC that does not verify, and a launch whose
//! measurement is not the one expected.

use rootline_core::CodecError;
use thiserror::Error;

/// Why SEV launch attestation did not go through.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes that do not decode as the structure named.
    #[error("malformed {what}: {source}")]
    Malformed {
        /// The structure (`PDH certificate`, `LAUNCH_MEASURE blob`, ...).
        what: &'static str,
        /// What the bounded reader found.
        #[source]
        source: CodecError,
    },
    /// A field has a value the format allows but this role forbids (a PEK
    /// whose key usage is not PEK, an empty secret table...).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// A version, algorithm, curve or key size this crate does not handle.
    #[error("unsupported {field}: {value}")]
    Unsupported {
        /// The field.
        field: &'static str,
        /// Its value, as printed.
        value: String,
    },
    /// The chain does not end at a root the caller trusts.
    #[error("untrusted: {0}")]
    Untrusted(String),
    /// A certificate signature did not verify.
    #[error("bad signature: the {cert} certificate is not signed by the {signer}")]
    BadSignature {
        /// The certificate whose signature failed.
        cert: &'static str,
        /// The key that should have signed it.
        signer: &'static str,
    },
    /// The LAUNCH_MEASURE HMAC matches none of the expected launch digests.
    #[error("launch measurement mismatch: {0}")]
    Measurement(String),
    /// aws-lc-rs refused an operation (a key it cannot use, no randomness).
    #[error("crypto: {0}")]
    Crypto(&'static str),
}

impl Error {
    pub(crate) fn malformed(what: &'static str) -> impl FnOnce(CodecError) -> Error {
        move |source| Error::Malformed { what, source }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(field: &'static str, value: impl Into<String>) -> Error {
        Error::Unsupported {
            field,
            value: value.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
