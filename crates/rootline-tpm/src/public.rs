//! TPMT_PUBLIC / TPM2B_PUBLIC (Part 2, 12.2) and attestation-key input.
//!
//! An AK reaches the verifier as a PEM or DER SubjectPublicKeyInfo (what
//! `tpm2_createak -f pem` writes), as a TPM2B_PUBLIC (`tpm2_createak -u`) or as
//! a bare TPMT_PUBLIC (go-tpm-tools, go-attestation). Only the TPM forms carry
//! the name algorithm and attributes, so only they give the AK's name.

use rootline_core::{CodecError, HashAlg, Reader};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey as X509PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::der;
use crate::error::Error;
use crate::types::{AlgId, EccCurve, ObjectAttributes};

/// Largest RSA modulus a TPM2B_PUBLIC_KEY_RSA holds (4096 bits).
pub const MAX_RSA_BYTES: usize = 512;
/// Largest ECC coordinate a TPM2B_ECC_PARAMETER holds.
pub const MAX_ECC_BYTES: usize = 128;

/// A public key this crate can verify signatures with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA: modulus and public exponent, big-endian, no leading zeros.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// ECC on a named curve: affine coordinates padded to the field size.
    Ecc {
        /// Curve.
        curve: EccCurve,
        /// X coordinate.
        x: Vec<u8>,
        /// Y coordinate.
        y: Vec<u8>,
    },
}

fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let skip = b.iter().take_while(|x| **x == 0).count();
    b.get(skip..).unwrap_or(&[]).to_vec()
}

fn pad_left(b: &[u8], len: usize) -> Option<Vec<u8>> {
    let b = b.get(b.iter().take_while(|x| **x == 0).count()..)?;
    if b.len() > len {
        return None;
    }
    let mut out = vec![0u8; len - b.len()];
    out.extend_from_slice(b);
    Some(out)
}

impl PublicKey {
    /// An ECC key, checking the coordinates against the curve size.
    pub fn ecc(curve: EccCurve, x: &[u8], y: &[u8]) -> Result<Self, Error> {
        let len = curve.coordinate_len().ok_or_else(|| Error::Unsupported {
            what: "ECC curve",
            value: curve.to_string(),
        })?;
        let bad = || Error::Encoding {
            what: "ECC point",
            reason: format!("a coordinate is longer than {len} bytes for {curve}"),
        };
        Ok(Self::Ecc {
            curve,
            x: pad_left(x, len).ok_or_else(bad)?,
            y: pad_left(y, len).ok_or_else(bad)?,
        })
    }

    /// RSA modulus size in bits, or the curve size for ECC.
    pub fn bits(&self) -> usize {
        match self {
            Self::Rsa { n, .. } => {
                let lead = n.first().map_or(0, |b| 8 - b.leading_zeros() as usize);
                n.len().saturating_sub(1) * 8 + lead
            }
            Self::Ecc { x, .. } => x.len() * 8,
        }
    }

    /// The uncompressed SEC1 point of an ECC key.
    pub fn ec_point(&self) -> Option<Vec<u8>> {
        match self {
            Self::Ecc { x, y, .. } => {
                let mut p = vec![4u8];
                p.extend_from_slice(x);
                p.extend_from_slice(y);
                Some(p)
            }
            Self::Rsa { .. } => None,
        }
    }

    /// The DER SubjectPublicKeyInfo of this key, encoded canonically.
    pub fn spki_der(&self) -> Result<Vec<u8>, Error> {
        match self {
            Self::Rsa { n, e } => Ok(der::rsa_spki(n, e)),
            Self::Ecc { curve, .. } => {
                let oid = match *curve {
                    EccCurve::NIST_P256 => der::OID_P256,
                    EccCurve::NIST_P384 => der::OID_P384,
                    EccCurve::NIST_P521 => der::OID_P521,
                    c => {
                        return Err(Error::Unsupported {
                            what: "ECC curve",
                            value: c.to_string(),
                        });
                    }
                };
                Ok(der::ec_spki(oid, &self.ec_point().unwrap_or_default()))
            }
        }
    }

    /// SHA-256 of [`Self::spki_der`]: the fingerprint rootline prints for a
    /// key, whatever form it arrived in (equal to
    /// `openssl pkey -pubin -outform der | sha256sum` for a canonical key).
    pub fn fingerprint(&self) -> Result<String, Error> {
        let der = self.spki_der()?;
        Ok(HashAlg::SHA256
            .hash(&der)
            .map(|d| d.hex())
            .unwrap_or_default())
    }

    /// Parses a DER SubjectPublicKeyInfo (RSA or EC on P-256/384/521).
    pub fn from_spki_der(bytes: &[u8]) -> Result<Self, Error> {
        let enc = |reason: String| Error::Encoding {
            what: "SubjectPublicKeyInfo",
            reason,
        };
        let (rest, spki) = SubjectPublicKeyInfo::from_der(bytes).map_err(|e| enc(e.to_string()))?;
        if !rest.is_empty() {
            return Err(enc(format!("{} trailing bytes", rest.len())));
        }
        Self::from_x509_spki(&spki)
    }

    /// Converts an x509-parser SubjectPublicKeyInfo.
    pub(crate) fn from_x509_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, Error> {
        let enc = |reason: String| Error::Encoding {
            what: "SubjectPublicKeyInfo",
            reason,
        };
        match spki.parsed().map_err(|e| enc(e.to_string()))? {
            X509PublicKey::RSA(k) => Ok(Self::Rsa {
                n: strip_zeros(k.modulus),
                e: strip_zeros(k.exponent),
            }),
            X509PublicKey::EC(point) => {
                let oid = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .ok_or_else(|| enc("EC key without a named curve".into()))?;
                let curve = match oid.as_bytes() {
                    b if b == der::OID_P256 => EccCurve::NIST_P256,
                    b if b == der::OID_P384 => EccCurve::NIST_P384,
                    b if b == der::OID_P521 => EccCurve::NIST_P521,
                    _ => {
                        return Err(Error::Unsupported {
                            what: "EC curve",
                            value: oid.to_id_string(),
                        });
                    }
                };
                let len = curve.coordinate_len().unwrap_or(0);
                let data = point.data();
                if data.len() != 1 + 2 * len || data.first() != Some(&4) {
                    return Err(enc(
                        "EC point is not an uncompressed point on its curve".into()
                    ));
                }
                let x = data.get(1..1 + len).unwrap_or(&[]);
                let y = data.get(1 + len..).unwrap_or(&[]);
                Self::ecc(curve, x, y)
            }
            _ => Err(Error::Unsupported {
                what: "public key algorithm",
                value: spki.algorithm.algorithm.to_id_string(),
            }),
        }
    }
}

/// The signing or key-exchange scheme of a key: algorithm and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme {
    /// TPM_ALG_RSASSA, TPM_ALG_ECDSA, TPM_ALG_OAEP...
    pub alg: AlgId,
    /// Its hash, TPM_ALG_NULL (0x0010) when the scheme has none.
    pub hash: HashAlg,
}

/// TPMT_SYM_DEF_OBJECT: the symmetric algorithm of a storage key (an EK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymDef {
    /// TPM_ALG_AES or TPM_ALG_NULL.
    pub alg: AlgId,
    /// Key size in bits.
    pub key_bits: u16,
    /// Mode, TPM_ALG_CFB for storage keys.
    pub mode: AlgId,
}

/// A parsed TPMT_PUBLIC with the bytes it came from (its name is their hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmtPublic {
    /// The marshalled TPMT_PUBLIC.
    pub raw: Vec<u8>,
    /// TPMI_ALG_PUBLIC: RSA, ECC, KEYEDHASH, SYMCIPHER.
    pub alg: AlgId,
    /// The name algorithm.
    pub name_alg: HashAlg,
    /// TPMA_OBJECT.
    pub attributes: ObjectAttributes,
    /// authPolicy.
    pub auth_policy: Vec<u8>,
    /// The symmetric definition (storage keys), `None` when TPM_ALG_NULL.
    pub symmetric: Option<SymDef>,
    /// The scheme, `None` when TPM_ALG_NULL.
    pub scheme: Option<Scheme>,
    /// The public key, for RSA and ECC objects.
    pub key: Option<PublicKey>,
    /// RSA: the modulus size the object declares.
    pub key_bits: Option<u16>,
}

fn tpm2b<'a>(r: &mut Reader<'a>, field: &'static str, max: usize) -> Result<&'a [u8], CodecError> {
    let len = usize::from(r.u16_be(field)?);
    if len > max {
        return Err(r.invalid(field, format!("{len} bytes, at most {max} allowed")));
    }
    r.take(len, field)
}

fn sym_def(r: &mut Reader<'_>) -> Result<Option<SymDef>, CodecError> {
    let alg = AlgId(r.u16_be("symmetric.algorithm")?);
    if alg == AlgId::NULL {
        return Ok(None);
    }
    let key_bits = r.u16_be("symmetric.keyBits")?;
    // For TPM_ALG_XOR the "mode" field holds a hash algorithm; same width.
    let mode = AlgId(r.u16_be("symmetric.mode")?);
    Ok(Some(SymDef {
        alg,
        key_bits,
        mode,
    }))
}

fn scheme(r: &mut Reader<'_>, field: &'static str) -> Result<Option<Scheme>, CodecError> {
    let alg = AlgId(r.u16_be(field)?);
    match alg {
        AlgId::NULL => Ok(None),
        AlgId::RSAES => Ok(Some(Scheme {
            alg,
            hash: HashAlg(AlgId::NULL.0),
        })),
        AlgId::ECDAA => {
            let hash = HashAlg(r.u16_be("scheme.hashAlg")?);
            r.u16_be("scheme.count")?;
            Ok(Some(Scheme { alg, hash }))
        }
        AlgId::XOR => {
            let hash = HashAlg(r.u16_be("scheme.hashAlg")?);
            r.u16_be("scheme.kdf")?;
            Ok(Some(Scheme { alg, hash }))
        }
        _ => Ok(Some(Scheme {
            alg,
            hash: HashAlg(r.u16_be("scheme.hashAlg")?),
        })),
    }
}

impl TpmtPublic {
    /// Parses a marshalled TPMT_PUBLIC; every byte must belong to it.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let p = Self::parse_from(&mut r)?;
        r.finish("TPMT_PUBLIC")
            .map_err(Error::malformed("TPMT_PUBLIC"))?;
        Ok(p)
    }

    /// Parses a marshalled TPM2B_PUBLIC (size, then a TPMT_PUBLIC of that size).
    pub fn parse_tpm2b(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let inner = r
            .vec_u16_be("TPM2B_PUBLIC.size")
            .map_err(Error::malformed("TPM2B_PUBLIC"))?;
        r.finish("TPM2B_PUBLIC")
            .map_err(Error::malformed("TPM2B_PUBLIC"))?;
        Self::parse(inner)
    }

    /// Parses a TPMT_PUBLIC at the reader's position, leaving the rest.
    pub fn parse_from(r: &mut Reader<'_>) -> Result<Self, Error> {
        let start = r.peek_rest();
        let before = r.remaining();
        let mut p = Self::parse_inner(r).map_err(Error::malformed("TPMT_PUBLIC"))?;
        p.raw = start.get(..before - r.remaining()).unwrap_or(&[]).to_vec();
        Ok(p)
    }

    fn parse_inner(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let alg = AlgId(r.u16_be("type")?);
        let name_alg = HashAlg(r.u16_be("nameAlg")?);
        let attributes = ObjectAttributes(r.u32_be("objectAttributes")?);
        let auth_policy = tpm2b(r, "authPolicy", 64)?.to_vec();
        let mut key_bits = None;
        let (symmetric, scheme, key) = match alg {
            AlgId::RSA => {
                let symmetric = sym_def(r)?;
                let scheme = scheme(r, "rsa scheme")?;
                let bits = r.u16_be("keyBits")?;
                key_bits = Some(bits);
                let exponent = r.u32_be("exponent")?;
                let n = tpm2b(r, "unique.rsa", MAX_RSA_BYTES)?;
                // An exponent of zero means the default, 2^16 + 1.
                let e = if exponent == 0 { 65537 } else { exponent };
                let key = PublicKey::Rsa {
                    n: strip_zeros(n),
                    e: strip_zeros(&e.to_be_bytes()),
                };
                (symmetric, scheme, Some(key))
            }
            AlgId::ECC => {
                let symmetric = sym_def(r)?;
                let scheme = scheme(r, "ecc scheme")?;
                let curve = EccCurve(r.u16_be("curveID")?);
                let _kdf = scheme_kdf(r)?;
                let x = tpm2b(r, "unique.ecc.x", MAX_ECC_BYTES)?;
                let y = tpm2b(r, "unique.ecc.y", MAX_ECC_BYTES)?;
                // Unsupported curves still parse; only verification needs the key.
                let key = PublicKey::ecc(curve, x, y).ok();
                (symmetric, scheme, key)
            }
            AlgId::KEYEDHASH => {
                let scheme = scheme(r, "keyedhash scheme")?;
                tpm2b(r, "unique.keyedHash", 64)?;
                (None, scheme, None)
            }
            AlgId::SYMCIPHER => {
                let symmetric = sym_def(r)?;
                tpm2b(r, "unique.sym", 64)?;
                (symmetric, None, None)
            }
            other => {
                return Err(r.invalid("type", format!("unknown TPMI_ALG_PUBLIC {other}")));
            }
        };
        Ok(Self {
            raw: Vec::new(),
            alg,
            name_alg,
            attributes,
            auth_policy,
            symmetric,
            scheme,
            key,
            key_bits,
        })
    }

    /// The object's name: nameAlg || H_nameAlg(TPMT_PUBLIC).
    pub fn name(&self) -> Result<Vec<u8>, Error> {
        let d = self
            .name_alg
            .hash(&self.raw)
            .ok_or_else(|| Error::Unsupported {
                what: "name algorithm",
                value: self.name_alg.to_string(),
            })?;
        let mut out = self.name_alg.0.to_be_bytes().to_vec();
        out.extend_from_slice(&d.bytes);
        Ok(out)
    }

    /// The public key, or an error naming the object type.
    pub fn public_key(&self) -> Result<&PublicKey, Error> {
        self.key.as_ref().ok_or_else(|| Error::Unsupported {
            what: "key object",
            value: format!("{} object without a usable public key", self.alg),
        })
    }
}

fn scheme_kdf(r: &mut Reader<'_>) -> Result<Option<Scheme>, CodecError> {
    let alg = AlgId(r.u16_be("kdf.scheme")?);
    if alg == AlgId::NULL {
        return Ok(None);
    }
    Ok(Some(Scheme {
        alg,
        hash: HashAlg(r.u16_be("kdf.hashAlg")?),
    }))
}

/// The qualified name of an object: nameAlg || H(parent's qualified name ||
/// name). A hierarchy's qualified name is its 4-byte handle (Part 1, 16).
pub fn qualified_name(name_alg: HashAlg, parent_qn: &[u8], name: &[u8]) -> Result<Vec<u8>, Error> {
    let mut h = name_alg.hasher().ok_or_else(|| Error::Unsupported {
        what: "name algorithm",
        value: name_alg.to_string(),
    })?;
    h.update(parent_qn);
    h.update(name);
    let mut out = name_alg.0.to_be_bytes().to_vec();
    out.extend_from_slice(&h.finish().bytes);
    Ok(out)
}

/// An attestation key as the verifier received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AkPublic {
    /// The key.
    pub key: PublicKey,
    /// The TPM public area, when the AK came in a TPM form.
    pub tpmt: Option<TpmtPublic>,
}

impl AkPublic {
    /// Reads an AK from PEM (`PUBLIC KEY` or `CERTIFICATE`), DER
    /// SubjectPublicKeyInfo or certificate, TPM2B_PUBLIC or TPMT_PUBLIC,
    /// recognised by content.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let text = bytes.trim_ascii_start();
        if text.starts_with(b"-----BEGIN") {
            let (_, pem) = x509_parser::pem::parse_x509_pem(text).map_err(|e| Error::Encoding {
                what: "PEM attestation key",
                reason: e.to_string(),
            })?;
            return match pem.label.as_str() {
                "PUBLIC KEY" => Self::from_bytes_der(&pem.contents),
                "CERTIFICATE" => {
                    let (_, cert) =
                        x509_parser::parse_x509_certificate(&pem.contents).map_err(|e| {
                            Error::Encoding {
                                what: "AK certificate",
                                reason: e.to_string(),
                            }
                        })?;
                    Ok(Self {
                        key: PublicKey::from_x509_spki(cert.public_key())?,
                        tpmt: None,
                    })
                }
                other => Err(Error::Unsupported {
                    what: "PEM label for an attestation key",
                    value: other.to_owned(),
                }),
            };
        }
        if bytes.first() == Some(&0x30) {
            return Self::from_bytes_der(bytes);
        }
        let tpm2b_len = bytes
            .get(..2)
            .and_then(|s| <[u8; 2]>::try_from(s).ok())
            .map(|s| usize::from(u16::from_be_bytes(s)));
        let tpmt = if tpm2b_len == Some(bytes.len().saturating_sub(2)) {
            TpmtPublic::parse_tpm2b(bytes)?
        } else {
            TpmtPublic::parse(bytes)?
        };
        Self::from_tpmt(tpmt)
    }

    fn from_bytes_der(der: &[u8]) -> Result<Self, Error> {
        let key = match PublicKey::from_spki_der(der) {
            Ok(k) => k,
            // An AK certificate in DER carries the key too.
            Err(spki_err) => match x509_parser::parse_x509_certificate(der) {
                Ok(([], cert)) => PublicKey::from_x509_spki(cert.public_key())?,
                _ => return Err(spki_err),
            },
        };
        Ok(Self { key, tpmt: None })
    }

    /// An AK from its TPM public area.
    pub fn from_tpmt(tpmt: TpmtPublic) -> Result<Self, Error> {
        let key = tpmt.public_key()?.clone();
        Ok(Self {
            key,
            tpmt: Some(tpmt),
        })
    }

    /// The AK's name, when its public area is known.
    pub fn name(&self) -> Option<Result<Vec<u8>, Error>> {
        self.tpmt.as_ref().map(TpmtPublic::name)
    }
}
