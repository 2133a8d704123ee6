//! A synthetic AMD-like PKI, generated here with rcgen (ECDSA P-384 for every
//! key: rcgen cannot sign RSASSA-PSS with SHA-384, so these tests also cover
//! the verifier's ECDSA certificate path), and reports forged with its VCEK.
//! Each broken variant must be rejected for its own reason.

use rootline_snp::{Collateral, Error, Options, TrustAnchors, Verifier};
use rootline_testkit::snp::{Pki, VcekSpec, report, sign};
use time::OffsetDateTime;
use time::macros::datetime;

const AT: OffsetDateTime = datetime!(2026-06-01 00:00 UTC);

/// The synthetic PKI's root as the only trust anchor.
fn anchors(pki: &Pki) -> TrustAnchors {
    let mut t = TrustAnchors::empty();
    t.add_root_der(&pki.ark_der).unwrap();
    t
}

fn coll(ders: &[&[u8]]) -> Collateral {
    let mut c = Collateral::new();
    for (i, d) in ders.iter().enumerate() {
        c.add(&format!("synthetic#{i}"), d).unwrap();
    }
    c
}

fn opts() -> Options {
    Options {
        at: Some(AT),
        nonce: None,
    }
}

#[test]
fn synthetic_milan_and_turin_verify() {
    for spec in [VcekSpec::milan(), VcekSpec::turin()] {
        let pki = Pki::new(spec.product());
        let (vcek, key) = pki.vcek(&spec);
        let rep = report(&spec, &key, [7; 64]);
        let v = Verifier::new(anchors(&pki));
        let c = coll(&[&vcek, &pki.ask_der]);
        let out = v
            .verify_evidence(&rep, &c, &opts())
            .unwrap_or_else(|r| panic!("{}: {}", spec.product(), r.error));
        assert_eq!(out.claims.product.as_deref(), Some(spec.product()));
        assert_eq!(out.claims.reported_tcb.microcode, spec.ucode);
        assert_eq!(out.claims.reported_tcb.fmc, spec.turin.then_some(spec.fmc));
        // The same report is not trusted by the AMD roots.
        let r = Verifier::amd()
            .verify_evidence(&rep, &c, &opts())
            .unwrap_err();
        assert!(matches!(r.error, Error::Untrusted(_)), "{}", r.error);
    }
}

#[test]
fn expired_vcek_is_rejected_even_after_a_cached_success() {
    let mut spec = VcekSpec::milan();
    spec.not_after = datetime!(2026-03-01 00:00 UTC);
    let pki = Pki::new("Milan");
    let (vcek, key) = pki.vcek(&spec);
    let rep = report(&spec, &key, [1; 64]);
    let c = coll(&[&vcek, &pki.ask_der]);
    let v = Verifier::new(anchors(&pki));
    let early = Options {
        at: Some(datetime!(2026-02-01 00:00 UTC)),
        nonce: None,
    };
    assert!(v.verify_evidence(&rep, &c, &early).is_ok());
    // Same verifier, warm cache, later instant: expired.
    let r = v.verify_evidence(&rep, &c, &opts()).unwrap_err();
    assert!(
        matches!(&r.error, Error::Stale { what, .. } if what.contains("VCEK")),
        "{}",
        r.error
    );
}

#[test]
fn ask_revoked_in_the_crl_is_rejected() {
    let spec = VcekSpec::milan();
    let pki = Pki::new("Milan");
    let (vcek, key) = pki.vcek(&spec);
    let rep = report(&spec, &key, [2; 64]);
    let v = Verifier::new(anchors(&pki));
    let next = datetime!(2026-12-01 00:00 UTC);
    // A CRL that revokes something else: verified, and no revocation warning.
    let clean = pki.crl(&[vec![0x55]], next);
    let out = v
        .verify_evidence(&rep, &coll(&[&vcek, &pki.ask_der, &clean]), &opts())
        .unwrap_or_else(|r| panic!("{}", r.error));
    assert!(!out.warnings.iter().any(|w| w.contains("revocation")));
    // A CRL that revokes the ASK (serial 10 02).
    let crl = pki.crl(&[vec![0x10, 0x02]], next);
    let r = v
        .verify_evidence(&rep, &coll(&[&vcek, &pki.ask_der, &crl]), &opts())
        .unwrap_err();
    assert!(
        matches!(&r.error, Error::Revoked(m) if m.contains("SEV-Milan")),
        "{}",
        r.error
    );
    // The same CRL past its nextUpdate is stale.
    let late = Options {
        at: Some(datetime!(2027-01-01 00:00 UTC)),
        nonce: None,
    };
    let r = v
        .verify_evidence(&rep, &coll(&[&vcek, &pki.ask_der, &clean]), &late)
        .unwrap_err();
    assert!(
        matches!(&r.error, Error::Stale { what, .. } if what.contains("CRL")),
        "{}",
        r.error
    );
    // A CRL in the ARK's name signed by another key is a bad signature.
    let other = Pki::new("Milan");
    let forged = other.crl(&[], next);
    let r = v
        .verify_evidence(&rep, &coll(&[&vcek, &pki.ask_der, &forged]), &opts())
        .unwrap_err();
    assert!(matches!(r.error, Error::BadSignature(_)), "{}", r.error);
}

#[test]
fn vcek_of_another_chip_is_rejected() {
    let spec = VcekSpec::milan();
    let pki = Pki::new("Milan");
    let mut other = spec.clone();
    other.hw_id = vec![0x11; 64];
    // The VCEK names another chip; the report (signed by its key) names ours.
    let (vcek, key) = pki.vcek(&other);
    let rep = report(&spec, &key, [3; 64]);
    let r = Verifier::new(anchors(&pki))
        .verify_evidence(&rep, &coll(&[&vcek, &pki.ask_der]), &opts())
        .unwrap_err();
    assert!(
        matches!(
            r.error,
            Error::Mismatch {
                field: "chip_id",
                ..
            }
        ),
        "{}",
        r.error
    );
}

#[test]
fn tcb_extension_mismatch_is_rejected() {
    for (spec, field) in [
        (VcekSpec::milan(), "ucodeSPL"),
        (VcekSpec::turin(), "fmcSPL"),
    ] {
        let pki = Pki::new(spec.product());
        let mut certified = spec.clone();
        if field == "ucodeSPL" {
            certified.ucode = spec.ucode - 1;
        } else {
            certified.fmc = spec.fmc + 1;
        }
        let (vcek, key) = pki.vcek(&certified);
        let rep = report(&spec, &key, [4; 64]);
        let r = Verifier::new(anchors(&pki))
            .verify_evidence(&rep, &coll(&[&vcek, &pki.ask_der]), &opts())
            .unwrap_err();
        assert!(
            matches!(&r.error, Error::Mismatch { field: "reported_tcb", reason } if reason.contains(field)),
            "{}",
            r.error
        );
    }
}

#[test]
fn report_from_an_unpinned_root_is_rejected() {
    let spec = VcekSpec::milan();
    let pinned = Pki::new("Milan");
    let rogue = Pki::new("Milan");
    let (vcek, key) = rogue.vcek(&spec);
    let rep = report(&spec, &key, [5; 64]);
    // The rogue ARK comes along as collateral: it is never trusted.
    let r = Verifier::new(anchors(&pinned))
        .verify_evidence(
            &rep,
            &coll(&[&vcek, &rogue.ask_der, &rogue.ark_der]),
            &opts(),
        )
        .unwrap_err();
    assert!(matches!(r.error, Error::Untrusted(_)), "{}", r.error);
    // With no roots at all, nothing verifies.
    let r = Verifier::new(TrustAnchors::empty())
        .verify_evidence(
            &rep,
            &coll(&[&vcek, &rogue.ask_der, &rogue.ark_der]),
            &opts(),
        )
        .unwrap_err();
    assert!(matches!(r.error, Error::Untrusted(_)), "{}", r.error);
}

#[test]
fn one_bit_flips_of_a_synthetic_report_are_rejected() {
    let spec = VcekSpec::turin();
    let pki = Pki::new("Turin");
    let (vcek, key) = pki.vcek(&spec);
    let rep = report(&spec, &key, [6; 64]);
    let c = coll(&[&vcek, &pki.ask_der]);
    let v = Verifier::new(anchors(&pki));
    assert!(v.verify_evidence(&rep, &c, &opts()).is_ok());
    for byte in (0..0x2A0 + 144).step_by(7) {
        let mut b = rep.clone();
        b[byte] ^= 0x80 >> (byte % 8);
        assert!(
            v.verify_evidence(&b, &c, &opts()).is_err(),
            "byte {byte:#x}"
        );
    }
}

#[test]
fn unsigned_and_reserved_signing_keys_are_rejected() {
    let spec = VcekSpec::milan();
    let pki = Pki::new("Milan");
    let (vcek, key) = pki.vcek(&spec);
    let c = coll(&[&vcek, &pki.ask_der]);
    let v = Verifier::new(anchors(&pki));
    for sk in [7u32, 2] {
        let mut rep = report(&spec, &key, [8; 64]);
        rep[0x48..0x4C].copy_from_slice(&(sk << 2).to_le_bytes());
        sign(&mut rep, &key);
        let r = v.verify_evidence(&rep, &c, &opts()).unwrap_err();
        assert!(
            matches!(
                r.error,
                Error::Unsupported {
                    field: "signing key",
                    ..
                }
            ),
            "{}",
            r.error
        );
    }
}

#[test]
fn amd_anchors_pin_three_arks_and_six_intermediates() {
    let t = TrustAnchors::amd();
    assert_eq!(t.roots().count(), 3);
    assert_eq!(t.intermediates().count(), 6);
}
