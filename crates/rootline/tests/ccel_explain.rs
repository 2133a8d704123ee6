//! A CCEL that does not replay to the quote's RTMRs is explained: the RTMR,
//! both values, and the events that extend it.

use std::process::Command;

#[test]
fn tampered_ccel_names_rtmr_and_events() {
    let Some(dir) = rootline_testkit::vector("tdx/go-tdx-guest/ccel") else {
        return;
    };
    let mut log = std::fs::read(dir.join("ccel_data.dat")).unwrap();
    // The second event's SHA-384 digest starts 14 bytes into the event (at 65).
    log[65 + 14 + 5] ^= 1;
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("ccel.bin");
    std::fs::write(&bad, &log).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args([
            "verify",
            "--tee",
            "tdx",
            "--offline",
            "--json",
            "--cache-dir",
        ])
        .arg(tmp.path().join("cache"))
        .arg(dir.join("cos-113-tdx-quote.dat"))
        .arg("--eventlog")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = format!("{} {}", v["error"], v["warnings"]);
    assert!(all.contains("rtmr0 replays to"), "{all}");
    assert!(all.contains("#1 EV_EFI_PLATFORM_FIRMWARE_BLOB2"), "{all}");
    assert_eq!(v["verified"], false);
}
