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
