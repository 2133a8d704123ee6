//! The two certificate formats of SEV launch attestation, parsed once through
//! the bounded reader, with the signed bytes kept as received.
//!
//! - [`CaCertificate`]: AMD's own format for the ARK and the ASK (RSA, 2048
//!   or 4096 bits, RSASSA-PSS with SHA-256 for 2048-bit keys and SHA-384 for
//!   4096-bit keys). Layout (SEV API specification, AMD pub. 55766, appendix C;
//!   the `sev` crate's `certs::sev::ca`): `u32` version (1), 16-byte key ID,
//!   16-byte ID of the certifying key, `u32` key usage, 16 reserved bytes,
//!   `u32` public exponent size and `u32` modulus size in bits, then the
//!   exponent, the modulus and the signature, each little-endian and as long
//!   as its size says. The signature covers everything before it.
//! - [`SevCertificate`]: the 2084-byte SEV certificate of the CEK, OCA, PEK
//!   and PDH (and of the guest owner's GODH): `u32` version (1), API major
//!   and minor, two reserved bytes, `u32` key usage, `u32` algorithm, a
//!   1028-byte public key (P-384 point or RSA key, little-endian, zero
//!   padded), then two signature slots of `u32` usage, `u32` algorithm and
//!   512 bytes each. The signatures cover the first 0x414 bytes.
//!
//! Every number is converted to big-endian once, here, for aws-lc-rs; padding
//! and reserved bytes must be zero (AMD's certificates have them zero, so a
//! non-zero byte is either corruption or an attempt to smuggle data past the
//! signature's parser).

use std::fmt;

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use rootline_core::Reader;

use crate::error::{Error, Result};

/// A key usage (SEV API, appendix C, "Key usage"): what a certificate's key
/// is for, and in a signature slot, which key made the signature. Unknown
/// values are kept and print as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Usage(pub u32);

impl Usage {
    /// AMD Root Key (`0x0000`), self-signed.
    pub const ARK: Usage = Usage(0x0000);
    /// AMD Signing Key (`0x0013`), signed by the ARK, signs CEKs.
    pub const ASK: Usage = Usage(0x0013);
    /// Marks an empty signature slot (`0x1000`).
    pub const INVALID: Usage = Usage(0x1000);
    /// Owner Certificate Authority (`0x1001`), the platform owner's key.
    pub const OCA: Usage = Usage(0x1001);
    /// Platform Endorsement Key (`0x1002`), signed by the OCA and the CEK.
    pub const PEK: Usage = Usage(0x1002);
    /// Platform Diffie-Hellman key (`0x1003`), signed by the PEK; also the
    /// usage of the guest owner's GODH certificate.
    pub const PDH: Usage = Usage(0x1003);
    /// Chip Endorsement Key (`0x1004`), unique to the chip, signed by the ASK.
    pub const CEK: Usage = Usage(0x1004);

    /// The spec's name, or `None` for an unknown value.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::ARK => "ARK",
            Self::ASK => "ASK",
            Self::INVALID => "invalid",
            Self::OCA => "OCA",
            Self::PEK => "PEK",
            Self::PDH => "PDH",
            Self::CEK => "CEK",
            _ => return None,
        })
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{:#06x}", self.0),
        }
    }
}

impl fmt::Debug for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Usage({self})")
    }
}

/// A public-key or signature algorithm (SEV API, appendix C, "Algorithm
/// identifiers"). Unknown values are kept and print as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Algorithm(pub u32);

impl Algorithm {
    /// No algorithm (`0x0000`): an empty signature slot.
    pub const NONE: Algorithm = Algorithm(0x0000);
    /// RSASSA-PSS with SHA-256 (`0x0001`).
    pub const RSA_SHA256: Algorithm = Algorithm(0x0001);
    /// ECDSA with SHA-256 (`0x0002`).
    pub const ECDSA_SHA256: Algorithm = Algorithm(0x0002);
    /// ECDH, KDF with SHA-256 (`0x0003`).
    pub const ECDH_SHA256: Algorithm = Algorithm(0x0003);
    /// RSASSA-PSS with SHA-384 (`0x0101`).
    pub const RSA_SHA384: Algorithm = Algorithm(0x0101);
    /// ECDSA with SHA-384 (`0x0102`).
    pub const ECDSA_SHA384: Algorithm = Algorithm(0x0102);
    /// ECDH, KDF with SHA-384 (`0x0103`).
    pub const ECDH_SHA384: Algorithm = Algorithm(0x0103);

    /// The spec's name, or `None` for an unknown value.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NONE => "none",
            Self::RSA_SHA256 => "RSA-SHA256",
            Self::ECDSA_SHA256 => "ECDSA-SHA256",
            Self::ECDH_SHA256 => "ECDH-SHA256",
            Self::RSA_SHA384 => "RSA-SHA384",
            Self::ECDSA_SHA384 => "ECDSA-SHA384",
            Self::ECDH_SHA384 => "ECDH-SHA384",
            _ => return None,
        })
    }

    fn is_rsa(self) -> bool {
        matches!(self, Self::RSA_SHA256 | Self::RSA_SHA384)
    }

    fn is_ecdsa(self) -> bool {
        matches!(self, Self::ECDSA_SHA256 | Self::ECDSA_SHA384)
    }

    fn is_ecdh(self) -> bool {
        matches!(self, Self::ECDH_SHA256 | Self::ECDH_SHA384)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{:#06x}", self.0),
        }
    }
}

impl fmt::Debug for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Algorithm({self})")
    }
}

/// The digest a signature is made over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

/// An RSA public key, big-endian without leading zeros.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaKey {
    n: Vec<u8>,
    e: Vec<u8>,
    bits: u32,
}

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaKey({} bits)", self.bits)
    }
}

impl RsaKey {
    /// The modulus size in bits, as the certificate states it.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The modulus, big-endian.
    pub fn modulus(&self) -> &[u8] {
        &self.n
    }

    /// The public exponent, big-endian.
    pub fn exponent(&self) -> &[u8] {
        &self.e
    }

    fn byte_len(&self) -> usize {
        (self.bits / 8) as usize
    }

    /// Verifies an RSASSA-PSS signature (salt as long as the digest, as AMD
    /// signs) given big-endian and as long as the modulus.
    fn verify_pss(&self, hash: Hash, message: &[u8], sig: &[u8]) -> bool {
        let params = match hash {
            Hash::Sha256 => &signature::RSA_PSS_2048_8192_SHA256,
            Hash::Sha384 => &signature::RSA_PSS_2048_8192_SHA384,
        };
        RsaPublicKeyComponents {
            n: self.n.as_slice(),
            e: self.e.as_slice(),
        }
        .verify(params, message, sig)
        .is_ok()
    }
}

/// A P-384 public key as an uncompressed SEC1 point (`04 || X || Y`).
#[derive(Clone, PartialEq, Eq)]
pub struct P384Point(pub(crate) [u8; 97]);

impl fmt::Debug for P384Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P384Point({})", hex::encode(self.0))
    }
}

impl P384Point {
    /// The uncompressed SEC1 encoding.
    pub fn sec1(&self) -> &[u8; 97] {
        &self.0
    }

    fn verify_ecdsa(&self, hash: Hash, message: &[u8], r: &[u8; 48], s: &[u8; 48]) -> bool {
        let alg = match hash {
            Hash::Sha256 => &signature::ECDSA_P384_SHA256_ASN1,
            Hash::Sha384 => &signature::ECDSA_P384_SHA384_ASN1,
        };
        UnparsedPublicKey::new(alg, &self.0[..])
            .verify(message, &der_signature(r, s))
            .is_ok()
    }
}

/// The public key of a SEV certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// An ECDSA or ECDH key on P-384.
    P384(P384Point),
    /// An RSA key (possible for an OCA).
    Rsa(RsaKey),
}

/// The big-endian, leading-zero-free form of a little-endian number.
fn le_to_be(le: &[u8]) -> Vec<u8> {
    let mut be: Vec<u8> = le.iter().rev().copied().collect();
    let first = be.iter().position(|b| *b != 0).unwrap_or(be.len());
    be.drain(..first);
    be
}

/// A little-endian field of `len` bytes whose value must fit in `used`
/// bytes: the rest is zero padding.
fn le_field<'a>(
    r: &mut Reader<'a>,
    len: usize,
    used: usize,
    field: &'static str,
) -> Result<&'a [u8], rootline_core::CodecError> {
    let offset = r.offset();
    let all = r.take(len, field)?;
    let (value, pad) = all.split_at(used.min(len));
    if pad.iter().any(|b| *b != 0) {
        return Err(rootline_core::CodecError::Invalid {
            field,
            offset,
            reason: format!("bytes beyond the first {used} must be zero"),
        });
    }
    Ok(value)
}

/// A 48-byte big-endian scalar from a 72-byte little-endian field.
fn p384_coordinate(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<[u8; 48], rootline_core::CodecError> {
    let le = le_field(r, 72, 48, field)?;
    let mut out = [0u8; 48];
    for (o, b) in out.iter_mut().zip(le.iter().rev()) {
        *o = *b;
    }
    Ok(out)
}

/// DER `ECDSA-Sig-Value` of two big-endian scalars (what aws-lc-rs's ASN.1
/// verification algorithms take; AMD stores raw little-endian r and s).
fn der_signature(r: &[u8; 48], s: &[u8; 48]) -> Vec<u8> {
    fn integer(out: &mut Vec<u8>, v: &[u8]) {
        let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
        let digits = v.get(start..).unwrap_or(&[]);
        let pad = digits.first().is_none_or(|b| b & 0x80 != 0);
        out.push(0x02);
        // At most 49 bytes: the short length form.
        out.push((digits.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(digits);
    }
    let mut body = Vec::with_capacity(102);
    integer(&mut body, r);
    integer(&mut body, s);
    let mut der = Vec::with_capacity(body.len() + 2);
    der.push(0x30);
    der.push(body.len() as u8);
    der.extend_from_slice(&body);
    der
}

/// An ARK or ASK in AMD's certificate format.
#[derive(Clone, PartialEq, Eq)]
pub struct CaCertificate {
    bytes: Vec<u8>,
    signed_len: usize,
    key_id: [u8; 16],
    certifying_id: [u8; 16],
    usage: Usage,
    key: RsaKey,
    /// Big-endian, as long as the modulus.
    signature: Vec<u8>,
}

impl fmt::Debug for CaCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaCertificate")
            .field("usage", &self.usage)
            .field("key_id", &hex::encode(self.key_id))
            .field("certifying_id", &hex::encode(self.certifying_id))
            .field("key", &self.key)
            .finish()
    }
}

const CA_HEADER: usize = 64;

impl CaCertificate {
    /// Parses one certificate that is all of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let cert = Self::read(&mut r)?;
        r.finish("CA certificate")
            .map_err(Error::malformed("CA certificate"))?;
        Ok(cert)
    }

    /// Parses an ASK followed by its ARK, as AMD publishes them
    /// (`ask_ark_<product>.cert`).
    pub fn parse_pair(bytes: &[u8]) -> Result<(Self, Self)> {
        let mut r = Reader::new(bytes);
        let ask = Self::read(&mut r)?;
        let ark = Self::read(&mut r)?;
        r.finish("ASK and ARK")
            .map_err(Error::malformed("CA certificate"))?;
        Ok((ask, ark))
    }

    /// Reads one certificate from `r`, leaving what follows.
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        let start = r.offset();
        let all = r.peek_rest();
        let m = || Error::malformed("CA certificate");
        let mut h = r.sub(CA_HEADER, "CA certificate header").map_err(m())?;
        let version = h.u32_le("version").map_err(m())?;
        if version != 1 {
            return Err(Error::unsupported(
                "CA certificate version",
                version.to_string(),
            ));
        }
        let key_id = h.array::<16>("key ID").map_err(m())?;
        let certifying_id = h.array::<16>("certifying key ID").map_err(m())?;
        let usage = Usage(h.u32_le("key usage").map_err(m())?);
        h.reserved_zero(16, "reserved").map_err(m())?;
        let exp_bits = h.u32_le("public exponent size").map_err(m())?;
        let mod_bits = h.u32_le("modulus size").map_err(m())?;
        h.finish("CA certificate header").map_err(m())?;
        if !matches!(mod_bits, 2048 | 4096) {
            return Err(Error::unsupported(
                "CA certificate modulus size",
                format!("{mod_bits} bits"),
            ));
        }
        if exp_bits != mod_bits {
            // AMD's certificates carry the exponent in a field as wide as the
            // modulus; the `sev` crate requires the same.
            return Err(Error::unsupported(
                "CA certificate public exponent size",
                format!("{exp_bits} bits with a {mod_bits}-bit modulus"),
            ));
        }
        let len = (mod_bits / 8) as usize;
        let exponent = r.take(len, "public exponent").map_err(m())?;
        let modulus = r.take(len, "modulus").map_err(m())?;
        let signed_len = r.offset() - start;
        let sig_le = r.take(len, "signature").map_err(m())?;
        let total = r.offset() - start;
        let bytes = all.get(..total).unwrap_or(&[]).to_vec();

        let n = le_to_be(modulus);
        if n.len() != len {
            return Err(Error::invalid(
                "CA certificate modulus",
                format!(
                    "{} significant bytes, not the {len} its size states",
                    n.len()
                ),
            ));
        }
        let e = le_to_be(exponent);
        if e.is_empty() {
            return Err(Error::invalid("CA certificate public exponent", "zero"));
        }
        let signature: Vec<u8> = sig_le.iter().rev().copied().collect();
        Ok(CaCertificate {
            bytes,
            signed_len,
            key_id,
            certifying_id,
            usage,
            key: RsaKey {
                n,
                e,
                bits: mod_bits,
            },
            signature,
        })
    }

    /// The certificate as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes the signature covers, as received.
    pub fn signed_bytes(&self) -> &[u8] {
        self.bytes.get(..self.signed_len).unwrap_or(&[])
    }

    /// The key's ID.
    pub fn key_id(&self) -> [u8; 16] {
        self.key_id
    }

    /// The ID of the key that signed this certificate.
    pub fn certifying_id(&self) -> [u8; 16] {
        self.certifying_id
    }

    /// The key usage (ARK or ASK for a valid certificate).
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The public key.
    pub fn key(&self) -> &RsaKey {
        &self.key
    }

    /// The digest this key signs with: SHA-256 for 2048-bit keys, SHA-384
    /// for 4096-bit keys (the `sev` crate's `ca::cert::v1::Size`).
    pub fn hash(&self) -> Hash {
        if self.key.bits == 2048 {
            Hash::Sha256
        } else {
            Hash::Sha384
        }
    }

    /// The algorithm identifier a SEV certificate's signature slot carries
    /// when this key signs it.
    pub fn signature_algorithm(&self) -> Algorithm {
        match self.hash() {
            Hash::Sha256 => Algorithm::RSA_SHA256,
            Hash::Sha384 => Algorithm::RSA_SHA384,
        }
    }

    /// The RSASSA-PSS signature, big-endian and as long as the modulus (the
    /// received little-endian bytes reversed): what aws-lc-rs verifies.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// True when `signer` (an ARK) signed this certificate: the IDs agree,
    /// the signer's usage is ARK and the RSA-PSS signature verifies.
    pub fn is_signed_by(&self, signer: &CaCertificate) -> bool {
        signer.usage == Usage::ARK
            && self.certifying_id == signer.key_id
            && self.signature.len() == signer.key.byte_len()
            && signer
                .key
                .verify_pss(signer.hash(), self.signed_bytes(), &self.signature)
    }
}

/// The length of a SEV certificate.
pub const SEV_CERT_LEN: usize = 0x824;
/// The length of the signed part of a SEV certificate.
const SEV_SIGNED_LEN: usize = 0x414;
const PUBKEY_LEN: usize = 1028;
const SIG_LEN: usize = 512;

/// The two curve IDs of the SEV API; only P-384 is supported.
const CURVE_P256: u32 = 1;
const CURVE_P384: u32 = 2;

/// One signature slot of a SEV certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SevSignature {
    /// The usage of the key that made it.
    pub usage: Usage,
    /// Its algorithm.
    pub algorithm: Algorithm,
    value: SignatureValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SignatureValue {
    /// Big-endian, 512 bytes (leading zeros when the key is shorter).
    Rsa(Vec<u8>),
    /// Big-endian r and s.
    Ecdsa([u8; 48], [u8; 48]),
}

impl SevSignature {
    /// The signature as aws-lc-rs verifies it: for ECDSA the DER
    /// `ECDSA-Sig-Value` of r and s (AMD stores them raw, little-endian), for
    /// RSA big-endian as the 512-byte slot holds it (zeros above the
    /// signer's length). For a caller that verifies with aws-lc-rs itself
    /// (`rootline bench verify` times the raw checks beside ours).
    pub fn to_aws_lc(&self) -> Vec<u8> {
        match &self.value {
            SignatureValue::Rsa(sig) => sig.clone(),
            SignatureValue::Ecdsa(r, s) => der_signature(r, s),
        }
    }
}

/// A CEK, OCA, PEK, PDH or GODH certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct SevCertificate {
    bytes: Vec<u8>,
    api_major: u8,
    api_minor: u8,
    usage: Usage,
    algorithm: Algorithm,
    key: PublicKey,
    signatures: [Option<SevSignature>; 2],
}

impl fmt::Debug for SevCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SevCertificate")
            .field("usage", &self.usage)
            .field("algorithm", &self.algorithm)
            .field(
                "api",
                &format_args!("{}.{}", self.api_major, self.api_minor),
            )
            .field("key", &self.key)
            .field("signatures", &self.signatures)
            .finish()
    }
}

impl SevCertificate {
    /// Parses one certificate that is all of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let cert = Self::read(&mut r)?;
        r.finish("SEV certificate")
            .map_err(Error::malformed("SEV certificate"))?;
        Ok(cert)
    }

    /// Reads one 2084-byte certificate from `r`, leaving what follows.
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        let m = || Error::malformed("SEV certificate");
        let raw = r.peek_rest();
        let mut c = r.sub(SEV_CERT_LEN, "SEV certificate").map_err(m())?;
        let bytes = raw.get(..SEV_CERT_LEN).unwrap_or(&[]).to_vec();
        let version = c.u32_le("version").map_err(m())?;
        if version != 1 {
            return Err(Error::unsupported(
                "SEV certificate version",
                version.to_string(),
            ));
        }
        let api_major = c.u8("API major").map_err(m())?;
        let api_minor = c.u8("API minor").map_err(m())?;
        c.reserved_zero(2, "reserved").map_err(m())?;
        let usage = Usage(c.u32_le("key usage").map_err(m())?);
        let algorithm = Algorithm(c.u32_le("key algorithm").map_err(m())?);
        let mut k = c.sub(PUBKEY_LEN, "public key").map_err(m())?;
        let key = if algorithm.is_ecdsa() || algorithm.is_ecdh() {
            let curve = k.u32_le("curve").map_err(m())?;
            if curve != CURVE_P384 {
                let name = if curve == CURVE_P256 {
                    "P-256".to_string()
                } else {
                    format!("{curve:#x}")
                };
                return Err(Error::unsupported("curve", name));
            }
            let x = p384_coordinate(&mut k, "Qx").map_err(m())?;
            let y = p384_coordinate(&mut k, "Qy").map_err(m())?;
            k.reserved_zero(k.remaining(), "public key reserved")
                .map_err(m())?;
            let mut point = [0u8; 97];
            point[0] = 4;
            for (o, b) in point.iter_mut().skip(1).zip(x.iter().chain(y.iter())) {
                *o = *b;
            }
            PublicKey::P384(P384Point(point))
        } else if algorithm.is_rsa() {
            let bits = k.u32_le("modulus size").map_err(m())?;
            if !matches!(bits, 2048 | 4096) {
                return Err(Error::unsupported(
                    "RSA modulus size",
                    format!("{bits} bits"),
                ));
            }
            let used = (bits / 8) as usize;
            let e = le_to_be(le_field(&mut k, 512, used, "public exponent").map_err(m())?);
            let n = le_to_be(le_field(&mut k, 512, used, "modulus").map_err(m())?);
            k.finish("RSA public key").map_err(m())?;
            if n.len() != used || e.is_empty() {
                return Err(Error::invalid(
                    "RSA public key",
                    format!(
                        "a {}-byte modulus and a {}-byte exponent for a {bits}-bit key",
                        n.len(),
                        e.len()
                    ),
                ));
            }
            PublicKey::Rsa(RsaKey { n, e, bits })
        } else {
            return Err(Error::unsupported("key algorithm", algorithm.to_string()));
        };
        let sig1 = read_signature(&mut c)?;
        let sig2 = read_signature(&mut c)?;
        c.finish("SEV certificate").map_err(m())?;
        Ok(SevCertificate {
            bytes,
            api_major,
            api_minor,
            usage,
            algorithm,
            key,
            signatures: [sig1, sig2],
        })
    }

    /// Builds the certificate of a P-384 ECDH public key with no signature,
    /// as LAUNCH_START takes the guest owner's key (usage PDH, algorithm
    /// ECDH-SHA256, API version 0.0, both slots empty: what `sev-tool` and
    /// the `sev` crate send).
    pub(crate) fn unsigned_ecdh(point: &[u8; 97]) -> Vec<u8> {
        let mut out = Vec::with_capacity(SEV_CERT_LEN);
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&Usage::PDH.0.to_le_bytes());
        out.extend_from_slice(&Algorithm::ECDH_SHA256.0.to_le_bytes());
        out.extend_from_slice(&CURVE_P384.to_le_bytes());
        for coord in [point.get(1..49), point.get(49..97)] {
            let mut le = [0u8; 72];
            for (o, b) in le.iter_mut().zip(coord.unwrap_or(&[]).iter().rev()) {
                *o = *b;
            }
            out.extend_from_slice(&le);
        }
        out.resize(SEV_SIGNED_LEN, 0);
        for _ in 0..2 {
            out.extend_from_slice(&Usage::INVALID.0.to_le_bytes());
            out.extend_from_slice(&Algorithm::NONE.0.to_le_bytes());
            out.resize(out.len() + SIG_LEN, 0);
        }
        out
    }

    /// The certificate as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes the signatures cover, as received.
    pub fn signed_bytes(&self) -> &[u8] {
        self.bytes.get(..SEV_SIGNED_LEN).unwrap_or(&[])
    }

    /// The firmware API version that made the certificate (major, minor).
    pub fn api_version(&self) -> (u8, u8) {
        (self.api_major, self.api_minor)
    }

    /// The key usage.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The non-empty signature slots.
    pub fn signatures(&self) -> impl Iterator<Item = &SevSignature> {
        self.signatures.iter().flatten()
    }

    /// The slot signed by a key of `usage`, if any.
    fn slot(&self, usage: Usage) -> Option<&SevSignature> {
        self.signatures().find(|s| s.usage == usage)
    }

    /// True when the SEV certificate `signer` signed this one: a slot names
    /// the signer's usage and algorithm, and the signature verifies.
    pub fn is_signed_by(&self, signer: &SevCertificate) -> bool {
        if signer.algorithm.is_ecdh() {
            return false;
        }
        let Some(slot) = self.slot(signer.usage) else {
            return false;
        };
        if slot.algorithm != signer.algorithm {
            return false;
        }
        let hash = match slot.algorithm {
            Algorithm::ECDSA_SHA256 | Algorithm::RSA_SHA256 => Hash::Sha256,
            Algorithm::ECDSA_SHA384 | Algorithm::RSA_SHA384 => Hash::Sha384,
            _ => return false,
        };
        match (&signer.key, &slot.value) {
            (PublicKey::P384(point), SignatureValue::Ecdsa(r, s)) => {
                point.verify_ecdsa(hash, self.signed_bytes(), r, s)
            }
            (PublicKey::Rsa(key), SignatureValue::Rsa(sig)) => {
                rsa_verify_padded(key, hash, self.signed_bytes(), sig)
            }
            _ => false,
        }
    }

    /// True when the CA certificate `signer` (an ASK) signed this one.
    pub fn is_signed_by_ca(&self, signer: &CaCertificate) -> bool {
        let Some(slot) = self.slot(signer.usage) else {
            return false;
        };
        if slot.algorithm != signer.signature_algorithm() {
            return false;
        }
        match &slot.value {
            SignatureValue::Rsa(sig) => {
                rsa_verify_padded(&signer.key, signer.hash(), self.signed_bytes(), sig)
            }
            SignatureValue::Ecdsa(..) => false,
        }
    }
}

/// An RSA signature stored in a 512-byte slot: the bytes above the key's
/// length must be zero.
fn rsa_verify_padded(key: &RsaKey, hash: Hash, message: &[u8], sig: &[u8]) -> bool {
    let k = key.byte_len();
    let Some(pad) = sig.len().checked_sub(k) else {
        return false;
    };
    let (zeros, value) = sig.split_at(pad);
    zeros.iter().all(|b| *b == 0) && key.verify_pss(hash, message, value)
}

fn read_signature(c: &mut Reader<'_>) -> Result<Option<SevSignature>> {
    let m = || Error::malformed("SEV certificate");
    let usage = Usage(c.u32_le("signature usage").map_err(m())?);
    let algorithm = Algorithm(c.u32_le("signature algorithm").map_err(m())?);
    let mut s = c.sub(SIG_LEN, "signature").map_err(m())?;
    if algorithm == Algorithm::NONE || usage == Usage::INVALID {
        // An empty slot is all zeros (and says so in both fields).
        if algorithm != Algorithm::NONE || usage != Usage::INVALID {
            return Err(Error::invalid(
                "signature slot",
                format!("usage {usage} with algorithm {algorithm}: an empty slot has both invalid"),
            ));
        }
        s.reserved_zero(SIG_LEN, "empty signature").map_err(m())?;
        return Ok(None);
    }
    let value = if algorithm.is_ecdsa() {
        let r = p384_coordinate(&mut s, "signature r").map_err(m())?;
        let sv = p384_coordinate(&mut s, "signature s").map_err(m())?;
        s.reserved_zero(s.remaining(), "signature reserved")
            .map_err(m())?;
        SignatureValue::Ecdsa(r, sv)
    } else if algorithm.is_rsa() {
        SignatureValue::Rsa(s.rest().iter().rev().copied().collect())
    } else {
        return Err(Error::unsupported(
            "signature algorithm",
            algorithm.to_string(),
        ));
    };
    Ok(Some(SevSignature {
        usage,
        algorithm,
        value,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_of_small_and_high_bit_scalars() {
        let mut r = [0u8; 48];
        r[47] = 1;
        let mut s = [0u8; 48];
        s[0] = 0x80;
        let der = der_signature(&r, &s);
        assert_eq!(&der[..5], &[0x30, 3 + 51, 0x02, 1, 1]);
        assert_eq!(&der[5..9], &[0x02, 49, 0x00, 0x80]);
        assert_eq!(der.len(), 2 + 3 + 51);
    }

    #[test]
    fn zero_scalar_is_one_zero_byte() {
        let der = der_signature(&[0; 48], &[0; 48]);
        assert_eq!(der, vec![0x30, 6, 2, 1, 0, 2, 1, 0]);
    }

    #[test]
    fn usage_and_algorithm_print_names_or_hex() {
        assert_eq!(Usage::PEK.to_string(), "PEK");
        assert_eq!(Usage(0x1234).to_string(), "0x1234");
        assert_eq!(Algorithm::ECDSA_SHA256.to_string(), "ECDSA-SHA256");
        assert_eq!(Algorithm(0x7).to_string(), "0x0007");
    }
}
