//! Rejections, each with its reason: one-bit flips of every signed part,
//! collateral outside its validity at `--at`, a wrong root, a PCK revoked by
//! its CRL, an expired CRL. Both verification paths must reject.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::synth::{Knobs, build};
use common::*;
use rootline_dcap::{CollateralParts, Error, Quote, Verifier};

const AT: &str = "2025-07-04T10:24:15Z";

fn tdx() -> Option<(Vec<u8>, CollateralParts)> {
    Some((
        quote("tdx/dcap-qvl/tdx_quote")?,
        collateral(&["tdx/dcap-qvl/tdx_quote_collateral.json"])?,
    ))
}

fn offset_of(raw: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - raw.as_ptr() as usize
}

fn assert_both_reject(out: &rootline_dcap::Checked) {
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("dcap-qvl also rejects")),
        "dcap-qvl accepted: {:?}",
        out.warnings
    );
}

#[test]
fn one_bit_flips_of_body_signature_and_qe_report_are_rejected() {
    let Some((q, c)) = tdx() else { return };
    let v = Verifier::intel().unwrap();
    let parsed = Quote::parse(&q).unwrap();
    let sig_at = offset_of(&q, &q[parsed.signed_len + 4..]);
    let qe_at = offset_of(&q, parsed.qe_report_raw);
    let qe_sig_at = qe_at + 384;
    let cases: [(&str, usize, &str); 6] = [
        ("header qe_svn", 8, "quote signature"),
        (
            "body mr_td",
            48 + 16 + 48 + 48 + 8 + 8 + 8,
            "quote signature",
        ),
        ("body report_data", parsed.signed_len - 1, "quote signature"),
        ("quote signature", sig_at + 5, "quote signature"),
        ("qe report", qe_at + 100, "QE report signature"),
        ("qe report signature", qe_sig_at + 40, "QE report signature"),
    ];
    for (what, off, reason) in cases {
        let mut bad = q.clone();
        bad[off] ^= 0x01;
        let out = v.check(&bad, &c, at(AT), None);
        assert!(
            matches!(&out.error, Some(Error::BadSignature(m)) if m.contains(reason)),
            "{what}: {:?}",
            out.error
        );
        assert_both_reject(&out);
        // Without collateral the same flips are caught.
        let out = v.check(&bad, &CollateralParts::default(), at(AT), None);
        assert!(
            matches!(&out.error, Some(Error::BadSignature(m)) if m.contains(reason)),
            "{what} without collateral: {:?}",
            out.error
        );
    }
    // The attestation key is bound through the QE report data.
    let mut bad = q.clone();
    bad[parsed.signed_len + 4 + 64 + 3] ^= 0x80;
    let out = v.check(&bad, &c, at(AT), None);
    assert!(
        matches!(&out.error, Some(Error::BadSignature(m)) if m.contains("bind")),
        "{:?}",
        out.error
    );
}

#[test]
fn collateral_outside_its_validity_at_the_given_time_is_rejected() {
    let Some((q, c)) = tdx() else { return };
    let v = Verifier::intel().unwrap();
    for when in ["2025-09-01T00:00:00Z", "2025-06-01T00:00:00Z"] {
        let out = v.check(&q, &c, at(when), None);
        assert!(
            matches!(&out.error, Some(Error::Stale(_))),
            "{when}: {:?}",
            out.error
        );
        assert_both_reject(&out);
        assert!(out.claims_json().contains_key("mr_td"));
    }
    let out = v.check(&q, &c, at("2025-09-01T00:00:00Z"), None);
    assert!(out.error.unwrap().to_string().contains("expired"));
}

#[test]
fn a_tcb_info_for_another_platform_is_a_mismatch() {
    let (Some(q), Some(c)) = (
        quote("tdx/dcap-qvl/tdx_quote"),
        collateral(&["tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.collateral.dcap-qvl.json"]),
    ) else {
        return;
    };
    let out = Verifier::intel()
        .unwrap()
        .check(&q, &c, at("2023-07-01T01:00:00Z"), None);
    // At 2023-07-01 this quote's PCK did not exist yet; either reason is a rejection
    // that both paths share.
    assert!(out.error.is_some());
    assert_both_reject(&out);
}

fn real_collateral() -> Option<dcap_qvl::QuoteCollateralV3> {
    collateral(&["tdx/dcap-qvl/tdx_quote_collateral.json"]).map(|c| c.complete().unwrap())
}

fn knobs() -> Knobs {
    Knobs {
        revoke_pck: false,
        crl_next_update: time::macros::datetime!(2030-01-01 0:00 UTC),
    }
}

#[test]
fn synthetic_pki_verifies_when_nothing_is_revoked() {
    let (Some(q), Some(real)) = (quote("tdx/dcap-qvl/tdx_quote"), real_collateral()) else {
        return;
    };
    let s = build(&q, &real, &knobs());
    let v = Verifier::with_root(&s.root_der).unwrap();
    let out = v.check(&s.quote, &s.parts(), at(AT), None);
    assert!(out.error.is_none(), "{:?} {:?}", out.error, out.warnings);
    assert_eq!(out.verdict.unwrap().tcb_status, "UpToDate");
}

#[test]
fn a_pck_revoked_by_its_crl_is_rejected() {
    let (Some(q), Some(real)) = (quote("tdx/dcap-qvl/tdx_quote"), real_collateral()) else {
        return;
    };
    let s = build(
        &q,
        &real,
        &Knobs {
            revoke_pck: true,
            ..knobs()
        },
    );
    let v = Verifier::with_root(&s.root_der).unwrap();
    let out = v.check(&s.quote, &s.parts(), at(AT), None);
    assert!(
        matches!(&out.error, Some(Error::Revoked(m)) if m.contains("PCK certificate")),
        "{:?}",
        out.error
    );
    assert_both_reject(&out);
}

#[test]
fn an_expired_crl_is_rejected() {
    let (Some(q), Some(real)) = (quote("tdx/dcap-qvl/tdx_quote"), real_collateral()) else {
        return;
    };
    let s = build(
        &q,
        &real,
        &Knobs {
            crl_next_update: time::macros::datetime!(2025-03-01 0:00 UTC),
            ..knobs()
        },
    );
    let v = Verifier::with_root(&s.root_der).unwrap();
    let out = v.check(&s.quote, &s.parts(), at(AT), None);
    assert!(
        matches!(&out.error, Some(Error::Stale(m)) if m.contains("CRL")),
        "{:?}",
        out.error
    );
    assert_both_reject(&out);
}

#[test]
fn a_wrong_root_is_rejected() {
    let (Some(q), Some(real)) = (quote("tdx/dcap-qvl/tdx_quote"), real_collateral()) else {
        return;
    };
    let s = build(&q, &real, &knobs());
    // The synthetic chain against the pinned Intel root.
    let intel = Verifier::intel().unwrap();
    let out = intel.check(&s.quote, &s.parts(), at(AT), None);
    assert!(
        matches!(
            &out.error,
            Some(Error::Untrusted(_) | Error::BadSignature(_))
        ),
        "{:?}",
        out.error
    );
    assert_both_reject(&out);
    let out = intel.check(&s.quote, &CollateralParts::default(), at(AT), None);
    assert!(
        matches!(&out.error, Some(Error::Untrusted(m)) if m.contains("not the pinned root")),
        "{:?}",
        out.error
    );
    // The real quote and collateral against the synthetic root.
    let other = Verifier::with_root(&s.root_der).unwrap();
    let c = collateral(&["tdx/dcap-qvl/tdx_quote_collateral.json"]).unwrap();
    let out = other.check(&q, &c, at(AT), None);
    assert!(
        matches!(
            &out.error,
            Some(Error::Untrusted(_) | Error::BadSignature(_))
        ),
        "{:?}",
        out.error
    );
    assert_both_reject(&out);
}
