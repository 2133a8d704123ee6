//! The claims of a CCA token, decoded once from the signed payload bytes into
//! typed structures.
//!
//! Labels, sizes and which claims are mandatory follow the RMM
//! specification (v1.0, section A7.2.3) as `ccatoken` (veraison) and hence
//! trustee read them: unknown claims in the platform and realm maps are
//! ignored (upstream has tests that require it), a duplicated claim is
//! rejected, a software component with an unknown key is rejected. Both
//! platform profiles are accepted: the TF-A one
//! (`http://arm.com/CCA-SSD/1.0.0`) and the one of draft-ffm-rats-cca-token
//! (`tag:arm.com,2023:cca_platform#1.0.0`). A realm token carrying the
//! profile claim `tag:arm.com,2023:realm#1.0.0` sends its public key as a
//! COSE_Key; without it, as a raw 97-byte P-384 point.
//!
//! Measurement sizes (32, 48 or 64 bytes) are not cross-checked against the
//! hash algorithm claims, as upstream does not either; the signature covers
//! both and appraisal compares values.
//!
//! Hash algorithms are the IANA text names (`sha-256`, `sha-384`,
//! `sha-512`); `ccatoken` takes only the first and the last, rootline also
//! the middle one, which it can compute just as well. Claims serialise with
//! bytes in lower-case hex and hash algorithms as rootline names them
//! everywhere (`sha256`).

use std::collections::BTreeMap;
use std::fmt;

use ciborium::Value;
use rootline_core::HashAlg;
use serde::Serialize;

use crate::cose::{self, CoseAlg, Curve, EcKey};
use crate::error::{Error, Part, Result, claim, malformed};

/// The platform profile of TF-A tokens (RMM v1.0-eac, "CCA-SSD").
pub const PLATFORM_PROFILE_LEGACY: &str = "http://arm.com/CCA-SSD/1.0.0";
/// The platform profile of draft-ffm-rats-cca-token-00.
pub const PLATFORM_PROFILE: &str = "tag:arm.com,2023:cca_platform#1.0.0";
/// The realm profile of draft-ffm-rats-cca-token-00 (RAK as a COSE_Key).
pub const REALM_PROFILE: &str = "tag:arm.com,2023:realm#1.0.0";

/// Bytes of the realm challenge (and of the caller's nonce once padded).
pub const CHALLENGE_LEN: usize = 64;

mod label {
    pub(super) const CHALLENGE: i128 = 10;
    pub(super) const PROFILE: i128 = 265;
    pub(super) const INSTANCE_ID: i128 = 256;
    pub(super) const LIFECYCLE: i128 = 2395;
    pub(super) const IMPLEMENTATION_ID: i128 = 2396;
    pub(super) const SW_COMPONENTS: i128 = 2399;
    pub(super) const VERIFICATION_SERVICE: i128 = 2400;
    pub(super) const CONFIG: i128 = 2401;
    pub(super) const PLATFORM_HASH_ALG: i128 = 2402;
    pub(super) const PERSONALIZATION_VALUE: i128 = 44235;
    pub(super) const REALM_HASH_ALG: i128 = 44236;
    pub(super) const PUBLIC_KEY: i128 = 44237;
    pub(super) const INITIAL_MEASUREMENT: i128 = 44238;
    pub(super) const EXTENSIBLE_MEASUREMENTS: i128 = 44239;
    pub(super) const PUBLIC_KEY_HASH_ALG: i128 = 44240;
    // Software component map.
    pub(super) const SWC_MEASUREMENT_TYPE: i128 = 1;
    pub(super) const SWC_MEASUREMENT_VALUE: i128 = 2;
    pub(super) const SWC_VERSION: i128 = 4;
    pub(super) const SWC_SIGNER_ID: i128 = 5;
    pub(super) const SWC_HASH_ALG: i128 = 6;
}

/// Everything a CCA token claims: the platform's claims and the realm's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// From the platform token, signed by the CPAK.
    pub platform: PlatformClaims,
    /// From the realm token, signed by the RAK.
    pub realm: RealmClaims,
}

/// The platform claims-set (RMM v1.0, A7.2.3.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlatformClaims {
    /// 265: the profile (see [`PLATFORM_PROFILE_LEGACY`], [`PLATFORM_PROFILE`]).
    pub profile: String,
    /// 10: the platform challenge, the hash of the realm attestation key
    /// (32, 48 or 64 bytes).
    #[serde(with = "hexser")]
    pub challenge: Vec<u8>,
    /// 2396: the implementation ID (32 bytes).
    #[serde(with = "hexser")]
    pub implementation_id: [u8; 32],
    /// 256: the instance ID, a UEID naming the CPAK (33 bytes).
    #[serde(with = "hexser")]
    pub instance_id: [u8; 33],
    /// 2401: the platform configuration.
    #[serde(with = "hexser")]
    pub config: Vec<u8>,
    /// 2395: the security lifecycle.
    pub lifecycle: Lifecycle,
    /// 2399: the measured software components (at least one).
    pub sw_components: Vec<SwComponent>,
    /// 2400: the verification service indicator, if any.
    pub verification_service: Option<String>,
    /// 2402: the hash algorithm of the platform's measurements.
    pub hash_alg: HashAlg,
}

/// One measured platform software component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SwComponent {
    /// 1: the measurement type (`BL`, `RMM`...), if given.
    pub measurement_type: Option<String>,
    /// 2: the measurement value (32, 48 or 64 bytes).
    #[serde(with = "hexser")]
    pub measurement_value: Vec<u8>,
    /// 4: the version, if given.
    pub version: Option<String>,
    /// 5: the signer ID (hash of the signing key).
    #[serde(with = "hexser")]
    pub signer_id: Vec<u8>,
    /// 6: the hash algorithm of the measurement, if given.
    pub hash_alg: Option<HashAlg>,
}

/// The realm claims-set (RMM v1.0, A7.2.3.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RealmClaims {
    /// 265: the realm profile, present in draft-ffm-rats-cca-token tokens.
    pub profile: Option<String>,
    /// 10: the realm challenge, the caller's nonce (64 bytes).
    #[serde(with = "hexser")]
    pub challenge: [u8; 64],
    /// 44235: the realm personalization value (64 bytes).
    #[serde(with = "hexser")]
    pub personalization_value: [u8; 64],
    /// 44238: the realm initial measurement (32, 48 or 64 bytes).
    #[serde(with = "hexser")]
    pub initial_measurement: Vec<u8>,
    /// 44239: the four realm extensible measurements.
    #[serde(with = "hexser::list")]
    pub extensible_measurements: [Vec<u8>; 4],
    /// 44236: the hash algorithm of the realm measurements.
    pub hash_alg: HashAlg,
    /// 44237: the realm attestation key (RAK) exactly as received: a raw
    /// P-384 point, or a COSE_Key under [`REALM_PROFILE`].
    #[serde(with = "hexser")]
    pub public_key: Vec<u8>,
    /// 44240: the hash algorithm the platform challenge uses over the RAK.
    pub public_key_hash_alg: HashAlg,
}

/// The platform security lifecycle (RMM v1.0, A7.2.3.2: high byte the state,
/// low byte implementation defined). Values outside the defined states are
/// rejected at decode time, as `ccatoken` does; whether a state is good
/// enough is for policy.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Lifecycle(pub u16);

impl Lifecycle {
    /// 0x00xx: unknown.
    pub const UNKNOWN: Self = Self(0x0000);
    /// 0x10xx: assembly and test.
    pub const ASSEMBLY_AND_TEST: Self = Self(0x1000);
    /// 0x20xx: CCA platform root of trust provisioning.
    pub const ROT_PROVISIONING: Self = Self(0x2000);
    /// 0x30xx: secured.
    pub const SECURED: Self = Self(0x3000);
    /// 0x40xx: non-CCA-platform-RoT debug.
    pub const NON_ROT_DEBUG: Self = Self(0x4000);
    /// 0x50xx: recoverable CCA platform RoT debug.
    pub const RECOVERABLE_ROT_DEBUG: Self = Self(0x5000);
    /// 0x60xx: decommissioned.
    pub const DECOMMISSIONED: Self = Self(0x6000);

    /// The state without its implementation-defined low byte.
    pub fn state(self) -> Self {
        Self(self.0 & 0xff00)
    }

    /// The state's name, or `None` outside the defined states.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.state() {
            Self::UNKNOWN => "unknown",
            Self::ASSEMBLY_AND_TEST => "assembly-and-test",
            Self::ROT_PROVISIONING => "cca-platform-rot-provisioning",
            Self::SECURED => "secured",
            Self::NON_ROT_DEBUG => "non-cca-platform-rot-debug",
            Self::RECOVERABLE_ROT_DEBUG => "recoverable-cca-platform-rot-debug",
            Self::DECOMMISSIONED => "decommissioned",
            _ => return None,
        })
    }

    /// Whether the platform is in the secured state.
    pub fn is_secured(self) -> bool {
        self.state() == Self::SECURED
    }
}

impl fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (0x{:04x})",
            self.name().unwrap_or("undefined"),
            self.0
        )
    }
}

/// Serde helpers: bytes as lower-case hex.
mod hexser {
    use serde::Serializer;

    pub(super) fn serialize<S: Serializer, T: AsRef<[u8]>>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v.as_ref()))
    }

    pub(super) mod list {
        use serde::Serializer;
        use serde::ser::SerializeSeq;

        pub(in super::super) fn serialize<S: Serializer>(
            v: &[Vec<u8>; 4],
            s: S,
        ) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for m in v {
                seq.serialize_element(&hex::encode(m))?;
            }
            seq.end()
        }
    }
}

/// Decodes one CBOR item that must fill `bytes` exactly. ciborium grows its
/// buffers as bytes arrive (no allocation sized by a length prefix) and
/// limits nesting; the caller has already bounded the input size.
pub(crate) fn read_cbor(bytes: &[u8], part: Part, what: &str) -> Result<Value> {
    let mut rest = bytes;
    let v: Value =
        ciborium::from_reader(&mut rest).map_err(|e| malformed(part, format!("{what}: {e}")))?;
    if !rest.is_empty() {
        return Err(malformed(
            part,
            format!("{what}: {} trailing bytes", rest.len()),
        ));
    }
    Ok(v)
}

/// A claims map by integer label. Duplicated labels are rejected; non-integer
/// labels (which CCA does not define) are skipped.
fn claim_map(v: Value, part: Part, what: &str) -> Result<BTreeMap<i128, Value>> {
    let Value::Map(entries) = v else {
        return Err(malformed(part, format!("{what} is not a CBOR map")));
    };
    let mut m = BTreeMap::new();
    for (k, v) in entries {
        if let Value::Integer(i) = k {
            let i = i128::from(i);
            if m.insert(i, v).is_some() {
                return Err(malformed(part, format!("{what}: duplicated label {i}")));
            }
        }
    }
    Ok(m)
}

fn required(
    m: &mut BTreeMap<i128, Value>,
    key: i128,
    part: Part,
    name: &'static str,
) -> Result<Value> {
    m.remove(&key)
        .ok_or(Error::MissingClaim { part, claim: name })
}

fn bytes(v: Value, part: Part, name: &'static str) -> Result<Vec<u8>> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(claim(part, name, "not a byte string")),
    }
}

fn fixed<const N: usize>(v: Value, part: Part, name: &'static str) -> Result<[u8; N]> {
    let b = bytes(v, part, name)?;
    let len = b.len();
    <[u8; N]>::try_from(b).map_err(|_| claim(part, name, format!("{len} bytes, expected {N}")))
}

fn measurement(v: Value, part: Part, name: &'static str) -> Result<Vec<u8>> {
    let b = bytes(v, part, name)?;
    match b.len() {
        32 | 48 | 64 => Ok(b),
        n => Err(claim(
            part,
            name,
            format!("{n} bytes, expected 32, 48 or 64"),
        )),
    }
}

fn text(v: Value, part: Part, name: &'static str) -> Result<String> {
    match v {
        Value::Text(t) => Ok(t),
        _ => Err(claim(part, name, "not a text string")),
    }
}

/// The IANA "Named Information Hash Algorithm" names CCA uses.
fn hash_alg_claim(v: Value, part: Part, name: &'static str) -> Result<HashAlg> {
    let t = text(v, part, name)?;
    match t.as_str() {
        "sha-256" => Ok(HashAlg::SHA256),
        "sha-384" => Ok(HashAlg::SHA384),
        "sha-512" => Ok(HashAlg::SHA512),
        _ => Err(claim(
            part,
            name,
            format!("unsupported hash algorithm {t:?} (sha-256, sha-384 or sha-512)"),
        )),
    }
}

impl PlatformClaims {
    /// Decodes a platform claims-set (the payload of the platform token).
    /// Nothing is verified: use [`crate::verify`] for that.
    pub fn from_cbor(payload: &[u8]) -> Result<Self> {
        const P: Part = Part::Platform;
        let mut m = claim_map(read_cbor(payload, P, "claims")?, P, "claims")?;
        let profile = text(
            required(&mut m, label::PROFILE, P, "profile")?,
            P,
            "profile",
        )?;
        if profile != PLATFORM_PROFILE_LEGACY && profile != PLATFORM_PROFILE {
            return Err(Error::Unsupported {
                field: "platform profile",
                value: profile,
            });
        }
        let challenge = measurement(
            required(&mut m, label::CHALLENGE, P, "challenge")?,
            P,
            "challenge",
        )?;
        let implementation_id = fixed(
            required(&mut m, label::IMPLEMENTATION_ID, P, "implementation-id")?,
            P,
            "implementation-id",
        )?;
        let instance_id = fixed(
            required(&mut m, label::INSTANCE_ID, P, "instance-id")?,
            P,
            "instance-id",
        )?;
        let config = bytes(required(&mut m, label::CONFIG, P, "config")?, P, "config")?;
        let lifecycle = lifecycle(required(&mut m, label::LIFECYCLE, P, "lifecycle")?)?;
        let sw_components =
            sw_components(required(&mut m, label::SW_COMPONENTS, P, "sw-components")?)?;
        let verification_service = m
            .remove(&label::VERIFICATION_SERVICE)
            .map(|v| text(v, P, "verification-service"))
            .transpose()?;
        let hash_alg = hash_alg_claim(
            required(&mut m, label::PLATFORM_HASH_ALG, P, "hash-algo-id")?,
            P,
            "hash-algo-id",
        )?;
        Ok(Self {
            profile,
            challenge,
            implementation_id,
            instance_id,
            config,
            lifecycle,
            sw_components,
            verification_service,
            hash_alg,
        })
    }
}

fn lifecycle(v: Value) -> Result<Lifecycle> {
    const P: Part = Part::Platform;
    let Value::Integer(i) = v else {
        return Err(claim(P, "lifecycle", "not an integer"));
    };
    let i = i128::from(i);
    let lc = u16::try_from(i)
        .ok()
        .map(Lifecycle)
        .filter(|l| l.name().is_some());
    lc.ok_or_else(|| claim(P, "lifecycle", format!("undefined lifecycle 0x{i:x}")))
}

fn sw_components(v: Value) -> Result<Vec<SwComponent>> {
    const P: Part = Part::Platform;
    let Value::Array(items) = v else {
        return Err(claim(P, "sw-components", "not an array"));
    };
    if items.is_empty() {
        return Err(claim(P, "sw-components", "empty"));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            sw_component(item)
                .map_err(|reason| claim(P, "sw-components", format!("component {i}: {reason}")))
        })
        .collect()
}

fn sw_component(v: Value) -> std::result::Result<SwComponent, String> {
    let Value::Map(entries) = v else {
        return Err("not a map".into());
    };
    let mut m = BTreeMap::new();
    for (k, v) in entries {
        let Value::Integer(i) = k else {
            return Err("non-integer key".into());
        };
        let i = i128::from(i);
        if !matches!(
            i,
            label::SWC_MEASUREMENT_TYPE
                | label::SWC_MEASUREMENT_VALUE
                | label::SWC_VERSION
                | label::SWC_SIGNER_ID
                | label::SWC_HASH_ALG
        ) {
            return Err(format!("unknown key {i}"));
        }
        if m.insert(i, v).is_some() {
            return Err(format!("duplicated key {i}"));
        }
    }
    let txt = |v: Value, name: &str| match v {
        Value::Text(t) => Ok(t),
        _ => Err(format!("{name} is not a text string")),
    };
    let measurement_type = m
        .remove(&label::SWC_MEASUREMENT_TYPE)
        .map(|v| txt(v, "measurement-type"))
        .transpose()?;
    let measurement_value = match m.remove(&label::SWC_MEASUREMENT_VALUE) {
        Some(Value::Bytes(b)) if matches!(b.len(), 32 | 48 | 64) => b,
        Some(Value::Bytes(b)) => {
            return Err(format!(
                "measurement-value is {} bytes, expected 32, 48 or 64",
                b.len()
            ));
        }
        Some(_) => return Err("measurement-value is not a byte string".into()),
        None => return Err("missing measurement-value".into()),
    };
    let version = m
        .remove(&label::SWC_VERSION)
        .map(|v| txt(v, "version"))
        .transpose()?;
    let signer_id = match m.remove(&label::SWC_SIGNER_ID) {
        Some(Value::Bytes(b)) => b,
        Some(_) => return Err("signer-id is not a byte string".into()),
        None => return Err("missing signer-id".into()),
    };
    let hash_alg = m
        .remove(&label::SWC_HASH_ALG)
        .map(|v| hash_alg_claim(v, Part::Platform, "hash-algo-id").map_err(|e| e.to_string()))
        .transpose()?;
    Ok(SwComponent {
        measurement_type,
        measurement_value,
        version,
        signer_id,
        hash_alg,
    })
}

/// A decoded realm attestation key and the algorithm its COSE_Key names.
#[derive(Clone, Debug)]
pub(crate) struct Rak {
    pub(crate) key: EcKey,
    pub(crate) alg: Option<CoseAlg>,
}

impl RealmClaims {
    /// Decodes a realm claims-set (the payload of the realm token), including
    /// its public key. Nothing is verified: use [`crate::verify`] for that.
    pub fn from_cbor(payload: &[u8]) -> Result<Self> {
        decode_realm(payload).map(|(c, _)| c)
    }
}

pub(crate) fn decode_realm(payload: &[u8]) -> Result<(RealmClaims, Rak)> {
    const R: Part = Part::Realm;
    let mut m = claim_map(read_cbor(payload, R, "claims")?, R, "claims")?;
    let profile = m
        .remove(&label::PROFILE)
        .map(|v| text(v, R, "profile"))
        .transpose()?;
    if let Some(p) = profile.as_deref().filter(|p| *p != REALM_PROFILE) {
        return Err(Error::Unsupported {
            field: "realm profile",
            value: p.to_owned(),
        });
    }
    let challenge = fixed(
        required(&mut m, label::CHALLENGE, R, "challenge")?,
        R,
        "challenge",
    )?;
    let personalization_value = fixed(
        required(
            &mut m,
            label::PERSONALIZATION_VALUE,
            R,
            "personalization-value",
        )?,
        R,
        "personalization-value",
    )?;
    let initial_measurement = measurement(
        required(&mut m, label::INITIAL_MEASUREMENT, R, "initial-measurement")?,
        R,
        "initial-measurement",
    )?;
    let extensible_measurements = rems(required(
        &mut m,
        label::EXTENSIBLE_MEASUREMENTS,
        R,
        "extensible-measurements",
    )?)?;
    let hash_alg = hash_alg_claim(
        required(&mut m, label::REALM_HASH_ALG, R, "hash-algo-id")?,
        R,
        "hash-algo-id",
    )?;
    let public_key = bytes(
        required(&mut m, label::PUBLIC_KEY, R, "public-key")?,
        R,
        "public-key",
    )?;
    let public_key_hash_alg = hash_alg_claim(
        required(
            &mut m,
            label::PUBLIC_KEY_HASH_ALG,
            R,
            "public-key-hash-algo-id",
        )?,
        R,
        "public-key-hash-algo-id",
    )?;
    let rak = if profile.is_some() {
        cose::parse_cose_key(&public_key)
            .map(|(key, alg)| Rak { key, alg })
            .map_err(|e| claim(R, "public-key", e))?
    } else {
        // The RMM v1.0-eac format: the uncompressed P-384 point.
        EcKey::from_sec1(Curve::P384, &public_key)
            .map(|key| Rak { key, alg: None })
            .map_err(|e| claim(R, "public-key", e))?
    };
    Ok((
        RealmClaims {
            profile,
            challenge,
            personalization_value,
            initial_measurement,
            extensible_measurements,
            hash_alg,
            public_key,
            public_key_hash_alg,
        },
        rak,
    ))
}

fn rems(v: Value) -> Result<[Vec<u8>; 4]> {
    const R: Part = Part::Realm;
    const NAME: &str = "extensible-measurements";
    let Value::Array(items) = v else {
        return Err(claim(R, NAME, "not an array"));
    };
    let n = items.len();
    let items: [Value; 4] = items
        .try_into()
        .map_err(|_| claim(R, NAME, format!("{n} slots, expected 4")))?;
    let mut out: [Vec<u8>; 4] = Default::default();
    for (slot, (i, item)) in out.iter_mut().zip(items.into_iter().enumerate()) {
        *slot = match item {
            Value::Bytes(b) if matches!(b.len(), 32 | 48 | 64) => b,
            Value::Bytes(b) => {
                let n = b.len();
                return Err(claim(
                    R,
                    NAME,
                    format!("slot {i}: {n} bytes, expected 32, 48 or 64"),
                ));
            }
            _ => return Err(claim(R, NAME, format!("slot {i}: not a byte string"))),
        };
    }
    Ok(out)
}
