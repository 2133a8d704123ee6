//! OCSP revocation checks against a synthetic PKI and responses built by
//! committed code (`rootline_testkit::ocsp`): good passes; revoked,
//! unknown, expired, foreign-signed, undelegated, bit-flipped and
//! other-serial responses fail closed; and the claims say which
//! certificates were checked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use rootline_nvidia::certs::TrustRoots;
use rootline_nvidia::ocsp::{self, CLOCK_SKEW, Revocation};
use rootline_nvidia::{Error, Evidence, Options, Verifier};
use rootline_testkit::nvidia::{FWID, Leaf, Pki};
use rootline_testkit::ocsp::{Response, Signer, Status, with_status};

const AT: i64 = 1_767_225_600; // 2026-01-01
const THIS: i64 = AT - 3600;

fn pki() -> Pki {
    Pki::new(Leaf::default())
}

/// A response about the CA (the chain's one checked certificate), issued
/// by the root.
fn about_ca(pki: &Pki, status: Status) -> Response {
    Response::new(&pki.ca_der, &pki.root_der, status, THIS)
}

fn check(pki: &Pki, der: &[u8]) -> Result<ocsp::Good, Error> {
    ocsp::check(der, &pki.ca_der, &pki.root_der, AT)
}

#[test]
fn good_passes() {
    let pki = pki();
    let der = about_ca(&pki, Status::Good).sign(&pki.root_ocsp_signer());
    let g = check(&pki, &der).unwrap();
    assert_eq!(g.this_update, THIS);
    assert_eq!(g.next_update, THIS + 86_400);
}

#[test]
fn revoked_fails_naming_the_certificate_time_and_reason() {
    let pki = pki();
    let der = about_ca(&pki, Status::Revoked(1_750_000_000, Some(1))).sign(&pki.root_ocsp_signer());
    let e = check(&pki, &der).unwrap_err();
    let Error::Revoked {
        subject,
        serial,
        time,
        reason,
    } = &e
    else {
        panic!("{e}");
    };
    assert!(subject.contains("CN=GH100 A01 GSP BROM"), "{subject}");
    assert_eq!(serial, "1002");
    assert_eq!(time, "2025-06-15T15:06:40Z");
    assert_eq!(reason, "keyCompromise");
}

/// nvtrust fails on certificateHold unless told otherwise; we always do.
#[test]
fn certificate_hold_fails_like_any_revocation() {
    let pki = pki();
    let der = about_ca(&pki, Status::Revoked(1_750_000_000, Some(6))).sign(&pki.root_ocsp_signer());
    let e = check(&pki, &der).unwrap_err();
    assert!(
        matches!(&e, Error::Revoked { reason, .. } if reason == "certificateHold"),
        "{e}"
    );
}

#[test]
fn unknown_fails() {
    let pki = pki();
    let der = about_ca(&pki, Status::Unknown).sign(&pki.root_ocsp_signer());
    assert!(matches!(
        check(&pki, &der).unwrap_err(),
        Error::RevocationUnknown { .. }
    ));
}

#[test]
fn expired_fails_beyond_the_clock_skew_only() {
    let pki = pki();
    let mut r = about_ca(&pki, Status::Good);
    r.this_update = AT - 2 * 86_400;
    r.next_update = Some(AT - CLOCK_SKEW - 1);
    let der = r.sign(&pki.root_ocsp_signer());
    assert!(matches!(
        check(&pki, &der).unwrap_err(),
        Error::OcspStale { .. }
    ));
    // Within the skew, still current.
    r.next_update = Some(AT - CLOCK_SKEW + 1);
    check(&pki, &r.sign(&pki.root_ocsp_signer())).unwrap();
    // Produced in the future beyond the skew.
    r.this_update = AT + CLOCK_SKEW + 1;
    r.next_update = Some(AT + 86_400);
    assert!(matches!(
        check(&pki, &r.sign(&pki.root_ocsp_signer())).unwrap_err(),
        Error::OcspStale { .. }
    ));
}

#[test]
fn without_next_update_a_response_is_current_for_an_hour() {
    let pki = pki();
    let mut r = about_ca(&pki, Status::Good);
    r.next_update = None;
    r.this_update = AT - ocsp::MAX_AGE_WITHOUT_NEXT_UPDATE - CLOCK_SKEW - 1;
    assert!(matches!(
        check(&pki, &r.sign(&pki.root_ocsp_signer())).unwrap_err(),
        Error::OcspStale { .. }
    ));
    r.this_update = AT - 60;
    check(&pki, &r.sign(&pki.root_ocsp_signer())).unwrap();
}

#[test]
fn a_response_signed_by_an_unrelated_key_fails() {
    let pki = pki();
    // The responderID names the root, the key is another.
    let forged = Signer::with_foreign_key(pki.root_der.clone());
    let der = about_ca(&pki, Status::Good).sign(&forged);
    assert!(matches!(
        check(&pki, &der).unwrap_err(),
        Error::OcspBadSignature { .. }
    ));
    // Another PKI's root answering for this one: its name is the issuer's
    // (both synthetic roots share it), its key is not.
    let other = Pki::new(Leaf::default());
    let der = about_ca(&pki, Status::Good).sign(&other.root_ocsp_signer());
    assert!(matches!(
        check(&pki, &der).unwrap_err(),
        Error::OcspBadSignature { .. }
    ));
}

#[test]
fn a_delegated_responder_needs_the_ocsp_signing_eku() {
    let pki = pki();
    let with = pki.root_delegated_responder(true);
    check(&pki, &about_ca(&pki, Status::Good).sign(&with)).unwrap();
    let without = pki.root_delegated_responder(false);
    let e = check(&pki, &about_ca(&pki, Status::Good).sign(&without)).unwrap_err();
    assert!(
        matches!(&e, Error::OcspResponder { reason } if reason.contains("OCSPSigning")),
        "{e}"
    );
    // A delegated responder that does not carry its certificate.
    let mut r = about_ca(&pki, Status::Good);
    r.include_signer = false;
    assert!(matches!(
        check(&pki, &r.sign(&with)).unwrap_err(),
        Error::OcspResponder { .. }
    ));
}

#[test]
fn a_responder_of_another_issuer_cannot_answer_even_with_the_eku() {
    let pki = pki();
    let other = Pki::new(Leaf::default());
    let der = about_ca(&pki, Status::Good).sign(&other.root_delegated_responder(true));
    assert!(matches!(
        check(&pki, &der).unwrap_err(),
        Error::OcspResponder { .. }
    ));
}

#[test]
fn every_one_bit_flip_of_the_signed_response_data_fails() {
    let pki = pki();
    let signer = pki.root_ocsp_signer();
    let r = about_ca(&pki, Status::Good);
    let tbs = r.tbs(&signer);
    let good = r.sign_tbs(&tbs, &signer);
    check(&pki, &good).unwrap();
    // The signed range sits in the response as it was signed.
    let at = good.windows(tbs.len()).position(|w| w == tbs).unwrap();
    let mut failed = 0;
    for bit in 0..tbs.len() * 8 {
        let mut flipped = good.clone();
        flipped[at + bit / 8] ^= 1 << (bit % 8);
        assert!(
            check(&pki, &flipped).is_err(),
            "bit {bit} of tbsResponseData flipped and still accepted"
        );
        failed += 1;
    }
    assert_eq!(failed, tbs.len() * 8);
}

#[test]
fn a_cert_id_for_another_serial_fails() {
    let pki = pki();
    let mut r = about_ca(&pki, Status::Good);
    r.serial = vec![0x10, 0x03];
    let e = check(&pki, &r.sign(&pki.root_ocsp_signer())).unwrap_err();
    assert!(
        matches!(&e, Error::OcspNoMatch { serial, .. } if serial == "1002"),
        "{e}"
    );
    // Another issuer key hash: not about this certificate either.
    let mut r = about_ca(&pki, Status::Good);
    r.issuer_key_hash[0] ^= 1;
    assert!(matches!(
        check(&pki, &r.sign(&pki.root_ocsp_signer())).unwrap_err(),
        Error::OcspNoMatch { .. }
    ));
}

#[test]
fn unsuccessful_response_statuses_fail_naming_the_status() {
    let pki = pki();
    let e = check(&pki, &with_status(3, None)).unwrap_err();
    assert!(e.to_string().contains("tryLater"), "{e}");
    // Truncated anywhere: an error, never a panic.
    let good = about_ca(&pki, Status::Good).sign(&pki.root_ocsp_signer());
    for n in 0..good.len() {
        assert!(check(&pki, &good[..n]).is_err());
    }
}

#[test]
fn request_names_the_certificate_with_a_sha384_cert_id() {
    let pki = pki();
    let req = ocsp::request(&pki.ca_der, &pki.root_der).unwrap();
    // OCSPRequest { tbsRequest { requestList { Request { CertID } } } }.
    assert_eq!(req[0], 0x30);
    let r = about_ca(&pki, Status::Good);
    for part in [&r.issuer_name_hash, &r.issuer_key_hash] {
        assert!(req.windows(48).any(|w| w == part.as_slice()));
    }
    assert!(req.ends_with(&[0x02, 0x02, 0x10, 0x02]));
}

fn verify(pki: &Pki, responses: &[Vec<u8>]) -> Result<rootline_nvidia::Claims, Error> {
    let nonce = [7u8; 32];
    let ev = Evidence::from_parts(&pki.report(nonce, &FWID), &pki.chain()).unwrap();
    let mut roots = TrustRoots::empty();
    roots.add_der(&pki.root_der).unwrap();
    Verifier::new(roots)
        .verify_evidence(
            &ev,
            &Options {
                nonce: Some(&nonce),
                ocsp: responses,
                at: Some(AT),
                ..Default::default()
            },
        )
        .map(|v| v.into_inner())
        .map_err(|e| e.root_cause().clone())
}

#[test]
fn claims_say_which_certificates_ocsp_vouched_for() {
    let pki = pki();
    // None given: as before, and the claims say not checked.
    let c = verify(&pki, &[]).unwrap();
    let d = &c.devices[0];
    assert_eq!(d.revocation.device, Revocation::NotChecked);
    assert!(!d.revocation.checked);
    let per_cert: Vec<Revocation> = d.certificates.iter().map(|c| c.revocation).collect();
    assert_eq!(
        per_cert,
        [
            Revocation::NotApplicable,
            Revocation::NotChecked,
            Revocation::NotApplicable
        ]
    );
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["devices"][0]["revocation"]["device"], "not_checked");
    assert_eq!(
        json["devices"][0]["certificates"][1]["revocation"],
        "not_checked"
    );

    // A good response for the CA.
    let good = about_ca(&pki, Status::Good).sign(&pki.root_ocsp_signer());
    let c = verify(&pki, std::slice::from_ref(&good)).unwrap();
    let d = &c.devices[0];
    assert_eq!(d.certificates[1].revocation, Revocation::Good);
    assert_eq!(d.revocation.device, Revocation::Good);
    assert_eq!(d.revocation.rim, Revocation::NotApplicable);
    assert!(d.revocation.checked);

    // A response about another certificate: ignored, not checked.
    let mut r = about_ca(&pki, Status::Good);
    r.serial = vec![0x7f];
    let c = verify(&pki, &[r.sign(&pki.root_ocsp_signer())]).unwrap();
    assert!(!c.devices[0].revocation.checked);

    // Revoked fails the evidence, even beside a good response.
    let revoked = about_ca(&pki, Status::Revoked(AT - 10, Some(1))).sign(&pki.root_ocsp_signer());
    let e = verify(&pki, &[good, revoked]).unwrap_err();
    assert!(matches!(e, Error::Revoked { .. }), "{e}");

    // A response that does not parse fails, naming which one.
    let e = Verifier::new(TrustRoots::empty())
        .verify_evidence(
            &Evidence::from_parts(&pki.report([7; 32], &FWID), &pki.chain()).unwrap(),
            &Options {
                ocsp: &[b"not ocsp".to_vec()],
                at: Some(AT),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(e.to_string().starts_with("OCSP response 0:"), "{e}");
}

/// A RIM signing chain is checked down to its signing certificate (only
/// the root is left out), a device chain from its first CA.
#[test]
fn rim_chains_check_the_signer_too_device_chains_do_not() {
    let pki = pki();
    let chain = vec![
        pki.leaf_der.clone(),
        pki.ca_der.clone(),
        pki.root_der.clone(),
    ];
    let leaf =
        Response::new(&pki.leaf_der, &pki.ca_der, Status::Good, THIS).sign(&pki.ca_ocsp_signer());
    let ca = about_ca(&pki, Status::Good).sign(&pki.root_ocsp_signer());
    let responses = [
        ocsp::OcspResponse::parse(&leaf).unwrap(),
        ocsp::OcspResponse::parse(&ca).unwrap(),
    ];
    let rim = ocsp::chain_revocation(&chain, ocsp::rim_scope(3), &responses, AT).unwrap();
    assert_eq!(
        rim,
        [
            Revocation::Good,
            Revocation::Good,
            Revocation::NotApplicable
        ]
    );
    let dev = ocsp::chain_revocation(&chain, ocsp::device_scope(3), &responses, AT).unwrap();
    assert_eq!(
        dev,
        [
            Revocation::NotApplicable,
            Revocation::Good,
            Revocation::NotApplicable
        ]
    );
    // Only the CA's response: the RIM signer stays unchecked.
    let rim = ocsp::chain_revocation(&chain, ocsp::rim_scope(3), &responses[1..], AT).unwrap();
    assert_eq!(rim[0], Revocation::NotChecked);
    // A revoked signer fails the RIM chain.
    let revoked = Response::new(
        &pki.leaf_der,
        &pki.ca_der,
        Status::Revoked(AT - 5, None),
        THIS,
    )
    .sign(&pki.ca_ocsp_signer());
    let e = ocsp::chain_revocation(
        &chain,
        ocsp::rim_scope(3),
        &[ocsp::OcspResponse::parse(&revoked).unwrap()],
        AT,
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::Revoked { reason, subject, .. } if reason == "no reason given" && subject.contains("FMC LF")),
        "{e}"
    );
}

#[test]
fn the_real_chain_names_nvidias_responder_on_its_cas_only() {
    let Some(v) = rootline_testkit::vector("nvidia/nvtrust/hopperCertChain.txt") else {
        return;
    };
    let ders = rootline_nvidia::certs::parse_chain(&std::fs::read(v).unwrap()).unwrap();
    let urls: Vec<Vec<String>> = ders.iter().map(|d| ocsp::responder_urls(d)).collect();
    assert!(urls[0].is_empty() && urls[1].is_empty() && urls[4].is_empty());
    assert_eq!(urls[2], ["http://ocsp.ndis.nvidia.com"]);
    assert_eq!(urls[3], ["http://ocsp.ndis.nvidia.com"]);
    // The certificates nvtrust asks about: BROM, ICA, Identity.
    assert_eq!(ocsp::device_scope(ders.len()), 1..4);
    for i in ocsp::device_scope(ders.len()) {
        ocsp::request(&ders[i], &ders[i + 1]).unwrap();
    }
}
