//! SEV-SNP evidence: forms, collateral, claims, through `rootline-snp`.
//!
//! The [`Verifier`] is the caller's (held by `crate::Verifier`), so that
//! repeated verifications (a server, `rootline bench verify`) reuse the
//! chains and CRLs it has already verified.

use rootline_core::TeeKind;
use rootline_snp::evidence::Raw;
use rootline_snp::{Collateral, Options, Verifier};
use serde_json::{Map, Value};

use crate::{Claims, Rejection, Request, Verdict, Verified};

fn claims_map<T: serde::Serialize>(c: &T) -> Map<String, Value> {
    match serde_json::to_value(c) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Verifies SEV-SNP evidence, decoded by the caller (`Err`: why it did not
/// decode, reported after the collateral files are judged).
pub(crate) fn verify(
    verifier: &Verifier,
    parsed: &crate::Parsed<Collateral>,
    req: &Request,
    evidence: Result<&Raw, &String>,
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
    let raw = match evidence {
        Ok(raw) => raw,
        Err(reason) => return Err(Box::new(reject(reason.clone()))),
    };
    match verifier.verify_raw(raw, &coll, &opts) {
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

/// Recognises SEV-SNP evidence by content, keeping the report and table
/// its wrapper held.
pub(crate) fn decode(evidence: &[u8]) -> Option<Raw> {
    Raw::decode(evidence).ok().filter(Raw::is_plausible)
}
