//! The KBS flow for SE as guest-components and Trustee speak it, and the SE
//! header fields the relying party must know in advance.
//!
//! At `/kbs/v0/auth` with `tee: "se"`, Trustee answers with a challenge
//! whose `nonce` is not random text but the JSON of an
//! `SeAttestationRequest` ([`Challenge`]): the ARCB (`request_blob`), the
//! measurement and additional-data sizes, the SE header fields of the image
//! expected to run (`image_hdr_tags`) and the measurement key and nonce
//! encrypted to the verifier itself (`encr_measurement_key`,
//! `encr_request_nonce`); `extra-params` only selects SHA-512 as the
//! runtime-data hash. The guest hashes the runtime data (whose `nonce` is
//! that JSON string) with SHA-512, passes the digest as the Ultravisor's
//! user data, and answers with a [`crate::Response`] that echoes the two
//! encrypted secrets and the header fields.
//!
//! The guest never opens the two secrets, so their form is the verifier's
//! business. Trustee encrypts them with RSA PKCS#1 v1.5; this crate seals
//! them with AES-256-GCM under a key only the verifier holds
//! ([`SealingKey`]), the nonce's AAD binding the measurement key's blob, so
//! the pair cannot be mixed with another request's.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rootline_core::Reader;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result, codec, malformed};
use crate::request::{Flags, MEASUREMENT_KEY_LEN, NONCE_LEN, RequestSecret, open, seal};
use crate::response::{HDR_TAGS_LEN, MEASUREMENT_LEN};

/// The SE header magic, `IBMSecEx`.
pub const SE_HEADER_MAGIC: [u8; 8] = *b"IBMSecEx";
/// The largest SE header accepted.
pub const MAX_SE_HEADER_LEN: usize = 1024 * 1024;

/// The header fields an SE image's measurement covers (page, address and
/// tweak list digests, then the header tag), from an SE header as
/// `pvextract-hdr` writes it (starting at the `IBMSecEx` magic, version
/// 0x100; s390-tools `pv`, `brcb.rs`).
pub fn hdr_tags_from_se_header(hdr: &[u8]) -> Result<[u8; HDR_TAGS_LEN]> {
    const W: &str = "SE header";
    if hdr.len() > MAX_SE_HEADER_LEN {
        return Err(Error::TooLarge {
            what: W,
            len: hdr.len(),
            max: MAX_SE_HEADER_LEN,
        });
    }
    let mut r = Reader::new(hdr);
    let magic: [u8; 8] = r.array("magic").map_err(codec(W))?;
    if magic != SE_HEADER_MAGIC {
        return Err(malformed(W, "magic is not IBMSecEx"));
    }
    let version = r.u32_be("version").map_err(codec(W))?;
    if version != 0x100 {
        return Err(Error::Unsupported {
            field: "SE header version",
            value: format!("{version:#x}"),
        });
    }
    let size = r.u32_be("size").map_err(codec(W))? as usize;
    // iv (12), reserved (4), nks, sea, nep, pcf (8 each), customer key (160)
    r.take(12 + 4 + 32 + 160, "header fields")
        .map_err(codec(W))?;
    let digests = r.take(192, "list digests").map_err(codec(W))?;
    let head = r.offset();
    if size > hdr.len() || size < head + 16 {
        return Err(malformed(
            W,
            format!("size field {size} for a {}-byte header", hdr.len()),
        ));
    }
    let tag = hdr.get(size - 16..size).unwrap_or_default();
    let mut out = [0u8; HDR_TAGS_LEN];
    if let (Some(d), Some(t)) = (out.get_mut(..192), Some(tag)) {
        d.copy_from_slice(digests);
        if let Some(o) = out.get_mut(192..) {
            o.copy_from_slice(t);
        }
    }
    Ok(out)
}

/// The SE challenge: what Trustee puts, as JSON text, in the `nonce` of
/// its `/auth` answer (`SeAttestationRequest`; byte fields base64).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// The ARCB, base64.
    pub request_blob: String,
    /// The measurement's size (64 for HMAC-SHA512).
    pub measurement_size: u32,
    /// The additional data's size for the request's flags.
    pub additional_size: u32,
    /// The sealed measurement key, base64.
    pub encr_measurement_key: String,
    /// The sealed nonce, base64.
    pub encr_request_nonce: String,
    /// The expected image's SE header fields, base64 (208 bytes).
    pub image_hdr_tags: String,
    /// Filled in by the guest (not by the relying party).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub runtime_data_digest: Option<String>,
}

impl Challenge {
    /// The challenge for `arcb` with its `secret` sealed under `key`, for
    /// the image whose header fields are `hdr_tags`.
    pub fn new(
        arcb: &[u8],
        secret: &RequestSecret,
        hdr_tags: &[u8; HDR_TAGS_LEN],
        key: &SealingKey,
    ) -> Result<Self> {
        let (k, n) = key.seal(secret)?;
        Ok(Self {
            request_blob: STANDARD.encode(arcb),
            measurement_size: MEASUREMENT_LEN as u32,
            additional_size: secret.flags.additional_size(),
            encr_measurement_key: STANDARD.encode(k),
            encr_request_nonce: STANDARD.encode(n),
            image_hdr_tags: STANDARD.encode(hdr_tags),
            runtime_data_digest: None,
        })
    }

    /// The JSON text that goes in the challenge's `nonce`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

const KEY_AAD: &[u8] = b"rootline-se sealed measurement key v1";
const NONCE_AAD: &[u8] = b"rootline-se sealed request nonce v1";

/// The verifier's key for the secrets it hands out in challenges and gets
/// back in evidence. AES-256-GCM, random IVs.
#[derive(Clone)]
pub struct SealingKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<secret>)")
    }
}

impl SealingKey {
    /// A key from 32 secret bytes.
    pub fn new(key: [u8; 32]) -> Self {
        Self(Zeroizing::new(key))
    }

    /// A fresh random key.
    pub fn random() -> Result<Self> {
        let mut k = [0u8; 32];
        aws_lc_rs::rand::fill(&mut k).map_err(|_| Error::Crypto("random"))?;
        Ok(Self::new(k))
    }

    /// Seals `secret` into the two blobs of the challenge
    /// (`encr_measurement_key`, `encr_request_nonce`).
    pub fn seal(&self, secret: &RequestSecret) -> Result<(Vec<u8>, Vec<u8>)> {
        let mut plain = Zeroizing::new(Vec::new());
        plain.extend_from_slice(secret.measurement_key.as_ref());
        plain.extend_from_slice(&secret.flags.0.to_be_bytes());
        for h in &secret.host_key_hashes {
            plain.extend_from_slice(h);
        }
        let mut iv = [0u8; 12];
        aws_lc_rs::rand::fill(&mut iv).map_err(|_| Error::Crypto("random"))?;
        let mut k = iv.to_vec();
        k.extend_from_slice(&seal(&self.0, iv, KEY_AAD, &plain)?);
        aws_lc_rs::rand::fill(&mut iv).map_err(|_| Error::Crypto("random"))?;
        let mut n = iv.to_vec();
        n.extend_from_slice(&seal(&self.0, iv, &nonce_aad(&k), &secret.nonce)?);
        Ok((k, n))
    }

    /// Opens the two blobs back into the secret; fails unless both were
    /// sealed together under this key.
    pub fn open(
        &self,
        encr_measurement_key: &[u8],
        encr_request_nonce: &[u8],
    ) -> Result<RequestSecret> {
        let split = |b: &[u8]| -> Option<([u8; 12], Vec<u8>)> {
            let iv: [u8; 12] = b.get(..12)?.try_into().ok()?;
            Some((iv, b.get(12..)?.to_vec()))
        };
        let (iv, ct) = split(encr_measurement_key)
            .ok_or_else(|| Error::Decrypt("sealed measurement key: too short".into()))?;
        let p = open(&self.0, iv, KEY_AAD, &ct, "sealed measurement key")?;
        let (iv, ct) = split(encr_request_nonce)
            .ok_or_else(|| Error::Decrypt("sealed request nonce: too short".into()))?;
        let n = open(
            &self.0,
            iv,
            &nonce_aad(encr_measurement_key),
            &ct,
            "sealed request nonce",
        )?;
        let mut r = Reader::new(&p);
        const W: &str = "sealed measurement key";
        let mut measurement_key = Zeroizing::new([0u8; MEASUREMENT_KEY_LEN]);
        measurement_key.copy_from_slice(r.take(MEASUREMENT_KEY_LEN, "key").map_err(codec(W))?);
        let flags = Flags(r.u64_be("flags").map_err(codec(W))?);
        let mut host_key_hashes = Vec::new();
        while !r.is_empty() {
            host_key_hashes.push(r.array::<32>("host-key hash").map_err(codec(W))?);
        }
        let nonce: [u8; NONCE_LEN] = n
            .as_slice()
            .try_into()
            .map_err(|_| Error::Decrypt("sealed request nonce: not 16 bytes".into()))?;
        Ok(RequestSecret {
            measurement_key,
            nonce,
            flags,
            host_key_hashes,
        })
    }
}

fn nonce_aad(sealed_key: &[u8]) -> Vec<u8> {
    let mut a = NONCE_AAD.to_vec();
    a.extend_from_slice(digest::digest(&digest::SHA256, sealed_key).as_ref());
    a
}
