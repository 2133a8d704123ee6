//! The one error type of this crate, grouped by cause: the evidence does not
//! decode, uses something we do not know, fails one of the three underlying
//! verifications (SNP report, TD quote, vTPM quote), lacks the collateral a
//! TCB judgement needs, or its parts do not bind to each other or to what the
//! caller expects.

use rootline_core::CodecError;
use thiserror::Error;

/// Why Azure confidential-VM evidence was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    // ---- malformed -------------------------------------------------------
    /// The evidence JSON (or a field of it) does not decode.
    #[error("malformed evidence: {field}: {reason}")]
    Evidence {
        /// The field, as the JSON names it (`tpm_quote.message`).
        field: String,
        /// Why it does not decode.
        reason: String,
    },
    /// The HCL report bytes do not decode.
    #[error("malformed hcl report: {0}")]
    Hcl(#[source] CodecError),
    /// The runtime data (the HCL report's variable data) is not the JSON the
    /// paravisor writes, or lacks the attestation key.
    #[error("malformed hcl runtime data: {field}: {reason}")]
    RuntimeData {
        /// The JSON field (`keys`, `keys[HCLAkPub].n`, `user-data`).
        field: String,
        /// Why it does not decode.
        reason: String,
    },

    // ---- unsupported -----------------------------------------------------
    /// A version, type or algorithm this crate does not know.
    #[error("unsupported {field}: {value}")]
    Unsupported {
        /// The field.
        field: &'static str,
        /// Its value and what is known.
        value: String,
    },

    // ---- the three underlying verifications -------------------------------
    /// The SEV-SNP report inside the HCL report was rejected.
    #[error("snp report: {0}")]
    Snp(#[source] rootline_snp::Error),
    /// The TD quote was rejected.
    #[error("td quote: {0}")]
    Tdx(#[source] rootline_dcap::Error),
    /// The vTPM quote was rejected.
    #[error("vtpm quote: {0}")]
    Tpm(#[source] rootline_tpm::Error),

    // ---- collateral --------------------------------------------------------
    /// Every signature, chain and binding verified, but the TD quote's TCB
    /// could not be judged: Intel collateral (TCB info, QE identity, CRLs)
    /// for its FMSPC was not supplied.
    #[error("collateral missing: {0}")]
    CollateralMissing(String),

    // ---- bindings and expectations -----------------------------------------
    /// Two parts of the evidence disagree, or the evidence disagrees with
    /// what the caller expects.
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
        Self::Hcl(e)
    }
}

impl Error {
    /// A short, stable name of the failed check, for JSON output and tests:
    /// `malformed`, `unsupported`, `snp`, `tdx`, `tpm`, `collateral`,
    /// `mismatch`.
    pub fn check(&self) -> &'static str {
        match self {
            Self::Evidence { .. } | Self::Hcl(_) | Self::RuntimeData { .. } => "malformed",
            Self::Unsupported { .. } => "unsupported",
            Self::Snp(_) => "snp",
            Self::Tdx(_) => "tdx",
            Self::Tpm(_) => "tpm",
            Self::CollateralMissing(_) => "collateral",
            Self::Mismatch { .. } => "mismatch",
        }
    }

    pub(crate) fn evidence(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Evidence {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn runtime(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::RuntimeData {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
