//! Appraisal behind a trait: verified claims plus reference values in, an
//! EAR status with reasons out.
//!
//! `rootline-policy` (Rego over claims, AR4SI vectors) plugs in here through
//! [`Appraiser`]; [`ReferenceValueAppraiser`] is the built-in one: every
//! reference value registered for the evidence's TEE must hold, and a TEE with
//! none registered is never affirmed (fail closed).

use rootline_core::Verified;
use serde_json::{Map, Value, json};

use crate::error::Result;
use crate::evidence::Evidence;
use crate::store::ReferenceValue;

/// EAR status values (draft-ietf-rats-ear section 3.2).
pub mod status {
    /// Every check passed.
    pub const AFFIRMING: &str = "affirming";
    /// Passed with reservations.
    pub const WARNING: &str = "warning";
    /// A check failed.
    pub const CONTRAINDICATED: &str = "contraindicated";
}

/// The outcome of appraisal for one device.
#[derive(Debug, Clone)]
pub struct AppraisalResult {
    /// `affirming`, `warning` or `contraindicated`.
    pub status: &'static str,
    /// AR4SI trustworthiness vector.
    pub trust_vector: Map<String, Value>,
    /// Identifies the appraisal policy.
    pub policy_id: String,
    /// Why, one sentence per finding (empty when affirming).
    pub reasons: Vec<String>,
}

/// Appraises verified evidence.
pub trait Appraiser: Send + Sync {
    /// Appraises `evidence` against `reference_values`.
    fn appraise(
        &self,
        evidence: &Verified<Evidence>,
        reference_values: &[ReferenceValue],
    ) -> Result<AppraisalResult>;
}

/// The built-in appraiser: reference values as allow-lists of claim values.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReferenceValueAppraiser;

fn lookup<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = claims.get(parts.next()?)?;
    for p in parts {
        cur = cur.get(p)?;
    }
    Some(cur)
}

impl Appraiser for ReferenceValueAppraiser {
    fn appraise(
        &self,
        evidence: &Verified<Evidence>,
        reference_values: &[ReferenceValue],
    ) -> Result<AppraisalResult> {
        let ev = evidence.get();
        let mut reasons = Vec::new();
        let relevant: Vec<_> = reference_values
            .iter()
            .filter(|r| r.tee == ev.tee)
            .collect();
        if ev.insecure {
            // Insecure test mode: no hardware, nothing to compare; the token
            // is marked by the caller.
        } else if relevant.is_empty() {
            reasons.push(format!(
                "no reference values are registered for tee {}",
                ev.tee
            ));
        }
        for rv in &relevant {
            match lookup(&ev.claims, &rv.claim) {
                None => reasons.push(format!(
                    "reference value {}: the evidence has no claim {}",
                    rv.name, rv.claim
                )),
                Some(v) => {
                    let text = match v {
                        Value::String(s) => s.to_ascii_lowercase(),
                        other => other.to_string(),
                    };
                    if !rv.values.iter().any(|a| a.to_ascii_lowercase() == text) {
                        reasons.push(format!(
                            "reference value {}: {} is {text}, which is not among the {} accepted value(s)",
                            rv.name,
                            rv.claim,
                            rv.values.len()
                        ));
                    }
                }
            }
        }
        let ok = reasons.is_empty();
        // AR4SI: 2 = affirming, 33/96 = contraindicated (RFC 9334 companion
        // draft-ietf-rats-ar4si section 2.3).
        let trust_vector = json!({
            "instance-identity": if ok { 2 } else { 96 },
            "hardware": 2,
            "executables": if ok { 2 } else { 33 },
            "configuration": if ok { 2 } else { 33 },
        });
        Ok(AppraisalResult {
            status: if ok {
                status::AFFIRMING
            } else {
                status::CONTRAINDICATED
            },
            trust_vector: match trust_vector {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            policy_id: "rootline/reference-values".into(),
            reasons,
        })
    }
}
