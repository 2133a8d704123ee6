//! Round trips through a synthetic Ultravisor (rootline-testkit's `se`,
//! written from the byte layout without this crate) under a synthetic IBM
//! PKI: verified host keys, a request, the Ultravisor's answer, and every
//! MACed or signed part flipped one bit at a time.

use rootline_se::{
    AttestationRequest, Challenge, Error, Flags, HkdVerifier, Pki, RequestSecret, Response,
    SealingKey,
};
use rootline_testkit::se::{self, Image};

// 2026-01-01.
const AT: i64 = 1_767_225_600;

fn verifier(p: &se::Pki, extra: &[&[u8]]) -> HkdVerifier {
    let mut pki = Pki::new();
    for d in [&p.inter_der, &p.signing_der, &p.inter_crl, &p.root_crl] {
        pki.add(d).unwrap();
    }
    for d in extra {
        pki.add(d).unwrap();
    }
    HkdVerifier::new(std::slice::from_ref(&p.root_der), &pki, AT).unwrap()
}

struct Setup {
    req: AttestationRequest,
    answer: se::Answer,
    image: Image,
    user: Vec<u8>,
}

fn round_trip() -> Setup {
    let p = se::Pki::new();
    let (h1, h2) = (p.host(1), p.host(2));
    let v = verifier(&p, &[&p.signing_crl(&[])]);
    let keys = [
        v.verify(&h1.der, AT).unwrap(),
        v.verify(&h2.der, AT).unwrap(),
    ];
    let req = AttestationRequest::new(&keys, Flags::TRUSTEE).unwrap();
    let image = Image::default();
    let user = vec![0x5e; 64];
    let answer = h2
        .ultravisor(image.clone())
        .answer(req.arcb(), &user)
        .unwrap();
    Setup {
        req,
        answer,
        image,
        user,
    }
}

fn response(s: &Setup) -> Response {
    let j = se::evidence_json(&s.answer, &s.image, &s.user, b"k", b"n");
    Response::from_json(j.to_string().as_bytes()).unwrap()
}

#[test]
fn second_host_answers_and_the_claims_say_what_it_ran() {
    let s = round_trip();
    let r = response(&s);
    let v = r.verify(s.req.secret(), Some(&s.user)).unwrap();
    let c = v.get();
    assert_eq!(c.tag, hex::encode(&s.image.hdr_tags[192..]));
    assert_eq!(c.cuid, hex::encode(s.image.cuid));
    assert_eq!(
        c.image_phkh.as_deref(),
        Some(hex::encode(s.image.image_phkh).as_str())
    );
    assert_eq!(
        c.attestation_phkh.as_deref(),
        Some(hex::encode(s.req.secret().host_key_hashes[1]).as_str())
    );
    assert_eq!(c.user_data, hex::encode(&s.user));
    assert_eq!(c.report_data, hex::encode(&s.user));
    // A shorter binding is compared zero-padded to 64 bytes, as
    // guest-components pads it: a prefix of the user data is not enough.
    assert!(r.verify(s.req.secret(), Some(&[0x5e; 48])).is_err());
    assert!(r.verify(s.req.secret(), Some(&s.user[..32])).is_err());
}

#[test]
fn one_bit_flips_of_every_measured_part_are_rejected() {
    let s = round_trip();
    let good = response(&s);
    let secret = s.req.secret();
    assert!(good.verify(secret, None).is_ok());
    let mut flips = 0;
    let mut check = |r: Response, what: &str| {
        let e = r.verify(secret, None).unwrap_err();
        assert!(
            matches!(
                e,
                Error::BadMeasurement | Error::Malformed { .. } | Error::Codec { .. }
            ),
            "{what}: {e}"
        );
        flips += 1;
    };
    for i in 0..good.measurement.len() * 8 {
        let mut r = good.clone();
        r.measurement[i / 8] ^= 1 << (i % 8);
        check(r, "measurement");
    }
    for i in 0..good.hdr_tags.len() * 8 {
        let mut r = good.clone();
        r.hdr_tags[i / 8] ^= 1 << (i % 8);
        check(r, "SE header tags");
    }
    for i in 0..good.cuid.len() * 8 {
        let mut r = good.clone();
        r.cuid[i / 8] ^= 1 << (i % 8);
        check(r, "cuid");
    }
    for i in 0..good.user_data.len() * 8 {
        let mut r = good.clone();
        r.user_data[i / 8] ^= 1 << (i % 8);
        check(r, "user data");
    }
    for i in 0..good.additional_data.len() * 8 {
        let mut r = good.clone();
        r.additional_data[i / 8] ^= 1 << (i % 8);
        check(r, "additional data");
    }
    // Truncations and extensions of the variable parts.
    let mut r = good.clone();
    r.user_data.pop();
    check(r, "short user data");
    let mut r = good.clone();
    r.additional_data.push(0);
    check(r, "long additional data");
    assert_eq!(flips, (64 + 208 + 16 + 64 + 64) * 8 + 2);
}

#[test]
fn the_kept_secret_is_what_the_measurement_depends_on() {
    let s = round_trip();
    let r = response(&s);
    for i in 0..(64 + 16) * 8 {
        let mut sec: RequestSecret = s.req.secret().clone();
        if i < 512 {
            sec.measurement_key[i / 8] ^= 1 << (i % 8);
        } else {
            let j = i - 512;
            sec.nonce[j / 8] ^= 1 << (j % 8);
        }
        assert_eq!(r.verify(&sec, None).unwrap_err(), Error::BadMeasurement);
    }
    // Another request's secret (a replayed answer) fails too.
    let other = round_trip();
    assert_eq!(
        r.verify(other.req.secret(), None).unwrap_err(),
        Error::BadMeasurement
    );
}

#[test]
fn every_bit_of_the_request_is_checked_by_the_ultravisor() {
    let p = se::Pki::new();
    let h = p.host(1);
    let v = verifier(&p, &[&p.signing_crl(&[])]);
    let key = v.verify(&h.der, AT).unwrap();
    let req = AttestationRequest::new(&[key], Flags::TRUSTEE).unwrap();
    let uv = h.ultravisor(Image::default());
    assert!(uv.answer(req.arcb(), &[]).is_ok());
    for i in 0x10..req.arcb().len() * 8 {
        if i / 8 == 0x27 || (0x2c..0x30).contains(&(i / 8)) {
            continue; // counts the simulator reads before any tag check
        }
        let mut b = req.arcb().to_vec();
        b[i / 8] ^= 1 << (i % 8);
        assert!(uv.answer(&b, &[]).is_err(), "bit {i} of the request");
    }
}

#[test]
fn a_host_the_request_was_not_made_for_cannot_answer() {
    let p = se::Pki::new();
    let (h1, h2) = (p.host(1), p.host(2));
    let v = verifier(&p, &[&p.signing_crl(&[])]);
    let req = AttestationRequest::new(&[v.verify(&h1.der, AT).unwrap()], Flags::TRUSTEE).unwrap();
    let e = h2
        .ultravisor(Image::default())
        .answer(req.arcb(), &[])
        .unwrap_err();
    assert!(e.contains("no key slot"), "{e}");
    // Another PKI's host with a forged slot hash gets no key either: the
    // slot is wrapped to h1's key.
    let q = se::Pki::new();
    let mut forged = req.arcb().to_vec();
    let h3 = q.host(1);
    let phkh = h3.ultravisor(Image::default()).phkh();
    forged[0xe0..0xe0 + 32].copy_from_slice(&phkh);
    assert!(
        h3.ultravisor(Image::default())
            .answer(&forged, &[])
            .is_err()
    );
}

#[test]
fn revoked_expired_and_foreign_host_key_documents_are_rejected() {
    let p = se::Pki::new();
    let h = p.host(7);
    let v = verifier(&p, &[&p.signing_crl(std::slice::from_ref(&h.serial))]);
    assert!(matches!(
        v.verify(&h.der, AT).unwrap_err(),
        Error::Revoked { .. }
    ));
    let v = verifier(&p, &[&p.signing_crl(&[])]);
    let old = p.issue_host(
        8,
        time::macros::datetime!(2024-01-01 00:00 UTC),
        time::macros::datetime!(2025-01-01 00:00 UTC),
    );
    assert!(
        v.verify(&old.der, AT)
            .unwrap_err()
            .to_string()
            .contains("expired")
    );
    let other = se::Pki::new().host(1);
    assert!(matches!(
        v.verify(&other.der, AT).unwrap_err(),
        Error::Untrusted { .. }
    ));
    // One-bit flips of the host-key document are rejected.
    let good = p.host(9);
    assert!(v.verify(&good.der, AT).is_ok());
    for i in 0..good.der.len() {
        let mut d = good.der.clone();
        d[i] ^= 0x01;
        assert!(
            v.verify(&d, AT).is_err(),
            "byte {i} of the host-key document"
        );
    }
}

#[test]
fn a_revoked_signing_key_trusts_nothing() {
    let p = se::Pki::new();
    let mut pki = Pki::new();
    let crl = p.inter_crl_revoking(&[vec![0x10, 3]]);
    for d in [&p.inter_der, &p.signing_der, &crl, &p.root_crl] {
        pki.add(d).unwrap();
    }
    let e = HkdVerifier::new(std::slice::from_ref(&p.root_der), &pki, AT).unwrap_err();
    assert!(matches!(e, Error::Revoked { .. }), "{e}");
}

#[test]
fn sealed_secrets_travel_through_the_guest() {
    let s = round_trip();
    let key = SealingKey::random().unwrap();
    let ch = Challenge::new(s.req.arcb(), s.req.secret(), &s.image.hdr_tags, &key).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let k = b64.decode(&ch.encr_measurement_key).unwrap();
    let n = b64.decode(&ch.encr_request_nonce).unwrap();
    assert_eq!(ch.additional_size, 64);
    let opened = key.open(&k, &n).unwrap();
    assert_eq!(&opened, s.req.secret());
    let j = se::evidence_json(&s.answer, &s.image, &s.user, &k, &n);
    let r = Response::from_json(j.to_string().as_bytes()).unwrap();
    let secret = key
        .open(&r.encr_measurement_key, &r.encr_request_nonce)
        .unwrap();
    assert!(r.verify(&secret, Some(&s.user)).is_ok());
    // Flips of either blob, swapped blobs, another key: refused.
    for i in 0..k.len() * 8 {
        let mut b = k.clone();
        b[i / 8] ^= 1 << (i % 8);
        assert!(key.open(&b, &n).is_err());
    }
    for i in 0..n.len() * 8 {
        let mut b = n.clone();
        b[i / 8] ^= 1 << (i % 8);
        assert!(key.open(&k, &b).is_err());
    }
    let (k2, n2) = key.seal(s.req.secret()).unwrap();
    assert!(key.open(&k, &n2).is_err());
    assert!(key.open(&k2, &n).is_err());
    assert!(SealingKey::random().unwrap().open(&k, &n).is_err());
}

#[test]
fn secret_json_round_trips() {
    let s = round_trip();
    let j = s.req.secret().to_json();
    assert_eq!(
        &RequestSecret::from_json(j.as_bytes()).unwrap(),
        s.req.secret()
    );
    assert!(
        !format!("{:?}", s.req.secret())
            .contains(&hex::encode(&s.req.secret().measurement_key[..8]))
    );
}

#[test]
fn detect_takes_guest_components_evidence() {
    let s = round_trip();
    let j = se::evidence_json(&s.answer, &s.image, &s.user, b"k", b"n").to_string();
    assert!(rootline_se::detect(j.as_bytes()));
    assert!(!rootline_se::detect(b"{\"token\": []}"));
}
