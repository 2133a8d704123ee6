//! Synthetic Arm CCA attestation tokens, signed with fresh aws-lc-rs keys,
//! for tests that need evidence no real platform made: a broker trusting a
//! private CPAK, realms bound to a session, broken variants.
//!
//! A [`Platform`] is a CCA platform: its CPAK ([`Platform::cpak_json`] is the
//! trust-anchor JSON `rootline-cca` reads) and its identity. It signs a token
//! for a realm described by a [`RealmSpec`] (challenge, personalization
//! value, measurements, the RAK's shape and the platform lifecycle the token
//! reports): [`Platform::token`]. [`kbs_evidence`] wraps a token as
//! guest-components' CCA attester sends it to a KBS.
//!
//! ```
//! use rootline_testkit::cca::{Curve, Platform, RealmSpec, kbs_evidence, pad64};
//! let platform = Platform::new(Curve::P384);
//! let spec = RealmSpec {
//!     challenge: pad64(&[0x9c; 48]), // e.g. the SHA-384 of the KBS runtime data
//!     ..RealmSpec::default()
//! };
//! let token = platform.token(&spec);
//! let evidence = kbs_evidence(&token); // {"token": [217, 1, 143, ...]}
//! # assert_eq!(evidence["token"][0], 0xd9);
//! ```
//!
//! For broken variants the parts are public too: the claims maps
//! ([`Platform::claims`], [`RealmSpec::claims`]) to edit before signing them
//! ([`Platform::sign`]), the keys ([`Key`]: JWK, COSE_Key, COSE_Sign1) and
//! the tag-399 [`collection`]. This module does not depend on `rootline-cca`
//! (whose tests use it), so it names curves with its own [`Curve`].
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciborium::Value;
use coset::{
    CborSerializable as _, CoseKeyBuilder, CoseSign1Builder, HeaderBuilder,
    TaggedCborSerializable as _, iana,
};

/// The platform instance ID every [`Platform`] reports (type byte 0x01, as
/// for an EAT UEID, then 32 bytes).
pub const INSTANCE_ID: [u8; 33] = {
    let mut a = [0x11; 33];
    a[0] = 0x01;
    a
};

/// The platform implementation ID every [`Platform`] reports.
pub const IMPLEMENTATION_ID: [u8; 32] = [0x22; 32];

/// An elliptic curve of a CPAK or RAK (CCA allows these three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256, signing ES256.
    P256,
    /// NIST P-384, signing ES384 (the TF-A reference platform's keys).
    P384,
    /// NIST P-521, signing ES512.
    P521,
}

impl Curve {
    /// The JWK `crv` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }

    /// The size of one coordinate, in bytes.
    pub fn field_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A CBOR map as a list of pairs, in order (a test may duplicate a label).
pub type Map = Vec<(Value, Value)>;

/// A CBOR integer.
pub fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

/// A CBOR text string.
pub fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// A CBOR byte string.
pub fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

/// `v` encoded as CBOR.
pub fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

/// The digest of `data` by a CCA hash name (`sha-256`, `sha-384`,
/// `sha-512`; anything else is taken as `sha-512`).
pub fn sha(alg: &str, data: &[u8]) -> Vec<u8> {
    let a = match alg {
        "sha-256" => &aws_lc_rs::digest::SHA256,
        "sha-384" => &aws_lc_rs::digest::SHA384,
        _ => &aws_lc_rs::digest::SHA512,
    };
    aws_lc_rs::digest::digest(a, data).as_ref().to_vec()
}

/// `b` zero-padded to 64 bytes, as a guest puts a shorter digest in the
/// realm challenge or the personalization value. Panics beyond 64 bytes.
pub fn pad64(b: &[u8]) -> [u8; 64] {
    assert!(b.len() <= 64, "{} bytes do not fit in 64", b.len());
    let mut out = [0u8; 64];
    out[..b.len()].copy_from_slice(b);
    out
}

/// The CCA token collection (CBOR tag 399) of a platform and a realm
/// COSE_Sign1.
pub fn collection(platform: &[u8], realm: &[u8]) -> Vec<u8> {
    cbor(&Value::Tag(
        399,
        Box::new(Value::Map(vec![
            (int(44234), bytes(platform)),
            (int(44241), bytes(realm)),
        ])),
    ))
}

/// The KBS `tee-evidence` (primary evidence) guest-components' CCA attester
/// sends for `token`: `{"token": [u8, ...]}`, serde's form of its
/// `CcaEvidence { token: Vec<u8> }`.
pub fn kbs_evidence(token: &[u8]) -> serde_json::Value {
    serde_json::json!({ "token": token })
}

/// An ECDSA key pair (a CPAK or a RAK) and its curve.
pub struct Key {
    pair: EcdsaKeyPair,
    curve: Curve,
}

impl Key {
    /// A fresh key on `curve`.
    pub fn new(curve: Curve) -> Self {
        let alg = match curve {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            Curve::P521 => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
        };
        Self {
            pair: EcdsaKeyPair::generate(alg).unwrap(),
            curve,
        }
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The COSE algorithm this key signs with.
    pub fn cose_alg(&self) -> iana::Algorithm {
        match self.curve {
            Curve::P256 => iana::Algorithm::ES256,
            Curve::P384 => iana::Algorithm::ES384,
            Curve::P521 => iana::Algorithm::ES512,
        }
    }

    /// The public key as an uncompressed SEC1 point (`04 || x || y`).
    pub fn point(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The public key's coordinates.
    pub fn xy(&self) -> (Vec<u8>, Vec<u8>) {
        let n = self.curve.field_len();
        (
            self.point()[1..1 + n].to_vec(),
            self.point()[1 + n..].to_vec(),
        )
    }

    /// The public key as a JWK (`cpak.json`'s form).
    pub fn jwk(&self) -> serde_json::Value {
        let (x, y) = self.xy();
        serde_json::json!({
            "kty": "EC",
            "crv": self.curve.name(),
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        })
    }

    /// The public key as an encoded COSE_Key, naming `alg` when given.
    pub fn cose_key(&self, alg: Option<iana::Algorithm>) -> Vec<u8> {
        let (x, y) = self.xy();
        let crv = match self.curve {
            Curve::P256 => iana::EllipticCurve::P_256,
            Curve::P384 => iana::EllipticCurve::P_384,
            Curve::P521 => iana::EllipticCurve::P_521,
        };
        let mut b = CoseKeyBuilder::new_ec2_pub_key(crv, x, y);
        if let Some(a) = alg {
            b = b.algorithm(a);
        }
        b.build().to_vec().unwrap()
    }

    /// A fixed-size (`r || s`) ECDSA signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&SystemRandom::new(), msg)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    /// A tagged COSE_Sign1 over `payload`, its protected header naming this
    /// key's algorithm.
    pub fn sign1(&self, payload: &[u8]) -> Vec<u8> {
        self.sign1_with(payload, HeaderBuilder::new().algorithm(self.cose_alg()))
    }

    /// A tagged COSE_Sign1 over `payload` with the protected header
    /// `protected` (for odd headers).
    pub fn sign1_with(&self, payload: &[u8], protected: HeaderBuilder) -> Vec<u8> {
        CoseSign1Builder::new()
            .protected(protected.build())
            .payload(payload.to_vec())
            .create_signature(b"", |tbs| self.sign(tbs))
            .build()
            .to_tagged_vec()
            .unwrap()
    }
}

/// What a token says about its realm (and the platform state it reports).
/// The default is the TF-A shape: a raw P-384 RAK hashed with sha-256, a
/// sha-512 realm, a secured platform (0x3003), an all-zero challenge.
#[derive(Debug, Clone)]
pub struct RealmSpec {
    /// The realm challenge: the KBS binding digest, zero-padded ([`pad64`]).
    pub challenge: [u8; 64],
    /// The realm personalization value (where an init-data digest goes).
    pub personalization_value: [u8; 64],
    /// The realm initial measurement (RIM), as long as `hash_alg` makes it.
    pub initial_measurement: Vec<u8>,
    /// The four realm extensible measurements (REM0..3).
    pub extensible_measurements: [Vec<u8>; 4],
    /// The realm hash algorithm (`sha-256` or `sha-512`).
    pub hash_alg: &'static str,
    /// The platform's security lifecycle as the token reports it (secured
    /// is 0x3000-0x30ff).
    pub lifecycle: u16,
    /// The RAK's curve, for [`Platform::token`] (which makes a fresh RAK).
    pub rak_curve: Curve,
    /// The RAK as a COSE_Key under the draft-ffm realm profile (else a raw
    /// point, as TF-A and RMM 1.0 send it).
    pub cose_rak: bool,
    /// The hash of the RAK in the platform challenge (`sha-256`, ...).
    pub rak_hash: &'static str,
}

impl Default for RealmSpec {
    fn default() -> Self {
        Self {
            challenge: [0; 64],
            personalization_value: [0x66; 64],
            initial_measurement: vec![0x77; 64],
            extensible_measurements: [vec![0; 64], vec![1; 64], vec![2; 64], vec![3; 64]],
            hash_alg: "sha-512",
            lifecycle: 0x3003,
            rak_curve: Curve::P384,
            cose_rak: false,
            rak_hash: "sha-256",
        }
    }
}

impl RealmSpec {
    /// The realm public-key claim for `rak`: a COSE_Key or a raw point.
    pub fn rak_claim(&self, rak: &Key) -> Vec<u8> {
        if self.cose_rak {
            rak.cose_key(Some(rak.cose_alg()))
        } else {
            rak.point().to_vec()
        }
    }

    /// The realm token's claims, for the RAK `rak`.
    pub fn claims(&self, rak: &Key) -> Map {
        let mut m = vec![
            (int(10), bytes(&self.challenge)),
            (int(44235), bytes(&self.personalization_value)),
            (int(44238), bytes(&self.initial_measurement)),
            (
                int(44239),
                Value::Array(
                    self.extensible_measurements
                        .iter()
                        .map(|r| bytes(r))
                        .collect(),
                ),
            ),
            (int(44236), text(self.hash_alg)),
            (int(44237), bytes(&self.rak_claim(rak))),
            (int(44240), text(self.rak_hash)),
        ];
        if self.cose_rak {
            m.push((int(265), text("tag:arm.com,2023:realm#1.0.0")));
        }
        m
    }
}

/// A CCA platform: its CPAK, which signs platform tokens, and its identity
/// ([`INSTANCE_ID`], [`IMPLEMENTATION_ID`]).
pub struct Platform {
    cpak: Key,
}

impl Platform {
    /// A platform with a fresh CPAK on `curve`.
    pub fn new(curve: Curve) -> Self {
        Self {
            cpak: Key::new(curve),
        }
    }

    /// The platform attestation key.
    pub fn cpak(&self) -> &Key {
        &self.cpak
    }

    /// The trust anchor for this platform, as a Veraison/Trustee store:
    /// `[{"pkey": JWK, "implementation-id": hex, "instance-id": hex}]`.
    /// Write it to a file for the broker's `cca_trust_anchors`, or give it
    /// to `TrustAnchors::from_json`.
    pub fn cpak_json(&self) -> serde_json::Value {
        serde_json::json!([{
            "pkey": self.cpak.jwk(),
            "implementation-id": hex(&IMPLEMENTATION_ID),
            "instance-id": hex(&INSTANCE_ID),
        }])
    }

    /// The platform token's claims for a realm of `spec` whose RAK is
    /// `rak`: the challenge binds the RAK claim by `spec.rak_hash`.
    pub fn claims(&self, spec: &RealmSpec, rak: &Key) -> Map {
        let component = Value::Map(vec![
            (int(1), text("BL")),
            (int(2), bytes(&[0x33; 32])),
            (int(4), text("1.0")),
            (int(5), bytes(&[0x44; 32])),
            (int(6), text("sha-256")),
        ]);
        let profile = if spec.cose_rak {
            "tag:arm.com,2023:cca_platform#1.0.0"
        } else {
            "http://arm.com/CCA-SSD/1.0.0"
        };
        vec![
            (int(265), text(profile)),
            (int(10), bytes(&sha(spec.rak_hash, &spec.rak_claim(rak)))),
            (int(2396), bytes(&IMPLEMENTATION_ID)),
            (int(256), bytes(&INSTANCE_ID)),
            (int(2401), bytes(&[0xcf; 4])),
            (int(2395), int(spec.lifecycle.into())),
            (int(2399), Value::Array(vec![component])),
            (int(2400), text("https://veraison.example")),
            (int(2402), text("sha-256")),
        ]
    }

    /// A token of the claims `platform` (signed with the CPAK) and `realm`
    /// (signed with `rak`), as they are: nothing is checked.
    pub fn sign(&self, platform: &Map, realm: &Map, rak: &Key) -> Vec<u8> {
        collection(
            &self.cpak.sign1(&cbor(&Value::Map(platform.clone()))),
            &rak.sign1(&cbor(&Value::Map(realm.clone()))),
        )
    }

    /// A token for a realm of `spec` with the RAK `rak`.
    pub fn token_with_rak(&self, spec: &RealmSpec, rak: &Key) -> Vec<u8> {
        self.sign(&self.claims(spec, rak), &spec.claims(rak), rak)
    }

    /// A token for a realm of `spec`, with a fresh RAK on `spec.rak_curve`.
    pub fn token(&self, spec: &RealmSpec) -> Vec<u8> {
        self.token_with_rak(spec, &Key::new(spec.rak_curve))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
