//! Intel's DCAP PKI: certificates and CRLs parsed with x509-parser, every
//! signature checked with aws-lc-rs.
//!
//! Intel signs everything in DCAP with ECDSA P-256 and SHA-256, so that is
//! the only algorithm accepted here: a certificate or CRL that names any other
//! signature or key algorithm is rejected rather than routed to a generic
//! verifier. Times are Unix seconds.

use std::collections::HashSet;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ECDSA_WITH_SHA256,
};
use x509_parser::prelude::{FromDer, X509Name};
use x509_parser::revocation_list::CertificateRevocationList;

use crate::Error;

/// Most certificates we accept in one PEM chain (Intel's are three long).
const MAX_CHAIN: usize = 4;

/// A certificate whose fields the verifier needs, owned so it can be cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The DER bytes.
    pub der: Vec<u8>,
    /// Raw DER of the subject name.
    pub subject: Vec<u8>,
    /// Raw DER of the issuer name.
    pub issuer: Vec<u8>,
    /// The subject as text, for messages.
    pub subject_text: String,
    /// Serial number bytes as encoded.
    pub serial: Vec<u8>,
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
    /// The uncompressed P-256 public key point (65 bytes).
    pub public_key: Vec<u8>,
    /// basicConstraints cA.
    pub is_ca: bool,
    tbs: Vec<u8>,
    signature: Vec<u8>,
}

impl CertInfo {
    /// Parses one DER certificate, requiring a P-256 key and an
    /// ecdsa-with-SHA256 signature.
    pub fn from_der(der: &[u8], what: &str) -> Result<Self, Error> {
        let (rest, c) = X509Certificate::from_der(der)
            .map_err(|e| Error::Collateral(format!("{what}: not a DER certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(Error::Collateral(format!(
                "{what}: {} bytes after the certificate",
                rest.len()
            )));
        }
        Self::from_parsed(&c, der, what)
    }

    fn from_parsed(c: &X509Certificate<'_>, der: &[u8], what: &str) -> Result<Self, Error> {
        if c.signature_algorithm.algorithm != OID_SIG_ECDSA_WITH_SHA256 {
            return Err(Error::Untrusted(format!(
                "{what} ({}): signature algorithm {} is not ecdsa-with-SHA256",
                c.subject(),
                c.signature_algorithm.algorithm
            )));
        }
        let spki = c.public_key();
        let curve_ok = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .is_some_and(|o| o == OID_EC_P256);
        if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY || !curve_ok {
            return Err(Error::Untrusted(format!(
                "{what} ({}): public key is not EC P-256",
                c.subject()
            )));
        }
        let is_ca = c
            .basic_constraints()
            .map_err(|e| Error::Collateral(format!("{what}: basicConstraints: {e}")))?
            .is_some_and(|b| b.value.ca);
        Ok(Self {
            der: der.to_vec(),
            subject: c.subject().as_raw().to_vec(),
            issuer: c.issuer().as_raw().to_vec(),
            subject_text: c.subject().to_string(),
            serial: c.raw_serial().to_vec(),
            not_before: c.validity().not_before.timestamp(),
            not_after: c.validity().not_after.timestamp(),
            public_key: spki.subject_public_key.data.to_vec(),
            is_ca,
            tbs: c.tbs_certificate.as_ref().to_vec(),
            signature: c.signature_value.data.to_vec(),
        })
    }

    /// The common name, for matching Intel's fixed CA names.
    pub fn common_name(&self) -> String {
        X509Name::from_der(&self.subject)
            .ok()
            .and_then(|(_, n)| {
                n.iter_common_name()
                    .next()
                    .and_then(|cn| cn.as_str().ok().map(str::to_owned))
            })
            .unwrap_or_default()
    }

    /// Checks that `issuer` signed this certificate and that the names chain.
    pub fn verify_issued_by(&self, issuer: &CertInfo, what: &str) -> Result<(), Error> {
        if self.issuer != issuer.subject {
            return Err(Error::Untrusted(format!(
                "{what}: issued by a different name than {}",
                issuer.subject_text
            )));
        }
        if !issuer.is_ca {
            return Err(Error::Untrusted(format!(
                "{what}: issuer {} is not a CA",
                issuer.subject_text
            )));
        }
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &issuer.public_key)
            .verify(&self.tbs, &self.signature)
            .map_err(|_| {
                Error::BadSignature(format!(
                    "{what} ({}): signature does not verify with {}'s key",
                    self.subject_text, issuer.subject_text
                ))
            })
    }

    /// Checks the validity period at `at`.
    pub fn check_time(&self, at: i64, what: &str) -> Result<(), Error> {
        if at < self.not_before {
            return Err(Error::Stale(format!(
                "{what} ({}) is not valid before {}",
                self.subject_text,
                fmt_time(self.not_before)
            )));
        }
        if at > self.not_after {
            return Err(Error::Stale(format!(
                "{what} ({}) expired at {}",
                self.subject_text,
                fmt_time(self.not_after)
            )));
        }
        Ok(())
    }
}

/// A CRL, parsed and owned.
#[derive(Debug, Clone)]
pub struct CrlInfo {
    /// Raw issuer name.
    pub issuer: Vec<u8>,
    /// Issuer as text.
    pub issuer_text: String,
    /// thisUpdate.
    pub this_update: i64,
    /// nextUpdate (Intel always sets it).
    pub next_update: Option<i64>,
    /// Revoked serial numbers, as encoded.
    pub revoked: HashSet<Vec<u8>>,
    tbs: Vec<u8>,
    signature: Vec<u8>,
}

impl CrlInfo {
    /// Parses a DER CRL (ecdsa-with-SHA256 only).
    pub fn from_der(der: &[u8], what: &str) -> Result<Self, Error> {
        let (rest, c) = CertificateRevocationList::from_der(der)
            .map_err(|e| Error::Collateral(format!("{what}: not a DER CRL: {e}")))?;
        if !rest.is_empty() {
            return Err(Error::Collateral(format!(
                "{what}: {} bytes after the CRL",
                rest.len()
            )));
        }
        if c.signature_algorithm.algorithm != OID_SIG_ECDSA_WITH_SHA256 {
            return Err(Error::Untrusted(format!(
                "{what}: signature algorithm {} is not ecdsa-with-SHA256",
                c.signature_algorithm.algorithm
            )));
        }
        Ok(Self {
            issuer: c.issuer().as_raw().to_vec(),
            issuer_text: c.issuer().to_string(),
            this_update: c.last_update().timestamp(),
            next_update: c.next_update().map(|t| t.timestamp()),
            revoked: c
                .iter_revoked_certificates()
                .map(|r| r.raw_serial().to_vec())
                .collect(),
            tbs: c.tbs_cert_list.as_ref().to_vec(),
            signature: c.signature_value.data.to_vec(),
        })
    }

    /// Checks the signature with `issuer`'s key, the names, and the update
    /// window at `at`.
    pub fn verify(&self, issuer: &CertInfo, at: i64, what: &str) -> Result<(), Error> {
        if self.issuer != issuer.subject {
            return Err(Error::Untrusted(format!(
                "{what}: issued by {}, expected {}",
                self.issuer_text, issuer.subject_text
            )));
        }
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &issuer.public_key)
            .verify(&self.tbs, &self.signature)
            .map_err(|_| {
                Error::BadSignature(format!(
                    "{what}: signature does not verify with {}'s key",
                    issuer.subject_text
                ))
            })?;
        if at < self.this_update {
            return Err(Error::Stale(format!(
                "{what} is not valid before {}",
                fmt_time(self.this_update)
            )));
        }
        match self.next_update {
            Some(n) if at > n => Err(Error::Stale(format!(
                "{what} expired at {} (nextUpdate)",
                fmt_time(n)
            ))),
            _ => Ok(()),
        }
    }

    /// Fails when `cert` is listed.
    pub fn check_not_revoked(&self, cert: &CertInfo, what: &str) -> Result<(), Error> {
        if cert.issuer == self.issuer && self.revoked.contains(&cert.serial) {
            return Err(Error::Revoked(format!(
                "{what} ({}, serial {}) is revoked by the CRL of {}",
                cert.subject_text,
                hex::encode(&cert.serial),
                self.issuer_text
            )));
        }
        Ok(())
    }
}

/// Splits a PEM chain into DER certificates (at most [`MAX_CHAIN`]). Bytes
/// outside PEM blocks (such as the NUL that ends the chain in a quote) are
/// ignored.
pub fn pem_certs(pem: &[u8], what: &str) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = Vec::new();
    for p in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let p = p.map_err(|e| Error::Collateral(format!("{what}: bad PEM: {e}")))?;
        if p.label != "CERTIFICATE" {
            continue;
        }
        if out.len() == MAX_CHAIN {
            return Err(Error::Collateral(format!(
                "{what}: more than {MAX_CHAIN} certificates"
            )));
        }
        out.push(p.contents);
    }
    if out.is_empty() {
        return Err(Error::Collateral(format!("{what}: no PEM certificate")));
    }
    Ok(out)
}

/// Verifies an ECDSA P-256 signature given as raw r||s over `msg` with an
/// uncompressed public point (with or without the 0x04 prefix).
pub fn verify_p256_fixed(point: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let mut key = [0x04u8; 65];
    let key: &[u8] = match point.len() {
        64 => {
            if let Some(dst) = key.get_mut(1..) {
                dst.copy_from_slice(point);
            }
            &key
        }
        _ => point,
    };
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key)
        .verify(msg, sig)
        .is_ok()
}

/// RFC 3339 for messages.
pub fn fmt_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// Parses an RFC 3339 time from Intel's JSON collateral.
pub fn parse_time(s: &str, what: &str) -> Result<i64, Error> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|d| d.unix_timestamp())
        .map_err(|e| Error::Collateral(format!("{what} {s:?} is not an RFC 3339 time: {e}")))
}
