//! SEV-SNP evidence: forms, collateral, claims.

use rootline_core::TeeKind;

use crate::{Outcome, Request};

/// Verifies SEV-SNP evidence.
pub(crate) fn verify(_req: &Request, out: Outcome) -> Outcome {
    out.reject("SEV-SNP verification is not built yet")
}

/// Recognises SEV-SNP evidence by content.
pub(crate) fn detect(_evidence: &[u8]) -> Option<TeeKind> {
    None
}
