//! `rootline verify` on SEV-SNP evidence, through the real binary: exit
//! codes, detection without `--tee`, and the `--json` contract.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

use serde_json::Value;

const AT: &str = "2025-08-15T00:00:00Z";

fn run(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .arg("verify")
        // Hermetic: never fetch, and an empty cache (see fetch_cli.rs for fetching).
        .env("ROOTLINE_OFFLINE", "1")
        .env(
            "ROOTLINE_CACHE_DIR",
            std::env::temp_dir().join("rootline-tests-no-cache"),
        )
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), json)
}

fn expected(folder: &str) -> Option<Value> {
    let p = rootline_testkit::vector(&format!("{folder}/expected.json"))?;
    Some(serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
}

#[test]
fn turin_report_verifies_with_claims_of_expected_json() {
    let (Some(r), Some(vcek), Some(exp)) = (
        rootline_testkit::vector("snp/oak/turin_oc_report.bin"),
        rootline_testkit::vector("snp/oak/turin_oc_vcek.der"),
        expected("snp/oak"),
    ) else {
        return;
    };
    let (code, j) = run(&[
        r.to_str().unwrap(),
        "--collateral",
        vcek.to_str().unwrap(),
        "--at",
        AT,
    ]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(j["tee"], "snp");
    assert_eq!(j["verified"], true);
    assert_eq!(j["error"], Value::Null);
    let want = &exp["turin_oc_report.bin"]["report"];
    for k in [
        "measurement",
        "report_data",
        "chip_id",
        "reported_tcb",
        "policy",
        "vmpl",
    ] {
        assert_eq!(j["claims"][k], want[k], "{k}");
    }
    assert_eq!(j["claims"]["product"], "Turin");
    assert_eq!(j["claims"]["signer"], "vcek");
    assert!(
        j["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("freshness not checked"))
    );
}

#[test]
fn configfs_tsm_cbor_verifies_alone_and_checks_the_nonce() {
    let (Some(cbor), Some(exp)) = (
        rootline_testkit::vector("snp/veraison-services/sevsnp-tsm-report.cbor"),
        expected("snp/veraison-services"),
    ) else {
        return;
    };
    let rd = exp["sevsnp-tsm-report.cbor"]["report"]["report_data"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, j) = run(&[cbor.to_str().unwrap(), "--at", AT, "--nonce", &rd]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(j["claims"]["product"], "Genoa");
    let mut wrong = rd.clone();
    wrong.replace_range(0..2, "00");
    let (code, j) = run(&[cbor.to_str().unwrap(), "--at", AT, "--nonce", &wrong]);
    assert_eq!(code, 1, "{j:#}");
    assert_eq!(j["verified"], false);
    assert!(j["error"].as_str().unwrap().contains("report_data"));
    // Claims survive the rejection.
    assert_eq!(j["claims"]["report_data"], rd.as_str());
}

#[test]
fn must_fail_vcek_exits_one_with_reason() {
    let (Some(r), Some(vcek)) = (
        rootline_testkit::vector("snp/trustee/test-report.bin"),
        rootline_testkit::vector("snp/trustee/test-vcek-invalid-legacy.der"),
    ) else {
        return;
    };
    let (code, j) = run(&[
        r.to_str().unwrap(),
        "--tee",
        "snp",
        "--collateral",
        vcek.to_str().unwrap(),
        "--at",
        AT,
    ]);
    assert_eq!(code, 1, "{j:#}");
    assert_eq!(j["verified"], false);
    assert!(j["error"].as_str().unwrap().contains("signature"), "{j:#}");
    assert_eq!(j["claims"]["version"], 2);
}

/// SEV-SNP evidence as guest-components sends it to a KBS (the `sev`
/// crate's serde JSON with the VCEK in `cert_chain`), made here from
/// Trustee's real Milan report: it verifies with the claims of the raw
/// report, detected without `--tee`; a changed measurement byte fails the
/// signature.
#[test]
fn guest_components_snp_json_verifies_and_a_changed_byte_fails() {
    let (Some(r), Some(vcek), Some(chain)) = (
        rootline_testkit::vector("snp/trustee/test-report.bin"),
        rootline_testkit::vector("snp/trustee/test-vcek.der"),
        rootline_testkit::vector("snp/trustee/ask_ark_milan.pem"),
    ) else {
        return;
    };
    let raw = std::fs::read(&r).unwrap();
    let json =
        rootline_snp::guest_json::encode(&raw, &[("VCEK".into(), std::fs::read(&vcek).unwrap())])
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gc-snp.json");
    std::fs::write(&file, json.to_string()).unwrap();
    let (code, j) = run(&[
        file.to_str().unwrap(),
        "--collateral",
        chain.to_str().unwrap(),
        "--at",
        AT,
    ]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(j["tee"], "snp");
    let (_, from_raw) = run(&[
        r.to_str().unwrap(),
        "--collateral",
        vcek.to_str().unwrap(),
        "--collateral",
        chain.to_str().unwrap(),
        "--at",
        AT,
    ]);
    assert_eq!(
        j["claims"]["measurement"],
        from_raw["claims"]["measurement"]
    );
    let mut bad = json.clone();
    let m = bad["attestation_report"]["measurement"][0]
        .as_u64()
        .unwrap();
    bad["attestation_report"]["measurement"][0] = (m ^ 1).into();
    std::fs::write(&file, bad.to_string()).unwrap();
    let (code, j) = run(&[
        file.to_str().unwrap(),
        "--collateral",
        chain.to_str().unwrap(),
        "--at",
        AT,
    ]);
    assert_eq!(code, 1, "{j:#}");
    assert!(j["error"].as_str().unwrap().contains("signature"), "{j:#}");
}
