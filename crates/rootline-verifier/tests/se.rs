//! IBM Z Secure Execution through the verifier: the request secret as
//! collateral or sealed in the evidence, the nonce against the user data,
//! detection by content (synthetic PKI and Ultravisor from
//! `rootline_testkit::se`).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::PathBuf;

use rootline_core::TeeKind;
use rootline_se::{AttestationRequest, Flags, HkdVerifier, Pki, SealingKey};
use rootline_testkit::se::{self, Image};
use rootline_verifier::{Claims, Collateral, Request, Verifier};

const AT: i64 = 1_767_225_600;

struct Case {
    req: AttestationRequest,
    evidence: Vec<u8>,
    user: Vec<u8>,
}

fn case(sealing: Option<&SealingKey>) -> Case {
    let p = se::Pki::new();
    let h = p.host(1);
    let mut pki = Pki::new();
    for d in [
        &p.inter_der,
        &p.signing_der,
        &p.inter_crl,
        &p.root_crl,
        &p.signing_crl(&[]),
    ] {
        pki.add(d).unwrap();
    }
    let hkd = HkdVerifier::new(std::slice::from_ref(&p.root_der), &pki, AT).unwrap();
    let key = hkd.verify(&h.der, AT).unwrap();
    let req = AttestationRequest::new(&[key], Flags::TRUSTEE).unwrap();
    let image = Image::default();
    let user = vec![0x77; 64];
    let answer = h
        .ultravisor(image.clone())
        .answer(req.arcb(), &user)
        .unwrap();
    let (k, n) = match sealing {
        Some(s) => s.seal(req.secret()).unwrap(),
        None => (b"k".to_vec(), b"n".to_vec()),
    };
    let evidence = se::evidence_json(&answer, &image, &user, &k, &n)
        .to_string()
        .into_bytes();
    Case {
        req,
        evidence,
        user,
    }
}

fn request(c: &Case, secret: bool, nonce: Option<Vec<u8>>) -> Request {
    Request {
        evidence: c.evidence.clone(),
        tee: None,
        collateral: if secret {
            vec![Collateral {
                origin: PathBuf::from("secret.json"),
                bytes: c.req.secret().to_json().into_bytes(),
            }]
        } else {
            Vec::new()
        },
        at: None,
        nonce,
        extra: Default::default(),
    }
}

#[test]
fn se_evidence_verifies_with_the_kept_secret() {
    let c = case(None);
    assert_eq!(rootline_verifier::detect(&c.evidence), Some(TeeKind::Se));
    let v = Verifier::pinned()
        .verify(&request(&c, true, Some(c.user.clone())))
        .unwrap();
    assert_eq!(v.tee(), TeeKind::Se);
    let Claims::Se(claims) = v.claims() else {
        panic!("not SE claims")
    };
    assert_eq!(claims.cuid, hex::encode(Image::default().cuid));
    let rd = v.claims().report_data().unwrap();
    assert_eq!(rd.bytes, c.user);
    assert_eq!(v.claims().config_id().unwrap().0, "cuid");
    assert!(v.warnings().is_empty());
    assert_eq!(
        v.claims_json()["tag"],
        hex::encode(&Image::default().hdr_tags[192..])
    );
}

#[test]
fn se_evidence_without_the_secret_or_with_another_nonce_is_rejected() {
    let c = case(None);
    let e = Verifier::pinned()
        .verify(&request(&c, false, None))
        .unwrap_err();
    assert!(e.reason.contains("no SE request secret"), "{}", e.reason);
    assert_eq!(e.claims["cuid"], hex::encode(Image::default().cuid));
    let e = Verifier::pinned()
        .verify(&request(&c, true, Some(vec![0x78; 64])))
        .unwrap_err();
    assert!(e.reason.contains("user data"), "{}", e.reason);
    let other = case(None);
    let mut r = request(&c, false, None);
    r.collateral = request(&other, true, None).collateral;
    let e = Verifier::pinned().verify(&r).unwrap_err();
    assert!(e.reason.contains("bad measurement"), "{}", e.reason);
}

#[test]
fn se_secret_sealed_in_the_evidence_opens_with_the_verifiers_key() {
    let key = SealingKey::random().unwrap();
    let c = case(Some(&key));
    let v = Verifier::pinned().with_se_sealing_key(key);
    assert!(v.verify(&request(&c, false, Some(c.user.clone()))).is_ok());
    let other = Verifier::pinned().with_se_sealing_key(SealingKey::random().unwrap());
    let e = other
        .verify(&request(&c, false, Some(c.user.clone())))
        .unwrap_err();
    assert!(e.reason.contains("sealed"), "{}", e.reason);
}
