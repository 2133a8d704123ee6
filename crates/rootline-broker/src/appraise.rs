//! Appraisal behind a trait: verified claims plus reference values in, an
//! EAR status with reasons out.
//!
//! [`PolicyAppraiser`] is the broker's default: hardware evidence (SNP, TDX,
//! SGX, TPM) goes through `rootline-policy`'s Rego policies with the stored
//! reference values as data; kinds it has no policy for (the simulated TEE,
//! the insecure `sample` TEE) go to [`ReferenceValueAppraiser`], where every
//! reference value registered for the evidence's TEE must hold, and a TEE
//! with none registered is never affirmed (fail closed).

use std::sync::{Arc, Mutex};

use rootline_core::{TeeKind, Verified};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
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

/// Why `claims` do not meet `reference_values` (each names its claim and
/// lists its accepted values; case-insensitive text comparison): empty when
/// every one matches. `what` names the claims' owner in the reasons.
pub(crate) fn mismatches(
    claims: &Map<String, Value>,
    reference_values: &[&ReferenceValue],
    what: &str,
) -> Vec<String> {
    let mut reasons = Vec::new();
    for rv in reference_values {
        match lookup(claims, &rv.claim) {
            None => reasons.push(format!(
                "reference value {}: {what} has no claim {}",
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
    reasons
}

/// The claim at `path` (dots between members) of `claims`.
pub(crate) fn lookup<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
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
        // Insecure test mode is no exception: unsigned evidence with nothing
        // to compare it with is never affirmed (hardening finding 1).
        if relevant.is_empty() {
            reasons.push(format!(
                "no reference values are registered for tee {}",
                ev.tee
            ));
        }
        reasons.extend(mismatches(&ev.claims, &relevant, "the evidence"));
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

/// The reference key `rootline-policy` compares: `tee.claim` with the TEE's
/// command-line name (`snp.measurement`, `tpm.pcr.sha256.4`), or `None` for
/// kinds that `rootline-policy` does not appraise.
pub fn policy_key(tee: &str, claim: &str) -> Option<Result<String>> {
    let kind: TeeKind = tee.parse().ok()?;
    rootline_policy::policy::default_policy(kind)?;
    let key = format!("{}.{claim}", kind.as_str());
    Some(
        rootline_policy::reference::check_key(&key)
            .map(|()| key)
            .map_err(|e| Error::Malformed(e.to_string())),
    )
}

/// `rootline-policy`'s Rego appraisal for hardware evidence, with the
/// built-in reference-value appraiser for the other kinds.
pub struct PolicyAppraiser {
    set: rootline_policy::PolicySet,
    settings: Value,
    /// The appraiser bound to the last reference-value snapshot: binding
    /// compiles the policies, so it is redone only when the values change.
    bound: Mutex<Option<(String, Arc<rootline_policy::Appraiser>)>>,
}

impl std::fmt::Debug for PolicyAppraiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicyAppraiser")
    }
}

impl PolicyAppraiser {
    /// The default policies of `rootline-policy`, with `settings` (a JSON
    /// object, `{}` for the strict defaults).
    pub fn with_defaults(settings: Value) -> Result<Self> {
        let set = rootline_policy::PolicySet::defaults()
            .map_err(|e| Error::Config(format!("appraisal policies: {e}")))?;
        Ok(Self {
            set,
            settings,
            bound: Mutex::new(None),
        })
    }

    fn appraiser(&self, rvs: &[ReferenceValue]) -> Result<Arc<rootline_policy::Appraiser>> {
        let mut map: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
        for rv in rvs {
            let Some(key) = policy_key(&rv.tee, &rv.claim) else {
                continue;
            };
            let key = key?;
            for v in &rv.values {
                let v =
                    rootline_policy::reference::normalize_value(&key, &Value::String(v.clone()))
                        .map_err(|e| Error::Malformed(e.to_string()))?;
                map.entry(key.clone()).or_default().push(v);
            }
        }
        let snapshot = serde_json::to_string(&map).map_err(|e| Error::Policy(e.to_string()))?;
        let mut slot = self
            .bound
            .lock()
            .map_err(|_| Error::Policy("appraiser cache poisoned".into()))?;
        if let Some((snap, a)) = slot.as_ref() {
            if *snap == snapshot {
                return Ok(a.clone());
            }
        }
        let a = Arc::new(
            rootline_policy::Appraiser::new(
                &self.set,
                &rootline_policy::ReferenceValues(map),
                &self.settings,
            )
            .map_err(|e| Error::Policy(e.to_string()))?,
        );
        *slot = Some((snapshot, a.clone()));
        Ok(a)
    }
}

impl Appraiser for PolicyAppraiser {
    fn appraise(
        &self,
        evidence: &Verified<Evidence>,
        reference_values: &[ReferenceValue],
    ) -> Result<AppraisalResult> {
        let ev = evidence.get();
        // Hardware evidence goes to the policy engine with the verifier's
        // own proof; the simulated and sample TEEs (no `Verified` from the
        // verifier, no default policy) are appraised by reference values.
        let verified = match &ev.hardware {
            Some(v)
                if !ev.insecure && rootline_policy::policy::default_policy(v.tee()).is_some() =>
            {
                v
            }
            _ => return ReferenceValueAppraiser.appraise(evidence, reference_values),
        };
        let appraiser = self.appraiser(reference_values)?;
        let d = appraiser.appraise_device("cpu0", verified);
        let status = match d.status {
            rootline_policy::Tier::Affirming => status::AFFIRMING,
            rootline_policy::Tier::Warning => status::WARNING,
            // `none` is not a release: treated as contraindicated.
            _ => status::CONTRAINDICATED,
        };
        let trust_vector = match serde_json::to_value(d.trust_vector) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        Ok(AppraisalResult {
            status,
            trust_vector,
            policy_id: format!("{}@{}", d.policy, d.policy_hash),
            reasons: d
                .reasons
                .iter()
                .map(|r| match &r.key {
                    Some(k) => format!("{} ({k}): {}", r.component, r.message),
                    None => format!("{}: {}", r.component, r.message),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn rv(tee: &str, claim: &str, v: &str) -> ReferenceValue {
        ReferenceValue {
            name: "n".into(),
            tee: tee.into(),
            claim: claim.into(),
            values: vec![v.into()],
            version: 0,
        }
    }

    /// A real SEV-SNP report (oak's Milan vector) through the Rego policy:
    /// affirming with its measurement registered, contraindicated with the
    /// reason otherwise.
    #[test]
    fn snp_vector_through_rootline_policy() {
        let Some(dir) = rootline_testkit::vector("snp/oak") else {
            eprintln!("SKIPPED: vectors not present");
            return;
        };
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        let out = rootline_verifier::Verifier::pinned().verify(&rootline_verifier::Request {
            evidence: read("milan_cb_report.bin"),
            tee: Some(TeeKind::Snp),
            collateral: ["milan_cb_vcek.der", "ask_ark_milan.pem"]
                .iter()
                .map(|f| rootline_verifier::Collateral {
                    origin: dir.join(f),
                    bytes: read(f),
                })
                .collect(),
            ..Default::default()
        });
        let out = out.unwrap();
        let measurement = out.claims_json()["measurement"]
            .as_str()
            .unwrap()
            .to_owned();
        let ev = Verified::new(Evidence {
            tee: "snp".into(),
            claims: out.claims_json().clone(),
            tcb_status: out.tcb_status().map(str::to_owned),
            hardware: Some(std::sync::Arc::new(out)),
            insecure: false,
        });
        let a = PolicyAppraiser::with_defaults(json!({"allow_debug": true})).unwrap();
        let good = a
            .appraise(&ev, &[rv("snp", "measurement", &measurement)])
            .unwrap();
        assert_eq!(good.status, status::AFFIRMING, "{:?}", good.reasons);
        let bad = a
            .appraise(&ev, &[rv("snp", "measurement", &"00".repeat(48))])
            .unwrap();
        assert_eq!(bad.status, status::CONTRAINDICATED);
        assert!(
            bad.reasons.iter().any(|r| r.contains("snp.measurement")),
            "{:?}",
            bad.reasons
        );
        let none = a.appraise(&ev, &[]).unwrap();
        // rootline-policy calls a missing measurement a warning; the default
        // resource policy releases on affirming only.
        assert_ne!(
            none.status,
            status::AFFIRMING,
            "no reference values: never affirmed"
        );
        assert!(
            none.reasons.iter().any(|r| r.contains("snp.measurement")),
            "{:?}",
            none.reasons
        );
        // The simulated TEE goes to the built-in appraiser.
        let sim = Verified::new(Evidence {
            tee: crate::sim::TEE_NAME.into(),
            claims: json!({"measurement": "ab"}).as_object().unwrap().clone(),
            hardware: None,
            tcb_status: None,
            insecure: false,
        });
        assert_eq!(
            a.appraise(&sim, &[rv(crate::sim::TEE_NAME, "measurement", "AB")])
                .unwrap()
                .status,
            status::AFFIRMING
        );
        assert!(policy_key("snp", "Measurement").unwrap().is_err());
        assert!(policy_key(crate::sim::TEE_NAME, "measurement").is_none());
    }
}
