//! TPMT_SIGNATURE (Part 2, 11.3.4) and its verification with aws-lc-rs.
//!
//! RSASSA-PKCS1-v1_5 and RSASSA-PSS (SHA-1/256/384/512) and ECDSA on P-256
//! and P-384 with the hashes aws-lc-rs offers for each curve. The TPM's
//! ECDSA signature is a pair of big-endian integers; it is re-encoded as a
//! DER Ecdsa-Sig-Value for aws-lc-rs (the message is never re-encoded).

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use rootline_core::{CodecError, HashAlg, Reader};

use crate::der;
use crate::error::Error;
use crate::public::{MAX_ECC_BYTES, MAX_RSA_BYTES, PublicKey};
use crate::types::{AlgId, EccCurve};

/// A parsed TPMT_SIGNATURE.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TpmtSignature {
    /// RSASSA-PKCS1-v1_5 or RSASSA-PSS.
    Rsa {
        /// TPM_ALG_RSASSA or TPM_ALG_RSAPSS.
        scheme: AlgId,
        /// The hash signed.
        hash: HashAlg,
        /// The signature, as long as the modulus.
        sig: Vec<u8>,
    },
    /// ECDSA (and the other ECC schemes, which share the layout).
    Ecc {
        /// TPM_ALG_ECDSA, ECDAA, SM2 or ECSCHNORR.
        scheme: AlgId,
        /// The hash signed.
        hash: HashAlg,
        /// r, big-endian.
        r: Vec<u8>,
        /// s, big-endian.
        s: Vec<u8>,
    },
    /// An HMAC (TPMT_HA).
    Hmac {
        /// The hash.
        hash: HashAlg,
        /// The digest.
        digest: Vec<u8>,
    },
    /// TPM_ALG_NULL: no signature.
    Null,
}

fn tpm2b<'a>(r: &mut Reader<'a>, field: &'static str, max: usize) -> Result<&'a [u8], CodecError> {
    let len = usize::from(r.u16_be(field)?);
    if len > max {
        return Err(r.invalid(field, format!("{len} bytes, at most {max} allowed")));
    }
    r.take(len, field)
}

impl TpmtSignature {
    /// Parses a marshalled TPMT_SIGNATURE; every byte must belong to it.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let s = Self::parse_inner(&mut r).map_err(Error::malformed("TPMT_SIGNATURE"))?;
        r.finish("TPMT_SIGNATURE")
            .map_err(Error::malformed("TPMT_SIGNATURE"))?;
        Ok(s)
    }

    fn parse_inner(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let alg = AlgId(r.u16_be("sigAlg")?);
        Ok(match alg {
            AlgId::RSASSA | AlgId::RSAPSS => Self::Rsa {
                scheme: alg,
                hash: HashAlg(r.u16_be("signature.hash")?),
                sig: tpm2b(r, "signature.sig", MAX_RSA_BYTES)?.to_vec(),
            },
            AlgId::ECDSA | AlgId::ECDAA | AlgId::SM2 | AlgId::ECSCHNORR => Self::Ecc {
                scheme: alg,
                hash: HashAlg(r.u16_be("signature.hash")?),
                r: tpm2b(r, "signature.signatureR", MAX_ECC_BYTES)?.to_vec(),
                s: tpm2b(r, "signature.signatureS", MAX_ECC_BYTES)?.to_vec(),
            },
            AlgId::HMAC => {
                let hash = HashAlg(r.u16_be("signature.hashAlg")?);
                let len = hash.digest_len().ok_or_else(|| {
                    r.invalid("signature.hashAlg", format!("unknown hash {hash}"))
                })?;
                Self::Hmac {
                    hash,
                    digest: r.take(len, "signature.digest")?.to_vec(),
                }
            }
            AlgId::NULL => Self::Null,
            other => return Err(r.invalid("sigAlg", format!("unknown signature scheme {other}"))),
        })
    }

    /// The signature scheme.
    pub fn scheme(&self) -> AlgId {
        match self {
            Self::Rsa { scheme, .. } | Self::Ecc { scheme, .. } => *scheme,
            Self::Hmac { .. } => AlgId::HMAC,
            Self::Null => AlgId::NULL,
        }
    }

    /// The hash the signer used, `None` for TPM_ALG_NULL.
    pub fn hash(&self) -> Option<HashAlg> {
        match self {
            Self::Rsa { hash, .. } | Self::Ecc { hash, .. } | Self::Hmac { hash, .. } => {
                Some(*hash)
            }
            Self::Null => None,
        }
    }

    /// Checks this signature over `message` (the bytes received) with `key`.
    /// `what` names the signed thing in the error.
    pub fn verify(&self, key: &PublicKey, message: &[u8], what: &str) -> Result<(), Error> {
        let bad = |key: &str| Error::BadSignature {
            what: what.to_owned(),
            key: key.to_owned(),
        };
        let unsupported = |value: String| Error::Unsupported {
            what: "signature scheme",
            value,
        };
        match (self, key) {
            (Self::Rsa { scheme, hash, sig }, PublicKey::Rsa { n, e }) => {
                let params: &'static signature::RsaParameters = match (*scheme, *hash) {
                    (AlgId::RSASSA, HashAlg::SHA1) => {
                        &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
                    }
                    (AlgId::RSASSA, HashAlg::SHA256) => &signature::RSA_PKCS1_2048_8192_SHA256,
                    (AlgId::RSASSA, HashAlg::SHA384) => &signature::RSA_PKCS1_2048_8192_SHA384,
                    (AlgId::RSASSA, HashAlg::SHA512) => &signature::RSA_PKCS1_2048_8192_SHA512,
                    (AlgId::RSAPSS, HashAlg::SHA256) => &signature::RSA_PSS_2048_8192_SHA256,
                    (AlgId::RSAPSS, HashAlg::SHA384) => &signature::RSA_PSS_2048_8192_SHA384,
                    (AlgId::RSAPSS, HashAlg::SHA512) => &signature::RSA_PSS_2048_8192_SHA512,
                    (s, h) => return Err(unsupported(format!("{s} with {h}"))),
                };
                let label = format!("RSA-{} attestation key", key.bits());
                RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                }
                .verify(params, message, sig)
                .map_err(|_| bad(&label))
            }
            (Self::Ecc { scheme, hash, r, s }, PublicKey::Ecc { curve, .. }) => {
                if *scheme != AlgId::ECDSA {
                    return Err(unsupported(scheme.to_string()));
                }
                let alg: &'static signature::EcdsaVerificationAlgorithm = match (*curve, *hash) {
                    (EccCurve::NIST_P256, HashAlg::SHA1) => &signature::ECDSA_P256_SHA1_ASN1,
                    (EccCurve::NIST_P256, HashAlg::SHA256) => &signature::ECDSA_P256_SHA256_ASN1,
                    (EccCurve::NIST_P256, HashAlg::SHA384) => &signature::ECDSA_P256_SHA384_ASN1,
                    (EccCurve::NIST_P256, HashAlg::SHA512) => &signature::ECDSA_P256_SHA512_ASN1,
                    (EccCurve::NIST_P384, HashAlg::SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
                    (EccCurve::NIST_P384, HashAlg::SHA384) => &signature::ECDSA_P384_SHA384_ASN1,
                    (EccCurve::NIST_P384, HashAlg::SHA512) => &signature::ECDSA_P384_SHA512_ASN1,
                    (EccCurve::NIST_P521, HashAlg::SHA256) => &signature::ECDSA_P521_SHA256_ASN1,
                    (EccCurve::NIST_P521, HashAlg::SHA384) => &signature::ECDSA_P521_SHA384_ASN1,
                    (EccCurve::NIST_P521, HashAlg::SHA512) => &signature::ECDSA_P521_SHA512_ASN1,
                    (c, h) => return Err(unsupported(format!("ecdsa on {c} with {h}"))),
                };
                let point = key.ec_point().unwrap_or_default();
                let sig = der::ecdsa_sig(r, s);
                UnparsedPublicKey::new(alg, &point)
                    .verify(message, &sig)
                    .map_err(|_| bad(&format!("ECC {curve} attestation key")))
            }
            (Self::Rsa { .. }, PublicKey::Ecc { .. })
            | (Self::Ecc { .. }, PublicKey::Rsa { .. }) => Err(Error::SchemeMismatch {
                reason: format!(
                    "a {} signature cannot come from an {} key",
                    self.scheme(),
                    match key {
                        PublicKey::Rsa { .. } => "RSA",
                        PublicKey::Ecc { .. } => "ECC",
                    }
                ),
            }),
            (Self::Hmac { .. } | Self::Null, _) => Err(Error::SchemeMismatch {
                reason: format!(
                    "a {} signature proves nothing to a remote verifier",
                    self.scheme()
                ),
            }),
        }
    }
}
