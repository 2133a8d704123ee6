//! IBM Z Secure Execution, through `rootline-se`.
//!
//! SE evidence is the Ultravisor's answer to a request the relying party
//! made, so verifying it takes what the relying party kept from that
//! request: the measurement key and nonce. They come either as collateral
//! (`rootline verify --tee se --collateral secret.json`, the JSON of
//! `rootline_se::RequestSecret`) or, in the KBS flow, sealed inside the
//! evidence itself under the verifier's key
//! (`Verifier::with_se_sealing_key`). The nonce (`--nonce`) is compared
//! with the user data, where guest-components puts the KBS runtime-data
//! digest.

use rootline_core::TeeKind;
use rootline_se::{RequestSecret, Response, SealingKey};
use serde_json::{Map, Value};

use crate::{Claims, Rejection, Request, Verdict, Verified};

fn claims_map(c: &rootline_se::Claims) -> Map<String, Value> {
    match serde_json::to_value(c) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The response in any accepted form: JSON, or its hex text.
fn response(evidence: &[u8]) -> Result<Response, String> {
    match Response::from_json(evidence) {
        Ok(r) => Ok(r),
        Err(e) => {
            let hex = std::str::from_utf8(evidence)
                .ok()
                .and_then(|t| hex::decode(t.trim()).ok());
            match hex {
                Some(b) => Response::from_json(&b).map_err(|e| e.to_string()),
                None => Err(e.to_string()),
            }
        }
    }
}

/// Verifies SE evidence with the request secret from the collateral or,
/// failing that, sealed in the evidence under `sealing`.
pub(crate) fn verify(sealing: Option<&SealingKey>, req: &Request, evidence: &[u8]) -> Verdict {
    let reject = |reason: String, claims: Map<String, Value>| {
        Err(Box::new(Rejection {
            tee: Some(TeeKind::Se),
            reason,
            claims,
            tcb_status: None,
            advisory_ids: Vec::new(),
            warnings: Vec::new(),
        }))
    };
    let r = match response(evidence) {
        Ok(r) => r,
        Err(e) => {
            return reject(
                format!(
                    "not IBM SE evidence (guest-components' JSON with measurement, cuid, \
                     image_hdr_tags...): {e}"
                ),
                Map::new(),
            );
        }
    };
    let mut secret: Option<RequestSecret> = None;
    for c in &req.collateral {
        match RequestSecret::from_json(&c.bytes) {
            Ok(s) if secret.is_none() => secret = Some(s),
            Ok(_) => {
                return reject(
                    format!(
                        "collateral {}: a second SE request secret (give one)",
                        c.origin.display()
                    ),
                    claims_map(&r.claims(None, None)),
                );
            }
            Err(e) => {
                return reject(
                    format!(
                        "collateral {}: not an SE request secret: {e}",
                        c.origin.display()
                    ),
                    claims_map(&r.claims(None, None)),
                );
            }
        }
    }
    let secret = match (secret, sealing) {
        (Some(s), _) => s,
        (None, Some(k)) => match k.open(&r.encr_measurement_key, &r.encr_request_nonce) {
            Ok(s) => s,
            Err(e) => {
                return reject(
                    format!("the sealed request secret: {e}"),
                    claims_map(&r.claims(None, None)),
                );
            }
        },
        (None, None) => {
            return reject(
                "no SE request secret: pass the measurement key and nonce kept from the \
                 attestation request as --collateral (its JSON)"
                    .into(),
                claims_map(&r.claims(None, None)),
            );
        }
    };
    match r.verify(&secret, req.nonce.as_deref()) {
        Ok(v) => {
            let mut warnings = Vec::new();
            if req.nonce.is_none() {
                warnings.push(
                    "no nonce given: the user data was not checked for the session binding (the \
                     request nonce was: it is in the measurement)"
                        .into(),
                );
            }
            Ok(Verified::new(
                TeeKind::Se,
                Claims::Se(Box::new(v.into_inner())),
                warnings,
            ))
        }
        Err(e) => reject(
            e.to_string(),
            claims_map(&r.claims(Some(secret.flags), Some(&secret.nonce))),
        ),
    }
}

/// Recognises SE evidence by content.
pub(crate) fn detect(evidence: &[u8]) -> Option<TeeKind> {
    rootline_se::detect(evidence).then_some(TeeKind::Se)
}
