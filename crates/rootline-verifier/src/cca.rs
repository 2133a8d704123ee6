//! Arm CCA attestation tokens, through `rootline-cca`.
//!
//! The platform key (CPAK) is a trust anchor, not collateral fetched per
//! platform: there is no public Arm root to pin, so the anchors are the
//! verifier's (`Verifier::with_cca_anchors`, the broker's
//! `cca_trust_anchors`) plus any trust-anchor JSON the request carries as
//! collateral (`rootline verify --tee cca --collateral ta.json`). Evidence
//! comes raw (the tag-399 CBOR), as hex, or in guest-components' KBS form
//! (`{"token": [...]}`). The nonce is the realm challenge (a shorter one
//! zero-padded to 64 bytes, as guest-components and Trustee do).

use rootline_cca::TrustAnchors;
use rootline_core::TeeKind;
use serde_json::{Map, Value};

use crate::{Claims, Rejection, Request, Verdict, Verified};

/// The token bytes of CCA evidence in any accepted form.
pub(crate) fn token(evidence: &[u8]) -> Option<Vec<u8>> {
    if rootline_cca::detect(evidence) {
        return Some(evidence.to_vec());
    }
    if let Ok(t) = rootline_cca::token_from_kbs_evidence(evidence) {
        return Some(t);
    }
    let text = std::str::from_utf8(evidence).ok()?.trim();
    let raw = hex::decode(text).ok()?;
    rootline_cca::detect(&raw).then_some(raw)
}

fn claims_map(c: &rootline_cca::Claims) -> Map<String, Value> {
    match serde_json::to_value(c) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The rejection of evidence that holds no CCA token in any form.
pub(crate) const NOT_A_TOKEN: &str = "not an Arm CCA attestation token: expected the CBOR \
     collection (tag 399), its hex text, or guest-components' {\"token\": [...]} evidence";

/// Verifies a CCA token (decoded by the caller) against `configured` anchors plus those the
/// request carries.
pub(crate) fn verify(configured: &TrustAnchors, req: &Request, token: &[u8]) -> Verdict {
    let reject = |reason: String, claims: Map<String, Value>| {
        Err(Box::new(Rejection {
            tee: Some(TeeKind::Cca),
            reason,
            claims,
            tcb_status: None,
            advisory_ids: Vec::new(),
            warnings: Vec::new(),
        }))
    };
    let mut anchors = configured.clone();
    for c in &req.collateral {
        if let Err(e) = anchors.add_json(&c.bytes) {
            return reject(
                format!(
                    "collateral {}: not a CCA trust anchor (CPAK JSON): {e}",
                    c.origin.display()
                ),
                Map::new(),
            );
        }
    }
    if anchors.is_empty() {
        let claims = rootline_cca::decode(token)
            .map(|c| claims_map(&c))
            .unwrap_or_default();
        return reject(
            "no CCA trust anchor: pass the platform's CPAK as --collateral (a trust-anchor JSON) \
             or configure cca_trust_anchors"
                .into(),
            claims,
        );
    }
    match rootline_cca::verify(token, &anchors, req.nonce.as_deref()) {
        Ok(v) => {
            let mut warnings = Vec::new();
            if req.nonce.is_none() {
                warnings.push(
                    "no nonce given: the realm challenge was not checked for freshness".into(),
                );
            }
            Ok(Verified::new(
                TeeKind::Cca,
                Claims::Cca(Box::new(v.into_inner())),
                warnings,
            ))
        }
        Err(e) => {
            let claims = rootline_cca::decode(token)
                .map(|c| claims_map(&c))
                .unwrap_or_default();
            reject(e.to_string(), claims)
        }
    }
}
