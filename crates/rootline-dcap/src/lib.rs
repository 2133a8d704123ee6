//! Intel TDX and SGX DCAP quote verification.
//!
//! A quote is parsed once by our bounded parser ([`quote`]), then verified
//! two ways that must agree:
//!
//! - **dcap-qvl** (`QuoteVerifier::verify`, the correctness reference), with
//!   the Intel SGX Root CA pinned by us ([`roots`]);
//! - **our cached path** ([`Verifier::verify_prepared`]): the collateral (TCB
//!   info and QE identity signatures, CRLs, issuer chains) is verified once and
//!   cached by content hash ([`Prepared`]); each PCK chain is verified once per
//!   collateral; a quote then costs two P-256 verifies with aws-lc-rs (QE report
//!   by the PCK, quote by the attestation key) plus cheap comparisons.
//!
//! dcap-qvl re-verifies all collateral on every call (about 620 us a quote
//! here against our 120 us), so [`Verifier::check`] asks it once per
//! distinct set of inputs its verdict depends on besides the signatures:
//! the collateral, the PCK chain and every signed field of the quote and QE
//! report except REPORTDATA. Quotes of one TD image that differ only in
//! REPORTDATA (one per KBS session) get dcap-qvl's agreement once; every
//! quote still has all its signatures checked by our path, and a verdict of
//! ours that differs from the agreed one asks dcap-qvl again. Rejections
//! always get its second opinion.
//!
//! Where dcap-qvl departs from Intel's QVL rules we follow Intel's and say so
//! at the place in the code (see [`engine`]).
//!
//! Non-goals: fetching collateral from Intel PCS or a PCCS (the caller hands
//! us files), quote generation, appraisal policy (debug TDs are reported as a
//! claim, not rejected here), CCEL replay (rootline-verifier does it with
//! rootline-eventlog and compares RTMR0..3 with the claims from here).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod claims;
pub mod collateral;
pub mod engine;
pub mod evidence;
pub mod needs;
pub mod pki;
pub mod quote;
pub mod roots;
mod tcb;

pub use collateral::CollateralParts;
pub use engine::{Checked, Prepared, Verdict, Verifier};
pub use quote::{Quote, QuoteError};

/// Why a quote or its collateral was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The quote bytes are malformed or of an unsupported kind.
    #[error(transparent)]
    Quote(#[from] QuoteError),
    /// A collateral file could not be read or recognised.
    #[error("collateral: {0}")]
    Collateral(String),
    /// A chain does not end at the pinned root, or a name or CA flag is wrong.
    #[error("untrusted: {0}")]
    Untrusted(String),
    /// A signature does not verify.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// Something is outside its validity period at the verification time.
    #[error("stale: {0}")]
    Stale(String),
    /// A certificate is revoked.
    #[error("revoked: {0}")]
    Revoked(String),
    /// The quote does not match its collateral (FMSPC, QE identity, TDX module...).
    #[error("mismatch: {0}")]
    Mismatch(String),
    /// The TCB could not be judged, or was judged Revoked.
    #[error("tcb: {0}")]
    Tcb(String),
    /// No collateral at all: signatures and the PCK chain were checked, TCB status was not.
    #[error("no collateral: TCB status not evaluated; pass --collateral")]
    NoCollateral,
    /// Some collateral, but not all that a TCB evaluation needs.
    #[error("incomplete collateral: missing {0}; TCB status not evaluated")]
    IncompleteCollateral(String),
    /// The report data is not the expected nonce.
    #[error("report_data does not carry the expected nonce: {0}")]
    Nonce(String),
    /// dcap-qvl and our path disagree: fail closed.
    #[error("verifiers disagree: {0}")]
    Disagree(String),
}
