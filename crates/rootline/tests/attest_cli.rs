//! `rootline attest` and `rootline get-resource` against a broker served on
//! 127.0.0.1 (port 0) by this test, with the simulated P-384 TEE: a secret
//! is released and decrypted; the wrong measurement is refused with the
//! reason (exit 1); a broker that does not trust the root refuses too.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use rootline_attester::sim::SimAttester;
use rootline_broker::evidence::VerifierConfig;
use rootline_broker::kek::Kek;
use rootline_broker::store::prelude::*;
use rootline_broker::store::{ReferenceValue, SqlStore};
use rootline_broker::tls::{PeerAddr, TlsListener, server_config};
use rootline_broker::{Broker, BrokerOptions};

struct Served {
    _rt: tokio::runtime::Runtime,
    url: String,
    _dir: tempfile::TempDir,
}

fn serve(sim_roots: Vec<Vec<u8>>, measurement: &str, secret: &[u8]) -> Served {
    serve_with(sim_roots, measurement, secret, None)
}

/// As `serve`; with `tls` (certificate and key PEM), over HTTPS.
fn serve_with(
    sim_roots: Vec<Vec<u8>>,
    measurement: &str,
    secret: &[u8],
    tls: Option<(String, String)>,
) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
    let url = rt.block_on(async {
        let store = Arc::new(SqlStore::connect(&db).await.unwrap());
        let (kek, raw) = Kek::generate().unwrap();
        let sealer = Kek::from_bytes(&raw).unwrap();
        store
            .put_resource(
                "default/key/one",
                &sealer.seal("default/key/one", secret).unwrap(),
                None,
                0,
            )
            .await
            .unwrap();
        store
            .put_reference_value(
                &ReferenceValue {
                    name: "guest".into(),
                    tee: "rootline-sim".into(),
                    claim: "measurement".into(),
                    values: vec![measurement.into()],
                    version: 0,
                },
                0,
            )
            .await
            .unwrap();
        let broker = Broker::new(BrokerOptions {
            verifier: VerifierConfig {
                sim_roots,
                ..Default::default()
            },
            secure_cookies: false,
            ..BrokerOptions::new(store, kek)
        })
        .await
        .unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let app = rootline_broker::app(broker);
        let Some((cert, key)) = tls else {
            tokio::spawn(async move {
                axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
                    .await
                    .unwrap();
            });
            return format!("http://{addr}");
        };
        let cfg = server_config(cert.as_bytes(), key.as_bytes()).unwrap();
        let l = TlsListener::new(l, cfg).unwrap();
        tokio::spawn(async move {
            axum::serve(l, app.into_make_service_with_connect_info::<PeerAddr>())
                .await
                .unwrap();
        });
        format!("https://{addr}")
    });
    Served {
        _rt: rt,
        url,
        _dir: dir,
    }
}

/// A simulated guest: its measurement (hex), a directory holding its root
/// key, the attester and the key's path.
fn sim_guest() -> (String, tempfile::TempDir, SimAttester, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (sim, pkcs8) = SimAttester::generate([0x11; 48]).unwrap();
    let key = dir.path().join("sim.pk8");
    std::fs::write(&key, &pkcs8).unwrap();
    ("11".repeat(48), dir, sim, key)
}

fn rootline(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args(args)
        .output()
        .unwrap()
}

/// `rootline get-resource kbs:///default/key/one` as the simulated guest
/// with root `key` reporting `measurement`, and `extra` flags.
fn get_resource(url: &str, key: &str, measurement: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "get-resource",
        "kbs:///default/key/one",
        "--kbs",
        url,
        "--tee",
        "sim",
        "--sim-key",
        key,
        "--sim-measurement",
        measurement,
    ];
    args.extend_from_slice(extra);
    rootline(&args)
}

#[test]
fn sim_guest_gets_its_secret_and_a_wrong_measurement_is_refused() {
    let (good, dir, sim, key) = sim_guest();
    let key = key.to_str().unwrap();
    let b = serve(vec![sim.public_key()], &good, b"s3cret \x00 bytes");

    // The secret, decrypted, in a file.
    let out_file = dir.path().join("secret");
    let out = get_resource(&b.url, key, &good, &["-o", out_file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&out_file).unwrap(), b"s3cret \x00 bytes");

    // The token: cpu0 affirming, bound to the key the guest made.
    let out = rootline(&[
        "attest",
        "--kbs",
        &b.url,
        "--tee",
        "sim",
        "--sim-key",
        key,
        "--sim-measurement",
        &good,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tee"], "rootline-sim");
    assert_eq!(
        v["claims"]["submods"]["cpu0"]["ear.status"], "affirming",
        "{v}"
    );
    assert_eq!(v["token"].as_str().unwrap().split('.').count(), 3);

    // Another measurement: attested (contraindicated), the resource refused
    // with the reason, exit 1.
    let bad = "22".repeat(48);
    let out = get_resource(&b.url, key, &bad, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("401") && err.contains("denied by policy") && err.contains("measurement"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    // A root the broker does not trust: the attestation itself is refused.
    let (_, other) = SimAttester::generate([0x11; 48]).unwrap();
    let other_key = dir.path().join("other.pk8");
    std::fs::write(&other_key, other).unwrap();
    let out = rootline(&[
        "attest",
        "--kbs",
        &b.url,
        "--tee",
        "sim",
        "--sim-key",
        other_key.to_str().unwrap(),
        "--sim-measurement",
        &good,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sim_roots"));

    // Usage: a malformed resource URI and a missing key are exit 2.
    let out = rootline(&[
        "get-resource",
        "kbs:///a/b",
        "--kbs",
        &b.url,
        "--tee",
        "sim",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = rootline(&["attest", "--kbs", &b.url, "--tee", "sim"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn get_resource_over_https_trusting_the_given_ca() {
    let (good, dir, sim, key) = sim_guest();
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ck.cert.pem()).unwrap();
    let b = serve_with(
        vec![sim.public_key()],
        &good,
        b"over tls",
        Some((ck.cert.pem(), ck.signing_key.serialize_pem())),
    );
    assert!(b.url.starts_with("https://127.0.0.1:"), "{}", b.url);
    let get = |extra: &[&str]| get_resource(&b.url, key.to_str().unwrap(), &good, extra);
    let out = get(&["--cacert", ca.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"over tls");
    // Without the CA the broker's certificate is not trusted.
    let out = get(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}
