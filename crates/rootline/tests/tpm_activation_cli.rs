//! TPM credential activation end to end without a VM: swtpm provisioned
//! with an EK certificate from its own private CA, a broker (in process,
//! served on a unix socket, reached with `--kbs kbs+unix://...`) that trusts
//! that CA, and `rootline attest --tee tpm`:
//! - with `--tpm-activate` the AK is proven and the token issued;
//! - without it the broker refuses: the AK is not proven;
//! - a broker trusting another CA refuses the EK certificate;
//! - a broker trusting no EK CA refuses to activate at all.
//!
//! Skips when swtpm is not installed (fails under CI).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use rootline_attester::swtpm::Swtpm;
use rootline_broker::kek::Kek;
use rootline_broker::store::prelude::*;
use rootline_broker::store::{ReferenceValue, SqlStore};
use rootline_broker::{Broker, BrokerOptions};

struct Served {
    _rt: tokio::runtime::Runtime,
    socket: String,
    _dir: tempfile::TempDir,
}

/// A broker trusting `ek_roots` (file contents), with one TPM reference
/// value (PCR 7 of a fresh swtpm: zeros), served on a unix socket.
fn serve(ek_roots: &[Vec<u8>]) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
    let socket = dir.path().join("kbs.sock");
    rt.block_on(async {
        let store = Arc::new(SqlStore::connect(&db).await.unwrap());
        store
            .put_reference_value(
                &ReferenceValue {
                    name: "pcr7".into(),
                    tee: "tpm".into(),
                    claim: "pcrs.sha256.7".into(),
                    values: vec!["00".repeat(32)],
                    version: 0,
                },
                0,
            )
            .await
            .unwrap();
        let (kek, _) = Kek::generate().unwrap();
        let broker = Broker::new(BrokerOptions {
            secure_cookies: false,
            ..BrokerOptions::new(store, kek)
        })
        .await
        .unwrap();
        broker.trust_ek_roots(ek_roots).unwrap();
        let l = tokio::net::UnixListener::bind(&socket).unwrap();
        let app = rootline_broker::app(broker);
        tokio::spawn(async move {
            axum::serve(l, app.into_make_service()).await.unwrap();
        });
    });
    Served {
        _rt: rt,
        socket: socket.display().to_string(),
        _dir: dir,
    }
}

fn attest(b: &Served, tpm: &Swtpm, activate: bool) -> (i32, String, String) {
    let kbs = format!("kbs+unix://{}", b.socket);
    let tcti = format!("swtpm:path={}", tpm.socket().display());
    let mut args = vec![
        "attest",
        "--json",
        "--kbs",
        &kbs,
        "--tee",
        "tpm",
        "--tcti",
        &tcti,
        "--key-alg",
        "rsa",
        "--pcrs",
        "sha256:0-7",
    ];
    if activate {
        args.push("--tpm-activate");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args(&args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn swtpm_ak_is_proven_by_credential_activation_against_the_trusted_ek_ca() {
    if !rootline_attester::swtpm::installed() {
        let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        assert!(!in_ci, "swtpm is not installed, and CI is set");
        eprintln!("skipping: swtpm and swtpm-tools are not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tpm = Swtpm::start(dir.path()).unwrap();
    let trusted = serve(&[read(&tpm.ca_root()), read(&tpm.ca_issuer())]);

    let (code, out, err) = attest(&trusted, &tpm, true);
    assert_eq!(code, 0, "activated attestation failed: {out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["claims"]["submods"]["cpu0"]["ear.status"], "affirming",
        "{out}"
    );

    // The same TPM without activation: the quote verifies, but its AK is
    // not proven to live beside the certified EK.
    let (code, out, err) = attest(&trusted, &tpm, false);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("AK is not proven"), "{err}");

    // Another private CA (a second swtpm's) does not vouch for this EK.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Swtpm::start(other_dir.path()).unwrap();
    let stranger = serve(&[read(&other.ca_root()), read(&other.ca_issuer())]);
    drop(other);
    let (code, out, err) = attest(&stranger, &tpm, true);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("EK certificate"), "{err}");

    // A broker trusting no EK CA cannot activate.
    let none = serve(&[]);
    let (code, out, err) = attest(&none, &tpm, true);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("trusts no EK CA"), "{err}");
}
