//! The reference-value vocabulary: which claims of each TEE a reference
//! value may name, and the form of their values. One vocabulary for
//! `rootline reference`, the broker's admin API and the demo, so that a
//! typo (`--tee snpp`, `--claim mesurement`, `--value zz`) is refused with
//! what was meant instead of stored and never matched.
//!
//! Keys are `rootline-policy`'s (see [`crate::claims`]): the TEE's name,
//! then the claim's path in the verifier's claims (`snp.measurement`,
//! `snp.reported_tcb.microcode`, `tdx.rtmr0`), except that TPM registers
//! are `tpm.pcr.BANK.INDEX`. The SEV-SNP keys are derived from the claims
//! `rootline-snp` produces for a report (they cannot drift from it); the
//! others are listed here, and a test checks every claim of the real vectors
//! against them.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use rootline_core::TeeKind;
use serde_json::Value;

/// The form of a claim's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Hex text of exactly this many bytes.
    Hex(usize),
    /// Hex text of any length.
    AnyHex,
    /// An integer.
    Int,
    /// `true` or `false`.
    Bool,
    /// Free text (a product name, an event's description).
    Text,
}

impl Form {
    fn describe(self) -> String {
        match self {
            Self::Hex(n) => format!("{n} bytes of hex ({} hex digits)", n * 2),
            Self::AnyHex => "hex text".into(),
            Self::Int => "an integer".into(),
            Self::Bool => "true or false".into(),
            Self::Text => "text".into(),
        }
    }

    /// Checks one value in its text form.
    pub fn check(self, key: &str, v: &str) -> Result<(), String> {
        let v = v.trim();
        let hex = v.strip_prefix("0x").unwrap_or(v);
        let ok = match self {
            Self::Hex(n) => hex.len() == n * 2 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            Self::AnyHex => {
                !hex.is_empty() && hex.len() % 2 == 0 && hex.bytes().all(|b| b.is_ascii_hexdigit())
            }
            Self::Int => v.parse::<i64>().is_ok() || v.parse::<u64>().is_ok(),
            Self::Bool => v == "true" || v == "false",
            Self::Text => !v.is_empty(),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("value {v:?} of {key} is not {}", self.describe()))
        }
    }
}

const BANKS: [(&str, usize); 5] = [
    ("sha1", 20),
    ("sha256", 32),
    ("sha384", 48),
    ("sha512", 64),
    ("sm3_256", 32),
];

fn tdx_claims() -> Vec<(String, Form)> {
    let mut v: Vec<(String, Form)> = [
        ("mr_td", Form::Hex(48)),
        ("mr_seam", Form::Hex(48)),
        ("mr_signer_seam", Form::Hex(48)),
        ("mr_config_id", Form::Hex(48)),
        ("mr_owner", Form::Hex(48)),
        ("mr_owner_config", Form::Hex(48)),
        ("mr_service_td", Form::Hex(48)),
        ("report_data", Form::Hex(64)),
        ("tee_tcb_svn", Form::Hex(16)),
        ("tee_tcb_svn2", Form::Hex(16)),
        ("seam_attributes", Form::Hex(8)),
        ("td_attributes", Form::Hex(8)),
        ("xfam", Form::Hex(8)),
        ("fmspc", Form::Hex(6)),
        ("debug_allowed", Form::Bool),
        ("quote_version", Form::Int),
        ("body_type", Form::Int),
        ("ccel_events", Form::Int),
    ]
    .into_iter()
    .map(|(k, f)| (k.to_owned(), f))
    .collect();
    for i in 0..4 {
        v.push((format!("rtmr{i}"), Form::Hex(48)));
        v.push((format!("ccel_rtmr{i}"), Form::Hex(48)));
    }
    for bit in [
        "debug",
        "sept_ve_disable",
        "pks",
        "kl",
        "migratable",
        "perfmon",
    ] {
        v.push((format!("td_attributes_decoded.{bit}"), Form::Bool));
    }
    v
}

fn sgx_claims() -> Vec<(String, Form)> {
    [
        ("mr_enclave", Form::Hex(32)),
        ("mr_signer", Form::Hex(32)),
        ("cpu_svn", Form::Hex(16)),
        ("attributes", Form::Hex(16)),
        ("misc_select", Form::Hex(4)),
        ("report_data", Form::Hex(64)),
        ("fmspc", Form::Hex(6)),
        ("isv_prod_id", Form::Int),
        ("isv_svn", Form::Int),
        ("debug_allowed", Form::Bool),
        ("quote_version", Form::Int),
    ]
    .into_iter()
    .map(|(k, f)| (k.to_owned(), f))
    .collect()
}

fn se_claims() -> Vec<(String, Form)> {
    [
        ("tag", Form::Hex(16)),
        ("page_list_digest", Form::Hex(64)),
        ("address_list_digest", Form::Hex(64)),
        ("tweak_list_digest", Form::Hex(64)),
        ("cuid", Form::Hex(16)),
        ("image_phkh", Form::Hex(32)),
        ("attestation_phkh", Form::Hex(32)),
        ("secret_store_hash", Form::Hex(64)),
        ("firmware_state", Form::AnyHex),
        ("user_data", Form::AnyHex),
        ("report_data", Form::AnyHex),
        ("version", Form::Int),
    ]
    .into_iter()
    .map(|(k, f)| (k.to_owned(), f))
    .collect()
}

fn cca_claims() -> Vec<(String, Form)> {
    let mut v: Vec<(String, Form)> = [
        ("realm.initial_measurement", Form::AnyHex),
        ("realm.personalization_value", Form::Hex(64)),
        ("realm.challenge", Form::Hex(64)),
        ("realm.public_key", Form::AnyHex),
        ("realm.hash_alg", Form::Text),
        ("realm.public_key_hash_alg", Form::Text),
        ("realm.profile", Form::Text),
        ("platform.profile", Form::Text),
        ("platform.challenge", Form::AnyHex),
        ("platform.implementation_id", Form::Hex(32)),
        ("platform.instance_id", Form::Hex(33)),
        ("platform.config", Form::AnyHex),
        ("platform.lifecycle", Form::Int),
        ("platform.verification_service", Form::Text),
        ("platform.hash_alg", Form::Text),
        // The measured platform components, a list a policy may read; not a
        // value a reference can name.
        ("platform.sw_components", Form::Text),
    ]
    .into_iter()
    .map(|(k, f)| (k.to_owned(), f))
    .collect();
    for i in 0..4 {
        v.push((format!("realm.rem{i}"), Form::AnyHex));
    }
    v
}

/// Claims of one NVIDIA GPU (reference values for `nvidia` are matched
/// against each GPU of the evidence).
fn nvidia_claim(claim: &str) -> Option<Form> {
    match claim.split('.').collect::<Vec<_>>().as_slice() {
        ["fwid"] | ["nonce"] | ["responder_nonce"] => Some(Form::AnyHex),
        ["measurements", i] => i.parse::<u8>().ok().map(|_| Form::AnyHex),
        ["arch"]
        | ["model"]
        | ["uuid"]
        | ["spdm_version"]
        | ["driver_version"]
        | ["vbios_version"] => Some(Form::Text),
        ["opaque", _] => Some(Form::Text),
        _ => None,
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Form)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        Value::Bool(_) => out.push((prefix.to_owned(), Form::Bool)),
        Value::Number(_) => out.push((prefix.to_owned(), Form::Int)),
        Value::String(s)
            if !s.is_empty() && s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            out.push((prefix.to_owned(), Form::Hex(s.len() / 2)));
        }
        _ => out.push((prefix.to_owned(), Form::Text)),
    }
}

/// SEV-SNP claim paths and forms, from the claims of a version-3 report
/// (every field present) in Milan's and Turin's TCB layouts.
fn snp_claims() -> &'static [(String, Form)] {
    static V: OnceLock<Vec<(String, Form)>> = OnceLock::new();
    V.get_or_init(|| {
        let mut bytes = vec![0u8; rootline_snp::report::REPORT_LEN];
        if let Some(v) = bytes.get_mut(..4) {
            v.copy_from_slice(&3u32.to_le_bytes());
        }
        let mut out = Vec::new();
        if let Ok(r) = rootline_snp::report::Report::parse(&bytes) {
            for product in [
                rootline_snp::report::Product::Milan,
                rootline_snp::report::Product::Turin,
            ] {
                let c = rootline_snp::Claims::from_report(&r, Some(product));
                if let Ok(v) = serde_json::to_value(&c) {
                    flatten("", &v, &mut out);
                }
            }
        }
        // Optional members absent from an all-zero report.
        for k in ["launch_mit_vector", "current_mit_vector"] {
            out.push((k.into(), Form::Hex(8)));
        }
        for k in ["cpuid_fam_id", "cpuid_mod_id", "cpuid_step"] {
            out.push((k.into(), Form::Int));
        }
        out.push(("product".into(), Form::Text));
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        out
    })
}

/// The form of `claim` (the key without its TEE prefix) of TPM evidence.
fn tpm_claim(claim: &str) -> Option<Form> {
    let parts: Vec<&str> = claim.split('.').collect();
    match parts.as_slice() {
        ["pcr", bank, index] => {
            let (_, len) = BANKS.iter().find(|(b, _)| b == bank)?;
            let i: u8 = index.parse().ok()?;
            (i < 24 && index.len() <= 2).then_some(Form::Hex(*len))
        }
        ["ak_fingerprint"] => Some(Form::Hex(32)),
        ["ak_name"] | ["extra_data"] => Some(Form::AnyHex),
        ["event", _, _, ..] => Some(Form::Text),
        ["clock"] | ["reset_count"] | ["restart_count"] => Some(Form::Int),
        ["safe"] => Some(Form::Bool),
        // GCP Confidential Space: the workload the launcher measured into
        // the canonical event log (`rootline_eventlog::cel`), once replayed.
        [
            "cel",
            "cos",
            "image_reference" | "image_digest" | "image_id" | "restart_policy" | "gpu_cc_mode",
        ] => Some(Form::Text),
        ["cel", "cos", "memory_monitoring" | "launch_separator"] => Some(Form::Bool),
        _ => None,
    }
}

fn listed(list: &[(String, Form)], claim: &str) -> Option<Form> {
    list.iter().find(|(k, _)| k == claim).map(|(_, f)| *f)
}

/// The form of `claim` (without the TEE prefix) for evidence of `tee`, or
/// why it is not a claim of that TEE (with the nearest claim when the name
/// looks like a typo of one).
pub fn claim_form(tee: TeeKind, claim: &str) -> Result<Form, String> {
    let found = match tee {
        TeeKind::Snp => listed(snp_claims(), claim),
        TeeKind::Tdx => listed(&tdx_claims(), claim),
        TeeKind::Sgx => listed(&sgx_claims(), claim),
        TeeKind::Cca => listed(&cca_claims(), claim),
        TeeKind::Se => listed(&se_claims(), claim),
        TeeKind::Nvidia => nvidia_claim(claim),
        // GCP: an SEV-SNP report or TD quote verified beside the quotes
        // nests its claims under `snp` or `tdx`.
        TeeKind::Tpm => tpm_claim(claim)
            .or_else(|| listed(snp_claims(), claim.strip_prefix("snp.")?))
            .or_else(|| listed(&tdx_claims(), claim.strip_prefix("tdx.")?)),
        TeeKind::AzureSnp | TeeKind::AzureTdx => {
            let hw = if tee == TeeKind::AzureSnp {
                listed(snp_claims(), claim)
            } else {
                listed(&tdx_claims(), claim)
            };
            hw.or_else(|| {
                let rest = claim.strip_prefix("tpm.")?;
                // The vTPM's claims nest its registers as `pcrs`.
                let rest = rest.strip_prefix("pcrs.").map(|r| format!("pcr.{r}"));
                tpm_claim(rest.as_deref().unwrap_or(claim.trim_start_matches("tpm.")))
            })
            .or_else(|| {
                (claim.starts_with("runtime_data.") || claim == "user_data").then_some(Form::Text)
            })
        }
        _ => None,
    };
    found.ok_or_else(|| {
        let known = known_claims(tee);
        let near = known
            .iter()
            .filter(|k| distance(k, claim) <= 2)
            .min_by_key(|k| distance(k, claim));
        match near {
            Some(n) => format!("{claim:?} is not a claim of {tee} evidence; did you mean {n}?"),
            None => format!(
                "{claim:?} is not a claim of {tee} evidence (claims: {})",
                if known.is_empty() {
                    "none this TEE's reference values can name".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        }
    })
}

/// The claims a reference value may name for `tee`, for messages (TPM
/// registers as their pattern).
pub fn known_claims(tee: TeeKind) -> Vec<String> {
    let tpm = || {
        vec![
            "pcr.BANK.INDEX (BANK: sha1, sha256, sha384, sha512, sm3_256; INDEX: 0-23)".to_owned(),
            "ak_fingerprint".to_owned(),
            "cel.cos.image_reference".to_owned(),
            "cel.cos.image_digest".to_owned(),
            "cel.cos.image_id".to_owned(),
            "cel.cos.restart_policy".to_owned(),
            "cel.cos.memory_monitoring".to_owned(),
        ]
    };
    match tee {
        TeeKind::Snp => snp_claims().iter().map(|(k, _)| k.clone()).collect(),
        TeeKind::Tdx => tdx_claims().into_iter().map(|(k, _)| k).collect(),
        TeeKind::Sgx => sgx_claims().into_iter().map(|(k, _)| k).collect(),
        TeeKind::Cca => cca_claims().into_iter().map(|(k, _)| k).collect(),
        TeeKind::Se => se_claims().into_iter().map(|(k, _)| k).collect(),
        TeeKind::Nvidia => [
            "fwid",
            "measurements.N",
            "driver_version",
            "vbios_version",
            "arch",
            "model",
            "uuid",
            "opaque.NAME",
        ]
        .map(str::to_owned)
        .to_vec(),
        TeeKind::Tpm => tpm(),
        _ => Vec::new(),
    }
}

/// Checks a whole key (`tee.claim`) and its values: the TEE is one rootline
/// verifies, the claim is one of its claims, every value has the claim's
/// form.
pub fn check(key: &str, values: &[String]) -> Result<(), String> {
    let (tee, claim) = key.split_once('.').ok_or_else(|| {
        format!("key {key:?} must name the TEE and the claim, e.g. snp.measurement")
    })?;
    let tee: TeeKind = tee.parse().map_err(|_| {
        format!(
            "key {key:?}: {tee:?} is not a TEE rootline verifies ({})",
            TeeKind::ALL.map(TeeKind::as_str).join(", ")
        )
    })?;
    let form = claim_form(tee, claim).map_err(|e| format!("key {key:?}: {e}"))?;
    for v in values {
        form.check(key, v)?;
    }
    Ok(())
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

/// Every key of `claims` (a verifier's claims of `tee`, normalized as the
/// policy sees them) that the vocabulary would refuse: empty when the
/// vocabulary covers what the verifier reports.
pub fn unknown_keys(tee: TeeKind, claims: &serde_json::Map<String, Value>) -> Vec<String> {
    let normalized: BTreeMap<String, Value> =
        crate::claims::normalize(tee, claims).into_iter().collect();
    normalized
        .keys()
        .filter_map(|k| {
            let claim = k.split_once('.').map(|(_, c)| c)?;
            claim_form(tee, claim).is_err().then(|| k.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn typos_are_named_and_good_keys_pass() {
        let m48 = "ab".repeat(48);
        check("snp.measurement", std::slice::from_ref(&m48)).unwrap();
        check("snp.reported_tcb.microcode", &["219".into()]).unwrap();
        check("tpm.pcr.sha256.4", &["00".repeat(32)]).unwrap();
        check("tdx.rtmr3", &["00".repeat(48)]).unwrap();
        let e = check("snpp.measurement", std::slice::from_ref(&m48)).unwrap_err();
        assert!(e.contains("\"snpp\" is not a TEE"), "{e}");
        let e = check("snp.mesurement", std::slice::from_ref(&m48)).unwrap_err();
        assert!(e.contains("did you mean measurement"), "{e}");
        let e = check("snp.measurement", &["zz".into()]).unwrap_err();
        assert!(e.contains("48 bytes of hex"), "{e}");
        check("tpm.cel.cos.image_digest", &["sha256:ab".into()]).unwrap();
        check("tpm.cel.cos.memory_monitoring", &["true".into()]).unwrap();
        let e = check("tpm.cel.cos.image_digets", &["sha256:ab".into()]).unwrap_err();
        assert!(e.contains("did you mean cel.cos.image_digest"), "{e}");
        let e = check("tpm.pcr.sha256.24", &["00".repeat(32)]).unwrap_err();
        assert!(e.contains("not a claim of tpm"), "{e}");
        let e = check("tpm.pcr.sha1.0", &["00".repeat(32)]).unwrap_err();
        assert!(e.contains("20 bytes"), "{e}");
    }
}
