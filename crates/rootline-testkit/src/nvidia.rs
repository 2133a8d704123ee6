//! A synthetic NVIDIA-like device PKI (rcgen, ECDSA P-384: root -> CA ->
//! signing certificate with a FWID extension) and SPDM GET_MEASUREMENTS
//! reports signed with it, for tests that need GPU evidence no real GPU
//! signed: a broker trusting a private root, GPUs bound to a session, and
//! what a GPU never sends (trailing bytes, a FWID that disagrees with the
//! certificate, SPDM 1.2, expired and foreign certificates, the wrong key).
//!
//! A [`Pki`] is a root, a CA and one GPU's signing certificate (described
//! by a [`Leaf`]); [`Pki::root_pem`] is what a verifier is told to trust.
//! [`Pki::evidence`] is a report for a nonce, in guest-components' form:
//!
//! ```
//! use rootline_testkit::nvidia::{FWID, Leaf, Pki};
//! let pki = Pki::new(Leaf::default()); // its certificate carries FWID
//! let nonce = [0x9c; 32]; // e.g. the first 32 bytes of the runtime-data hash
//! let evidence = pki.evidence(nonce, &FWID);
//! assert_eq!(evidence["device_evidence_list"][0]["arch"], "HOPPER");
//! assert!(pki.root_pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! ```
//!
//! For broken variants the parts are public too: the certificates, the
//! signing key, [`report`] (any SPDM version byte, any opaque fields) and
//! [`opaque`]. This module does not depend on `rootline-nvidia` (whose tests
//! use it).
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P384_SHA384, SerialNumber,
};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

/// The FWID a [`Leaf::default`] certificate carries.
pub const FWID: [u8; 48] = [0x5a; 48];

/// SPDM 1.1, the version Hopper and Blackwell GPUs answer with.
pub const SPDM_1_1: u8 = 0x11;

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

/// One PEM `CERTIFICATE` block of `der`.
pub fn pem(der: &[u8]) -> String {
    let b = STANDARD.encode(der);
    let lines: Vec<&str> = b
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// The GPU's signing certificate.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// The FWID its extension carries; `None`: no FWID extension.
    pub fwid: Option<[u8; 48]>,
    /// The end of its validity (it starts in 2021).
    pub not_after: OffsetDateTime,
    /// Its common name, which names the device (`GH100...`: a Hopper GPU,
    /// `GB100...`: a Blackwell GPU, `LS10...`: an NVSwitch).
    pub cn: &'static str,
}

impl Default for Leaf {
    /// A Hopper GPU's certificate with [`FWID`], valid until 2099.
    fn default() -> Self {
        Self {
            fwid: Some(FWID),
            not_after: datetime!(2099-01-01 00:00 UTC),
            cn: "GH100 A01 GSP FMC LF",
        }
    }
}

/// A root, a CA under it and one GPU's signing certificate under that,
/// each with a fresh P-384 key.
pub struct Pki {
    /// The self-signed root (DER).
    pub root_der: Vec<u8>,
    /// The CA the root signed (DER).
    pub ca_der: Vec<u8>,
    /// The GPU's signing certificate, the CA signed (DER).
    pub leaf_der: Vec<u8>,
    /// The GPU's signing key (the key of `leaf_der`).
    pub leaf: EcdsaKeyPair,
    cn: &'static str,
    root_params: CertificateParams,
    root_key: KeyPair,
    ca_key: KeyPair,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").field("cn", &self.cn).finish()
    }
}

impl Pki {
    /// A new PKI whose signing certificate is `leaf`.
    pub fn new(leaf: Leaf) -> Self {
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
        let signer =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &leaf_key.serialize_der())
                .unwrap();
        Self {
            root_der,
            ca_der,
            leaf_der,
            leaf: signer,
            cn: leaf.cn,
            root_params,
            root_key,
            ca_key,
        }
    }

    /// The CA as an OCSP signer for the certificate it issued (the GPU's
    /// signing certificate, which a RIM-style chain checks too).
    pub fn ca_ocsp_signer(&self) -> crate::ocsp::Signer {
        crate::ocsp::Signer::new(self.ca_der.clone(), &self.ca_key.serialize_der())
    }

    /// The root as an OCSP signer for the certificates it issued (the CA,
    /// the one certificate of this chain whose revocation is checked).
    pub fn root_ocsp_signer(&self) -> crate::ocsp::Signer {
        crate::ocsp::Signer::new(self.root_der.clone(), &self.root_key.serialize_der())
    }

    /// A delegated OCSP responder the root certified, with
    /// `id-kp-OCSPSigning` when `ocsp_eku` (without it, RFC 6960 says it
    /// may not answer for the root).
    pub fn root_delegated_responder(&self, ocsp_eku: bool) -> crate::ocsp::Signer {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name = dn("Synthetic OCSP Responder");
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if ocsp_eku {
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::OcspSigning];
        }
        p.not_before = datetime!(2021-01-01 00:00 UTC);
        p.not_after = datetime!(2099-01-01 00:00 UTC);
        p.serial_number = Some(SerialNumber::from(vec![0x30, 4]));
        let der = p
            .signed_by(
                &key,
                &Issuer::from_params(&self.root_params, &self.root_key),
            )
            .unwrap()
            .der()
            .to_vec();
        crate::ocsp::Signer::new(der, &key.serialize_der())
    }

    /// The root as PEM: what a verifier (or a broker's
    /// `nvidia_trust_anchors` file) is told to trust.
    pub fn root_pem(&self) -> String {
        pem(&self.root_der)
    }

    /// The chain as NVML returns it: DER certificates back to back, the
    /// signing certificate first.
    pub fn chain(&self) -> Vec<u8> {
        [
            self.leaf_der.clone(),
            self.ca_der.clone(),
            self.root_der.clone(),
        ]
        .concat()
    }

    /// The chain as PEM, the signing certificate first.
    pub fn chain_pem(&self) -> String {
        [&self.leaf_der, &self.ca_der, &self.root_der]
            .iter()
            .map(|d| pem(d))
            .collect()
    }

    /// An SPDM 1.1 report for `nonce`, signed with the GPU's key, whose
    /// opaque data ([`opaque`]) says `fwid`.
    pub fn report(&self, nonce: [u8; 32], fwid: &[u8; 48]) -> Vec<u8> {
        report(SPDM_1_1, nonce, &opaque(fwid), &self.leaf)
    }

    /// GPU evidence as guest-components' NVIDIA attester sends it (the
    /// value of `nvidia` in the KBS `additional-evidence`):
    /// `{"device_evidence_list": [{"arch", "uuid", "evidence": base64 of
    /// the report, "certificate": base64 of the PEM chain}]}`, the report
    /// ([`Pki::report`]) for `nonce` saying `fwid`. It verifies only when
    /// `fwid` is the certificate's ([`Leaf::fwid`]); another is the
    /// report-disagrees-with-certificate variant.
    pub fn evidence(&self, nonce: [u8; 32], fwid: &[u8; 48]) -> serde_json::Value {
        device_evidence_list(&[(self.report(nonce, fwid), self)])
    }

    /// The architecture guest-components names (from NVML) for this GPU.
    fn arch(&self) -> Option<&'static str> {
        if self.cn.starts_with("GH") {
            Some("HOPPER")
        } else if self.cn.starts_with("GB") {
            Some("BLACKWELL")
        } else {
            None
        }
    }
}

/// guest-components' `{"device_evidence_list": [...]}` for several GPUs:
/// each a report and the PKI whose chain goes with it.
pub fn device_evidence_list(gpus: &[(Vec<u8>, &Pki)]) -> serde_json::Value {
    let list: Vec<serde_json::Value> = gpus
        .iter()
        .enumerate()
        .map(|(i, (report, pki))| {
            let mut item = json!({
                "uuid": format!("GPU-5a5a5a5a-0000-0000-0000-{i:012}"),
                "evidence": STANDARD.encode(report),
                "certificate": STANDARD.encode(pki.chain_pem()),
            });
            if let Some(arch) = pki.arch() {
                item["arch"] = arch.into();
            }
            item
        })
        .collect();
    json!({ "device_evidence_list": list })
}

/// An SPDM GET_MEASUREMENTS request (version `version`, nonce `nonce`,
/// signature requested, all blocks) || MEASUREMENTS response (four SHA-384
/// measurement blocks, responder nonce, `opaque` fields as (id, data)),
/// signed with `key` over everything before the signature.
pub fn report(
    version: u8,
    nonce: [u8; 32],
    opaque: &[(u16, Vec<u8>)],
    key: &EcdsaKeyPair,
) -> Vec<u8> {
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

/// The opaque fields of a Hopper report: driver version 550.90.07, a VBIOS
/// version, and `fwid`.
pub fn opaque(fwid: &[u8; 48]) -> Vec<(u16, Vec<u8>)> {
    vec![
        (3, b"550.90.07\0".to_vec()),
        (6, vec![0x00, 0x9f, 0x00, 0x96, 0x01, 0x00, 0x00, 0x00]),
        (20, fwid.to_vec()),
    ]
}
