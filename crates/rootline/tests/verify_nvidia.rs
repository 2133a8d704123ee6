//! `rootline verify` on NVIDIA GPU evidence through the real binary: the
//! nvtrust eight-GPU evidence and the Veraison Blackwell evidence verify to
//! the pinned NVIDIA Device Identity CA; Trustee's broken chains and a RIM
//! that describes another driver are refused with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::Command;

use serde_json::Value;

fn run(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .arg("verify")
        .env("ROOTLINE_OFFLINE", "1")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), v)
}

fn vector(rel: &str) -> Option<String> {
    rootline_testkit::vector(rel).map(|p| p.to_str().unwrap().to_owned())
}

#[test]
fn gpu_evidence_verifies_to_the_pinned_root_and_broken_chains_do_not() {
    let (Some(eight), Some(blackwell), Some(case4), Some(rim)) = (
        vector("nvidia/nvtrust/gpu_evidence.json"),
        vector("nvidia/veraison-services/blackwell-evidence.json"),
        vector("nvidia/trustee/hopper_cert_chain_case4.txt"),
        vector("nvidia/nvtrust/1010_0200_882_96005E0001_PROD.swidtag"),
    ) else {
        eprintln!("SKIPPED: the shared vectors are absent");
        return;
    };
    let (code, v) = run(&[&eight]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["tee"], "nvidia");
    let devices = v["claims"]["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 8);
    assert!(
        devices
            .iter()
            .all(|d| d["fwid"].as_str().is_some_and(|f| !f.is_empty()))
    );
    assert!(
        v["warnings"].to_string().contains("no RIM given"),
        "{:#}",
        v["warnings"]
    );
    let (code, v) = run(&[&blackwell, "--tee", "nvidia"]);
    assert_eq!(code, 0, "{v:#}");
    // A chain without the FWID extension (Trustee's case 4): refused.
    let (code, v) = run(&[&case4, "--tee", "nvidia"]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["verified"], false);
    // A VBIOS RIM for another VBIOS than these GPUs run: no RIM applies.
    let (code, v) = run(&[&eight, "--collateral", &rim]);
    assert_eq!(code, 1, "{v:#}");
    assert!(
        v["error"].as_str().unwrap().to_lowercase().contains("rim"),
        "{v:#}"
    );
}

/// Revocation through the command line: without OCSP responses the real
/// evidence verifies and says revocation was not checked; a `--collateral`
/// file in DER that is no OCSP response is refused naming the file; and
/// offline, nothing is fetched from NVIDIA's responder.
#[test]
fn gpu_revocation_is_claimed_unchecked_without_ocsp_and_bad_ocsp_is_refused() {
    let Some(eight) = vector("nvidia/nvtrust/gpu_evidence.json") else {
        eprintln!("SKIPPED: the shared vectors are absent");
        return;
    };
    let (code, v) = run(&[&eight]);
    assert_eq!(code, 0, "{v:#}");
    let d = &v["claims"]["devices"][0];
    assert_eq!(d["revocation"]["checked"], false, "{d:#}");
    assert_eq!(d["revocation"]["device"], "not_checked");
    assert_eq!(d["certificates"][0]["revocation"], "not_applicable");
    assert_eq!(d["certificates"][1]["revocation"], "not_checked");
    assert!(
        v["warnings"].to_string().contains("no OCSP response given"),
        "{:#}",
        v["warnings"]
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("brom.ocsp");
    std::fs::write(&bad, [0x30, 0x03, 0x0a, 0x01, 0x06]).unwrap();
    let (code, v) = run(&[&eight, "--collateral", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{v:#}");
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("brom.ocsp") && e.contains("unauthorized"), "{e}");
}
