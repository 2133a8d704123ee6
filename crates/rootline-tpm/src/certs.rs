//! AK and EK certificate chains, ending at roots the caller supplies.
//!
//! x509-parser parses; aws-lc-rs checks each signature over the TBS bytes
//! received. A chain is built from the leaf by issuer name and signature
//! through the intermediates given (each must be a CA) to one of the roots.
//! Validity periods are judged at a time the caller passes. TCG EK
//! certificates carry critical extensions (subjectAltName with TPM
//! manufacturer attributes) that general TLS validators refuse; we only need
//! the chain, so they are not an obstacle here.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::public_key::PublicKey as X509PublicKey;

use crate::error::Error;
use crate::public::PublicKey;

/// Deepest chain followed.
const MAX_DEPTH: usize = 8;

/// A verified chain: subjects from the leaf to the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertChain {
    /// Subject names, leaf first, root last.
    pub subjects: Vec<String>,
    /// The leaf's public key.
    pub leaf_key: PublicKey,
}

fn parse<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, Error> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| Error::Untrusted {
        what: what.to_owned(),
        reason: format!("not a DER certificate: {e}"),
    })?;
    if !rest.is_empty() {
        return Err(Error::Untrusted {
            what: what.to_owned(),
            reason: format!("{} bytes after the certificate", rest.len()),
        });
    }
    Ok(cert)
}

/// Checks that `der` is exactly one DER certificate.
pub fn parse_certificate(der: &[u8]) -> Result<(), Error> {
    parse(der, "certificate").map(|_| ())
}

/// Reads certificates from PEM (any number) or one DER certificate.
pub fn certificates_from_bytes(bytes: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let mut out = Vec::new();
        for pem in x509_parser::pem::Pem::iter_from_buffer(bytes) {
            let pem = pem.map_err(|e| Error::Encoding {
                what: "PEM certificate",
                reason: e.to_string(),
            })?;
            if pem.label == "CERTIFICATE" {
                out.push(pem.contents);
            }
        }
        return Ok(out);
    }
    Ok(vec![bytes.to_vec()])
}

/// Checks `child`'s signature with `issuer`'s key.
fn signed_by(child: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    let oid = child.signature_algorithm.algorithm.to_id_string();
    let spki = issuer.public_key();
    let ec_curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    let alg: &'static dyn VerificationAlgorithm = match (oid.as_str(), ec_curve.as_deref()) {
        ("1.2.840.113549.1.1.5", _) => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        ("1.2.840.113549.1.1.11", _) => &signature::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.12", _) => &signature::RSA_PKCS1_2048_8192_SHA384,
        ("1.2.840.113549.1.1.13", _) => &signature::RSA_PKCS1_2048_8192_SHA512,
        ("1.2.840.10045.4.3.2", Some("1.2.840.10045.3.1.7")) => &signature::ECDSA_P256_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", Some("1.2.840.10045.3.1.7")) => &signature::ECDSA_P256_SHA384_ASN1,
        ("1.2.840.10045.4.3.2", Some("1.3.132.0.34")) => &signature::ECDSA_P384_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", Some("1.3.132.0.34")) => &signature::ECDSA_P384_SHA384_ASN1,
        ("1.2.840.10045.4.3.4", Some("1.3.132.0.34")) => &signature::ECDSA_P384_SHA512_ASN1,
        ("1.2.840.10045.4.3.3", Some("1.3.132.0.35")) => &signature::ECDSA_P521_SHA384_ASN1,
        ("1.2.840.10045.4.3.4", Some("1.3.132.0.35")) => &signature::ECDSA_P521_SHA512_ASN1,
        _ => return false,
    };
    let key: &[u8] = &spki.subject_public_key.data;
    UnparsedPublicKey::new(alg, key)
        .verify(child.tbs_certificate.as_ref(), &child.signature_value.data)
        .is_ok()
}

fn check_validity(cert: &X509Certificate<'_>, what: &str, at: OffsetDateTime) -> Result<(), Error> {
    let v = cert.validity();
    let (nb, na) = (v.not_before.to_datetime(), v.not_after.to_datetime());
    if at < nb || at > na {
        return Err(Error::Expired {
            what: what.to_owned(),
            not_before: nb.to_string(),
            not_after: na.to_string(),
            at: at.to_string(),
        });
    }
    Ok(())
}

/// Chains `leaf` (DER) through `intermediates` to one of `roots` (DER), with
/// every certificate valid at `at`.
pub fn verify_chain(
    leaf: &[u8],
    intermediates: &[Vec<u8>],
    roots: &[Vec<u8>],
    at: OffsetDateTime,
) -> Result<CertChain, Error> {
    let leaf_cert = parse(leaf, "leaf certificate")?;
    let leaf_name = leaf_cert.subject().to_string();
    let leaf_label = if leaf_name.is_empty() {
        format!("certificate issued by {}", leaf_cert.issuer())
    } else {
        format!("certificate {leaf_name}")
    };
    let untrusted = |reason: String| Error::Untrusted {
        what: leaf_label.clone(),
        reason,
    };
    if roots.is_empty() {
        return Err(untrusted("no root certificate was supplied".into()));
    }
    let roots: Vec<X509Certificate<'_>> = roots
        .iter()
        .map(|r| parse(r, "root certificate"))
        .collect::<Result<_, _>>()?;
    let inters: Vec<X509Certificate<'_>> = intermediates
        .iter()
        .map(|r| parse(r, "intermediate certificate"))
        .collect::<Result<_, _>>()?;
    let leaf_key = PublicKey::from_x509_spki(leaf_cert.public_key())?;

    let mut subjects = vec![leaf_name];
    let mut current = &leaf_cert;
    check_validity(current, &leaf_label, at)?;
    for _ in 0..MAX_DEPTH {
        if roots.iter().any(|r| r.as_raw() == current.as_raw()) {
            return Ok(CertChain { subjects, leaf_key });
        }
        if let Some(root) = roots
            .iter()
            .find(|r| r.subject() == current.issuer() && signed_by(current, r))
        {
            check_validity(root, &format!("root {}", root.subject()), at)?;
            subjects.push(root.subject().to_string());
            return Ok(CertChain { subjects, leaf_key });
        }
        let next = inters.iter().find(|c| {
            c.subject() == current.issuer()
                && c.as_raw() != current.as_raw()
                && signed_by(current, c)
        });
        match next {
            Some(c) => {
                let label = format!("intermediate {}", c.subject());
                if !c.is_ca() {
                    return Err(untrusted(format!("{label} is not a CA")));
                }
                check_validity(c, &label, at)?;
                subjects.push(c.subject().to_string());
                current = c;
            }
            None => {
                return Err(untrusted(format!(
                    "no supplied root or intermediate issued and signed {} (issuer {})",
                    if current.as_raw() == leaf_cert.as_raw() {
                        "it".to_owned()
                    } else {
                        current.subject().to_string()
                    },
                    current.issuer()
                )));
            }
        }
    }
    Err(untrusted(format!(
        "chain longer than {MAX_DEPTH} certificates"
    )))
}

/// Checks that an AK certificate chains to `roots` and certifies `ak`.
pub fn verify_ak_certificate(
    cert: &[u8],
    ak: &PublicKey,
    intermediates: &[Vec<u8>],
    roots: &[Vec<u8>],
    at: OffsetDateTime,
) -> Result<CertChain, Error> {
    let chain = verify_chain(cert, intermediates, roots, at)?;
    if &chain.leaf_key != ak {
        return Err(Error::Mismatch {
            what: "ak certificate",
            reason: "the AK certificate certifies a different key than the attestation key".into(),
        });
    }
    Ok(chain)
}

/// True when a DER certificate names itself as issuer and its own key
/// verifies its signature: a root, as opposed to an intermediate.
pub fn is_self_signed(der: &[u8]) -> bool {
    x509_parser::parse_x509_certificate(der)
        .is_ok_and(|(_, c)| c.subject() == c.issuer() && signed_by(&c, &c))
}

/// True when `spki`'s algorithm is one this crate handles (RSA or EC).
pub fn is_supported_key(cert: &X509Certificate<'_>) -> bool {
    matches!(
        cert.public_key().parsed(),
        Ok(X509PublicKey::RSA(_) | X509PublicKey::EC(_))
    )
}
