//! Host-key documents: the IBM Z machine's public host key, in a
//! certificate signed by IBM's host-key signing key, which chains through an
//! intermediate CA (DigiCert's code-signing CA for the real one) to a root
//! the caller supplies.
//!
//! An attestation request is encrypted to host keys; a request for a key
//! that is not IBM's would let whoever holds that key read the measurement
//! key and forge every measurement. So [`HkdVerifier`] repeats the checks
//! s390-tools' `pv` crate makes (`verify.rs`, `verify/helper.rs`), with
//! aws-lc-rs for the signatures and x509-parser for the structures:
//!
//! 1. The **IBM signing key** is found among the caller's certificates by
//!    its subject, as `pv` finds it: exactly six attributes, `C=US`,
//!    `ST=New York`, `L=Poughkeepsie` or `L=Armonk`, `O` and `CN`
//!    `International Business Machines Corporation`, and an `OU` ending in
//!    `Key Signing Service`. Exactly one such certificate must be given.
//! 2. Its **chain**: each link's issuer name equals the next certificate's
//!    subject, the issuer is a CA allowed to sign certificates, and the
//!    signature verifies; the chain ends at a certificate that is, byte for
//!    byte, one of the caller's roots, with at least one intermediate
//!    between root and signing key (as `pv` requires). Every certificate is
//!    valid at the verification time, and every certificate but the root
//!    must be covered by a valid CRL of its issuer that does not list it
//!    (OpenSSL's `CRL_CHECK_ALL`, which `pv` sets).
//! 3. Each **host-key document**: signed by the signing key, its issuer
//!    name the signing key's subject (with `pv`'s quirk: Armonk and
//!    Poughkeepsie name the same IBM site, and the attribute order may
//!    differ), its authority key identifier (when present) the signing
//!    key's subject key identifier, valid at the verification time, an EC
//!    P-521 key (the only host key the Ultravisor has), and not revoked: at
//!    least one CRL signed by the signing key, current, must be given, and
//!    none may list the document's serial.
//!
//! Not done, as `pv` does when online: downloading CRLs from the
//! distribution points. CRLs are inputs (this crate does no I/O).

use std::collections::HashSet;

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use rootline_core::Reader;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_NIST_HASH_SHA256, OID_NIST_HASH_SHA384, OID_NIST_HASH_SHA512, OID_PKCS1_RSAENCRYPTION,
    OID_PKCS1_RSASSAPSS, OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA,
    OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ECDSA_WITH_SHA512,
    OID_X509_COMMON_NAME, OID_X509_COUNTRY_NAME, OID_X509_LOCALITY_NAME,
    OID_X509_ORGANIZATION_NAME, OID_X509_ORGANIZATIONAL_UNIT, OID_X509_STATE_OR_PROVINCE_NAME,
};
use x509_parser::prelude::{FromDer, X509Name};
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use crate::error::{Error, Result, malformed, untrusted};
use crate::request::HostKey;

/// The largest PEM or DER file of certificates or CRLs accepted.
pub const MAX_PKI_FILE_LEN: usize = 4 * 1024 * 1024;
/// The most intermediates between the IBM signing key and a root.
pub const MAX_INTERMEDIATES: usize = 3;

const IBM: &str = "International Business Machines Corporation";
const OU_SUFFIX: &str = "Key Signing Service";
const POUGHKEEPSIE: &str = "Poughkeepsie";
const ARMONK: &str = "Armonk";

/// Certificates and CRLs from PEM or DER files, sorted by content.
#[derive(Debug, Clone, Default)]
pub struct Pki {
    certs: Vec<Vec<u8>>,
    crls: Vec<Vec<u8>>,
}

impl Pki {
    /// Nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every certificate and CRL in `bytes` (PEM with any number of
    /// `CERTIFICATE` and `X509 CRL` blocks, or one DER certificate or CRL).
    /// Returns how many were added; a file holding neither is an error.
    pub fn add(&mut self, bytes: &[u8]) -> Result<usize> {
        if bytes.len() > MAX_PKI_FILE_LEN {
            return Err(Error::TooLarge {
                what: "certificate or CRL file",
                len: bytes.len(),
                max: MAX_PKI_FILE_LEN,
            });
        }
        if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            let mut n = 0;
            for pem in x509_parser::pem::Pem::iter_from_buffer(bytes) {
                let pem = pem.map_err(|e| malformed("PEM", e.to_string()))?;
                match pem.label.as_str() {
                    "CERTIFICATE" => {
                        parse_cert(&pem.contents, "certificate")?;
                        self.certs.push(pem.contents);
                        n += 1;
                    }
                    "X509 CRL" => {
                        parse_crl(&pem.contents)?;
                        self.crls.push(pem.contents);
                        n += 1;
                    }
                    _ => {}
                }
            }
            if n == 0 {
                return Err(malformed(
                    "PEM",
                    "no CERTIFICATE or X509 CRL block in the file",
                ));
            }
            return Ok(n);
        }
        if parse_cert(bytes, "certificate").is_ok() {
            self.certs.push(bytes.to_vec());
            return Ok(1);
        }
        match parse_crl(bytes) {
            Ok(_) => {
                self.crls.push(bytes.to_vec());
                Ok(1)
            }
            Err(_) => Err(malformed(
                "certificate or CRL",
                "neither PEM nor a DER certificate or CRL",
            )),
        }
    }

    /// The certificates, DER.
    pub fn certs(&self) -> &[Vec<u8>] {
        &self.certs
    }

    /// The CRLs, DER.
    pub fn crls(&self) -> &[Vec<u8>] {
        &self.crls
    }

    /// Adds a DER certificate as it is.
    pub fn add_cert_der(&mut self, der: &[u8]) -> Result<()> {
        parse_cert(der, "certificate")?;
        self.certs.push(der.to_vec());
        Ok(())
    }

    /// Adds a DER CRL as it is.
    pub fn add_crl_der(&mut self, der: &[u8]) -> Result<()> {
        parse_crl(der)?;
        self.crls.push(der.to_vec());
        Ok(())
    }
}

fn parse_cert<'a>(der: &'a [u8], what: &'static str) -> Result<X509Certificate<'a>> {
    match X509Certificate::from_der(der) {
        Ok(([], c)) => {
            check_envelope(der, c.tbs_certificate.as_ref(), c.signature_value.as_ref())
                .map_err(|e| malformed(what, e))?;
            Ok(c)
        }
        Ok((rest, _)) => Err(malformed(
            what,
            format!("{} trailing bytes after the DER", rest.len()),
        )),
        Err(e) => Err(malformed(what, e.to_string())),
    }
}

fn parse_crl(der: &[u8]) -> Result<CertificateRevocationList<'_>> {
    match CertificateRevocationList::from_der(der) {
        Ok(([], c)) => {
            check_envelope(der, c.tbs_cert_list.as_ref(), c.signature_value.as_ref())
                .map_err(|e| malformed("CRL", e))?;
            Ok(c)
        }
        Ok((rest, _)) => Err(malformed(
            "CRL",
            format!("{} trailing bytes after the DER", rest.len()),
        )),
        Err(e) => Err(malformed("CRL", e.to_string())),
    }
}

/// One DER TLV: its tag, its contents and its whole encoding.
fn tlv<'a>(r: &mut Reader<'a>) -> std::result::Result<(u8, Reader<'a>, &'a [u8]), String> {
    let start = r.peek_rest();
    let tag = r.u8("tag").map_err(|e| e.to_string())?;
    let first = r.u8("length").map_err(|e| e.to_string())?;
    let len = match first {
        n @ 0..=0x7f => usize::from(n),
        0x81..=0x84 => {
            let mut n = 0usize;
            for _ in 0..(first & 0x7f) {
                n = (n << 8) | usize::from(r.u8("length").map_err(|e| e.to_string())?);
            }
            n
        }
        _ => return Err("unsupported DER length".into()),
    };
    let body = r.sub(len, "contents").map_err(|e| e.to_string())?;
    let whole = start
        .get(..start.len() - r.peek_rest().len())
        .unwrap_or_default();
    Ok((tag, body, whole))
}

/// The unsigned envelope of a certificate or CRL, checked byte for byte:
/// `SEQUENCE { tbs, signatureAlgorithm, BIT STRING }` filling the input,
/// the outer signatureAlgorithm identical to the signed one inside the tbs
/// (RFC 5280 4.1.1.2, 5.1.1.2), the BIT STRING without unused bits. The
/// parser is lenient there (it reads an OID under a wrong tag), and the
/// signature does not cover it.
fn check_envelope(der: &[u8], tbs: &[u8], sig: &[u8]) -> std::result::Result<(), String> {
    let mut r = Reader::new(der);
    let (tag, mut body, _) = tlv(&mut r)?;
    r.finish("DER").map_err(|e| e.to_string())?;
    if tag != 0x30 {
        return Err("outer tag is not SEQUENCE".into());
    }
    let (tbs_tag, mut tbs_body, tbs_raw) = tlv(&mut body)?;
    if tbs_tag != 0x30 || tbs_raw != tbs {
        return Err("the signed part is not the DER SEQUENCE that was parsed".into());
    }
    let (alg_tag, _, alg_raw) = tlv(&mut body)?;
    let (sig_tag, sig_body, _) = tlv(&mut body)?;
    body.finish("envelope").map_err(|e| e.to_string())?;
    let sig_body = sig_body.peek_rest();
    if alg_tag != 0x30
        || sig_tag != 0x03
        || sig_body.first() != Some(&0)
        || sig_body.get(1..) != Some(sig)
    {
        return Err("signatureAlgorithm or signatureValue is not DER".into());
    }
    // The signed AlgorithmIdentifier is the tbs's first SEQUENCE (after an
    // optional version and, in certificates, the serial number).
    loop {
        let (t, _, raw) = tlv(&mut tbs_body)?;
        if t == 0x30 {
            if raw != alg_raw {
                return Err("signatureAlgorithm differs from the signed one".into());
            }
            return Ok(());
        }
    }
}

/// Whether `name` is an IBM Z key-signing key's subject, by `pv`'s rules.
pub fn is_ibm_signing_subject(name: &X509Name<'_>) -> bool {
    let attrs: Vec<_> = name.iter_attributes().collect();
    let first = |oid| {
        attrs
            .iter()
            .find(|a| *a.attr_type() == oid)
            .and_then(|a| a.as_str().ok())
    };
    attrs.len() == 6
        && first(OID_X509_COUNTRY_NAME) == Some("US")
        && first(OID_X509_STATE_OR_PROVINCE_NAME) == Some("New York")
        && matches!(first(OID_X509_LOCALITY_NAME), Some(POUGHKEEPSIE | ARMONK))
        && first(OID_X509_ORGANIZATION_NAME) == Some(IBM)
        && first(OID_X509_COMMON_NAME) == Some(IBM)
        && first(OID_X509_ORGANIZATIONAL_UNIT).is_some_and(|ou| ou.ends_with(OU_SUFFIX))
}

/// Names equal as `pv` looks up the signing key's CRLs: byte for byte, or
/// the same attributes in any order with `L=Armonk` read as
/// `L=Poughkeepsie` (IBM's older documents name one, newer the other).
fn names_match(a: &X509Name<'_>, b: &X509Name<'_>) -> bool {
    if a.as_raw() == b.as_raw() {
        return true;
    }
    let norm = |n: &X509Name<'_>| -> Option<Vec<(String, String)>> {
        let mut v = Vec::new();
        for at in n.iter_attributes() {
            let value = at.as_str().ok()?;
            let value = if *at.attr_type() == OID_X509_LOCALITY_NAME && value == ARMONK {
                POUGHKEEPSIE
            } else {
                value
            };
            v.push((at.attr_type().to_id_string(), value.to_owned()));
        }
        v.sort();
        Some(v)
    };
    match (norm(a), norm(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Checks `sig` over `tbs` with `issuer`'s key: RSA PKCS#1 v1.5 or PSS
/// with SHA-256/384/512 (IBM's and DigiCert's keys are RSA), or ECDSA on
/// P-256/P-384/P-521.
pub(crate) fn check_signature(
    issuer: &SubjectPublicKeyInfo<'_>,
    alg: &AlgorithmIdentifier<'_>,
    sig: &[u8],
    tbs: &[u8],
) -> std::result::Result<(), String> {
    let oid = &alg.algorithm;
    let rsa = issuer.algorithm.algorithm == OID_PKCS1_RSAENCRYPTION
        || issuer.algorithm.algorithm == OID_PKCS1_RSASSAPSS;
    let verifier: &'static dyn VerificationAlgorithm = if *oid == OID_PKCS1_SHA256WITHRSA && rsa {
        &signature::RSA_PKCS1_2048_8192_SHA256
    } else if *oid == OID_PKCS1_SHA384WITHRSA && rsa {
        &signature::RSA_PKCS1_2048_8192_SHA384
    } else if *oid == OID_PKCS1_SHA512WITHRSA && rsa {
        &signature::RSA_PKCS1_2048_8192_SHA512
    } else if *oid == OID_PKCS1_RSASSAPSS && rsa {
        let params = alg
            .parameters
            .as_ref()
            .ok_or("RSASSA-PSS without parameters")?;
        let params = x509_parser::signature_algorithm::RsaSsaPssParams::try_from(params)
            .map_err(|e| format!("RSASSA-PSS parameters: {e}"))?;
        let h = params.hash_algorithm_oid();
        if *h == OID_NIST_HASH_SHA256 {
            &signature::RSA_PSS_2048_8192_SHA256
        } else if *h == OID_NIST_HASH_SHA384 {
            &signature::RSA_PSS_2048_8192_SHA384
        } else if *h == OID_NIST_HASH_SHA512 {
            &signature::RSA_PSS_2048_8192_SHA512
        } else {
            return Err(format!("RSASSA-PSS hash {h} is not SHA-2"));
        }
    } else if issuer.algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = issuer
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .ok_or("EC key without a named curve")?;
        let (p256, p384, p521) = (
            curve == OID_EC_P256,
            curve == OID_NIST_EC_P384,
            curve == OID_NIST_EC_P521,
        );
        let (s256, s384, s512) = (
            *oid == OID_SIG_ECDSA_WITH_SHA256,
            *oid == OID_SIG_ECDSA_WITH_SHA384,
            *oid == OID_SIG_ECDSA_WITH_SHA512,
        );
        match (p256, p384, p521, s256, s384, s512) {
            (true, _, _, true, _, _) => &signature::ECDSA_P256_SHA256_ASN1,
            (true, _, _, _, true, _) => &signature::ECDSA_P256_SHA384_ASN1,
            (_, true, _, true, _, _) => &signature::ECDSA_P384_SHA256_ASN1,
            (_, true, _, _, true, _) => &signature::ECDSA_P384_SHA384_ASN1,
            (_, true, _, _, _, true) => &signature::ECDSA_P384_SHA512_ASN1,
            (_, _, true, true, _, _) => &signature::ECDSA_P521_SHA256_ASN1,
            (_, _, true, _, true, _) => &signature::ECDSA_P521_SHA384_ASN1,
            (_, _, true, _, _, true) => &signature::ECDSA_P521_SHA512_ASN1,
            _ => {
                return Err(format!(
                    "ECDSA with {oid} on curve {curve} is not supported"
                ));
            }
        }
    } else {
        return Err(format!(
            "signature algorithm {oid} with a {} key is not supported",
            issuer.algorithm.algorithm
        ));
    };
    UnparsedPublicKey::new(verifier, &issuer.subject_public_key.data)
        .verify(tbs, sig)
        .map_err(|_| "the signature does not verify".to_owned())
}

fn describe(c: &X509Certificate<'_>) -> String {
    c.subject().to_string()
}

fn check_validity(c: &X509Certificate<'_>, at: i64) -> Result<()> {
    let v = c.validity();
    if at < v.not_before.timestamp() {
        return Err(untrusted(
            describe(c),
            format!("not valid before {}", v.not_before),
        ));
    }
    if at >= v.not_after.timestamp() {
        return Err(untrusted(
            describe(c),
            format!("expired at {}", v.not_after),
        ));
    }
    Ok(())
}

fn subject_key_id<'a>(c: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    c.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0),
            _ => None,
        })
}

fn authority_key_id<'a>(
    exts: &'a [x509_parser::extensions::X509Extension<'_>],
) -> Option<&'a [u8]> {
    exts.iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.as_ref().map(|k| k.0),
        _ => None,
    })
}

/// AKID (when the subject has one) must name the issuer's SKID (when the
/// issuer has one), as `pv`'s `AkidExtension::check` requires.
fn akid_matches(akid: Option<&[u8]>, issuer: &X509Certificate<'_>) -> bool {
    match (akid, subject_key_id(issuer)) {
        (Some(a), Some(s)) => a == s,
        _ => true,
    }
}

/// One link of the signing key's chain: `issuer` issued `cert`.
fn check_link(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> Result<()> {
    if cert.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(untrusted(
            describe(cert),
            format!("its issuer is {}, not {}", cert.issuer(), issuer.subject()),
        ));
    }
    match issuer.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {}
        _ => {
            return Err(untrusted(
                describe(issuer),
                "not a CA (basicConstraints), so it may not issue certificates",
            ));
        }
    }
    if let Ok(Some(ku)) = issuer.key_usage() {
        if !ku.value.key_cert_sign() {
            return Err(untrusted(
                describe(issuer),
                "its keyUsage does not allow signing certificates",
            ));
        }
    }
    if !akid_matches(authority_key_id(cert.extensions()), issuer) {
        return Err(untrusted(
            describe(cert),
            "its authority key identifier is not its issuer's subject key identifier",
        ));
    }
    check_signature(
        issuer.public_key(),
        &cert.signature_algorithm,
        cert.signature_value.as_ref(),
        cert.tbs_certificate.as_ref(),
    )
    .map_err(|e| {
        untrusted(
            describe(cert),
            format!("signed by {}: {e}", issuer.subject()),
        )
    })
}

/// A CRL checked against its issuer: the serials it revokes.
#[derive(Debug, Clone)]
struct CheckedCrl {
    issuer: String,
    revoked: HashSet<Vec<u8>>,
}

/// Checks `der` as a CRL of `issuer` at `at`: its issuer name (by
/// [`names_match`]), its window (`thisUpdate <= at < nextUpdate`, a
/// nextUpdate required), its AKID and its signature. `Err` says why it does
/// not apply.
fn check_crl(
    der: &[u8],
    issuer: &X509Certificate<'_>,
    at: i64,
) -> std::result::Result<CheckedCrl, String> {
    let crl = parse_crl(der).map_err(|e| e.to_string())?;
    if !names_match(crl.issuer(), issuer.subject()) {
        return Err(format!("issued by {}", crl.issuer()));
    }
    if at < crl.last_update().timestamp() {
        return Err(format!("not valid before {}", crl.last_update()));
    }
    match crl.next_update() {
        Some(n) if at < n.timestamp() => {}
        Some(n) => return Err(format!("outdated since {n}")),
        None => return Err("no nextUpdate".into()),
    }
    if !akid_matches(authority_key_id(crl.tbs_cert_list.extensions()), issuer) {
        return Err("its authority key identifier is not the issuer's".into());
    }
    check_signature(
        issuer.public_key(),
        &crl.signature_algorithm,
        crl.signature_value.as_ref(),
        crl.tbs_cert_list.as_ref(),
    )?;
    Ok(CheckedCrl {
        issuer: crl.issuer().to_string(),
        revoked: crl
            .iter_revoked_certificates()
            .map(|r| r.raw_serial().to_vec())
            .collect(),
    })
}

/// Every CRL of `issuer` among `crls` that is valid at `at`; at least one
/// must be, and none may list `cert`.
fn check_not_revoked(
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    crls: &[Vec<u8>],
    at: i64,
) -> Result<usize> {
    let mut reasons = Vec::new();
    let mut valid = 0;
    for der in crls {
        match check_crl(der, issuer, at) {
            Ok(c) => {
                if c.revoked.contains(cert.raw_serial()) {
                    return Err(Error::Revoked {
                        what: describe(cert),
                        serial: hex::encode(cert.raw_serial()),
                        issuer: c.issuer,
                    });
                }
                valid += 1;
            }
            Err(r) => reasons.push(r),
        }
    }
    if valid == 0 {
        let why = if reasons.is_empty() {
            "no CRLs were given".to_owned()
        } else {
            format!("the CRLs given do not apply: {}", reasons.join("; "))
        };
        return Err(Error::NoCrl(format!(
            "no valid CRL of {} to check {} against ({why})",
            issuer.subject(),
            describe(cert)
        )));
    }
    Ok(valid)
}

/// Verifies host-key documents against the IBM signing key, itself
/// verified once, at construction, to one of the caller's roots.
#[derive(Debug, Clone)]
pub struct HkdVerifier {
    signing_key: Vec<u8>,
    crls: Vec<Vec<u8>>,
}

impl HkdVerifier {
    /// Finds the IBM signing key among `pki`'s certificates and verifies
    /// its chain to one of `roots` (DER) at `at` (unix seconds), with
    /// `pki`'s CRLs (see the module docs). The CRLs are kept for
    /// [`HkdVerifier::verify`].
    pub fn new(roots: &[Vec<u8>], pki: &Pki, at: i64) -> Result<Self> {
        let parsed: Vec<X509Certificate<'_>> = pki
            .certs
            .iter()
            .map(|d| parse_cert(d, "certificate"))
            .collect::<Result<_>>()?;
        let mut signing = parsed
            .iter()
            .zip(&pki.certs)
            .filter(|(c, _)| is_ibm_signing_subject(c.subject()));
        let (sk, sk_der) = match (signing.next(), signing.next()) {
            (Some(s), None) => s,
            (None, _) => {
                return Err(untrusted(
                    "IBM signing key",
                    "no certificate with an IBM Z host-key signing key's subject was given",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(untrusted(
                    "IBM signing key",
                    "more than one IBM Z host-key signing key certificate was given",
                ));
            }
        };
        let roots_parsed: Vec<X509Certificate<'_>> = roots
            .iter()
            .map(|d| parse_cert(d, "root certificate"))
            .collect::<Result<_>>()?;
        if roots_parsed.is_empty() {
            return Err(untrusted(
                "IBM signing key",
                "no root certificate was given",
            ));
        }
        // Walk up from the signing key through the given intermediates.
        let mut chain: Vec<&X509Certificate<'_>> = vec![sk];
        let mut root = None;
        for _ in 0..=MAX_INTERMEDIATES {
            let Some(cur) = chain.last().copied() else {
                break;
            };
            if let Some(r) = roots_parsed
                .iter()
                .find(|r| r.subject().as_raw() == cur.issuer().as_raw())
            {
                if chain.len() < 2 {
                    return Err(untrusted(
                        describe(sk),
                        "signed by a root directly: an intermediate CA is expected between root and signing key",
                    ));
                }
                check_link(cur, r)?;
                root = Some(r);
                break;
            }
            let next = parsed.iter().find(|c| {
                c.subject().as_raw() == cur.issuer().as_raw()
                    && !chain.iter().any(|k| k.as_ref() == c.as_ref())
            });
            match next {
                Some(n) => {
                    check_link(cur, n)?;
                    chain.push(n);
                }
                None => {
                    return Err(untrusted(
                        describe(cur),
                        format!(
                            "its issuer {} is neither a given intermediate nor a trusted root",
                            cur.issuer()
                        ),
                    ));
                }
            }
        }
        let Some(root) = root else {
            return Err(untrusted(
                describe(sk),
                format!("no trusted root within {MAX_INTERMEDIATES} intermediates"),
            ));
        };
        check_validity(root, at)?;
        for (i, c) in chain.iter().enumerate() {
            check_validity(c, at)?;
            let issuer = chain.get(i + 1).copied().unwrap_or(root);
            check_not_revoked(c, issuer, &pki.crls, at)?;
        }
        Ok(Self {
            signing_key: sk_der.clone(),
            crls: pki.crls.clone(),
        })
    }

    /// The verified IBM signing key's certificate, DER.
    pub fn signing_key_der(&self) -> &[u8] {
        &self.signing_key
    }

    /// Verifies one host-key document (PEM or DER, one certificate) at
    /// `at` and returns its host key.
    pub fn verify(&self, hkd: &[u8], at: i64) -> Result<HostKey> {
        let der = single_cert(hkd)?;
        let c = parse_cert(&der, "host-key document")?;
        let sk = parse_cert(&self.signing_key, "IBM signing key")?;
        let what = format!("host-key document {}", c.subject());
        if !names_match(c.issuer(), sk.subject()) {
            return Err(untrusted(
                what,
                format!(
                    "issued by {}, not the IBM signing key {}",
                    c.issuer(),
                    sk.subject()
                ),
            ));
        }
        if !akid_matches(authority_key_id(c.extensions()), &sk) {
            return Err(untrusted(
                what,
                "its authority key identifier is not the IBM signing key's",
            ));
        }
        check_signature(
            sk.public_key(),
            &c.signature_algorithm,
            c.signature_value.as_ref(),
            c.tbs_certificate.as_ref(),
        )
        .map_err(|e| untrusted(what.clone(), format!("signed by the IBM signing key: {e}")))?;
        check_validity(&c, at)?;
        let key = HostKey::from_spki(c.public_key())?;
        check_not_revoked(&c, &sk, &self.crls, at)?;
        Ok(key)
    }
}

/// The one certificate of a host-key document file (PEM or DER).
fn single_cert(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut p = Pki::new();
    p.add(bytes)?;
    match p.certs.as_slice() {
        [one] if p.crls.is_empty() => Ok(one.clone()),
        _ => Err(malformed(
            "host-key document",
            format!(
                "expected one certificate, found {} certificates and {} CRLs",
                p.certs.len(),
                p.crls.len()
            ),
        )),
    }
}
