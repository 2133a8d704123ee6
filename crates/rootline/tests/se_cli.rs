//! `rootline se request` and `rootline verify --tee se` on the real binary,
//! end to end from the command line: the testkit's synthetic IBM PKI (root,
//! intermediate, signing key, CRLs, a host-key document) written to files,
//! a request created from them, answered by the testkit's Ultravisor as a
//! guest would, and the answer verified with the kept secret; one changed
//! byte of the answer is refused, and a host-key document the signing key
//! revoked gets no request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rootline_testkit::se::{Image, Pki, evidence_json};
use serde_json::Value;

mod common;
use common::run as rootline;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p: PathBuf = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_owned()
}

/// A minimal SE header (`pvextract-hdr` layout, version 0x100) whose list
/// digests and tag are `image`'s.
fn se_header(image: &Image) -> Vec<u8> {
    let mut h = b"IBMSecEx".to_vec();
    h.extend_from_slice(&0x100u32.to_be_bytes());
    h.extend_from_slice(&432u32.to_be_bytes());
    h.extend_from_slice(&[0; 12 + 4 + 32 + 160]);
    h.extend_from_slice(&image.hdr_tags[..192]);
    h.extend_from_slice(&image.hdr_tags[192..]);
    assert_eq!(h.len(), 432);
    h
}

/// The PKI's files and the `se request` flags naming them.
fn pki_args(dir: &Path, pki: &Pki, hkd: &[u8], signing_crl: &[u8]) -> Vec<String> {
    let mut a = vec!["--hkd".to_owned(), write(dir, "hkd.crt", hkd)];
    a.extend([
        "--ibm-signing-key".to_owned(),
        write(dir, "ibm-signing.crt", &pki.signing_der),
        "--intermediate".to_owned(),
        write(dir, "inter.crt", &pki.inter_der),
        "--root".to_owned(),
        write(dir, "root.crt", &pki.root_der),
    ]);
    for (name, crl) in [
        ("root.crl", &pki.root_crl[..]),
        ("inter.crl", &pki.inter_crl[..]),
        ("signing.crl", signing_crl),
    ] {
        a.extend(["--crl".to_owned(), write(dir, name, crl)]);
    }
    a
}

#[test]
fn a_request_answered_by_the_ultravisor_verifies_and_a_changed_byte_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = Pki::new();
    let host = pki.host(1);
    let image = Image::default();
    let request = d.join("request.bin");
    let secret = d.join("secret.json");
    let mut args: Vec<String> = ["se", "request"].map(str::to_owned).to_vec();
    args.extend(pki_args(d, &pki, &host.der, &pki.signing_crl(&[])));
    args.extend([
        "--image-header".to_owned(),
        write(d, "se.hdr", &se_header(&image)),
        "-o".to_owned(),
        request.to_str().unwrap().to_owned(),
        "--secret".to_owned(),
        secret.to_str().unwrap().to_owned(),
        "--json".to_owned(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = rootline(&args);
    assert_eq!(code, 0, "{out}{err}");
    let created: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(created["created"], true);
    let uv = host.ultravisor(image.clone());
    assert_eq!(created["host_key_hashes"][0], hex::encode(uv.phkh()));
    assert_eq!(created["image"]["tag"], hex::encode(&image.hdr_tags[192..]));
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the request secret is owner-only");
    }

    // The guest's side: the Ultravisor answers the request with user data
    // (the KBS binding in real use; here a nonce the verifier is told).
    let binding = [0x5b_u8; 64];
    let arcb = std::fs::read(&request).unwrap();
    let answer = uv.answer(&arcb, &binding).unwrap();
    let evidence = evidence_json(&answer, &image, &binding, &[], &[]);
    let ev = write(d, "evidence.json", evidence.to_string().as_bytes());
    let secret = secret.to_str().unwrap();
    let nonce = hex::encode(binding);
    let verify = |ev: &str| {
        rootline(&[
            "verify",
            "--tee",
            "se",
            ev,
            "--collateral",
            secret,
            "--nonce",
            &nonce,
            "--json",
        ])
    };
    let (code, out, err) = verify(&ev);
    assert_eq!(code, 0, "{out}{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["verified"], true, "{j:#}");
    assert_eq!(j["tee"], "se", "{j:#}");
    let claims = &j["claims"];
    let claim = |k: &str| claims[k].clone();
    assert_eq!(claim("tag"), created["image"]["tag"]);
    assert_eq!(claim("cuid"), hex::encode(image.cuid));
    assert_eq!(claim("report_data"), nonce);
    assert_eq!(claim("attestation_phkh"), hex::encode(uv.phkh()));
    assert_eq!(claim("image_phkh"), hex::encode(image.image_phkh));

    // One byte of the measurement changed: rejected, exit 1.
    let mut m = STANDARD
        .decode(evidence["measurement"].as_str().unwrap())
        .unwrap();
    m[17] ^= 1;
    let mut bad = evidence.clone();
    bad["measurement"] = STANDARD.encode(&m).into();
    let bad = write(d, "bad.json", bad.to_string().as_bytes());
    let (code, out, err) = verify(&bad);
    assert_eq!(code, 1, "{out}{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["verified"], false, "{j:#}");

    // Another request's secret does not verify this answer.
    let other = d.join("other.json");
    let mut args: Vec<String> = ["se", "request"].map(str::to_owned).to_vec();
    args.extend(pki_args(d, &pki, &host.der, &pki.signing_crl(&[])));
    args.extend([
        "-o".to_owned(),
        d.join("other.bin").to_str().unwrap().to_owned(),
        "--secret".to_owned(),
        other.to_str().unwrap().to_owned(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(rootline(&args).0, 0);
    let (code, out, err) = rootline(&[
        "verify",
        "--tee",
        "se",
        &ev,
        "--collateral",
        other.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 1, "{out}{err}");
}

#[test]
fn a_revoked_host_key_document_gets_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = Pki::new();
    let host = pki.host(2);
    let request = d.join("request.bin");
    let secret = d.join("secret.json");
    let mut args: Vec<String> = ["se", "request"].map(str::to_owned).to_vec();
    args.extend(pki_args(
        d,
        &pki,
        &host.der,
        &pki.signing_crl(std::slice::from_ref(&host.serial)),
    ));
    args.extend([
        "-o".to_owned(),
        request.to_str().unwrap().to_owned(),
        "--secret".to_owned(),
        secret.to_str().unwrap().to_owned(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = rootline(&args);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("REJECTED"), "{err}");
    assert!(!request.exists() && !secret.exists());
}
