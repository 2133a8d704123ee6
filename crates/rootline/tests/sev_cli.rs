//! `rootline sev` on the real binary: a real Naples platform chain (the
//! `sev` crate's test certificates, kept in crates/rootline-sev/tests/data)
//! verified to AMD's pinned ARK and refused with one byte changed; a
//! session started with it; and sevctl's recorded launch measurement checked
//! with its TIK, the secret packet released only when the measurement holds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

mod common;
use common::run as rootline;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../rootline-sev/tests/data")
        .join(rel)
}

/// The Naples chain as `sevctl export --full` writes it.
fn naples_chain() -> Vec<u8> {
    let mut full = Vec::new();
    for c in ["pdh", "pek", "oca", "cek"] {
        full.extend(std::fs::read(data(&format!("naples/{c}.cert"))).unwrap());
    }
    full.extend(rootline_sev::builtin_ask(rootline_sev::Product::Naples));
    full.extend(rootline_sev::Product::Naples.ark_bytes());
    full
}

#[test]
fn a_real_chain_verifies_and_a_changed_byte_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain.bin");
    let full = naples_chain();
    std::fs::write(&chain, &full).unwrap();
    let (code, out, err) = rootline(&["sev", "verify-chain", chain.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verified"], true);
    assert!(
        v["root"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("naples"),
        "{v}"
    );
    // One byte of the CEK's first signature (the fourth certificate, 2084
    // bytes each; its signatures start at 0x414).
    let mut bad = full.clone();
    bad[3 * 2084 + 0x430] ^= 1;
    std::fs::write(&chain, &bad).unwrap();
    let (code, out, _) = rootline(&["sev", "verify-chain", chain.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["verified"],
        false
    );
    // A session is not started with a refused platform.
    let (code, _, err) = rootline(&[
        "sev",
        "session",
        "--chain",
        chain.to_str().unwrap(),
        "--policy",
        "0x1",
        "--out",
        dir.path().join("s").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(!dir.path().join("s/session.key").exists());
}

#[test]
fn a_session_writes_what_the_host_needs_and_keeps_its_keys_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain.bin");
    std::fs::write(&chain, naples_chain()).unwrap();
    let out_dir = dir.path().join("launch");
    let (code, out, err) = rootline(&[
        "sev",
        "session",
        "--chain",
        chain.to_str().unwrap(),
        "--policy",
        "0x5",
        "--out",
        out_dir.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["policy"], "0x5");
    let godh = STANDARD
        .decode(std::fs::read_to_string(out_dir.join("godh.b64")).unwrap())
        .unwrap();
    assert_eq!(godh.len(), 2084);
    let blob = STANDARD
        .decode(std::fs::read_to_string(out_dir.join("session.b64")).unwrap())
        .unwrap();
    assert_eq!(blob.len(), 128);
    let key = out_dir.join("session.key");
    assert_eq!(
        std::fs::read(&key).unwrap().len(),
        rootline_sev::SESSION_STATE_LEN
    );
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// sevctl's `measurement build --launch-digest` case (virtee/sevctl
/// tests/measurementbuild.rs): API 1.40 build 40, policy 3, its TIK.
const MEASUREMENT: &str = "lswbxWxI9gckya16JQvdFtpYmNO4b+3inAPpqsgoBI7DE/q1EcIWsVBbGy6pkDxA";
const DIGEST: &str = "c64bd101fc9a4a2ce0a27c408d9200911f139a895469b04a40a6fa2890830d23";

#[test]
fn the_secret_is_built_only_for_the_measured_launch() {
    let dir = tempfile::tempdir().unwrap();
    // session.key: policy (u32 LE), TEK, TIK.
    let mut state = 3u32.to_le_bytes().to_vec();
    state.extend([0x11; 16]);
    state.extend(std::fs::read(data("sevctl/measurement-tik1.bin")).unwrap());
    let key = dir.path().join("session.key");
    std::fs::write(&key, &state).unwrap();
    let secret = dir.path().join("disk.key");
    std::fs::write(&secret, b"the disk key").unwrap();
    let guid = "736869e5-84f0-4973-92ec-06879ce3da0b";
    let base = |digest: &str| {
        vec![
            "sev".to_owned(),
            "secret".into(),
            "--session".into(),
            key.to_str().unwrap().to_owned(),
            "--measurement".into(),
            MEASUREMENT.into(),
            "--api-major".into(),
            "1".into(),
            "--api-minor".into(),
            "40".into(),
            "--build".into(),
            "40".into(),
            "--digest".into(),
            digest.to_owned(),
            "--secret".into(),
            format!("{guid}={}", secret.display()),
            "--json".into(),
        ]
    };
    let args = base(DIGEST);
    let (code, out, err) = rootline(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["digest"], DIGEST);
    let header = STANDARD
        .decode(v["packet_header"].as_str().unwrap())
        .unwrap();
    assert_eq!(header.len(), 52);
    assert!(
        !STANDARD
            .decode(v["secret"].as_str().unwrap())
            .unwrap()
            .is_empty()
    );
    // Another expected digest: the measurement does not hold, no packet.
    let other = "00".repeat(32);
    let args = base(&other);
    let (code, out, _) = rootline(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verified"], false);
    assert!(v.get("packet_header").is_none());
    // `check` alone says the same without building anything.
    let (code, out, err) = rootline(&[
        "sev",
        "check",
        "--session",
        key.to_str().unwrap(),
        "--measurement",
        MEASUREMENT,
        "--api-major",
        "1",
        "--api-minor",
        "40",
        "--build",
        "40",
        "--digest",
        DIGEST,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("launch measurement verified"), "{out}");
}
