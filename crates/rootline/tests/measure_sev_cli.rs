//! `rootline measure sev` and `measure sev-es` on the real binary, on
//! Debian 12's OVMF builds, against the digests `sev-snp-measure` 0.0.13
//! (`--mode sev|seves`) computed for the same files (recorded in
//! crates/rootline-snp-measure/tests/sev_modes.rs); refusals exit 2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use serde_json::Value;

mod common;
use common::run as rootline;

/// The file, when it is the recorded Debian build.
fn debian(path: &str, sha256: &str) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        println!("skipped: {path} is absent (Debian package ovmf; .ci/run installs it)");
        return false;
    };
    let sha = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    if hex::encode(sha.as_ref()) != sha256 {
        println!("skipped: {path} is not the recorded ovmf 2022.11-6+deb12u2 build");
        return false;
    }
    true
}

#[test]
fn debian_ovmf_digests_match_sev_snp_measure() {
    let fd = "/usr/share/ovmf/OVMF.fd";
    if debian(
        fd,
        "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773",
    ) {
        // Plain SEV without a kernel measures the image itself.
        let (code, out, err) = rootline(&["measure", "sev", "--ovmf", fd]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out.trim(),
            "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773"
        );
        let (code, out, err) = rootline(&[
            "measure",
            "sev-es",
            "--ovmf",
            fd,
            "--vcpus",
            "2",
            "--vcpu-type",
            "EPYC-Genoa",
            "--json",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["digest"],
            "e4b4746142b2df911ee18a0b0e71af077529f26f150b6b788e5135a1d7cf14f1"
        );
        assert_eq!(v["prediction"]["mode"], "sev-es");
        // Another VMSA model, another digest.
        let (code, out, _) = rootline(&[
            "measure",
            "sev-es",
            "--ovmf",
            fd,
            "--vcpus",
            "2",
            "--vcpu-type",
            "EPYC-Genoa",
            "--vmsa-fpu",
            "zero",
        ]);
        assert_eq!(code, 0);
        assert_ne!(
            out.trim(),
            "e4b4746142b2df911ee18a0b0e71af077529f26f150b6b788e5135a1d7cf14f1"
        );
    }
    let code_fd = "/usr/share/OVMF/OVMF_CODE.fd";
    if debian(
        code_fd,
        "d9b568def24088c92f34b5479e0ed7e44d0a4d4cea8a0f5716719180bba48106",
    ) {
        let (code, out, err) = rootline(&[
            "measure",
            "sev-es",
            "--ovmf",
            code_fd,
            "--vcpus",
            "4",
            "--vcpu-type",
            "EPYC-Milan",
        ]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out.trim(),
            "6979b214746d29495a772e952f0177cb74051e5a40edd18ac5b0821826e4cab2"
        );
    }
}

#[test]
fn bad_inputs_exit_2_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.fd");
    std::fs::write(&junk, vec![0u8; 4096]).unwrap();
    let j = junk.to_str().unwrap();
    for (args, what) in [
        (
            vec![
                "measure",
                "sev-es",
                "--ovmf",
                j,
                "--vcpus",
                "1",
                "--vcpu-type",
                "EPYC-Zen9",
            ],
            "--vcpu-type",
        ),
        (
            vec![
                "measure",
                "sev-es",
                "--ovmf",
                j,
                "--vcpus",
                "1",
                "--vcpu-type",
                "EPYC",
                "--vmsa-fpu",
                "half",
            ],
            "--vmsa-fpu",
        ),
        (
            vec![
                "measure",
                "sev-es",
                "--ovmf",
                j,
                "--vcpus",
                "1",
                "--vcpu-type",
                "EPYC",
            ],
            "junk.fd",
        ),
    ] {
        let (code, _, err) = rootline(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(what), "{args:?}: {err}");
    }
}
