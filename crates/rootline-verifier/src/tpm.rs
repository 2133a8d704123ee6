//! TPM 2.0 evidence: forms, collateral, claims.

use rootline_core::TeeKind;

use crate::{Outcome, Request};

/// Verifies TPM 2.0 evidence.
pub(crate) fn verify(_req: &Request, out: Outcome) -> Outcome {
    out.reject("TPM 2.0 verification is not built yet")
}

/// Recognises TPM 2.0 evidence by content.
pub(crate) fn detect(_evidence: &[u8]) -> Option<TeeKind> {
    None
}
