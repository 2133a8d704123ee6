//! A synthetic NVIDIA-like PKI (`rootline_testkit::nvidia`: rcgen, ECDSA
//! P-384, root -> CA -> signing certificate with a FWID extension) and SPDM
//! reports signed with it, for
//! what no real GPU will sign: trailing bytes, a FWID that disagrees with
//! the certificate, SPDM 1.2, expired and foreign certificates, the wrong
//! key, and roots as inputs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use rootline_nvidia::certs::TrustRoots;
use rootline_nvidia::{Arch, Error, Evidence, Options, SpdmReport, SpdmVersion, Verifier};
use rootline_testkit::nvidia::{FWID, Leaf, Pki, opaque, report};
use time::macros::datetime;

const AT: i64 = 1_767_225_600; // 2026-01-01

fn roots(pki: &Pki) -> TrustRoots {
    let mut r = TrustRoots::empty();
    r.add_der(&pki.root_der).unwrap();
    r
}

fn run(pki: &Pki, report: &[u8], nonce: Option<&[u8]>) -> Result<rootline_nvidia::Claims, Error> {
    let ev = Evidence::from_parts(report, &pki.chain())?;
    Verifier::new(roots(pki))
        .verify_evidence(
            &ev,
            &Options {
                nonce,
                rims: &[],
                ocsp: &[],
                at: Some(AT),
            },
        )
        .map(|v| v.into_inner())
        .map_err(|e| e.root_cause().clone())
}

#[test]
fn synthetic_report_verifies_only_under_its_own_root() {
    let pki = Pki::new(Leaf::default());
    let nonce = [9u8; 32];
    let r = report(0x11, nonce, &opaque(&FWID), &pki.leaf);
    let c = run(&pki, &r, Some(&nonce)).unwrap();
    let d = &c.devices[0];
    assert_eq!(d.arch, Some(Arch::Hopper));
    assert_eq!(d.fwid.as_deref(), Some(hex::encode(FWID).as_str()));
    assert_eq!(d.measurements.len(), 4);
    assert_eq!(d.certificates.len(), 3);
    // The pinned NVIDIA root does not vouch for it.
    let ev = Evidence::from_parts(&r, &pki.chain()).unwrap();
    let e = Verifier::pinned()
        .verify_evidence(
            &ev,
            &Options {
                at: Some(AT),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e.root_cause(), Error::UntrustedRoot { .. }), "{e}");
    // A shorter nonce is zero-padded, as the attester pads report data.
    let mut padded = [0u8; 32];
    padded[..4].copy_from_slice(&[1, 2, 3, 4]);
    let r2 = report(0x11, padded, &opaque(&FWID), &pki.leaf);
    run(&pki, &r2, Some(&[1, 2, 3, 4])).unwrap();
}

#[test]
fn signature_is_located_by_lengths_not_taken_from_the_tail() {
    let pki = Pki::new(Leaf::default());
    let r = report(0x11, [1; 32], &opaque(&FWID), &pki.leaf);
    let parsed = SpdmReport::parse(&r).unwrap();
    assert_eq!(parsed.signed.len(), r.len() - 96);
    // Extra bytes after the signature: rejected, even though the last 96
    // bytes would then no longer be the signature either way.
    for extra in [1usize, 96, 200] {
        let mut longer = r.clone();
        longer.extend(std::iter::repeat_n(0xab, extra));
        let e = run(&pki, &longer, None).unwrap_err();
        assert!(matches!(e, Error::Spdm(_)), "{e}");
    }
    // An opaque length that claims one byte more moves the signature by
    // one: the report no longer decodes (one byte short), and is never
    // verified against its last 96 bytes.
    let mut moved = r.clone();
    let at = parsed.signed.len() - parsed.opaque_raw.len() - 2;
    moved[at] += 1;
    assert!(SpdmReport::parse(&moved).is_err());
    // Re-signed with the longer opaque data and a trailing byte: decodes,
    // and the signature is the 96 bytes after the opaque data.
    let mut op = opaque(&FWID);
    op.push((0x99, vec![]));
    let r3 = report(0x11, [1; 32], &op, &pki.leaf);
    let p3 = SpdmReport::parse(&r3).unwrap();
    assert_eq!(p3.opaque.fields().len(), 4);
    run(&pki, &r3, None).unwrap();
}

#[test]
fn fwid_in_the_report_must_equal_the_certificate_fwid() {
    let pki = Pki::new(Leaf::default());
    let r = report(0x11, [1; 32], &opaque(&[0x11; 48]), &pki.leaf);
    let e = run(&pki, &r, None).unwrap_err();
    assert!(matches!(e, Error::Mismatch { field: "fwid", .. }), "{e}");
    // A report without a FWID field is compared with nothing (as NVIDIA's
    // verifier skips it), but the certificate must still carry one.
    let r = report(0x11, [1; 32], &opaque(&FWID)[..2], &pki.leaf);
    run(&pki, &r, None).unwrap();
    let no_fwid = Pki::new(Leaf {
        fwid: None,
        ..Leaf::default()
    });
    let r = report(0x11, [1; 32], &opaque(&FWID)[..2], &no_fwid.leaf);
    assert!(matches!(
        run(&no_fwid, &r, None),
        Err(Error::FwidMissing { .. })
    ));
}

#[test]
fn spdm_1_2_decodes_but_does_not_verify_and_other_versions_are_rejected() {
    let pki = Pki::new(Leaf::default());
    let r = report(0x12, [1; 32], &opaque(&FWID), &pki.leaf);
    let p = SpdmReport::parse(&r).unwrap();
    assert_eq!(p.version, SpdmVersion::V1_2);
    let e = run(&pki, &r, None).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Unsupported {
                field: "SPDM version",
                ..
            }
        ),
        "{e}"
    );
    for v in [0x10u8, 0x13, 0x21] {
        let r = report(v, [1; 32], &opaque(&FWID), &pki.leaf);
        assert!(matches!(
            SpdmReport::parse(&r),
            Err(Error::Unsupported {
                field: "SPDM version",
                ..
            })
        ));
    }
}

#[test]
fn wrong_key_expired_leaf_and_unknown_device_are_rejected() {
    let pki = Pki::new(Leaf::default());
    let other = Pki::new(Leaf::default());
    let r = report(0x11, [1; 32], &opaque(&FWID), &other.leaf);
    assert!(matches!(run(&pki, &r, None), Err(Error::BadSignature(_))));

    let expired = Pki::new(Leaf {
        not_after: datetime!(2025-01-01 00:00 UTC),
        ..Leaf::default()
    });
    let r = report(0x11, [1; 32], &opaque(&FWID), &expired.leaf);
    assert!(matches!(
        run(&expired, &r, None),
        Err(Error::Stale { index: 0, .. })
    ));

    let switch = Pki::new(Leaf {
        cn: "LS10 A01 FSP",
        ..Leaf::default()
    });
    let r = report(0x11, [1; 32], &opaque(&FWID), &switch.leaf);
    assert!(matches!(
        run(&switch, &r, None),
        Err(Error::Unsupported {
            field: "device",
            ..
        })
    ));

    let blackwell = Pki::new(Leaf {
        cn: "GB100 A01 GSP FMC LF",
        ..Leaf::default()
    });
    let r = report(0x11, [1; 32], &opaque(&FWID), &blackwell.leaf);
    assert_eq!(
        run(&blackwell, &r, None).unwrap().devices[0].arch,
        Some(Arch::Blackwell)
    );
}

#[test]
fn chain_out_of_order_or_missing_a_link_is_rejected() {
    let pki = Pki::new(Leaf::default());
    let r = report(0x11, [1; 32], &opaque(&FWID), &pki.leaf);
    let trusted = roots(&pki);
    let verify = |chain: Vec<u8>| {
        let ev = Evidence::from_parts(&r, &chain).unwrap();
        Verifier::new(trusted.clone())
            .verify_evidence(
                &ev,
                &Options {
                    at: Some(AT),
                    ..Default::default()
                },
            )
            .map_err(|e| e.root_cause().clone())
    };
    let e = verify([pki.leaf_der.clone(), pki.root_der.clone()].concat()).unwrap_err();
    assert!(matches!(e, Error::Chain { index: 0, .. }), "{e}");
    let e = verify(
        [
            pki.ca_der.clone(),
            pki.leaf_der.clone(),
            pki.root_der.clone(),
        ]
        .concat(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Chain { index: 0, .. }), "{e}");
    let e = verify([pki.leaf_der.clone(), pki.ca_der.clone()].concat()).unwrap_err();
    assert!(matches!(e, Error::UntrustedRoot { .. }), "{e}");
    // The same chain as PEM verifies like the DER one.
    verify(pki.chain_pem().into_bytes()).unwrap();
}

#[test]
fn testkit_evidence_in_guest_components_form_verifies_under_its_pem_root() {
    let pki = Pki::new(Leaf::default());
    let nonce = [0x3c; 32];
    let json = pki.evidence(nonce, &FWID).to_string();
    let mut trusted = TrustRoots::empty();
    assert_eq!(trusted.add_pem(pki.root_pem().as_bytes()).unwrap(), 1);
    let opts = |nonce| Options {
        nonce,
        rims: &[],
        ocsp: &[],
        at: Some(AT),
    };
    let c = Verifier::new(trusted.clone())
        .verify(json.as_bytes(), &opts(Some(&nonce)))
        .unwrap()
        .into_inner();
    assert_eq!(c.devices.len(), 1);
    assert_eq!(c.devices[0].arch, Some(Arch::Hopper));
    assert_eq!(
        c.devices[0].fwid.as_deref(),
        Some(hex::encode(FWID).as_str())
    );
    // Another nonce, a FWID the certificate does not carry, the pinned root:
    // each refused.
    let e = Verifier::new(trusted.clone())
        .verify(json.as_bytes(), &opts(Some(&[0x3d; 32])))
        .unwrap_err();
    assert!(
        matches!(e.root_cause(), Error::Mismatch { field: "nonce", .. }),
        "{e}"
    );
    let other_fwid = pki.evidence(nonce, &[0x11; 48]).to_string();
    let e = Verifier::new(trusted)
        .verify(other_fwid.as_bytes(), &opts(Some(&nonce)))
        .unwrap_err();
    assert!(
        matches!(e.root_cause(), Error::Mismatch { field: "fwid", .. }),
        "{e}"
    );
    let e = Verifier::pinned()
        .verify(json.as_bytes(), &opts(Some(&nonce)))
        .unwrap_err();
    assert!(matches!(e.root_cause(), Error::UntrustedRoot { .. }), "{e}");
}
