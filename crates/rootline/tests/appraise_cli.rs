//! `rootline appraise` and `rootline reference` through the real binary:
//! reference values taken from verified claims affirm, a changed one is
//! contraindicated with its key named, the debug SNP report is refused, a bad
//! policy is exit 2 before any evidence is read, and the token verifies
//! against the JWKS printed beside it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::Value;

mod common;
use common::{p, run as rootline};

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn tdx_quote_affirmed_by_its_own_claims_then_contraindicated_when_mr_td_changes() {
    let (Some(q), Some(c)) = (
        rootline_testkit::vector("tdx/dcap-qvl/tdx_quote"),
        rootline_testkit::vector("tdx/dcap-qvl/tdx_quote_collateral.json"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = p(dir.path());
    let at = "2025-07-04T10:24:15Z";
    let (code, out, err) =
        rootline(&["verify", p(&q), "--collateral", p(&c), "--at", at, "--json"]);
    assert_eq!(code, 0, "{err}");
    let verified = dir.path().join("verified.json");
    std::fs::write(&verified, out).unwrap();
    let (code, out, err) = rootline(&[
        "reference",
        "--data-dir",
        d,
        "import",
        p(&verified),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let added = json(&out);
    let mr_td = added
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "tdx.mr_td")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();

    let appraise = || {
        rootline(&[
            "appraise",
            p(&q),
            "--collateral",
            p(&c),
            "--at",
            at,
            "--data-dir",
            d,
            "--json",
        ])
    };
    let (code, out, err) = appraise();
    assert_eq!(code, 0, "{out}{err}");
    let j = json(&out);
    assert_eq!(j["status"], "affirming");
    assert_eq!(j["devices"][0]["device"], "cpu0");
    assert_eq!(j["devices"][0]["trust_vector"]["executables"], 2);
    // The token verifies with the JWKS printed beside it.
    let jwks: rootline_policy::Jwks = serde_json::from_value(j["jwks"].clone()).unwrap();
    let v = rootline_policy::verify_token(
        j["token"].as_str().unwrap(),
        &jwks,
        "https://rootline.invalid",
        None,
    )
    .unwrap();
    assert_eq!(
        v.ear.submods["cpu0"].status,
        rootline_policy::ear::TrustTier::Affirming
    );

    // Replace the accepted MRTD: delete it, accept another.
    let (code, _, err) = rootline(&["reference", "--data-dir", d, "delete", "tdx.mr_td"]);
    assert_eq!(code, 0, "{err}");
    let other = format!(
        "{}{}",
        if mr_td.starts_with('0') { "1" } else { "0" },
        &mr_td[1..]
    );
    let (code, _, err) = rootline(&["reference", "--data-dir", d, "add", "tdx.mr_td", &other]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = appraise();
    assert_eq!(code, 1, "{out}");
    let j = json(&out);
    assert_eq!(j["status"], "contraindicated");
    let r = &j["devices"][0]["reasons"][0];
    assert_eq!(r["key"], "tdx.mr_td");
    assert!(r["message"].as_str().unwrap().contains(&mr_td), "{r}");

    // The history keeps the deleted value.
    let (code, out, _) = rootline(&[
        "reference",
        "--data-dir",
        d,
        "list",
        "--history",
        "--key",
        "tdx.mr_td",
        "--json",
    ]);
    assert_eq!(code, 0);
    let list = json(&out);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(list[0]["retired"].is_string());
    assert_eq!(list[0]["value"], mr_td.as_str());
}

#[test]
fn debug_snp_report_is_refused_with_the_reason() {
    let (Some(r), Some(vcek)) = (
        rootline_testkit::vector("snp/go-sev-guest/attestation.bin"),
        rootline_testkit::vector("snp/go-sev-guest/vcek.der"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let at = "2025-08-15T00:00:00Z";
    let (code, out, _) = rootline(&[
        "verify",
        p(&r),
        "--collateral",
        p(&vcek),
        "--at",
        at,
        "--json",
    ]);
    assert_eq!(code, 0);
    let refs = dir.path().join("refs.json");
    std::fs::write(&refs, out).unwrap();
    let (code, out, err) = rootline(&[
        "appraise",
        p(&r),
        "--collateral",
        p(&vcek),
        "--at",
        at,
        "--reference-values",
        p(&refs),
        "--data-dir",
        p(dir.path()),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("decision: contraindicated"), "{out}");
    assert!(out.contains("snp.debug_allowed is true"), "{out}");
}

#[test]
fn bad_policy_and_unreadable_evidence_exit_2_before_appraisal() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.rego");
    std::fs::write(&bad, "package rootline.appraisal\nresult := {\n").unwrap();
    let (code, out, err) = rootline(&[
        "appraise",
        "/nonexistent/evidence",
        "--policy",
        p(&bad),
        "--data-dir",
        p(dir.path()),
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("bad.rego"), "{err}");
    let (code, _, err) = rootline(&[
        "appraise",
        "/nonexistent/evidence",
        "--data-dir",
        p(dir.path()),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/evidence"), "{err}");
}

#[test]
fn reference_add_twice_is_a_new_version_and_bad_keys_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = p(dir.path());
    for want in [1, 2] {
        let (code, out, err) = rootline(&[
            "reference",
            "--data-dir",
            d,
            "add",
            "sgx.isv_svn",
            "3",
            "--json",
        ]);
        assert_eq!(code, 0, "{err}");
        let r = json(&out);
        assert_eq!(r["version"], want);
        assert_eq!(r["value"], 3);
    }
    let (code, _, err) = rootline(&["reference", "--data-dir", d, "add", "SGX", "3"]);
    assert_eq!(code, 2);
    assert!(err.contains("SGX"), "{err}");
    // The broker's vocabulary: a misspelt claim, a value of the wrong form.
    let m = "ab".repeat(48);
    let (code, _, err) = rootline(&["reference", "--data-dir", d, "add", "snp.mesurement", &m]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean measurement"), "{err}");
    let (code, _, err) = rootline(&["reference", "--data-dir", d, "add", "snp.measurement", "zz"]);
    assert_eq!(code, 2);
    assert!(err.contains("48 bytes of hex"), "{err}");
}
