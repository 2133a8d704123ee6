//! By default `rootline verify` never contacts a vendor service: missing
//! collateral is named, with how to fetch it (`--fetch`, or a `--kds-url` or
//! `--pcs-url` the caller chooses).

use std::process::Command;

#[test]
fn missing_collateral_is_named_not_fetched_without_consent() {
    let Some(report) = rootline_testkit::vector("snp/oak/turin_oc_report.bin") else {
        return;
    };
    let vcek = rootline_testkit::vector("snp/oak/turin_oc_vcek.der").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args([
            "verify",
            "--json",
            "--at",
            "2025-08-15T00:00:00Z",
            "--cache-dir",
        ])
        .arg(cache.path())
        .arg(&report)
        .arg("--collateral")
        .arg(&vcek)
        .env_remove("ROOTLINE_OFFLINE")
        .env_remove("ROOTLINE_FETCH")
        .env_remove("ROOTLINE_KDS_URL")
        .env_remove("ROOTLINE_PCS_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The report still verifies with the VCEK given and the pinned roots...
    assert_eq!(v["verified"], true, "{v:#}\n{stderr}");
    // ...and the CRL that was not fetched is named, with how to fetch it.
    let all = format!("{v} {stderr}");
    assert!(
        all.contains("was not fetched (fetching needs --fetch"),
        "{all}"
    );
    assert!(!stderr.contains("from the network"), "{stderr}");
    // Nothing was written to the cache.
    assert_eq!(
        std::fs::read_dir(cache.path())
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}
