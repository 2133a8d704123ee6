//! The verifier's single entry point.
//!
//! [`verify`] takes evidence bytes (raw, hex or one of the wrappers found in
//! the wild), the collateral files the caller supplied, the verification time
//! and the expected nonce, detects the TEE kind when it is not given, and
//! dispatches to the evidence crate for that kind. Whatever happens, it returns
//! an [`Outcome`] that carries what could be parsed, so a rejection can always
//! be explained.
//!
//! Non-goals: no HTTP, no SQL, no async runtime. Fetching collateral from
//! vendor services is the caller's business; this crate only reads what it is
//! handed.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod azure;
mod dcap;
mod snp;
mod tpm;

use std::path::PathBuf;

use rootline_core::TeeKind;
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// What the caller asks the verifier to check.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The evidence as read from disk or the wire.
    pub evidence: Vec<u8>,
    /// The TEE kind, when the caller knows it; detected from content otherwise.
    pub tee: Option<TeeKind>,
    /// Collateral files, each recognised by content.
    pub collateral: Vec<Collateral>,
    /// The instant at which certificates, CRLs and TCB info are judged; now when absent.
    pub at: Option<OffsetDateTime>,
    /// The nonce the evidence must carry; freshness is not checked when absent.
    pub nonce: Option<Vec<u8>>,
    /// Kind-specific extra inputs (TPM signature and AK, event logs).
    pub extra: Extra,
}

/// A collateral file as supplied by the caller.
#[derive(Debug, Clone)]
pub struct Collateral {
    /// Where it came from, for messages.
    pub origin: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Inputs that only some kinds take.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// TPM: the signature file (`tpm2_quote -s`).
    pub signature: Option<Vec<u8>>,
    /// TPM: the attestation key (PEM, DER SPKI or TPM2B_PUBLIC).
    pub ak: Option<Vec<u8>>,
    /// TPM: the PCR values file (`tpm2_quote -o`).
    pub pcrs: Option<Vec<u8>>,
    /// A TCG event log (TPM) or CCEL (TDX) to replay against the signed registers.
    pub eventlog: Option<Vec<u8>>,
}

/// The result of one verification, verified or not, in the JSON shape of the
/// command-line contract.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The kind that was verified.
    pub tee: Option<TeeKind>,
    /// True only when every check passed.
    pub verified: bool,
    /// The first failed check, as a sentence a person can act on.
    pub error: Option<String>,
    /// TCB status where the TEE defines one.
    pub tcb_status: Option<String>,
    /// Vendor advisories attached to the TCB status.
    pub advisory_ids: Vec<String>,
    /// Claims: everything that could be parsed, even on rejection.
    pub claims: Map<String, Value>,
    /// Things a person should know that did not cause rejection.
    pub warnings: Vec<String>,
}

impl Outcome {
    /// A fresh, not-yet-verified outcome for `tee`.
    pub fn new(tee: Option<TeeKind>) -> Self {
        Self {
            tee,
            verified: false,
            error: None,
            tcb_status: None,
            advisory_ids: Vec::new(),
            claims: Map::new(),
            warnings: Vec::new(),
        }
    }

    /// Marks the outcome rejected with `reason`.
    pub fn reject(mut self, reason: impl Into<String>) -> Self {
        self.verified = false;
        self.error = Some(reason.into());
        self
    }
}

/// Verifies evidence of any supported kind.
pub fn verify(req: &Request) -> Outcome {
    let tee = req.tee.or_else(|| detect(&req.evidence));
    match tee {
        None => Outcome::new(None)
            .reject("could not tell the evidence kind from its content; pass --tee KIND"),
        Some(kind @ TeeKind::Snp) => snp::verify(req, Outcome::new(Some(kind))),
        Some(kind @ (TeeKind::Tdx | TeeKind::Sgx)) => dcap::verify(req, Outcome::new(Some(kind))),
        Some(kind @ TeeKind::Tpm) => tpm::verify(req, Outcome::new(Some(kind))),
        Some(kind @ (TeeKind::AzureSnp | TeeKind::AzureTdx)) => {
            azure::verify(req, kind, Outcome::new(Some(kind)))
        }
        Some(kind) => Outcome::new(Some(kind)).reject(format!(
            "verification of {kind} evidence is not supported yet"
        )),
    }
}

/// Guesses the TEE kind from the evidence bytes; `None` when no module
/// recognises them.
pub fn detect(evidence: &[u8]) -> Option<TeeKind> {
    // Azure first: its TDX form carries a `td_quote` member that the DCAP
    // detection would take for a bare quote.
    azure::detect(evidence)
        .or_else(|| snp::detect(evidence))
        .or_else(|| dcap::detect(evidence))
        .or_else(|| tpm::detect(evidence))
}
