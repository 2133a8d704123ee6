//! The GPU's device certificate chain, its trust roots, and the FWID of the
//! signing certificate.
//!
//! An NVIDIA GPU sends its chain leaf first, root last (Hopper: `GH100 A01
//! GSP FMC LF` <- `GH100 A01 GSP BROM` <- `NVIDIA GH100 Provisioner ICA 1`
//! <- `NVIDIA GH100 Identity` <- `NVIDIA Device Identity CA`; Blackwell the
//! same with GB100). [`verify_chain`] accepts it only when, in this order:
//!
//! 1. it has at least a signing certificate and a root, and at most
//!    [`MAX_CHAIN_CERTS`];
//! 2. its last certificate is, byte for byte, one of the caller's
//!    [`TrustRoots`] (a self-signed certificate in the evidence is never
//!    trusted by being there);
//! 3. each certificate's unsigned envelope is exactly DER (the parser is
//!    lenient there), names the next as issuer and carries its ECDSA P-384
//!    / SHA-384 signature (the only algorithm in NVIDIA's hierarchy), and
//!    each issuer is a CA (basicConstraints) allowed to sign certificates
//!    (keyUsage, when present);
//! 4. every certificate is valid at the verification time;
//! 5. the signing certificate carries the TCG DICE FWID extension
//!    (`2.23.133.5.4.1` on Hopper, `2.23.133.5.4.1.1` on Blackwell; NVIDIA's
//!    verifier looks for both), with a SHA-384 FWID ([`Error::FwidMissing`]
//!    otherwise, as in trustee);
//! 6. the signing key is P-384 and, when keyUsage is present, may sign.
//!
//! The FWID extension comes in two shapes. Hopper uses the older RIoT
//! "composite device identifier": `SEQUENCE { version INTEGER, deviceId
//! SubjectPublicKeyInfo, fwid FWID }`. Blackwell uses TCG DICE `TcbInfo`
//! (TCG DICE Attestation Architecture 1.1 §6.1.1), whose `[6] fwids` list
//! holds the FWID first. NVIDIA's verifier takes the last 48 bytes of the
//! extension on Hopper and `fwids[0]` on Blackwell
//! (`cc_admin_utils.py`, `extract_fwid`); both shapes are decoded here, the
//! FWID's hash algorithm checked to be SHA-384.
//!
//! RIM signing chains (`HCC RIM L4 Signer` <- `NVIDIA Reference Value L3
//! GH100 001` <- `NVIDIA Reference Value GH100 CA` <- `NVIDIA CoRIM signing
//! Root CA`) go through steps 1 to 4 and 6 the same way
//! ([`verify_rim_chain`]), against their own roots: a RIM root never
//! anchors a device, nor a device root a RIM.
//!
//! Revocation is checked from OCSP responses given as collateral, after the
//! chain verified: see [`crate::ocsp`].

use aws_lc_rs::digest;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_ASN1, UnparsedPublicKey};
use rootline_core::{CodecError, Reader};
use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{
    OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_SIG_ECDSA_WITH_SHA384,
};
use x509_parser::prelude::{FromDer, X509Name};
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::error::{Error, Result};

/// The pinned NVIDIA Device Identity CA, the root of every NVIDIA GPU's
/// device certificate chain (`CN=NVIDIA Device Identity CA, O=NVIDIA`,
/// ECDSA P-384, valid 2021-11-05 to 9999-12-31).
///
/// Source: NVIDIA's public nvtrust repository, commit
/// 028173093d43dbf37364bdc39ad7e696bccbce2e,
/// `guest_tools/gpu_verifiers/local_gpu_verifier/src/verifier/certs/verifier_device_root.pem`
/// (the root NVIDIA's own local GPU verifier pins; byte-identical to
/// trustee's `deps/verifier/src/nvidia/nvidia_device_root.pem` and to the
/// last certificate of every chain in the shared vectors).
/// SHA-256 of the DER: [`NVIDIA_DEVICE_IDENTITY_CA_SHA256`].
pub const NVIDIA_DEVICE_IDENTITY_CA_PEM: &str = include_str!("nvidia_device_identity_ca.pem");

/// SHA-256 of the DER of [`NVIDIA_DEVICE_IDENTITY_CA_PEM`].
pub const NVIDIA_DEVICE_IDENTITY_CA_SHA256: &str =
    "102bf659d5419614c9d8e6aecebc80454eb26b1df6a769ac720b9a690b167b48";

/// The pinned NVIDIA RIM root, the root of the chain in every NVIDIA
/// reference integrity manifest's XML signature (`CN=NVIDIA CoRIM signing
/// Root CA, O=NVIDIA, C=US`, ECDSA P-384, valid 2023-03-16 to 2053-03-08).
///
/// Source: NVIDIA's public nvtrust repository, commit
/// 028173093d43dbf37364bdc39ad7e696bccbce2e,
/// `guest_tools/gpu_verifiers/local_gpu_verifier/src/verifier/certs/verifier_RIM_root.pem`
/// (the RIM root NVIDIA's own local GPU verifier pins; byte-identical in
/// nvtrust commit 0ab869a5cd454076801ab63baecae96f49302261, and to the last
/// certificate of both RIMs in the shared vectors).
/// SHA-256 of the DER: [`NVIDIA_RIM_ROOT_SHA256`].
pub const NVIDIA_RIM_ROOT_PEM: &str = include_str!("nvidia_rim_root.pem");

/// SHA-256 of the DER of [`NVIDIA_RIM_ROOT_PEM`].
pub const NVIDIA_RIM_ROOT_SHA256: &str =
    "12977b5115acb0381179279fffeb5a8c4d264971ebb32298023a465fa41df5d1";

/// The most certificates accepted in a device chain (NVIDIA's are 5).
pub const MAX_CHAIN_CERTS: usize = 8;
/// The largest certificate chain accepted, PEM or DER (NVIDIA's are ~5 KiB).
pub const MAX_CHAIN_LEN: usize = 64 * 1024;

/// `2.23.133.5.4.1` (tcg-dice-TcbInfo; RIoT's composite device ID before
/// it; Hopper), DER content octets.
const OID_TCG_DICE_FWID: &[u8] = &[0x67, 0x81, 0x05, 0x05, 0x04, 0x01];
/// `2.23.133.5.4.1.1`, the arc NVIDIA's Blackwell certificates put their
/// DICE TcbInfo under (NVIDIA's verifier accepts both), DER content octets.
const OID_TCG_DICE_FWID_1: &[u8] = &[0x67, 0x81, 0x05, 0x05, 0x04, 0x01, 0x01];
/// `2.16.840.1.101.3.4.2.2` (SHA-384), DER content octets.
const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];

/// The roots a device chain must end at. The NVIDIA root is built in but
/// only used when asked for by name ([`TrustRoots::nvidia`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustRoots {
    roots: Vec<Vec<u8>>,
}

impl TrustRoots {
    /// No roots: every chain is rejected as untrusted.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The pinned NVIDIA Device Identity CA ([`NVIDIA_DEVICE_IDENTITY_CA_PEM`]).
    pub fn nvidia() -> Self {
        let mut r = Self::empty();
        // The constant is fixed at build time and a unit test decodes it; a
        // failure here would leave no root, which rejects everything.
        let _ = r.add_pem(NVIDIA_DEVICE_IDENTITY_CA_PEM.as_bytes());
        r
    }

    /// The pinned NVIDIA RIM root ([`NVIDIA_RIM_ROOT_PEM`]), for RIM
    /// signatures only.
    pub fn nvidia_rim() -> Self {
        let mut r = Self::empty();
        // As for `nvidia`: fixed at build time, decoded by a unit test.
        let _ = r.add_pem(NVIDIA_RIM_ROOT_PEM.as_bytes());
        r
    }

    /// Adds every certificate of a PEM file; returns how many.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<usize> {
        let ders = parse_chain(pem)?;
        let n = ders.len();
        self.roots.extend(ders);
        Ok(n)
    }

    /// Adds one DER certificate.
    pub fn add_der(&mut self, der: &[u8]) -> Result<()> {
        parse_cert(der, 0)?;
        self.roots.push(der.to_vec());
        Ok(())
    }

    /// The roots' DER encodings.
    pub fn roots(&self) -> impl Iterator<Item = &[u8]> {
        self.roots.iter().map(Vec::as_slice)
    }

    /// Whether `der` is one of the roots, byte for byte.
    pub fn contains(&self, der: &[u8]) -> bool {
        self.roots.iter().any(|r| r.as_slice() == der)
    }
}

/// What a certificate of the chain says about itself, for claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// Subject, RFC 4514 (most significant RDN last, as OpenSSL's and
    /// pyca's `rfc4514_string` print it).
    pub subject: String,
    /// Issuer, RFC 4514.
    pub issuer: String,
    /// Serial number, lower-case hex of its DER content octets.
    pub serial: String,
    /// notBefore, seconds since the Unix epoch.
    pub not_before: i64,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: i64,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
    /// Its revocation status from OCSP (`good`, `not_checked`,
    /// `not_applicable`; see [`crate::ocsp`]): `not_checked` until a
    /// verification with OCSP responses says otherwise.
    pub revocation: crate::ocsp::Revocation,
}

/// A device chain that [`verify_chain`] accepted, or that [`inspect_chain`]
/// read without checking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainInfo {
    /// Each certificate, signing certificate first.
    pub certs: Vec<CertInfo>,
    /// The signing certificate's FWID (48 bytes); `None` only from
    /// [`inspect_chain`].
    pub fwid: Option<Vec<u8>>,
    /// The signing certificate's public key (uncompressed SEC1 point).
    pub leaf_key: Vec<u8>,
    /// The signing certificate's common name (`GH100 A01 GSP FMC LF`).
    pub leaf_cn: String,
}

/// Splits a chain into DER certificates: PEM with one or more `CERTIFICATE`
/// blocks, or DER certificates back to back (as NVML returns them).
pub fn parse_chain(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    if bytes.len() > MAX_CHAIN_LEN {
        return Err(Error::TooLarge {
            what: "certificate chain",
            len: bytes.len(),
            max: MAX_CHAIN_LEN,
        });
    }
    let mut out = Vec::new();
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        for (i, pem) in x509_parser::pem::Pem::iter_from_buffer(bytes).enumerate() {
            let pem = pem.map_err(|e| Error::Certificate {
                index: i,
                reason: format!("PEM: {e}"),
            })?;
            if pem.label != "CERTIFICATE" {
                return Err(Error::Certificate {
                    index: i,
                    reason: format!("PEM block {:?}, not CERTIFICATE", pem.label),
                });
            }
            if out.len() == MAX_CHAIN_CERTS {
                return Err(Error::ChainTooLong {
                    len: out.len() + 1,
                    max: MAX_CHAIN_CERTS,
                });
            }
            parse_cert(&pem.contents, i)?;
            out.push(pem.contents);
        }
    } else {
        let mut rest = bytes;
        while !rest.is_empty() {
            if out.len() == MAX_CHAIN_CERTS {
                return Err(Error::ChainTooLong {
                    len: out.len() + 1,
                    max: MAX_CHAIN_CERTS,
                });
            }
            let (tail, _) = X509Certificate::from_der(rest).map_err(|e| Error::Certificate {
                index: out.len(),
                reason: e.to_string(),
            })?;
            let used = rest.len() - tail.len();
            let (der, tail) = rest.split_at(used);
            out.push(der.to_vec());
            rest = tail;
        }
    }
    if out.is_empty() {
        return Err(Error::Evidence {
            field: "certificate",
            reason: "no certificates".into(),
        });
    }
    Ok(out)
}

fn parse_cert(der: &[u8], index: usize) -> Result<X509Certificate<'_>> {
    match X509Certificate::from_der(der) {
        Ok(([], c)) => Ok(c),
        Ok((rest, _)) => Err(Error::Certificate {
            index,
            reason: format!("{} trailing bytes", rest.len()),
        }),
        Err(e) => Err(Error::Certificate {
            index,
            reason: e.to_string(),
        }),
    }
}

/// Verifies a device chain (DER, signing certificate first) against
/// `roots` at `at` (seconds since the Unix epoch). See the module docs for
/// the checks and their order.
pub fn verify_chain(ders: &[Vec<u8>], roots: &TrustRoots, at: i64) -> Result<ChainInfo> {
    let certs = verify_links(ders, roots, at)?;
    let Some(leaf) = certs.first() else {
        return Err(Error::ChainTooShort { len: 0 });
    };
    let fwid = leaf_fwid(leaf)?.ok_or_else(|| Error::FwidMissing {
        subject: rfc4514(leaf.subject()),
    })?;
    check_signing_cert(leaf)?;
    let mut info = describe(ders, &certs);
    info.fwid = Some(fwid);
    Ok(info)
}

/// Verifies the chain of a RIM signature (DER, signing certificate first,
/// as the RIM's `KeyInfo` lists it) against `roots` at `at`: the device
/// chain's checks but the FWID (see the module docs). The [`ChainInfo`]
/// has no FWID.
pub fn verify_rim_chain(ders: &[Vec<u8>], roots: &TrustRoots, at: i64) -> Result<ChainInfo> {
    let certs = verify_links(ders, roots, at)?;
    let Some(leaf) = certs.first() else {
        return Err(Error::ChainTooShort { len: 0 });
    };
    check_signing_cert(leaf)?;
    Ok(describe(ders, &certs))
}

/// Steps 1 to 4 of the module docs: length, root, envelopes, links,
/// validity.
fn verify_links<'a>(
    ders: &'a [Vec<u8>],
    roots: &TrustRoots,
    at: i64,
) -> Result<Vec<X509Certificate<'a>>> {
    if ders.len() < 2 {
        return Err(Error::ChainTooShort { len: ders.len() });
    }
    if ders.len() > MAX_CHAIN_CERTS {
        return Err(Error::ChainTooLong {
            len: ders.len(),
            max: MAX_CHAIN_CERTS,
        });
    }
    let certs = ders
        .iter()
        .enumerate()
        .map(|(i, d)| parse_cert(d, i))
        .collect::<Result<Vec<_>>>()?;
    let (Some(last_der), Some(last)) = (ders.last(), certs.last()) else {
        return Err(Error::ChainTooShort { len: 0 });
    };
    if !roots.contains(last_der) {
        return Err(Error::UntrustedRoot {
            subject: rfc4514(last.subject()),
        });
    }
    for (i, (der, c)) in ders.iter().zip(&certs).enumerate() {
        check_envelope(der, c).map_err(|reason| Error::Certificate {
            index: i,
            reason: format!("unsigned envelope: {reason}"),
        })?;
    }
    for (i, pair) in certs.windows(2).enumerate() {
        let [cert, issuer] = pair else { continue };
        check_link(cert, issuer).map_err(|reason| Error::Chain {
            index: i,
            subject: rfc4514(cert.subject()),
            reason,
        })?;
    }
    for (i, c) in certs.iter().enumerate() {
        let v = c.validity();
        if at < v.not_before.timestamp() || at > v.not_after.timestamp() {
            return Err(Error::Stale {
                index: i,
                subject: rfc4514(c.subject()),
                at,
            });
        }
    }
    Ok(certs)
}

/// Step 6: the signing key is P-384 and, when keyUsage is present, may sign.
fn check_signing_cert(leaf: &X509Certificate<'_>) -> Result<()> {
    if !is_p384(leaf.public_key()) {
        return Err(Error::Unsupported {
            field: "signing certificate key",
            value: "not an ECDSA P-384 key".into(),
        });
    }
    if let Ok(Some(ku)) = leaf.key_usage()
        && !ku.value.digital_signature()
    {
        return Err(Error::Unsupported {
            field: "signing certificate keyUsage",
            value: "digitalSignature is not set".into(),
        });
    }
    Ok(())
}

/// Reads a chain without checking it: for explaining a rejection. The FWID
/// is `None` when the signing certificate has none.
pub fn inspect_chain(ders: &[Vec<u8>]) -> Result<ChainInfo> {
    let certs = ders
        .iter()
        .enumerate()
        .map(|(i, d)| parse_cert(d, i))
        .collect::<Result<Vec<_>>>()?;
    let mut info = describe(ders, &certs);
    if let Some(leaf) = certs.first() {
        info.fwid = leaf_fwid(leaf).ok().flatten();
    }
    Ok(info)
}

fn describe(ders: &[Vec<u8>], certs: &[X509Certificate<'_>]) -> ChainInfo {
    let infos = ders
        .iter()
        .zip(certs)
        .map(|(der, c)| CertInfo {
            subject: rfc4514(c.subject()),
            issuer: rfc4514(c.issuer()),
            serial: hex::encode(c.tbs_certificate.raw_serial()),
            not_before: c.validity().not_before.timestamp(),
            not_after: c.validity().not_after.timestamp(),
            sha256: hex::encode(digest::digest(&digest::SHA256, der)),
            revocation: crate::ocsp::Revocation::NotChecked,
        })
        .collect();
    let leaf = certs.first();
    ChainInfo {
        certs: infos,
        fwid: None,
        leaf_key: leaf
            .map(|l| l.public_key().subject_public_key.data.to_vec())
            .unwrap_or_default(),
        leaf_cn: leaf
            .and_then(|l| l.subject().iter_common_name().next())
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_owned(),
    }
}

/// One link: `issuer` issued `cert`.
pub(crate) fn check_link(
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
) -> std::result::Result<(), String> {
    if cert.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(format!(
            "it names {} as issuer, the next certificate is {}",
            rfc4514(cert.issuer()),
            rfc4514(issuer.subject())
        ));
    }
    match issuer.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {}
        Ok(_) => return Err("the issuer is not a CA (basicConstraints)".into()),
        Err(e) => return Err(format!("the issuer's basicConstraints: {e}")),
    }
    match issuer.key_usage() {
        Ok(Some(ku)) if !ku.value.key_cert_sign() => {
            return Err("the issuer may not sign certificates (keyUsage)".into());
        }
        Ok(_) => {}
        Err(e) => return Err(format!("the issuer's keyUsage: {e}")),
    }
    if cert.signature_algorithm.algorithm != OID_SIG_ECDSA_WITH_SHA384 {
        return Err(format!(
            "signature algorithm {} is not ECDSA with SHA-384",
            cert.signature_algorithm.algorithm
        ));
    }
    if !is_p384(issuer.public_key()) {
        return Err("the issuer's key is not ECDSA P-384".into());
    }
    UnparsedPublicKey::new(
        &ECDSA_P384_SHA384_ASN1,
        &issuer.public_key().subject_public_key.data,
    )
    .verify(cert.tbs_certificate.as_ref(), cert.signature_value.as_ref())
    .map_err(|_| "the signature does not verify with the issuer's key".to_owned())
}

fn is_p384(spki: &SubjectPublicKeyInfo<'_>) -> bool {
    spki.algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY
        && spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .is_some_and(|o| o == OID_NIST_EC_P384)
}

/// The FWID of a certificate's `2.23.133.5.4.1` (or `2.23.133.5.4.1.1`)
/// extension, `None` when the extension is absent.
pub fn leaf_fwid(cert: &X509Certificate<'_>) -> Result<Option<Vec<u8>>> {
    let mut found = None;
    for ext in cert.iter_extensions() {
        let oid = ext.oid.as_bytes();
        if oid == OID_TCG_DICE_FWID || oid == OID_TCG_DICE_FWID_1 {
            if found.is_some() {
                return Err(fwid_error("more than one FWID extension"));
            }
            found = Some(ext.value);
        }
    }
    found.map(parse_fwid_extension).transpose()
}

fn fwid_error(reason: impl Into<String>) -> Error {
    Error::Certificate {
        index: 0,
        reason: format!("FWID extension (2.23.133.5.4.1): {}", reason.into()),
    }
}

/// Decodes the extension value: RIoT composite device ID (Hopper) or DICE
/// TcbInfo (Blackwell); see the module docs.
fn parse_fwid_extension(value: &[u8]) -> Result<Vec<u8>> {
    let mut outer = Reader::new(value);
    let mut seq = der_expect(&mut outer, 0x30, "extension SEQUENCE")?;
    outer
        .finish("FWID extension")
        .map_err(|e| fwid_error(e.to_string()))?;
    let first_tag = seq.peek_rest().first().copied();
    if first_tag == Some(0x02) {
        // RIoT: version INTEGER, deviceId SubjectPublicKeyInfo, fwid FWID.
        der_expect(&mut seq, 0x02, "version INTEGER")?;
        der_expect(&mut seq, 0x30, "deviceId SubjectPublicKeyInfo")?;
        let fwid = der_expect(&mut seq, 0x30, "FWID")?;
        seq.finish("composite device ID")
            .map_err(|e| fwid_error(e.to_string()))?;
        return fwid_digest(fwid);
    }
    // DICE TcbInfo: optional [0]..[10] IMPLICIT fields; fwids is [6]
    // (constructed), a SEQUENCE OF FWID.
    while !seq.is_empty() {
        let (tag, mut content) = der_tlv(&mut seq).map_err(fwid_error)?;
        if tag == 0xa6 {
            let fwid = der_expect(&mut content, 0x30, "TcbInfo fwids[0]")?;
            return fwid_digest(fwid);
        }
    }
    Err(fwid_error("TcbInfo has no fwids"))
}

/// FWID ::= SEQUENCE { hashAlg OBJECT IDENTIFIER, digest OCTET STRING }.
fn fwid_digest(mut fwid: Reader<'_>) -> Result<Vec<u8>> {
    let alg = der_expect(&mut fwid, 0x06, "FWID hashAlg")?;
    if alg.peek_rest() != OID_SHA384 {
        return Err(Error::Unsupported {
            field: "FWID hash algorithm",
            value: format!(
                "OID {}, only SHA-384 is known",
                hex::encode(alg.peek_rest())
            ),
        });
    }
    let digest = der_expect(&mut fwid, 0x04, "FWID digest")?.peek_rest();
    fwid.finish("FWID").map_err(|e| fwid_error(e.to_string()))?;
    if digest.len() != 48 {
        return Err(fwid_error(format!(
            "the digest is {} bytes, SHA-384 is 48",
            digest.len()
        )));
    }
    Ok(digest.to_vec())
}

/// Reads one DER TLV (low tag numbers, definite lengths up to 4 bytes).
fn der_tlv<'a>(r: &mut Reader<'a>) -> std::result::Result<(u8, Reader<'a>), String> {
    let e = |c: CodecError| c.to_string();
    let tag = r.u8("DER tag").map_err(e)?;
    if tag & 0x1f == 0x1f {
        return Err("high tag numbers are not used here".into());
    }
    let first = r.u8("DER length").map_err(e)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err("unsupported DER length form".into());
        }
        let mut len = 0usize;
        for _ in 0..n {
            len = (len << 8) | usize::from(r.u8("DER length").map_err(e)?);
        }
        len
    };
    let content = r.sub(len, "DER content").map_err(e)?;
    Ok((tag, content))
}

fn der_expect<'a>(r: &mut Reader<'a>, tag: u8, what: &str) -> Result<Reader<'a>> {
    let (t, content) = der_tlv(r).map_err(|e| fwid_error(format!("{what}: {e}")))?;
    if t != tag {
        return Err(fwid_error(format!(
            "{what}: tag {t:#04x}, expected {tag:#04x}"
        )));
    }
    Ok(content)
}

/// The DER of AlgorithmIdentifier { ecdsa-with-SHA384 } (RFC 5758 §3.2:
/// parameters absent).
const ECDSA_SHA384_ALG_ID: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
];

/// The unsigned envelope of a certificate, checked byte for byte:
/// `SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }` with
/// exactly the ECDSA-SHA384 AlgorithmIdentifier and a BIT STRING with no
/// unused bits. The parser is lenient about the envelope (it reads an OID
/// under a wrong tag), and the signature does not cover it.
fn check_envelope(der: &[u8], cert: &X509Certificate<'_>) -> std::result::Result<(), String> {
    let mut r = Reader::new(der);
    let (tag, mut body) = der_tlv(&mut r)?;
    r.finish("certificate").map_err(|e| e.to_string())?;
    if tag != 0x30 {
        return Err(format!("outer tag {tag:#04x} is not SEQUENCE"));
    }
    let tbs_start = body.offset();
    let (tbs_tag, _) = der_tlv(&mut body)?;
    let tbs = der.get(tbs_start..body.offset()).unwrap_or_default();
    if tbs_tag != 0x30 || tbs != cert.tbs_certificate.as_ref() {
        return Err("tbsCertificate is not the DER SEQUENCE that was parsed".into());
    }
    let alg_start = body.offset();
    der_tlv(&mut body)?;
    if der.get(alg_start..body.offset()) != Some(ECDSA_SHA384_ALG_ID) {
        return Err("signatureAlgorithm is not exactly ecdsa-with-SHA384".into());
    }
    let (sig_tag, sig) = der_tlv(&mut body)?;
    body.finish("certificate SEQUENCE")
        .map_err(|e| e.to_string())?;
    let sig = sig.peek_rest();
    if sig_tag != 0x03
        || sig.first() != Some(&0)
        || sig.get(1..) != Some(cert.signature_value.as_ref())
    {
        return Err("signatureValue is not a BIT STRING without unused bits".into());
    }
    Ok(())
}

/// An X.509 name in RFC 4514 form: RDNs most significant last, joined by
/// commas, short names for the attribute types RFC 4514 §3 lists and dotted
/// OIDs for the others (so serialNumber prints as `2.5.4.5=...`).
pub fn rfc4514(name: &X509Name<'_>) -> String {
    let mut rdns: Vec<String> = Vec::new();
    for rdn in name.iter() {
        let parts: Vec<String> = rdn
            .iter()
            .map(|atv| {
                let oid = atv.attr_type().to_id_string();
                let key = match oid.as_str() {
                    "2.5.4.3" => "CN",
                    "2.5.4.7" => "L",
                    "2.5.4.8" => "ST",
                    "2.5.4.10" => "O",
                    "2.5.4.11" => "OU",
                    "2.5.4.6" => "C",
                    "2.5.4.9" => "STREET",
                    "0.9.2342.19200300.100.1.25" => "DC",
                    "0.9.2342.19200300.100.1.1" => "UID",
                    other => other,
                };
                let value = match atv.as_str() {
                    Ok(s) => escape_rfc4514(s),
                    Err(_) => format!("#{}", hex::encode(atv.attr_value().data)),
                };
                format!("{key}={value}")
            })
            .collect();
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    rdns.join(",")
}

fn escape_rfc4514(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let n = s.chars().count();
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' | '"' | '+' | ',' | ';' | '<' | '>' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i + 1 == n => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_root_decodes_to_the_documented_digest() {
        let roots = TrustRoots::nvidia();
        let all: Vec<&[u8]> = roots.roots().collect();
        assert_eq!(all.len(), 1);
        assert_eq!(
            hex::encode(digest::digest(&digest::SHA256, all[0])),
            NVIDIA_DEVICE_IDENTITY_CA_SHA256
        );
        let c = parse_cert(all[0], 0).unwrap();
        assert_eq!(
            rfc4514(c.subject()),
            "O=NVIDIA,CN=NVIDIA Device Identity CA"
        );
    }

    #[test]
    fn pinned_rim_root_decodes_to_the_documented_digest() {
        let roots = TrustRoots::nvidia_rim();
        let all: Vec<&[u8]> = roots.roots().collect();
        assert_eq!(all.len(), 1);
        assert_eq!(
            hex::encode(digest::digest(&digest::SHA256, all[0])),
            NVIDIA_RIM_ROOT_SHA256
        );
        let c = parse_cert(all[0], 0).unwrap();
        assert_eq!(
            rfc4514(c.subject()),
            "CN=NVIDIA CoRIM signing Root CA,O=NVIDIA,C=US"
        );
        assert_eq!(c.subject().as_raw(), c.issuer().as_raw());
        // Neither pinned root stands in for the other.
        assert!(!TrustRoots::nvidia().contains(all[0]));
    }

    #[test]
    fn fwid_extension_shapes() {
        // RIoT composite device ID with a dummy SPKI.
        let mut fwid = vec![0x30, 0x3d, 0x06, 0x09];
        fwid.extend_from_slice(OID_SHA384);
        fwid.extend_from_slice(&[0x04, 0x30]);
        fwid.extend_from_slice(&[0xab; 48]);
        let mut body = vec![0x02, 0x01, 0x01, 0x30, 0x00];
        body.extend_from_slice(&fwid);
        let mut ext = vec![0x30, body.len() as u8];
        ext.extend_from_slice(&body);
        assert_eq!(parse_fwid_extension(&ext).unwrap(), vec![0xab; 48]);
        // DICE TcbInfo: vendor [0], then fwids [6].
        let mut body = vec![0x80, 0x02, b'N', b'V', 0xa6, fwid.len() as u8];
        body.extend_from_slice(&fwid);
        let mut ext = vec![0x30, body.len() as u8];
        ext.extend_from_slice(&body);
        assert_eq!(parse_fwid_extension(&ext).unwrap(), vec![0xab; 48]);
        // Truncated anywhere: an error, never a panic.
        for n in 0..ext.len() {
            assert!(parse_fwid_extension(&ext[..n]).is_err());
        }
    }

    #[test]
    fn rfc4514_escapes() {
        assert_eq!(escape_rfc4514("a,b"), "a\\,b");
        assert_eq!(escape_rfc4514(" x "), "\\ x\\ ");
        assert_eq!(escape_rfc4514("#1"), "\\#1");
    }
}
