//! Normalized claims: the verifier's claims flattened into the reference-key
//! namespace, so that a policy compares `input.claims["tpm.pcr.sha256.4"]`
//! with `data.reference["tpm.pcr.sha256.4"]` without knowing how each TEE
//! nests its claims.
//!
//! Nested objects become dot paths under the TEE's name (`snp.reported_tcb.
//! microcode`); the TPM's `pcrs {bank: {index: hex}}` becomes
//! `tpm.pcr.BANK.INDEX`. Arrays and scalars are kept as they are. The depth is
//! bounded: the claims come from our own verifier, but a bound costs nothing.

use rootline_core::TeeKind;
use serde_json::{Map, Value};

/// Deepest nesting flattened; deeper objects are kept whole.
const MAX_DEPTH: usize = 8;

/// Flattens `claims` of a `tee` outcome into `tee.path` keys.
pub fn normalize(tee: TeeKind, claims: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in claims {
        let name = if tee == TeeKind::Tpm && k == "pcrs" {
            "pcr"
        } else {
            k.as_str()
        };
        flatten(&format!("{}.{name}", tee.as_str()), v, 1, &mut out);
    }
    // CCA's four realm extensible measurements come as a list; each is a
    // register of its own for reference values (cca.realm.rem0..3).
    if tee == TeeKind::Cca {
        if let Some(Value::Array(rems)) = out.remove("cca.realm.extensible_measurements") {
            for (i, r) in rems.into_iter().enumerate() {
                out.insert(format!("cca.realm.rem{i}"), r);
            }
        }
    }
    out
}

fn flatten(prefix: &str, v: &Value, depth: usize, out: &mut Map<String, Value>) {
    match v {
        Value::Object(m) if depth < MAX_DEPTH => {
            for (k, v) in m {
                flatten(&format!("{prefix}.{k}"), v, depth + 1, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

/// The policy input for one device: its name, kind, verification verdict,
/// TCB status and advisories, warnings and normalized claims. A rejected
/// device goes in too (with `verified: false` and the reason), so that a
/// policy can explain what it would have said; its appraisal is
/// contraindicated whatever the policy answers.
pub fn device_input(
    device: &str,
    verdict: Result<&rootline_verifier::Verified, &rootline_verifier::Rejection>,
) -> Value {
    let (tee, claims, error, tcb, advisories, warnings) = match verdict {
        Ok(v) => (
            Some(v.tee()),
            v.claims_json(),
            None,
            v.tcb_status(),
            v.advisory_ids(),
            v.warnings(),
        ),
        Err(r) => (
            r.tee,
            &r.claims,
            Some(r.reason.as_str()),
            r.tcb_status.as_deref(),
            r.advisory_ids.as_slice(),
            r.warnings.as_slice(),
        ),
    };
    let claims = match tee {
        Some(t) => normalize(t, claims),
        None => Map::new(),
    };
    serde_json::json!({
        "device": device,
        "tee": tee.map(|t| t.as_str()),
        "verified": verdict.is_ok(),
        "error": error,
        "tcb_status": tcb,
        "advisory_ids": advisories,
        "warnings": warnings,
        "claims": claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tpm_pcrs_become_reference_keys_and_objects_flatten() {
        let claims = serde_json::json!({
            "pcrs": {"sha256": {"4": "AB", "0": "cd"}},
            "event_log": {"matches_quote": true},
            "quotes": [1, 2],
        });
        let m = normalize(TeeKind::Tpm, claims.as_object().unwrap_or(&Map::new()));
        assert_eq!(m.get("tpm.pcr.sha256.4"), Some(&Value::from("AB")));
        assert_eq!(m.get("tpm.pcr.sha256.0"), Some(&Value::from("cd")));
        assert_eq!(
            m.get("tpm.event_log.matches_quote"),
            Some(&Value::Bool(true))
        );
        assert_eq!(m.get("tpm.quotes"), Some(&serde_json::json!([1, 2])));
        assert!(!m.contains_key("tpm.pcrs.sha256.4"));
    }
}
