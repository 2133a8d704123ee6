//! `rootline measure tdx` on the real binary: Debian's OVMF.fd against the
//! MRTD two independent implementations computed for it (igvm 0.5.0 with
//! virtfw-igvm-tools 0.2.6 per page, mosaik 0.4.2 per section; see
//! crates/rootline-tdx-measure/tests/known_answers.rs), the JSON imported as
//! a reference value, and refusals exiting 2 with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;

use serde_json::Value;

mod common;
use common::run as rootline;

const OVMF_FD: &str = "/usr/share/ovmf/OVMF.fd";
const OVMF_FD_SHA256: &str = "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773";
const PER_PAGE: &str = "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47";
const PER_SECTION: &str = "acccbcc870a381adab0d3919d90a7f268ac3b0364771f202ed4bb4e892d045b33db3b32e6924cba830a724eed443f7e1";

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn debian_ovmf_mrtd_matches_independent_tools_and_imports_as_tdx_mr_td() {
    let Ok(bytes) = std::fs::read(OVMF_FD) else {
        println!("skipped: {OVMF_FD} is absent (Debian package ovmf; .ci/run installs it)");
        return;
    };
    let sha = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    if hex::encode(sha.as_ref()) != OVMF_FD_SHA256 {
        println!("skipped: {OVMF_FD} is not the recorded ovmf 2022.11-6+deb12u2 build");
        return;
    }
    let (code, out, err) = rootline(&["measure", "tdx", "--firmware", OVMF_FD]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), PER_PAGE);
    let (code, out, err) = rootline(&[
        "measure",
        "tdx",
        "--firmware",
        OVMF_FD,
        "--page-order",
        "per-section",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), PER_SECTION);

    let (code, out, err) = rootline(&["measure", "tdx", "--firmware", OVMF_FD, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["mrtd"], PER_PAGE);
    assert_eq!(v["reference_values"]["tdx.mr_td"], PER_PAGE);
    assert_eq!(v["inputs"]["firmware_sha256"], OVMF_FD_SHA256);
    assert!(!v["firmware"]["sections"].as_array().unwrap().is_empty());

    let dir = tempfile::tempdir().unwrap();
    let json_file = dir.path().join("tdx.json");
    std::fs::write(&json_file, out).unwrap();
    let data = dir.path().join("data");
    let (code, out, err) = rootline(&[
        "reference",
        "--data-dir",
        p(&data),
        "import",
        p(&json_file),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let added: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(added[0]["key"], "tdx.mr_td");
    assert_eq!(added[0]["value"], PER_PAGE);
}

#[test]
fn firmware_without_tdx_metadata_or_a_bad_order_exits_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.fd");
    std::fs::write(&junk, vec![0u8; 0x4000]).unwrap();
    let (code, _, err) = rootline(&["measure", "tdx", "--firmware", p(&junk)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("junk.fd"), "{err}");
    let (code, _, err) = rootline(&[
        "measure",
        "tdx",
        "--firmware",
        p(&junk),
        "--page-order",
        "sideways",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--page-order"), "{err}");
    let (code, _, err) = rootline(&["measure", "tdx", "--firmware", p(&dir.path().join("none"))]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read"), "{err}");
}
