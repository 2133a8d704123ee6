//! A synthetic AMD-like SEV-SNP PKI (ARK, ASK, VCEKs and CRLs generated
//! with rcgen, ECDSA P-384 for every key: rcgen cannot sign RSASSA-PSS with
//! SHA-384) and reports forged with its VCEKs, for tests that need evidence
//! no real chip signed: broken variants, a broker with a private trust
//! anchor fetching from a fake KDS.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension,
    DistinguishedName, DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P384_SHA384, RevocationReason, RevokedCertParams, SerialNumber,
};
use time::OffsetDateTime;
use time::macros::datetime;

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

/// What a VCEK certifies: the product, the TCB levels and the chip.
#[derive(Clone)]
pub struct VcekSpec {
    /// Turin (else Milan).
    pub turin: bool,
    /// Boot loader SPL.
    pub bl: u8,
    /// TEE SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Microcode SPL.
    pub ucode: u8,
    /// FMC SPL (Turin).
    pub fmc: u8,
    /// The chip ID (64 bytes; 8 on Turin).
    pub hw_id: Vec<u8>,
    /// The VCEK's end of validity.
    pub not_after: OffsetDateTime,
}

impl VcekSpec {
    /// A Milan chip at its TCB of a real report.
    pub fn milan() -> Self {
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
    /// A Turin chip (8-byte chip ID, FMC SPL).
    pub fn turin() -> Self {
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
    /// The KDS product name.
    pub fn product(&self) -> &'static str {
        if self.turin { "Turin" } else { "Milan" }
    }
    /// REPORTED_TCB in the product's layout.
    pub fn tcb(&self) -> u64 {
        let b = if self.turin {
            [self.fmc, self.bl, self.tee, self.snp, 0, 0, 0, self.ucode]
        } else {
            [self.bl, self.tee, 0, 0, 0, 0, self.snp, self.ucode]
        };
        u64::from_le_bytes(b)
    }
    /// CHIP_ID as the report holds it (zero-padded to 64 bytes).
    pub fn chip_id(&self) -> [u8; 64] {
        let mut c = [0u8; 64];
        c[..self.hw_id.len()].copy_from_slice(&self.hw_id);
        c
    }
}

/// An ARK and an ASK, and the keys that sign VCEKs and CRLs under them.
pub struct Pki {
    /// The ARK (self-signed root).
    pub ark_der: Vec<u8>,
    /// The ASK (intermediate).
    pub ask_der: Vec<u8>,
    /// The ARK's parameters (to sign under it).
    pub ark_params: CertificateParams,
    /// The ARK's key.
    pub ark_key: KeyPair,
    /// The ASK's parameters.
    pub ask_params: CertificateParams,
    /// The ASK's key.
    pub ask_key: KeyPair,
}

impl Pki {
    /// A fresh ARK and ASK for `product`.
    pub fn new(product: &str) -> Self {
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

    /// A VCEK and its private key (PKCS#8, for aws-lc-rs signing).
    pub fn vcek(&self, spec: &VcekSpec) -> (Vec<u8>, Vec<u8>) {
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

    /// KDS's `cert_chain` answer: the ASK then the ARK, PEM.
    pub fn cert_chain_pem(&self) -> Vec<u8> {
        let mut out = String::new();
        for der in [&self.ask_der, &self.ark_der] {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            out.push_str("-----BEGIN CERTIFICATE-----\n");
            for line in b64.as_bytes().chunks(64) {
                out.push_str(&String::from_utf8_lossy(line));
                out.push('\n');
            }
            out.push_str("-----END CERTIFICATE-----\n");
        }
        out.into_bytes()
    }

    /// A CRL signed by the ARK, revoking `revoked` serials.
    pub fn crl(&self, revoked: &[Vec<u8>], next_update: OffsetDateTime) -> Vec<u8> {
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
pub fn report(spec: &VcekSpec, pkcs8: &[u8], report_data: [u8; 64]) -> Vec<u8> {
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
pub fn sign(r: &mut [u8], pkcs8: &[u8]) {
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
