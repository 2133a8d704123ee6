//! `rootline verify` on Azure confidential-VM evidence as guest-components
//! sends it (az-snp-vtpm, az-tdx-vtpm), through the real binary: Trustee's
//! real evidence files, detection without `--tee`, the vTPM quote's nonce
//! as the binding, and the TDX form stopping where collateral is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use serde_json::Value;

fn run(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .arg("verify")
        .env("ROOTLINE_OFFLINE", "1")
        .env(
            "ROOTLINE_CACHE_DIR",
            std::env::temp_dir().join("rootline-tests-no-cache"),
        )
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v)
}

/// The nonce Trustee's fixtures were made with ("challenge").
const NONCE: &str = "6368616c6c656e6765";

#[test]
fn trustee_az_snp_vtpm_evidence_verifies_and_binds_its_nonce() {
    let Some(dir) = rootline_testkit::vector("azure/trustee-az-snp-vtpm") else {
        return;
    };
    for file in ["evidence-v0.json", "evidence-v1.json"] {
        let f = dir.join(file);
        let f = f.to_str().unwrap();
        let (code, v) = run(&[f, "--nonce", NONCE]);
        assert_eq!(code, 0, "{file}: {v}");
        assert_eq!(v["tee"], "azure-snp");
        assert_eq!(v["claims"]["extra_data"], NONCE);
        assert_eq!(v["claims"]["vmpl"], 0);
        assert_eq!(
            v["claims"]["tpm"]["pcrs"]["sha256"]
                .as_object()
                .unwrap()
                .len(),
            24
        );
        // Another nonce: the vTPM quote does not carry it.
        let (code, v) = run(&[f, "--tee", "azure-snp", "--nonce", "00"]);
        assert_eq!(code, 1, "{file}: {v}");
        assert!(v["error"].as_str().unwrap().contains("nonce"), "{v}");
    }
}

#[test]
fn trustee_az_tdx_vtpm_evidence_stops_at_missing_collateral() {
    let Some(dir) = rootline_testkit::vector("azure/trustee-az-tdx-vtpm") else {
        return;
    };
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("evidence") && name.ends_with(".json")) {
            continue;
        }
        let (code, v) = run(&[p.to_str().unwrap()]);
        assert_eq!(code, 1, "{name}: {v}");
        assert_eq!(v["tee"], "azure-tdx", "{name}");
        assert!(
            v["error"].as_str().unwrap().contains("collateral missing"),
            "{name}: {v}"
        );
        seen += 1;
    }
    assert!(seen > 0);
}
