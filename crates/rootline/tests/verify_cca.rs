//! `rootline verify --tee cca` and `rootline appraise` on Arm CCA tokens,
//! through the real binary: the Trustee example token under its CPAK (as
//! collateral or as a trust anchor), the exit codes and the `--json`
//! contract, and the tokens that must fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::Command;

use serde_json::Value;

const CHALLENGE: &str = "57e979ae2618de0c1ab73144c440d741cf9236dc9d52ed190053382a4d190252f9f0370403c35dcb155fb4362d73c66d5b0494bf939315d3dc52b8cdc8b85a96";

fn run(cmd: &str, args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .arg(cmd)
        .env("ROOTLINE_OFFLINE", "1")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{err}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap(), json, err)
}

fn vector(rel: &str) -> Option<String> {
    rootline_testkit::vector(rel).map(|p| p.to_str().unwrap().to_owned())
}

#[test]
fn trustee_token_verifies_under_its_cpak_and_fails_without_or_under_another() {
    let (Some(token), Some(cpak), Some(tastore), Some(other)) = (
        vector("cca/trustee/cca-example-token.cbor"),
        vector("cca/trustee/cpak-pub.json"),
        vector("cca/trustee/tastore.json"),
        vector("cca/rust-ccatoken/ta.json"),
    ) else {
        eprintln!("SKIPPED: the shared vectors are absent");
        return;
    };
    let (code, v, err) = run(
        "verify",
        &[&token, "--collateral", &cpak, "--nonce", CHALLENGE],
    );
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["tee"], "cca");
    assert_eq!(v["verified"], true);
    assert_eq!(v["claims"]["realm"]["challenge"], CHALLENGE);
    assert_eq!(
        v["claims"]["platform"]["implementation_id"],
        "7f454c4602010100000000000000000003003e00010000005058000000000000"
    );
    // The same through the trust-anchor flag and a Trustee TA store.
    let (code, v, err) = run(
        "verify",
        &[
            &token,
            "--tee",
            "cca",
            "--cca-trust-anchor",
            &tastore,
            "--nonce",
            CHALLENGE,
        ],
    );
    assert_eq!(code, 0, "{v}\n{err}");
    // No anchor: rejected (exit 1) with the reason and the parsed claims.
    let (code, v, _) = run("verify", &[&token, "--nonce", CHALLENGE]);
    assert_eq!(code, 1);
    assert_eq!(v["verified"], false);
    assert!(v["error"].as_str().unwrap().contains("trust anchor"), "{v}");
    assert!(v["claims"]["realm"].is_object());
    // Another platform's key: rejected.
    let (code, v, _) = run("verify", &[&token, "--collateral", &other]);
    assert_eq!(code, 1, "{v}");
    // Another nonce: rejected.
    let (code, v, _) = run(
        "verify",
        &[&token, "--collateral", &cpak, "--nonce", &"00".repeat(64)],
    );
    assert_eq!(code, 1, "{v}");
}

#[test]
fn bug_33_token_is_rejected_and_appraised_contraindicated() {
    let (Some(token), Some(ta)) = (
        vector("cca/rust-ccatoken/bug-33-repro.cbor"),
        vector("cca/rust-ccatoken/ta-tfa.json"),
    ) else {
        eprintln!("SKIPPED: the shared vectors are absent");
        return;
    };
    let (code, v, _) = run("verify", &[&token, "--collateral", &ta]);
    assert_eq!(code, 1, "{v}");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, v, err) = run("appraise", &[&token, "--collateral", &ta, "--data-dir", d]);
    assert_eq!(code, 1, "{v}\n{err}");
    assert_eq!(v["status"], "contraindicated");
    assert_eq!(v["verification"]["verified"], false);
}
