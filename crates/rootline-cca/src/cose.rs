//! COSE_Sign1 and EC public keys, decoded with `coset` and checked with
//! aws-lc-rs.
//!
//! Why not `ccatoken` (veraison/rust-ccatoken, which trustee's CCA verifier
//! uses): every published version (0.1.0 on crates.io, and the newest
//! upstream commit dfe9ca2) depends on `openssl` unconditionally (its own
//! EC point handling and hashing, plus `cose-rust`, whose default feature
//! vendors OpenSSL) and on `jsonwebtoken` 9 with `ring`; none of it is behind
//! a feature, so even decode-only use would put two more crypto providers in
//! the build, against the workspace rule that aws-lc-rs is the only one. Its
//! `verify()` also reports a failed signature or binding in the AR4SI trust
//! vector while returning `Ok`, which a caller has to remember to inspect.
//! So COSE is decoded with `coset` (pure CBOR, no crypto) and the ECDSA
//! verification is aws-lc-rs's; the claim rules follow `ccatoken`'s (see
//! `claims.rs`).
//!
//! The signature is checked over the COSE Sig_structure built from the
//! protected-header bytes and payload bytes exactly as received (`coset`
//! keeps the original protected bstr); nothing is re-serialised from parsed
//! values.

use std::fmt;

use aws_lc_rs::signature::{self, UnparsedPublicKey};
use coset::{
    CborSerializable, CoseKey, CoseSign1, KeyType, Label, RegisteredLabelWithPrivate,
    TaggedCborSerializable, iana,
};
use serde::{Serialize, Serializer};

use crate::error::{Error, Part, Result, malformed};

/// An elliptic curve of the keys CCA tokens use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (secp256r1).
    P256,
    /// NIST P-384 (secp384r1), the curve of the CPAK and RAK in TF-A/TF-RMM.
    P384,
    /// NIST P-521 (secp521r1).
    P521,
}

impl Curve {
    /// Bytes of one coordinate (and of each of r and s in a signature).
    pub fn field_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    /// The JWK / COSE name (`P-384`).
    pub fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "P-256" => Self::P256,
            "P-384" => Self::P384,
            "P-521" => Self::P521,
            _ => return None,
        })
    }
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A COSE signature algorithm accepted in CCA tokens (RFC 9053, section 2.1).
///
/// Each is ECDSA on the curve of the same size: ES256 on P-256, ES384 on
/// P-384, ES512 on P-521. A key on another curve is rejected rather than
/// mixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CoseAlg {
    /// ES256 (COSE -7): ECDSA P-256 with SHA-256.
    Es256,
    /// ES384 (COSE -35): ECDSA P-384 with SHA-384.
    Es384,
    /// ES512 (COSE -36): ECDSA P-521 with SHA-512.
    Es512,
}

impl CoseAlg {
    /// The COSE algorithm identifier (-7, -35, -36).
    pub fn id(self) -> i64 {
        match self {
            Self::Es256 => -7,
            Self::Es384 => -35,
            Self::Es512 => -36,
        }
    }

    /// The JOSE/COSE name (`ES384`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
        }
    }

    /// The curve the key must be on.
    pub fn curve(self) -> Curve {
        match self {
            Self::Es256 => Curve::P256,
            Self::Es384 => Curve::P384,
            Self::Es512 => Curve::P521,
        }
    }

    fn from_iana(a: iana::Algorithm) -> Option<Self> {
        Some(match a {
            iana::Algorithm::ES256 => Self::Es256,
            iana::Algorithm::ES384 => Self::Es384,
            iana::Algorithm::ES512 => Self::Es512,
            _ => return None,
        })
    }

    pub(crate) fn from_jose(name: &str) -> Option<Self> {
        Some(match name {
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "ES512" => Self::Es512,
            _ => return None,
        })
    }

    fn aws(self) -> &'static signature::EcdsaVerificationAlgorithm {
        match self {
            Self::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            Self::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
            Self::Es512 => &signature::ECDSA_P521_SHA512_FIXED,
        }
    }
}

impl fmt::Display for CoseAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for CoseAlg {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// An EC public key: the curve and the uncompressed SEC1 point
/// (`0x04 || x || y`), the form aws-lc-rs verifies with.
#[derive(Clone, PartialEq, Eq)]
pub struct EcKey {
    curve: Curve,
    point: Vec<u8>,
}

impl fmt::Debug for EcKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EcKey({}, {})", self.curve, hex::encode(&self.point))
    }
}

impl EcKey {
    /// A key from its affine coordinates, each exactly the curve's field size.
    pub(crate) fn from_xy(curve: Curve, x: &[u8], y: &[u8]) -> std::result::Result<Self, String> {
        let n = curve.field_len();
        if x.len() != n || y.len() != n {
            return Err(format!(
                "{curve} coordinates must be {n} bytes each, got x {} and y {}",
                x.len(),
                y.len()
            ));
        }
        let mut point = Vec::with_capacity(1 + 2 * n);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Ok(Self { curve, point })
    }

    /// A key from an uncompressed SEC1 point on `curve`.
    pub(crate) fn from_sec1(curve: Curve, point: &[u8]) -> std::result::Result<Self, String> {
        let n = curve.field_len();
        match point.split_first() {
            Some((0x04, xy)) if xy.len() == 2 * n => Ok(Self {
                curve,
                point: point.to_vec(),
            }),
            _ => Err(format!(
                "not an uncompressed {curve} point (0x04 then {} bytes), got {} bytes",
                2 * n,
                point.len()
            )),
        }
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The uncompressed SEC1 point.
    pub fn sec1(&self) -> &[u8] {
        &self.point
    }

    /// Verifies a fixed-size (r || s) ECDSA signature with aws-lc-rs. The
    /// algorithm must match the key's curve.
    pub(crate) fn verify(
        &self,
        alg: CoseAlg,
        message: &[u8],
        sig: &[u8],
    ) -> std::result::Result<(), String> {
        if alg.curve() != self.curve {
            return Err(format!(
                "{alg} needs a {} key, this one is {}",
                alg.curve(),
                self.curve
            ));
        }
        UnparsedPublicKey::new(alg.aws(), &self.point)
            .verify(message, sig)
            .map_err(|_| {
                format!(
                    "{alg} signature does not verify with this {} key",
                    self.curve
                )
            })
    }
}

/// A decoded COSE_Sign1 with what its signature covers, as received.
#[derive(Clone, Debug)]
pub(crate) struct Sign1 {
    pub(crate) alg: CoseAlg,
    /// The Sig_structure ("Signature1", protected bstr as received, empty
    /// external AAD, payload as received).
    pub(crate) tbs: Vec<u8>,
    pub(crate) signature: Vec<u8>,
    pub(crate) payload: Vec<u8>,
}

/// Decodes a COSE_Sign1 (tagged with 18 or untagged) that must carry its
/// payload, an ECDSA `alg` in the protected header and no critical headers.
pub(crate) fn parse_sign1(bytes: &[u8], part: Part) -> Result<Sign1> {
    // Tag 18 in its one-byte form; anything else is parsed as untagged and a
    // longer tag encoding fails there as "not an array".
    let parsed = if bytes.first() == Some(&0xd2) {
        CoseSign1::from_tagged_slice(bytes)
    } else {
        CoseSign1::from_slice(bytes)
    };
    let s = parsed.map_err(|e| malformed(part, format!("COSE_Sign1: {e}")))?;
    let ph = &s.protected.header;
    if !ph.crit.is_empty() {
        return Err(Error::Unsupported {
            field: "COSE critical header parameters",
            value: format!("{part}: {:?}", ph.crit),
        });
    }
    if s.unprotected.alg.is_some() {
        return Err(malformed(part, "alg is in the unprotected header"));
    }
    let alg = match &ph.alg {
        Some(RegisteredLabelWithPrivate::Assigned(a)) => {
            CoseAlg::from_iana(*a).ok_or_else(|| Error::Unsupported {
                field: "COSE algorithm",
                value: format!("{part}: {a:?}"),
            })?
        }
        Some(other) => {
            return Err(Error::Unsupported {
                field: "COSE algorithm",
                value: format!("{part}: {other:?}"),
            });
        }
        None => return Err(malformed(part, "no alg in the protected header")),
    };
    let want = 2 * alg.curve().field_len();
    if s.signature.len() != want {
        return Err(malformed(
            part,
            format!(
                "signature is {} bytes, {alg} needs {want}",
                s.signature.len()
            ),
        ));
    }
    let tbs = s.tbs_data(b"");
    let CoseSign1 {
        payload, signature, ..
    } = s;
    let payload = payload.ok_or_else(|| malformed(part, "detached payload"))?;
    Ok(Sign1 {
        alg,
        tbs,
        signature,
        payload,
    })
}

impl Sign1 {
    pub(crate) fn verify(&self, key: &EcKey) -> std::result::Result<(), String> {
        key.verify(self.alg, &self.tbs, &self.signature)
    }
}

/// Decodes a realm attestation key sent as a COSE_Key (the
/// `tag:arm.com,2023:realm#1.0.0` profile): EC2, P-256/384/521, x and y.
pub(crate) fn parse_cose_key(
    bytes: &[u8],
) -> std::result::Result<(EcKey, Option<CoseAlg>), String> {
    let k = CoseKey::from_slice(bytes).map_err(|e| format!("COSE_Key: {e}"))?;
    if k.kty != KeyType::Assigned(iana::KeyType::EC2) {
        return Err(format!("key type {:?}, expected EC2", k.kty));
    }
    let alg = match &k.alg {
        None => None,
        Some(RegisteredLabelWithPrivate::Assigned(a)) => Some(
            CoseAlg::from_iana(*a).ok_or_else(|| format!("key algorithm {a:?} is not ECDSA"))?,
        ),
        Some(other) => return Err(format!("key algorithm {other:?} is not ECDSA")),
    };
    let (mut crv, mut x, mut y) = (None, None, None);
    for (label, value) in &k.params {
        let slot = match label {
            Label::Int(l) if *l == iana::Ec2KeyParameter::Crv as i64 => &mut crv,
            Label::Int(l) if *l == iana::Ec2KeyParameter::X as i64 => &mut x,
            Label::Int(l) if *l == iana::Ec2KeyParameter::Y as i64 => &mut y,
            Label::Int(l) if *l == iana::Ec2KeyParameter::D as i64 => {
                return Err("holds a private key (d)".into());
            }
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(format!("duplicate parameter {label:?}"));
        }
    }
    let curve = match crv.and_then(|v| v.as_integer()).map(i128::from) {
        Some(c) if c == iana::EllipticCurve::P_256 as i128 => Curve::P256,
        Some(c) if c == iana::EllipticCurve::P_384 as i128 => Curve::P384,
        Some(c) if c == iana::EllipticCurve::P_521 as i128 => Curve::P521,
        Some(c) => return Err(format!("curve {c} is not P-256, P-384 or P-521")),
        None => return Err("no integer crv".into()),
    };
    let x = x
        .and_then(|v| v.as_bytes())
        .ok_or("no x coordinate (bstr)")?;
    let y = match y {
        Some(v) => v
            .as_bytes()
            .ok_or("compressed points (y as bool) are not supported")?,
        None => return Err("no y coordinate".into()),
    };
    let key = EcKey::from_xy(curve, x, y)?;
    match alg {
        Some(a) if a.curve() != curve => {
            Err(format!("key algorithm {a} does not fit curve {curve}"))
        }
        _ => Ok((key, alg)),
    }
}
