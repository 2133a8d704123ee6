//! SEV-SNP evidence: forms, collateral, claims, through `rootline-snp`.
//!
//! The [`Verifier`] is the caller's (held by `crate::Verifier`), so that
//! repeated verifications (a server, `rootline bench verify`) reuse the
//! chains and CRLs it has already verified.

use rootline_core::TeeKind;
use rootline_snp::{Collateral, Options, Verifier};
use serde_json::{Map, Value};

use crate::{Claims, Rejection, Request, Verdict, Verified};

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
) -> Verdict {
    let reject = |reason: String| Rejection {
        tee: Some(TeeKind::Snp),
        reason,
        claims: Map::new(),
        tcb_status: None,
        advisory_ids: Vec::new(),
        warnings: Vec::new(),
    };
    let coll = match parsed.get(&req.collateral, || {
        let mut coll = Collateral::new();
        for c in &req.collateral {
            coll.add(&c.origin.display().to_string(), &c.bytes)?;
        }
        Ok::<_, rootline_snp::Error>(coll)
    }) {
        Ok(c) => c,
        Err(e) => return Err(Box::new(reject(e.to_string()))),
    };
    let opts = Options {
        at: req.at,
        nonce: req.nonce.clone(),
    };
    match verifier.verify_evidence(&req.evidence, &coll, &opts) {
        Ok(v) => {
            let a = v.into_inner();
            Ok(Verified::new(
                TeeKind::Snp,
                Claims::Snp(Box::new(a.claims)),
                a.warnings,
            ))
        }
        Err(r) => Err(Box::new(Rejection {
            claims: r.claims.as_ref().map(claims_map).unwrap_or_default(),
            warnings: r.warnings,
            ..reject(r.error.to_string())
        })),
    }
}

/// Recognises SEV-SNP evidence by content.
pub(crate) fn detect(evidence: &[u8]) -> Option<TeeKind> {
    rootline_snp::evidence::sniff(evidence).then_some(TeeKind::Snp)
}
