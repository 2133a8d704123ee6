//! The Ultravisor's answer, as the guest returns it, and its verification.
//!
//! The Ultravisor computes the attestation measurement as HMAC-SHA512,
//! keyed with the request's measurement key, over (s390-tools `pv`,
//! `uvattest/attest.rs`; integers big-endian):
//!
//! ```text
//! SE header: page list digest (64), address list digest (64),
//!            tweak list digest (64), SE header tag (16)
//! configuration unique ID (16)
//! user-data length (2)   zero (2)   additional-data length (4)
//! user data (0..256)
//! nonce (16, when the request has one)
//! additional data (image PHKH, attestation PHKH, ... as the flags ask)
//! ```
//!
//! The guest (guest-components' SE attester) sends it as JSON with base64
//! fields: `measurement`, `additional_data`, `user_data`, `cuid`,
//! `image_hdr_tags` (the 208 bytes of SE header fields above), and the two
//! sealed secrets the relying party put in the challenge
//! (`encr_measurement_key`, `encr_request_nonce`), which it echoes.
//! [`Response::verify`] recomputes the HMAC with the kept
//! [`RequestSecret`] and compares in constant time; the SE header fields it
//! covers are the image's identity (its tag names the image).

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rootline_core::Verified;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, malformed};
use crate::request::{Flags, NONCE_LEN, RequestSecret};

/// The SE header fields the measurement covers (pld, ald, tld, tag).
pub const HDR_TAGS_LEN: usize = 64 * 3 + 16;
/// The configuration unique ID's size.
pub const CUID_LEN: usize = 16;
/// The most user data the Ultravisor takes.
pub const MAX_USER_DATA_LEN: usize = 256;
/// The most additional data accepted (the uvdevice's limit is 8 pages).
pub const MAX_ADDITIONAL_LEN: usize = 8 * 4096;
/// HMAC-SHA512's size.
pub const MEASUREMENT_LEN: usize = 64;
/// The largest response JSON accepted.
pub const MAX_RESPONSE_JSON_LEN: usize = 128 * 1024;
/// The report-data size guest-components binds into the user data.
pub const REPORT_DATA_LEN: usize = 64;

/// The bytes the measurement is computed over.
pub fn measurement_items(
    hdr_tags: &[u8; HDR_TAGS_LEN],
    cuid: &[u8; CUID_LEN],
    user_data: &[u8],
    nonce: Option<&[u8; NONCE_LEN]>,
    additional: &[u8],
) -> Result<Vec<u8>> {
    let user_len = u16::try_from(user_data.len())
        .ok()
        .filter(|l| usize::from(*l) <= MAX_USER_DATA_LEN)
        .ok_or(Error::TooLarge {
            what: "user data",
            len: user_data.len(),
            max: MAX_USER_DATA_LEN,
        })?;
    let add_len = u32::try_from(additional.len())
        .ok()
        .filter(|_| additional.len() <= MAX_ADDITIONAL_LEN)
        .ok_or(Error::TooLarge {
            what: "additional data",
            len: additional.len(),
            max: MAX_ADDITIONAL_LEN,
        })?;
    let mut v = Vec::with_capacity(
        HDR_TAGS_LEN + CUID_LEN + 8 + user_data.len() + NONCE_LEN + additional.len(),
    );
    v.extend_from_slice(hdr_tags);
    v.extend_from_slice(cuid);
    v.extend_from_slice(&user_len.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&add_len.to_be_bytes());
    v.extend_from_slice(user_data);
    if let Some(n) = nonce {
        v.extend_from_slice(n);
    }
    v.extend_from_slice(additional);
    Ok(v)
}

/// HMAC-SHA512 of `items` under `key`.
pub fn measurement(key: &[u8], items: &[u8]) -> [u8; MEASUREMENT_LEN] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA512, key), items);
    let mut out = [0u8; MEASUREMENT_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

/// The response as guest-components' SE attester sends it (Trustee's
/// `SeAttestationResponse`), decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The attestation measurement (HMAC-SHA512).
    pub measurement: Vec<u8>,
    /// The additional data.
    pub additional_data: Vec<u8>,
    /// The user data (guest-components: the 64-byte KBS runtime-data digest).
    pub user_data: Vec<u8>,
    /// The configuration unique ID.
    pub cuid: [u8; CUID_LEN],
    /// The SE header fields: page, address and tweak list digests and tag.
    pub hdr_tags: [u8; HDR_TAGS_LEN],
    /// The relying party's sealed measurement key, echoed.
    pub encr_measurement_key: Vec<u8>,
    /// The relying party's sealed request nonce, echoed.
    pub encr_request_nonce: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    measurement: String,
    additional_data: String,
    user_data: String,
    cuid: String,
    encr_measurement_key: String,
    encr_request_nonce: String,
    image_hdr_tags: String,
}

fn b64(field: &'static str, s: &str, max: usize) -> Result<Vec<u8>> {
    if s.len() > max.div_ceil(3) * 4 + 4 {
        return Err(Error::TooLarge {
            what: field,
            len: s.len() / 4 * 3,
            max,
        });
    }
    STANDARD
        .decode(s)
        .map_err(|e| malformed(field, format!("base64: {e}")))
}

fn fixed<const N: usize>(field: &'static str, v: Vec<u8>) -> Result<[u8; N]> {
    let len = v.len();
    v.try_into()
        .map_err(|_| malformed(field, format!("{len} bytes, {N} expected")))
}

impl Response {
    /// Parses the JSON evidence (base64 fields; unknown fields refused).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_RESPONSE_JSON_LEN {
            return Err(Error::TooLarge {
                what: "SE evidence JSON",
                len: bytes.len(),
                max: MAX_RESPONSE_JSON_LEN,
            });
        }
        let w: Wire = serde_json::from_slice(bytes)
            .map_err(|e| malformed("SE evidence JSON", e.to_string()))?;
        Ok(Self {
            measurement: b64("measurement", &w.measurement, MEASUREMENT_LEN)?,
            additional_data: b64("additional_data", &w.additional_data, MAX_ADDITIONAL_LEN)?,
            user_data: b64("user_data", &w.user_data, MAX_USER_DATA_LEN)?,
            cuid: fixed("cuid", b64("cuid", &w.cuid, CUID_LEN)?)?,
            hdr_tags: fixed(
                "image_hdr_tags",
                b64("image_hdr_tags", &w.image_hdr_tags, HDR_TAGS_LEN)?,
            )?,
            encr_measurement_key: b64("encr_measurement_key", &w.encr_measurement_key, 4096)?,
            encr_request_nonce: b64("encr_request_nonce", &w.encr_request_nonce, 4096)?,
        })
    }

    /// The JSON form guest-components writes.
    pub fn to_json(&self) -> String {
        let w = Wire {
            measurement: STANDARD.encode(&self.measurement),
            additional_data: STANDARD.encode(&self.additional_data),
            user_data: STANDARD.encode(&self.user_data),
            cuid: STANDARD.encode(self.cuid),
            encr_measurement_key: STANDARD.encode(&self.encr_measurement_key),
            encr_request_nonce: STANDARD.encode(&self.encr_request_nonce),
            image_hdr_tags: STANDARD.encode(self.hdr_tags),
        };
        serde_json::to_string(&w).unwrap_or_default()
    }

    /// The claims as the response states them, unverified: for explaining
    /// a rejection, never for trusting. Additional data is split by `flags`
    /// when given (and when it fits), else left whole.
    pub fn claims(&self, flags: Option<Flags>, nonce: Option<&[u8; NONCE_LEN]>) -> Claims {
        let additional = flags.and_then(|f| Additional::split(&self.additional_data, f).ok());
        Claims::build(self, additional, nonce)
    }

    /// Verifies the measurement with `secret` and, when given, that the user
    /// data starts with `expected_user_data` (zero-padded to 64 bytes when
    /// shorter, as guest-components pads the KBS runtime-data digest).
    pub fn verify(
        &self,
        secret: &RequestSecret,
        expected_user_data: Option<&[u8]>,
    ) -> Result<Verified<Claims>> {
        if self.measurement.len() != MEASUREMENT_LEN {
            return Err(malformed(
                "measurement",
                format!(
                    "{} bytes, {MEASUREMENT_LEN} expected (HMAC-SHA512)",
                    self.measurement.len()
                ),
            ));
        }
        let nonce = secret.flags.contains(Flags::NONCE).then_some(&secret.nonce);
        let items = measurement_items(
            &self.hdr_tags,
            &self.cuid,
            &self.user_data,
            nonce,
            &self.additional_data,
        )?;
        let key = hmac::Key::new(hmac::HMAC_SHA512, secret.measurement_key.as_ref());
        hmac::verify(&key, &items, &self.measurement).map_err(|_| Error::BadMeasurement)?;
        let additional = Additional::split(&self.additional_data, secret.flags)?;
        if let Some(a) = &additional.attestation_phkh {
            if !secret.host_key_hashes.is_empty() && !secret.host_key_hashes.contains(a) {
                return Err(Error::Mismatch(format!(
                    "attestation PHKH {} is not one of the host keys the request was made for",
                    hex::encode(a)
                )));
            }
        }
        if let Some(exp) = expected_user_data {
            let mut padded = exp.to_vec();
            if padded.len() < REPORT_DATA_LEN {
                padded.resize(REPORT_DATA_LEN, 0);
            }
            if self.user_data.get(..padded.len()) != Some(padded.as_slice()) {
                return Err(Error::Mismatch(format!(
                    "user data {} does not start with the expected {}",
                    hex::encode(&self.user_data),
                    hex::encode(&padded)
                )));
            }
        }
        Ok(Verified::new(Claims::build(self, Some(additional), nonce)))
    }
}

/// Additional data split by the request's flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Additional {
    /// PHKH of the host key that unpacked the SE image.
    pub image_phkh: Option<[u8; 32]>,
    /// PHKH of the host key that unpacked the attestation request.
    pub attestation_phkh: Option<[u8; 32]>,
    /// Hash of the guest's secret store.
    pub secret_store_hash: Option<[u8; 64]>,
    /// Firmware state (320 bytes).
    pub firmware_state: Option<Vec<u8>>,
    /// Bytes after the fields the flags name.
    pub unrecognized: Option<Vec<u8>>,
}

impl Additional {
    /// Splits `data` as `flags` ask, in the Ultravisor's order; a field the
    /// flags ask for that is missing is an error.
    pub fn split(data: &[u8], flags: Flags) -> Result<Self> {
        let mut r = rootline_core::Reader::new(data);
        let w = "additional data";
        let mut a = Self::default();
        if flags.contains(Flags::IMAGE_PHKH) {
            a.image_phkh = Some(r.array("image PHKH").map_err(crate::error::codec(w))?);
        }
        if flags.contains(Flags::ATTESTATION_PHKH) {
            a.attestation_phkh = Some(
                r.array("attestation PHKH")
                    .map_err(crate::error::codec(w))?,
            );
        }
        if flags.contains(Flags::SECRET_STORE_HASH) {
            a.secret_store_hash = Some(
                r.array("secret store hash")
                    .map_err(crate::error::codec(w))?,
            );
        }
        if flags.contains(Flags::FIRMWARE_STATE) {
            a.firmware_state = Some(
                r.take(320, "firmware state")
                    .map_err(crate::error::codec(w))?
                    .to_vec(),
            );
        }
        let rest = r.rest();
        if !rest.is_empty() {
            a.unrecognized = Some(rest.to_vec());
        }
        Ok(a)
    }
}

/// What a verified response says, bytes in lower-case hex. Names follow
/// Trustee's SE claims (`cuid`, `tag`, `image_phkh`, `attestation_phkh`,
/// `report_data`, `version`) plus the rest of what the measurement covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The attestation request version (0x0100 = 256).
    pub version: u32,
    /// The SE header tag: names the SE image.
    pub tag: String,
    /// The SE header's page list digest.
    pub page_list_digest: String,
    /// The SE header's address list digest.
    pub address_list_digest: String,
    /// The SE header's tweak list digest.
    pub tweak_list_digest: String,
    /// The configuration unique ID of the guest.
    pub cuid: String,
    /// The user data.
    pub user_data: String,
    /// The user data's first 64 bytes (the KBS binding).
    pub report_data: String,
    /// The request nonce the measurement covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// PHKH of the host key that unpacked the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_phkh: Option<String>,
    /// PHKH of the host key that unpacked the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation_phkh: Option<String>,
    /// Hash of the guest's secret store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_store_hash: Option<String>,
    /// Firmware state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware_state: Option<String>,
    /// Additional data not split (unknown flags, or unverified claims).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_data: Option<String>,
    /// The measurement.
    pub measurement: String,
}

impl Claims {
    fn build(r: &Response, a: Option<Additional>, nonce: Option<&[u8; NONCE_LEN]>) -> Self {
        let t = &r.hdr_tags;
        let part = |from: usize, to: usize| hex::encode(t.get(from..to).unwrap_or_default());
        let (image_phkh, attestation_phkh, ssh, fw, rest) = match a {
            Some(a) => (
                a.image_phkh.map(hex::encode),
                a.attestation_phkh.map(hex::encode),
                a.secret_store_hash.map(hex::encode),
                a.firmware_state.map(hex::encode),
                a.unrecognized.map(hex::encode),
            ),
            None => (
                None,
                None,
                None,
                None,
                (!r.additional_data.is_empty()).then(|| hex::encode(&r.additional_data)),
            ),
        };
        Self {
            version: crate::request::ARCB_VERSION_1,
            tag: part(192, 208),
            page_list_digest: part(0, 64),
            address_list_digest: part(64, 128),
            tweak_list_digest: part(128, 192),
            cuid: hex::encode(r.cuid),
            user_data: hex::encode(&r.user_data),
            report_data: hex::encode(
                r.user_data
                    .get(..REPORT_DATA_LEN.min(r.user_data.len()))
                    .unwrap_or_default(),
            ),
            nonce: nonce.map(hex::encode),
            image_phkh,
            attestation_phkh,
            secret_store_hash: ssh,
            firmware_state: fw,
            additional_data: rest,
            measurement: hex::encode(&r.measurement),
        }
    }
}
