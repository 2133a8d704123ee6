//! `rootline verify` on Intel DCAP quotes, through the real binary: exit
//! codes and the `--json` contract.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

use serde_json::Value;

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

#[test]
fn tdx_quote_with_collateral_is_verified_up_to_date() {
    let (Some(q), Some(c)) = (
        rootline_testkit::vector("tdx/dcap-qvl/tdx_quote"),
        rootline_testkit::vector("tdx/dcap-qvl/tdx_quote_collateral.json"),
    ) else {
        return;
    };
    let (code, j) = run(&[
        q.to_str().unwrap(),
        "--collateral",
        c.to_str().unwrap(),
        "--at",
        "2025-07-04T10:24:15Z",
    ]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(j["tee"], "tdx");
    assert_eq!(j["verified"], true);
    assert_eq!(j["error"], Value::Null);
    assert_eq!(j["tcb_status"], "UpToDate");
    assert_eq!(j["advisory_ids"], serde_json::json!([]));
    assert!(
        j["claims"]["mr_td"]
            .as_str()
            .unwrap()
            .starts_with("91eb2b44d141d4ec")
    );
    assert_eq!(j["claims"]["fmspc"], "b0c06f000000");
    assert_eq!(j["claims"]["debug_allowed"], false);
}

#[test]
fn sgx_quote_reports_status_and_advisories() {
    let (Some(q), Some(c)) = (
        rootline_testkit::vector("sgx/dcap-qvl/sgx_quote"),
        rootline_testkit::vector("sgx/dcap-qvl/sgx_quote_collateral.json"),
    ) else {
        return;
    };
    let (code, j) = run(&[
        q.to_str().unwrap(),
        "--tee",
        "sgx",
        "--collateral",
        c.to_str().unwrap(),
        "--at",
        "2025-07-04T10:28:44Z",
    ]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(j["tee"], "sgx");
    assert_eq!(j["tcb_status"], "ConfigurationAndSWHardeningNeeded");
    assert_eq!(
        j["advisory_ids"],
        serde_json::json!(["INTEL-SA-00289", "INTEL-SA-00615"])
    );
    assert!(
        j["claims"]["mr_enclave"]
            .as_str()
            .unwrap()
            .starts_with("33d8736db756ed49")
    );
    assert_eq!(j["claims"]["isv_prod_id"], 0);
}

#[test]
fn expired_collateral_and_missing_collateral_exit_1_with_claims() {
    let (Some(q), Some(c), Some(hex)) = (
        rootline_testkit::vector("tdx/dcap-qvl/tdx_quote"),
        rootline_testkit::vector("tdx/dcap-qvl/tdx_quote_collateral.json"),
        rootline_testkit::vector("tdx/dcap-qvl/quote-from-tappd.hex"),
    ) else {
        return;
    };
    let (code, j) = run(&[
        q.to_str().unwrap(),
        "--collateral",
        c.to_str().unwrap(),
        "--at",
        "2025-09-01T00:00:00Z",
    ]);
    assert_eq!(code, 1, "{j:#}");
    assert_eq!(j["verified"], false);
    assert!(j["error"].as_str().unwrap().contains("expired"), "{j:#}");
    assert!(j["claims"]["mr_td"].is_string());

    let (code, j) = run(&[hex.to_str().unwrap(), "--at", "2025-01-01T00:00:00Z"]);
    assert_eq!(code, 1, "{j:#}");
    assert_eq!(j["tee"], "tdx");
    assert!(
        j["error"].as_str().unwrap().contains("no collateral"),
        "{j:#}"
    );
    assert!(
        j["claims"]["mr_td"]
            .as_str()
            .unwrap()
            .starts_with("c68518a0ebb42136")
    );
}

#[test]
fn ccel_replays_to_the_quote_rtmrs_and_a_foreign_log_does_not() {
    let (Some(q), Some(log), Some(nonce), Some(q4), Some(foreign)) = (
        rootline_testkit::vector("tdx/go-tdx-guest/ccel/cos-113-tdx-quote.dat"),
        rootline_testkit::vector("tdx/go-tdx-guest/ccel/ccel_data.dat"),
        rootline_testkit::vector("tdx/go-tdx-guest/ccel/nonce.dat"),
        rootline_testkit::vector("tdx/trustee/tdx_quote_4.dat"),
        rootline_testkit::vector("tdx/trustee/CCEL_data"),
    ) else {
        return;
    };
    let nonce = std::fs::read(nonce).unwrap();
    let nonce_hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let (code, j) = run(&[
        q.to_str().unwrap(),
        "--eventlog",
        log.to_str().unwrap(),
        "--nonce",
        &nonce_hex,
        "--at",
        "2025-01-01T00:00:00Z",
    ]);
    // No collateral, so not verified; but the replay matched (no warning).
    assert_eq!(code, 1);
    assert!(j["error"].as_str().unwrap().contains("no collateral"));
    for i in 0..4 {
        assert_eq!(
            j["claims"][format!("ccel_rtmr{i}")],
            j["claims"][format!("rtmr{i}")],
            "rtmr{i}"
        );
    }
    assert!(
        !j["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("CCEL"))
    );

    let (_, j) = run(&[
        q4.to_str().unwrap(),
        "--eventlog",
        foreign.to_str().unwrap(),
        "--at",
        "2025-01-01T00:00:00Z",
    ]);
    assert!(
        j["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("CCEL replay does not match the quote: rtmr0")),
        "{j:#}"
    );
}
