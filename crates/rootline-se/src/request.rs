//! The attestation request control block (ARCB): what the relying party
//! sends to the Ultravisor, through the guest, to ask for a measurement.
//!
//! Byte layout (s390-tools `pv`, `uvattest/arcb.rs` and `req/`; all
//! integers big-endian):
//!
//! ```text
//! 0x00  magic (8, zero for attestation)   version (4, 0x0100)   length (4)
//! 0x10  IV (12)                            reserved (4)
//! 0x20  reserved (7)  key slots (1)        reserved (4)   encrypted size (4)
//! 0x30  flags (8)   measurement algorithm (4, 1 = HMAC-SHA512)   reserved (4)
//! 0x40  customer public key: P-521 X and Y, each zero-padded to 80 bytes (160)
//! 0xe0  key slots, 80 bytes each:
//!         SHA-256 of the host key's 160-byte coordinates (32)
//!         the request protection key, AES-256-GCM-wrapped (32) and its tag (16)
//!       encrypted: measurement key (64), nonce (16)
//!       AES-256-GCM tag (16)
//! ```
//!
//! The request protection key (ARPK, AES-256) encrypts the measurement key
//! and nonce; the whole authenticated part (header to key slots) is the
//! AAD. Each key slot wraps the ARPK with AES-256-GCM (zero IV, no AAD)
//! under `SHA-256(ECDH-P521(customer private, host public).x || 00000001)`,
//! so only a machine holding one of the host private keys can open it.
//! The relying party keeps the measurement key and nonce
//! ([`RequestSecret`]): with them it checks the Ultravisor's answer.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P521, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::digest;
use rootline_core::Reader;
use serde::{Deserialize, Serialize};
use x509_parser::oid_registry::{OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P521};
use x509_parser::x509::SubjectPublicKeyInfo;
use zeroize::Zeroizing;

use crate::error::{Error, Result, codec, malformed};

/// The ARCB magic: eight zero bytes.
pub const ARCB_MAGIC: [u8; 8] = [0; 8];
/// ARCB version 1.
pub const ARCB_VERSION_1: u32 = 0x0100;
/// Measurement algorithm identifier: HMAC-SHA512.
pub const MAI_HMAC_SHA512: u32 = 1;
/// The request header's size.
pub const HEADER_LEN: usize = 48;
/// The P-521 customer public key's size (two 80-byte coordinates).
pub const COORDS_LEN: usize = 160;
/// One key slot's size.
pub const KEYSLOT_LEN: usize = 80;
/// The measurement key's size (HMAC-SHA512).
pub const MEASUREMENT_KEY_LEN: usize = 64;
/// The request nonce's size.
pub const NONCE_LEN: usize = 16;
/// An AES-GCM tag's size.
pub const TAG_LEN: usize = 16;
/// Most key slots in one request (the count is one byte).
pub const MAX_KEYSLOTS: usize = 255;
/// The largest ARCB this crate parses.
pub const MAX_ARCB_LEN: usize =
    HEADER_LEN + 16 + COORDS_LEN + MAX_KEYSLOTS * KEYSLOT_LEN + 80 + TAG_LEN;

const COORD_LEN: usize = 80;
const P521_LEN: usize = 66;

/// Attestation flags (ARCB plaintext flags): a big-endian u64 whose bit 0
/// is the most significant, as the Ultravisor numbers them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Flags(pub u64);

impl Flags {
    const fn bit(n: u32) -> u64 {
        1 << (63 - n)
    }
    /// Bit 1: the request carries a nonce (always set by this crate).
    pub const NONCE: Self = Self(Self::bit(1));
    /// Bit 2: return the image public host-key hash (32 bytes of additional data).
    pub const IMAGE_PHKH: Self = Self(Self::bit(2));
    /// Bit 3: return the attestation public host-key hash (32 bytes).
    pub const ATTESTATION_PHKH: Self = Self(Self::bit(3));
    /// Bit 4: return the secret-store hash (64 bytes).
    pub const SECRET_STORE_HASH: Self = Self(Self::bit(4));
    /// Bit 5: return the firmware state (320 bytes).
    pub const FIRMWARE_STATE: Self = Self(Self::bit(5));
    /// What Trustee asks for: nonce and both host-key hashes.
    pub const TRUSTEE: Self = Self(Self::NONCE.0 | Self::IMAGE_PHKH.0 | Self::ATTESTATION_PHKH.0);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of bits.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Bytes of additional data the Ultravisor returns for these flags.
    pub const fn additional_size(self) -> u32 {
        let mut n = 0;
        if self.contains(Self::IMAGE_PHKH) {
            n += 32;
        }
        if self.contains(Self::ATTESTATION_PHKH) {
            n += 32;
        }
        if self.contains(Self::SECRET_STORE_HASH) {
            n += 64;
        }
        if self.contains(Self::FIRMWARE_STATE) {
            n += 320;
        }
        n
    }
}

/// An IBM Z host key: an EC P-521 public key, as the Ultravisor writes it
/// (X and Y, each zero-padded to 80 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostKey {
    coords: [u8; COORDS_LEN],
}

impl HostKey {
    /// From a certificate's SubjectPublicKeyInfo, which must be EC P-521.
    pub fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self> {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY
            || curve.as_ref() != Some(&OID_NIST_EC_P521)
        {
            return Err(Error::Unsupported {
                field: "host key",
                value: format!(
                    "{} ({}); the Ultravisor's host keys are EC P-521",
                    spki.algorithm.algorithm,
                    curve.map(|c| c.to_id_string()).unwrap_or_default()
                ),
            });
        }
        Self::from_uncompressed(&spki.subject_public_key.data)
    }

    /// From a certificate (PEM or DER) **without verifying it**: for tests
    /// and tools; a request must only go to keys [`crate::HkdVerifier`]
    /// accepted.
    pub fn from_certificate_unverified(bytes: &[u8]) -> Result<Self> {
        let mut p = crate::Pki::new();
        p.add(bytes)?;
        let der = p
            .certs()
            .first()
            .ok_or_else(|| malformed("certificate", "none in the input"))?;
        let (_, c) =
            <x509_parser::certificate::X509Certificate<'_> as x509_parser::prelude::FromDer<
                '_,
                _,
            >>::from_der(der)
            .map_err(|e| malformed("certificate", e.to_string()))?;
        Self::from_spki(c.public_key())
    }

    /// From an uncompressed SEC1 point (`04 || X || Y`, 133 bytes), checked
    /// to be on the curve.
    pub fn from_uncompressed(point: &[u8]) -> Result<Self> {
        let (Some(4), Some(x), Some(y)) = (
            point.first(),
            point.get(1..1 + P521_LEN),
            point.get(1 + P521_LEN..),
        ) else {
            return Err(malformed(
                "host key",
                "not an uncompressed P-521 point (04 || X || Y)",
            ));
        };
        if y.len() != P521_LEN {
            return Err(malformed("host key", "not a 133-byte P-521 point"));
        }
        let mut coords = [0u8; COORDS_LEN];
        pad_into(&mut coords[..COORD_LEN], x);
        pad_into(&mut coords[COORD_LEN..], y);
        let key = Self { coords };
        // Rejects points off the curve (an ECDH with them would fail later).
        let probe = PrivateKey::generate(&ECDH_P521).map_err(|_| Error::Crypto("P-521 key"))?;
        agreement::agree(
            &probe,
            UnparsedPublicKey::new(&ECDH_P521, key.uncompressed()),
            (),
            |_| Ok(()),
        )
        .map_err(|_| malformed("host key", "not a point on P-521"))?;
        Ok(key)
    }

    /// From the 160-byte coordinates (as in an ARCB's customer key field).
    pub fn from_coords(coords: [u8; COORDS_LEN]) -> Self {
        Self { coords }
    }

    /// The 160 bytes the Ultravisor hashes: X and Y, zero-padded to 80 each.
    pub fn coords(&self) -> &[u8; COORDS_LEN] {
        &self.coords
    }

    /// The public host-key hash (PHKH): SHA-256 of [`HostKey::coords`]. It
    /// names the key in key slots and in the `*_phkh` additional data.
    pub fn phkh(&self) -> [u8; 32] {
        let d = digest::digest(&digest::SHA256, &self.coords);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    /// The uncompressed SEC1 point, `04 || X || Y`.
    pub fn uncompressed(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(1 + 2 * P521_LEN);
        v.push(4);
        v.extend_from_slice(
            self.coords
                .get(COORD_LEN - P521_LEN..COORD_LEN)
                .unwrap_or_default(),
        );
        v.extend_from_slice(self.coords.get(COORDS_LEN - P521_LEN..).unwrap_or_default());
        v
    }
}

/// Copies `src` right-aligned into `dst` (big-endian zero padding).
fn pad_into(dst: &mut [u8], src: &[u8]) {
    let off = dst.len().saturating_sub(src.len());
    if let Some(d) = dst.get_mut(off..) {
        d.copy_from_slice(src.get(..d.len()).unwrap_or_default());
    }
}

/// The key-slot key: `SHA-256(ECDH shared X || 00 00 00 01)`, as `pv`'s
/// `derive_aes256_gcm_key` (and the Ultravisor) compute it.
pub fn keyslot_key(private: &PrivateKey, peer: &HostKey) -> Result<Zeroizing<[u8; 32]>> {
    agreement::agree(
        private,
        UnparsedPublicKey::new(&ECDH_P521, peer.uncompressed()),
        Error::Crypto("ECDH P-521"),
        |z| {
            let mut ctx = digest::Context::new(&digest::SHA256);
            ctx.update(z);
            ctx.update(&[0, 0, 0, 1]);
            let mut k = Zeroizing::new([0u8; 32]);
            k.copy_from_slice(ctx.finish().as_ref());
            Ok(k)
        },
    )
}

fn gcm(key: &[u8; 32]) -> Result<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| Error::Crypto("AES-256-GCM key"))
}

/// AES-256-GCM seal: ciphertext then tag.
pub(crate) fn seal(key: &[u8; 32], iv: [u8; 12], aad: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    let mut buf = plain.to_vec();
    gcm(key)?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut buf)
        .map_err(|_| Error::Crypto("AES-256-GCM seal"))?;
    Ok(buf)
}

/// AES-256-GCM open of ciphertext-then-tag.
pub(crate) fn open(
    key: &[u8; 32],
    iv: [u8; 12],
    aad: &[u8],
    sealed: &[u8],
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(sealed.to_vec());
    let n = gcm(key)?
        .open_in_place(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut buf)
        .map_err(|_| Error::Decrypt(format!("{what}: the AES-GCM tag does not verify")))?
        .len();
    buf.truncate(n);
    Ok(buf)
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut a = [0u8; N];
    aws_lc_rs::rand::fill(&mut a).map_err(|_| Error::Crypto("random"))?;
    Ok(a)
}

/// What the relying party keeps from a request to verify the answer: the
/// measurement key, the nonce, the flags and the hashes of the host keys
/// the request was encrypted to. Secret: whoever holds it can forge
/// measurements. Its JSON form is the `--collateral` file of
/// `rootline verify --tee se`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSecret {
    /// The HMAC-SHA512 key, hex.
    #[serde(with = "hex_key")]
    pub measurement_key: Zeroizing<[u8; MEASUREMENT_KEY_LEN]>,
    /// The request nonce, hex.
    #[serde(with = "hex_nonce")]
    pub nonce: [u8; NONCE_LEN],
    /// The request's flags (which additional data to expect).
    pub flags: Flags,
    /// PHKHs of the host keys the request was encrypted to, hex; the
    /// response's attestation PHKH, when present, must be one of them.
    #[serde(default, with = "hex_list")]
    pub host_key_hashes: Vec<[u8; 32]>,
}

impl std::fmt::Debug for RequestSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSecret")
            .field("measurement_key", &"<redacted>")
            .field("nonce", &hex::encode(self.nonce))
            .field("flags", &self.flags)
            .field("host_key_hashes", &self.host_key_hashes.len())
            .finish()
    }
}

/// The largest request-secret JSON accepted.
pub const MAX_SECRET_JSON_LEN: usize = 64 * 1024;

impl RequestSecret {
    /// Parses the JSON form (`{"measurement_key": hex, "nonce": hex,
    /// "flags": u64, "host_key_hashes": [hex]}`).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_SECRET_JSON_LEN {
            return Err(Error::TooLarge {
                what: "SE request secret JSON",
                len: bytes.len(),
                max: MAX_SECRET_JSON_LEN,
            });
        }
        serde_json::from_slice(bytes)
            .map_err(|e| malformed("SE request secret JSON", e.to_string()))
    }

    /// The JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

mod hex_key {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(super) fn serialize<S: Serializer>(
        k: &Zeroizing<[u8; 64]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(k.as_ref()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Zeroizing<[u8; 64]>, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        let mut k = Zeroizing::new([0u8; 64]);
        hex::decode_to_slice(s.as_str(), k.as_mut()).map_err(serde::de::Error::custom)?;
        Ok(k)
    }
}

mod hex_nonce {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(n: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(n))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 16], D::Error> {
        let s = String::deserialize(d)?;
        let mut n = [0u8; 16];
        hex::decode_to_slice(&s, &mut n).map_err(serde::de::Error::custom)?;
        Ok(n)
    }
}

mod hex_list {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(hex::encode))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        if v.len() > super::MAX_KEYSLOTS {
            return Err(serde::de::Error::custom("more than 255 host-key hashes"));
        }
        v.iter()
            .map(|s| {
                let mut a = [0u8; 32];
                hex::decode_to_slice(s, &mut a).map_err(serde::de::Error::custom)?;
                Ok(a)
            })
            .collect()
    }
}

/// The parameters of one request; [`Parts::random`] for real use, fixed
/// values only to reproduce test vectors.
pub struct Parts {
    /// The AES-GCM IV of the request.
    pub iv: [u8; 12],
    /// The customer (request) P-521 private key.
    pub customer_key: PrivateKey,
    /// The request protection key.
    pub protection_key: Zeroizing<[u8; 32]>,
    /// The measurement key.
    pub measurement_key: Zeroizing<[u8; MEASUREMENT_KEY_LEN]>,
    /// The nonce.
    pub nonce: [u8; NONCE_LEN],
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Parts(<secret>)")
    }
}

impl Parts {
    /// Fresh random values from the system generator.
    pub fn random() -> Result<Self> {
        Ok(Self {
            iv: random()?,
            customer_key: PrivateKey::generate(&ECDH_P521)
                .map_err(|_| Error::Crypto("P-521 key generation"))?,
            protection_key: Zeroizing::new(random()?),
            measurement_key: Zeroizing::new(random()?),
            nonce: random()?,
        })
    }
}

/// An attestation request built for a set of host keys, with what the
/// relying party keeps.
pub struct AttestationRequest {
    arcb: Vec<u8>,
    secret: RequestSecret,
    protection_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for AttestationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestationRequest")
            .field("arcb_len", &self.arcb.len())
            .field("secret", &self.secret)
            .finish()
    }
}

impl AttestationRequest {
    /// A request to the given (already verified) host keys, with `flags`
    /// (the nonce flag is always added) and fresh random secrets.
    pub fn new(host_keys: &[HostKey], flags: Flags) -> Result<Self> {
        Self::with_parts(host_keys, flags, Parts::random()?)
    }

    /// A request with the given parts (for reproducing vectors; use
    /// [`AttestationRequest::new`] otherwise).
    pub fn with_parts(host_keys: &[HostKey], flags: Flags, parts: Parts) -> Result<Self> {
        let flags = flags.union(Flags::NONCE);
        if host_keys.is_empty() {
            return Err(Error::Mismatch(
                "an attestation request needs at least one host key".into(),
            ));
        }
        if host_keys.len() > MAX_KEYSLOTS {
            return Err(Error::TooLarge {
                what: "host keys of one request",
                len: host_keys.len(),
                max: MAX_KEYSLOTS,
            });
        }
        let customer = parts
            .customer_key
            .compute_public_key()
            .map_err(|_| Error::Crypto("P-521 public key"))?;
        let customer = HostKey::from_uncompressed(customer.as_ref())?;
        let conf_len = MEASUREMENT_KEY_LEN + NONCE_LEN;
        let aad_len = HEADER_LEN + 16 + COORDS_LEN + host_keys.len() * KEYSLOT_LEN;
        let total = aad_len + conf_len + TAG_LEN;
        let mut aad = Vec::with_capacity(total);
        aad.extend_from_slice(&ARCB_MAGIC);
        aad.extend_from_slice(&ARCB_VERSION_1.to_be_bytes());
        aad.extend_from_slice(&(total as u32).to_be_bytes());
        aad.extend_from_slice(&parts.iv);
        aad.extend_from_slice(&[0; 4 + 7]);
        aad.push(host_keys.len() as u8);
        aad.extend_from_slice(&[0; 4]);
        aad.extend_from_slice(&(conf_len as u32).to_be_bytes());
        aad.extend_from_slice(&flags.0.to_be_bytes());
        aad.extend_from_slice(&MAI_HMAC_SHA512.to_be_bytes());
        aad.extend_from_slice(&[0; 4]);
        aad.extend_from_slice(customer.coords());
        for hk in host_keys {
            let k = keyslot_key(&parts.customer_key, hk)?;
            aad.extend_from_slice(&hk.phkh());
            aad.extend_from_slice(&seal(&k, [0; 12], &[], parts.protection_key.as_ref())?);
        }
        let mut conf = Zeroizing::new(Vec::with_capacity(conf_len));
        conf.extend_from_slice(parts.measurement_key.as_ref());
        conf.extend_from_slice(&parts.nonce);
        let sealed = seal(&parts.protection_key, parts.iv, &aad, &conf)?;
        let mut arcb = aad;
        arcb.extend_from_slice(&sealed);
        Ok(Self {
            arcb,
            secret: RequestSecret {
                measurement_key: parts.measurement_key,
                nonce: parts.nonce,
                flags,
                host_key_hashes: host_keys.iter().map(HostKey::phkh).collect(),
            },
            protection_key: parts.protection_key,
        })
    }

    /// The request bytes for the Ultravisor.
    pub fn arcb(&self) -> &[u8] {
        &self.arcb
    }

    /// What to keep to verify the response.
    pub fn secret(&self) -> &RequestSecret {
        &self.secret
    }

    /// The request protection key: with it, [`Arcb::open`] reads the
    /// request back.
    pub fn protection_key(&self) -> &[u8; 32] {
        &self.protection_key
    }
}

/// One key slot of a parsed ARCB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keyslot<'a> {
    /// The PHKH of the host key the slot is for.
    pub phkh: &'a [u8; 32],
    /// The wrapped request protection key and its GCM tag (48 bytes).
    pub wrapped: &'a [u8; 48],
}

impl Keyslot<'_> {
    /// Unwraps the request protection key with the key-slot key (derived
    /// by [`keyslot_key`] from the host's private key and the customer key).
    pub fn unwrap_key(&self, key: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>> {
        let p = open(key, [0; 12], &[], self.wrapped, "key slot")?;
        let mut k = Zeroizing::new([0u8; 32]);
        if p.len() != 32 {
            return Err(Error::Decrypt("key slot: not a 32-byte key".into()));
        }
        k.copy_from_slice(&p);
        Ok(k)
    }
}

/// A parsed ARCB (the authenticated part in the clear; the confidential
/// part needs the protection key, [`Arcb::open`]).
#[derive(Clone, Debug)]
pub struct Arcb<'a> {
    bytes: &'a [u8],
    aad_len: usize,
    /// The IV.
    pub iv: [u8; 12],
    /// The flags.
    pub flags: Flags,
    /// The measurement algorithm identifier.
    pub mai: u32,
    /// The customer public key.
    pub customer_key: HostKey,
    /// The key slots.
    pub keyslots: Vec<Keyslot<'a>>,
}

impl<'a> Arcb<'a> {
    /// Parses an ARCB: magic, version, length, reserved bytes, key slots,
    /// sizes; no decryption.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        const W: &str = "attestation request";
        if bytes.len() > MAX_ARCB_LEN {
            return Err(Error::TooLarge {
                what: W,
                len: bytes.len(),
                max: MAX_ARCB_LEN,
            });
        }
        let mut r = Reader::new(bytes);
        let magic: [u8; 8] = r.array("magic").map_err(codec(W))?;
        if magic != ARCB_MAGIC {
            return Err(malformed(W, "magic is not that of an attestation request"));
        }
        let version = r.u32_be("version").map_err(codec(W))?;
        if version != ARCB_VERSION_1 {
            return Err(Error::Unsupported {
                field: "attestation request version",
                value: format!("{version:#x}"),
            });
        }
        let len = r.u32_be("length").map_err(codec(W))? as usize;
        if len != bytes.len() {
            return Err(malformed(
                W,
                format!("length field {len}, {} bytes given", bytes.len()),
            ));
        }
        let iv: [u8; 12] = r.array("IV").map_err(codec(W))?;
        r.reserved_zero(4 + 7, "reserved").map_err(codec(W))?;
        let nks = usize::from(r.u8("key slot count").map_err(codec(W))?);
        r.reserved_zero(4, "reserved").map_err(codec(W))?;
        let sea = r.u32_be("encrypted size").map_err(codec(W))? as usize;
        let flags = Flags(r.u64_be("flags").map_err(codec(W))?);
        let mai = r.u32_be("measurement algorithm").map_err(codec(W))?;
        if mai != MAI_HMAC_SHA512 {
            return Err(Error::Unsupported {
                field: "measurement algorithm",
                value: format!("{mai}"),
            });
        }
        r.reserved_zero(4, "reserved").map_err(codec(W))?;
        let coords: [u8; COORDS_LEN] = r.array("customer public key").map_err(codec(W))?;
        if nks == 0 {
            return Err(malformed(W, "no key slots"));
        }
        let mut keyslots = Vec::with_capacity(nks);
        for _ in 0..nks {
            let phkh: &[u8; 32] = r
                .take(32, "key slot host-key hash")
                .map_err(codec(W))?
                .try_into()
                .map_err(|_| malformed(W, "key slot"))?;
            let wrapped: &[u8; 48] = r
                .take(48, "key slot wrapped key")
                .map_err(codec(W))?
                .try_into()
                .map_err(|_| malformed(W, "key slot"))?;
            keyslots.push(Keyslot { phkh, wrapped });
        }
        let aad_len = r.offset();
        let expected_sea = MEASUREMENT_KEY_LEN
            + if flags.contains(Flags::NONCE) {
                NONCE_LEN
            } else {
                0
            };
        if sea != expected_sea {
            return Err(malformed(
                W,
                format!("encrypted size {sea}, {expected_sea} expected for its flags"),
            ));
        }
        r.take(sea + TAG_LEN, "encrypted data and tag")
            .map_err(codec(W))?;
        r.finish(W).map_err(codec(W))?;
        Ok(Self {
            bytes,
            aad_len,
            iv,
            flags,
            mai,
            customer_key: HostKey::from_coords(coords),
            keyslots,
        })
    }

    /// Decrypts the confidential part with the request protection key:
    /// the measurement key and, when the nonce flag is set, the nonce.
    pub fn open(&self, protection_key: &[u8; 32]) -> Result<RequestSecret> {
        let aad = self.bytes.get(..self.aad_len).unwrap_or_default();
        let sealed = self.bytes.get(self.aad_len..).unwrap_or_default();
        let p = open(protection_key, self.iv, aad, sealed, "attestation request")?;
        let mut measurement_key = Zeroizing::new([0u8; MEASUREMENT_KEY_LEN]);
        let mut nonce = [0u8; NONCE_LEN];
        match (p.get(..MEASUREMENT_KEY_LEN), p.get(MEASUREMENT_KEY_LEN..)) {
            (Some(k), Some(n)) if n.len() == NONCE_LEN => {
                measurement_key.copy_from_slice(k);
                nonce.copy_from_slice(n);
            }
            _ => {
                return Err(Error::Unsupported {
                    field: "attestation request",
                    value: "without a nonce".into(),
                });
            }
        }
        Ok(RequestSecret {
            measurement_key,
            nonce,
            flags: self.flags,
            host_key_hashes: self.keyslots.iter().map(|k| *k.phkh).collect(),
        })
    }
}
