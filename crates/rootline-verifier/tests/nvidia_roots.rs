//! `Verifier::with_nvidia_roots`: NVIDIA GPU evidence is anchored at the
//! caller's roots, which replace (not join) the pinned NVIDIA root, on the
//! verifier a server builds once (synthetic GPUs from
//! `rootline_testkit::nvidia`).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use rootline_core::TeeKind;
use rootline_testkit::nvidia::{FWID, Leaf, Pki};
use rootline_verifier::{Request, Verifier};

fn request(evidence: &serde_json::Value, nonce: [u8; 32]) -> Request {
    Request {
        evidence: evidence.to_string().into_bytes(),
        tee: Some(TeeKind::Nvidia),
        collateral: Vec::new(),
        at: None,
        nonce: Some(nonce.to_vec()),
        extra: Default::default(),
    }
}

#[test]
fn nvidia_roots_replace_the_pinned_root() {
    let gpu = Pki::new(Leaf::default());
    let other = Pki::new(Leaf::default());
    let nonce = [0x42; 32];
    let req = request(&gpu.evidence(nonce, &FWID), nonce);

    let e = Verifier::pinned().verify(&req).unwrap_err();
    assert!(e.reason.contains("not a trusted root"), "{}", e.reason);

    let v = Verifier::pinned()
        .with_nvidia_roots(gpu.root_pem().as_bytes())
        .unwrap();
    let verified = v.verify(&req).unwrap();
    let claims = verified.claims_json();
    assert_eq!(
        claims["devices"][0]["fwid"],
        hex::encode(FWID),
        "{claims:?}"
    );
    // Another session's nonce is still refused under the caller's root.
    let e = v.verify(&request(&gpu.evidence(nonce, &FWID), [0x43; 32]));
    assert!(e.unwrap_err().reason.contains("nonce"));

    // Replaced, not added to: the second call's root is the only one.
    let v = v.with_nvidia_roots(other.root_pem().as_bytes()).unwrap();
    let e = v.verify(&req).unwrap_err();
    assert!(e.reason.contains("not a trusted root"), "{}", e.reason);
    // Both roots in one PEM: both trusted.
    let both = gpu.root_pem() + &other.root_pem();
    let v = v.with_nvidia_roots(both.as_bytes()).unwrap();
    v.verify(&req).unwrap();
    v.verify(&request(&other.evidence(nonce, &FWID), nonce))
        .unwrap();
}

#[test]
fn nvidia_roots_that_are_no_certificates_are_refused() {
    for bad in [
        &b""[..],
        b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    ] {
        let e = Verifier::pinned().with_nvidia_roots(bad).unwrap_err();
        assert!(e.starts_with("NVIDIA trust anchor: "), "{e}");
    }
}
