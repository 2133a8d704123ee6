//! Synthetic OCSP responses (RFC 6960 `BasicOCSPResponse`, ECDSA P-384 /
//! SHA-384, SHA-384 `CertID`), DER-encoded by hand and signed with
//! aws-lc-rs, for tests of revocation checking: good, revoked, unknown,
//! expired, a foreign signer, a delegated responder with or without
//! `id-kp-OCSPSigning`, another serial. A loopback responder for fetch
//! tests is [`crate::server`]'s business; this module only builds bytes.
//!
//! ```
//! use rootline_testkit::nvidia::{Leaf, Pki};
//! use rootline_testkit::ocsp::{Response, Status};
//! let pki = Pki::new(Leaf::default());
//! let signer = pki.root_ocsp_signer();
//! let der = Response::new(&pki.ca_der, &pki.root_der, Status::Good, 1_700_000_000)
//!     .sign(&signer);
//! assert_eq!(der[0], 0x30);
//! ```
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair};
use x509_parser::prelude::{FromDer, X509Certificate};

/// `id-pkix-ocsp-basic`, DER.
const OID_OCSP_BASIC: &[u8] = &[
    0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01,
];
/// AlgorithmIdentifier { ecdsa-with-SHA384 }, DER.
const ECDSA_SHA384: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
];
/// AlgorithmIdentifier { sha384, NULL }, DER.
const SHA384_ALG: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
];

/// One DER TLV (the project's one encoder).
pub use rootline_core::der::tlv;

/// A GeneralizedTime `YYYYMMDDHHMMSSZ` for Unix time `t`.
pub fn generalized_time(t: i64) -> Vec<u8> {
    let d = time::OffsetDateTime::from_unix_timestamp(t).unwrap();
    let s = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    );
    tlv(0x18, s.as_bytes())
}

/// Who signs a response: a certificate (named in the `responderID`) and a
/// key (normally the certificate's).
pub struct Signer {
    /// The certificate the `responderID` names (DER).
    pub cert_der: Vec<u8>,
    key: EcdsaKeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer")
    }
}

impl Signer {
    /// `cert_der` signing with the P-384 key `pkcs8`.
    pub fn new(cert_der: Vec<u8>, pkcs8: &[u8]) -> Self {
        Self {
            cert_der,
            key: EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8).unwrap(),
        }
    }

    /// `cert_der` named as the responder but a fresh, unrelated key signing.
    pub fn with_foreign_key(cert_der: Vec<u8>) -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &SystemRandom::new())
                .unwrap();
        Self::new(cert_der, pkcs8.as_ref())
    }
}

/// A certificate's status in a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `good`.
    Good,
    /// `revoked` at a Unix time, with a CRLReason when `Some`.
    Revoked(i64, Option<u8>),
    /// `unknown`.
    Unknown,
}

/// One response about one certificate; fields public to make variants.
#[derive(Clone, Debug)]
pub struct Response {
    /// `issuerNameHash` (SHA-384 of the issuer's subject).
    pub issuer_name_hash: Vec<u8>,
    /// `issuerKeyHash` (SHA-384 of the issuer's key bits).
    pub issuer_key_hash: Vec<u8>,
    /// `serialNumber` content octets.
    pub serial: Vec<u8>,
    /// `certStatus`.
    pub status: Status,
    /// `thisUpdate`, Unix seconds.
    pub this_update: i64,
    /// `nextUpdate`, Unix seconds.
    pub next_update: Option<i64>,
    /// Include the signer's certificate in `certs` (a delegated responder
    /// must be).
    pub include_signer: bool,
}

impl Response {
    /// A response about `cert` (issued by `issuer`, both DER), current from
    /// `this_update` for a day.
    pub fn new(cert: &[u8], issuer: &[u8], status: Status, this_update: i64) -> Self {
        let (_, c) = X509Certificate::from_der(cert).unwrap();
        let (_, i) = X509Certificate::from_der(issuer).unwrap();
        Self {
            issuer_name_hash: digest::digest(&digest::SHA384, i.subject().as_raw())
                .as_ref()
                .to_vec(),
            issuer_key_hash: digest::digest(
                &digest::SHA384,
                &i.public_key().subject_public_key.data,
            )
            .as_ref()
            .to_vec(),
            serial: c.tbs_certificate.raw_serial().to_vec(),
            status,
            this_update,
            next_update: Some(this_update + 86_400),
            include_signer: true,
        }
    }

    /// The `tbsResponseData` signed by `signer` would carry: what a bit
    /// flip test flips.
    pub fn tbs(&self, signer: &Signer) -> Vec<u8> {
        let (_, sc) = X509Certificate::from_der(&signer.cert_der).unwrap();
        let cert_id = tlv(
            0x30,
            &[
                SHA384_ALG.to_vec(),
                tlv(0x04, &self.issuer_name_hash),
                tlv(0x04, &self.issuer_key_hash),
                tlv(0x02, &self.serial),
            ]
            .concat(),
        );
        let status = match self.status {
            Status::Good => vec![0x80, 0x00],
            Status::Unknown => vec![0x82, 0x00],
            Status::Revoked(t, reason) => {
                let mut info = generalized_time(t);
                if let Some(r) = reason {
                    info.extend(tlv(0xa0, &tlv(0x0a, &[r])));
                }
                tlv(0xa1, &info)
            }
        };
        let mut single = [cert_id, status, generalized_time(self.this_update)].concat();
        if let Some(n) = self.next_update {
            single.extend(tlv(0xa0, &generalized_time(n)));
        }
        let responses = tlv(0x30, &tlv(0x30, &single));
        tlv(
            0x30,
            &[
                tlv(0xa1, sc.subject().as_raw()),
                generalized_time(self.this_update),
                responses,
            ]
            .concat(),
        )
    }

    /// The DER `OCSPResponse` with `tbs` signed by `signer` (use
    /// [`Response::tbs`], or a changed copy of it).
    pub fn sign_tbs(&self, tbs: &[u8], signer: &Signer) -> Vec<u8> {
        let sig = signer.key.sign(&SystemRandom::new(), tbs).unwrap();
        let mut sig_bits = vec![0u8];
        sig_bits.extend_from_slice(sig.as_ref());
        let mut basic = [tbs.to_vec(), ECDSA_SHA384.to_vec(), tlv(0x03, &sig_bits)].concat();
        if self.include_signer {
            basic.extend(tlv(0xa0, &tlv(0x30, &signer.cert_der)));
        }
        with_status(0, Some(&tlv(0x30, &basic)))
    }

    /// The DER `OCSPResponse`, signed by `signer`.
    pub fn sign(&self, signer: &Signer) -> Vec<u8> {
        self.sign_tbs(&self.tbs(signer), signer)
    }
}

/// An `OCSPResponse` with `responseStatus` `status` and, when given, a
/// `BasicOCSPResponse` (DER) as its `responseBytes`.
pub fn with_status(status: u8, basic: Option<&[u8]>) -> Vec<u8> {
    let mut body = tlv(0x0a, &[status]);
    if let Some(b) = basic {
        body.extend(tlv(
            0xa0,
            &tlv(0x30, &[OID_OCSP_BASIC.to_vec(), tlv(0x04, b)].concat()),
        ));
    }
    tlv(0x30, &body)
}
