//! NVIDIA Hopper and Blackwell GPU evidence, through `rootline-nvidia`: the
//! SPDM GET_MEASUREMENTS transcript and its signature, the device chain to
//! the verifier's NVIDIA roots (the pinned NVIDIA Device Identity CA unless
//! the caller replaced it), the FWID, and, when reference
//! integrity manifests come as collateral, the measurements against them.
//!
//! The nonce is the SPDM request nonce (at most 32 bytes, zero-padded, as
//! guest-components' attester pads the report data it is given). A RIM
//! given as collateral is compared with only once its XML signature
//! verifies to the pinned NVIDIA RIM root (kept when
//! [`crate::Verifier::with_nvidia_roots`] replaces the device roots); one
//! that applies to a GPU but does not verify rejects the evidence, and the
//! claims name the signers (`"signature": "verified", "signers": [...]`).
//!
//! Collateral files are told apart by content: DER (a first byte of
//! `0x30`) is an OCSP response (RFC 6960) for a certificate of a device
//! chain or of a RIM signing chain, anything else a RIM (XML). A response
//! that names a certificate must verify and say good, or the evidence is
//! rejected (see `rootline_nvidia::ocsp`); certificates no response names
//! stay `not_checked` in the claims (`revocation.checked` is false) and a
//! warning says so, so that a policy can require revocation checks.

use rootline_core::TeeKind;
use serde_json::{Map, Value};

use crate::{Claims, Rejection, Request, Verdict, Verified};

fn claims_map(c: &rootline_nvidia::Claims) -> Map<String, Value> {
    match serde_json::to_value(c) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Verifies NVIDIA GPU evidence with `verifier` (its roots), with the RIMs
/// the request carries as collateral.
pub(crate) fn verify(
    verifier: &rootline_nvidia::Verifier,
    req: &Request,
    evidence: &[u8],
) -> Verdict {
    let reject = |reason: String, claims: Map<String, Value>| {
        Err(Box::new(Rejection {
            tee: Some(TeeKind::Nvidia),
            reason,
            claims,
            tcb_status: None,
            advisory_ids: Vec::new(),
            warnings: Vec::new(),
        }))
    };
    let mut rims = Vec::new();
    let mut ocsp = Vec::new();
    for c in &req.collateral {
        if c.bytes.first() == Some(&0x30) {
            if let Err(e) = rootline_nvidia::ocsp::OcspResponse::parse(&c.bytes) {
                return reject(
                    format!(
                        "collateral {}: unusable OCSP response: {e}",
                        c.origin.display()
                    ),
                    Map::new(),
                );
            }
            ocsp.push(c.bytes.clone());
            continue;
        }
        match rootline_nvidia::Rim::parse(&c.bytes) {
            Ok(r) => rims.push(r),
            Err(e) => {
                return reject(
                    format!(
                        "collateral {}: not an NVIDIA reference integrity manifest (SWID tag): {e}",
                        c.origin.display()
                    ),
                    Map::new(),
                );
            }
        }
    }
    let opts = rootline_nvidia::Options {
        nonce: req.nonce.as_deref(),
        rims: &rims,
        ocsp: &ocsp,
        at: req.at.map(time::OffsetDateTime::unix_timestamp),
    };
    match verifier.verify(evidence, &opts) {
        Ok(v) => {
            let mut warnings = Vec::new();
            if req.nonce.is_none() {
                warnings.push(
                    "no nonce given: the SPDM request nonce was not checked for freshness".into(),
                );
            }
            if rims.is_empty() {
                warnings.push(
                    "no RIM given: the measurements were not compared with reference values".into(),
                );
            }
            let unchecked = v
                .get()
                .devices
                .iter()
                .filter(|d| !d.revocation.checked)
                .count();
            if ocsp.is_empty() {
                warnings.push(
                    "no OCSP response given: revocation of the device and RIM certificates was not checked".into(),
                );
            } else if unchecked > 0 {
                warnings.push(format!(
                    "the OCSP responses given do not cover every certificate of {unchecked} device(s): their revocation is partly unchecked"
                ));
            }
            Ok(Verified::new(
                TeeKind::Nvidia,
                Claims::Nvidia(Box::new(v.into_inner())),
                warnings,
            ))
        }
        Err(e) => {
            let claims = rootline_nvidia::decode(evidence)
                .map(|c| claims_map(&c))
                .unwrap_or_default();
            reject(e.to_string(), claims)
        }
    }
}

/// Recognises NVIDIA GPU evidence by content.
pub(crate) fn detect(evidence: &[u8]) -> Option<TeeKind> {
    rootline_nvidia::detect(evidence).then_some(TeeKind::Nvidia)
}
