//! Appraisal: whether verified evidence is acceptable, and a signed result
//! that says so.
//!
//! Three parts, in the order a request meets them:
//! - [`reference`]: named sets of accepted values (`snp.measurement`,
//!   `tdx.mr_td`, `tpm.pcr.sha256.4`...), each value with provenance, version,
//!   creation time and expiry, kept with its history behind the small
//!   synchronous [`ReferenceStore`] trait ([`FileStore`] here; the broker adds
//!   SQL);
//! - [`policy`]: Rego (regorus) compiled once per policy text and evaluated
//!   per device (`cpu0`, `gpu0`...) over the normalized claims ([`claims`]),
//!   with the reference values as data; the answer is an AR4SI trust vector,
//!   a status and a reason for every claim that is not affirming;
//! - [`token`]: the EAR attestation result (ES256/ES384 JWT, one submod per
//!   device), its signing key, the JWKS, and the verification a relying party
//!   needs (signature, expiry, issuer).
//!
//! Non-goals: no HTTP, no SQL, no async runtime; evidence verification is
//! `rootline-verifier`'s job, and an unverified outcome is never affirmed.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod claims;
pub mod policy;
pub mod reference;
pub mod token;
pub mod vocabulary;

/// The `ear` crate, for callers that read the EAR of a verified token.
pub use ear;
pub use policy::{
    Appraisal, Appraiser, CompiledPolicy, DeviceAppraisal, PolicySet, Reason, Tier, TrustVector,
};
pub use reference::{FileStore, NewValue, ReferenceStore, ReferenceValue, ReferenceValues};
pub use token::{Alg, Jwks, SigningKey, TokenOptions, VerifiedToken, verify_token};

/// Everything that can go wrong in appraisal, grouped by cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A reference value, key or import file is malformed.
    #[error("reference values: {0}")]
    Reference(String),
    /// The reference store could not be read or written.
    #[error("reference store {path}: {reason}")]
    Store {
        /// The file concerned.
        path: String,
        /// What failed.
        reason: String,
    },
    /// A policy failed to load: syntax error, undefined reference, or a dry
    /// evaluation that did not give a well-formed result.
    #[error("policy {name}: {reason}")]
    PolicyLoad {
        /// The policy's name (file name or `default tpm`).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A loaded policy failed while evaluating a request.
    #[error("policy {name} evaluation: {reason}")]
    PolicyEval {
        /// The policy's name.
        name: String,
        /// What failed.
        reason: String,
    },
    /// The signing key could not be read, generated or used.
    #[error("signing key: {0}")]
    Key(String),
    /// A token could not be made.
    #[error("signing the attestation result: {0}")]
    Sign(String),
    /// A token was rejected: bad signature, unknown key, expired, wrong issuer
    /// or malformed.
    #[error("attestation result rejected: {0}")]
    Token(String),
}
