//! Synthetic IBM Z Secure Execution: a host-key PKI shaped like IBM's
//! (root, intermediate, an IBM Z host-key signing key, host-key documents
//! with P-521 keys, CRLs at every level) and an Ultravisor that answers
//! attestation requests with the same crypto as the real one.
//!
//! [`Pki::new`] makes the PKI; [`Pki::issue_host`] more host-key documents;
//! [`Pki::signing_crl`] a CRL of the signing key revoking given serials.
//! [`Ultravisor::answer`] opens an ARCB with its host private key (the key
//! slot for its host key, then the request) and returns the measurement and
//! additional data; [`evidence_json`] wraps them as guest-components' SE
//! attester sends them. This module implements the Ultravisor's side from
//! the byte layout alone and does not depend on `rootline-se` (whose tests
//! use it), so the two sides check each other.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P521, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P384_SHA384,
    PKCS_ECDSA_P521_SHA512, RevokedCertParams, SerialNumber,
};
use time::{OffsetDateTime, macros::datetime};

const IBM: &str = "International Business Machines Corporation";

/// An IBM-style name: C, O, CN, ST, L, OU (the six attributes `pv` wants).
pub fn ibm_dn(locality: &str, ou: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CountryName, "US");
    d.push(DnType::OrganizationName, IBM);
    d.push(DnType::CommonName, IBM);
    d.push(DnType::StateOrProvinceName, "New York");
    d.push(DnType::LocalityName, locality);
    d.push(DnType::OrganizationalUnitName, ou);
    d
}

fn ca(dn: DistinguishedName, serial: u8) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = datetime!(2024-01-01 00:00 UTC);
    p.not_after = datetime!(2099-01-01 00:00 UTC);
    p.serial_number = Some(SerialNumber::from(vec![0x10, serial]));
    p
}

/// A CRL issued by `issuer` revoking `serials`, current from 2024 to 2098.
pub fn crl(params: &CertificateParams, key: &KeyPair, serials: &[Vec<u8>]) -> Vec<u8> {
    let p = CertificateRevocationListParams {
        this_update: datetime!(2024-01-02 00:00 UTC),
        next_update: datetime!(2098-01-01 00:00 UTC),
        crl_number: SerialNumber::from(vec![1]),
        issuing_distribution_point: None,
        revoked_certs: serials
            .iter()
            .map(|s| RevokedCertParams {
                serial_number: SerialNumber::from(s.clone()),
                revocation_time: datetime!(2024-01-02 00:00 UTC),
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    };
    p.signed_by(&Issuer::from_params(params, key))
        .unwrap()
        .der()
        .to_vec()
}

/// A host: its host-key document and the private key only its Ultravisor has.
pub struct Host {
    /// The host-key document, DER.
    pub der: Vec<u8>,
    /// Its serial number.
    pub serial: Vec<u8>,
    /// The host private key (ECDH P-521).
    pub key: PrivateKey,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("serial", &self.serial)
            .finish()
    }
}

impl Host {
    /// The Ultravisor of this host, running an image described by `image`.
    pub fn ultravisor(&self, image: Image) -> Ultravisor<'_> {
        Ultravisor { host: self, image }
    }
}

/// A synthetic IBM Z host-key PKI.
pub struct Pki {
    /// The root, DER (the trust anchor).
    pub root_der: Vec<u8>,
    /// The intermediate, DER.
    pub inter_der: Vec<u8>,
    /// The IBM Z host-key signing key, DER.
    pub signing_der: Vec<u8>,
    /// The root's CRL (empty), DER.
    pub root_crl: Vec<u8>,
    /// The intermediate's CRL (empty), DER.
    pub inter_crl: Vec<u8>,
    root: (CertificateParams, KeyPair),
    inter: (CertificateParams, KeyPair),
    signing: (CertificateParams, KeyPair),
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("se::Pki")
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    /// Root, intermediate and signing key (ECDSA P-384), with empty CRLs
    /// for root and intermediate.
    pub fn new() -> Self {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let root = ca(ibm_dn("Armonk", "Synthetic Z Root CA"), 1);
        let root_der = root.self_signed(&root_key).unwrap().der().to_vec();
        let inter_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let inter = ca(ibm_dn("Armonk", "Synthetic Z Intermediate CA"), 2);
        let inter_der = inter
            .signed_by(&inter_key, &Issuer::from_params(&root, &root_key))
            .unwrap()
            .der()
            .to_vec();
        let signing_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let mut signing = ca(ibm_dn("Poughkeepsie", "IBM Z Host Key Signing Service"), 3);
        signing.is_ca = IsCa::ExplicitNoCa;
        signing.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign];
        let signing_der = signing
            .signed_by(&signing_key, &Issuer::from_params(&inter, &inter_key))
            .unwrap()
            .der()
            .to_vec();
        let root_crl = crl(&root, &root_key, &[]);
        let inter_crl = crl(&inter, &inter_key, &[]);
        Self {
            root_der,
            inter_der,
            signing_der,
            root_crl,
            inter_crl,
            root: (root, root_key),
            inter: (inter, inter_key),
            signing: (signing, signing_key),
        }
    }

    /// A host-key document with a fresh P-521 key and `serial`, valid from
    /// `not_before` to `not_after`, signed by the signing key.
    pub fn issue_host(
        &self,
        serial: u8,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Host {
        let kp = KeyPair::generate_for(&PKCS_ECDSA_P521_SHA512).unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name = ibm_dn("Armonk", "IBM Z Host Key");
        p.key_usages = vec![KeyUsagePurpose::KeyAgreement];
        p.not_before = not_before;
        p.not_after = not_after;
        let serial = vec![0x30, serial];
        p.serial_number = Some(SerialNumber::from(serial.clone()));
        let der = p
            .signed_by(&kp, &Issuer::from_params(&self.signing.0, &self.signing.1))
            .unwrap()
            .der()
            .to_vec();
        let key = PrivateKey::from_private_key_der(&ECDH_P521, &kp.serialize_der()).unwrap();
        Host { der, serial, key }
    }

    /// A host valid 2024-2098.
    pub fn host(&self, serial: u8) -> Host {
        self.issue_host(
            serial,
            datetime!(2024-01-01 00:00 UTC),
            datetime!(2098-01-01 00:00 UTC),
        )
    }

    /// A CRL of the signing key revoking `serials`.
    pub fn signing_crl(&self, serials: &[Vec<u8>]) -> Vec<u8> {
        crl(&self.signing.0, &self.signing.1, serials)
    }

    /// A CRL of the intermediate revoking `serials` (the signing key's is
    /// `[0x10, 3]`).
    pub fn inter_crl_revoking(&self, serials: &[Vec<u8>]) -> Vec<u8> {
        crl(&self.inter.0, &self.inter.1, serials)
    }

    /// The root's key and parameters, to sign variants.
    pub fn root_params(&self) -> (&CertificateParams, &KeyPair) {
        (&self.root.0, &self.root.1)
    }
}

/// What the Ultravisor knows about the running image and guest.
#[derive(Clone, Debug)]
pub struct Image {
    /// The SE header's page, address and tweak list digests and tag.
    pub hdr_tags: [u8; 208],
    /// The guest's configuration unique ID.
    pub cuid: [u8; 16],
    /// PHKH of the host key that unpacked the image.
    pub image_phkh: [u8; 32],
}

impl Default for Image {
    fn default() -> Self {
        let mut hdr_tags = [0u8; 208];
        for (i, b) in hdr_tags.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(7).wrapping_add(1);
        }
        Self {
            hdr_tags,
            cuid: [0xc1; 16],
            image_phkh: [0x1a; 32],
        }
    }
}

/// A simulated Ultravisor: a host's private key and a running image.
#[derive(Debug)]
pub struct Ultravisor<'a> {
    host: &'a Host,
    /// The image it runs.
    pub image: Image,
}

/// The Ultravisor's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// HMAC-SHA512 measurement.
    pub measurement: [u8; 64],
    /// Additional data as the flags asked.
    pub additional: Vec<u8>,
}

fn coords(point: &[u8]) -> [u8; 160] {
    let mut c = [0u8; 160];
    c[14..80].copy_from_slice(&point[1..67]);
    c[94..160].copy_from_slice(&point[67..133]);
    c
}

fn gcm_open(key: &[u8], iv: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, String> {
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
    let mut buf = sealed.to_vec();
    let n = k
        .open_in_place(
            Nonce::try_assume_unique_for_key(iv).unwrap(),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| "GCM tag mismatch".to_owned())?
        .len();
    buf.truncate(n);
    Ok(buf)
}

impl Ultravisor<'_> {
    /// The PHKH of this host's key.
    pub fn phkh(&self) -> [u8; 32] {
        let p = self.host.key.compute_public_key().unwrap();
        let d = digest::digest(&digest::SHA256, &coords(p.as_ref()));
        d.as_ref().try_into().unwrap()
    }

    /// Answers `arcb` with `user_data`, as the Ultravisor's Retrieve
    /// Attestation Measurement call does; `Err` where it would refuse.
    pub fn answer(&self, arcb: &[u8], user_data: &[u8]) -> Result<Answer, String> {
        if arcb.len() < 0xe0 + 80 + 16 || arcb[..8] != [0; 8] {
            return Err("not an attestation request".into());
        }
        let nks = usize::from(arcb[0x27]);
        let sea = u32::from_be_bytes(arcb[0x2c..0x30].try_into().unwrap()) as usize;
        let flags = u64::from_be_bytes(arcb[0x30..0x38].try_into().unwrap());
        let aad_len = 0xe0 + nks * 80;
        if arcb.len() != aad_len + sea + 16 {
            return Err("length".into());
        }
        let cust = &arcb[0x40..0xe0];
        let mut point = vec![4u8];
        point.extend_from_slice(&cust[14..80]);
        point.extend_from_slice(&cust[94..160]);
        let phkh = self.phkh();
        let slot = (0..nks)
            .map(|i| &arcb[0xe0 + i * 80..0xe0 + (i + 1) * 80])
            .find(|s| s[..32] == phkh)
            .ok_or("no key slot for this host key")?;
        let kek = agreement::agree(
            &self.host.key,
            UnparsedPublicKey::new(&ECDH_P521, &point),
            (),
            |z| {
                let mut c = digest::Context::new(&digest::SHA256);
                c.update(z);
                c.update(&[0, 0, 0, 1]);
                Ok(c.finish())
            },
        )
        .map_err(|_| "ECDH".to_owned())?;
        let arpk = gcm_open(kek.as_ref(), &[0; 12], &[], &slot[32..80])?;
        let conf = gcm_open(&arpk, &arcb[0x10..0x1c], &arcb[..aad_len], &arcb[aad_len..])?;
        let (key, nonce) = conf.split_at(64);
        let bit = |n: u32| flags & (1 << (63 - n)) != 0;
        let mut additional = Vec::new();
        if bit(2) {
            additional.extend_from_slice(&self.image.image_phkh);
        }
        if bit(3) {
            additional.extend_from_slice(&phkh);
        }
        let mut items = self.image.hdr_tags.to_vec();
        items.extend_from_slice(&self.image.cuid);
        items.extend_from_slice(&(user_data.len() as u16).to_be_bytes());
        items.extend_from_slice(&[0, 0]);
        items.extend_from_slice(&(additional.len() as u32).to_be_bytes());
        items.extend_from_slice(user_data);
        if bit(1) {
            items.extend_from_slice(nonce);
        }
        items.extend_from_slice(&additional);
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA512, key), &items);
        Ok(Answer {
            measurement: tag.as_ref().try_into().unwrap(),
            additional,
        })
    }
}

/// The evidence JSON guest-components' SE attester sends (base64 fields).
pub fn evidence_json(
    answer: &Answer,
    image: &Image,
    user_data: &[u8],
    encr_measurement_key: &[u8],
    encr_request_nonce: &[u8],
) -> serde_json::Value {
    serde_json::json!({
        "measurement": STANDARD.encode(answer.measurement),
        "additional_data": STANDARD.encode(&answer.additional),
        "user_data": STANDARD.encode(user_data),
        "cuid": STANDARD.encode(image.cuid),
        "encr_measurement_key": STANDARD.encode(encr_measurement_key),
        "encr_request_nonce": STANDARD.encode(encr_request_nonce),
        "image_hdr_tags": STANDARD.encode(image.hdr_tags),
    })
}
