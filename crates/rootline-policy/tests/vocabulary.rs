//! The reference-value vocabulary covers what the verifier reports: every
//! claim of real SEV-SNP, TDX and SGX evidence, and every TPM register, is a
//! key `vocabulary::check` accepts, with the value the evidence has. A claim
//! added to a verifier without the vocabulary learning it fails here.

use rootline_core::TeeKind;
use rootline_policy::vocabulary;
use rootline_verifier::{Collateral, Request};
use serde_json::Value;

fn verify(evidence: &str, collateral: &[&str], at: &str) -> Option<rootline_verifier::Outcome> {
    let read = |rel: &str| std::fs::read(rootline_testkit::vector(rel)?).ok();
    let mut coll = Vec::new();
    for c in collateral {
        coll.push(Collateral {
            origin: (*c).into(),
            bytes: read(c)?,
        });
    }
    let out = rootline_verifier::verify(&Request {
        evidence: read(evidence)?,
        collateral: coll,
        at: Some(
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                .unwrap(),
        ),
        ..Request::default()
    });
    assert!(out.verified, "{evidence}: {:?}", out.error);
    Some(out)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn covered(tee: TeeKind, out: &rootline_verifier::Outcome, only: Option<&str>) {
    let normalized = rootline_policy::claims::normalize(tee, &out.claims);
    let mut checked = 0;
    for (k, v) in &normalized {
        if only.is_some_and(|p| !k.starts_with(p)) {
            continue;
        }
        let Some(v) = text(v) else { continue };
        if let Err(e) = vocabulary::check(k, &[v]) {
            panic!("{tee}: {e}");
        }
        checked += 1;
    }
    assert!(checked > 5, "{tee}: only {checked} keys");
}

#[test]
fn every_claim_of_real_evidence_is_in_the_vocabulary() {
    if let Some(out) = verify(
        "snp/go-sev-guest/attestation.bin",
        &[
            "snp/go-sev-guest/vcek.der",
            "snp/go-sev-guest/ask_ark_milan.pem",
        ],
        "2025-08-15T00:00:00Z",
    ) {
        covered(TeeKind::Snp, &out, None);
        assert!(vocabulary::unknown_keys(TeeKind::Snp, &out.claims).is_empty());
    }
    if let Some(out) = verify(
        "tdx/dcap-qvl/tdx_quote",
        &["tdx/dcap-qvl/tdx_quote_collateral.json"],
        "2025-07-04T10:24:15Z",
    ) {
        covered(TeeKind::Tdx, &out, None);
    }
    if let Some(out) = verify(
        "sgx/dcap-qvl/sgx_quote",
        &["sgx/dcap-qvl/sgx_quote_collateral.json"],
        "2025-07-04T10:24:15Z",
    ) {
        covered(TeeKind::Sgx, &out, None);
    }
    // CCA: the Trustee example token under its CPAK (a trust anchor, given
    // as collateral).
    if let Some(out) = verify(
        "cca/trustee/cca-example-token.cbor",
        &["cca/trustee/cpak-pub.json"],
        "2025-07-04T10:24:15Z",
    ) {
        covered(TeeKind::Cca, &out, None);
        assert!(vocabulary::unknown_keys(TeeKind::Cca, &out.claims).is_empty());
    }
}
