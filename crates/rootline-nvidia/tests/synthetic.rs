//! A synthetic NVIDIA-like PKI (rcgen, ECDSA P-384: root -> CA -> signing
//! certificate with a FWID extension) and SPDM reports signed with it, for
//! what no real GPU will sign: trailing bytes, a FWID that disagrees with
//! the certificate, SPDM 1.2, expired and foreign certificates, the wrong
//! key, and roots as inputs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P384_SHA384, SerialNumber,
};
use rootline_nvidia::certs::TrustRoots;
use rootline_nvidia::{Arch, Error, Evidence, Options, SpdmReport, SpdmVersion, Verifier};
use time::macros::datetime;

const AT: i64 = 1_767_225_600; // 2026-01-01
const FWID: [u8; 48] = [0x5a; 48];

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CommonName, cn);
    d.push(DnType::OrganizationName, "NVIDIA Corporation (synthetic)");
    d
}

fn ca(cn: &str, serial: u8) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = datetime!(2021-01-01 00:00 UTC);
    p.not_after = datetime!(2099-01-01 00:00 UTC);
    p.serial_number = Some(SerialNumber::from(vec![0x10, serial]));
    p
}

/// The RIoT composite-device-ID shape Hopper uses: version, a (dummy)
/// SubjectPublicKeyInfo, FWID { sha384, digest }.
fn riot_fwid(fwid: &[u8; 48]) -> Vec<u8> {
    let mut f = vec![
        0x30, 0x3d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x04, 0x30,
    ];
    f.extend_from_slice(fwid);
    let mut body = vec![0x02, 0x01, 0x01, 0x30, 0x00];
    body.extend_from_slice(&f);
    let mut ext = vec![0x30, body.len() as u8];
    ext.extend_from_slice(&body);
    ext
}

struct Pki {
    root_der: Vec<u8>,
    ca_der: Vec<u8>,
    leaf_der: Vec<u8>,
    leaf: EcdsaKeyPair,
}

struct Leaf {
    fwid: Option<[u8; 48]>,
    not_after: time::OffsetDateTime,
    cn: &'static str,
}

impl Default for Leaf {
    fn default() -> Self {
        Self {
            fwid: Some(FWID),
            not_after: datetime!(2099-01-01 00:00 UTC),
            cn: "GH100 A01 GSP FMC LF",
        }
    }
}

impl Pki {
    fn new(leaf: Leaf) -> Self {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let root_params = ca("Synthetic Device Identity CA", 1);
        let root_der = root_params.self_signed(&root_key).unwrap().der().to_vec();
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let ca_params = ca("GH100 A01 GSP BROM", 2);
        let ca_der = ca_params
            .signed_by(&ca_key, &Issuer::from_params(&root_params, &root_key))
            .unwrap()
            .der()
            .to_vec();
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name = dn(leaf.cn);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.not_before = datetime!(2021-01-01 00:00 UTC);
        p.not_after = leaf.not_after;
        p.serial_number = Some(SerialNumber::from(vec![0x20, 3]));
        if let Some(f) = leaf.fwid {
            p.custom_extensions = vec![CustomExtension::from_oid_content(
                &[2, 23, 133, 5, 4, 1],
                riot_fwid(&f),
            )];
        }
        let leaf_der = p
            .signed_by(&leaf_key, &Issuer::from_params(&ca_params, &ca_key))
            .unwrap()
            .der()
            .to_vec();
        let leaf =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &leaf_key.serialize_der())
                .unwrap();
        Self {
            root_der,
            ca_der,
            leaf_der,
            leaf,
        }
    }

    /// The chain as NVML returns it: DER certificates back to back.
    fn chain(&self) -> Vec<u8> {
        [
            self.leaf_der.clone(),
            self.ca_der.clone(),
            self.root_der.clone(),
        ]
        .concat()
    }

    fn roots(&self) -> TrustRoots {
        let mut r = TrustRoots::empty();
        r.add_der(&self.root_der).unwrap();
        r
    }
}

/// An SPDM GET_MEASUREMENTS request || MEASUREMENTS response, signed with
/// `key` over everything before the signature.
fn report(version: u8, nonce: [u8; 32], opaque: &[(u16, Vec<u8>)], key: &EcdsaKeyPair) -> Vec<u8> {
    let mut b = vec![version, 0xe0, 0x01, 0xff];
    b.extend_from_slice(&nonce);
    b.push(0);
    let mut record = Vec::new();
    for i in 1..=4u8 {
        record.extend_from_slice(&[i, 0x01, 51, 0, 0x01, 48, 0]);
        record.extend_from_slice(&[i; 48]);
    }
    b.extend_from_slice(&[version, 0x60, 0, 0, 4]);
    b.extend_from_slice(&(record.len() as u32).to_le_bytes()[..3]);
    b.extend_from_slice(&record);
    b.extend_from_slice(&[0x77; 32]);
    let mut op = Vec::new();
    for (id, data) in opaque {
        op.extend_from_slice(&id.to_le_bytes());
        op.extend_from_slice(&(data.len() as u16).to_le_bytes());
        op.extend_from_slice(data);
    }
    b.extend_from_slice(&(op.len() as u16).to_le_bytes());
    b.extend_from_slice(&op);
    let sig = key.sign(&SystemRandom::new(), &b).unwrap();
    b.extend_from_slice(sig.as_ref());
    b
}

fn opaque(fwid: &[u8; 48]) -> Vec<(u16, Vec<u8>)> {
    vec![
        (3, b"550.90.07\0".to_vec()),
        (6, vec![0x00, 0x9f, 0x00, 0x96, 0x01, 0x00, 0x00, 0x00]),
        (20, fwid.to_vec()),
    ]
}

fn run(pki: &Pki, report: &[u8], nonce: Option<&[u8]>) -> Result<rootline_nvidia::Claims, Error> {
    let ev = Evidence::from_parts(report, &pki.chain())?;
    Verifier::new(pki.roots())
        .verify_evidence(
            &ev,
            &Options {
                nonce,
                rims: &[],
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
    let roots = pki.roots();
    let verify = |chain: Vec<u8>| {
        let ev = Evidence::from_parts(&r, &chain).unwrap();
        Verifier::new(roots.clone())
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
    let pem: String = [&pki.leaf_der, &pki.ca_der, &pki.root_der]
        .iter()
        .map(|d| {
            use base64::Engine;
            let b = base64::engine::general_purpose::STANDARD.encode(d);
            let lines: Vec<&str> = b
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                lines.join("\n")
            )
        })
        .collect();
    verify(pem.into_bytes()).unwrap();
}
