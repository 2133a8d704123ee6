//! A synthetic AMD-like PKI, generated here with rcgen (ECDSA P-384 for every
//! key: rcgen cannot sign RSASSA-PSS with SHA-384, so these tests also cover
//! the verifier's ECDSA certificate path), and reports forged with its VCEK.
//! Each broken variant must be rejected for its own reason.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension,
    DistinguishedName, DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P384_SHA384, RevocationReason, RevokedCertParams, SerialNumber,
};
use rootline_snp::{Collateral, Error, Options, TrustAnchors, Verifier};
use time::OffsetDateTime;
use time::macros::datetime;

const AT: OffsetDateTime = datetime!(2026-06-01 00:00 UTC);

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::OrganizationalUnitName, "Engineering");
    d.push(DnType::CountryName, "US");
    d.push(
        DnType::OrganizationName,
        "Advanced Micro Devices (synthetic)",
    );
    d.push(DnType::CommonName, cn);
    d
}

fn ca_params(cn: &str, serial: u8) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = datetime!(2020-01-01 00:00 UTC);
    p.not_after = datetime!(2045-01-01 00:00 UTC);
    p.serial_number = Some(SerialNumber::from(vec![0x10, serial]));
    p
}

fn int(v: u8) -> Vec<u8> {
    if v < 0x80 {
        vec![2, 1, v]
    } else {
        vec![2, 2, 0, v]
    }
}

/// What the VCEK certifies.
#[derive(Clone)]
struct VcekSpec {
    turin: bool,
    bl: u8,
    tee: u8,
    snp: u8,
    ucode: u8,
    fmc: u8,
    hw_id: Vec<u8>,
    not_after: OffsetDateTime,
}

impl VcekSpec {
    fn milan() -> Self {
        Self {
            turin: false,
            bl: 4,
            tee: 0,
            snp: 24,
            ucode: 219,
            fmc: 0,
            hw_id: (0..64).map(|i| i as u8 ^ 0x5a).collect(),
            not_after: datetime!(2032-01-01 00:00 UTC),
        }
    }
    fn turin() -> Self {
        Self {
            turin: true,
            bl: 1,
            tee: 0,
            snp: 2,
            ucode: 71,
            fmc: 3,
            hw_id: vec![0x3b, 0x42, 0x09, 0x2f, 0x69, 0xc6, 0x56, 0xd3],
            not_after: datetime!(2032-01-01 00:00 UTC),
        }
    }
    fn product(&self) -> &'static str {
        if self.turin { "Turin" } else { "Milan" }
    }
    /// REPORTED_TCB in the product's layout.
    fn tcb(&self) -> u64 {
        let b = if self.turin {
            [self.fmc, self.bl, self.tee, self.snp, 0, 0, 0, self.ucode]
        } else {
            [self.bl, self.tee, 0, 0, 0, 0, self.snp, self.ucode]
        };
        u64::from_le_bytes(b)
    }
    fn chip_id(&self) -> [u8; 64] {
        let mut c = [0u8; 64];
        c[..self.hw_id.len()].copy_from_slice(&self.hw_id);
        c
    }
}

struct Pki {
    ark_der: Vec<u8>,
    ask_der: Vec<u8>,
    ark_params: CertificateParams,
    ark_key: KeyPair,
    ask_params: CertificateParams,
    ask_key: KeyPair,
}

impl Pki {
    fn new(product: &str) -> Self {
        let ark_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let ark_params = ca_params(&format!("ARK-{product}"), 1);
        let ark_der = ark_params.self_signed(&ark_key).unwrap().der().to_vec();
        let ask_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let ask_params = ca_params(&format!("SEV-{product}"), 2);
        let ask_der = ask_params
            .signed_by(&ask_key, &Issuer::from_params(&ark_params, &ark_key))
            .unwrap()
            .der()
            .to_vec();
        Self {
            ark_der,
            ask_der,
            ark_params,
            ark_key,
            ask_params,
            ask_key,
        }
    }

    fn anchors(&self) -> TrustAnchors {
        let mut t = TrustAnchors::empty();
        t.add_root_der(&self.ark_der).unwrap();
        t
    }

    /// A VCEK and its private key (PKCS#8, for aws-lc-rs signing).
    fn vcek(&self, spec: &VcekSpec) -> (Vec<u8>, Vec<u8>) {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name = dn("SEV-VCEK");
        p.not_before = datetime!(2025-01-01 00:00 UTC);
        p.not_after = spec.not_after;
        p.serial_number = Some(SerialNumber::from(vec![0x20, 7]));
        let amd = |tail: &[u64]| -> Vec<u64> {
            let mut o = vec![1, 3, 6, 1, 4, 1, 3704, 1];
            o.extend_from_slice(tail);
            o
        };
        let name = if spec.turin { "Turin" } else { "Milan-B0" };
        let mut ia5 = vec![0x16, name.len() as u8];
        ia5.extend(name.as_bytes());
        let mut exts = vec![
            CustomExtension::from_oid_content(&amd(&[1]), int(u8::from(spec.turin))),
            CustomExtension::from_oid_content(&amd(&[2]), ia5),
            CustomExtension::from_oid_content(&amd(&[3, 1]), int(spec.bl)),
            CustomExtension::from_oid_content(&amd(&[3, 2]), int(spec.tee)),
            CustomExtension::from_oid_content(&amd(&[3, 3]), int(spec.snp)),
            CustomExtension::from_oid_content(&amd(&[3, 8]), int(spec.ucode)),
            CustomExtension::from_oid_content(&amd(&[4]), spec.hw_id.clone()),
        ];
        if spec.turin {
            exts.push(CustomExtension::from_oid_content(
                &amd(&[3, 9]),
                int(spec.fmc),
            ));
        }
        p.custom_extensions = exts;
        let der = p
            .signed_by(&key, &Issuer::from_params(&self.ask_params, &self.ask_key))
            .unwrap()
            .der()
            .to_vec();
        (der, key.serialize_der())
    }

    fn crl(&self, revoked: &[Vec<u8>], next_update: OffsetDateTime) -> Vec<u8> {
        let p = CertificateRevocationListParams {
            this_update: datetime!(2026-01-01 00:00 UTC),
            next_update,
            crl_number: SerialNumber::from(vec![1]),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(s.clone()),
                    revocation_time: datetime!(2026-01-01 00:00 UTC),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        p.signed_by(&Issuer::from_params(&self.ark_params, &self.ark_key))
            .unwrap()
            .der()
            .to_vec()
    }
}

/// A version-3 report for `spec`'s chip and TCB, signed with `pkcs8`.
fn report(spec: &VcekSpec, pkcs8: &[u8], report_data: [u8; 64]) -> Vec<u8> {
    let mut r = vec![0u8; 1184];
    r[0..4].copy_from_slice(&3u32.to_le_bytes());
    r[8..16].copy_from_slice(&0x30000u64.to_le_bytes());
    r[0x34..0x38].copy_from_slice(&1u32.to_le_bytes());
    r[0x38..0x40].copy_from_slice(&spec.tcb().to_le_bytes());
    r[0x50..0x90].copy_from_slice(&report_data);
    r[0x90..0xC0].copy_from_slice(&[0xab; 48]);
    r[0x180..0x188].copy_from_slice(&spec.tcb().to_le_bytes());
    let (fam, model) = if spec.turin {
        (0x1A, 0x02)
    } else {
        (0x19, 0x01)
    };
    r[0x188] = fam;
    r[0x189] = model;
    r[0x18A] = 1;
    r[0x1A0..0x1E0].copy_from_slice(&spec.chip_id());
    r[0x1E0..0x1E8].copy_from_slice(&spec.tcb().to_le_bytes());
    r[0x1F0..0x1F8].copy_from_slice(&spec.tcb().to_le_bytes());
    sign(&mut r, pkcs8);
    r
}

/// Signs `r[0..0x2A0]` and stores r and s little-endian in 72-byte fields.
fn sign(r: &mut [u8], pkcs8: &[u8]) {
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8).unwrap();
    let sig = key.sign(&SystemRandom::new(), &r[..0x2A0]).unwrap();
    let sig = sig.as_ref();
    for (i, b) in sig[..48].iter().rev().enumerate() {
        r[0x2A0 + i] = *b;
    }
    for (i, b) in sig[48..].iter().rev().enumerate() {
        r[0x2A0 + 72 + i] = *b;
    }
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
        let v = Verifier::new(pki.anchors());
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
    let v = Verifier::new(pki.anchors());
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
    let v = Verifier::new(pki.anchors());
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
    let r = Verifier::new(pki.anchors())
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
        let r = Verifier::new(pki.anchors())
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
    let r = Verifier::new(pinned.anchors())
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
    let v = Verifier::new(pki.anchors());
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
    let v = Verifier::new(pki.anchors());
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
