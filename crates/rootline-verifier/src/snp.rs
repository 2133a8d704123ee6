//! SEV-SNP evidence: forms, collateral, claims, through `rootline-snp`.
//!
//! The [`Verifier`] is the caller's (held by `crate::Verifier`), so that
//! repeated verifications (a server, `rootline bench verify`) reuse the
//! chains and CRLs it has already verified.

use rootline_core::TeeKind;
use rootline_snp::{Collateral, Options, Verifier};
use serde_json::{Map, Value};

use crate::{Outcome, Request};

fn claims_map<T: serde::Serialize>(c: &T) -> Map<String, Value> {
    match serde_json::to_value(c) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Verifies SEV-SNP evidence.
pub(crate) fn verify(
    verifier: &Verifier,
    parsed: &crate::Parsed<Collateral>,
    req: &Request,
    mut out: Outcome,
) -> Outcome {
    let coll = match parsed.get(&req.collateral, || {
        let mut coll = Collateral::new();
        for c in &req.collateral {
            coll.add(&c.origin.display().to_string(), &c.bytes)?;
        }
        Ok::<_, rootline_snp::Error>(coll)
    }) {
        Ok(c) => c,
        Err(e) => return out.reject(e.to_string()),
    };
    let opts = Options {
        at: req.at,
        nonce: req.nonce.clone(),
    };
    match verifier.verify_evidence(&req.evidence, &coll, &opts) {
        Ok(v) => {
            let a = v.into_inner();
            out.claims = claims_map(&a.claims);
            out.warnings = a.warnings;
            out.verified = true;
            out.error = None;
            out
        }
        Err(r) => {
            if let Some(c) = &r.claims {
                out.claims = claims_map(c);
            }
            out.warnings = r.warnings;
            out.reject(r.error.to_string())
        }
    }
}

/// Recognises SEV-SNP evidence by content.
pub(crate) fn detect(evidence: &[u8]) -> Option<TeeKind> {
    rootline_snp::evidence::sniff(evidence).then_some(TeeKind::Snp)
}
