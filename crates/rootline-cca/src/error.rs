//! The one error type of this crate, grouped by cause so that a caller (and a
//! person reading a rejection) can tell a malformed token from an unknown
//! platform, a bad signature or a token that is not bound to its key or nonce.

use std::fmt;

use thiserror::Error;

/// Which part of a CCA attestation token an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Part {
    /// The CBOR tag-399 collection that holds the two tokens.
    Collection,
    /// The platform token (COSE_Sign1 signed by the CPAK) or its claims.
    Platform,
    /// The realm token (COSE_Sign1 signed by the RAK) or its claims.
    Realm,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Collection => "token collection",
            Self::Platform => "platform token",
            Self::Realm => "realm token",
        })
    }
}

/// Why a CCA attestation token (or a trust-anchor file) was not accepted.
///
/// Variants are grouped by cause: malformed input ([`Error::TooLarge`],
/// [`Error::Malformed`], [`Error::Claim`], [`Error::MissingClaim`],
/// [`Error::TrustAnchor`]), something this verifier does not support
/// ([`Error::Unsupported`]), an untrusted platform ([`Error::UnknownPlatform`]),
/// a signature that does not verify ([`Error::BadSignature`]) and a token
/// that disagrees with itself or with the caller ([`Error::Binding`],
/// [`Error::Nonce`]).
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
    /// A CBOR or COSE structure does not decode.
    #[error("malformed {part}: {reason}")]
    Malformed {
        /// The token part.
        part: Part,
        /// Why it does not decode.
        reason: String,
    },
    /// A claim is present but its value is not what the profile allows.
    #[error("malformed {part}: claim {claim}: {reason}")]
    Claim {
        /// The token part.
        part: Part,
        /// The claim name (as the CCA profile names it).
        claim: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A mandatory claim is absent.
    #[error("malformed {part}: missing claim {claim}")]
    MissingClaim {
        /// The token part.
        part: Part,
        /// The claim name.
        claim: &'static str,
    },
    /// A profile, algorithm, curve or key format this verifier does not know.
    #[error("unsupported {field}: {value}")]
    Unsupported {
        /// The field.
        field: &'static str,
        /// Its value, as printed.
        value: String,
    },
    /// A trust-anchor file does not decode.
    #[error("malformed trust anchors: {0}")]
    TrustAnchor(String),
    /// No trust anchor names this platform.
    #[error(
        "untrusted: no trust anchor for platform instance id {instance_id} (implementation id {implementation_id})"
    )]
    UnknownPlatform {
        /// The platform's instance ID (hex).
        instance_id: String,
        /// The platform's implementation ID (hex).
        implementation_id: String,
    },
    /// A COSE signature does not verify.
    #[error("bad signature: {part}: {reason}")]
    BadSignature {
        /// The token part whose signature failed.
        part: Part,
        /// Why (which key, which algorithm).
        reason: String,
    },
    /// The platform challenge is not the hash of the realm attestation key,
    /// so the platform did not vouch for the key that signed the realm token.
    #[error(
        "mismatch: platform challenge: not the {alg} hash of the realm public key (challenge {challenge}, hash {hash})"
    )]
    Binding {
        /// The realm's public-key hash algorithm.
        alg: String,
        /// The platform challenge (hex).
        challenge: String,
        /// The hash of the realm public key (hex).
        hash: String,
    },
    /// The realm challenge is not the nonce the caller expects, or the
    /// expected nonce cannot be a CCA challenge.
    #[error("mismatch: realm challenge: {0}")]
    Nonce(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn malformed(part: Part, reason: impl Into<String>) -> Error {
    Error::Malformed {
        part,
        reason: reason.into(),
    }
}

pub(crate) fn claim(part: Part, claim: &'static str, reason: impl Into<String>) -> Error {
    Error::Claim {
        part,
        claim,
        reason: reason.into(),
    }
}
