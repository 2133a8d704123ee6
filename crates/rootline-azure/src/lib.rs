//! Azure confidential VMs: the evidence Confidential Containers' attesters
//! (`az-snp-vtpm`, `az-tdx-vtpm`) send to a KBS, verified on rootline's own
//! SNP, DCAP and TPM code.
//!
//! On Azure the guest does not talk to the CPU's attestation interface: the
//! paravisor (HCL) does, and publishes an HCL report in the vTPM. Its
//! hardware report (an SNP report or a TDX TDREPORT) carries in report_data
//! the SHA-256 of the paravisor's runtime data, a JSON object that names the
//! vTPM's attestation key. The guest then asks the vTPM for a quote over its
//! PCRs with the KBS nonce as extraData. So the chain is: vendor root ->
//! hardware report -> runtime data -> attestation key -> vTPM quote -> PCRs
//! and nonce.
//!
//! - [`evidence`]: guest-components' JSON forms (v0, v1, v2) into [`Evidence`].
//! - [`maa`]: the MAA request bodies Azure's tooling prints (platform and
//!   AzureGuest) into [`MaaEvidence`]: the hardware report and runtime data
//!   without the HCL report, and (AzureGuest) the vTPM quote with its key.
//! - [`hcl`]: the HCL report through the bounded reader.
//! - [`tdreport`]: the TDREPORT and its agreement with the TD quote.
//! - [`runtime`]: the runtime data (`HCLAkPub`, `user-data`).
//! - [`vtpm`]: the vTPM quote, through `rootline-tpm`.
//! - [`verify`]: [`Verifier`], which runs it all and returns
//!   `Verified<Appraisal>` or a [`Rejection`] with what could be read.
//!
//! Non-goals: fetching the VCEK from Azure IMDS or collateral from Intel PCS
//! (the caller brings collateral), VBS and trusted-launch (no hardware
//! report) VMs, the TDREPORT's MAC (only the CPU can check it; the signed TD
//! quote is compared with the report instead), and appraisal policy.
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

pub mod claims;
pub mod error;
pub mod evidence;
pub mod hcl;
pub mod maa;
pub mod runtime;
pub mod tdreport;
pub mod verify;
pub mod vtpm;

use std::fmt;

use rootline_core::TeeKind;

pub use error::{Error, Result};
pub use evidence::Evidence;
pub use hcl::HclReport;
pub use maa::{MaaEvidence, MaaForm};
pub use runtime::RuntimeData;
pub use tdreport::TdReport;
pub use verify::{Appraisal, Collateral, Options, Rejection, Verifier};
pub use vtpm::TpmQuote;

/// Which Azure confidential VM the evidence comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AzureKind {
    /// AMD SEV-SNP (`az-snp-vtpm`).
    Snp,
    /// Intel TDX (`az-tdx-vtpm`).
    Tdx,
}

impl AzureKind {
    /// The rootline TEE kind.
    pub fn tee(self) -> TeeKind {
        match self {
            Self::Snp => TeeKind::AzureSnp,
            Self::Tdx => TeeKind::AzureTdx,
        }
    }

    /// The Azure kind of a rootline TEE kind, if it is one.
    pub fn from_tee(tee: TeeKind) -> Option<Self> {
        match tee {
            TeeKind::AzureSnp => Some(Self::Snp),
            TeeKind::AzureTdx => Some(Self::Tdx),
            _ => None,
        }
    }
}

impl fmt::Display for AzureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.tee(), f)
    }
}

/// Recognises Azure evidence bytes (JSON with the fields of one of the
/// forms: guest-components', or an MAA request, also after the `Request
/// JSON:` line Azure's CLI prints). Must run before DCAP detection: Azure
/// TDX evidence holds a TD quote under a key named `td_quote` or `quote`.
pub fn detect(evidence: &[u8]) -> Option<AzureKind> {
    let json = maa::strip_banner(evidence);
    if evidence.len() > evidence::MAX_EVIDENCE_LEN || json.first() != Some(&b'{') {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    evidence::detect(&v).or_else(|| maa::detect(&v))
}
