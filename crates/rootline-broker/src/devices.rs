//! Device evidence beside the CPU's (the KBS `additional-evidence`, as
//! guest-components sends it for GPUs): verified, appraised, and made one
//! EAR submodule per device (`gpu0`, `gpu1`...).
//!
//! Binding: guest-components asks the devices for evidence over the hash of
//! the canonical runtime data *without* the device evidence (its
//! `device_runtime_data_hash`, with the session's hash algorithm), then binds
//! the CPU evidence to the runtime data *with* it. So a device's own nonce
//! must be that hash (an NVIDIA GPU takes its first 32 bytes), and the CPU's
//! report data covers the device evidence bytes: a device report from
//! another session fails its nonce, and evidence swapped in after the CPU
//! signed fails the CPU's binding.
//!
//! Appraisal: a verified device is affirming only when reference values are
//! stored for its kind and every one matches its claims (each GPU's claims:
//! `fwid`, `driver_version`, `vbios_version`, `measurements.N`...); with none
//! stored it is a warning (verified, not recognised); a device that fails
//! verification, or whose kind this broker cannot verify, is
//! contraindicated. A resource policy decides what it needs of them (the
//! default releases on cpu0 alone; `input.submods` holds every device).

use rootline_core::TeeKind;
use serde_json::{Map, Value};

use crate::appraise::status;
use crate::evidence::VerifierConfig;
use crate::store::ReferenceValue;
use crate::token::DeviceResult;

/// Verifies and appraises every device of `additional` (tee name, evidence)
/// against the device nonce `device_nonce` (see the module docs).
/// CPU-bound: callers on an async runtime run it on a blocking thread.
pub fn appraise(
    cfg: &VerifierConfig,
    additional: &[(String, Value)],
    device_nonce: &[u8],
    rvs: &[ReferenceValue],
    now: i64,
) -> Vec<DeviceResult> {
    let mut out = Vec::new();
    for (tee, evidence) in additional {
        match tee.as_str() {
            "nvidia" => out.extend(nvidia(cfg, evidence, device_nonce, rvs, now)),
            other => out.push(refused(
                other,
                format!(
                    "device evidence of kind {other:?} was received, but this broker has no verifier for it: the device is not trusted"
                ),
                None,
            )),
        }
    }
    out
}

fn refused(tee: &str, reason: String, claims: Option<Map<String, Value>>) -> DeviceResult {
    DeviceResult {
        tee: tee.to_owned(),
        status: status::CONTRAINDICATED,
        reasons: vec![reason],
        claims,
    }
}

fn nvidia(
    cfg: &VerifierConfig,
    evidence: &Value,
    device_nonce: &[u8],
    rvs: &[ReferenceValue],
    now: i64,
) -> Vec<DeviceResult> {
    let bytes = match evidence {
        Value::String(s) => s.as_bytes().to_vec(),
        v => serde_json::to_vec(v).unwrap_or_default(),
    };
    // The GPU takes the first 32 bytes of what it is given.
    let nonce: Vec<u8> = device_nonce.iter().copied().take(32).collect();
    let verdict = cfg.verifier.verify(&rootline_verifier::Request {
        evidence: bytes,
        tee: Some(TeeKind::Nvidia),
        collateral: Vec::new(),
        at: time::OffsetDateTime::from_unix_timestamp(now).ok(),
        nonce: Some(nonce),
        extra: Default::default(),
    });
    let verified = match verdict {
        Ok(v) => v,
        Err(r) => {
            return vec![refused(
                "nvidia",
                format!("the nvidia GPU evidence did not verify: {}", r.reason),
                None,
            )];
        }
    };
    let relevant: Vec<&ReferenceValue> = rvs.iter().filter(|r| r.tee == "nvidia").collect();
    let devices = verified
        .claims_json()
        .get("devices")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    devices
        .into_iter()
        .map(|d| {
            let claims = match d {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            let mut reasons = Vec::new();
            if relevant.is_empty() {
                reasons.push(
                    "the GPU's evidence verified, but no reference values are stored for nvidia, so its measurements are not recognised"
                        .to_owned(),
                );
            }
            reasons.extend(crate::appraise::mismatches(&claims, &relevant, "the GPU"));
            let status = if relevant.is_empty() {
                status::WARNING
            } else if reasons.is_empty() {
                status::AFFIRMING
            } else {
                status::CONTRAINDICATED
            };
            // The token carries what identifies the GPU and what it ran.
            let summary: Map<String, Value> = claims
                .iter()
                .filter(|(k, _)| {
                    matches!(
                        k.as_str(),
                        "arch" | "model" | "uuid" | "fwid" | "driver_version" | "vbios_version"
                    )
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            DeviceResult {
                tee: "nvidia".into(),
                status,
                reasons,
                claims: Some(summary),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use serde_json::json;

    fn rv(claim: &str, values: &[&str]) -> ReferenceValue {
        ReferenceValue {
            name: format!("gpu-{claim}"),
            tee: "nvidia".into(),
            claim: claim.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            version: 0,
        }
    }

    /// nvtrust's eight-H100 evidence, whose request nonce is recorded in the
    /// vector's expected.json: verified against that nonce, each GPU is its
    /// own result, and its status follows the stored reference values.
    #[test]
    fn eight_gpus_are_eight_results_judged_by_reference_values_and_their_nonce() {
        let Some(dir) = rootline_testkit::vector("nvidia/nvtrust") else {
            eprintln!("SKIPPED: the shared vectors are absent");
            return;
        };
        let evidence: Value =
            serde_json::from_slice(&std::fs::read(dir.join("gpu_evidence.json")).unwrap()).unwrap();
        let expected: Value =
            serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
        let items = expected["gpu_evidence.json"]["items"].as_array().unwrap();
        let nonce = hex::decode(items[0]["request_nonce"].as_str().unwrap()).unwrap();
        let fwids: Vec<&str> = items.iter().map(|i| i["fwid"].as_str().unwrap()).collect();
        let cfg = VerifierConfig::default();
        let additional = vec![("nvidia".to_owned(), evidence)];
        // 2025-01-01: inside the device certificates' validity.
        let now = 1_735_689_600;

        let none = appraise(&cfg, &additional, &nonce, &[], now);
        assert_eq!(none.len(), 8);
        assert!(none.iter().all(|d| d.status == status::WARNING), "{none:?}");
        assert_eq!(none[0].claims.as_ref().unwrap()["fwid"], fwids[0]);

        let all = appraise(&cfg, &additional, &nonce, &[rv("fwid", &fwids)], now);
        assert!(all.iter().all(|d| d.status == status::AFFIRMING), "{all:?}");

        // The eight share their firmware (one FWID); each answered with its
        // own responder nonce: a value only the first GPU matches.
        let first = items[0]["response_nonce"].as_str().unwrap();
        let one = appraise(
            &cfg,
            &additional,
            &nonce,
            &[rv("responder_nonce", &[first])],
            now,
        );
        assert_eq!(one[0].status, status::AFFIRMING, "{:?}", one[0]);
        assert!(one[1..].iter().all(|d| d.status == status::CONTRAINDICATED));
        assert!(
            one[1].reasons[0].contains("responder_nonce"),
            "{:?}",
            one[1].reasons
        );

        // Another session's nonce: the GPUs' reports are refused.
        let other = appraise(&cfg, &additional, &[7u8; 48], &[rv("fwid", &fwids)], now);
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].status, status::CONTRAINDICATED);
        assert!(
            other[0].reasons[0].contains("did not verify"),
            "{:?}",
            other[0].reasons
        );

        // A kind this broker cannot verify: named, never trusted.
        let dpu = appraise(
            &cfg,
            &[("nvidia-dpu".to_owned(), json!({}))],
            &nonce,
            &[],
            now,
        );
        assert_eq!(dpu[0].status, status::CONTRAINDICATED);
    }
}
