//! `rootline demo` runs end to end and catches each tampering it stages.

use std::process::Command;

#[test]
fn demo_runs_and_names_register_and_event() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args(["demo", "--workdir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("all match, the log is the true record"),
        "{text}"
    );
    assert!(text.contains("PCR 9 (sha256)"), "{text}");
    assert!(
        text.contains("first difference from the reference log: event #12 EV_IPL"),
        "{text}"
    );
    assert!(
        text.contains("SecureBoot") && text.contains("its data hashes to"),
        "{text}"
    );
    // With swtpm: a measured boot on a real TPM, the secret released by the
    // broker, and after the kernel changes a denial naming the reference
    // value, PCR 9 and the kernel's event.
    let swtpm = Command::new("swtpm").arg("--version").output().is_ok();
    if swtpm {
        assert!(text.contains("quote verified"), "{text}");
        assert!(
            text.contains("token issued: ear.status affirming"),
            "{text}"
        );
        assert!(
            text.contains("released and decrypted with the attested key: \"demo disk key"),
            "{text}"
        );
        assert!(
            text.contains("token issued: ear.status contraindicated"),
            "{text}"
        );
        assert!(
            text.contains("DENIED by policy") && text.contains("tpm.pcr.sha256.9"),
            "{text}"
        );
        assert!(text.contains("denied demo/tpm/disk-key"), "{text}");
        let check = Command::new(env!("CARGO_BIN_EXE_rootline"))
            .args(["eventlog", "check"])
            .arg(dir.path().join("tpm-tampered.log"))
            .arg("--pcrs")
            .arg(dir.path().join("tpm-reference-pcrs.json"))
            .output()
            .unwrap();
        assert_eq!(check.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&check.stdout).contains("PCR 9"));
    } else {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        assert!(!ci, "swtpm missing and CI is set");
        assert!(text.contains("need swtpm"), "{text}");
    }
    // The files it leaves can be checked by hand, with the same verdict.
    let check = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args(["eventlog", "check"])
        .arg(dir.path().join("evil.log"))
        .arg("--pcrs")
        .arg(dir.path().join("reference-pcrs.json"))
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    let good = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args(["eventlog", "check"])
        .arg(dir.path().join("good.log"))
        .arg("--pcrs")
        .arg(dir.path().join("reference-pcrs.json"))
        .output()
        .unwrap();
    assert_eq!(good.status.code(), Some(0));
}
