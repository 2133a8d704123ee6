//! TPM 2.0 attestation in pure Rust.
//!
//! Parses the structures a TPM signs and hands out (TPMS_ATTEST for quotes
//! and certifications, TPMT_SIGNATURE, TPMT_PUBLIC / TPM2B_PUBLIC,
//! TPML_PCR_SELECTION and the PCR file `tpm2_quote -o` writes), verifies a
//! quote with aws-lc-rs over the exact bytes received, chains AK and EK
//! certificates to roots the caller supplies, and runs TPM2_MakeCredential so
//! that a verifier can prove an AK lives in the TPM that holds a given EK.
//!
//! Non-goals: no talking to a TPM (no tss-esapi, no TCTI): that is the
//! attester's job. No event-log parsing: that is `rootline-eventlog`. No
//! policy on which PCR values are good: that is `rootline-policy`.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// Unit tests may unwrap and index: a panic there is a failed test, not a crash on input.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod attest;
pub mod certs;
pub mod claims;
mod cloud;
pub mod credential;
mod der;
pub mod error;
pub mod evidence;
pub mod pcr;
pub mod public;
pub mod quote;
pub mod signature;
pub mod synthetic;
pub mod types;

pub use attest::{Attest, Attested, ClockInfo};
pub use certs::{CertChain, verify_chain};
pub use credential::make_credential;
pub use error::Error;
pub use pcr::{PcrBank, PcrSelection, PcrValues};
pub use public::{AkPublic, PublicKey, TpmtPublic};
pub use quote::{QuoteCheck, QuoteClaims, verify_parsed_quote, verify_quote};
pub use signature::TpmtSignature;
pub use types::{AlgId, EccCurve, Generated, ObjectAttributes, StructureTag};
