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

/// OCSP responses are collateral like RIMs, told apart by content: a good
/// one marks the CA `good` and `revocation.checked`; a revoked one rejects
/// the evidence naming the certificate; none leaves a warning.
#[test]
fn ocsp_responses_as_collateral_are_checked_and_claimed() {
    use rootline_testkit::ocsp::{Response, Status};
    let gpu = Pki::new(Leaf::default());
    let nonce = [0x42; 32];
    let v = Verifier::pinned()
        .with_nvidia_roots(gpu.root_pem().as_bytes())
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let with = |der: Vec<u8>| {
        let mut r = request(&gpu.evidence(nonce, &FWID), nonce);
        r.collateral.push(rootline_verifier::Collateral {
            origin: "ca.ocsp".into(),
            bytes: der,
        });
        r
    };

    let plain = v
        .verify(&request(&gpu.evidence(nonce, &FWID), nonce))
        .unwrap();
    assert_eq!(
        plain.claims_json()["devices"][0]["revocation"]["checked"],
        false
    );
    assert!(
        plain
            .warnings()
            .iter()
            .any(|w| w.contains("no OCSP response")),
        "{:?}",
        plain.warnings()
    );

    let good = Response::new(&gpu.ca_der, &gpu.root_der, Status::Good, now - 60)
        .sign(&gpu.root_ocsp_signer());
    let ok = v.verify(&with(good)).unwrap();
    let claims = ok.claims_json();
    assert_eq!(claims["devices"][0]["revocation"]["checked"], true);
    assert_eq!(
        claims["devices"][0]["certificates"][1]["revocation"],
        "good"
    );
    assert!(!ok.warnings().iter().any(|w| w.contains("OCSP")));

    let revoked = Response::new(
        &gpu.ca_der,
        &gpu.root_der,
        Status::Revoked(now - 30, Some(1)),
        now - 60,
    )
    .sign(&gpu.root_ocsp_signer());
    let e = v.verify(&with(revoked)).unwrap_err();
    assert!(e.reason.contains("is revoked since"), "{}", e.reason);
    assert!(e.reason.contains("GH100 A01 GSP BROM"), "{}", e.reason);

    let e = v.verify(&with(vec![0x30, 0x00])).unwrap_err();
    assert!(
        e.reason.contains("ca.ocsp: unusable OCSP response"),
        "{}",
        e.reason
    );
}
