//! Key files: PEM public keys (SubjectPublicKeyInfo) and PKCS#8 private keys,
//! parsed with x509-parser, for the admin key, passport signers and the
//! token key.

use x509_parser::oid_registry::{OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ED25519};
use x509_parser::prelude::FromDer as _;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::error::{Error, Result};

/// A public key's algorithm and raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// Ed25519: the 32 raw bytes.
    Ed25519(Vec<u8>),
    /// ECDSA P-256: the uncompressed SEC1 point.
    P256(Vec<u8>),
}

/// Decodes the first PEM block of `text`, returning its label and contents.
pub fn pem_block(text: &[u8]) -> Result<(String, Vec<u8>)> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(text)
        .map_err(|e| Error::Config(format!("not a PEM document: {e}")))?;
    Ok((pem.label, pem.contents))
}

/// Parses a PEM `PUBLIC KEY` (Ed25519 or P-256).
pub fn public_key_pem(text: &[u8]) -> Result<PublicKey> {
    let (label, der) = pem_block(text)?;
    if label != "PUBLIC KEY" {
        return Err(Error::Config(format!(
            "expected a PUBLIC KEY PEM block, found {label}"
        )));
    }
    public_key_der(&der)
}

/// Parses a DER SubjectPublicKeyInfo (Ed25519 or P-256).
pub fn public_key_der(der: &[u8]) -> Result<PublicKey> {
    let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
        .map_err(|e| Error::Config(format!("not a SubjectPublicKeyInfo: {e}")))?;
    if !rest.is_empty() {
        return Err(Error::Config("trailing bytes after the public key".into()));
    }
    let raw = spki.subject_public_key.data.to_vec();
    if spki.algorithm.algorithm == OID_SIG_ED25519 && raw.len() == 32 {
        Ok(PublicKey::Ed25519(raw))
    } else if spki.algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY
        && raw.len() == 65
        && raw.first() == Some(&4)
    {
        Ok(PublicKey::P256(raw))
    } else {
        Err(Error::Config(
            "unsupported public key: expected Ed25519 or ECDSA P-256".into(),
        ))
    }
}

/// Parses a PEM `PRIVATE KEY` (PKCS#8) and returns its DER.
pub fn private_key_pem(text: &[u8]) -> Result<Vec<u8>> {
    let (label, der) = pem_block(text)?;
    if label != "PRIVATE KEY" {
        return Err(Error::Config(format!(
            "expected a PKCS#8 PRIVATE KEY PEM block, found {label}"
        )));
    }
    Ok(der)
}

/// PEM-encodes `der` with `label` (64-column lines, RFC 7468).
pub fn to_pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// DER SubjectPublicKeyInfo of an Ed25519 public key (RFC 8410 section 4).
pub fn ed25519_spki(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    out.extend_from_slice(raw);
    out
}

/// DER SubjectPublicKeyInfo of a P-256 public point (RFC 5480 section 2).
pub fn p256_spki(point: &[u8]) -> Vec<u8> {
    let mut out = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    out.extend_from_slice(point);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
    };

    #[test]
    fn spki_round_trips() {
        let ed = Ed25519KeyPair::generate().unwrap();
        let raw = ed.public_key().as_ref().to_vec();
        let pem = to_pem("PUBLIC KEY", &ed25519_spki(&raw));
        assert_eq!(
            public_key_pem(pem.as_bytes()).unwrap(),
            PublicKey::Ed25519(raw)
        );
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        let point = kp.public_key().as_ref().to_vec();
        let pem = to_pem("PUBLIC KEY", &p256_spki(&point));
        assert_eq!(
            public_key_pem(pem.as_bytes()).unwrap(),
            PublicKey::P256(point)
        );
        let priv_pem = to_pem("PRIVATE KEY", doc.as_ref());
        assert_eq!(private_key_pem(priv_pem.as_bytes()).unwrap(), doc.as_ref());
        assert!(public_key_pem(priv_pem.as_bytes()).is_err());
    }
}
