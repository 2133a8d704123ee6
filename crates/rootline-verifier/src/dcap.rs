//! Intel TDX and SGX DCAP evidence: forms, collateral, claims.

use rootline_core::TeeKind;

use crate::{Outcome, Request};

/// Verifies Intel TDX and SGX DCAP evidence.
pub(crate) fn verify(_req: &Request, out: Outcome) -> Outcome {
    out.reject("Intel TDX and SGX DCAP verification is not built yet")
}

/// Recognises Intel TDX and SGX DCAP evidence by content.
pub(crate) fn detect(_evidence: &[u8]) -> Option<TeeKind> {
    None
}
